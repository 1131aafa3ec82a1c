//! A correct pump never fails: firmware that does better than the plans assume (it raises
//! `MOTOR_STALL` at the first stroke that does not complete, on a fast line whose outflow stops
//! within seconds) passes every check. Seen on a software bench written by someone else: an alarm
//! that came before the rig's own estimate of the flow stopping read as "did not occur".
//!
//! The twin here is nominal firmware, configured as the ICD allows (`stall_attempts: 1`), on a
//! test line with τ = R·C = 0.5 µL/kPa × 10 kPa·s/µL = 5 s instead of the reference 30 s.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `rig/sim.yaml` with its stall detection immediate and its line τ = 5 s.
fn fast_stall_bench(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("rig/sim.yaml")).unwrap();
    let faults = text.lines().find(|l| l.trim_start().starts_with("faults:")).expect("rig/sim.yaml lists faults");
    let text = text
        .replace(faults, &format!("{faults}\n  stall_attempts: 1"))
        .replace("resistance_kpa_s_per_ul: 60", "resistance_kpa_s_per_ul: 10");
    assert!(text.contains("stall_attempts: 1") && text.contains("resistance_kpa_s_per_ul: 10"), "{text}");
    let path = dir.join("fast-stall.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[derive(serde::Deserialize)]
struct Result {
    plan: String,
    verdict: String,
    checks: Vec<Check>,
}

#[derive(serde::Deserialize)]
struct Check {
    id: String,
    verdict: String,
    value: Option<f64>,
    uncertainty: Option<f64>,
}

#[test]
fn immediate_stall_detection_on_a_fast_line_passes_every_withdrawal_check() {
    let dir = tempfile::tempdir().unwrap();
    let bench = fast_stall_bench(dir.path());
    let out = dir.path().join("runs");
    let run = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(root())
        .args(["run", "test-plans/withdrawal-motor-stall.yaml", "test-plans/withdrawal-reservoir.yaml"])
        .arg("--bench")
        .arg(&bench)
        .arg("--out")
        .arg(&out)
        .args(["--operator", "test"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));

    let mut results: Vec<Result> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| {
            serde_yaml::from_str(&std::fs::read_to_string(e.unwrap().path().join("result.yaml")).unwrap()).unwrap()
        })
        .collect();
    results.sort_by(|a, b| a.plan.cmp(&b.plan));
    assert_eq!(
        results.iter().map(|r| r.plan.as_str()).collect::<Vec<_>>(),
        ["WITHDRAWAL-MOTOR-STALL", "WITHDRAWAL-RESERVOIR"]
    );
    for r in &results {
        assert_eq!(r.verdict, "PASS", "{}: {stdout}", r.plan);
        for c in &r.checks {
            assert_eq!(c.verdict, "PASS", "{} {}: {stdout}", r.plan, c.id);
        }
    }
    // The stall is detected at once: the alarm follows the flow stop as the sensor saw it by
    // about the width of the estimate's uncertainty, possibly before it, and that is a pass.
    let stall = &results[0];
    let from_flow_stop = stall.checks.iter().find(|c| c.id == "stall-alarm-from-flow-stop").expect("the check ran");
    let (value, uncertainty) = (from_flow_stop.value.unwrap(), from_flow_stop.uncertainty.unwrap());
    assert!(value <= uncertainty + 1.0, "MOTOR_STALL {value} ± {uncertainty} s after the flow stopped: not immediate");
    let from_injection = stall.checks.iter().find(|c| c.id == "stall-alarm-from-injection").expect("the check ran");
    assert!(from_injection.value.unwrap() < 5.0, "stall_attempts: 1 did not make detection immediate");
}
