//! Parity over the pty: each injection of ICD part 2 ("Fault injection") in a short fixture plan
//! (`fixtures/plans/inject-*.yaml`), run on the in-process twin (virtual time) and on `rig sim`
//! over its pseudo-terminal and bench bus (real time), must give the same verdict and the same
//! verdict per check. Both benches run the same firmware configuration from one bench file: the
//! fast test line (τ = 2 s) and `stall_attempts: 1`, which `rig sim --bench` reads as the
//! in-process twin does.
//!
//! Parity alone would pass with two benches that both ignore INJECT, so each fixture's outcome
//! on the in-process twin must also be one the plan can give with the injection in effect, and
//! the record must show the injection's effect (the alarm, the boot, the retries, the lost
//! event, the failed reads). How the rig judges sensor faults is not pinned here (it is being
//! changed): only that both benches judge them alike, and not as PASS where the fault would
//! have to be missed for that.
//!
//! Each fixture runs against its own `rig sim` in its own folder, all at once: the fixtures are
//! a few seconds of real time each and share nothing.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::sim_child;

use std::path::{Path, PathBuf};
use std::process::Command;

use rig::evidence::record::CaseRecord;
use rig::evidence::result::CaseResult;
use rig::run::Verdict;
use sim_child::{Sim, fast_line_bench};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The twin bench both sides run: the fast line and a firmware that raises MOTOR_STALL at the
/// first failed stroke (a nominal variant, within SRS-WDR-003's 60 s either way).
fn parity_bench() -> String {
    let fast = fast_line_bench();
    let bench = fast.replacen("  faults: []", "  stall_attempts: 1\n  faults: []", 1);
    assert_ne!(bench, fast, "rig/sim.yaml has a `faults: []` line under `connection`");
    bench
}

