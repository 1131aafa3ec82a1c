//! Faults of the bench and of the pump that a verdict must not hide (issue 12): a flow sensor
//! that reports air in line, sticks, or stops answering is a bench ERROR, never a flow and never
//! a pump FAIL; a pump that resets itself mid-run FAILs the case; answers later than the ICD's
//! 50 ms are recorded and counted.
//!
//! The sensor faults run the fixture plans `fixtures/plans/fault-*.yaml` through the whole
//! runner on the in-process twin (the twin injects them as the ICD's `INJECT SENSOR ...`), and
//! read the evidence back from the bundle: `record.json`, `events.jsonl`, `samples.csv`. The raw
//! frames are checked against the ICD's CRC-8, computed independently (`tests/icd`). The resets
//! and the slow answers run one case on a twin the test disturbs itself: a watchdog reset
//! injected into the twin behind the plan's back, a service-port line that delays the answers.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::icd;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig::bench::{Bench, BenchFile, EMBEDDED_TWIN, load_or_default};
use rig::bus::Inject;
use rig::clock::{RigClock, RigTime};
use rig::evidence::record::CaseRecord;
use rig::plan::*;
use rig::protocol::{BootReason, EventKind};
use rig::run::evaluate::EvalContext;
use rig::run::reporters::record::RecordReporter;
use rig::run::runner::CaseOutcome;
use rig::run::{
    CaseOptions, CaseReport, EmergencyStop, Reporter, RunEvent, RunEventKind, RunOptions, Verdict, run_case, run_plans,
};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------------
// Sensor faults, through the runner, from the fixture plans.

struct Bundle {
    report: CaseReport,
    record: serde_json::Value,
    events: Vec<serde_json::Value>,
    /// `samples.csv` rows: (time_s, flow_ul_h, volume_ul).
    samples: Vec<(f64, f64, f64)>,
}

/// Runs every case of the fixture plan `name` on the nominal twin; their bundles by case name.
fn run_fixture(name: &str) -> Vec<(String, Bundle)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let loaded = rig::plan::load_plans(&[root.join("fixtures/plans").join(name)]);
    assert!(loaded.is_ok(), "{}", loaded.render_diagnostics());
    let bench = load_or_default(None, EMBEDDED_TWIN, "rig/sim.yaml").unwrap();
    let out = tempfile::tempdir().unwrap();
    let options = RunOptions::new(bench, out.path().to_path_buf());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    let summary = runtime.block_on(async {
        let (_tx, interrupt) = watch::channel(None);
        run_plans(&loaded.plans, &options, interrupt, &EmergencyStop::default()).await
    });
    summary
        .cases
        .into_iter()
        .map(|case| {
            let CaseOutcome::Ran { report, dir, .. } = case.outcome else {
                panic!("{} did not run: {:?}", case.name, case.outcome)
            };
            let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
            let record = serde_json::from_str(&read("record.json")).unwrap();
            let events = read("events.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            let samples = read("samples.csv")
                .lines()
                .skip(1)
                .map(|l| {
                    let f: Vec<f64> = l.split(',').take(3).map(|x| x.parse().unwrap()).collect();
                    (f[0], f[1], f[2])
                })
                .collect();
            (case.name, Bundle { report, record, events, samples })
        })
        .collect()
}

fn one(name: &str) -> Bundle {
    let mut cases = run_fixture(name);
    assert_eq!(cases.len(), 1);
    cases.remove(0).1
}

fn events_of<'a>(b: &'a Bundle, kind: &str) -> Vec<&'a serde_json::Value> {
    b.events.iter().filter(|e| e["kind"] == kind).collect()
}

fn anomalies(b: &Bundle) -> Vec<String> {
    b.record["anomalies"].as_array().unwrap().iter().map(|a| a["what"].as_str().unwrap().to_string()).collect()
}

/// The 9 bytes of a frame given as hex, each word's CRC-8 checked against the ICD's rule.
fn frame_words(hex: &str) -> [u16; 3] {
    assert_eq!(hex.len(), 18, "{hex}");
    let bytes: Vec<u8> = (0..9).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    let mut words = [0u16; 3];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks(3)) {
        assert_eq!(icd::crc8(&chunk[..2]), chunk[2], "CRC of {hex}");
        *w = u16::from_be_bytes([chunk[0], chunk[1]]);
    }
    words
}

