//! Bench problems reach the user as one clear error naming the device and what to check, with
//! exit code 3 (the bench failed, not the pump) — never a panic.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::sim_child;

use std::path::Path;
use std::process::{Command, Output};

use sim_child::Sim;

/// A sim-process bench file pointing at `serial` and `bus`, with the sensor at `address`.
fn bench_file(dir: &Path, serial: &str, bus: &str, address: &str) -> std::path::PathBuf {
    let text = format!(
        "name: broken-bench
connection:
  kind: sim-process
  serial: {serial}
  bus: {bus}
flow_sensor:
  model: LD20-0600L
  address: {address}
  serial_number: \"539230209\"
  calibration_due: 2099-12-31
  accuracy: {{ percent_of_reading: 5.0, floor_ul_h: 1.0 }}
valve:
  line: 17
  model: test valve
  serial_number: V-1
"
    );
    let path = dir.join("bench.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check_bench(bench: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(["check-bench", "--seconds", "1", "--bench"])
        .arg(bench)
        .output()
        .expect("run rig")
}

fn assert_bench_error(out: &Output, must_contain: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "exit code 3 for a bench failure; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    for needle in must_contain {
        assert!(stderr.contains(needle), "stderr should mention {needle:?}: {stderr}");
    }
}

#[test]
fn nonexistent_serial_port() {
    let dir = tempfile::tempdir().unwrap();
    let bench = bench_file(dir.path(), "/dev/ttyRIG-NOPE", "/tmp/unused.sock", "0x08");
    assert_bench_error(&check_bench(&bench), &["/dev/ttyRIG-NOPE", "no such device", "rig sim"]);
}

#[tokio::test]
async fn bench_bus_socket_that_refuses() {
    let dir = tempfile::tempdir().unwrap();
    // A pty that opens fine, so the rig gets as far as the bench bus.
    let (_master, slave) = tokio_serial::SerialStream::pair().unwrap();
    let pty = tokio_serial::SerialPort::name(&slave).unwrap();
    drop(slave);
    // A socket file nobody listens on any more: connecting is refused.
    let sock = dir.path().join("bus.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let bench = bench_file(dir.path(), &pty, &sock.to_string_lossy(), "0x08");
    assert_bench_error(&check_bench(&bench), &[&sock.to_string_lossy(), "refused"]);
}

#[tokio::test]
async fn pump_that_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start();
    // The sensor and valve are there (the simulator's bus), but the pump's port is a pty whose
    // other end nobody serves.
    let (_master, slave) = tokio_serial::SerialStream::pair().unwrap();
    let pty = tokio_serial::SerialPort::name(&slave).unwrap();
    drop(slave);
    let bench = bench_file(dir.path(), &pty, &sim.bus.to_string_lossy(), "0x08");
    assert_bench_error(&check_bench(&bench), &[&pty, "no response to `STATUS` after 3 attempt(s)"]);
}

#[test]
fn sensor_that_nacks() {
    let sim = Sim::start();
    // The simulator's sensor sits at 0x08; nothing acknowledges at 0x09.
    let bench = bench_file(sim.dir.path(), &sim.pump.to_string_lossy(), &sim.bus.to_string_lossy(), "0x09");
    assert_bench_error(&check_bench(&bench), &["flow sensor LD20-0600L at 0x09", "no acknowledge"]);
}

#[test]
fn malformed_bench_file_is_a_usage_error_located_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bench = bench_file(dir.path(), "/dev/null", "/tmp/x.sock", "0x08");
    let text = std::fs::read_to_string(&bench).unwrap().replace("  line: 17", "  line: 17\n  colour: red");
    std::fs::write(&bench, text).unwrap();
    let out = check_bench(&bench);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:14:3: valve: unknown field `colour`", bench.display())), "{stderr}");
}
