//! What a case's record says the pump was told and reported over time, as the report draws it:
//! the settings in force (each value with where it came from), the alarms from raised to cleared,
//! the boluses, and the programmed flow and volume they add up to.
//!
//! Pure functions of the record's parts ([`super::record::CaseRecord`]): nothing here is measured, and each derived figure says
//! what it was derived from.

use crate::protocol::{AlarmCode, Command, Request};

use super::record::{BolusRecord, PumpCommandRecord, PumpEventRecord, PumpStateRecord, UnlistedPumpEvents};

/// The bolus rate of SRS-DOS-005: a granted bolus runs at 1000 µL/h on top of the basal.
pub const BOLUS_RATE_UL_H: f64 = 1000.0;

/// The ICD's settings after a boot ("Defaults after boot").
pub const DEFAULT_DOSE_UL: f64 = 50.0;
pub const DEFAULT_LOW_RESERVOIR_UL: f64 = 2000.0;
pub const DEFAULT_OCCLUSION_KPA: f64 = 200.0;

/// One value of a setting, in force from `since_s` until the next.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingValue {
    pub value: f64,
    pub since_s: f64,
    /// Where the value comes from, in words: `ALARM_CONFIG at 0:00:00.0`.
    pub source: String,
}

/// The settings the report needs, each as the values it took in order (never empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub dose_ul: Vec<SettingValue>,
    pub low_reservoir_ul: Vec<SettingValue>,
    pub occlusion_kpa: Vec<SettingValue>,
}

/// Where the settings at the case's start come from when the record holds no reading of them.
pub const ASSUMED_DEFAULTS: &str = "the ICD's defaults after boot (assumed: the record holds no SETTINGS read)";

/// The pump's own answer to `SETTINGS` (the part the report draws), and when it came.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsReading {
    pub at_s: f64,
    pub dose_ul: f64,
    pub low_reservoir_ul: f64,
    pub occlusion_kpa: f64,
    /// What the reading was, in words: `the pump's SETTINGS before the first step`.
    pub source: String,
}

/// The settings over the case: from the pump's `SETTINGS` read before the first step when the
/// record has it, else from the ICD's defaults after boot (assumed, and said to be), changed by
/// every command the pump accepted.
pub fn settings(read_at_start: Option<&SettingsReading>, commands: &[PumpCommandRecord]) -> Settings {
    let initial = |value: f64| match read_at_start {
        Some(r) => vec![SettingValue { value, since_s: 0.0, source: format!("{} at {}", r.source, clock(r.at_s)) }],
        None => vec![SettingValue { value, since_s: 0.0, source: ASSUMED_DEFAULTS.to_owned() }],
    };
    let mut s = Settings {
        dose_ul: initial(read_at_start.map_or(DEFAULT_DOSE_UL, |r| r.dose_ul)),
        low_reservoir_ul: initial(read_at_start.map_or(DEFAULT_LOW_RESERVOIR_UL, |r| r.low_reservoir_ul)),
        occlusion_kpa: initial(read_at_start.map_or(DEFAULT_OCCLUSION_KPA, |r| r.occlusion_kpa)),
    };
    for c in commands.iter().filter(|c| c.outcome == "accepted") {
        let Ok(request) = Request::parse(&format!("1 {}", c.command)) else { continue };
        let source = format!("{} at {}", request.command.name(), clock(c.at_s));
        let set = |values: &mut Vec<SettingValue>, value: f64| {
            values.push(SettingValue { value, since_s: c.at_s, source: source.clone() })
        };
        match request.command {
            Command::BolusConfig { dose_ul, .. } => set(&mut s.dose_ul, dose_ul),
            Command::AlarmConfig { low_reservoir_ul, occlusion_kpa } => {
                set(&mut s.low_reservoir_ul, low_reservoir_ul);
                set(&mut s.occlusion_kpa, occlusion_kpa);
            }
            _ => {}
        }
    }
    s
}

/// The value in force at `t_s`.
pub fn value_at(values: &[SettingValue], t_s: f64) -> Option<f64> {
    values.iter().rev().find(|v| v.since_s <= t_s).or(values.first()).map(|v| v.value)
}

/// A setting as a step series from 0 to `end_s`.
pub fn setting_steps(values: &[SettingValue], end_s: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(values.len() * 2 + 1);
    for v in values {
        let t = v.since_s.max(0.0);
        if let Some(&(_, prev)) = out.last() {
            out.push((t, prev));
        }
        out.push((t, v.value));
    }
    if let Some(&(t, v)) = out.last()
        && end_s > t
    {
        out.push((end_s, v));
    }
    out
}