/// The sensor the twin has, as the case must name it.
const TWIN_SENSOR: &str = "flow sensor LD20-0600L serial ";

#[test]
fn air_in_line_is_kept_as_evidence_never_as_flow_and_a_check_over_it_is_a_bench_error() {
    let b = one("fault-air-in-line.yaml");
    assert_eq!(b.report.verdict, Verdict::Error, "{:#?}", b.report);
    let reason = b.report.reason.as_deref().unwrap();
    assert!(reason.starts_with(TWIN_SENSOR) && reason.contains(" at 0x08 on "), "names the sensor: {reason}");
    assert!(reason.contains("air in line at t=901.000s"), "says when: {reason}");
    assert!(reason.contains("primed and bubble-free"), "says what to check: {reason}");
    // The check before the bubble is judged as usual; the one across it is no pump verdict.
    let verdicts: Vec<(&str, Verdict)> = b.report.checks.iter().map(|c| (c.id.as_str(), c.verdict)).collect();
    assert_eq!(verdicts, [("flow-before-the-bubble", Verdict::Pass), ("flow-across-the-bubble", Verdict::Error)]);
    assert_eq!(b.report.checks[1].value, None, "nothing measured over air");

    // Every flagged reading is in events.jsonl with its frame; the flags word has bit 0 set.
    let air = events_of(&b, "air_in_line");
    // 30 s of air read each second: 901 s to 929 s, and the read at 930 s too when it comes
    // before the undo that shares its instant (under virtual time the order of two things due
    // at the same instant is the runtime's, not the plan's).
    assert!((29..=30).contains(&air.len()), "30 s of air read each second: {}", air.len());
    for e in &air {
        let [_, _, flags] = frame_words(e["raw"].as_str().unwrap());
        assert_eq!(flags & 1, 1, "{e}");
        assert_eq!(e["flags"].as_u64(), Some(u64::from(flags)));
        let at = e["at"].as_f64().unwrap();
        assert!((900.0..=931.0).contains(&at), "{e}");
    }
    assert!(anomalies(&b).iter().any(|a| a.contains("air in line (frame ")), "{:#?}", anomalies(&b));

    // None of them is a sample, and the volume does not grow by their meaningless flow: the
    // first clean read after the air integrates only the period since the last flagged read.
    let air_at: Vec<f64> = air.iter().map(|e| e["at"].as_f64().unwrap()).collect();
    let (first_air, last_air) = (air_at[0], *air_at.last().unwrap());
    assert!(b.samples.iter().all(|s| !(first_air..=last_air).contains(&s.0)), "no sample while air was reported");
    let before = b.samples.iter().rev().find(|s| s.0 < first_air).unwrap();
    let after = b.samples.iter().find(|s| s.0 > last_air).unwrap();
    let expected_one_read = 500.0 / 3600.0 * (after.0 - last_air);
    assert!(
        (after.2 - before.2 - expected_one_read).abs() < 0.1,
        "only the first clean read after the air is integrated: {before:?} -> {after:?}"
    );
}

#[test]
fn a_stuck_sensor_ends_an_occlusion_case_in_error_naming_the_sensor_not_a_pump_fail() {
    let b = one("fault-stuck-sensor.yaml");
    assert_eq!(b.report.verdict, Verdict::Error, "{:#?}", b.report);
    let reason = b.report.reason.as_deref().unwrap();
    assert!(reason.starts_with(TWIN_SENSOR) && reason.contains("stuck"), "{reason}");
    assert!(reason.contains("power-cycle"), "says what to do: {reason}");
    assert!(b.report.checks.is_empty(), "no check judged on a frozen sensor: {:#?}", b.report.checks);
    // The repeated frame is in the evidence, CRCs and all, and it still says 500 µL/h.
    let fault = events_of(&b, "sensor_fault");
    assert_eq!(fault.len(), 1);
    let raw = fault[0]["raw"].as_str().unwrap();
    let [flow, _, _] = frame_words(raw);
    assert!(((flow as i16) as f64 / 1200.0 * 1000.0 - 500.0).abs() < 30.0, "{raw}");
    assert!(reason.contains(raw), "{reason}");
    assert!(anomalies(&b).iter().any(|a| a.contains("stuck")), "{:#?}", anomalies(&b));
    // Detected within the rule's 10 frames over at least 2 s of the injection at 600 s.
    let at = fault[0]["at"].as_f64().unwrap();
    assert!((602.0..=612.0).contains(&at), "{at}");
}

