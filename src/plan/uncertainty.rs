//! Checks a bench cannot decide: a check whose limits are narrower than the uncertainty the
//! bench's flow sensor attaches to the value can only ever be INCONCLUSIVE there (the decision
//! is guard-banded: PASS needs the value ± its uncertainty inside the limits). `rig check` warns
//! about them at the check's line, with both numbers, before anything moves.
//!
//! The uncertainty is the executor's own ([`Accuracy::of_reading`], [`Accuracy::of_volume`],
//! [`Accuracy::of_percent`], which `run::evaluate` calls too), for the measures where it is
//! known up front: `flow_mean`, `max_window_volume` and `min_window_volume` (over their window),
//! `volume` over an interval whose length the plan fixes (only waits, repeated requests and
//! instant actions between its ends), `trumpet` and `flow_error`. Times, counts and the pump's
//! values are not covered (their uncertainty is not the sensor's, or they are exact).

use std::collections::HashMap;
use std::time::Duration;

use super::ast::{Action, Check, Endpoint, Interval, Limits, Measure, Plan, StepKind};
use super::diag::{Diagnostic, Loc};
use super::units::{Dimension, format_value};
use crate::bench::config::Accuracy;

/// A point of the case's timeline as far as the plan fixes it: the stretch it lies in (a new
/// one starts after each step of unknown length) and the time since that stretch began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Instant {
    stretch: usize,
    offset: Duration,
}

/// The instant each step starts at, and each mark's.
fn instants(plan: &Plan) -> (Vec<Instant>, HashMap<&str, Instant>) {
    let mut now = Instant { stretch: 0, offset: Duration::ZERO };
    let mut starts = Vec::with_capacity(plan.steps.len());
    let mut marks = HashMap::new();
    for step in &plan.steps {
        starts.push(now);
        match &step.kind {
            StepKind::Wait(d) => now.offset = now.offset.saturating_add(*d),
            StepKind::Action { action: Action::Bolus { repeat: Some(r) }, .. } => {
                now.offset = now.offset.saturating_add(r.every.saturating_mul(r.count.saturating_sub(1)));
            }
            StepKind::Action { action: Action::Prompt { .. }, .. } | StepKind::WaitUntil { .. } => {
                now = Instant { stretch: now.stretch + 1, offset: Duration::ZERO };
            }
            StepKind::Mark(name) => {
                marks.insert(name.as_str(), now);
            }
            StepKind::Action { .. } | StepKind::Check(_) => {}
        }
    }
    (starts, marks)
}

/// The interval's length in hours, when the plan fixes it.
fn known_hours(i: &Interval, now: Instant, marks: &HashMap<&str, Instant>) -> Option<f64> {
    let at = |e: &Endpoint| match e {
        Endpoint::Start => Some(Instant { stretch: 0, offset: Duration::ZERO }),
        Endpoint::Now => Some(now),
        Endpoint::Mark(m) => marks.get(m.as_str()).copied(),
    };
    let (from, to) = (at(&i.from)?, at(&i.to)?);
    (from.stretch == to.stretch && to.offset > from.offset).then(|| (to.offset - from.offset).as_secs_f64() / 3600.0)
}

/// The stated uncertainty of a value `v` of the check's measure, when it is known up front.
fn uncertainty_model(
    check: &Check,
    a: Accuracy,
    now: Instant,
    marks: &HashMap<&str, Instant>,
) -> Option<Box<dyn Fn(f64) -> f64>> {
    let hours = |w: Duration| w.as_secs_f64() / 3600.0;
    Some(match &check.measure {
        Measure::FlowMean(_) => Box::new(move |v| a.of_reading(v)),
        Measure::Volume(i) => {
            let h = known_hours(i, now, marks)?;
            Box::new(move |v| a.of_volume(v, h).unwrap_or(0.0))
        }
        Measure::MaxWindowVolume { window, .. } | Measure::MinWindowVolume { window, .. } => {
            let h = hours(*window);
            if h <= 0.0 {
                return None;
            }
            Box::new(move |v| a.of_volume(v, h).unwrap_or(0.0))
        }
        // The value is the error's magnitude; the bench's uncertainty is smaller on the side
        // below the rate, and either side may be what the pump does.
        Measure::Trumpet { rate, .. } | Measure::FlowError { rate, .. } => {
            let rate = *rate;
            Box::new(move |v| a.of_percent(rate, v).min(a.of_percent(rate, -v)))
        }
        _ => return None,
    })
}

