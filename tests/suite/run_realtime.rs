//! `rig run` against `rig sim` in real time, over the pty and the bench bus: the same plan gives
//! the same verdicts as on the in-process twin, and SIGINT or SIGTERM leaves the simulator with
//! therapy stopped and the valve line at 0, exits 130, and keeps the samples up to the signal.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::icd;
use crate::sim_child;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sim_child::Sim;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn rig() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rig"));
    c.current_dir(ROOT);
    c
}

/// The in-process twin with the same fast test line as `Sim::start` gives the simulator.
fn fast_twin_bench(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(ROOT).join("rig/sim.yaml")).unwrap();
    let path = dir.join("fast-twin.yaml");
    std::fs::write(&path, text.replace("resistance_kpa_s_per_ul: 60", "resistance_kpa_s_per_ul: 4")).unwrap();
    path
}

/// A sim-process bench file reaching `sim`.
fn pty_bench(sim: &Sim) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(ROOT).join("rig/sim-pty.yaml")).unwrap();
    let text = text
        .replace("/tmp/rig-sim-{uid}/pump", &sim.pump.to_string_lossy())
        .replace("/tmp/rig-sim-{uid}/bus.sock", &sim.bus.to_string_lossy());
    let path = sim.dir.path().join("pty-bench.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `(check id, verdict)` for every check line of `rig run`'s summary.
fn verdicts(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("  ") && !l.trim_start().starts_with("stopped"))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.nth(1)?.to_string(), l.split_whitespace().next()?.to_string()))
        })
        .collect()
}

#[test]
fn same_plan_same_verdicts_in_process_and_over_the_pty() {
    let plan = "fixtures/plans/realtime-smoke.yaml";
    let out = tempfile::tempdir().unwrap();

    let in_process = rig()
        .args(["run", plan, "--quiet", "--out"])
        .arg(out.path().join("twin"))
        .arg("--bench")
        .arg(fast_twin_bench(out.path()))
        .output()
        .unwrap();
    let twin_stdout = String::from_utf8_lossy(&in_process.stdout).to_string();
    assert_eq!(in_process.status.code(), Some(0), "{twin_stdout}{}", String::from_utf8_lossy(&in_process.stderr));

    let sim = Sim::start();
    let started = Instant::now();
    let over_pty = rig()
        .args(["run", plan, "--quiet", "--out"])
        .arg(out.path().join("pty"))
        .arg("--bench")
        .arg(pty_bench(&sim))
        .output()
        .unwrap();
    let wall = started.elapsed();
    let pty_stdout = String::from_utf8_lossy(&over_pty.stdout).to_string();
    assert_eq!(over_pty.status.code(), Some(0), "{pty_stdout}{}", String::from_utf8_lossy(&over_pty.stderr));

    let (a, b) = (verdicts(&twin_stdout), verdicts(&pty_stdout));
    assert_eq!(a.len(), 7, "{twin_stdout}");
    assert_eq!(a, b, "in-process:\n{twin_stdout}\nover the pty:\n{pty_stdout}");
    // 18 s of plan in real time, plus opening the bench.
    assert!(wall >= Duration::from_secs(18) && wall < Duration::from_secs(30), "took {wall:?}");
    assert_events_in_time_order(&out.path().join("pty"));
    assert_sampler_statistics(&out.path().join("twin"), false);
    assert_sampler_statistics(&out.path().join("pty"), true);
}

/// Every record under `runs` says how its sampler kept its deadlines: one deadline per sample
/// or failed read, and wake-up and read timing measured in real time only.
fn assert_sampler_statistics(runs: &Path, real_time: bool) {
    for bundle in std::fs::read_dir(runs).unwrap() {
        let path = bundle.unwrap().path().join("record.json");
        let record: rig::evidence::record::CaseRecord =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let stats = record.sampler.unwrap_or_else(|| panic!("{}: no sampler statistics", path.display()));
        assert_eq!(stats.deadlines, record.samples as u64 + stats.failed_reads, "{}: {stats:?}", path.display());
        assert_eq!(stats.period_s, 0.5);
        assert_eq!(stats.wake_lateness.is_some(), real_time, "{stats:?}");
        assert_eq!(stats.read_duration.is_some(), real_time, "{stats:?}");
        if !real_time {
            assert!(stats.scheduling.policy.starts_with("virtual time"), "{stats:?}");
        }
    }
}

