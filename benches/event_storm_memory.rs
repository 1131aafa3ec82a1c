//! Peak memory of `rig run` against a chatty pump, and the size of the bundle it writes: 10k, 50k
//! and 200k pump events in a 30 s case, each in its own `rig run` process (peak RSS from `wait4`),
//! through the whole path, bundle included (samples.csv, events.jsonl, record.json, result.yaml,
//! report.html, junit.xml).
//!
//! The chatty pump is a scripted one written here from ICD.md, on a pseudo-terminal: it answers
//! every request (`ID`, `STATUS`, `SETTINGS`, `ALARMS` with what it has raised; `OK` to the rest)
//! and, from 2 s after the rig's first request, raises and clears `DOSE_LIMIT` (LOW: nothing the
//! rig must act on) as fast as it must to send N events in 25 s, numbered by `evseq` without a
//! gap. The flow sensor and the valve are `rig sim`'s, over its bench bus. The plan waits 30 s
//! and counts the alarms and the `evseq` gaps: the benchmark prints what the checks counted, so a
//! run that lost an event shows it.
//!
//! `cargo bench --bench event_storm_memory` (about 2 minutes); `-- 10000 50000` for other
//! counts; `RIG_BIN=path` runs another build of `rig` (the same bench). Figures only: nothing is asserted about memory or time (docs/performance.md).

// A benchmark that cannot set up its run has nothing to measure: it stops there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rig::protocol::encode_frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::SerialPort as _;

/// The rig binary cargo built for this bench, or `$RIG_BIN` (an older build, to compare).
fn rig() -> String {
    std::env::var("RIG_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rig").to_string())
}
const STORM: Duration = Duration::from_secs(25);
const STORM_DELAY: Duration = Duration::from_secs(2);

const PLAN: &str = concat!(
    "id: EVENT-STORM\ntitle: a chatty pump for 30 s\nversion: 1.0.0\ncovers: []\n",
    "requires: [pump, flow_sensor]\nsample_period: 100 ms\nstatus_period: 1 s\nmax_duration: 2 min\n",
    "steps:\n",
    "  - wait: 30 s\n",
    "  - check:\n      id: raised\n      occurrences: { alarm: DOSE_LIMIT, from: start }\n      min: 0\n",
    "  - check:\n      id: cleared\n      occurrences: { cleared: DOSE_LIMIT, from: start }\n      min: 0\n",
    "  - check:\n      id: gaps\n      evseq_gaps: { from: start }\n      max: 0\n",
);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `rig sim` in `dir`: its bench bus serves the flow sensor and the valve.
fn start_sim(dir: &Path) -> (Killed, PathBuf) {
    let mut child = Command::new(rig())
        .args(["sim", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} sim: {e}", rig()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _pump = lines.next();
    let bus = lines.next().and_then(Result::ok).unwrap_or_default();
    let bus = PathBuf::from(bus.strip_prefix("bus: ").unwrap_or_else(|| panic!("rig sim printed {bus:?}")));
    (Killed(child), bus)
}

/// The chatty pump's state.
struct Pump {
    started: Instant,
    evseq: u32,
    raised: bool,
}

impl Pump {
    fn ms(&self) -> u128 {
        self.started.elapsed().as_millis()
    }

    fn answer(&self, request: &str) -> Option<String> {
        let (seq, rest) = request.split_once(' ')?;
        let command = rest.split(' ').next().unwrap_or_default();
        let alarms = if self.raised { "DOSE_LIMIT" } else { "none" };
        let fields = match command {
            "ID" => "model=CHATTY-1 serial=C0001 fw=1.0.0 build=5eed01 proto=1".to_string(),
            "STATUS" => format!(
                "state=STOPPED reservoir_ul=20000.0 delivered_ul=0.0 basal_ul_h=10.0 pressure_kpa=0.0 pump_ms={} alarms={alarms}",
                self.ms()
            ),
            "SETTINGS" => "basal_ul_h=10.0 dose_ul=50.0 lockout_s=3600 max_per_24h=4 max_24h_ul=1200.0 \
                           low_reservoir_ul=2000.0 occlusion_kpa=200.0 therapy=off"
                .to_string(),
            "ALARMS" => format!("active={alarms}"),
            "BOLUS" => "granted=0 reason=STOPPED".to_string(),
            _ => String::new(),
        };
        Some(format!("{seq} OK {fields}").trim_end().to_string())
    }

    fn next_event(&mut self) -> String {
        self.evseq += 1;
        self.raised = !self.raised;
        let kind = if self.raised { "ALARM code=DOSE_LIMIT priority=LOW" } else { "CLEAR code=DOSE_LIMIT" };
        format!("! {} {} {kind}", self.evseq, self.ms())
    }
}

/// Serves the pump's end of the pty until the rig closes it: answers each request, and sends
/// `events` events over [`STORM`], from [`STORM_DELAY`] after the first request.
async fn serve(mut port: tokio_serial::SerialStream, events: u32) {
    let mut pump = Pump { started: Instant::now(), evseq: 0, raised: false };
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    let mut storm_from: Option<tokio::time::Instant> = None;
    let tick = Duration::from_millis(10);
    let mut ticker = tokio::time::interval(tick);
    loop {
        tokio::select! {
            n = port.read(&mut buf) => {
                let Ok(n) = n else { return };
                if n == 0 { return }
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&line);
                    let payload = text.trim_end().rsplit_once('*').map_or("", |(p, _)| p).to_string();
                    storm_from.get_or_insert_with(|| tokio::time::Instant::now() + STORM_DELAY);
                    if let Some(answer) = pump.answer(&payload)
                        && port.write_all(&encode_frame(&answer).unwrap()).await.is_err()
                    {
                        return;
                    }
                }
            }
            _ = ticker.tick() => {
                let Some(from) = storm_from else { continue };
                let now = tokio::time::Instant::now();
                if now < from || pump.evseq >= events { continue }
                let due = (now - from).as_secs_f64() / STORM.as_secs_f64();
                let due = ((due * f64::from(events)) as u32).min(events);
                let mut out = Vec::new();
                while pump.evseq < due {
                    out.extend(encode_frame(&pump.next_event()).unwrap());
                }
                if port.write_all(&out).await.is_err() { return }
            }
        }
    }
}