/// A sim-process bench file reaching `sim`, with the same test line as [`parity_bench`].
fn pty_bench(sim: &Sim) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(ROOT).join("rig/sim-pty.yaml")).unwrap();
    let text = text
        .replace("/tmp/rig-sim-{uid}/pump", &sim.pump.to_string_lossy())
        .replace("/tmp/rig-sim-{uid}/bus.sock", &sim.bus.to_string_lossy())
        .replace("resistance_kpa_s_per_ul: 60", "resistance_kpa_s_per_ul: 4");
    assert!(text.contains(&*sim.bus.to_string_lossy()) && text.contains("resistance_kpa_s_per_ul: 4"));
    let path = sim.dir.path().join("pty-bench.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// One case's bundle, as a reviewer reads it.
struct Bundle {
    exit: Option<i32>,
    result: CaseResult,
    record: CaseRecord,
    events: String,
    output: String,
}

impl Bundle {
    /// `(check id, verdict)` of every check, in order.
    fn verdicts(&self) -> Vec<(String, Verdict)> {
        self.result.checks.iter().map(|c| (c.id.clone(), c.verdict)).collect()
    }

    fn pump_event(&self, kind: &str, what: &str) -> bool {
        self.record.pump_events.iter().any(|e| e.kind == kind && e.what == what)
    }

    /// The link's retries, `attempt 2 (pump answered ERR CRC)`, without their seq (each run
    /// starts at a random one).
    fn retries(&self) -> Vec<String> {
        self.events
            .lines()
            .filter_map(|l| {
                let note = serde_json::from_str::<serde_json::Value>(l).ok()?.get("note")?.as_str()?.to_string();
                let rest = note.strip_prefix("retry: ")?;
                let (attempt, why) = rest.split_once(" of seq ")?;
                Some(format!("{attempt} {}", why.split_once(' ').map_or("", |(_, w)| w)))
            })
            .collect()
    }

    fn failed_reads(&self) -> u64 {
        self.record.sampler.as_ref().map_or(0, |s| s.failed_reads)
    }

    fn summary(&self) -> String {
        format!("exit {:?}\n{}{}", self.exit, self.output, self.result.to_yaml())
    }
}

/// `rig run <plan> --bench <bench>` into `out`, and the one bundle it wrote.
fn run(plan: &str, bench: &Path, out: &Path) -> Bundle {
    let o = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(ROOT)
        .args(["run", plan, "--out"])
        .arg(out)
        .arg("--bench")
        .arg(bench)
        .output()
        .unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap_or_else(|e| panic!("{plan}: no bundle in {} ({e}):\n{output}", out.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{plan}: one case, one bundle:\n{output}");
    let read = |f: &str| std::fs::read_to_string(dirs[0].join(f)).unwrap_or_else(|e| panic!("{plan}: {f}: {e}"));
    Bundle {
        exit: o.status.code(),
        result: serde_yaml::from_str(&read("result.yaml")).unwrap(),
        record: serde_json::from_str(&read("record.json")).unwrap(),
        events: read("events.jsonl"),
        output,
    }
}

/// A fixture on both benches: the in-process twin, then its own `rig sim` over the pty.
fn both(name: &str) -> (Bundle, Bundle) {
    let plan = format!("fixtures/plans/inject-{name}.yaml");
    let dir = tempfile::tempdir().unwrap();
    let bench = parity_bench();
    let twin_bench = dir.path().join("twin-bench.yaml");
    std::fs::write(&twin_bench, &bench).unwrap();
    let twin = run(&plan, &twin_bench, &dir.path().join("twin"));
    let sim = Sim::start_with_bench(&bench);
    let pty = run(&plan, &pty_bench(&sim), &dir.path().join("pty"));
    (twin, pty)
}

/// What each fixture must show on the in-process twin, beyond parity: the verdicts its plan can
/// give with the injection in effect, and the injection's mark on the record.
fn assert_injection_took_effect(name: &str, twin: &Bundle, pty: &Bundle) {
    let verdict = twin.result.verdict;
    let expect = |allowed: &[Verdict]| {
        assert!(
            allowed.contains(&verdict),
            "{name}: {verdict:?} on the twin, expected one of {allowed:?}:\n{}",
            twin.summary()
        );
    };
    match name {
        "motor-stall" => {
            expect(&[Verdict::Pass]);
            for b in [twin, pty] {
                assert!(b.pump_event("ALARM", "MOTOR_STALL"), "{name}: MOTOR_STALL raised:\n{}", b.summary());
            }
        }
        "watchdog-reset" => {
            expect(&[Verdict::Pass]);
            for b in [twin, pty] {
                assert!(b.pump_event("BOOT", "WATCHDOG"), "{name}: BOOT reason=WATCHDOG:\n{}", b.summary());
                // The BOOT may beat the INJECT's answer over the pty: the wait after the
                // injection must still see it, not time out.
                assert!(!b.events.contains("timed out"), "{name}: the wait for BOOT timed out:\n{}", b.summary());
            }
        }
        "link-corrupt" => {
            expect(&[Verdict::Pass]);
            // Both ways a request fails: its damaged request answered `0 ERR CRC`, its damaged
            // answer refused by its CRC (said as such, not as no response).
            let retries = twin.retries();
            for why in ["(pump answered ERR CRC)", "(only undecodable answers)"] {
                assert!(retries.iter().any(|r| r.ends_with(why)), "{name}: no retry {why}: {retries:?}");
            }
            // The twin draws the damage from its seed frame by frame, and the fixture makes the
            // same attempts in the same order on both benches: the same attempts fail.
            assert_eq!(pty.retries(), retries, "{name}: retries over the pty and in process");
        }
        "link-silence" => {
            expect(&[Verdict::Pass]);
            for b in [twin, pty] {
                assert!(!b.retries().is_empty(), "{name}: a request in the silence retried:\n{}", b.events);
                assert_eq!(b.record.lost_events.len(), 1, "{name}: the lost event recorded:\n{}", b.summary());
            }
        }
        // Today the rig measures around failed reads; a rig that ends the case on a sensor
        // fault gives ERROR. Either way the reads did fail.
        "sensor-nack" => {
            expect(&[Verdict::Pass, Verdict::Error]);
            for b in [twin, pty] {
                assert!(b.failed_reads() >= 1 || b.result.verdict == Verdict::Error, "{name}: {}", b.summary());
            }
        }
        // The check passes only if the rig took the sensor's word for a flow it did not measure
        // correctly and the fault did nothing: FAIL (the word judged) or ERROR (the fault seen).
        "sensor-air" | "sensor-stuck" => expect(&[Verdict::Fail, Verdict::Error]),
        other => panic!("no expectations written for fixture {other}"),
    }
}

const FIXTURES: [&str; 7] =
    ["motor-stall", "watchdog-reset", "link-corrupt", "link-silence", "sensor-nack", "sensor-air", "sensor-stuck"];

#[test]
fn every_injection_gives_the_same_verdicts_over_the_pty_as_in_process() {
    let runs: Vec<(&str, std::thread::JoinHandle<(Bundle, Bundle)>)> =
        FIXTURES.iter().map(|&name| (name, std::thread::spawn(move || both(name)))).collect();
    // Every run ends (and its `rig sim` is stopped) before anything is judged: a panic here with
    // runs still going would leave their simulators behind.
    let done: Vec<(&str, std::thread::Result<(Bundle, Bundle)>)> =
        runs.into_iter().map(|(name, handle)| (name, handle.join())).collect();
    for (name, joined) in done {
        let (twin, pty) = joined.unwrap_or_else(|_| panic!("{name}: the run panicked (see above)"));
        let both = || format!("in process:\n{}\nover the pty:\n{}", twin.summary(), pty.summary());
        assert!(!twin.result.checks.is_empty(), "{name}: no checks\n{}", both());
        assert_eq!(twin.result.verdict, pty.result.verdict, "{name}: verdicts differ\n{}", both());
        assert_eq!(twin.verdicts(), pty.verdicts(), "{name}: check verdicts differ\n{}", both());
        assert_eq!(twin.exit, pty.exit, "{name}: exit codes differ\n{}", both());
        assert_injection_took_effect(name, &twin, &pty);
    }
}

/// Every fixture is in the list above, so none is left out of the parity run.
#[test]
fn every_injection_fixture_is_run() {
    let mut found: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("fixtures/plans"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            Some(name.strip_prefix("inject-")?.strip_suffix(".yaml")?.to_string())
        })
        .collect();
    found.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed);
}