/// Every events.jsonl under `runs` lists its events in the order they happened: frames, samples,
/// pump events and steps come from different threads and tasks, each stamped when it happened.
fn assert_events_in_time_order(runs: &Path) {
    let mut checked = 0;
    for bundle in std::fs::read_dir(runs).unwrap() {
        let path = bundle.unwrap().path().join("events.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut last = f64::NEG_INFINITY;
        for (i, line) in text.lines().enumerate() {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            let at = event["at"].as_f64().unwrap();
            assert!(at >= last, "{}:{}: at {at} comes after {last}: {line}", path.display(), i + 1);
            last = at;
        }
        checked += 1;
    }
    assert!(checked > 0, "no bundles under {}", runs.display());
}

/// Reads one line answer from the bench bus.
fn bus(sim: &Sim, request: &str) -> String {
    let stream = UnixStream::connect(&sim.bus).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(stream);
    reader.get_mut().write_all(format!("{request}\n").as_bytes()).unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line.trim_end().to_string()
}

/// The pump's `state=` from a STATUS asked over the pty.
async fn pump_state(sim: &Sim) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_serial::SerialPortBuilderExt;
    let mut port = tokio_serial::new(sim.pump.to_string_lossy(), 115_200).open_native_async().unwrap();
    let request = format!("900 STATUS*{}\r\n", icd::crc_hex("900 STATUS"));
    AsyncWriteExt::write_all(&mut port, request.as_bytes()).await.unwrap();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !text.contains("900 OK") || !text[text.find("900 OK").unwrap()..].contains('\n') {
        assert!(Instant::now() < deadline, "no STATUS answer: {text:?}");
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(3), AsyncReadExt::read(&mut port, &mut buf))
            .await
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let answer = &text[text.find("900 OK").unwrap()..];
    answer.split_whitespace().find_map(|t| t.strip_prefix("state=")).unwrap().to_string()
}

fn wait_for_samples(out: &Path, lines: usize) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let csv = std::fs::read_dir(out)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path().join("samples.csv"));
        if let Some(csv) =
            csv.filter(|c| std::fs::read_to_string(c).map(|t| t.lines().count() > lines).unwrap_or(false))
        {
            return csv;
        }
        assert!(Instant::now() < deadline, "the run produced no samples");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `rig run` of the ten-minute closed-line plan against `sim`, its output piped.
