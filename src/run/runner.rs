//! Running plan files on a bench: one fresh bench connection and one folder per case, the
//! reporters wired to the event stream, verdicts gathered into the run's exit code.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::bench::config::Connection;
use crate::bench::{Bench, BenchFile};
use crate::clock::RigClock;
use crate::plan::{Plan, PlanFile};
use crate::sim::Fault;

use super::case_record::{Person, identify_person, identity_mismatches, start_record};
pub use super::emergency::EmergencyStop;
use super::evaluate::EvalContext;
use super::event::Reporter;
use super::executor::{CaseOptions, CaseReport, estimated_duration, run_case};
use super::reporters::samples_csv::SharedPlot;
use super::reporters::stream_file::SharedHash;
use super::reporters::{
    EventsJsonl, Heartbeat, Progress, RecordReporter, ReporterThread, SamplesCsv, SharedRecord, reporter_thread,
};
use crate::evidence::baseline::{BaselineComparison, BaselineOutcome, compare_with_baseline};
use crate::evidence::bundle::PLOT_POINTS;
use crate::evidence::signature::SigningKey;
use crate::judgement::{CheckOutcome, Verdict};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub bench: BenchFile,
    pub faults: Vec<Fault>,
    pub out: PathBuf,
    pub interactive: bool,
    pub progress: bool,
    /// Who runs the bench, for the evidence, or why nobody could be named (then the run
    /// refuses to produce evidence).
    pub operator: Result<Person, String>,
    /// Produce evidence although an instrument is past its calibration due date (the report
    /// says so on its first line).
    pub allow_expired_calibration: bool,
    /// Produce evidence although an instrument reports another identity than the bench file
    /// declares (the report says so on its first line).
    pub allow_identity_mismatch: bool,
    /// A folder of approved baselines to compare each case with (`rig approve` fills it).
    pub baseline: Option<PathBuf>,
    /// The key each bundle's manifest is signed with; `None`: unsigned bundles.
    pub signing_key: Option<Arc<SigningKey>>,
    /// This run's id: random, in every case's folder name and record.
    pub run_id: String,
}

impl RunOptions {
    /// Options for `bench` with the defaults of an unattended run into `out`: the operator from
    /// the environment ([`identify_person`]), no signing key, a new run id.
    pub fn new(bench: BenchFile, out: PathBuf) -> Self {
        RunOptions {
            bench,
            faults: Vec::new(),
            out,
            interactive: false,
            progress: false,
            operator: identify_person(None, "--operator"),
            allow_expired_calibration: false,
            allow_identity_mismatch: false,
            baseline: None,
            signing_key: None,
            run_id: new_run_id(),
        }
    }
}

/// 8 random hex digits.
pub fn new_run_id() -> String {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: time and pid still make two runs' ids differ.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        bytes = (nanos ^ std::process::id().rotate_left(16)).to_be_bytes();
    }
    crate::digest::hex(&bytes)
}

/// One case's outcome, or why it was not run.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    pub name: String,
    pub outcome: CaseOutcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CaseOutcome {
    /// The bench cannot run it (not an error).
    NotApplicable(String),
    /// Not started, and why: the run was interrupted, the bench could not be opened, or the run
    /// refused to produce evidence.
    NotStarted(String),
    Ran {
        report: CaseReport,
        dir: PathBuf,
        wall: Duration,
        /// The comparison with the approved baseline, when `--baseline` was given.
        baseline: Option<Box<BaselineComparison>>,
    },
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunSummary {
    pub cases: Vec<CaseSummary>,
    /// The run refused to produce evidence (exit 2), and why: nobody to name as the operator, or
    /// an instrument that is not what the bench file says.
    pub refused: Option<String>,
}

impl RunSummary {
    fn verdicts(&self) -> impl Iterator<Item = Verdict> + '_ {
        self.cases.iter().filter_map(|c| match &c.outcome {
            CaseOutcome::Ran { report, .. } => Some(report.verdict),
            _ => None,
        })
    }

    /// A case drifted from its approved baseline.
    pub fn drifted(&self) -> bool {
        self.cases.iter().any(|c| matches!(&c.outcome, CaseOutcome::Ran { baseline: Some(b), .. } if b.drifted()))
    }

    /// 0 every check passed (and nothing drifted from the baseline); 1 a check failed or could
    /// not be resolved within the bench's uncertainty (INCONCLUSIVE), or drifted; 2 the run
    /// refused to produce evidence; 3 the bench or rig failed; 130 interrupted.
    pub fn exit_code(&self) -> u8 {
        if self.refused.is_some() {
            return 2;
        }
        let worst = self.verdicts().max();
        match worst {
            Some(Verdict::Aborted) => 130,
            Some(Verdict::Error) => 3,
            Some(Verdict::Fail) | Some(Verdict::Inconclusive) => 1,
            Some(Verdict::Pass) | None if self.drifted() => 1,
            Some(Verdict::Pass) | None => 0,
        }
    }
}