#[test]
fn failed_reads_are_skipped_and_retried_and_persistent_ones_are_a_bench_error() {
    let cases = run_fixture("fault-sensor-nack.yaml");
    let [(transient_name, transient), (persistent_name, persistent)] = &cases[..] else { panic!("two cases") };
    assert!(transient_name.ends_with("[transient]") && persistent_name.ends_with("[persistent]"));

    // Two NACKs: recorded, no sample for them (never a zero flow), the next read accounts for
    // the volume: the delivery check passes.
    assert_eq!(transient.report.verdict, Verdict::Pass, "{:#?}", transient.report);
    let failed = events_of(transient, "sample_failed");
    let in_a_row: Vec<u64> = failed.iter().map(|e| e["in_a_row"].as_u64().unwrap()).collect();
    assert_eq!(in_a_row, [1, 2]);
    let failed_at: Vec<f64> = failed.iter().map(|e| e["at"].as_f64().unwrap()).collect();
    assert!(transient.samples.iter().all(|s| !failed_at.contains(&s.0)), "no sample at a failed read");
    assert!(transient.samples.iter().filter(|s| s.0 > 120.0).all(|s| s.1 > 500.0), "never a zero-flow sample");
    let next = transient.samples.iter().find(|s| s.0 > failed_at[1]).unwrap();
    assert!((next.0 - failed_at[1] - 1.0).abs() < 1e-6, "retried at the next deadline: {next:?}");
    assert_eq!(anomalies(transient).iter().filter(|a| a.contains("read failed")).count(), 2);

    // Five: the third in a row ends the case, naming the sensor and what to check.
    assert_eq!(persistent.report.verdict, Verdict::Error, "{:#?}", persistent.report);
    let reason = persistent.report.reason.as_deref().unwrap();
    assert!(
        reason.starts_with(TWIN_SENSOR) && reason.contains(" at 0x08 on the in-process twin's I2C bus"),
        "{reason}"
    );
    assert!(reason.contains("3 reads in a row failed") && reason.contains("no acknowledge"), "{reason}");
    assert!(reason.contains("wiring") && reason.contains("pull-ups") && reason.contains("power"), "{reason}");
    assert!(persistent.report.checks.is_empty(), "{:#?}", persistent.report.checks);
}

// ---------------------------------------------------------------------------------------------
// Resets and slow answers, on a twin the test disturbs.

