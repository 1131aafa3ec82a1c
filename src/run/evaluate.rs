//! Evaluating a check: measure a quantity over the timeline, attach its uncertainty from the
//! instrument's stated accuracy, and judge it against the check's limits.

use std::time::Duration;

use crate::analysis;
use crate::bench::config::Accuracy;
use crate::clock::RigTime;
use crate::plan::{Check, Condition, Endpoint, Measure, Unit};

use super::timeline::{AirInLine, Timeline, Unmeasurable};
use crate::judgement::{CheckOutcome, Decision, TrumpetMeasurement, Verdict, decide};

/// What the evaluation needs to know about the bench and the plan.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext {
    pub accuracy: Accuracy,
    pub sample_period: Duration,
}

/// A measured value and its uncertainty (same unit), if the instrument's accuracy applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub value: f64,
    pub uncertainty: Option<f64>,
    /// The trumpet curve the value was read from (a `trumpet` measure only).
    pub trumpet: Option<TrumpetMeasurement>,
}

/// Measures `measure` on the timeline as of `now`, for the check `check` (its id: pump data
/// read "now" is the STATUS taken for that check).
pub fn measure(
    measure: &Measure,
    tl: &Timeline,
    now: RigTime,
    ctx: &EvalContext,
    check: &str,
) -> Result<Measured, Unmeasurable> {
    let exact = |value: f64| Measured { value, uncertainty: None, trumpet: None };
    let with = |value: f64, uncertainty: Option<f64>| Measured { value, uncertainty, trumpet: None };
    let volume_uncertainty = |volume: f64, hours: f64| ctx.accuracy.of_volume(volume, hours);
    Ok(match measure {
        Measure::TimeTo { from, condition } => {
            let t0 = tl.mark(from).ok_or_else(|| format!("mark `{from}` was never reached"))?;
            let seen = tl
                .first_occurrence_after(condition, t0)
                .ok_or_else(|| format!("{} did not occur after mark `{from}` (by {now})", describe(condition)))?;
            let uncertainty = match condition {
                Condition::FlowBelow(_) | Condition::FlowAbove(_) => Some(ctx.sample_period.as_secs_f64()),
                _ => seen.uncertainty_s,
            };
            with(seen.at.as_secs_f64() - t0.as_secs_f64(), uncertainty)
        }
        Measure::Volume(i) => {
            let (from, to) = tl.resolve(i, now)?;
            let v = tl.volume(from, to)?;
            with(v, volume_uncertainty(v, to.since(from).as_secs_f64() / 3600.0))
        }
        Measure::FlowMean(i) => {
            let (from, to) = tl.resolve(i, now)?;
            let f = tl.flow_mean(from, to)?;
            with(f, Some(ctx.accuracy.of_reading(f)))
        }
        Measure::Boluses { granted, reason, interval } => {
            let (from, to) = tl.resolve(interval, now)?;
            exact(tl.bolus_count(*granted, *reason, from, to) as f64)
        }
        Measure::BolusSpacingMin(i) => {
            let (from, to) = tl.resolve(i, now)?;
            exact(tl.bolus_spacing_min(from, to)?)
        }
        Measure::MaxWindowVolume { window, interval } => {
            let (from, to) = tl.resolve(interval, now)?;
            let v = tl.max_window_volume(*window, from, to)?;
            with(v, volume_uncertainty(v, window.as_secs_f64() / 3600.0))
        }
        Measure::PumpValue { field, at } => {
            let at = at.as_ref().map_or(Endpoint::Now, |m| Endpoint::Mark(m.clone()));
            exact(tl.pump_value_at(*field, &at, check)?)
        }
        Measure::Occurrences { condition, interval } => {
            let (from, to) = tl.resolve(interval, now)?;
            exact(tl.occurrences(condition, from, to) as f64)
        }
        Measure::MinWindowVolume { window, interval } => {
            let (from, to) = tl.resolve(interval, now)?;
            let points = tl.analysis_points(from, to)?;
            let (v, _) =
                analysis::min_window_volume(&points, window.as_secs_f64(), from.as_secs_f64(), to.as_secs_f64())?;
            with(v, volume_uncertainty(v, window.as_secs_f64() / 3600.0))
        }
        Measure::Trumpet { window, rate, interval } => {
            let (from, to) = tl.resolve(interval, now)?;
            let points = tl.analysis_points(from, to)?;
            let (from_s, to_s, window_s) = (from.as_secs_f64(), to.as_secs_f64(), window.as_secs_f64());
            // The whole curve (each window is computed on its own, so the judged window's figures
            // do not depend on the others), kept with the outcome for the report to draw.
            let curve = analysis::trumpet_curve(
                &points,
                *rate,
                from_s,
                to_s,
                TRUMPET_SAMPLE_PERIOD_S,
                &trumpet_windows(window_s, to_s - from_s),
            )?;
            let w = curve
                .windows
                .iter()
                .find(|w| w.window_s == window_s)
                .ok_or("the trumpet curve lacks the check's window")?;
            let worst = if w.ep_max_pct.abs() >= w.ep_min_pct.abs() { w.ep_max_pct } else { w.ep_min_pct };
            Measured {
                value: worst.abs(),
                uncertainty: Some(percent_uncertainty(ctx, *rate, worst)),
                trumpet: Some(TrumpetMeasurement { judged_window_s: window_s, curve }),
            }
        }
        Measure::FlowError { rate, interval } => {
            let (from, to) = tl.resolve(interval, now)?;
            let f = tl.flow_mean(from, to)?;
            let error = analysis::flow_error_pct(f, *rate);
            with(error.abs(), Some(percent_uncertainty(ctx, *rate, error)))
        }
        Measure::FlowStopTo { after, condition } => {
            let t0 = tl.mark(after).ok_or_else(|| format!("mark `{after}` was never reached"))?;
            let reference = FLOW_STOP_REFERENCE.min(t0.as_duration());
            let from = RigTime::from_duration(t0.as_duration() - reference);
            let points = tl.analysis_points(from, now)?;
            let stop = analysis::flow_stop(&points, t0.as_secs_f64(), reference.as_secs_f64())?;
            // The event is looked for from the mark, not from the estimated stop: a pump that
            // detects the stop at once (a stall alarm at the first missed stroke) can raise it
            // while the line is still draining, before the sensor sees the flow fall. That is a
            // latency of zero or less, within the estimate's uncertainty, never "did not occur".
            let t1 = tl
                .first_after(condition, t0)
                .ok_or_else(|| format!("{} did not occur after mark `{after}` (by {now})", describe(condition)))?;
            // The stop is estimated from the line's decay between the last sample at the running
            // flow and the first below half of it; that span bounds the estimate's error.
            with(
                t1.as_secs_f64() - stop.stop_s,
                Some((stop.confirmed_s - stop.onset_s).max(ctx.sample_period.as_secs_f64())),
            )
        }
        Measure::PumpChange { field, interval } => exact(tl.pump_change(*field, interval, check)?),
        Measure::EvseqGaps(interval) => {
            let (from, to) = tl.resolve(interval, now)?;
            exact(tl.evseq_gaps(from, to) as f64)
        }
        Measure::Setting { field, at } => {
            let at = at.as_ref().map_or(Endpoint::Now, |m| Endpoint::Mark(m.clone()));
            exact(tl.setting_at(*field, &at, check)?)
        }
    })
}

