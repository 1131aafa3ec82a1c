//! SIGINT and SIGTERM reach a run on the in-process twin, whose runtime has no I/O driver (the
//! signals are listened for on a thread of their own): the run stops at once, exits 130, leaves
//! the twin's bench safe and keeps every sample taken up to the signal.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn samples_csv(out: &Path) -> Option<PathBuf> {
    let case = std::fs::read_dir(out).ok()?.next()?.ok()?.path();
    Some(case.join("samples.csv"))
}

fn interrupted(signal: nix::sys::signal::Signal) {
    let out = tempfile::tempdir().unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "fixtures/plans/twin-interrupt.yaml", "--quiet", "--out"])
        .arg(out.path())
        .env("RIG_OPERATOR", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Running: samples are on disk (flushed at least once a wall-clock second).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines =
            samples_csv(out.path()).and_then(|c| std::fs::read_to_string(c).ok()).map_or(0, |t| t.lines().count());
        if lines > 100 {
            break;
        }
        assert!(run.try_wait().unwrap().is_none(), "the run ended before the signal");
        assert!(Instant::now() < deadline, "the run wrote no samples");
        std::thread::sleep(Duration::from_millis(50));
    }
    let signalled = Instant::now();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.id() as i32), signal).unwrap();
    let status = loop {
        if let Some(s) = run.try_wait().unwrap() {
            break s;
        }
        assert!(signalled.elapsed() < Duration::from_secs(10), "rig run did not stop on {signal}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(run.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert_eq!(status.code(), Some(130), "exit code for {signal}: {stdout}");
    assert!(stdout.contains("ABORTED"), "{stdout}");

    let csv = samples_csv(out.path()).unwrap();
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(csv.with_file_name("record.json")).unwrap()).unwrap();
    assert_eq!(record["safe_state"]["reached"], true, "{}", record["safe_state"]);
    assert!(
        record["reason"].as_str().unwrap_or_default().contains(&format!("interrupted by {signal}")),
        "{}",
        record["reason"]
    );
    // Every sample up to the signal is kept, whole, on the period grid.
    let samples = std::fs::read_to_string(&csv).unwrap();
    let times: Vec<f64> = samples.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert!(times.len() > 100, "{} samples", times.len());
    assert!(times.windows(2).all(|w| (w[1] - w[0] - 1.0).abs() < 1e-6), "one sample a second, none lost");
}

#[test]
fn sigint_stops_a_twin_run_safely() {
    interrupted(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn sigterm_stops_a_twin_run_safely() {
    interrupted(nix::sys::signal::Signal::SIGTERM);
}
