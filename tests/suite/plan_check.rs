//! `rig check` on the shipped plans, and the JSON Schema editors use for them.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use rig::bench::{BenchFile, EMBEDDED_TWIN};
use rig::plan::{check_command, schema_json};

fn twin() -> BenchFile {
    BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).expect("the built-in twin bench parses")
}

fn plan_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("test-plans")
        .expect("test-plans/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no plans in test-plans/");
    files
}

fn check(paths: &[PathBuf]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = check_command(paths, &twin(), false, &mut out, &mut err);
    (code, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

#[test]
fn shipped_plans_are_valid_and_run_on_the_twin() {
    let (code, out, err) = check(&[]);
    assert_eq!(code, 0, "rig check test-plans failed:\n{err}\n{out}");
    assert!(err.is_empty(), "{err}");
    assert!(!out.lines().any(|l| l.starts_with("not applicable")), "every shipped plan runs on the twin:\n{out}");
    assert!(out.contains("ok              OCC-TIME-TO-ALARM[500uLh]"), "{out}");
    assert!(out.contains("ok              DOSE-LIMIT-ROLLING-24H"), "{out}");
    assert!(out.lines().last().is_some_and(|l| l.contains("0 invalid")), "{out}");
}

#[test]
fn every_plan_starts_with_the_schema_line() {
    for path in plan_files() {
        let text = std::fs::read_to_string(&path).expect("readable plan");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../docs/plan.schema.json\n"),
            "{} must start with `# yaml-language-server: $schema=../docs/plan.schema.json`",
            path.display()
        );
    }
}

#[test]
fn the_schema_is_valid_and_every_plan_validates_against_it() {
    let schema: serde_json::Value = serde_json::from_str(&schema_json()).expect("the schema is JSON");
    jsonschema::meta::validate(&schema).expect("the schema is a valid draft 2020-12 schema");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for path in plan_files() {
        let text = std::fs::read_to_string(&path).expect("readable plan");
        let plan: serde_json::Value = serde_yaml::from_str(&text).expect("the plan is YAML");
        let errors: Vec<String> =
            validator.iter_errors(&plan).map(|e| format!("  {} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{} does not match the schema:\n{}", path.display(), errors.join("\n"));
    }
}

#[test]
fn the_schema_flags_unknown_keys_and_bad_units() {
    let schema: serde_json::Value = serde_json::from_str(&schema_json()).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let good = "id: X\ntitle: t\nversion: 1.0.0\ncovers: []\nrequires: [pump]\nsteps:\n  - start\n  - wait: 30 min\n";
    let yaml = |t: &str| -> serde_json::Value { serde_yaml::from_str(t).expect("YAML") };
    assert!(validator.is_valid(&yaml(good)));
    assert!(!validator.is_valid(&yaml(&good.replace("wait: 30 min", "wait: 30 kPa"))));
    assert!(!validator.is_valid(&yaml(&good.replace("wait: 30 min", "wait: 30min"))));
    assert!(!validator.is_valid(&yaml(&good.replace("title: t", "titel: t"))));
    assert!(!validator.is_valid(&yaml(&good.replace("  - start", "  - strat"))));
}

#[test]
fn docs_schema_is_up_to_date() {
    let committed = std::fs::read_to_string("docs/plan.schema.json").unwrap_or_default();
    assert!(
        committed.trim_end() == schema_json().trim_end(),
        "docs/plan.schema.json is not what `rig schema` prints; regenerate it with\n\n    cargo run -- schema > docs/plan.schema.json\n"
    );
}

#[test]
fn broken_plans_fail_check_with_exit_2() {
    let (code, out, err) = check(&[PathBuf::from("fixtures/plans/broken/unknown-key.yaml")]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("error: unknown key"), "{err}");
    assert!(out.contains("invalid         fixtures/plans/broken/unknown-key.yaml"), "{out}");
    assert!(err.trim_end().ends_with("fix them before running"), "{err}");
}

#[test]
fn duplicate_plan_ids_across_files_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = std::fs::read_to_string("test-plans/dose-limit-rolling-24h.yaml").expect("plan");
    std::fs::write(dir.path().join("a.yaml"), &plan).expect("write");
    std::fs::write(dir.path().join("b.yaml"), &plan).expect("write");
    let (code, _, err) = check(&[dir.path().to_path_buf()]);
    assert_eq!(code, 2);
    assert!(err.contains("plan id `DOSE-LIMIT-ROLLING-24H` is already used"), "{err}");
    assert!(err.contains("b.yaml:"), "the second file is the one flagged: {err}");
}

#[test]
fn plans_that_need_what_the_bench_lacks_are_not_applicable_not_invalid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = "id: STALL\ntitle: t\nversion: 1.0.0\ncovers: []\nrequires: [pump, motor_stall]\nsteps:\n  - start\n  - inject: motor_stall\n";
    std::fs::write(dir.path().join("stall.yaml"), plan).expect("write");
    let pi = BenchFile::load(Path::new("rig/pi.yaml")).expect("rig/pi.yaml parses");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = check_command(&[dir.path().join("stall.yaml")], &pi, true, &mut out, &mut err);
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not applicable  STALL"), "{out}");
    assert!(out.contains("cannot inject a motor stall"), "{out}");
}