/// An alarm from raised to cleared, as the pump's events reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpan {
    pub code: String,
    /// `None`: cleared without the record having seen it raised (raised before the case).
    pub raised_s: Option<f64>,
    /// `None`: still active when the record ended.
    pub cleared_s: Option<f64>,
    /// The span runs into the pump events the record does not list (see
    /// [`UnlistedPumpEvents`]): its clear, for one raised before them, or its raise, for one
    /// cleared after them, is among those (or the raise before the case).
    pub beyond_listing: bool,
}

/// The alarms of the record, in order of raising (a clear never seen raised comes at its clear).
pub fn alarm_spans(events: &[PumpEventRecord]) -> Vec<AlarmSpan> {
    let mut spans: Vec<AlarmSpan> = Vec::new();
    // The open span of each code, by index in `spans`.
    let mut open: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for e in events {
        match e.kind.as_str() {
            // A repeated ALARM for an active code (not in the ICD) keeps the first.
            "ALARM" if !open.contains_key(e.what.as_str()) => {
                open.insert(&e.what, spans.len());
                spans.push(AlarmSpan {
                    code: e.what.clone(),
                    raised_s: Some(e.at_s),
                    cleared_s: None,
                    beyond_listing: false,
                })
            }
            "CLEAR" => match open.remove(e.what.as_str()).and_then(|i| spans.get_mut(i)) {
                Some(span) => span.cleared_s = Some(e.at_s),
                None => spans.push(AlarmSpan {
                    code: e.what.clone(),
                    raised_s: None,
                    cleared_s: Some(e.at_s),
                    beyond_listing: false,
                }),
            },
            _ => {}
        }
    }
    spans
}

/// The alarms of a record whose `pump_events` may leave out the events between its first and its
/// latest ones: the spans of each part, those that run into the left-out events marked
/// `beyond_listing`.
pub fn listed_alarm_spans(events: &[PumpEventRecord], unlisted: Option<&UnlistedPumpEvents>) -> Vec<AlarmSpan> {
    let Some(u) = unlisted else { return alarm_spans(events) };
    let (head, tail) = events.split_at(u.after_listed.min(events.len()));
    let mut spans = alarm_spans(head);
    for s in &mut spans {
        s.beyond_listing = s.cleared_s.is_none();
    }
    spans.extend(alarm_spans(tail).into_iter().map(|s| AlarmSpan { beyond_listing: s.raised_s.is_none(), ..s }));
    spans
}

/// The alarm codes that occurred, in the ICD's order.
pub fn alarm_codes(spans: &[AlarmSpan]) -> Vec<String> {
    let mut codes: Vec<String> = Vec::new();
    for code in AlarmCode::ALL {
        if spans.iter().any(|s| s.code == code.as_str()) {
            codes.push(code.as_str().to_owned());
        }
    }
    // Codes outside the ICD's list (a record from another firmware), in order of appearance.
    for s in spans {
        if !codes.contains(&s.code) {
            codes.push(s.code.clone());
        }
    }
    codes
}

/// A granted bolus as programmed: its dose (the setting in force when it was requested) at
/// [`BOLUS_RATE_UL_H`] from its `START`, until the dose is in or the pump left RUNNING.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgrammedBolus {
    pub from_s: f64,
    pub to_s: f64,
    pub dose_ul: f64,
}

/// The programmed boluses of the record: every granted bolus the pump reported starting.
pub fn programmed_boluses(
    boluses: &[BolusRecord],
    states: &[PumpStateRecord],
    settings: &Settings,
) -> Vec<ProgrammedBolus> {
    boluses
        .iter()
        .filter(|b| b.granted)
        .filter_map(|b: &BolusRecord| {
            let start = b.started_s?;
            let dose = value_at(&settings.dose_ul, b.requested_s.unwrap_or(start))?;
            let full = start + dose / BOLUS_RATE_UL_H * 3600.0;
            let stopped = states
                .iter()
                .find(|s| s.at_s > start && s.at_s < full && s.state != "RUNNING")
                .map_or(full, |s| s.at_s);
            Some(ProgrammedBolus { from_s: start, to_s: stopped, dose_ul: dose * (stopped - start) / (full - start) })
        })
        .collect()
}

