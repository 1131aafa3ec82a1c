//! Whether a bench can run a plan. A plan that needs what the bench lacks (a motor-stall
//! injection on real hardware, an operator on the twin) is *not applicable* there: not an
//! error in the plan, and not a finding about the pump.

use std::collections::BTreeSet;

use super::ast::{Capability, Plan};
use crate::bench::{BenchFile, Connection};

/// What a bench does when it has the capability, as "cannot …" completes it.
pub fn ability(cap: Capability) -> &'static str {
    match cap {
        Capability::Pump => "talk to a pump",
        Capability::FlowSensor => "measure flow",
        Capability::Valve => "occlude the line with a valve",
        Capability::MotorStall => "inject a motor stall",
        Capability::WatchdogReset => "inject a watchdog reset",
        Capability::FrameCorruption => "corrupt frames on the line",
        Capability::Operator => "ask an operator",
    }
}

/// Capabilities the plan requires and the bench lacks, in order.
pub fn missing(plan: &Plan, caps: &BTreeSet<Capability>) -> Vec<Capability> {
    plan.requires.iter().copied().filter(|c| !caps.contains(c)).collect()
}

/// Why a bench with `caps` cannot run the plan, or `None` when it can.
pub fn not_applicable(plan: &Plan, caps: &BTreeSet<Capability>) -> Option<String> {
    reason(plan, caps, "this bench")
}

/// As [`not_applicable`], naming the bench and its kind, e.g. "needs motor_stall; bench
/// `pi-bench-1` (hardware) cannot inject a motor stall".
pub fn not_applicable_on(plan: &Plan, bench: &BenchFile, interactive: bool) -> Option<String> {
    let caps = bench.capabilities(interactive);
    let kind = match bench.connection {
        Connection::Twin { .. } => "in-process twin",
        Connection::SimProcess { .. } => "software bench process",
        Connection::Hardware { .. } => "hardware",
    };
    let mut why = reason(plan, &caps, &format!("bench `{}` ({kind})", bench.name))?;
    if plan.requires.contains(&Capability::Operator) && !caps.contains(&Capability::Operator) {
        why.push_str(match bench.connection {
            Connection::Hardware { .. } => " (prompts need an interactive run)",
            _ => " (prompts need a real bench and an interactive run)",
        });
    }
    Some(why)
}

fn reason(plan: &Plan, caps: &BTreeSet<Capability>, bench: &str) -> Option<String> {
    let missing = missing(plan, caps);
    if missing.is_empty() {
        return None;
    }
    let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
    let abilities: Vec<&str> = missing.iter().map(|c| ability(*c)).collect();
    Some(format!("needs {}; {bench} cannot {}", names.join(", "), join_and(&abilities)))
}

fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::EMBEDDED_TWIN;
    use std::path::Path;
    use std::time::Duration;

    fn plan(requires: &[Capability]) -> Plan {
        Plan {
            id: "P".into(),
            title: "t".into(),
            version: "1.0.0".into(),
            covers: vec![],
            requires: requires.iter().copied().collect(),
            sample_period: Duration::from_secs(1),
            status_period: Duration::from_secs(10),
            max_duration: None,
            case: None,
            steps: vec![],
            setup_len: 0,
        }
    }

    fn bench(text: &str) -> BenchFile {
        BenchFile::parse(Path::new("b.yaml"), text).unwrap()
    }

    const PI: &str = "name: pi-bench-1
connection: { kind: hardware, serial: /dev/ttyUSB0, i2c: /dev/i2c-1, gpiochip: /dev/gpiochip0 }
flow_sensor:
  model: LD20-0600L
  address: 0x08
  serial_number: \"1\"
  calibration_due: 2099-01-01
  accuracy: { percent_of_reading: 5.0, floor_ul_h: 1.0 }
valve: { line: 17, model: m, serial_number: s }
";

    #[test]
    fn the_twin_runs_injections_but_has_no_operator() {
        use Capability::*;
        let twin = bench(EMBEDDED_TWIN);
        assert_eq!(not_applicable_on(&plan(&[Pump, FlowSensor, Valve, MotorStall]), &twin, true), None);
        assert_eq!(
            not_applicable_on(&plan(&[Pump, Operator]), &twin, true).as_deref(),
            Some(
                "needs operator; bench `digital-twin` (in-process twin) cannot ask an operator (prompts need a real bench and an interactive run)"
            )
        );
    }

    #[test]
    fn hardware_cannot_inject_and_needs_interaction_for_prompts() {
        use Capability::*;
        let pi = bench(PI);
        assert_eq!(
            not_applicable_on(&plan(&[Pump, MotorStall]), &pi, true).as_deref(),
            Some("needs motor_stall; bench `pi-bench-1` (hardware) cannot inject a motor stall")
        );
        assert_eq!(
            not_applicable_on(&plan(&[Pump, WatchdogReset, FrameCorruption]), &pi, false).as_deref(),
            Some(
                "needs watchdog_reset, frame_corruption; bench `pi-bench-1` (hardware) cannot inject a watchdog reset or corrupt frames on the line"
            )
        );
        assert_eq!(not_applicable_on(&plan(&[Pump, Operator]), &pi, true), None);
        assert!(
            not_applicable_on(&plan(&[Pump, Operator]), &pi, false)
                .unwrap()
                .ends_with("(prompts need an interactive run)")
        );
    }

    #[test]
    fn by_capabilities_alone() {
        use Capability::*;
        let caps: BTreeSet<_> = [Pump, FlowSensor].into_iter().collect();
        assert_eq!(not_applicable(&plan(&[Pump]), &caps), None);
        assert_eq!(
            not_applicable(&plan(&[Pump, Valve]), &caps).as_deref(),
            Some("needs valve; this bench cannot occlude the line with a valve")
        );
    }
}
