//! The defect-detection matrix: the whole suite run on the twin once without defects and once
//! per seeded firmware defect, and for each defect whether a check verifying a requirement the
//! defect violates failed. This is what says the plans tell good firmware from bad.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::bench::BenchFile;
use crate::plan::PlanFile;
use crate::sim::Fault;

use super::runner::{CaseOutcome, EmergencyStop, RunOptions, RunSummary, run_plans};
use crate::judgement::Verdict;

/// One plan case's result in one run of the suite.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub plan: String,
    pub case: String,
    /// `None`: not run (not applicable on the bench).
    pub verdict: Option<Verdict>,
    /// Failed checks: (check id, the requirements it verifies).
    pub failed: Vec<(String, Vec<String>)>,
}

/// The suite run once, with `fault` seeded (`None`: the nominal firmware).
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteRun {
    pub fault: Option<Fault>,
    pub exit_code: u8,
    pub cases: Vec<CaseResult>,
    /// Wall time of the whole suite.
    pub wall: Duration,
}

impl SuiteRun {
    /// Failed checks that verify a requirement the seeded defect violates: (plan, check, ids).
    pub fn detections(&self) -> Vec<(String, String, Vec<String>)> {
        let Some(fault) = self.fault else { return Vec::new() };
        let violated: BTreeSet<&str> = fault.requirement().iter().copied().collect();
        self.cases
            .iter()
            .flat_map(|c| c.failed.iter().map(move |f| (c, f)))
            .filter(|(_, (_, verifies))| verifies.iter().any(|v| violated.contains(v.as_str())))
            .map(|(c, (id, verifies))| (c.plan.clone(), id.clone(), verifies.clone()))
            .collect()
    }

    /// Nominal: every case passed. With a defect: the run exits 1 and some check verifying a
    /// violated requirement failed.
    pub fn as_required(&self) -> bool {
        match self.fault {
            None => self.exit_code == 0 && self.cases.iter().all(|c| matches!(c.verdict, Some(Verdict::Pass))),
            Some(_) => self.exit_code == 1 && !self.detections().is_empty(),
        }
    }
}

/// Runs the suite on the in-process twin described by `bench`, once nominal and once per
/// defect in `faults`, `jobs` runs at a time (each in its own thread and virtual clock). Run
/// folders go under `out/<nominal|defect>/`.
pub fn run_matrix(plans: &[PlanFile], bench: &BenchFile, faults: &[Fault], out: &Path, jobs: usize) -> Vec<SuiteRun> {
    let runs: Vec<Option<Fault>> = std::iter::once(None).chain(faults.iter().copied().map(Some)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&fault) = runs.get(i) else { break };
                    let run = run_suite(plans, bench, fault, out);
                    results.lock().unwrap_or_else(|p| p.into_inner()).push((i, run));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Runs every plan once on the twin with `fault` seeded, under a paused (virtual) clock.
pub fn run_suite(plans: &[PlanFile], bench: &BenchFile, fault: Option<Fault>, out: &Path) -> SuiteRun {
    let started = Instant::now();
    let label = fault.map_or("nominal", |f| f.name());
    let options = RunOptions { faults: fault.into_iter().collect(), ..RunOptions::new(bench.clone(), out.join(label)) };
    let runtime = crate::clock::virtual_time_runtime();
    let summary = match runtime {
        Ok(rt) => rt.block_on(async {
            let (_tx, interrupt) = watch::channel(None);
            run_plans(plans, &options, interrupt, &EmergencyStop::default()).await
        }),
        Err(e) => {
            crate::say_err!("rig: cannot start a runtime for {label}: {e}");
            RunSummary::default()
        }
    };
    SuiteRun { fault, exit_code: summary.exit_code(), cases: case_results(&summary), wall: started.elapsed() }
}

fn case_results(summary: &RunSummary) -> Vec<CaseResult> {
    summary
        .cases
        .iter()
        .map(|c| {
            let plan = c.name.split('[').next().unwrap_or(&c.name).to_string();
            match &c.outcome {
                CaseOutcome::Ran { report, .. } => CaseResult {
                    plan,
                    case: c.name.clone(),
                    verdict: Some(report.verdict),
                    failed: report
                        .checks
                        .iter()
                        .filter(|k| k.verdict == Verdict::Fail)
                        .map(|k| (k.id.clone(), k.verifies.clone()))
                        .collect(),
                },
                _ => CaseResult { plan, case: c.name.clone(), verdict: None, failed: Vec::new() },
            }
        })
        .collect()
}

/// The matrix as Markdown: a row per defect, a column per plan; a cell shows the plan's worst
/// verdict over its cases, in bold where a check verifying a violated requirement failed there.
pub fn to_markdown(runs: &[SuiteRun]) -> String {
    let plans: Vec<String> = {
        let mut seen = Vec::new();
        for c in runs.iter().flat_map(|r| &r.cases) {
            if !seen.contains(&c.plan) {
                seen.push(c.plan.clone());
            }
        }
        seen
    };
    let mut out = String::new();
    let _ = writeln!(out, "| defect | violates | {} | caught by |", plans.join(" | "));
    let _ = writeln!(out, "|---|---|{}---|", "---|".repeat(plans.len()));
    for run in runs {
        let detections = run.detections();
        let caught_in: BTreeSet<&str> = detections.iter().map(|(p, _, _)| p.as_str()).collect();
        let mut cells = Vec::new();
        for plan in &plans {
            let worst = run.cases.iter().filter(|c| &c.plan == plan).filter_map(|c| c.verdict).max();
            let cell = match worst {
                None => "n/a".to_string(),
                Some(v) if caught_in.contains(plan.as_str()) => format!("**{v}**"),
                Some(v) => v.to_string(),
            };
            cells.push(cell);
        }
        let (name, violates) = match run.fault {
            None => ("(none: nominal firmware)".to_string(), "–".to_string()),
            Some(f) => (format!("`{}`", f.name()), f.requirement().join(", ")),
        };
        let mut by_plan: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (p, check, _) in &detections {
            let checks = by_plan.entry(p.as_str()).or_default();
            if !checks.contains(&check.as_str()) {
                checks.push(check.as_str());
            }
        }
        let caught = match run.fault {
            None if run.as_required() => "every plan passes".to_string(),
            None => "**NOT every plan passes**".to_string(),
            Some(_) if by_plan.is_empty() => "**NOT CAUGHT**".to_string(),
            Some(_) => by_plan
                .iter()
                .map(|(p, checks)| {
                    format!("{p}: {}", checks.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "))
                })
                .collect::<Vec<_>>()
                .join("; "),
        };
        let _ = writeln!(out, "| {name} | {violates} | {} | {caught} |", cells.join(" | "));
    }
    out
}

/// `docs/defect-matrix.md`, as `rig matrix` prints it (a test keeps the file in sync).
pub fn matrix_doc(runs: &[SuiteRun]) -> String {
    let mut out = String::from(
        "# Defect-detection matrix\n\n\
         Generated by `rig matrix > docs/defect-matrix.md`; the test `defect_matrix` runs the same matrix \
         and fails when a defect goes uncaught, when the nominal twin does not pass every plan, or when \
         this file is stale.\n\n\
         The whole suite (`test-plans/`) runs on the in-process twin once with the nominal firmware and \
         once per seeded defect (`rig faults`). A cell is the plan's worst verdict over its cases; it is \
         in **bold** where a check verifying a requirement the defect violates failed. A defect is \
         caught when `rig run test-plans --fault NAME` exits 1 with such a failure.\n\n",
    );
    out.push_str(&to_markdown(runs));
    out
}
