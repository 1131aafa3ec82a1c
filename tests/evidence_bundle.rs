//! The run bundle as a reviewer receives it: every file present and parseable (JUnit by an
//! independent XML parser), `rig verify` passing on it and failing, naming the file, when one
//! byte of any file changes or a file goes missing or appears; baselines approved and compared;
//! an expired calibration refusing evidence unless allowed, and then saying so first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rig::evidence::bundle::BUNDLE_FILES;
use rig::evidence::record::CaseRecord;
use rig::evidence::result::CaseResult;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn rig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rig")).current_dir(ROOT).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run_into(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "test-plans/occlusion-time-to-alarm.yaml", "--quiet", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    rig(&args)
}

fn case_dirs(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    dirs
}

#[test]
fn every_bundle_file_exists_and_parses() {
    let out = tempfile::tempdir().unwrap();
    let o = run_into(out.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dirs = case_dirs(out.path());
    assert_eq!(dirs.len(), 2, "one folder per case");
    for dir in &dirs {
        for f in BUNDLE_FILES.iter().chain(["MANIFEST.sha256"].iter()) {
            assert!(dir.join(f).is_file(), "{} lacks {f}", dir.display());
        }
        let record: CaseRecord =
            serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
        assert_eq!(record.plan.id, "OCC-TIME-TO-ALARM");
        assert_eq!(record.plan.sha256.len(), 64);
        assert_eq!(record.bench.sha256.len(), 64);
        assert!(record.pump.as_ref().is_some_and(|p| !p.build.is_empty()), "the pump's ID is recorded");
        assert!(record.instruments.iter().any(|i| i.calibration_due.is_some() && !i.serial_number.is_empty()));
        assert!(!record.rig.git_commit.is_empty() && !record.rig.version.is_empty());
        assert!(record.steps.iter().all(|s| s.finished_s.is_some_and(|f| f >= s.started_s)), "every step timed");
        assert!(record.checks.iter().all(|c| c.verdict == rig::run::Verdict::Pass));
        assert!(record.safe_state.reached);
        assert!(!record.valve_closed.is_empty() && record.valve_closed.iter().all(|s| s.to_s.is_some()));

        let result: CaseResult =
            serde_yaml::from_str(&std::fs::read_to_string(dir.join("result.yaml")).unwrap()).unwrap();
        assert_eq!(result.checks.len(), record.checks.len());

        let samples = std::fs::read_to_string(dir.join("samples.csv")).unwrap();
        assert_eq!(samples.lines().count(), record.samples + 1, "a header and a line per sample");
        for line in std::fs::read_to_string(dir.join("events.jsonl")).unwrap().lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }

        // JUnit, read by an independent parser.
        let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let suites: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).collect();
        assert_eq!(suites.len(), 1, "one testsuite per plan case");
        let cases: Vec<_> = suites[0].children().filter(|n| n.has_tag_name("testcase")).collect();
        assert_eq!(cases.len(), record.checks.len(), "one testcase per check");
        assert_eq!(suites[0].attribute("tests"), Some(cases.len().to_string().as_str()));
        assert_eq!(suites[0].attribute("failures"), Some("0"));
        let requirement_properties = doc
            .descendants()
            .filter(|n| n.has_tag_name("property") && n.attribute("name") == Some("requirement"))
            .count();
        assert!(requirement_properties >= 5, "requirement ids as properties");

        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        // One figure: flow, volume, pressure and reservoir against time, the event lanes under it.
        assert!(html.starts_with("<!DOCTYPE html>") && html.matches("<svg").count() >= 1);
        assert!(html.contains(">pressure (kPa)</text>") && html.contains("class=\"lane-label\""));
        assert!(html.contains("OCCLUSION") && html.contains("occluded") && html.contains("valve closed"));
    }
}

#[test]
fn verify_passes_and_names_any_changed_missing_or_extra_file() {
    let out = tempfile::tempdir().unwrap();
    assert_eq!(run_into(out.path(), &[]).status.code(), Some(0));
    let dir = &case_dirs(out.path())[0];
    let d = dir.to_str().unwrap();
    let ok = rig(&["verify", d]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));

    for name in BUNDLE_FILES.iter().chain(["MANIFEST.sha256"].iter()) {
        let path = dir.join(name);
        let original = std::fs::read(&path).unwrap();
        for at in [0, original.len() / 2, original.len() - 1] {
            let mut changed = original.clone();
            changed[at] ^= 0x01;
            std::fs::write(&path, &changed).unwrap();
            let bad = rig(&["verify", d]);
            assert_eq!(bad.status.code(), Some(1), "one byte of {name} changed at {at}: {}", text(&bad));
            let expect = if *name == "MANIFEST.sha256" { "" } else { name };
            assert!(text(&bad).contains(expect), "the failure names {name}: {}", text(&bad));
        }
        std::fs::write(&path, &original).unwrap();
    }
    assert_eq!(rig(&["verify", d]).status.code(), Some(0), "restored");

    std::fs::rename(dir.join("report.html"), out.path().join("moved.html")).unwrap();
    let missing = rig(&["verify", d]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).contains("report.html"), "{}", text(&missing));
    std::fs::rename(out.path().join("moved.html"), dir.join("report.html")).unwrap();

    std::fs::write(dir.join("notes.txt"), "added later").unwrap();
    let extra = rig(&["verify", d]);
    assert_eq!(extra.status.code(), Some(1));
    assert!(text(&extra).contains("notes.txt"), "{}", text(&extra));
}

