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

use super::case_record::start_record;
use super::evaluate::EvalContext;
use super::event::Reporter;
use super::executor::{CaseOptions, CaseReport, estimated_duration, run_case};
use super::reporters::{EventsJsonl, Progress, RecordReporter, SamplesCsv, SharedRecord};
use super::verdict::{CheckOutcome, Verdict};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub bench: BenchFile,
    pub faults: Vec<Fault>,
    pub out: PathBuf,
    pub interactive: bool,
    pub progress: bool,
    /// Who runs the bench, for the evidence.
    pub operator: String,
    /// Produce evidence although an instrument is past its calibration due date (the report
    /// says so on its first line).
    pub allow_expired_calibration: bool,
    /// A folder of approved `result.yaml`s to compare each case with (`rig approve` fills it).
    pub baseline: Option<PathBuf>,
}

impl RunOptions {
    /// Options for `bench` with the defaults of an unattended run into `out`.
    pub fn new(bench: BenchFile, out: PathBuf) -> Self {
        RunOptions {
            bench,
            faults: Vec::new(),
            out,
            interactive: false,
            progress: false,
            operator: default_operator(),
            allow_expired_calibration: false,
            baseline: None,
        }
    }
}

/// The operator's login name, from the environment.
pub fn default_operator() -> String {
    ["RIG_OPERATOR", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// How a case's result compares with its approved baseline.
#[derive(Debug, Clone, PartialEq)]
pub enum BaselineOutcome {
    /// No approved result for this case in the baseline folder.
    Missing(PathBuf),
    Unreadable(String),
    /// Same verdicts; every value within what its check allows.
    Matches,
    /// Findings, even if every limit still passes.
    Drifted(Vec<crate::evidence::result::Drift>),
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
    /// Not started: an earlier case was interrupted.
    NotStarted,
    Ran {
        report: CaseReport,
        dir: PathBuf,
        wall: Duration,
        /// The comparison with the approved baseline, when `--baseline` was given.
        baseline: Option<BaselineOutcome>,
    },
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunSummary {
    pub cases: Vec<CaseSummary>,
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
        self.cases
            .iter()
            .any(|c| matches!(&c.outcome, CaseOutcome::Ran { baseline: Some(BaselineOutcome::Drifted(_)), .. }))
    }

    /// 0 every check passed (and nothing drifted from the baseline); 1 a check failed or could not be resolved within the bench's
    /// uncertainty (INCONCLUSIVE); 3 the bench or rig failed; 130 interrupted.
    pub fn exit_code(&self) -> u8 {
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

/// The handle a second Ctrl-C uses to make the bench safe at once, whatever the executor is
/// doing: the link (for STOP) and, where the pin can be shared, the valve line.
#[derive(Clone, Default)]
pub struct EmergencyStop(Arc<Mutex<Option<Armed>>>);

/// The running case's link, and a second handle on its valve line where one can be had.
type Armed = (crate::link::PumpLink, Option<crate::bench::instruments::BenchPin>);

impl EmergencyStop {
    fn arm(&self, bench: &Bench) {
        let pin = bench.valve_pin_clone();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((bench.link.clone(), pin));
    }

    fn disarm(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Opens the valve and sends STOP (1 s at most); reports what it did.
    pub async fn engage(&self) -> String {
        let armed = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some((link, pin)) = armed else { return "no case was running".into() };
        let valve = match pin {
            Some(mut pin) => match embedded_hal::digital::OutputPin::set_low(&mut pin) {
                Ok(()) => "valve opened".to_string(),
                Err(e) => format!("valve NOT opened: {e}"),
            },
            None => "valve left to the driver's drop".to_string(),
        };
        let pump = match tokio::time::timeout(Duration::from_secs(1), link.stop()).await {
            Ok(Ok(())) => "pump stopped".to_string(),
            Ok(Err(e)) => format!("pump NOT stopped: {e}"),
            Err(_) => "pump NOT stopped: no answer within 1 s".to_string(),
        };
        format!("{valve}, {pump}")
    }
}

/// Runs every case of every plan file in order. Stops starting new cases once interrupted.
pub async fn run_plans(
    plans: &[PlanFile],
    options: &RunOptions,
    interrupt: watch::Receiver<Option<String>>,
    emergency: &EmergencyStop,
) -> RunSummary {
    let mut summary = RunSummary::default();
    let virtual_time = matches!(options.bench.connection, Connection::Twin { .. });
    for (file, plan) in plans.iter().flat_map(|f| f.cases.iter().map(move |c| (f, c))) {
        let name = plan.run_name();
        if interrupt.borrow().is_some() {
            summary.cases.push(CaseSummary { name, outcome: CaseOutcome::NotStarted });
            continue;
        }
        if let Some(why) = crate::plan::not_applicable_on(plan, &options.bench, options.interactive) {
            crate::say_err!("{name}: not applicable on bench {}: {why}", options.bench.name);
            summary.cases.push(CaseSummary { name, outcome: CaseOutcome::NotApplicable(why) });
            continue;
        }
        let outcome = run_one(plan, file, options, virtual_time, interrupt.clone(), emergency).await;
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
) -> CaseOutcome {
    let wall = Instant::now();
    let dir = options.out.join(case_dir_name(plan));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        let why = format!("cannot create the run folder {}: {e}", dir.display());
        return CaseOutcome::Ran { report: error_report(why), dir, wall: wall.elapsed(), baseline: None };
    }
    let record: SharedRecord = Arc::new(Mutex::new(start_record(plan, file, options)));
    let mut reporters: Vec<Box<dyn Reporter + Send>> = Vec::new();
    match (SamplesCsv::create(&dir.join("samples.csv")), EventsJsonl::create(&dir.join("events.jsonl"))) {
        (Ok(samples), Ok(events)) => {
            reporters.push(Box::new(samples));
            reporters.push(Box::new(events));
        }
        (Err(e), _) | (_, Err(e)) => {
            let why = format!("cannot write the run files in {}: {e}", dir.display());
            return CaseOutcome::Ran { report: error_report(why), dir, wall: wall.elapsed(), baseline: None };
        }
    }
    reporters.push(Box::new(RecordReporter::new(record.clone())));
    if options.progress {
        reporters.push(Box::new(Progress::new(&plan.run_name(), estimated_duration(plan))));
    }
    let clock = RigClock::start();
    let bench = match Bench::open(&options.bench, &options.faults, clock).await {
        Ok(b) => b,
        Err(e) => {
            let report = error_report(e.to_string());
            drop(reporters);
            let report = finish_evidence(&dir, &record, report, wall.elapsed());
            return CaseOutcome::Ran { report, dir, wall: wall.elapsed(), baseline: None };
        }
    };
    let eval = EvalContext { accuracy: options.bench.flow_sensor.accuracy, sample_period: plan.sample_period };
    let case_options = CaseOptions { virtual_time, interactive: options.interactive };
    let report = run_case_guarded(bench, plan, eval, case_options, reporters, interrupt, emergency).await;
    let report = finish_evidence(&dir, &record, report, wall.elapsed());
    let baseline = options.baseline.as_deref().map(|b| compare_with_baseline(&dir, b));
    CaseOutcome::Ran { report, dir, wall: wall.elapsed(), baseline }
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
    let case =
        tokio::spawn(
            async move { run_case(&mut bench, &owned_plan, eval, case_options, &mut reporters, interrupt).await },
        );
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

/// Completes the record and writes the bundle. A bundle that cannot be written makes the case
/// an ERROR: without its evidence, a verdict is worth nothing.
fn finish_evidence(dir: &Path, record: &SharedRecord, mut report: CaseReport, wall: Duration) -> CaseReport {
    let mut r = record.lock().unwrap_or_else(|p| p.into_inner()).clone();
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
    if let Err(e) = crate::evidence::bundle::write_bundle(dir, &r) {
        report.verdict = report.verdict.max(Verdict::Error);
        let why = format!("the evidence bundle could not be written: {e}");
        report.reason = Some(report.reason.map_or(why.clone(), |r| format!("{r}; {why}")));
    }
    report
}

/// Compares the case's `result.yaml` with the approved one in the baseline folder.
fn compare_with_baseline(dir: &Path, baseline: &Path) -> BaselineOutcome {
    use crate::evidence::result::{CaseResult, compare};
    let read = |path: &Path| -> Result<CaseResult, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    };
    let run = match read(&dir.join(crate::evidence::bundle::RESULT_FILE)) {
        Ok(r) => r,
        Err(e) => return BaselineOutcome::Unreadable(e),
    };
    let approved_path = baseline.join(run.baseline_name());
    if !approved_path.exists() {
        return BaselineOutcome::Missing(approved_path);
    }
    match read(&approved_path) {
        Ok(approved) => {
            let drift = compare(&run, &approved);
            if drift.is_empty() { BaselineOutcome::Matches } else { BaselineOutcome::Drifted(drift) }
        }
        Err(e) => BaselineOutcome::Unreadable(e),
    }
}

/// `20261121T151800Z_OCC-TIME-TO-ALARM_500uLh`: UTC start, plan id, case.
fn case_dir_name(plan: &Plan) -> String {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let safe = |s: &str| {
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect::<String>()
    };
    match &plan.case {
        Some(c) => format!("{stamp}_{}_{}", safe(&plan.id), safe(&c.name)),
        None => format!("{stamp}_{}", safe(&plan.id)),
    }
}

/// The run's summary as a person reads it on the console.
pub fn render_summary(summary: &RunSummary) -> String {
    let mut out = String::new();
    for case in &summary.cases {
        match &case.outcome {
            CaseOutcome::NotApplicable(why) => {
                let _ = writeln!(out, "SKIP     {}  (not applicable: {why})", case.name);
            }
            CaseOutcome::NotStarted => {
                let _ = writeln!(out, "SKIP     {}  (not started: the run was interrupted)", case.name);
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
                match baseline {
                    None => {}
                    Some(BaselineOutcome::Matches) => {
                        let _ = writeln!(out, "  baseline: matches the approved result");
                    }
                    Some(BaselineOutcome::Missing(path)) => {
                        let _ = writeln!(out, "  baseline: none approved yet ({} is missing)", path.display());
                    }
                    Some(BaselineOutcome::Unreadable(why)) => {
                        let _ = writeln!(out, "  baseline: not compared: {why}");
                    }
                    Some(BaselineOutcome::Drifted(findings)) => {
                        for f in findings {
                            let _ = writeln!(out, "  DRIFT  {}: {}", f.check, f.what);
                        }
                    }
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

fn check_line(c: &CheckOutcome) -> String {
    format!("{} [{}]: {}", c.id, c.verifies.join(", "), c.detail)
}

/// Where runs go by default.
pub fn default_out() -> &'static Path {
    Path::new("runs")
}