/// The sample period of the trumpet analysis: S = 0.5 min, as IEC 60601-2-24 reads its balance.
pub const TRUMPET_SAMPLE_PERIOD_S: f64 = 30.0;

/// The observation windows of a trumpet check's curve, in seconds and ascending: the standard's
/// that fit in the analysis period, and the check's own.
fn trumpet_windows(window_s: f64, period_s: f64) -> Vec<f64> {
    let mut windows: Vec<f64> =
        analysis::STANDARD_WINDOWS_MIN.iter().map(|m| m * 60.0).filter(|w| *w <= period_s && *w != window_s).collect();
    windows.push(window_s);
    windows.sort_by(f64::total_cmp);
    windows
}

/// How far before the mark `flow_stop_to` takes the running flow from.
const FLOW_STOP_REFERENCE: Duration = Duration::from_secs(300);

/// The uncertainty, in % of `rate`, of a flow measured `error_pct` away from it.
fn percent_uncertainty(ctx: &EvalContext, rate: f64, error_pct: f64) -> f64 {
    ctx.accuracy.of_percent(rate, error_pct)
}

/// The span of flow samples `measure` rests on as of `now`, if it rests on any (an interval's
/// volume or flow; a wait for the flow to cross a level, from its mark to when it did).
fn sample_span(measure: &Measure, tl: &Timeline, now: RigTime) -> Option<(RigTime, RigTime)> {
    let flow_condition = |c: &Condition| matches!(c, Condition::FlowBelow(_) | Condition::FlowAbove(_));
    match measure {
        Measure::Volume(i)
        | Measure::FlowMean(i)
        | Measure::MaxWindowVolume { interval: i, .. }
        | Measure::MinWindowVolume { interval: i, .. }
        | Measure::Trumpet { interval: i, .. }
        | Measure::FlowError { interval: i, .. } => tl.resolve(i, now).ok(),
        Measure::Occurrences { condition, interval } if flow_condition(condition) => tl.resolve(interval, now).ok(),
        Measure::TimeTo { from, condition } if flow_condition(condition) => {
            let t0 = tl.mark(from)?;
            Some((t0, tl.first_after(condition, t0).unwrap_or(now)))
        }
        Measure::FlowStopTo { after, .. } => {
            let t0 = tl.mark(after)?;
            Some((RigTime::from_duration(t0.as_duration().saturating_sub(FLOW_STOP_REFERENCE)), now))
        }
        _ => None,
    }
}