#[test]
fn baselines_are_approved_compared_and_drift_is_a_finding() {
    let out = tempfile::tempdir().unwrap();
    let baseline = out.path().join("baseline");
    let first = out.path().join("first");
    let b = baseline.to_str().unwrap();

    // No baseline yet: reported, not an error.
    let o = run_into(&first, &["--baseline", b]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("none approved yet"), "{}", text(&o));

    for dir in case_dirs(&first) {
        let a = rig(&["approve", dir.to_str().unwrap(), "--baseline", b]);
        assert_eq!(a.status.code(), Some(0), "{}", text(&a));
    }
    let again = run_into(&out.path().join("second"), &["--baseline", b]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(text(&again).matches("matches the approved result").count(), 2, "{}", text(&again));

    // The approved time to alarm was 5 minutes shorter: the same run now drifts, though every
    // limit still passes.
    let approved = baseline.join("OCC-TIME-TO-ALARM_500uLh.result.yaml");
    let mut result: CaseResult = serde_yaml::from_str(&std::fs::read_to_string(&approved).unwrap()).unwrap();
    let check = result.checks.iter_mut().find(|c| c.id == "time-to-alarm").unwrap();
    check.value = check.value.map(|v| v - 300.0);
    std::fs::write(&approved, serde_yaml::to_string(&result).unwrap()).unwrap();
    let drifted = run_into(&out.path().join("third"), &["--baseline", b]);
    assert_eq!(drifted.status.code(), Some(1), "{}", text(&drifted));
    assert!(text(&drifted).contains("DRIFT  time-to-alarm"), "{}", text(&drifted));
    assert!(!text(&drifted).contains("FAIL "), "every limit still passes: {}", text(&drifted));

    // A bundle that does not verify is not approved.
    let dir = &case_dirs(&first)[0];
    std::fs::write(dir.join("result.yaml"), "tampered").unwrap();
    let refused = rig(&["approve", dir.to_str().unwrap(), "--baseline", b]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
}

#[test]
fn an_expired_calibration_refuses_evidence_unless_allowed_and_then_says_so_first() {
    let out = tempfile::tempdir().unwrap();
    let bench_text = std::fs::read_to_string(Path::new(ROOT).join("rig/sim.yaml")).unwrap();
    let bench = out.path().join("expired.yaml");
    std::fs::write(&bench, bench_text.replace("calibration_due: 2099-12-31", "calibration_due: 2020-01-31")).unwrap();
    let b = bench.to_str().unwrap();

    let refused = run_into(&out.path().join("refused"), &["--bench", b]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let message = text(&refused);
    assert!(message.contains("2020-01-31") && message.contains("539230209"), "names the instrument: {message}");
    assert!(message.contains("--allow-expired-calibration"), "{message}");
    assert!(!out.path().join("refused").exists(), "nothing was run");

    let allowed = run_into(&out.path().join("allowed"), &["--bench", b, "--allow-expired-calibration"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed));
    for dir in case_dirs(&out.path().join("allowed")) {
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        let body = &html[html.find("<body").unwrap()..];
        let first_text = body.split('>').map(|s| s.split('<').next().unwrap().trim()).find(|s| !s.is_empty()).unwrap();
        assert!(first_text.starts_with("CALIBRATION EXPIRED"), "first text of the report: {first_text:?}");
        let record: CaseRecord =
            serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
        assert!(record.bench.expired_calibration_allowed);
    }
}

#[test]
fn a_result_within_its_uncertainty_of_a_limit_is_inconclusive_not_a_pass() {
    let out = tempfile::tempdir().unwrap();
    let o = rig(&["run", "fixtures/plans/guard-band.yaml", "--quiet", "--out", out.path().to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stdout.contains("PASS   clear-pass"), "{stdout}");
    assert!(stdout.contains("INCONCLUSIVE within-uncertainty"), "{stdout}");
    assert!(stdout.starts_with("INCONCLUSIVE GUARD-BAND"), "{stdout}");

    let dir = &case_dirs(out.path())[0];
    let record: CaseRecord = serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
    let check = record.checks.iter().find(|c| c.id == "within-uncertainty").unwrap();
    assert_eq!(check.decision, rig::run::decision::Decision::PassWithinUncertainty);
    let (value, u) = (check.value.unwrap(), check.uncertainty.unwrap());
    assert!(value <= 104.0 && value + u > 104.0, "{value} ± {u}");

    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
    assert_eq!(failures.len(), 1, "an inconclusive check is not a pass for the CI server");
    assert!(failures[0].attribute("message").unwrap().starts_with("INCONCLUSIVE"));
}