/// The programmed flow as a step series: the basal while the pump reported RUNNING (0
/// otherwise), from its first reported state to `end_s`, plus [`BOLUS_RATE_UL_H`] during each
/// programmed bolus.
pub fn programmed_flow(states: &[PumpStateRecord], boluses: &[ProgrammedBolus], end_s: f64) -> Vec<(f64, f64)> {
    let Some(first) = states.first() else { return Vec::new() };
    let basal_at = |t: f64| {
        states.iter().rev().find(|s| s.at_s <= t).map_or(0.0, |s| if s.state == "RUNNING" { s.basal_ul_h } else { 0.0 })
    };
    let rate_at =
        |t: f64| basal_at(t) + boluses.iter().filter(|b| b.from_s <= t && t < b.to_s).count() as f64 * BOLUS_RATE_UL_H;
    let mut times: Vec<f64> = states.iter().map(|s| s.at_s).collect();
    times.extend(boluses.iter().flat_map(|b| [b.from_s, b.to_s]));
    times.retain(|t| t.is_finite() && *t >= first.at_s && *t <= end_s.max(first.at_s));
    times.sort_by(f64::total_cmp);
    times.dedup();
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(times.len() * 2 + 1);
    for t in times {
        let rate = rate_at(t);
        match out.last() {
            Some(&(_, prev)) if prev == rate => continue,
            Some(&(_, prev)) => out.push((t, prev)),
            None => {}
        }
        out.push((t, rate));
    }
    if let Some(&(t, v)) = out.last()
        && end_s > t
    {
        out.push((end_s, v));
    }
    out
}

/// The integral (µL) of a step series of flows (µL/h), from 0 at its first point.
pub fn programmed_volume(steps: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(steps.len());
    let mut volume = 0.0;
    let mut prev: Option<(f64, f64)> = None;
    for &(t, rate) in steps {
        if let Some((t0, r0)) = prev {
            volume += r0 * (t - t0) / 3600.0;
        }
        prev = Some((t, rate));
        if out.last().is_none_or(|&(lt, lv)| lt != t || lv != volume) {
            out.push((t, volume));
        }
    }
    out
}