/// Loads `path` on a thread: a loader that blocks (a FIFO with no writer) fails the test
/// instead of hanging it.
fn load_within(path: PathBuf, limit: std::time::Duration) -> rig::plan::LoadOutcome {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(rig::plan::load_plans(&[path]));
    });
    rx.recv_timeout(limit).expect("the loader must answer, not block")
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("plan.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let out = load_within(fifo.clone(), std::time::Duration::from_secs(20));
    let text = out.render_diagnostics();
    assert!(out.plans.is_empty());
    assert!(text.contains("is a FIFO (named pipe), not a regular file: not read"), "{text}");
    // In a directory too: named like a plan, reported, not skipped.
    let out = load_within(dir.path().to_path_buf(), std::time::Duration::from_secs(20));
    assert!(out.render_diagnostics().contains("is a FIFO"), "{}", out.render_diagnostics());
}

#[test]
fn a_device_is_refused_without_reading_it() {
    let out = load_within(PathBuf::from("/dev/zero"), std::time::Duration::from_secs(20));
    let text = out.render_diagnostics();
    assert!(text.contains("is a character device, not a regular file: not read"), "{text}");
}

#[test]
fn a_file_over_the_size_cap_is_refused_saying_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.yaml");
    let line = "  - wait: 1 s\n";
    let text = format!("steps:\n{}", line.repeat(5 * 1024 * 1024 / line.len()));
    std::fs::write(&big, text).expect("write");
    let out = load_within(big, std::time::Duration::from_secs(60));
    let text = out.render_diagnostics();
    assert!(text.contains("a plan file is at most 4 MiB"), "{text}");
}

#[test]
fn a_symlink_loop_is_called_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    std::os::unix::fs::symlink(&b, &a).expect("symlink");
    std::os::unix::fs::symlink(&a, &b).expect("symlink");
    let out = load_within(a, std::time::Duration::from_secs(20));
    let text = out.render_diagnostics();
    assert!(text.contains("symbolic links loop"), "{text}");
    assert!(!text.contains("permissions"), "{text}");
}

#[test]
fn checks_narrower_than_the_bench_uncertainty_are_warned_about_with_both_numbers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = "id: NARROW\ntitle: t\nversion: 1.0.0\ncovers: [SRS-DEL-001]\nrequires: [pump, flow_sensor]\nsteps:\n  - program: 500 uL/h\n  - start\n  - mark: a\n  - wait: 1 h\n  - check: { id: narrow, flow_mean: { from: a }, nominal: 500 uL/h, tolerance: 4 %, verifies: [SRS-DEL-001] }\n  - check: { id: wide, flow_mean: { from: a }, nominal: 500 uL/h, tolerance: 10 % }\n  - check: { id: tiny-volume, volume: { from: a }, max: 0.5 uL }\n  - wait_until: { alarm: OCCLUSION, timeout: 1 h }\n  - check: { id: unknown-length, volume: { from: a }, max: 0.5 uL }\n";
    let path = dir.path().join("narrow.yaml");
    std::fs::write(&path, plan).expect("write");
    let (code, out, err) = check(&[path]);
    assert_eq!(code, 0, "a warning does not make the plan invalid: {err}\n{out}");
    assert!(
        err.contains("warning: check `narrow` can only be INCONCLUSIVE on bench `digital-twin`: its limits, 480 uL/h to 520 uL/h (± 20 uL/h), are narrower than the flow sensor's stated uncertainty, ± 25 uL/h at 500 uL/h"),
        "{err}"
    );
    assert!(err.contains("narrow.yaml:11:5"), "at the check's line: {err}");
    assert!(err.contains("warning: check `tiny-volume`"), "{err}");
    assert!(!err.contains("`wide`"), "{err}");
    assert!(!err.contains("`unknown-length`"), "a volume over an interval of unknown length is not judged: {err}");
}

#[test]
fn the_schema_knows_the_new_injections_settings_and_already_active() {
    let schema: serde_json::Value = serde_json::from_str(&schema_json()).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let yaml = |t: &str| -> serde_json::Value { serde_yaml::from_str(t).expect("YAML") };
    let head = "id: X\ntitle: t\nversion: 1.0.0\ncovers: []\nrequires: [pump]\nsteps:\n";
    for step in [
        "inject: { link: corrupt, permille: 50 }",
        "inject: { link: silence, for: 30 s }",
        "inject: { sensor: nack, count: 3 }",
        "inject: { sensor: air, on: false }",
        "inject: { sensor: stuck, for: 2 min }",
        "wait_until: { alarm: RESERVOIR_LOW, timeout: 1 h, already_active: ok }",
        "check: { id: s, setting: basal_ul_h, max: 100 uL/h }",
        "check: { id: t, setting: { field: therapy, at: a }, min: on }",
    ] {
        let plan = yaml(&format!("{head}  - {step}\n"));
        let errors: Vec<String> = validator.iter_errors(&plan).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{step}: {errors:?}");
    }
    for step in [
        "inject: corrupt_next_response",
        "inject: { link: corrupt, permille: 1001 }",
        "inject: { sensor: smoke }",
        "check: { id: s, setting: basal, max: 100 uL/h }",
    ] {
        assert!(!validator.is_valid(&yaml(&format!("{head}  - {step}\n"))), "{step} should not validate");
    }
}
