//! The diagnostics of every broken plan under `fixtures/plans/broken/`, as the user sees them,
//! one snapshot per fixture. These messages are the product: review a changed snapshot by eye
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test` and read the diff).

#[test]
fn broken_plans() {
    insta::glob!("../fixtures/plans/broken", "*.yaml", |path| {
        // Paths relative to the repository, as a user would type them, so snapshots are stable.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let relative = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        let outcome = rig::plan::load_plans(std::slice::from_ref(&relative));
        assert!(outcome.plans.is_empty(), "{} should not load", relative.display());
        assert!(!outcome.is_ok(), "{} should have diagnostics", relative.display());
        insta::assert_snapshot!(outcome.render_diagnostics());
    });
}

#[test]
fn diagnostics_are_sorted_by_position() {
    let outcome = rig::plan::load_plans(&["fixtures/plans/broken/several-errors.yaml".into()]);
    let positions: Vec<_> = outcome.diagnostics().map(|d| d.pos).collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
    assert!(positions.len() >= 5, "every error is reported: {positions:?}");
}
