//! The run bundle as a reviewer receives it: every file present and parseable (JUnit by an
//! independent XML parser), `rig verify` passing on it and failing, naming the file, when one
//! byte of any file changes or a file goes missing or appears; baselines approved and compared;
//! an expired calibration refusing evidence unless allowed, and then saying so first.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rig::evidence::baseline::ApprovedBaseline;
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

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The first text of the report's body.
fn first_text(html: &str) -> String {
    let body = &html[html.find("<body").unwrap()..];
    body.split('>').map(|s| s.split('<').next().unwrap().trim()).find(|s| !s.is_empty()).unwrap().to_string()
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

    // The approved baseline says where it came from.
    let approved = baseline.join("OCC-TIME-TO-ALARM_500uLh.result.yaml");
    let mut file: ApprovedBaseline = serde_yaml::from_str(&std::fs::read_to_string(&approved).unwrap()).unwrap();
    let source = case_dirs(&first).into_iter().find(|d| d.to_string_lossy().ends_with("_500uLh")).unwrap();
    assert_eq!(file.approval.source_bundle, source.display().to_string());
    assert_eq!(
        file.approval.source_manifest_sha256,
        sha256_hex(&std::fs::read(source.join("MANIFEST.sha256")).unwrap())
    );
    assert_eq!(file.approval.bench.kind, "twin");
    assert!(!file.approval.approver.is_empty() && !file.approval.approver_source.is_empty());
    assert_eq!(file.approval.instruments[0].reported_serial_number.as_deref(), Some("539230209"));
    assert!(file.approval.pump.as_ref().is_some_and(|p| !p.build.is_empty()));
    assert!(file.approval.forced.is_none());

    // The approved time to alarm was 5 minutes shorter: the same run now drifts, though every
    // limit still passes, and every file of its bundle says so.
    let check = file.result.checks.iter_mut().find(|c| c.id == "time-to-alarm").unwrap();
    check.value = check.value.map(|v| v - 300.0);
    std::fs::write(&approved, serde_yaml::to_string(&file).unwrap()).unwrap();
    let drifted = run_into(&out.path().join("third"), &["--baseline", b]);
    assert_eq!(drifted.status.code(), Some(1), "{}", text(&drifted));
    assert!(text(&drifted).contains("DRIFT  time-to-alarm"), "{}", text(&drifted));
    assert!(!text(&drifted).contains("FAIL "), "every limit still passes: {}", text(&drifted));
    let dir =
        case_dirs(&out.path().join("third")).into_iter().find(|d| d.to_string_lossy().ends_with("_500uLh")).unwrap();
    assert_eq!(rig(&["verify", dir.to_str().unwrap()]).status.code(), Some(0), "the drift is sealed in the bundle");
    let record: CaseRecord = serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
    let compared = record.baseline.as_ref().expect("the baseline compared against is recorded");
    assert_eq!(compared.file, approved.display().to_string());
    assert_eq!(compared.sha256.as_deref(), Some(sha256_hex(&std::fs::read(&approved).unwrap()).as_str()));
    assert_eq!(compared.approval.as_ref().map(|a| a.source_bundle.clone()), Some(source.display().to_string()));
    assert_eq!(compared.findings.len(), 1, "{:?}", compared.findings);
    assert_eq!(compared.findings[0].check, "time-to-alarm");
    let result: CaseResult = serde_yaml::from_str(&std::fs::read_to_string(dir.join("result.yaml")).unwrap()).unwrap();
    assert_eq!(result.verdict, rig::run::Verdict::Pass);
    assert_eq!(result.baseline_drift.len(), 1, "{result:?}");
    assert!(result.baseline_drift[0].starts_with("time-to-alarm: "), "{result:?}");
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failures: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("failure")).collect();
    assert_eq!(failures.len(), 1, "a CI server reading JUnit sees the drift: {xml}");
    assert!(failures[0].attribute("message").unwrap().starts_with("drift from the approved baseline"), "{xml}");
    let suite = doc.descendants().find(|n| n.has_tag_name("testsuite")).unwrap();
    assert_eq!(suite.attribute("failures"), Some("1"));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(first_text(&html).starts_with("DRIFT FROM THE APPROVED BASELINE"), "{}", first_text(&html));
    assert!(html.contains("<td class=\"bad\">") && html.contains("drifted from the approved"), "a report row");

    // A baseline from another kind of bench says so (not a finding).
    file.approval.bench.kind = "hardware".into();
    std::fs::write(&approved, serde_yaml::to_string(&file).unwrap()).unwrap();
    let other = run_into(&out.path().join("fourth"), &["--baseline", b]);
    assert!(text(&other).contains("baseline note: approved on a hardware bench"), "{}", text(&other));

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
        let result: CaseResult =
            serde_yaml::from_str(&std::fs::read_to_string(dir.join("result.yaml")).unwrap()).unwrap();
        assert_eq!(result.evidence_caveats.len(), 1, "{result:?}");
        assert!(
            result.evidence_caveats[0]
                .starts_with("calibration expired: flow sensor LD20-0600L 539230209, due 2020-01-31")
        );
        let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let not_valid: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("property") && n.attribute("name") == Some("evidence.not_valid"))
            .collect();
        assert_eq!(not_valid.len(), 1, "{xml}");
        assert!(not_valid[0].attribute("value").unwrap().contains("2020-01-31"));
        let system_out = doc.descendants().find(|n| n.has_tag_name("system-out")).map(|n| n.text().unwrap_or_default());
        assert!(system_out.is_some_and(|t| t.starts_with("NOT VALID AS EVIDENCE")), "{xml}");
        // And such a run is not approved as a baseline without --force --reason.
        let refused =
            rig(&["approve", dir.to_str().unwrap(), "--baseline", out.path().join("baseline").to_str().unwrap()]);
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
        assert!(text(&refused).contains("calibration expired"), "{}", text(&refused));
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

