//! `rig sim` as a child process, for tests that reach the twin as they would real hardware.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The simulator child; SIGTERM and reaped on drop so a failing test leaves nothing behind.
pub struct Sim {
    child: Child,
    pub pump: PathBuf,
    pub bus: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Sim {
    /// Starts `rig sim` with the built-in bench, but a test line whose time constant is 2 s
    /// (the reference line's 30 s would make a real-time test wait minutes for the flow).
    pub fn start() -> Sim {
        Sim::start_with_bench(&fast_line_bench())
    }

    /// Starts `rig sim` with `bench` (the text of a twin bench file) in a folder of its own.
    pub fn start_with_bench(bench: &str) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let bench_path = dir.path().join("sim-bench.yaml");
        std::fs::write(&bench_path, bench).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rig"))
            .arg("sim")
            .arg("--bench")
            .arg(&bench_path)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rig sim");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut next = |key: &str| -> PathBuf {
            let line = lines.next().expect("rig sim printed nothing").unwrap();
            let path = line
                .strip_prefix(&format!("{key}: "))
                .unwrap_or_else(|| panic!("expected `{key}: <path>`, got {line:?}"));
            PathBuf::from(path)
        };
        let pump = next("pump");
        let bus = next("bus");
        assert_eq!(pump, dir.path().join("pump"));
        assert_eq!(bus, dir.path().join("bus.sock"));
        Sim { child, pump, bus, dir }
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "rig sim did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The built-in twin bench (rig/sim.yaml) with a test line whose time constant is 2 s.
pub fn fast_line_bench() -> String {
    let builtin = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/rig/sim.yaml")).unwrap();
    let bench = builtin.replace("resistance_kpa_s_per_ul: 60", "resistance_kpa_s_per_ul: 4");
    assert_ne!(bench, builtin, "rig/sim.yaml names the line resistance");
    bench
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
