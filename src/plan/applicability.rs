//! Whether a bench can run a plan. A plan that needs what the bench lacks (a motor-stall
//! injection on real hardware, an injection a software bench's `HELLO` does not list, an
//! operator on the twin) is *not applicable* there: not an error in the plan, and not a
//! finding about the pump.

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
        Capability::LinkSilence => "silence the serial link",
        Capability::SensorNack => "make the flow sensor NACK",
        Capability::SensorAir => "make the flow sensor report air in line",
        Capability::SensorStuck => "make the flow sensor repeat its reading",
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

/// As [`not_applicable`], naming the bench and its kind, with the capabilities
/// [`BenchFile::capabilities`] gives it, e.g. "needs motor_stall; bench `pi-bench-1`
/// (hardware) cannot inject a motor stall: a real bench has no fault injection".
pub fn not_applicable_on(plan: &Plan, bench: &BenchFile, interactive: bool) -> Option<String> {
    not_applicable_given(plan, &bench.capabilities(interactive), &bench.name, &bench.connection)
}

/// As [`not_applicable_on`], with the bench's capabilities given: for a software bench in its
/// own process, those its bench-bus `HELLO` lists (ICD part 2), so the reason names the
/// injections it does not list, e.g. "needs sensor_air; bench `x` (software bench process)
/// does not list SENSOR_AIR in its HELLO".
pub fn not_applicable_given(
    plan: &Plan,
    caps: &BTreeSet<Capability>,
    bench_name: &str,
    connection: &Connection,
) -> Option<String> {
    let missing = missing(plan, caps);
    if missing.is_empty() {
        return None;
    }
    let kind = match connection {
        Connection::Twin { .. } => "in-process twin",
        Connection::SimProcess { .. } => "software bench process",
        Connection::Hardware { .. } => "hardware",
    };
    let (injections, others): (Vec<Capability>, Vec<Capability>) =
        missing.iter().partition(|c| c.inject_name().is_some());
    let cannot = |caps: &[Capability]| {
        let abilities: Vec<&str> = caps.iter().map(|c| ability(*c)).collect();
        format!("cannot {}", join_and(&abilities))
    };
    let mut clauses = Vec::new();
    if !injections.is_empty() {
        clauses.push(match connection {
            Connection::SimProcess { .. } => {
                let names: Vec<&str> = injections.iter().filter_map(|c| c.inject_name()).collect();
                format!("does not list {} in its HELLO", join_and(&names))
            }
            Connection::Hardware { .. } => format!("{}: a real bench has no fault injection", cannot(&injections)),
            Connection::Twin { .. } => cannot(&injections),
        });
    }
    if !others.is_empty() {
        clauses.push(cannot(&others));
    }
    let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
    let mut why = format!("needs {}; bench `{bench_name}` ({kind}) {}", names.join(", "), clauses.join(", and "));
    if missing.contains(&Capability::Operator) {
        why.push_str(match connection {
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
            Some(
                "needs motor_stall; bench `pi-bench-1` (hardware) cannot inject a motor stall: a real bench has no fault injection"
            )
        );
        assert_eq!(
            not_applicable_on(&plan(&[Pump, WatchdogReset, FrameCorruption]), &pi, false).as_deref(),
            Some(
                "needs watchdog_reset, frame_corruption; bench `pi-bench-1` (hardware) cannot inject a watchdog reset or corrupt frames on the line: a real bench has no fault injection"
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
    fn a_software_bench_process_runs_what_its_hello_lists() {
        use Capability::*;
        let sim = Connection::SimProcess { serial: "/tmp/p".into(), baud: 115_200, bus: "/tmp/b".into() };
        // HELLO: `OK bench=x inject=STALL,SENSOR_NACK`.
        let hello: BTreeSet<_> = [Pump, FlowSensor, Valve]
            .into_iter()
            .chain(["STALL", "SENSOR_NACK"].into_iter().filter_map(Capability::from_inject_name))
            .collect();
        assert_eq!(not_applicable_given(&plan(&[Pump, MotorStall, SensorNack]), &hello, "x", &sim), None);
        assert_eq!(
            not_applicable_given(&plan(&[Pump, SensorAir]), &hello, "x", &sim).as_deref(),
            Some("needs sensor_air; bench `x` (software bench process) does not list SENSOR_AIR in its HELLO")
        );
        assert_eq!(
            not_applicable_given(&plan(&[Pump, LinkSilence, SensorStuck, Operator]), &hello, "x", &sim).as_deref(),
            Some(
                "needs link_silence, sensor_stuck, operator; bench `x` (software bench process) does not list SILENCE or SENSOR_STUCK in its HELLO, and cannot ask an operator (prompts need a real bench and an interactive run)"
            )
        );
    }

    #[test]
    fn inject_names_round_trip() {
        for c in Capability::ALL {
            if let Some(name) = c.inject_name() {
                assert_eq!(Capability::from_inject_name(name), Some(c));
            }
        }
        assert_eq!(Capability::from_inject_name("FLOOD"), None);
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