fn min(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

fn step(kind: StepKind) -> Step {
    Step { pos: Pos::default(), label: format!("{kind:?}").chars().take(60).collect(), kind }
}

fn act(action: Action) -> Step {
    step(StepKind::Action { action, expect: None })
}

fn plan(steps: Vec<Step>) -> Plan {
    Plan {
        id: "FAULTS".into(),
        title: "faults".into(),
        version: "1".into(),
        covers: vec![],
        requires: [Capability::Pump, Capability::FlowSensor].into_iter().collect::<BTreeSet<_>>(),
        sample_period: Duration::from_secs(1),
        status_period: Duration::from_secs(10),
        max_duration: None,
        case: None,
        steps,
        setup_len: 0,
    }
}

/// Delivery for 20 min, with a check on the volume, and `extra` steps after 5 min.
fn delivery(extra: Vec<Step>) -> Plan {
    let mut steps = vec![
        act(Action::Fill { volume_ul: 20_000.0 }),
        act(Action::Limit { max_24h_ul: 24_000.0 }),
        act(Action::Program { basal_ul_h: 600.0 }),
        act(Action::Start),
        step(StepKind::Mark("running".into())),
        step(StepKind::Wait(min(5))),
    ];
    steps.extend(extra);
    steps.push(step(StepKind::Wait(min(15))));
    steps.push(step(StepKind::Check(Check {
        id: "volume".into(),
        title: "volume".into(),
        measure: Measure::Volume(Interval { from: Endpoint::Mark("running".into()), to: Endpoint::Now }),
        limits: Limits { min: Some(150.0), ..Limits::default() },
        verifies: vec![],
    })));
    plan(steps)
}

#[derive(Default, Clone)]
struct Collect(Arc<Mutex<Vec<RunEvent>>>);

impl Reporter for Collect {
    fn on_event(&mut self, event: &RunEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// Runs `plan` on `bench` with the record reporter of the runner, and the events.
async fn run_on(mut bench: Bench, file: &BenchFile, plan: &Plan) -> (CaseReport, CaseRecord, Vec<RunEvent>) {
    let options = RunOptions::new(file.clone(), PathBuf::from("unused"));
    let plan_file = PlanFile { path: "faults.yaml".into(), sha256: "0".repeat(64), cases: vec![plan.clone()] };
    let start = rig::run::case_record::start_record(plan, &plan_file, &options, Some(bench.sensor_identity()));
    let record = Arc::new(Mutex::new(start));
    let collect = Collect::default();
    let mut reporters: Vec<Box<dyn Reporter + Send>> =
        vec![Box::new(collect.clone()), Box::new(RecordReporter::new(record.clone()))];
    let (tx, rx) = watch::channel(None);
    std::mem::forget(tx);
    let eval = EvalContext { accuracy: file.flow_sensor.accuracy, sample_period: plan.sample_period };
    let options = CaseOptions { virtual_time: true, interactive: false };
    let report = run_case(&mut bench, plan, eval, options, &mut reporters, rx).await;
    let record = record.lock().unwrap().clone();
    let events = collect.0.lock().unwrap().clone();
    (report, record, events)
}

fn twin_file() -> BenchFile {
    BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap()
}

/// Resets the twin's firmware at `at` on the rig's clock, behind the plan's back.
fn reset_at(bench: &Bench, at: RigTime) {
    let (twin, clock) = (bench.twin().cloned().unwrap(), bench.clock());
    tokio::spawn(async move {
        clock.sleep_until(at).await;
        twin.inject(Inject::Watchdog);
    });
}

#[tokio::test(start_paused = true)]
async fn a_reset_the_plan_did_not_cause_fails_the_case_naming_it() {
    let file = twin_file();
    let bench = Bench::open(&file, &[], RigClock::start()).await.unwrap();
    reset_at(&bench, RigTime::from_millis(600_000));
    let (report, record, _) = run_on(bench, &file, &delivery(vec![])).await;
    assert_eq!(report.verdict, Verdict::Fail, "{report:#?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("the pump reset itself (BOOT reason=WATCHDOG at t=600.")
            && reason.ends_with("without the plan causing it"),
        "{reason}"
    );
    assert_eq!(record.verdict, Verdict::Fail);
    assert!(record.pump_events.iter().any(|e| e.kind == "BOOT" && e.what == "WATCHDOG" && e.at_s >= 600.0));
}

#[tokio::test(start_paused = true)]
async fn a_reset_the_plan_injects_is_expected_and_a_later_one_is_not() {
    let file = twin_file();
    let injected = delivery(vec![act(Action::Inject(Injection::WatchdogReset))]);
    let bench = Bench::open(&file, &[], RigClock::start()).await.unwrap();
    let (report, _, events) = run_on(bench, &file, &injected).await;
    assert_eq!(report.verdict, Verdict::Pass, "the plan's own reset is no finding: {report:#?}");
    assert_eq!(report.checks.len(), 1, "its checks still run");
    let boots = events
        .iter()
        .filter(|e| {
            matches!(&e.kind, RunEventKind::PumpEvent { event } if event.kind == EventKind::Boot { reason: BootReason::Watchdog })
        })
        .count();
    assert_eq!(boots, 1, "the injected reset did happen");

    // The same plan, and the pump resets again on its own 10 min after: that one is a finding.
    let bench = Bench::open(&file, &[], RigClock::start()).await.unwrap();
    reset_at(&bench, RigTime::from_millis(900_000));
    let (report, _, _) = run_on(bench, &file, &injected).await;
    assert_eq!(report.verdict, Verdict::Fail, "{report:#?}");
    assert!(report.reason.as_deref().unwrap().contains("BOOT reason=WATCHDOG at t=900."), "{report:#?}");
}

/// The rig's end of the service port through a line that holds each answer to a request from
/// the pump for `delay` (virtual time: the link stamps with the rig's clock) while the bench
/// time is in `[from, to)`; events and other answers pass at once.
fn delaying_tap(
    clock: RigClock,
    from: RigTime,
    to: RigTime,
    delay: Duration,
) -> impl FnOnce(tokio::io::DuplexStream) -> tokio::io::DuplexStream {
    move |twin_side| {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let (rig_side, tap_side) = tokio::io::duplex(16 * 1024);
        let (from_twin, mut to_twin) = tokio::io::split(twin_side);
        let (from_rig, mut to_rig) = tokio::io::split(tap_side);
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(from_rig).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if to_twin.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(from_twin).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let now = clock.now();
                if !line.starts_with('!') && now >= from && now < to {
                    tokio::time::sleep(delay).await;
                }
                if to_rig.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        rig_side
    }
}

#[tokio::test(start_paused = true)]
async fn answers_later_than_the_icd_allows_are_anomalies_counted_with_the_worst() {
    let file = twin_file();
    let clock = RigClock::start();
    // Between 60 s and 95 s every answer comes 400 ms late: the STATUS polls at 60, 70, 80, 90 s.
    let tap =
        delaying_tap(clock, RigTime::from_millis(60_000), RigTime::from_millis(95_000), Duration::from_millis(400));
    let bench = Bench::open_twin_tapped(&file, &[], clock, tap).await.unwrap();
    let (report, record, events) = run_on(bench, &file, &delivery(vec![])).await;
    assert_eq!(report.verdict, Verdict::Pass, "late answers are evidence, not a verdict: {report:#?}");
    let slow: Vec<(String, f64)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            RunEventKind::SlowAnswer { command, latency_ms, allowed_ms: 50 } => Some((command.clone(), *latency_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(slow.len(), 4, "{slow:?}");
    assert!(slow.iter().all(|(c, l)| c.ends_with(" STATUS") && *l >= 400.0 && *l < 450.0), "{slow:?}");
    let listed: Vec<&str> = record
        .anomalies
        .iter()
        .map(|a| a.what.as_str())
        .filter(|w| w.contains("STATUS` 40") && w.contains("the ICD allows 50 ms"))
        .collect();
    assert_eq!(listed.len(), 4, "{:#?}", record.anomalies);
    let tally = record.slow_answers.expect("counted in the record");
    let worst = slow.iter().map(|s| s.1).fold(0.0, f64::max);
    assert_eq!((tally.count, tally.allowed_ms, tally.worst_ms), (4, 50, worst));
    assert!(slow.iter().any(|(c, l)| *c == tally.worst_command && *l == worst));
    assert!((60.0..96.0).contains(&tally.worst_at_s), "{tally:?}");
}

/// The rig's end of the service port with the pump's `BOOT` events held back `delay`.
fn late_boots(delay: Duration) -> impl FnOnce(tokio::io::DuplexStream) -> tokio::io::DuplexStream {
    move |twin_side| {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let (rig_side, tap_side) = tokio::io::duplex(16 * 1024);
        let (from_twin, mut to_twin) = tokio::io::split(twin_side);
        let (mut from_rig, to_rig) = tokio::io::split(tap_side);
        tokio::spawn(async move { tokio::io::copy(&mut from_rig, &mut to_twin).await });
        let to_rig = Arc::new(tokio::sync::Mutex::new(to_rig));
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(from_twin).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let out = to_rig.clone();
                let held = line.starts_with("! ") && line.contains(" BOOT ");
                let send = async move {
                    if held {
                        tokio::time::sleep(delay).await;
                    }
                    let _ = out.lock().await.write_all(format!("{line}\n").as_bytes()).await;
                };
                if held { drop(tokio::spawn(send)) } else { send.await }
            }
        });
        rig_side
    }
}

#[tokio::test(start_paused = true)]
async fn the_boot_before_the_case_arriving_late_is_no_reset_the_pumps_clock_ran_on() {
    let file = twin_file();
    let bench = Bench::open_twin_tapped(&file, &[], RigClock::start(), late_boots(min(2))).await.unwrap();
    let (report, record, events) = run_on(bench, &file, &delivery(vec![])).await;
    let boot_at = events.iter().find_map(|e| match &e.kind {
        RunEventKind::PumpEvent { event } if matches!(event.kind, EventKind::Boot { .. }) => Some(e.at),
        _ => None,
    });
    assert!(boot_at.is_some_and(|t| t >= RigTime::from_millis(120_000)), "arrived during the steps: {boot_at:?}");
    assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
    assert!(
        record.anomalies.iter().any(|a| a.what.contains("BOOT reason=POWER_ON") && a.what.contains("clock ran on")),
        "{:#?}",
        record.anomalies
    );
}
