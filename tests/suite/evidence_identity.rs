//! The sensor's identity as it reports it, on a bench reached like real hardware (`rig sim` as
//! a child process): a bench file whose serial differs from the sensor's own refuses evidence
//! before anything runs, naming both.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::sim_child;

use std::process::Command;

use sim_child::Sim;

#[test]
fn a_sensor_serial_other_than_the_bench_files_refuses_evidence_naming_both() {
    let sim = Sim::start();
    let bench = sim.dir.path().join("wrong-serial.yaml");
    std::fs::write(
        &bench,
        format!(
            "name: wrong-serial
connection:
  kind: sim-process
  serial: {}
  bus: {}
flow_sensor:
  model: LD20-0600L
  address: 0x08
  serial_number: \"111111111\"
  calibration_due: 2099-12-31
  accuracy: {{ percent_of_reading: 5.0, floor_ul_h: 1.0 }}
valve:
  line: 17
  model: test valve
  serial_number: V-1
",
            sim.pump.display(),
            sim.bus.display()
        ),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "test-plans/communication.yaml", "--quiet", "--out"])
        .arg(out.path())
        .arg("--bench")
        .arg(&bench)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("reports serial 539230209") && stderr.contains("says \"111111111\""), "{stderr}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "no evidence was produced");
}