/// Readings flagged air in line under the samples `measure` rests on: the check cannot be
/// judged on them, and that is the bench's problem (a line not primed, a bubble), not the
/// pump's.
pub fn air_under(measure: &Measure, tl: &Timeline, now: RigTime) -> Option<(AirInLine, RigTime, RigTime)> {
    let (from, to) = sample_span(measure, tl, now)?;
    tl.air_in_line(from, to).map(|air| (air, from, to))
}

/// Evaluates a check as of `now`. A check whose samples include readings flagged air in line
/// is not measured and its verdict is ERROR (a bench problem), never PASS or FAIL.
pub fn evaluate(check: &Check, tl: &Timeline, now: RigTime, ctx: &EvalContext) -> CheckOutcome {
    let unit = check.measure.unit();
    let (low, high) = check.limits.bounds();
    if let Some((air, from, to)) = air_under(&check.measure, tl, now) {
        return CheckOutcome {
            id: check.id.clone(),
            title: check.title.clone(),
            value: None,
            unit,
            uncertainty: None,
            low,
            high,
            drift: check.limits.declared_drift(),
            decision: Decision::NotMeasured,
            verdict: Verdict::Error,
            detail: format!(
                "air in line at t={} ({} reading(s) flagged, their flow not counted as volume) under the samples from {from} to {to} that this check rests on; check the line is primed and bubble-free",
                air.first, air.readings
            ),
            verifies: check.verifies.clone(),
            trumpet: None,
        };
    }
    let (value, uncertainty, decision, detail, trumpet) = match measure(&check.measure, tl, now, ctx, &check.id) {
        Ok(m) => {
            let decision = decide(m.value, m.uncertainty, low, high);
            let detail = format!("{} {decision} {}", show(m.value, m.uncertainty, unit), show_limits(low, high, unit));
            (Some(m.value), m.uncertainty, decision, detail, m.trumpet)
        }
        Err(why) => (None, None, Decision::NotMeasured, format!("not measurable: {why}"), None),
    };
    CheckOutcome {
        id: check.id.clone(),
        title: check.title.clone(),
        value,
        unit,
        uncertainty,
        low,
        high,
        drift: check.limits.declared_drift(),
        decision,
        verdict: decision.verdict(),
        detail,
        verifies: check.verifies.clone(),
        trumpet,
    }
}

pub fn describe(condition: &Condition) -> String {
    match condition {
        Condition::Alarm(code) => format!("alarm {code}"),
        Condition::Cleared(code) => format!("clearing of {code}"),
        Condition::State(state) => format!("state {state}"),
        Condition::FlowBelow(x) => format!("flow below {x} uL/h"),
        Condition::FlowAbove(x) => format!("flow above {x} uL/h"),
        Condition::Boot(reason) => format!("BOOT reason={reason}"),
        Condition::Denied(Some(reason)) => format!("DENIED reason={reason}"),
        Condition::Denied(None) => "DENIED".to_string(),
    }
}