/// Why the cases after one are not started.
enum Halt {
    /// The bench could not be opened: the next case would fail the same way.
    BenchUnavailable,
    /// The run refuses to produce evidence, for this reason.
    Refused(String),
}

/// Runs every case of every plan file in order. Stops starting new cases once interrupted, once
/// the bench cannot be opened, or once evidence is refused (an instrument not what the bench
/// file says); refuses at once, running nothing, when nobody can be named as the operator.
pub async fn run_plans(
    plans: &[PlanFile],
    options: &RunOptions,
    interrupt: watch::Receiver<Option<String>>,
    emergency: &EmergencyStop,
) -> RunSummary {
    let mut summary = RunSummary::default();
    if let Err(why) = &options.operator {
        summary.refused = Some(why.clone());
        return summary;
    }
    super::case_record::hash_executable_ahead();
    let virtual_time = matches!(options.bench.connection, Connection::Twin { .. });
    // What the bench can do, asked once: a software bench in its own process says in its HELLO
    // which injections it takes.
    let (caps, note) = options.bench.capabilities_for_plans(options.interactive);
    if let Some(note) = note {
        crate::say_err!("note: {note}");
    }
    let mut stopped: Option<String> = None;
    for (file, plan) in plans.iter().flat_map(|f| f.cases.iter().map(move |c| (f, c))) {
        let name = plan.run_name();
        if interrupt.borrow().is_some() {
            summary
                .cases
                .push(CaseSummary { name, outcome: CaseOutcome::NotStarted("the run was interrupted".into()) });
            continue;
        }
        if let Some(why) = &stopped {
            summary.cases.push(CaseSummary { name, outcome: CaseOutcome::NotStarted(why.clone()) });
            continue;
        }
        if let Some(why) = crate::plan::applicability::not_applicable_given(
            plan,
            &caps,
            &options.bench.name,
            &options.bench.connection,
        ) {
            crate::say_err!("{name}: not applicable on bench {}: {why}", options.bench.name);
            summary.cases.push(CaseSummary { name, outcome: CaseOutcome::NotApplicable(why) });
            continue;
        }
        let (outcome, halt) = run_one(plan, file, options, virtual_time, interrupt.clone(), emergency).await;
        match halt {
            None => {}
            Some(Halt::BenchUnavailable) => {
                stopped = Some(format!("the bench could not be opened for {name}"));
            }
            Some(Halt::Refused(why)) => {
                stopped = Some("the run refused to produce evidence".into());
                summary.refused = Some(why);
            }
        }
        summary.cases.push(CaseSummary { name, outcome });
    }
    summary
}