/// Whether some value `v ≥ 0` would be decided PASS: `v - u(v) ≥ low` and `v + u(v) ≤ high`.
/// Both sides grow with `v` (the sensor's share of reading is below 100 %), so the largest `v`
/// with `v + u(v) ≤ high` is the one to try; it is found by bisection.
fn can_pass(u: &dyn Fn(f64) -> f64, low: Option<f64>, high: Option<f64>) -> bool {
    let Some(high) = high else { return true };
    if u(0.0) > high {
        return false;
    }
    let (mut lo, mut hi) = (0.0_f64, high.max(0.0));
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if mid + u(mid) <= high { lo = mid } else { hi = mid }
    }
    low.is_none_or(|l| lo - u(lo) >= l - 1e-9 * l.abs().max(1.0))
}

/// Warnings for the checks of `plan` that bench `bench` (its flow sensor's `accuracy`) can
/// only find INCONCLUSIVE.
pub fn undecidable_checks(plan: &Plan, accuracy: Accuracy, bench: &str) -> Vec<Diagnostic> {
    let (starts, marks) = instants(plan);
    let mut out = Vec::new();
    for (step, now) in plan.steps.iter().zip(starts) {
        let StepKind::Check(check) = &step.kind else { continue };
        let Some(u) = uncertainty_model(check, accuracy, now, &marks) else { continue };
        let (low, high) = check.limits.bounds();
        if can_pass(&*u, low, high) {
            continue;
        }
        let dim = Dimension::of_unit(check.measure.unit());
        let show = |v: f64| format_value(v, dim);
        let (limits, at) = match (low, high) {
            (Some(l), Some(h)) => (format!("{} to {} (± {})", show(l), show(h), show((h - l) / 2.0)), (l + h) / 2.0),
            (None, Some(h)) => (format!("at most {}", show(h)), 0.0),
            _ => continue,
        };
        out.push(
            Diagnostic::new(
                Loc { pos: step.pos, width: "check".len() },
                format!(
                    "check `{}`{} can only be INCONCLUSIVE on bench `{bench}`: its limits, {limits}, are narrower than the flow sensor's stated uncertainty, ± {} at {}",
                    check.id,
                    plan.case.as_ref().map_or(String::new(), |c| format!(" (case `{}`)", c.name)),
                    show(u(at)),
                    show(at)
                ),
            )
            .expected(format!(
                "limits wider than the bench's uncertainty (its `flow_sensor.accuracy`: {} % of reading, at least {})",
                accuracy.percent_of_reading,
                format_value(accuracy.floor_ul_h, Dimension::Flow)
            ))
            .hint(limits_hint(&check.limits, &check.measure))
            .warning(),
        );
    }
    out
}

fn limits_hint(limits: &Limits, measure: &Measure) -> &'static str {
    match measure {
        Measure::Volume(_) | Measure::MaxWindowVolume { .. } | Measure::MinWindowVolume { .. }
            if limits.nominal.is_some() =>
        {
            "widen the tolerance, or measure over a longer time (the floor weighs less against a larger volume)"
        }
        _ => "widen the limits, or run it on a bench whose sensor is more accurate at this flow",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Accuracy = Accuracy { percent_of_reading: 5.0, floor_ul_h: 1.0 };

    #[test]
    fn a_band_narrower_than_the_uncertainty_cannot_pass() {
        let u = |v: f64| A.of_reading(v);
        // 500 uL/h ± 25 (5 %): ± 10 % can pass, ± 4 % cannot.
        assert!(can_pass(&u, Some(450.0), Some(550.0)));
        assert!(!can_pass(&u, Some(480.0), Some(520.0)));
        // Exactly as wide as the uncertainty: the value at the centre passes.
        assert!(can_pass(&u, Some(475.0), Some(525.0)));
        // A maximum below the floor: even no flow is within ± 1 uL/h of it.
        assert!(!can_pass(&u, None, Some(0.5)));
        assert!(can_pass(&u, None, Some(2.0)));
        assert!(can_pass(&u, Some(100.0), None));
    }
}