/// `h:mm:ss.s` from the case's start.
pub fn clock(s: f64) -> String {
    if !s.is_finite() {
        return format!("{s}");
    }
    let tenths = (s.max(0.0) * 10.0).round() as u64;
    let (h, rest) = (tenths / 36_000, tenths % 36_000);
    format!("{h}:{:02}:{:02}.{}", rest / 600, rest % 600 / 10, rest % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(at_s: f64, state: &str, basal_ul_h: f64) -> PumpStateRecord {
        PumpStateRecord { at_s, state: state.into(), basal_ul_h }
    }

    fn command(at_s: f64, command: &str, outcome: &str) -> PumpCommandRecord {
        PumpCommandRecord { at_s, command: command.into(), outcome: outcome.into() }
    }

    #[test]
    fn settings_start_from_the_icd_defaults_and_follow_accepted_commands() {
        let commands = [
            command(0.2, "ALARM_CONFIG low_reservoir_ul=500 occlusion_kpa=150", "accepted"),
            command(0.3, "ALARM_CONFIG low_reservoir_ul=900 occlusion_kpa=50", "refused it (ERR RANGE)"),
            command(0.4, "BOLUS_CONFIG dose_ul=10 lockout_s=0 max_per_24h=24", "accepted"),
            command(0.5, "PROGRAM basal_ul_h=500", "accepted"),
        ];
        let s = settings(None, &commands);
        assert_eq!(s.occlusion_kpa.iter().map(|v| v.value).collect::<Vec<_>>(), [200.0, 150.0]);
        assert_eq!(s.occlusion_kpa[0].source, ASSUMED_DEFAULTS);
        assert_eq!(s.occlusion_kpa[1].source, "ALARM_CONFIG at 0:00:00.2");
        assert_eq!(s.low_reservoir_ul.iter().map(|v| v.value).collect::<Vec<_>>(), [2000.0, 500.0]);
        assert_eq!(s.dose_ul.iter().map(|v| v.value).collect::<Vec<_>>(), [50.0, 10.0]);
        assert_eq!(value_at(&s.dose_ul, 0.1), Some(50.0));
        assert_eq!(value_at(&s.dose_ul, 100.0), Some(10.0));
        assert_eq!(setting_steps(&s.occlusion_kpa, 10.0), [(0.0, 200.0), (0.2, 200.0), (0.2, 150.0), (10.0, 150.0)]);

        // A reading of the pump's settings replaces the assumption.
        let read = SettingsReading {
            at_s: 0.05,
            dose_ul: 20.0,
            low_reservoir_ul: 1000.0,
            occlusion_kpa: 300.0,
            source: "the pump's SETTINGS before the first step".into(),
        };
        let s = settings(Some(&read), &commands[..1]);
        assert_eq!(s.occlusion_kpa.iter().map(|v| v.value).collect::<Vec<_>>(), [300.0, 150.0]);
        assert_eq!(s.occlusion_kpa[0].source, "the pump's SETTINGS before the first step at 0:00:00.1");
        assert_eq!(s.dose_ul.iter().map(|v| v.value).collect::<Vec<_>>(), [20.0]);
    }

    #[test]
    fn alarms_span_from_raised_to_cleared() {
        let event = |at_s: f64, kind: &str, what: &str| PumpEventRecord { at_s, kind: kind.into(), what: what.into() };
        let events = [
            event(0.0, "BOOT", "POWER_ON"),
            event(5.0, "CLEAR", "RESERVOIR_LOW"),
            event(10.0, "ALARM", "OCCLUSION"),
            event(20.0, "ALARM", "THERAPY_INTERRUPTED"),
            event(30.0, "CLEAR", "OCCLUSION"),
            event(40.0, "ALARM", "OCCLUSION"),
        ];
        let spans = alarm_spans(&events);
        assert_eq!(
            spans,
            [
                AlarmSpan { code: "RESERVOIR_LOW".into(), raised_s: None, cleared_s: Some(5.0), beyond_listing: false },
                AlarmSpan {
                    code: "OCCLUSION".into(),
                    raised_s: Some(10.0),
                    cleared_s: Some(30.0),
                    beyond_listing: false
                },
                AlarmSpan {
                    code: "THERAPY_INTERRUPTED".into(),
                    raised_s: Some(20.0),
                    cleared_s: None,
                    beyond_listing: false
                },
                AlarmSpan { code: "OCCLUSION".into(), raised_s: Some(40.0), cleared_s: None, beyond_listing: false },
            ]
        );
        assert_eq!(alarm_codes(&spans), ["OCCLUSION", "RESERVOIR_LOW", "THERAPY_INTERRUPTED"]);
    }

    #[test]
    fn the_programmed_flow_adds_granted_boluses_and_its_integral_is_the_programmed_volume() {
        let states = [state(1.0, "STOPPED", 0.0), state(2.0, "RUNNING", 500.0), state(2495.0, "ALARM", 500.0)];
        let flow = programmed_flow(&states, &[], 3000.0);
        assert_eq!(flow, [(1.0, 0.0), (2.0, 0.0), (2.0, 500.0), (2495.0, 500.0), (2495.0, 0.0), (3000.0, 0.0)]);
        let volume = programmed_volume(&flow);
        assert_eq!(volume.last().unwrap().0, 3000.0);
        assert!((volume.last().unwrap().1 - 500.0 * 2493.0 / 3600.0).abs() < 1e-9);

        // A 50 µL bolus from 100 s runs 180 s at 1000 µL/h on top of the basal.
        let records = [
            BolusRecord {
                requested_s: Some(99.9),
                granted: true,
                id: Some(1),
                refused: None,
                started_s: Some(100.0),
                ended_s: Some(280.0),
                delivered_ul: Some(50.0),
            },
            BolusRecord {
                requested_s: Some(1000.0),
                granted: false,
                id: None,
                refused: Some("LOCKOUT".into()),
                started_s: None,
                ended_s: None,
                delivered_ul: None,
            },
            // Cut short when the pump left RUNNING at 2495 s.
            BolusRecord {
                requested_s: Some(2400.0),
                granted: true,
                id: Some(2),
                refused: None,
                started_s: Some(2405.0),
                ended_s: Some(2495.0),
                delivered_ul: Some(25.0),
            },
        ];
        let boluses = programmed_boluses(&records, &states, &settings(None, &[]));
        assert_eq!(boluses.len(), 2);
        assert_eq!(boluses[0], ProgrammedBolus { from_s: 100.0, to_s: 280.0, dose_ul: 50.0 });
        assert_eq!((boluses[1].from_s, boluses[1].to_s), (2405.0, 2495.0));
        assert!((boluses[1].dose_ul - 25.0).abs() < 1e-9);
        let flow = programmed_flow(&states, &boluses, 3000.0);
        assert!(flow.contains(&(100.0, 500.0)) && flow.contains(&(100.0, 1500.0)) && flow.contains(&(280.0, 500.0)));
        let with = programmed_volume(&flow).last().unwrap().1;
        assert!((with - (500.0 * 2493.0 / 3600.0 + 75.0)).abs() < 1e-9, "{with}");
    }

    #[test]
    fn clock_reads_well() {
        assert_eq!(clock(1800.1), "0:30:00.1");
        assert_eq!(clock(90_061.0), "25:01:01.0");
    }
}