async fn run_one(
    plan: &Plan,
    file: &PlanFile,
    options: &RunOptions,
    virtual_time: bool,
    interrupt: watch::Receiver<Option<String>>,
    emergency: &EmergencyStop,
) -> (CaseOutcome, Option<Halt>) {
    let wall = Instant::now();
    let clock = RigClock::start();
    // The bench first: what it reports (the sensor's identity) decides whether there is to be
    // evidence at all.
    let opened = Bench::open(&options.bench, &options.faults, clock).await;
    let sensor = opened.as_ref().ok().map(|b| *b.sensor_identity());
    if let Some(reported) = &sensor {
        let mismatches = identity_mismatches(&options.bench, reported);
        if !mismatches.is_empty() && !options.allow_identity_mismatch {
            let why = format!(
                "bench `{}`: {}\n  = this bench cannot produce evidence: correct the bench file (or fit the \
                 instrument it names), or run with --allow-identity-mismatch (every report will say so on its first line)",
                options.bench.name,
                mismatches.join("; ")
            );
            return (CaseOutcome::NotStarted("the run refused to produce evidence".into()), Some(Halt::Refused(why)));
        }
    }
    let dir = match create_case_dir(&options.out, plan, &options.run_id) {
        Ok(d) => d,
        Err((dir, why)) => {
            // Nowhere to put evidence: the bench is not the problem, but no case can run either.
            let halt = if opened.is_err() { Some(Halt::BenchUnavailable) } else { None };
            return (CaseOutcome::Ran { report: error_report(why), dir, wall: wall.elapsed(), baseline: None }, halt);
        }
    };
    let record: SharedRecord = Arc::new(Mutex::new(start_record(plan, file, options, sensor.as_ref())));
    let mut reporters: Vec<Box<dyn Reporter + Send>> = Vec::new();
    let streamed: Streamed = match (
        SamplesCsv::create(&dir.join("samples.csv"), PLOT_POINTS),
        EventsJsonl::create(&dir.join("events.jsonl")),
    ) {
        (Ok(samples), Ok(events)) => {
            let streamed = Streamed { plot: samples.plot(), hashes: [samples.hash(), events.hash()] };
            reporters.push(Box::new(samples));
            reporters.push(Box::new(events));
            streamed
        }
        (Err(e), _) | (_, Err(e)) => {
            let why = format!("cannot write the run files in {}: {e}", dir.display());
            let halt = if opened.is_err() { Some(Halt::BenchUnavailable) } else { None };
            return (CaseOutcome::Ran { report: error_report(why), dir, wall: wall.elapsed(), baseline: None }, halt);
        }
    };
    let bench = match opened {
        Ok(b) => b,
        Err(e) => {
            // One ERROR bundle, with the (empty) run files, says the run was attempted and why
            // it failed; the cases after it are not started.
            drop(reporters);
            let report = error_report(format!("the bench could not be opened: {e}"));
            let (report, baseline) = finish_evidence(&dir, &record, &streamed, report, wall.elapsed(), options);
            return (CaseOutcome::Ran { report, dir, wall: wall.elapsed(), baseline }, Some(Halt::BenchUnavailable));
        }
    };
    reporters.push(Box::new(RecordReporter::new(record.clone())));
    // The files are written on a thread of their own; under real time each event at once.
    let hand_over_at = if virtual_time { reporter_thread::VIRTUAL_TIME_BATCH } else { 1 };
    let files = ReporterThread::spawn(reporters, hand_over_at);
    let mut reporters: Vec<Box<dyn Reporter + Send>> = Vec::new();
    if options.progress {
        reporters.push(Box::new(Progress::new(&plan.run_name(), estimated_duration(plan))));
    } else if !virtual_time {
        // A real-time case in a log (CI): a line a minute shows the job is alive.
        reporters.push(Box::new(Heartbeat::stderr(&plan.run_name())));
    }
    // Last, so that it takes each event rather than a copy.
    reporters.push(Box::new(files));
    let eval = EvalContext { accuracy: options.bench.flow_sensor.accuracy, sample_period: plan.sample_period };
    let case_options = CaseOptions { virtual_time, interactive: options.interactive };
    let report = run_case_guarded(bench, plan, eval, case_options, reporters, interrupt, emergency).await;
    let (report, baseline) = finish_evidence(&dir, &record, &streamed, report, wall.elapsed(), options);
    (CaseOutcome::Ran { report, dir, wall: wall.elapsed(), baseline }, None)
}

/// Creates the case's folder under `out` (made if need be): a new folder, never one that exists.
fn create_case_dir(out: &Path, plan: &Plan, run_id: &str) -> Result<PathBuf, (PathBuf, String)> {
    let dir = out.join(case_dir_name(plan, run_id, time::OffsetDateTime::now_utc()));
    if let Err(e) = std::fs::create_dir_all(out) {
        return Err((dir, format!("cannot create the output folder {}: {e}", out.display())));
    }
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let why = format!("the run folder {} exists already; a bundle folder is never reused", dir.display());
            Err((dir, why))
        }
        Err(e) => Err((dir.clone(), format!("cannot create the run folder {}: {e}", dir.display()))),
    }
}

/// A case that ended in ERROR before or around the executor, for `why`.
fn error_report(why: String) -> CaseReport {
    CaseReport {
        verdict: Verdict::Error,
        reason: Some(why),
        checks: Vec::new(),
        bench_time: crate::clock::RigTime::ZERO,
        samples: 0,
    }
}