/// Runs the plan against a chatty pump of `events` events; returns (peak RSS MiB, wall s).
#[expect(clippy::zombie_processes, reason = "the child is reaped by wait4, which also gives its rusage")]
fn storm(events: u32, dir: &Path, bus: &Path) -> (f64, f64, PathBuf) {
    // The pty is created on the pump's thread, whose runtime serves it; the slave end stays open
    // there, so the pump never sees a hang-up between the rig's opens.
    let (name_tx, name_rx) = std::sync::mpsc::channel();
    let pump = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let (master, slave) = tokio_serial::SerialStream::pair().expect("a pty");
            name_tx.send(slave.name().expect("the pty's name")).unwrap();
            serve(master, events).await;
            drop(slave);
        });
    });
    let pty = name_rx.recv().unwrap();
    let bench = dir.join(format!("chatty-{events}.yaml"));
    let sim_bench = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rig/sim-pty.yaml")).unwrap();
    let sim_bench = sim_bench
        .replace("serial: /tmp/rig-sim-{uid}/pump", &format!("serial: {pty}"))
        .replace("bus: /tmp/rig-sim-{uid}/bus.sock", &format!("bus: {}", bus.display()))
        .replace("name: digital-twin-pty", "name: chatty-pump");
    std::fs::write(&bench, sim_bench).unwrap();
    let plan = dir.join("event-storm.yaml");
    std::fs::write(&plan, PLAN).unwrap();
    let out = dir.join(format!("out-{events}"));

    let started = Instant::now();
    let child = Command::new(rig())
        .args(["run", "--quiet", "--operator", "bench", "--bench"])
        .arg(&bench)
        .arg("--out")
        .arg(&out)
        .arg(&plan)
        .stdout(Stdio::null())
        .spawn()
        .expect("rig runs");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child.id()` is our child, not yet waited for; the pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(pid > 0 && libc::WIFEXITED(status), "rig run did not exit: {status}");
    let wall = started.elapsed().as_secs_f64();
    drop(pump); // it ends when the rig closes the port; not waited for
    (usage.ru_maxrss as f64 / 1024.0, wall, out)
}

/// The case folder under `out` (the one with a record.json).
fn case_dir(out: &Path) -> PathBuf {
    let mut stack = vec![out.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.join("record.json").exists() {
            return d;
        }
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            }
        }
    }
    panic!("no record.json under {}", out.display())
}

fn mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}

fn main() {
    let counts: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let counts = if counts.is_empty() { vec![10_000, 50_000, 200_000] } else { counts };
    let dir = tempfile::tempdir().unwrap();
    let sim_dir = dir.path().join("sim");
    std::fs::create_dir(&sim_dir).unwrap();
    let (_sim, bus) = start_sim(&sim_dir);
    for events in counts {
        let (rss, wall, out) = storm(events, dir.path(), &bus);
        let case = case_dir(&out);
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(case.join("record.json")).unwrap()).unwrap();
        let counted: Vec<String> = record["checks"]
            .as_array()
            .map(|cs| cs.iter().map(|c| format!("{}={}", c["id"].as_str().unwrap_or("?"), c["value"])).collect())
            .unwrap_or_default();
        let pump_event_lines = std::fs::read_to_string(case.join("events.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"pump_event\""))
            .count();
        println!(
            "event_storm_memory: {events:>6} events: peak RSS {rss:.1} MiB, wall {wall:.1} s; report.html {:.2} MiB, \
             record.json {:.2} MiB, events.jsonl {:.2} MiB ({pump_event_lines} pump events); verdict {}; checks {}",
            mib(&case.join("report.html")),
            mib(&case.join("record.json")),
            mib(&case.join("events.jsonl")),
            record["verdict"],
            counted.join(" ")
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}
