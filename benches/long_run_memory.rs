//! Peak memory of `rig run` on the twin for 1, 7 and 14 days of plan at 1 Hz sampling (STATUS
//! every 10 s), each in its own process (peak RSS from `wait4`), with the whole evidence bundle
//! written. The samples stream to disk and the executor's timeline keeps only its recent tail
//! in memory, so the peak must not grow with the run's length. Figures only: nothing is
//! asserted about memory or time.
//!
//! `cargo bench --bench long_run_memory`

// A benchmark that cannot set up its run has nothing to measure: it stops there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::process::Command;

fn plan(days: u32) -> String {
    format!(
        "id: LONG-{days}D\ntitle: {days} days of basal delivery\nversion: 1.0.0\ncovers: []\nrequires: [pump, flow_sensor]\n\
         sample_period: 1 s\nstatus_period: 10 s\nmax_duration: {} h\nsetup:\n  - fill: 40 mL\n  - limit: 24 mL\n  - program: 20 uL/h\n\
         steps:\n  - start\n  - wait: {} h\n  - check:\n      id: delivered\n      volume: {{ from: start }}\n      min: 1 uL\n",
        days * 24 + 1,
        days * 24
    )
}

/// Runs `rig run` on the plan; returns (peak RSS in MiB, wall s).
#[expect(clippy::zombie_processes, reason = "the child is reaped by wait4, which also gives its rusage")]
fn peak_rss(plan_path: &std::path::Path, out: &std::path::Path) -> (f64, f64) {
    let started = std::time::Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(["run", "--quiet", "--out"])
        .arg(out)
        .arg(plan_path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("rig runs");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child.id()` is our child, not yet waited for; the pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "rig run failed: {status}");
    (usage.ru_maxrss as f64 / 1024.0, started.elapsed().as_secs_f64())
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    for days in [1, 7, 14] {
        let path = dir.path().join(format!("long-{days}d.yaml"));
        std::fs::write(&path, plan(days)).unwrap();
        let out = dir.path().join(format!("out-{days}"));
        let (rss, wall) = peak_rss(&path, &out);
        let _ = std::fs::remove_dir_all(&out);
        println!(
            "long_run_memory: {days:>2} days ({} samples): peak RSS {rss:.1} MiB, wall {wall:.1} s",
            days * 86_400
        );
    }
}
