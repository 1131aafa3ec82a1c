//! The diagnostics of every broken plan under `fixtures/plans/broken/`, as the user sees them,
//! one snapshot per fixture. These messages are the product: review a changed snapshot by eye
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test` and read the diff).

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[test]
fn broken_plans() {
    insta::glob!("../../fixtures/plans/broken", "*.yaml", |path| {
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

/// Properties of the loader on hostile input: whatever the bytes, it returns (never panics),
/// and a file either gives plans without diagnostics or says what is wrong, at positions inside
/// the file, rendered printable and bounded. Cases are few and inputs bounded so each property
/// runs in a few seconds.
mod properties {
    use proptest::prelude::*;
    use rig::plan::load::{TextOutcome, load_bytes, load_text};

    fn config(cases: u32) -> ProptestConfig {
        ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
    }

    /// The invariants every outcome keeps.
    fn well_formed(text: &str, out: &TextOutcome) -> Result<(), TestCaseError> {
        prop_assert!(
            out.plans.is_some() || !out.diagnostics.is_empty(),
            "no plan and no diagnostic for {:?}",
            &text[..text.len().min(200)]
        );
        let lines = text.lines().count();
        for d in &out.diagnostics {
            prop_assert!(d.pos.line <= lines.max(1), "line {} of {lines}: {}", d.pos.line, d.message);
            let rendered = d.render(Some(text));
            prop_assert!(!rendered.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{rendered:?}");
            prop_assert!(rendered.len() < 8 * 1024, "{} bytes", rendered.len());
        }
        Ok(())
    }

    /// Words a plan is made of, so that random trees get past the first key often.
    const KEYS: &[&str] = &[
        "id",
        "title",
        "version",
        "covers",
        "requires",
        "steps",
        "setup",
        "cases",
        "name",
        "rate",
        "check",
        "wait",
        "wait_until",
        "mark",
        "start",
        "stop",
        "bolus",
        "inject",
        "timeout",
        "alarm",
        "from",
        "to",
        "max",
        "min",
        "nominal",
        "tolerance",
        "volume",
        "flow_mean",
        "setting",
        "field",
        "at",
        "expect",
        "refused",
        "accepted",
        "every",
        "count",
        "for",
        "link",
        "sensor",
        "permille",
        "on",
        "already_active",
        "program",
        "limit",
        "fill",
    ];
    const VALUES: &[&str] = &[
        "P",
        "1.0.0",
        "[pump, flow_sensor]",
        "[SRS-OCC-002]",
        "30 min",
        "500 uL/h",
        "20 mL",
        "10 %",
        "3",
        "0",
        "OCCLUSION",
        "RESERVOIR_LOW",
        "RANGE",
        "any",
        "true",
        "ok",
        "now",
        "start",
        "a",
        "${rate}",
        "${x}",
        "1e9",
        "-5 s",
        "motor_stall",
        "corrupt",
        "silence",
        "air",
        "stuck",
        "nack",
        "basal_ul_h",
        "therapy",
        "on",
        "off",
        "0.0001 uL/h",
        "\u{0}",
        "\u{202e}",
        "~",
        "",
        "&a x",
        "*a",
        "!!str 1",
    ];

    fn yaml_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            prop::sample::select(VALUES).prop_map(|v| v.to_string()),
            "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(", "))),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|entries| {
                    let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!("{{ {} }}", body.join(", "))
                }),
            ]
        })
    }

    /// A plan-shaped document: top-level keys, each with a random value.
    fn plan_text() -> impl Strategy<Value = String> {
        prop::collection::vec((prop::sample::select(KEYS), yaml_value()), 1..12).prop_map(|entries| {
            let mut text = String::from("id: P\ntitle: t\nversion: 1.0.0\ncovers: [SRS-OCC-002]\nrequires: [pump]\n");
            for (k, v) in entries {
                text.push_str(&format!("{k}: {v}\n"));
            }
            text
        })
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn random_plan_shaped_yaml_gives_plans_or_diagnostics(text in plan_text()) {
            let out = load_text(&text);
            well_formed(&text, &out)?;
        }

        #[test]
        fn arbitrary_bytes_are_reported_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let loaded = load_bytes(std::path::Path::new("x.yaml"), &bytes);
            let source = loaded.report.source.clone();
            prop_assert!(loaded.plan.is_some() || !loaded.report.diagnostics.is_empty());
            for d in &loaded.report.diagnostics {
                let rendered = d.render(source.as_deref());
                prop_assert!(!rendered.contains('\0'));
            }
        }
    }

    proptest! {
        #![proptest_config(config(48))]

        #[test]
        fn deep_nesting_of_any_shape_is_refused(opens in prop::collection::vec(prop::sample::select(&["[", "{a: ", "- ", "[{b: "][..]), 1..400)) {
            let text: String = opens.concat();
            let out = load_text(&text);
            well_formed(&text, &out)?;
        }

        #[test]
        fn alias_bombs_are_refused(width in 2usize..12, depth in 1usize..10) {
            let mut text = format!("a0: &a0 [{}]\n", vec!["x"; width].join(", "));
            for level in 1..=depth {
                let refs = vec![format!("*a{}", level - 1); width].join(", ");
                text.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
            }
            let out = load_text(&text);
            well_formed(&text, &out)?;
            prop_assert!(out.plans.is_none());
        }

        #[test]
        fn huge_scalars_are_reported_briefly(len in 1usize..400_000, at in 0usize..4) {
            let huge = "9".repeat(len);
            let value = [format!("{huge} min"), huge.clone(), format!("\"{huge}\""), format!("x{huge}")][at].clone();
            let text = format!("id: P\ntitle: t\nversion: 1.0.0\ncovers: [SRS-OCC-002]\nrequires: [pump]\nsteps:\n  - wait: {value}\n");
            let out = load_text(&text);
            well_formed(&text, &out)?;
        }

        #[test]
        fn many_cases_expand_or_are_refused(n in 1usize..1500) {
            let rows: String = (0..n).map(|i| format!("  - {{ name: c{i}, t: {} s }}\n", 1 + i)).collect();
            let text = format!("id: P\ntitle: t\nversion: 1.0.0\ncovers: []\nrequires: [pump]\ncases:\n{rows}steps:\n  - wait: ${{t}}\n");
            let out = load_text(&text);
            well_formed(&text, &out)?;
            if n <= rig::plan::expand::MAX_CASES {
                prop_assert_eq!(out.plans.map(|p| p.len()), Some(n));
            } else {
                prop_assert!(out.plans.is_none());
            }
        }
    }
}
