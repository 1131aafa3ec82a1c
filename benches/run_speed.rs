//! Speed of a whole plan on the in-process twin: the 50 h rolling-window dose-limit plan
//! (test-plans/dose-limit-rolling-24h.yaml, 1 Hz sampling, STATUS every 10 s), through the
//! executor without and with the streamed run files, and as `rig run` runs it: the runner, every
//! reporter, the whole bundle written and sealed.
//!
//! `cargo bench --bench run_speed` prints medians of several runs as simulated seconds per
//! wall-clock second. Nothing is asserted about time.

// A benchmark that cannot set up its run has nothing to measure: it stops there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use rig::bench::{Bench, BenchFile, EMBEDDED_TWIN};
use rig::clock::RigClock;
use rig::run::evaluate::EvalContext;
use rig::run::reporters::{EventsJsonl, SamplesCsv};
use rig::run::{CaseOptions, Reporter, Verdict, run_case};

const PLAN: &str = "test-plans/dose-limit-rolling-24h.yaml";

fn one_run(plan: &rig::plan::Plan, file: &BenchFile, out: Option<&Path>) -> (f64, f64) {
    let runtime = rig::clock::virtual_time_runtime().unwrap();
    runtime.block_on(async {
        let mut reporters: Vec<Box<dyn Reporter + Send>> = Vec::new();
        if let Some(parent) = out {
            // The bundle's files are never replaced: each run writes a folder of its own.
            let dir = tempfile::tempdir_in(parent).unwrap();
            let dir = dir.keep();
            reporters.push(Box::new(
                SamplesCsv::create(&dir.join("samples.csv"), rig::evidence::bundle::PLOT_POINTS).unwrap(),
            ));
            reporters.push(Box::new(EventsJsonl::create(&dir.join("events.jsonl")).unwrap()));
        }
        let mut bench = Bench::open(file, &[], RigClock::start()).await.unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(None);
        let eval = EvalContext { accuracy: file.flow_sensor.accuracy, sample_period: plan.sample_period };
        let options = CaseOptions { virtual_time: true, interactive: false };
        let wall = Instant::now();
        let report = run_case(&mut bench, plan, eval, options, &mut reporters, rx).await;
        let wall = wall.elapsed().as_secs_f64();
        assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
        (report.bench_time.as_secs_f64(), wall)
    })
}

/// One timed run: (bench time, wall time), seconds.
type Timed<'a> = &'a dyn Fn() -> (f64, f64);

/// The plan as `rig run` runs it: the runner, its reporters, the bundle (report, manifest).
fn bundled_run(plans: &[rig::plan::PlanFile], out: &Path) -> (f64, f64) {
    let runtime = rig::clock::virtual_time_runtime().unwrap();
    let bench = rig::bench::load_or_default(None, EMBEDDED_TWIN, "rig/sim.yaml").unwrap();
    let dir = tempfile::tempdir_in(out).unwrap().keep();
    let options = rig::run::RunOptions::new(bench, dir);
    let wall = Instant::now();
    let summary = runtime.block_on(async {
        let (_tx, interrupt) = tokio::sync::watch::channel(None);
        rig::run::run_plans(plans, &options, interrupt, &rig::run::EmergencyStop::default()).await
    });
    let wall = wall.elapsed().as_secs_f64();
    let [case] = &summary.cases[..] else { panic!("one case: {:?}", summary.cases.len()) };
    let rig::run::runner::CaseOutcome::Ran { report, .. } = &case.outcome else { panic!("{:?}", case.outcome) };
    assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
    (report.bench_time.as_secs_f64(), wall)
}

fn main() {
    let runs = if std::env::args().any(|a| a == "--bench") { 5 } else { 1 };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = rig::plan::load_plans(&[root.join(PLAN)]);
    assert!(loaded.is_ok(), "{}", loaded.render_diagnostics());
    let plan = loaded.plans[0].cases[0].clone();
    let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let out: PathBuf = std::env::temp_dir().join(format!("rig-run-speed-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let configurations: [(&str, Timed<'_>); 3] = [
        ("executor only", &|| one_run(&plan, &file, None)),
        ("with samples.csv + events.jsonl", &|| one_run(&plan, &file, Some(out.as_path()))),
        ("as rig run: every reporter and the sealed bundle", &|| bundled_run(&loaded.plans, &out)),
    ];
    for (label, run) in configurations {
        let mut results: Vec<(f64, f64)> = (0..runs).map(|_| run()).collect();
        results.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (bench_s, wall_s) = results[results.len() / 2];
        println!(
            "run_speed: {PLAN} ({label}), median of {runs}: {bench_s:.0} s of bench time in {wall_s:.3} s wall = {:.0} simulated s per wall s",
            bench_s / wall_s
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