/// Runs the case on `bench` in its own task, with `emergency` armed on the bench for as long as
/// it runs (a second Ctrl-C engages it from outside). If the task panics or is cancelled, the
/// valve has opened as the bench was dropped while unwinding, and the emergency stop opens it
/// again and sends STOP; the case is an ERROR that says so.
pub async fn run_case_guarded(
    mut bench: Bench,
    plan: &Plan,
    eval: EvalContext,
    case_options: CaseOptions,
    mut reporters: Vec<Box<dyn Reporter + Send>>,
    interrupt: watch::Receiver<Option<String>>,
    emergency: &EmergencyStop,
) -> CaseReport {
    emergency.arm(&bench);
    let owned_plan = plan.clone();
    let disarm = emergency.clone();
    let case = tokio::spawn(async move {
        let report = run_case(&mut bench, &owned_plan, eval, case_options, &mut reporters, interrupt).await;
        // Disarmed before the bench (and its link) is dropped: the case has taken its own safe
        // state, and a second Ctrl-C from here on must not report a STOP it could no longer send
        // over the closed link as a bench left unsafe.
        disarm.disarm();
        report
    });
    let report = match case.await {
        Ok(report) => report,
        Err(e) => {
            let done = emergency.engage().await;
            let what = if e.is_panic() { "the rig panicked" } else { "the case task was cancelled" };
            error_report(format!("{what} during the case; emergency stop: {done}"))
        }
    };
    emergency.disarm();
    report
}

/// What the reporters of `samples.csv` and `events.jsonl` leave when they finish with every line
/// on disk: the samples thinned for the report (else the report reads the file) and each file's
/// hash taken as it was written (else the manifest hashes the file).
struct Streamed {
    plot: SharedPlot,
    hashes: [SharedHash; 2],
}

/// Completes the record, compares it with the approved baseline (so the bundle states the
/// drift), and writes and seals the bundle. A bundle that cannot be written makes the case an
/// ERROR: without its evidence, a verdict is worth nothing. What the streamed files' reporters
/// left when they finished ([`Streamed`]) saves reading those files back.
fn finish_evidence(
    dir: &Path,
    record: &SharedRecord,
    streamed: &Streamed,
    mut report: CaseReport,
    wall: Duration,
    options: &RunOptions,
) -> (CaseReport, Option<Box<BaselineComparison>>) {
    let mut r = record.lock().unwrap_or_else(|p| p.into_inner()).clone();
    // Hashed on its own thread since the run started (`hash_executable_ahead`); waits if not done.
    r.rig.executable_sha256 = super::case_record::executable_sha256().to_string();
    r.ended_utc = super::case_record::utc_now();
    r.wall_time_s = wall.as_secs_f64();
    r.bench_time_s = r.bench_time_s.max(report.bench_time.as_secs_f64());
    // The executor's report is the authority on the verdict (also when the case task panicked
    // and the record saw no CaseFinished).
    r.verdict = report.verdict;
    r.reason = report.reason.clone();
    if r.checks.is_empty() {
        r.checks = report.checks.clone();
    }
    r.baseline = options.baseline.as_deref().map(|b| compare_with_baseline(&r, b));
    let plot = streamed.plot.lock().unwrap_or_else(|p| p.into_inner()).take();
    let hashed: Vec<_> =
        streamed.hashes.iter().filter_map(|h| h.lock().unwrap_or_else(|p| p.into_inner()).take()).collect();
    if let Err(e) = crate::evidence::bundle::write_bundle(dir, &r, plot, &hashed, options.signing_key.as_deref()) {
        report.verdict = report.verdict.max(Verdict::Error);
        let why = format!("the evidence bundle could not be written: {e}");
        report.reason = Some(report.reason.map_or(why.clone(), |r| format!("{r}; {why}")));
    }
    (report, r.baseline.map(Box::new))
}

/// `20261121T151800.123456Z_4f9a02c1_OCC-TIME-TO-ALARM_500uLh`: UTC start to the microsecond,
/// the run's id, plan id, case.
fn case_dir_name(plan: &Plan, run_id: &str, now: time::OffsetDateTime) -> String {
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:06}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    );
    let safe = |s: &str| {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect::<String>()
    };
    match &plan.case {
        Some(c) => format!("{stamp}_{}_{}_{}", safe(run_id), safe(&plan.id), safe(&c.name)),
        None => format!("{stamp}_{}_{}", safe(run_id), safe(&plan.id)),
    }
}

