//! The normalized result (`result.yaml`) of every plan case in `test-plans/` on the nominal twin,
//! snapshotted with insta: a change in the rig's or the twin's behaviour shows up as a snapshot
//! diff to review (`cargo insta review`, or `INSTA_UPDATE=always cargo test --test
//! suite result_snapshots::` and read the diff in git).

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use rig::bench::{EMBEDDED_TWIN, load_or_default};
use rig::run::runner::CaseOutcome;
use rig::run::{EmergencyStop, RunOptions, run_plans};

#[test]
fn result_of_every_plan_case_on_the_nominal_twin() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let loaded = rig::plan::load_plans(&[root.join("test-plans")]);
    assert!(loaded.is_ok(), "{}", loaded.render_diagnostics());
    let bench = load_or_default(None, EMBEDDED_TWIN, "rig/sim.yaml").unwrap();
    let out = tempfile::tempdir().unwrap();
    let options = RunOptions::new(bench, out.path().to_path_buf());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    let summary = runtime.block_on(async {
        let (_tx, interrupt) = tokio::sync::watch::channel(None);
        run_plans(&loaded.plans, &options, interrupt, &EmergencyStop::default()).await
    });
    let mut snapshots = 0;
    for case in &summary.cases {
        let CaseOutcome::Ran { dir, .. } = &case.outcome else {
            panic!("{} did not run: {:?}", case.name, case.outcome)
        };
        let result = std::fs::read_to_string(dir.join("result.yaml")).unwrap();
        let name = case.name.replace(['[', ']'], "_").trim_end_matches('_').to_string();
        insta::with_settings!({ snapshot_suffix => name, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!("result", result);
        });
        snapshots += 1;
    }
    assert_eq!(snapshots, summary.cases.len());
    assert!(snapshots >= 12, "every plan case of test-plans/");
}
