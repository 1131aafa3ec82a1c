//! Measures, conditions and limits in words: step labels and checks' default titles.

use super::*;

pub(super) fn describe_endpoint(e: &Endpoint) -> String {
    match e {
        Endpoint::Start => "start".to_string(),
        Endpoint::Now => "now".to_string(),
        Endpoint::Mark(m) => format!("`{m}`"),
    }
}

pub(super) fn describe_interval(i: &Interval) -> String {
    format!("from {} to {}", describe_endpoint(&i.from), describe_endpoint(&i.to))
}

pub fn describe_condition(c: &Condition) -> String {
    match c {
        Condition::Alarm(a) => format!("alarm {a}"),
        Condition::Cleared(a) => format!("{a} cleared"),
        Condition::State(s) => format!("state {s}"),
        Condition::FlowBelow(q) => format!("flow below {}", units::format_value(*q, Dimension::Flow)),
        Condition::FlowAbove(q) => format!("flow above {}", units::format_value(*q, Dimension::Flow)),
        Condition::Boot(r) => format!("BOOT {r}"),
        Condition::Denied(Some(r)) => format!("DENIED {r}"),
        Condition::Denied(None) => "DENIED (any reason)".to_string(),
    }
}

/// A measure in words, for a check's default title.
pub fn describe_measure(m: &Measure) -> String {
    match m {
        Measure::TimeTo { from, condition } => format!("time from `{from}` to {}", describe_condition(condition)),
        Measure::Volume(i) => format!("volume {}", describe_interval(i)),
        Measure::FlowMean(i) => format!("mean flow {}", describe_interval(i)),
        Measure::Boluses { granted: true, interval, .. } => format!("granted boluses {}", describe_interval(interval)),
        Measure::Boluses { granted: false, reason: Some(r), interval } => {
            format!("boluses denied {r} {}", describe_interval(interval))
        }
        Measure::Boluses { granted: false, reason: None, interval } => {
            format!("denied boluses {}", describe_interval(interval))
        }
        Measure::BolusSpacingMin(i) => format!("shortest spacing of granted boluses {}", describe_interval(i)),
        Measure::MaxWindowVolume { window, interval } => {
            format!("largest volume in any {} window {}", units::format_duration(*window), describe_interval(interval))
        }
        Measure::PumpValue { field, at: Some(mark) } => format!("pump {} at `{mark}`", field_name(*field)),
        Measure::PumpValue { field, at: None } => format!("pump {} now", field_name(*field)),
        Measure::Setting { field, at: Some(mark) } => format!("setting {} at `{mark}`", field.name()),
        Measure::Setting { field, at: None } => format!("setting {} now", field.name()),
        Measure::Occurrences { condition, interval } => {
            format!("occurrences of {} {}", describe_condition(condition), describe_interval(interval))
        }
        Measure::MinWindowVolume { window, interval } => {
            format!("smallest volume in any {} window {}", units::format_duration(*window), describe_interval(interval))
        }
        Measure::Trumpet { window, rate, interval } => format!(
            "largest flow error against {} in any {} window {}",
            units::format_value(*rate, Dimension::Flow),
            units::format_duration(*window),
            describe_interval(interval)
        ),
        Measure::FlowError { rate, interval } => {
            format!(
                "mean flow error against {} {}",
                units::format_value(*rate, Dimension::Flow),
                describe_interval(interval)
            )
        }
        Measure::FlowStopTo { after, condition } => {
            format!("time from the flow stopping after `{after}` to {}", describe_condition(condition))
        }
        Measure::PumpChange { field, interval } => {
            format!("change of pump {} {}", field_name(*field), describe_interval(interval))
        }
        Measure::EvseqGaps(i) => format!("gaps in evseq {}", describe_interval(i)),
    }
}

pub(super) fn field_name(f: PumpField) -> &'static str {
    match f {
        PumpField::ReservoirUl => "reservoir_ul",
        PumpField::DeliveredUl => "delivered_ul",
        PumpField::PressureKpa => "pressure_kpa",
        PumpField::BasalUlH => "basal_ul_h",
    }
}

/// The limits as written: `≤ 20 min`, `≥ 3`, `between 1 and 3`, `500 uL/h ± 10 %`.
pub(super) fn describe_limits(m: &MapView<'_>) -> String {
    let t = |k: &str| m.get(k).and_then(Node::as_str).map(str::to_string);
    let mut parts = Vec::new();
    match (t("min"), t("max")) {
        (Some(lo), Some(hi)) => parts.push(format!("between {lo} and {hi}")),
        (Some(lo), None) => parts.push(format!("≥ {lo}")),
        (None, Some(hi)) => parts.push(format!("≤ {hi}")),
        (None, None) => {}
    }
    if let (Some(n), Some(tol)) = (t("nominal"), t("tolerance")) {
        parts.push(format!("{n} ± {tol}"));
    }
    parts.join(", ")
}
