//! The executor on the in-process twin, with plans built in code (the YAML language is tested on
//! its own): verdicts follow the pump's behaviour, bench faults are ERROR not FAIL, an interrupt
//! is ABORTED, and every ending leaves the twin with therapy stopped and the valve open.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use rig::bench::{Bench, BenchFile, EMBEDDED_TWIN};
use rig::clock::RigClock;
use rig::plan::*;
use rig::protocol::AlarmCode;
use rig::run::evaluate::EvalContext;
use rig::run::{
    CaseOptions, CaseReport, EmergencyStop, Reporter, RunEvent, RunEventKind, Verdict, run_case, run_case_guarded,
};
use rig::sim::Fault;
use tokio::sync::watch;

fn min(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

fn step(kind: StepKind) -> Step {
    Step { pos: Pos::default(), label: format!("{kind:?}").chars().take(60).collect(), kind }
}

fn act(action: Action) -> Step {
    step(StepKind::Action { action, expect: None })
}

fn check(id: &str, measure: Measure, limits: Limits, verifies: &str) -> Step {
    step(StepKind::Check(Check { id: id.into(), title: id.into(), measure, limits, verifies: vec![verifies.into()] }))
}

fn max(v: f64) -> Limits {
    Limits { max: Some(v), ..Limits::default() }
}

fn plan(steps: Vec<Step>) -> Plan {
    Plan {
        id: "TEST".into(),
        title: "test".into(),
        version: "1".into(),
        covers: vec![],
        requires: [Capability::Pump, Capability::FlowSensor, Capability::Valve].into_iter().collect::<BTreeSet<_>>(),
        sample_period: Duration::from_secs(1),
        status_period: Duration::from_secs(10),
        max_duration: None,
        case: None,
        steps,
        setup_len: 0,
    }
}

/// The occlusion procedure of REFERENCE.md at 500 µL/h: time to alarm, then the released bolus.
fn occlusion_plan() -> Plan {
    plan(vec![
        act(Action::Fill { volume_ul: 20_000.0 }),
        act(Action::Limit { max_24h_ul: 24_000.0 }),
        act(Action::Program { basal_ul_h: 500.0 }),
        act(Action::Start),
        step(StepKind::Wait(min(5))),
        step(StepKind::Mark("occluded".into())),
        act(Action::Valve(ValveCommand::Close)),
        step(StepKind::WaitUntil {
            condition: Condition::Alarm(AlarmCode::Occlusion),
            timeout: min(40),
            already_active_ok: false,
        }),
        check(
            "time-to-alarm",
            Measure::TimeTo { from: "occluded".into(), condition: Condition::Alarm(AlarmCode::Occlusion) },
            max(1200.0),
            "SRS-OCC-002",
        ),
        step(StepKind::Mark("released".into())),
        act(Action::Valve(ValveCommand::Open)),
        step(StepKind::Wait(min(5))),
        check(
            "unintended-bolus",
            Measure::Volume(Interval { from: Endpoint::Mark("released".into()), to: Endpoint::Now }),
            max(150.0),
            "SRS-OCC-003",
        ),
    ])
}

/// Keeps every event, for the assertions.
#[derive(Default, Clone)]
struct Collect(std::sync::Arc<std::sync::Mutex<Vec<RunEvent>>>);

impl Reporter for Collect {
    fn on_event(&mut self, event: &RunEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

struct Outcome {
    report: CaseReport,
    events: Vec<RunEvent>,
    therapy_on: bool,
    valve_closed: bool,
}

async fn run(plan: &Plan, faults: &[Fault], interrupt_after: Option<Duration>) -> Outcome {
    let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let clock = RigClock::start();
    let mut bench = Bench::open(&file, faults, clock).await.unwrap();
    let twin = bench.twin().cloned().unwrap();
    let collect = Collect::default();
    let mut reporters: Vec<Box<dyn Reporter + Send>> = vec![Box::new(collect.clone())];
    let (tx, rx) = watch::channel(None);
    if let Some(after) = interrupt_after {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(Some("SIGINT".to_string()));
        });
    } else {
        std::mem::forget(tx); // never interrupted
    }
    let eval = EvalContext { accuracy: file.flow_sensor.accuracy, sample_period: plan.sample_period };
    let options = CaseOptions { virtual_time: true, interactive: false };
    let report = run_case(&mut bench, plan, eval, options, &mut reporters, rx).await;
    let (therapy_on, valve_closed) = twin.peek(|t| (t.therapy_on(), t.valve_closed()));
    let events = collect.0.lock().unwrap().clone();
    Outcome { report, events, therapy_on, valve_closed }
}

fn assert_safe(o: &Outcome) {
    assert!(!o.therapy_on, "therapy stopped at the end");
    assert!(!o.valve_closed, "valve open at the end");
    assert!(
        o.events
            .iter()
            .any(|e| matches!(&e.kind, RunEventKind::SafeState { pump_stopped: Ok(()), valve_open: Ok(()) })),
        "the safe state is recorded"
    );
}

#[tokio::test(start_paused = true)]
async fn occlusion_plan_passes_on_the_nominal_twin() {
    let o = run(&occlusion_plan(), &[], None).await;
    assert_eq!(o.report.verdict, Verdict::Pass, "{:#?}", o.report);
    let tta = &o.report.checks[0];
    let seconds = tta.value.unwrap();
    assert!((600.0..=800.0).contains(&seconds), "OCCLUSION about 12 min after closing at 500 uL/h: {seconds} s");
    let bolus = o.report.checks[1].value.unwrap();
    assert!((60.0..=150.0).contains(&bolus), "released about C x P = 100 uL: {bolus}");
    let bench_s = o.report.bench_time.as_secs_f64();
    assert!(o.report.samples as f64 >= bench_s - 2.0, "a sample a second: {} in {bench_s} s", o.report.samples);
    assert_safe(&o);
}

#[tokio::test(start_paused = true)]
async fn a_seeded_defect_fails_the_check_naming_its_requirement() {
    let o = run(&occlusion_plan(), &[Fault::OcclusionThresholdDoubled], None).await;
    assert_eq!(o.report.verdict, Verdict::Fail);
    let failed: Vec<_> = o.report.checks.iter().filter(|c| c.verdict == Verdict::Fail).collect();
    assert!(failed.iter().any(|c| c.verifies == ["SRS-OCC-002"]), "{failed:#?}");
    assert_safe(&o);
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_aborts_and_leaves_the_bench_safe_with_samples_kept() {
    // Interrupted 8 min in: the valve is closed and the pump running at that moment.
    let o = run(&occlusion_plan(), &[], Some(min(8))).await;
    assert_eq!(o.report.verdict, Verdict::Aborted);
    assert_eq!(o.report.reason.as_deref(), Some("interrupted by SIGINT"));
    let samples = o.events.iter().filter(|e| matches!(e.kind, RunEventKind::Sample(_))).count();
    assert!(samples >= 7 * 60, "samples up to the interrupt reached the reporters: {samples}");
    assert_safe(&o);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_the_plan_did_not_expect_stops_the_case_as_a_finding() {
    // PROGRAM 500 with the default 1200 uL/24 h limit: refused (SRS-DOS-003).
    let p = plan(vec![act(Action::Program { basal_ul_h: 500.0 }), act(Action::Start), step(StepKind::Wait(min(1)))]);
    let o = run(&p, &[], None).await;
    assert_eq!(o.report.verdict, Verdict::Fail);
    assert!(o.report.reason.as_deref().unwrap().contains("refused it (ERR RANGE)"), "{:?}", o.report.reason);
    assert_safe(&o);
}

#[tokio::test(start_paused = true)]
async fn an_expected_refusal_is_a_passing_check() {
    let expect = Expect {
        id: "program-refused".into(),
        outcome: ExpectedOutcome::Refused { code: Some(rig::protocol::ErrCode::Range), reason: None },
        verifies: vec!["SRS-DOS-003".into()],
    };
    let p = plan(vec![step(StepKind::Action { action: Action::Program { basal_ul_h: 500.0 }, expect: Some(expect) })]);
    let o = run(&p, &[], None).await;
    assert_eq!(o.report.verdict, Verdict::Pass, "{:#?}", o.report.checks);
    assert_eq!(o.report.checks[0].id, "program-refused");
}

/// Delivery for 30 min, then a check that cannot fail on a working bench: what is left to
/// decide the verdict is the bench.
fn half_an_hour_of_delivery() -> Plan {
    plan(vec![
        act(Action::Fill { volume_ul: 20_000.0 }),
        act(Action::Start),
        step(StepKind::Wait(min(30))),
        check(
            "never",
            Measure::FlowMean(Interval { from: Endpoint::Start, to: Endpoint::Now }),
            max(1e9),
            "SRS-DEL-002",
        ),
    ])
}

#[tokio::test(start_paused = true)]
async fn a_lost_link_is_an_error_of_the_bench_not_a_pump_failure() {
    let p = half_an_hour_of_delivery();
    let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let clock = RigClock::start();
    let mut bench = Bench::open(&file, &[], clock).await.unwrap();
    // Pull the pump's serial cable 2 minutes in.
    let twin = bench.twin().cloned().unwrap();
    let cable = bench.twin_serial_cable().unwrap();
    let (_tx, rx) = watch::channel(None);
    let cut = tokio::spawn(async move {
        tokio::time::sleep(min(2)).await;
        cable.abort();
        twin
    });
    let eval = EvalContext { accuracy: file.flow_sensor.accuracy, sample_period: p.sample_period };
    let options = CaseOptions { virtual_time: true, interactive: false };
    let report = run_case(&mut bench, &p, eval, options, &mut [], rx).await;
    let twin = cut.await.unwrap();
    assert_eq!(report.verdict, Verdict::Error, "{report:#?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(reason.contains("serial link lost"), "{reason}");
    // Said once, in words: no `lost: lost:`, no Rust debug forms.
    assert!(!reason.contains("lost: lost") && !reason.contains("Some(") && !reason.contains("Err("), "{reason}");
    assert!(report.checks.is_empty(), "no pump verdict from a broken bench");
    assert!(!twin.peek(|t| t.valve_closed()), "the valve is open even so");
}

/// The rig's end of the service port, whose reads panic once `after` of bench time has passed:
/// a bug in the link's own code, which ends its task without its "link lost" notice.
struct PanickingLine {
    inner: tokio::io::DuplexStream,
    from: tokio::time::Instant,
    after: Duration,
}

impl tokio::io::AsyncRead for PanickingLine {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        assert!(self.from.elapsed() < self.after, "a bug in the link (injected by the test)");
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for PanickingLine {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bytes: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, bytes)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn a_link_that_dies_without_a_word_is_an_error_not_a_pass_on_stale_status() {
    // Only the STATUS poll talks to the pump during the wait: it is the one to learn the link
    // is gone, and it must say so rather than stop polling.
    let p = half_an_hour_of_delivery();
    let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let from = tokio::time::Instant::now();
    let tap = move |inner| PanickingLine { inner, from, after: min(2) };
    let bench = Bench::open_twin_tapped(&file, &[], RigClock::start(), tap).await.unwrap();
    let twin = bench.twin().cloned().unwrap();
    let (report, _) = run_on(bench, &file, &p).await;
    assert_eq!(report.verdict, Verdict::Error, "{report:#?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(reason.contains("serial link lost"), "{reason}");
    assert!(report.checks.is_empty(), "no pump verdict from a broken bench: {reason} {:#?}", report.checks);
    assert!(!twin.peek(|t| t.valve_closed()), "the valve is open even so");
}

/// Delivering into a closed line for ten minutes: the state in which an abrupt end matters most.
fn closed_line_plan() -> Plan {
    plan(vec![
        act(Action::Fill { volume_ul: 20_000.0 }),
        act(Action::Limit { max_24h_ul: 24_000.0 }),
        act(Action::Program { basal_ul_h: 1000.0 }),
        act(Action::Start),
        act(Action::Valve(ValveCommand::Close)),
        step(StepKind::Wait(min(10))),
    ])
}

/// The closed-line plan on a fresh in-process twin, and the twin to look at.
async fn closed_line_case() -> (Plan, Bench, rig::twin_host::SharedTwin, EvalContext, CaseOptions) {
    let p = closed_line_plan();
    let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let bench = Bench::open(&file, &[], RigClock::start()).await.unwrap();
    let twin = bench.twin().cloned().unwrap();
    let eval = EvalContext { accuracy: file.flow_sensor.accuracy, sample_period: p.sample_period };
    (p, bench, twin, eval, CaseOptions { virtual_time: true, interactive: false })
}

/// A reporter with a bug: it panics on the first sample taken with the valve closed.
struct PanicsOnClosedLine;

impl Reporter for PanicsOnClosedLine {
    fn on_event(&mut self, event: &RunEvent) {
        if let RunEventKind::Sample(s) = &event.kind {
            assert!(!s.valve_closed, "a reporter bug, planted by the test");
        }
    }
}

/// The case ended ERROR for the panic, after the emergency stop left the twin safe.
fn a_panic_made_the_case_an_error_and_the_bench_safe(report: &rig::run::CaseReport, twin: &rig::twin_host::SharedTwin) {
    assert_eq!(report.verdict, Verdict::Error, "{report:#?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(reason.contains("the rig panicked"), "{reason}");
    assert!(reason.contains("valve opened, pump stopped"), "{reason}");
    let (therapy_on, valve_closed) = twin.peek(|t| (t.therapy_on(), t.valve_closed()));
    assert!(!therapy_on, "therapy stopped after the panic");
    assert!(!valve_closed, "valve open after the panic");
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_rig_mid_case_is_an_error_and_leaves_the_bench_safe() {
    let (p, bench, twin, eval, options) = closed_line_case().await;
    let (_tx, rx) = watch::channel(None);
    let emergency = EmergencyStop::default();
    let report = run_case_guarded(bench, &p, eval, options, vec![Box::new(PanicsOnClosedLine)], rx, &emergency).await;
    a_panic_made_the_case_an_error_and_the_bench_safe(&report, &twin);
    assert_eq!(emergency.engage().await, "no case was running", "disarmed once the case is over");
}

/// Counts the samples it was given, for the test to read after the case.
struct CountsSamples(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Reporter for CountsSamples {
    fn on_event(&mut self, event: &RunEvent) {
        if matches!(event.kind, RunEventKind::Sample(_)) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The runner writes the files on a thread of their own: a reporter that panics there is the
/// same ERROR, with the same safe bench, as one that panics on the executor's thread; and the
/// reporters beside it had every sample up to the panic.
#[tokio::test(start_paused = true)]
async fn a_panic_on_the_reporters_thread_is_an_error_and_leaves_the_bench_safe() {
    let (p, bench, twin, eval, options) = closed_line_case().await;
    let (_tx, rx) = watch::channel(None);
    let emergency = EmergencyStop::default();
    let counted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let on_thread: Vec<Box<dyn Reporter + Send>> =
        vec![Box::new(CountsSamples(counted.clone())), Box::new(PanicsOnClosedLine)];
    let thread = rig::run::reporters::ReporterThread::spawn(on_thread, 1024);
    assert!(thread.on_own_thread());
    let report = run_case_guarded(bench, &p, eval, options, vec![Box::new(thread)], rx, &emergency).await;
    a_panic_made_the_case_an_error_and_the_bench_safe(&report, &twin);
    // The counter, first on the thread, was given the sample its neighbour panicked on.
    assert!(counted.load(std::sync::atomic::Ordering::Relaxed) >= 1, "samples before the panic reached the reporters");
}

/// What a second Ctrl-C does, whatever the executor is in the middle of: the emergency stop
/// opens the valve and stops the pump at once, while the step is still waiting.
#[tokio::test(start_paused = true)]
async fn the_emergency_stop_makes_the_bench_safe_in_the_middle_of_a_step() {
    let (p, bench, twin, eval, options) = closed_line_case().await;
    let (_tx, rx) = watch::channel(None);
    let emergency = EmergencyStop::default();
    let second_ctrl_c = async {
        tokio::time::sleep(min(3)).await;
        let before = twin.peek(|t| (t.therapy_on(), t.valve_closed()));
        let done = emergency.engage().await;
        let after = twin.peek(|t| (t.therapy_on(), t.valve_closed()));
        (before, done, after)
    };
    let (report, (before, done, after)) =
        tokio::join!(run_case_guarded(bench, &p, eval, options, Vec::new(), rx, &emergency), second_ctrl_c);
    assert_eq!(before, (true, true), "delivering into the closed line when the stop came");
    assert_eq!(done, "valve opened, pump stopped");
    assert_eq!(after, (false, false), "therapy stopped and the valve open as soon as the stop returns");
    assert!(report.bench_time.as_duration() >= min(10), "the executor, unaware, finished its wait: {report:#?}");
}

use crate::icd;

/// A pump left with `RESERVOIR_LOW` latched (a fill below the threshold) before the case.
async fn twin_with_reservoir_low_latched() -> (Bench, BenchFile) {
    let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let bench = Bench::open(&file, &[], RigClock::start()).await.unwrap();
    bench.link().fill(1_500.0).await.unwrap();
    assert!(bench.link().alarms().await.unwrap().contains(&AlarmCode::ReservoirLow), "the fill latched it");
    (bench, file)
}

async fn run_on(mut bench: Bench, file: &BenchFile, plan: &Plan) -> (CaseReport, Vec<RunEvent>) {
    let collect = Collect::default();
    let mut reporters: Vec<Box<dyn Reporter + Send>> = vec![Box::new(collect.clone())];
    let (_tx, rx) = watch::channel(None);
    let eval = EvalContext { accuracy: file.flow_sensor.accuracy, sample_period: plan.sample_period };
    let options = CaseOptions { virtual_time: true, interactive: false };
    let report = run_case(&mut bench, plan, eval, options, &mut reporters, rx).await;
    let events = collect.0.lock().unwrap().clone();
    (report, events)
}

#[tokio::test(start_paused = true)]
async fn the_pumps_state_before_the_first_step_is_recorded_with_an_alarm_it_entered_with() {
    let (bench, file) = twin_with_reservoir_low_latched().await;
    let p = plan(vec![step(StepKind::Wait(min(1)))]);
    let (report, events) = run_on(bench, &file, &p).await;
    assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
    let snapshot = events
        .iter()
        .find_map(|e| match &e.kind {
            RunEventKind::PumpAtStart(s) => Some(s.clone()),
            _ => None,
        })
        .expect("the pump's state before the first step is an event");
    assert_eq!(snapshot.alarms, [AlarmCode::ReservoirLow], "ALARMS before the first step");
    assert_eq!(snapshot.status.alarms, [AlarmCode::ReservoirLow], "STATUS before the first step");
    assert_eq!(snapshot.status.reservoir_ul, 1_500.0);
    assert!(!snapshot.id.build.is_empty(), "ID before the first step");
    let start_up = events
        .iter()
        .find_map(|e| match &e.kind {
            RunEventKind::StartUp(s) => Some(s.clone()),
            _ => None,
        })
        .expect("what start-up found and did is an event");
    assert_eq!(start_up.found.alarms, [AlarmCode::ReservoirLow]);
    assert_eq!(start_up.left_over, [AlarmCode::ReservoirLow], "its condition persists: ACK refused");
    assert!(start_up.acknowledged[0].answer.starts_with("refused"), "{:?}", start_up.acknowledged);
}

#[tokio::test(start_paused = true)]
async fn a_wait_for_an_alarm_already_active_is_an_error_not_a_vacuous_pass() {
    let (bench, file) = twin_with_reservoir_low_latched().await;
    let p = plan(vec![
        step(StepKind::Mark("begin".into())),
        step(StepKind::WaitUntil {
            condition: Condition::Alarm(AlarmCode::ReservoirLow),
            timeout: min(10),
            already_active_ok: false,
        }),
        step(StepKind::Mark("at-alarm".into())),
        check(
            "level-at-alarm",
            Measure::PumpValue { field: PumpField::ReservoirUl, at: Some("at-alarm".into()) },
            Limits { min: Some(990.0), ..Limits::default() },
            "SRS-WDR-001",
        ),
    ]);
    let (report, _) = run_on(bench, &file, &p).await;
    assert_eq!(report.verdict, Verdict::Error, "{report:#?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(reason.contains("RESERVOIR_LOW was already active when the wait began"), "{reason}");
    assert!(report.checks.is_empty(), "no check judged what happened before the wait: {:#?}", report.checks);
}

#[tokio::test(start_paused = true)]
async fn pump_status_at_a_mark_reads_a_status_taken_at_that_mark() {
    // No poll for an hour: before the fix the check read the poll from t = 0 (0 uL delivered).
    let mut p = plan(vec![
        act(Action::Fill { volume_ul: 20_000.0 }),
        act(Action::Limit { max_24h_ul: 24_000.0 }),
        act(Action::Program { basal_ul_h: 1000.0 }),
        act(Action::Start),
        step(StepKind::Wait(min(30))),
        step(StepKind::Mark("half-hour".into())),
        check(
            "delivered-at-mark",
            Measure::PumpValue { field: PumpField::DeliveredUl, at: Some("half-hour".into()) },
            Limits { min: Some(495.0), max: Some(505.0), ..Limits::default() },
            "SRS-DEL-002",
        ),
        check(
            "delivered-now",
            Measure::PumpValue { field: PumpField::DeliveredUl, at: None },
            Limits { min: Some(495.0), max: Some(505.0), ..Limits::default() },
            "SRS-DEL-002",
        ),
    ]);
    p.status_period = min(60);
    let o = run(&p, &[], None).await;
    assert_eq!(o.report.verdict, Verdict::Pass, "{:#?}", o.report.checks);
}

/// The rig's end of the service port through a line filter: after `after` of bench time, every
/// answer to a STATUS request is passed to `mangle` (`None` drops it), as a pump that stops
/// answering STATUS, or answers it with keys missing, would.
fn status_tap(
    after: Duration,
    mangle: fn(&str) -> Option<String>,
) -> impl FnOnce(tokio::io::DuplexStream) -> tokio::io::DuplexStream {
    line_tap(after, move |payload, is_status| if is_status { mangle(payload) } else { Some(payload.to_string()) })
}

/// The rig's end of the service port through a line filter: after `after` of bench time, every
/// line from the pump is passed to `filter` (its payload, and whether it answers a STATUS
/// request); `None` drops it, `Some(payload)` sends that payload, framed.
fn line_tap(
    after: Duration,
    mut filter: impl FnMut(&str, bool) -> Option<String> + Send + 'static,
) -> impl FnOnce(tokio::io::DuplexStream) -> tokio::io::DuplexStream {
    move |twin_side: tokio::io::DuplexStream| {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let (rig_side, tap_side) = tokio::io::duplex(16 * 1024);
        let (from_twin, mut to_twin) = tokio::io::split(twin_side);
        let (from_rig, mut to_rig) = tokio::io::split(tap_side);
        let status_seqs = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::<String>::new()));
        let seen = status_seqs.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(from_rig).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let payload = line.split('*').next().unwrap_or_default().to_string();
                if let Some(seq) = payload.strip_suffix(" STATUS") {
                    seen.lock().unwrap().insert(seq.to_string());
                }
                if to_twin.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(from_twin).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let payload = line.trim_end_matches('\r').split('*').next().unwrap_or_default().to_string();
                let seq = payload.split(' ').next().unwrap_or_default().to_string();
                let is_status = status_seqs.lock().unwrap().contains(&seq) && payload.contains(" OK state=");
                let out = if start.elapsed() >= after {
                    filter(&payload, is_status).map(|p| icd::frame(&p))
                } else {
                    Some(format!("{line}\n"))
                };
                if let Some(out) = out {
                    if to_rig.write_all(out.as_bytes()).await.is_err() {
                        break;
                    }
                }
            }
        });
        rig_side
    }
}

/// Twenty minutes of delivery, then a check on the pump's own figures.
fn delivery_then_pump_check() -> Plan {
    plan(vec![
        act(Action::Fill { volume_ul: 20_000.0 }),
        act(Action::Limit { max_24h_ul: 24_000.0 }),
        act(Action::Program { basal_ul_h: 1000.0 }),
        act(Action::Start),
        step(StepKind::Wait(min(20))),
        check(
            "reservoir-now",
            Measure::PumpValue { field: PumpField::ReservoirUl, at: None },
            Limits { min: Some(1.0), ..Limits::default() },
            "SRS-WDR-001",
        ),
    ])
}

async fn run_tapped(plan: &Plan, tap: impl FnOnce(tokio::io::DuplexStream) -> tokio::io::DuplexStream) -> CaseReport {
    let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let bench = Bench::open_twin_tapped(&file, &[], RigClock::start(), tap).await.unwrap();
    run_on(bench, &file, plan).await.0
}

#[tokio::test(start_paused = true)]
async fn a_pump_that_stops_answering_status_mid_run_ends_the_case_in_error() {
    let report = run_tapped(&delivery_then_pump_check(), status_tap(min(5), |_| None)).await;
    assert_eq!(report.verdict, Verdict::Error, "{report:#?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(reason.contains("stopped answering STATUS"), "{reason}");
    assert!(report.checks.is_empty(), "no check on stale pump data: {:#?}", report.checks);
}

#[tokio::test(start_paused = true)]
async fn a_status_with_keys_missing_is_an_anomaly_and_never_feeds_a_check() {
    // `pressure_kpa=...` removed from every STATUS answer after 5 minutes.
    let drop_pressure = |payload: &str| {
        Some(payload.split(' ').filter(|t| !t.starts_with("pressure_kpa=")).collect::<Vec<_>>().join(" "))
    };
    let report = run_tapped(&delivery_then_pump_check(), status_tap(min(5), drop_pressure)).await;
    assert_eq!(report.verdict, Verdict::Error, "{report:#?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(reason.contains("STATUS failed 3 times in a row"), "{reason}");
    assert!(reason.contains("pressure_kpa"), "the anomaly names what was wrong: {reason}");
    assert!(report.checks.is_empty(), "no check on stale pump data: {:#?}", report.checks);
}

#[tokio::test(start_paused = true)]
async fn lost_events_are_resynchronised_with_alarms_and_recorded() {
    // The first pump event after 7 min (the OCCLUSION alarm, ~12 min after closing) is lost.
    let mut dropped = false;
    let drop_first_event = move |payload: &str, _: bool| {
        if payload.starts_with("! ") && !dropped {
            dropped = true;
            return None;
        }
        Some(payload.to_string())
    };
    let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let bench =
        Bench::open_twin_tapped(&file, &[], RigClock::start(), line_tap(min(7), drop_first_event)).await.unwrap();
    let plan = occlusion_plan();
    let plan_file = PlanFile { path: "occlusion.yaml".into(), sha256: "0".repeat(64), cases: vec![plan.clone()] };
    let options = rig::run::RunOptions::new(file.clone(), std::env::temp_dir());
    let record = std::sync::Arc::new(std::sync::Mutex::new(rig::run::case_record::start_record(
        &plan,
        &plan_file,
        &options,
        Some(bench.sensor_identity()),
    )));
    let collect = Collect::default();
    let mut reporters: Vec<Box<dyn Reporter + Send>> =
        vec![Box::new(collect.clone()), Box::new(rig::run::reporters::RecordReporter::new(record.clone()))];
    let (_tx, rx) = watch::channel(None);
    let eval = EvalContext { accuracy: file.flow_sensor.accuracy, sample_period: plan.sample_period };
    let mut bench = bench;
    let options = CaseOptions { virtual_time: true, interactive: false };
    let report = run_case(&mut bench, &plan, eval, options, &mut reporters, rx).await;
    let events = collect.0.lock().unwrap().clone();
    let gap = events.iter().position(|e| matches!(e.kind, RunEventKind::EventGap { .. })).expect("the gap is an event");
    let resync = events[gap..]
        .iter()
        .find_map(|e| match &e.kind {
            RunEventKind::AlarmsResynced { active } => Some(active.clone()),
            _ => None,
        })
        .expect("ALARMS is re-read after the gap");
    assert!(resync.contains(&AlarmCode::Occlusion), "the lost alarm is known from the re-read: {resync:?}");
    assert_eq!(report.verdict, Verdict::Pass, "the wait saw the alarm through the re-read: {report:#?}");
    let lost = record.lock().unwrap().lost_events.clone();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert!(lost[0].received > lost[0].expected, "{lost:?}");
    assert!(lost[0].resynced.as_ref().is_some_and(|a| a.contains(&AlarmCode::Occlusion)), "{lost:?}");
}

/// The rig's end of the service port with every event frame from the pump held back `delay`, as
/// a pump that queues its events behind other work, or a slow line, would.
fn late_events(delay: Duration) -> impl FnOnce(tokio::io::DuplexStream) -> tokio::io::DuplexStream {
    move |twin_side: tokio::io::DuplexStream| {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let (rig_side, tap_side) = tokio::io::duplex(16 * 1024);
        let (from_twin, mut to_twin) = tokio::io::split(twin_side);
        let (mut from_rig, to_rig) = tokio::io::split(tap_side);
        tokio::spawn(async move { tokio::io::copy(&mut from_rig, &mut to_twin).await });
        let to_rig = std::sync::Arc::new(tokio::sync::Mutex::new(to_rig));
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(from_twin).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let out = to_rig.clone();
                let is_event = line.starts_with("! ");
                let send = async move {
                    if is_event {
                        tokio::time::sleep(delay).await;
                    }
                    let _ = out.lock().await.write_all(format!("{line}\n").as_bytes()).await;
                };
                if is_event { drop(tokio::spawn(send)) } else { send.await }
            }
        });
        rig_side
    }
}

#[tokio::test(start_paused = true)]
async fn pump_events_are_timed_by_the_pumps_clock_not_by_their_late_arrival() {
    let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let on_time = run(&occlusion_plan(), &[], None).await.report;
    let bench =
        Bench::open_twin_tapped(&file, &[], RigClock::start(), late_events(Duration::from_millis(400))).await.unwrap();
    let (late, events) = run_on(bench, &file, &occlusion_plan()).await;
    let (a, b) = (&on_time.checks[0], &late.checks[0]);
    assert_eq!(a.id, "time-to-alarm");
    let arrived = events
        .iter()
        .find_map(|e| match &e.kind {
            RunEventKind::PumpEvent { event }
                if matches!(event.kind, rig::protocol::EventKind::Alarm { code: AlarmCode::Occlusion, .. }) =>
            {
                Some(e.at)
            }
            _ => None,
        })
        .unwrap();
    let closed = events.iter().find_map(|e| match &e.kind {
        RunEventKind::Mark { name } if name == "occluded" => Some(e.at),
        _ => None,
    });
    let by_arrival = arrived.since(closed.unwrap()).as_secs_f64();
    let (value, u) = (b.value.unwrap(), b.uncertainty.unwrap());
    assert!(by_arrival - value > 0.35, "placed before its arrival ({by_arrival} s): {value} s");
    assert!((value - a.value.unwrap()).abs() <= u + a.uncertainty.unwrap(), "{a:#?} {b:#?}");
    assert!(u <= 0.003, "bounded by the STATUS round trip (instant on the twin): {u}");
    // On the twin the mapping is exact to the pump clock's millisecond.
    assert!(a.uncertainty.unwrap() <= 0.003, "{a:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_allows_an_alarm_already_active_ends_at_once() {
    let (bench, file) = twin_with_reservoir_low_latched().await;
    let p = plan(vec![
        step(StepKind::WaitUntil {
            condition: Condition::Alarm(AlarmCode::ReservoirLow),
            timeout: min(10),
            already_active_ok: true,
        }),
        step(StepKind::Mark("after".into())),
    ]);
    let (report, _) = run_on(bench, &file, &p).await;
    assert_eq!(report.reason, None, "{report:#?}");
    assert!(
        report.bench_time.as_duration() < min(10),
        "the wait did not wait for its timeout: {:?}",
        report.bench_time
    );
}

/// A refused LIMIT must leave the limit as it was (SRS-DOS-003), read back with SETTINGS.
fn refused_limit_read_back() -> Plan {
    let refused = Expect {
        id: "limit-refused".into(),
        outcome: ExpectedOutcome::Refused { code: Some(rig::protocol::ErrCode::Range), reason: None },
        verifies: vec!["SRS-DOS-003".into()],
    };
    plan(vec![
        act(Action::Limit { max_24h_ul: 2_400.0 }),
        act(Action::Program { basal_ul_h: 50.0 }),
        // 50 uL/h delivers 1200 uL a day: a 1000 uL limit below that is refused (SRS-DOS-003).
        step(StepKind::Action { action: Action::Limit { max_24h_ul: 1_000.0 }, expect: Some(refused) }),
        step(StepKind::Mark("after-refusal".into())),
        check(
            "limit-unchanged",
            Measure::Setting { field: SettingField::Max24hUl, at: Some("after-refusal".into()) },
            Limits { min: Some(2_400.0), max: Some(2_400.0), ..Limits::default() },
            "SRS-DOS-003",
        ),
        check(
            "basal-unchanged-now",
            Measure::Setting { field: SettingField::BasalUlH, at: None },
            Limits { min: Some(50.0), max: Some(50.0), ..Limits::default() },
            "SRS-DEL-001",
        ),
    ])
}

#[tokio::test(start_paused = true)]
async fn settings_are_read_back_at_marks_and_checks() {
    let o = run(&refused_limit_read_back(), &[], None).await;
    assert_eq!(o.report.verdict, Verdict::Pass, "{:#?}", o.report.checks);
    let bad = run(&refused_limit_read_back(), &[Fault::RefusedLimitApplied], None).await;
    assert_eq!(bad.report.verdict, Verdict::Fail, "{:#?}", bad.report.checks);
    let failed: Vec<&str> =
        bad.report.checks.iter().filter(|c| c.verdict == Verdict::Fail).map(|c| c.id.as_str()).collect();
    assert_eq!(failed, ["limit-unchanged"], "{:#?}", bad.report.checks);
    // The settings before the first step are evidence too.
    let start = o.events.iter().find_map(|e| match &e.kind {
        RunEventKind::PumpAtStart(s) => Some(s.settings.clone()),
        _ => None,
    });
    assert_eq!(start.map(|s| (s.max_24h_ul, s.therapy_on)), Some((1200.0, false)), "the ICD's defaults");
}

#[tokio::test(start_paused = true)]
async fn injections_in_effect_are_undone_before_the_safe_state() {
    // Every frame damaged from here on: the next request fails, the case ends ERROR, and the
    // corruption must be undone first or STOP could not reach the pump.
    let p = plan(vec![
        act(Action::Fill { volume_ul: 20_000.0 }),
        act(Action::Start),
        act(Action::Inject(Injection::LinkCorrupt { permille: 1000 })),
        act(Action::Program { basal_ul_h: 20.0 }),
    ]);
    let o = run(&p, &[], None).await;
    assert_eq!(o.report.verdict, Verdict::Error, "{:#?}", o.report);
    let undone = o.events.iter().any(|e| {
        matches!(&e.kind, RunEventKind::BenchAction { what, outcome } if what == "INJECT CORRUPT 0" && outcome.starts_with("accepted"))
    });
    assert!(undone, "the corruption is undone at the end");
    assert_safe(&o);
}

#[tokio::test(start_paused = true)]
async fn a_timed_injection_is_undone_when_its_time_is_up() {
    let p = plan(vec![
        act(Action::Fill { volume_ul: 20_000.0 }),
        act(Action::Limit { max_24h_ul: 24_000.0 }),
        act(Action::Program { basal_ul_h: 500.0 }),
        act(Action::Start),
        step(StepKind::Wait(min(5))),
        act(Action::Inject(Injection::MotorStall { duration: Some(min(2)) })),
        step(StepKind::Wait(min(10))),
    ]);
    let o = run(&p, &[], None).await;
    let at = |what: &str| {
        o.events.iter().find_map(|e| match &e.kind {
            RunEventKind::BenchAction { what: w, .. } if w.starts_with(what) => Some(e.at.as_secs_f64()),
            _ => None,
        })
    };
    let (on, off) = (at("INJECT STALL 1").unwrap(), at("INJECT STALL 0").unwrap());
    assert!((off - on - 120.0).abs() < 1e-6, "undone 2 min after: {on} -> {off}");
    assert_safe(&o);
}
