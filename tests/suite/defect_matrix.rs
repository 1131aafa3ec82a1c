//! The defect-detection matrix: the whole suite of `test-plans/` on the twin, nominal and with
//! each seeded firmware defect. Nominal firmware passes every plan; every defect makes the run
//! exit 1 with a failed check that verifies a requirement the defect violates. The docs' tables
//! (defect matrix, requirements coverage) are generated from the same data and must be current.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use rig::bench::{EMBEDDED_TWIN, load_or_default};
use rig::plan::{Coverage, coverage_doc, load_plans};
use rig::run::matrix::{matrix_doc, run_matrix};
use rig::sim::Fault;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn suite() -> rig::plan::LoadOutcome {
    let loaded = load_plans(&[root().join("test-plans")]);
    assert!(loaded.is_ok(), "{}", loaded.render_diagnostics());
    loaded
}

/// Compares a generated document with the file in docs/, telling how to regenerate it.
fn assert_doc_current(file: &str, generated: &str, command: &str) {
    let path = root().join("docs").join(file);
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/{file} is stale: regenerate it with `{command} > docs/{file}`\n--- generated ---\n{generated}"
    );
}

#[test]
fn every_defect_is_caught_and_the_nominal_firmware_passes() {
    let loaded = suite();
    let bench = load_or_default(None, EMBEDDED_TWIN, "rig/sim.yaml").unwrap();
    let out = tempfile::tempdir().unwrap();
    let runs = run_matrix(&loaded.plans, &bench, Fault::ALL, out.path(), 2);
    assert_eq!(runs.len(), Fault::ALL.len() + 1);

    let mut problems = Vec::new();
    for run in &runs {
        if run.as_required() {
            continue;
        }
        let label = run.fault.map_or("nominal firmware".to_string(), |f| format!("defect `{}`", f.name()));
        let outcomes: Vec<String> =
            run.cases.iter().map(|c| format!("{} {:?} failed={:?}", c.case, c.verdict, c.failed)).collect();
        problems.push(format!("{label}: exit {}\n    {}", run.exit_code, outcomes.join("\n    ")));
    }
    assert!(problems.is_empty(), "the matrix does not hold:\n{}", problems.join("\n"));
    assert_doc_current("defect-matrix.md", &matrix_doc(&runs), "cargo run --release -- matrix");
}

#[test]
fn every_requirement_is_covered_and_the_coverage_table_is_current() {
    let loaded = suite();
    let coverage = Coverage::of(loaded.plans.iter().flat_map(|f| f.cases.iter()));
    assert_eq!(coverage.uncovered(), Vec::<&str>::new(), "requirements no plan verifies");
    for f in Fault::ALL {
        for id in f.requirement() {
            assert!(coverage.by_requirement.contains_key(*id), "{} names an unknown requirement {id}", f.name());
        }
    }
    assert_doc_current("coverage.md", &coverage_doc(&coverage), "cargo run --release -- coverage");
}