fn start_long_run(sim: &Sim, out: &Path) -> Child {
    rig()
        .args(["run", "fixtures/plans/realtime-long.yaml", "--quiet", "--out"])
        .arg(out)
        .arg("--bench")
        .arg(pty_bench(sim))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

async fn interrupted_run_leaves_the_simulator_safe(signal: nix::sys::signal::Signal) {
    let sim = Sim::start();
    let out = tempfile::tempdir().unwrap();
    let mut run = start_long_run(&sim, out.path());
    // Running, the valve closed and the pump delivering into it.
    let csv = wait_for_samples(out.path(), 6);
    assert_eq!(bus(&sim, "GPIO 17 GET"), "OK 1", "the plan closed the valve");
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

    assert_eq!(bus(&sim, "GPIO 17 GET"), "OK 0", "valve line back at 0 after {signal}");
    assert_eq!(pump_state(&sim).await, "STOPPED", "therapy stopped after {signal}");

    let samples = std::fs::read_to_string(csv).unwrap();
    let last = samples.lines().last().unwrap();
    let t: f64 = last.split(',').next().unwrap().parse().unwrap();
    assert!(samples.lines().count() > 6 && t >= 3.0, "samples up to the signal kept: last line {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_aborts_and_leaves_the_simulator_safe() {
    interrupted_run_leaves_the_simulator_safe(nix::sys::signal::Signal::SIGINT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_aborts_and_leaves_the_simulator_safe() {
    interrupted_run_leaves_the_simulator_safe(nix::sys::signal::Signal::SIGTERM).await;
}

/// A second Ctrl-C right behind the first: whichever path wins (the orderly stop or the
/// emergency one), the run exits 130 with the bench safe and its samples whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_stops_at_once_and_leaves_the_simulator_safe() {
    use nix::sys::signal::{Signal, kill};
    let sim = Sim::start();
    let out = tempfile::tempdir().unwrap();
    let mut run = start_long_run(&sim, out.path());
    let csv = wait_for_samples(out.path(), 6);
    assert_eq!(bus(&sim, "GPIO 17 GET"), "OK 1", "the plan closed the valve");
    let pid = nix::unistd::Pid::from_raw(run.id() as i32);
    kill(pid, Signal::SIGINT).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    // The process may already be gone (the orderly stop won): that is not an error.
    let _ = kill(pid, Signal::SIGINT);
    let status = run.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(run.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("SIGINT"), "{stderr}");
    assert!(!stderr.contains("NOT"), "something was not made safe: {stderr}");

    assert_eq!(bus(&sim, "GPIO 17 GET"), "OK 0", "valve line back at 0");
    assert_eq!(pump_state(&sim).await, "STOPPED", "therapy stopped");
    let samples = std::fs::read_to_string(csv).unwrap();
    let lines = complete_lines(&samples, is_samples_line);
    assert!(lines.len() > 6, "the samples before the signals are kept: {} lines", lines.len());
}

/// Every line of a file, checked complete: the text ends with a newline (a torn last line
/// would not), and each line passes `valid`.
fn complete_lines(text: &str, valid: impl Fn(&str) -> bool) -> Vec<&str> {
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line: {:?}", text.lines().last());
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        assert!(valid(l), "line {} is not a whole record: {l:?}", i + 1);
    }
    lines
}

/// The header or a row of samples.csv, as the rig's one reader of the file parses it.
fn is_samples_line(line: &str) -> bool {
    use rig::run::reporters::samples_csv::{HEADER, SampleRow};
    line == HEADER || SampleRow::parse(line).is_ok()
}

fn sample_time(line: &str) -> f64 {
    line.split(',').next().unwrap().parse().unwrap()
}

/// SIGKILL cannot be caught, so nothing can make the bench safe (the valve driver's pull-down
/// and the pump's own alarms must); but the files are flushed every wall second, so every
/// line up to the last second before the kill is on disk, whole.
#[test]
fn sigkill_keeps_every_line_up_to_the_last_second() {
    let sim = Sim::start();
    let out = tempfile::tempdir().unwrap();
    let mut run = start_long_run(&sim, out.path());
    let csv = wait_for_samples(out.path(), 4);
    std::thread::sleep(Duration::from_millis(1500));
    let seen = std::fs::read_to_string(&csv).unwrap();
    let seen_last = sample_time(seen.lines().last().unwrap());
    // Two flush ticks, then the kill.
    std::thread::sleep(Duration::from_millis(2200));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    let status = run.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));

    let samples = std::fs::read_to_string(&csv).unwrap();
    let lines = complete_lines(&samples, is_samples_line);
    assert_eq!(lines[0], "time_s,flow_ul_h,volume_ul,valve_closed,pump_state,pressure_kpa,reservoir_ul,read_ms");
    let times: Vec<f64> = lines[1..].iter().map(|l| sample_time(l)).collect();
    // The sampler reads at each deadline k · 0.5 s of the rig's clock and stamps the sample
    // when the read started, after it woke, so a stamp lags its deadline by the wake-up
    // lateness (it never leads). A sample belongs to deadline floor(t / 0.5): consecutive
    // lines must name consecutive deadlines.
    let deadline = |t: f64| (t / 0.5 + 1e-9).floor() as i64;
    for w in times.windows(2) {
        assert_eq!(deadline(w[1]), deadline(w[0]) + 1, "a sample missing between {} and {}", w[0], w[1]);
    }
    let last = *times.last().unwrap();
    // 2.2 s passed between reading `seen_last` and the kill: at least one more second of
    // samples must have reached the disk.
    assert!(last >= seen_last + 1.0, "samples stop at {last} s, {seen_last} s was on disk 2.2 s before the kill");

    let events = std::fs::read_to_string(csv.with_file_name("events.jsonl")).unwrap();
    let events = complete_lines(&events, |l| serde_json::from_str::<serde_json::Value>(l).is_ok());
    let last_event: f64 = events
        .iter()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?.get("at")?.as_f64())
        .unwrap();
    assert!(last_event >= seen_last + 1.0, "events stop at {last_event} s");

    // The killed run left the sensor measuring (a measuring SF06-LF NACKs all but stop): the
    // next run on the same bench must recover it and sample.
    let next = tempfile::tempdir().unwrap();
    let mut run = start_long_run(&sim, next.path());
    wait_for_samples(next.path(), 2);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(130));
}