/// A value with its unit, and minutes beside seconds when long: `695.0 s (11.6 min)`.
pub fn show(value: f64, uncertainty: Option<f64>, unit: Unit) -> String {
    let u = uncertainty.map(|u| format!(" ± {u:.3}")).unwrap_or_default();
    let sym = unit.symbol();
    let sep = if sym.is_empty() { "" } else { " " };
    let mut s = format!("{}{u}{sep}{sym}", trim(value));
    if unit == Unit::Seconds && value >= 120.0 {
        s.push_str(&format!(" ({:.1} min)", value / 60.0));
    }
    s
}

fn show_limits(low: Option<f64>, high: Option<f64>, unit: Unit) -> String {
    let sym = unit.symbol();
    match (low, high) {
        (Some(l), Some(h)) => format!("[{}, {}] {sym}", trim(l), trim(h)),
        (Some(l), None) => format!(">= {} {sym}", trim(l)),
        (None, Some(h)) => format!("<= {} {sym}", trim(h)),
        (None, None) => "(no limit)".to_string(),
    }
    .trim_end()
    .to_string()
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::config::Accuracy;
    use crate::plan::{Limits, Measure};
    use crate::protocol::{AlarmCode, Event, EventKind, Priority};
    use crate::run::event::{RunEvent, RunEventKind, Sample};

    fn t(s: f64) -> RigTime {
        RigTime::from_secs_f64(s)
    }

    /// 500 µL/h until the stall at `stop_s`, then the line drains with τ = 30 s, seen by the
    /// sensor `lag_s` late (sampled each second); MOTOR_STALL raised at `alarm_s`.
    fn stall(stop_s: f64, lag_s: f64, alarm_s: f64) -> Timeline {
        let mut tl = Timeline::new();
        let (rate, tau) = (500.0, 30.0);
        let mut volume = 0.0;
        for k in 1..=1200 {
            let at = f64::from(k);
            let seen = stop_s + lag_s;
            let flow = if at <= seen { rate } else { rate * (-(at - seen) / tau).exp() };
            volume += flow / 3600.0;
            let s = Sample {
                at: t(at),
                done_at: t(at),
                flow_ul_h: flow,
                volume_ul: volume,
                temperature_c: 23.0,
                valve_closed: false,
            };
            tl.record(&RunEvent { at: s.at, kind: RunEventKind::Sample(s) });
        }
        tl.record(&RunEvent { at: t(600.0), kind: RunEventKind::Mark { name: "stall".into() } });
        let alarm = Event {
            evseq: 5,
            pump_ms: 0,
            kind: EventKind::Alarm { code: AlarmCode::MotorStall, priority: Priority::High },
        };
        tl.record(&RunEvent { at: t(alarm_s), kind: RunEventKind::PumpEvent { event: alarm } });
        tl
    }

    fn flow_stop_to_alarm(tl: &Timeline) -> Result<Measured, Unmeasurable> {
        let ctx = EvalContext {
            accuracy: Accuracy { percent_of_reading: 5.0, floor_ul_h: 1.0 },
            sample_period: Duration::from_secs(1),
        };
        let m = Measure::FlowStopTo { after: "stall".into(), condition: Condition::Alarm(AlarmCode::MotorStall) };
        measure(&m, tl, t(1200.0), &ctx, "stall-latency")
    }

    #[test]
    fn flow_stop_to_a_late_alarm_is_its_latency_from_the_estimated_stop() {
        let m = flow_stop_to_alarm(&stall(600.0, 0.0, 660.0)).unwrap();
        assert!((m.value - 60.0).abs() <= m.uncertainty.unwrap(), "{m:?}");
    }

    #[test]
    fn an_alarm_before_the_sensor_saw_the_flow_stop_is_a_latency_of_zero_or_less_not_a_miss() {
        // A pump that detects the stall at the first missed stroke alarms while the line still
        // drains and before the sensor (5 s behind) shows the flow falling: before the estimated
        // stop. That is the best pump, and it must pass `max`.
        let m = flow_stop_to_alarm(&stall(600.0, 5.0, 600.5)).unwrap();
        assert!(m.value < 0.0, "the alarm came before the estimated stop: {m:?}");
        let u = m.uncertainty.unwrap();
        assert!(m.value <= u, "at most zero within the estimate's uncertainty: {m:?}");
        let decision = decide(m.value, m.uncertainty, None, Limits { max: Some(60.0), ..Limits::default() }.max);
        assert_eq!(decision, Decision::Pass);
    }
}