/// The run's summary as a person reads it on the console.
pub fn render_summary(summary: &RunSummary) -> String {
    let mut out = String::new();
    if summary.refused.is_some() {
        let _ = writeln!(out, "REFUSED  no evidence was produced for the cases below (see the error)");
    }
    for case in &summary.cases {
        match &case.outcome {
            CaseOutcome::NotApplicable(why) => {
                let _ = writeln!(out, "SKIP     {}  (not applicable: {why})", case.name);
            }
            CaseOutcome::NotStarted(why) => {
                let _ = writeln!(out, "SKIP     {}  (not started: {why})", case.name);
            }
            CaseOutcome::Ran { report, dir, wall, baseline } => {
                let _ = writeln!(
                    out,
                    "{:<8} {}  (bench time {:.0} s, wall {:.2} s, {} samples) -> {}",
                    report.verdict.to_string(),
                    case.name,
                    report.bench_time.as_secs_f64(),
                    wall.as_secs_f64(),
                    report.samples,
                    dir.display()
                );
                for c in &report.checks {
                    let _ = writeln!(out, "  {:<6} {}", c.verdict.to_string(), check_line(c));
                }
                if let Some(reason) = &report.reason {
                    let _ = writeln!(out, "  stopped: {reason}");
                }
                if let Some(b) = baseline {
                    baseline_lines(&mut out, b);
                }
            }
        }
    }
    let count = |v: Verdict| summary.verdicts().filter(|x| *x == v).count();
    let skipped = summary.cases.iter().filter(|c| !matches!(c.outcome, CaseOutcome::Ran { .. })).count();
    let _ = write!(
        out,
        "{} passed, {} inconclusive, {} failed, {} error, {} aborted, {skipped} skipped",
        count(Verdict::Pass),
        count(Verdict::Inconclusive),
        count(Verdict::Fail),
        count(Verdict::Error),
        count(Verdict::Aborted)
    );
    out
}

fn baseline_lines(out: &mut String, b: &BaselineComparison) {
    match b.outcome {
        BaselineOutcome::Matches => {
            let _ = writeln!(out, "  baseline: matches the approved result ({})", b.file);
        }
        BaselineOutcome::Missing => {
            let _ = writeln!(out, "  baseline: none approved yet ({} is missing)", b.file);
        }
        BaselineOutcome::Unreadable => {
            let _ = writeln!(out, "  baseline: not compared: {}", b.detail.as_deref().unwrap_or("unreadable"));
        }
        BaselineOutcome::Drifted => {
            for f in &b.findings {
                let _ = writeln!(out, "  DRIFT  {}: {}", f.check, f.what);
            }
        }
    }
    for note in &b.notes {
        let _ = writeln!(out, "  baseline note: {note}");
    }
}

fn check_line(c: &CheckOutcome) -> String {
    format!("{} [{}]: {}", c.id, c.verifies.join(", "), c.detail)
}

/// Where runs go by default.
pub fn default_out() -> &'static Path {
    Path::new("runs")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let loaded = crate::plan::load_plans(&[root.join("test-plans/occlusion-time-to-alarm.yaml")]);
        loaded.plans.into_iter().next().and_then(|f| f.cases.into_iter().next()).expect("a plan case")
    }

    #[test]
    fn folders_of_two_runs_in_the_same_instant_differ_and_none_is_reused() {
        let at = time::macros::datetime!(2026-11-21 15:18:00.123456 UTC);
        let plan = plan();
        let a = case_dir_name(&plan, "0f3276a4", at);
        assert_eq!(a, "20261121T151800.123456Z_0f3276a4_OCC-TIME-TO-ALARM_500uLh");
        assert_ne!(a, case_dir_name(&plan, "51e79840", at), "another run in the same microsecond");
        assert_ne!(new_run_id(), new_run_id());

        let out = tempfile::tempdir().unwrap();
        let dir = create_case_dir(out.path(), &plan, "0f3276a4").unwrap();
        assert!(dir.is_dir());
        std::fs::create_dir(out.path().join("taken")).unwrap();
        let err = std::fs::create_dir(out.path().join("taken")).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "create_dir refuses, as create_case_dir relies on");
    }

    #[test]
    fn a_run_without_an_operator_refuses_evidence_and_runs_nothing() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let loaded = crate::plan::load_plans(&[root.join("test-plans/communication.yaml")]);
        let bench = crate::bench::load_or_default(None, crate::bench::EMBEDDED_TWIN, "rig/sim.yaml").unwrap();
        let out = tempfile::tempdir().unwrap();
        let options = RunOptions { operator: Err("nobody".into()), ..RunOptions::new(bench, out.path().join("runs")) };
        let runtime = crate::clock::virtual_time_runtime().unwrap();
        let summary = runtime.block_on(async {
            let (_tx, interrupt) = watch::channel(None);
            run_plans(&loaded.plans, &options, interrupt, &EmergencyStop::default()).await
        });
        assert_eq!(summary.refused.as_deref(), Some("nobody"));
        assert_eq!(summary.exit_code(), 2);
        assert!(!out.path().join("runs").exists(), "no evidence");
    }
}