/// A twin bench whose flow sensor serial is `serial` in the bench file.
fn bench_with_sensor_serial(dir: &Path, serial: &str) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(ROOT).join("rig/sim.yaml")).unwrap();
    let changed = text.replace("serial_number: \"539230209\"", &format!("serial_number: \"{serial}\""));
    assert_ne!(changed, text);
    let path = dir.join("bench.yaml");
    std::fs::write(&path, changed).unwrap();
    path
}

#[test]
fn a_placeholder_sensor_serial_refuses_evidence_unless_allowed_and_then_says_so_first() {
    let out = tempfile::tempdir().unwrap();
    // The twin's sensor reports its own serial (539230209) when the bench file gives no number.
    let bench = bench_with_sensor_serial(out.path(), "REPLACE-WITH-SENSOR-SERIAL");
    let b = bench.to_str().unwrap();
    let refused = run_into(&out.path().join("refused"), &["--bench", b]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let message = text(&refused);
    assert!(message.contains("reports serial 539230209"), "names what the sensor said: {message}");
    assert!(message.contains("\"REPLACE-WITH-SENSOR-SERIAL\""), "names what the bench file says: {message}");
    assert!(message.contains("--allow-identity-mismatch"), "{message}");
    assert!(!out.path().join("refused").exists() || case_dirs(&out.path().join("refused")).is_empty(), "no evidence");

    let allowed = run_into(&out.path().join("allowed"), &["--bench", b, "--allow-identity-mismatch"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed));
    for dir in case_dirs(&out.path().join("allowed")) {
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(first_text(&html).starts_with("IDENTITY NOT CONFIRMED"), "{}", first_text(&html));
        let record: CaseRecord =
            serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
        assert!(record.bench.identity_mismatch_allowed);
        let sensor = &record.instruments[0];
        assert_eq!(sensor.serial_number, "REPLACE-WITH-SENSOR-SERIAL");
        assert_eq!(sensor.reported.as_ref().map(|r| r.serial_number.as_str()), Some("539230209"));
        assert_eq!(sensor.identity, rig::evidence::record::IdentityCheck::Mismatch);
        let result: CaseResult =
            serde_yaml::from_str(&std::fs::read_to_string(dir.join("result.yaml")).unwrap()).unwrap();
        assert!(result.evidence_caveats.iter().any(|c| c.starts_with("identity mismatch: flow sensor")), "{result:?}");
        let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
        assert!(xml.contains("name=\"evidence.not_valid\" value=\"identity mismatch: flow sensor"), "{xml}");
    }
}

#[test]
fn the_record_names_the_sensor_as_it_reported_itself_and_the_operator_with_its_source() {
    let out = tempfile::tempdir().unwrap();
    let o = run_into(out.path(), &["--operator", "j.doe"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = &case_dirs(out.path())[0];
    let record: CaseRecord = serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
    assert_eq!(record.format, rig::evidence::record::RECORD_FORMAT);
    assert_eq!((record.operator.as_str(), record.operator_source.as_str()), ("j.doe", "--operator"));
    let sensor = &record.instruments[0];
    assert_eq!(sensor.identity, rig::evidence::record::IdentityCheck::Confirmed);
    assert_eq!(sensor.reported.as_ref().map(|r| r.product_number.as_str()), Some("0x07030102"));
    assert_eq!(record.instruments[1].identity, rig::evidence::record::IdentityCheck::DeclaredOnly);
    // Which rig: the executable's own hash and the target triple.
    let exe = std::fs::read(env!("CARGO_BIN_EXE_rig")).unwrap();
    assert_eq!(record.rig.executable_sha256, sha256_hex(&exe));
    assert!(record.rig.target.contains("linux"), "{}", record.rig.target);
    assert!(record.signing.is_none());

    // From the environment, and by default from the login or the password entry: never $USER.
    let o = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(ROOT)
        .env("RIG_OPERATOR", "nightly-ci")
        .args(["run", "test-plans/communication.yaml", "--quiet", "--out", out.path().join("env").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = &case_dirs(&out.path().join("env"))[0];
    let record: CaseRecord = serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
    assert_eq!((record.operator.as_str(), record.operator_source.as_str()), ("nightly-ci", "RIG_OPERATOR"));
    let o = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(ROOT)
        .env_remove("RIG_OPERATOR")
        .env("USER", "anyone-at-all")
        .args(["run", "test-plans/communication.yaml", "--quiet", "--out", out.path().join("login").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let dir = &case_dirs(&out.path().join("login"))[0];
    let record: CaseRecord = serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
    assert_ne!(record.operator, "anyone-at-all");
    assert!(
        record.operator_source == "login name (getlogin)"
            || record.operator_source.starts_with("password entry of uid "),
        "{}",
        record.operator_source
    );
}

#[test]
fn a_bench_that_cannot_be_opened_is_one_error_bundle_and_the_rest_not_started() {
    let out = tempfile::tempdir().unwrap();
    // The reference Pi bench, on a machine without its devices.
    let o = rig(&["run", "--bench", "rig/pi.yaml", "--quiet", "--out", out.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let dirs = case_dirs(out.path());
    assert_eq!(dirs.len(), 1, "one ERROR bundle, not one per case: {dirs:?}");
    let verified = rig(&["verify", dirs[0].to_str().unwrap()]);
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    let record: CaseRecord =
        serde_json::from_str(&std::fs::read_to_string(dirs[0].join("record.json")).unwrap()).unwrap();
    assert_eq!(record.verdict, rig::run::Verdict::Error);
    // The valve line is taken first (so a valve a killed run left closed opens at once): the
    // first device missing here is the GPIO chip.
    assert!(record.reason.as_deref().is_some_and(|r| r.contains("/dev/gpiochip0")), "{:?}", record.reason);
    assert_eq!(record.instruments[0].identity, rig::evidence::record::IdentityCheck::NotRead);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.contains("not started: the bench could not be opened")).count(),
        11,
        "{stdout}"
    );
}

#[test]
fn runs_started_together_never_share_or_replace_a_folder() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_rig"))
            .current_dir(ROOT)
            .args(["run", "test-plans/communication.yaml", "--quiet", "--out", o])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let runs: Vec<_> = (0..3).map(|_| start()).collect();
    for r in runs {
        let o = r.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let dirs = case_dirs(out.path());
    assert_eq!(dirs.len(), 3, "one folder per run: {dirs:?}");
    let mut ids: Vec<String> = dirs
        .iter()
        .map(|d| {
            let record: CaseRecord =
                serde_json::from_str(&std::fs::read_to_string(d.join("record.json")).unwrap()).unwrap();
            assert!(d.to_string_lossy().contains(&format!("_{}_", record.run_id)), "{}", d.display());
            record.run_id
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    for d in &dirs {
        assert_eq!(rig(&["verify", d.to_str().unwrap()]).status.code(), Some(0));
    }
}

#[test]
fn only_a_verified_pass_is_approved_unless_forced_with_a_reason() {
    let out = tempfile::tempdir().unwrap();
    let baseline = out.path().join("baseline");
    let b = baseline.to_str().unwrap();
    // A FAIL: the twin seeded with a defect the occlusion plan catches.
    let failed = run_into(&out.path().join("failed"), &["--fault", "occlusion-ack-early"]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let dir = &case_dirs(&out.path().join("failed"))[0];
    let d = dir.to_str().unwrap();
    let refused = rig(&["approve", d, "--baseline", b]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("verdict FAIL") && text(&refused).contains("--force --reason"),
        "{}",
        text(&refused)
    );
    assert!(!baseline.exists() || std::fs::read_dir(&baseline).unwrap().next().is_none(), "nothing approved");
    let no_reason = rig(&["approve", d, "--baseline", b, "--force"]);
    assert_eq!(no_reason.status.code(), Some(2), "{}", text(&no_reason));

    let forced = rig(&["approve", d, "--baseline", b, "--force", "--reason", "known defect, tracked as BUG-7"]);
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    let file = std::fs::read_dir(&baseline).unwrap().next().unwrap().unwrap().path();
    let approved: ApprovedBaseline = serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let f = approved.approval.forced.expect("a forced approval is recorded");
    assert_eq!(f.reason, "known defect, tracked as BUG-7");
    assert!(f.overriding.iter().any(|o| o == "verdict FAIL"), "{:?}", f.overriding);

    // An ERROR bundle (no checks) from a bench that could not be opened.
    let o = rig(&["run", "--bench", "rig/pi.yaml", "--quiet", "--out", out.path().join("error").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let dir = &case_dirs(&out.path().join("error"))[0];
    let refused = rig(&["approve", dir.to_str().unwrap(), "--baseline", b]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("no checks were made"), "{}", text(&refused));
}

#[test]
fn verify_does_not_hang_on_a_fifo_or_follow_a_symlink_out_of_the_bundle() {
    let out = tempfile::tempdir().unwrap();
    assert_eq!(run_into(out.path(), &[]).status.code(), Some(0));
    let dir = &case_dirs(out.path())[0];
    let outside = out.path().join("outside.csv");
    std::fs::rename(dir.join("samples.csv"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("samples.csv")).unwrap();
    nix::unistd::mkfifo(&dir.join("events.jsonl.fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    std::fs::remove_file(dir.join("events.jsonl")).unwrap();
    nix::unistd::mkfifo(&dir.join("events.jsonl"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(["verify", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("rig verify hung on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("events.jsonl: unreadable: it is a FIFO (named pipe), not a regular file: not read"),
        "{stdout}"
    );
    assert!(
        stdout.contains("samples.csv: unreadable: it is a symbolic link, not a regular file: not read"),
        "{stdout}"
    );
    assert!(stdout.contains("events.jsonl.fifo: extra"), "{stdout}");
}
