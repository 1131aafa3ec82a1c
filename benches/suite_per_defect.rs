//! Wall time of the whole qualification suite (`test-plans/`, every case, with the full evidence
//! bundle written) on the in-process twin, once nominal and once per seeded defect, one suite
//! at a time (one thread). The target: under 10 s per defect.
//!
//! `cargo bench --bench suite_per_defect` prints, per defect, the median of 3 runs, and the
//! median and maximum over the defects. Nothing is asserted about time.

// A benchmark that cannot set up its run has nothing to measure: it stops there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

use rig::bench::{BenchFile, EMBEDDED_TWIN};
use rig::run::matrix::run_suite;
use rig::sim::Fault;

fn main() {
    let runs = if std::env::args().any(|a| a == "--bench") { 3 } else { 1 };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = rig::plan::load_plans(&[root.join("test-plans")]);
    assert!(loaded.is_ok(), "{}", loaded.render_diagnostics());
    let bench = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
    let out = tempfile::tempdir().unwrap();
    let faults: Vec<Option<Fault>> = std::iter::once(None).chain(Fault::ALL.iter().copied().map(Some)).collect();
    let mut medians: Vec<Duration> = Vec::new();
    for fault in faults {
        let mut walls: Vec<Duration> = (0..runs)
            .map(|k| {
                let dir = out.path().join(format!("{k}"));
                let run = run_suite(&loaded.plans, &bench, fault, &dir);
                assert!(run.as_required(), "{:?}: the suite does not behave as required", fault.map(|f| f.name()));
                let _ = std::fs::remove_dir_all(&dir);
                run.wall
            })
            .collect();
        walls.sort();
        let median = walls[walls.len() / 2];
        println!(
            "suite_per_defect: {:<30} median of {runs}: {:.2} s wall",
            fault.map_or("(nominal)", |f| f.name()),
            median.as_secs_f64()
        );
        medians.push(median);
    }
    medians.sort();
    println!(
        "suite_per_defect: over {} suites: median {:.2} s, max {:.2} s wall per suite (target < 10 s)",
        medians.len(),
        medians[medians.len() / 2].as_secs_f64(),
        medians.last().unwrap().as_secs_f64()
    );
}
