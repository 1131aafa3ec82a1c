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

/// Plans damaged at random (characters dropped, doubled or replaced) are reported, never a
/// crash: the loader is fed whatever an editor saves.
#[test]
fn mangled_plans_never_panic() {
    let mut seed: u64 = 0x5EED_1234;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let noise = ['{', '}', '[', ']', ':', '-', ' ', '\n', '$', '&', '*', '!', '#', '"', '\'', 'µ', '\t', '0'];
    for name in ["occlusion-time-to-alarm.yaml", "dose-limit-rolling-24h.yaml"] {
        let text = std::fs::read_to_string(format!("test-plans/{name}")).expect("plan");
        let chars: Vec<char> = text.chars().collect();
        for _ in 0..400 {
            let mut mangled = chars.clone();
            for _ in 0..(1 + next() % 4) {
                let at = (next() as usize) % mangled.len().max(1);
                match next() % 3 {
                    0 => {
                        mangled.remove(at);
                    }
                    1 => mangled.insert(at, mangled[at]),
                    _ => mangled[at] = noise[(next() as usize) % noise.len()],
                }
            }
            let mangled: String = mangled.into_iter().collect();
            let outcome = rig::plan::load::load_text(&mangled);
            for d in &outcome.diagnostics {
                let _ = d.render(Some(&mangled));
            }
        }
    }
}

/// A deep-nesting error on a 200 KB line holding NUL bytes: the snippet is a window around the
/// column, printable, not the whole line.
#[test]
fn a_huge_line_with_nul_bytes_renders_short_and_printable() {
    let text = format!("steps: {}\0{}\n", "[".repeat(200_000), "\0".repeat(1000));
    let outcome = rig::plan::load::load_text(&text);
    assert!(!outcome.diagnostics.is_empty());
    let rendered: String = outcome.diagnostics.iter().map(|d| d.render(Some(&text))).collect();
    assert!(rendered.len() < 4000, "{} bytes", rendered.len());
    assert!(!rendered.contains('\0'), "{rendered:?}");
    assert!(rendered.contains("nested more than") || rendered.contains("recursion limit"), "{rendered}");
}
