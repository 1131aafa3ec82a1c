//! The real-time path on a loaded machine: `rig sim` (the built `target/release/rig`) in its own
//! process, every core kept busy by a shell busy loop, and side by side
//!
//! - the STATUS round trip over the pump's pseudo-terminal, from the start of the request's write
//!   to the first byte of its answer: the rig's link on its own thread (SCHED_FIFO where
//!   allowed, as real-time benches run it) and as a task on a multi-thread runtime (as the
//!   in-process twin runs it), against `scripts/pump_peer.py` (plain Python, blocking
//!   `os.read`/`os.write`);
//! - sampling the flow sensor over the bench bus at 100 Hz: the rig's sampler (wake-up lateness,
//!   read durations, missed deadlines) against the same script sampling with `time.sleep`;
//! - what the machine itself allows: a stall probe, one `SCHED_FIFO` thread pinned to each core
//!   reading the monotonic clock in a loop (nothing else of ours running), and the time the
//!   hypervisor took from each vCPU (steal, `/proc/stat`) over the probe and over the rig's
//!   sampling. A thread that never leaves user space at the highest priority can only miss the
//!   clock while its vCPU is not running (or in an interrupt): a gap of milliseconds there is a
//!   gap no program on this machine can avoid.
//!
//! `cargo bench --bench realtime_path` (about 3 minutes). Options after `--`: `--requests N`
//! (default 2000), `--seconds S` of sampling each (default 60), `--probe-seconds S` of the stall
//! probe (default 30), `--no-load` (no busy loops).
//! Figures only: nothing is asserted about time (a shared 2-core machine is noisy); the method and
//! recorded figures are in docs/performance.md.

// A benchmark that cannot set up its run has nothing to measure: it stops there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use rig::bus::BusClient;
use rig::clock::{RigClock, RigTime};
use rig::drivers::flow_sensor::FlowSensor;
use rig::drivers::sensor_model::SensorModel;
use rig::link::{Direction, FrameRecord, PumpLink, PumpNotice};
use rig::protocol::session::SessionConfig;
use rig::run::RunEventKind;
use rig::run::sampler::{Sampler, SamplerStats};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The rig binary cargo built for this bench (the release profile): the same `rig sim` a user runs.
const RIG: &str = env!("CARGO_BIN_EXE_rig");
const PERIOD: Duration = Duration::from_millis(10);

struct Options {
    requests: usize,
    seconds: u64,
    probe_seconds: u64,
    load: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse::<u64>().ok());
    Options {
        requests: value("--requests").unwrap_or(2000) as usize,
        seconds: value("--seconds").unwrap_or(60),
        probe_seconds: value("--probe-seconds").unwrap_or(30),
        load: !args.iter().any(|a| a == "--no-load"),
    }
}

/// Children killed and reaped on drop, so an interrupted bench leaves no busy loop behind.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Sim {
    _child: Children,
    pump: PathBuf,
    bus: PathBuf,
    _dir: tempfile::TempDir,
}

fn start_sim() -> Sim {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut child = Command::new(RIG)
        .args(["sim", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {RIG} sim: {e}"));
    let stdout = child.stdout.take().expect("rig sim's stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut path = |key: &str| -> PathBuf {
        let line = lines.next().and_then(Result::ok).unwrap_or_default();
        PathBuf::from(line.strip_prefix(&format!("{key}: ")).unwrap_or_else(|| panic!("rig sim printed {line:?}")))
    };
    let (pump, bus) = (path("pump"), path("bus"));
    Sim { _child: Children(vec![child]), pump, bus, _dir: dir }
}

fn busy_loops(n: usize) -> Children {
    Children(
        (0..n)
            .map(|_| Command::new("sh").args(["-c", "while :; do :; done"]).spawn().expect("start a busy loop"))
            .collect(),
    )
}

/// p50, p99 (nearest rank) and max of durations, in ms.
fn spread(mut v: Vec<Duration>) -> Option<(f64, f64, f64, usize)> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Some((ms(rank(0.5)), ms(rank(0.99)), ms(v[v.len() - 1]), v.len()))
}

/// Request-to-answer times from the frame trace: each STATUS from the start of its write to the
/// first byte of the answer carrying its seq.
fn round_trips(frames: &[FrameRecord]) -> Vec<Duration> {
    let mut sent: Option<(String, RigTime)> = None;
    let mut out = Vec::new();
    for f in frames {
        let seq = f.line.split(' ').next().unwrap_or_default().to_string();
        match f.direction {
            Direction::ToPump if f.line.contains(" STATUS*") => sent = Some((seq, f.at)),
            Direction::FromPump => {
                if let Some((_, at)) = sent.take_if(|(want, _)| *want == seq) {
                    out.push(f.at.since(at));
                }
            }
            Direction::ToPump => sent = None,
        }
    }
    out
}

struct LinkFigures {
    trips: Vec<Duration>,
    slow: usize,
    scheduling: String,
}

/// The rig's STATUS round trips: on the link's own thread (what real-time benches use), or as a
/// task on the caller's multi-thread runtime (the in-process twin's design), for comparison.
async fn rig_round_trips(pump: &Path, requests: usize, on_thread: bool) -> LinkFigures {
    let clock = RigClock::start();
    let config = SessionConfig::with_random_first_seq();
    let path = pump.to_string_lossy();
    let (link, mut streams, _task) = if on_thread {
        PumpLink::open_serial_on_thread(&path, 115_200, rig::link::PortKind::Simulator, clock, config)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    } else {
        let port = rig::link::open_serial(&path, 115_200).unwrap_or_else(|e| panic!("{e}"));
        PumpLink::spawn(port, &path, clock, config)
    };
    let scheduling = link.thread_scheduling().map_or("a task on the runtime".into(), |s| s.policy.clone());
    link.synchronise().await.unwrap_or_else(|e| panic!("{e}"));
    while streams.frames.try_recv().is_ok() {}
    for _ in 0..requests {
        link.status().await.unwrap_or_else(|e| panic!("{e}"));
    }
    let frames: Vec<FrameRecord> = std::iter::from_fn(|| streams.frames.try_recv().ok()).collect();
    let slow = std::iter::from_fn(|| streams.notices.try_recv().ok())
        .filter(|n| matches!(n, PumpNotice::SlowAnswer { .. }))
        .count();
    LinkFigures { trips: round_trips(&frames), slow, scheduling }
}

struct SamplerFigures {
    stats: SamplerStats,
    samples: usize,
}

async fn rig_sampling(bus: &Path, seconds: u64) -> SamplerFigures {
    let client = BusClient::connect(bus).unwrap_or_else(|e| panic!("{e}"));
    let mut sensor =
        FlowSensor::new(rig::bench::instruments::BenchI2c::Bus(client.i2c()), 0x08, SensorModel::Ld20_0600L);
    let _ = sensor.stop_continuous();
    sensor.start_continuous().unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let clock = RigClock::start();
    let sampler = Sampler::spawn(sensor, clock, PERIOD, Arc::new(AtomicBool::new(false)), tx, false)
        .unwrap_or_else(|e| panic!("cannot start the sampler: {e}"));
    // Drain as the executor would, so the channel does not grow for a minute.
    let mut samples = 0;
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        while let Ok(e) = rx.try_recv() {
            samples += usize::from(matches!(e.kind, RunEventKind::Sample(_)));
        }
    }
    let mut stopped = sampler.stop().await.expect("the sampler hands back the sensor");
    while let Ok(e) = rx.try_recv() {
        samples += usize::from(matches!(e.kind, RunEventKind::Sample(_)));
    }
    let _ = stopped.sensor.stop_continuous();
    SamplerFigures { stats: stopped.stats, samples }
}

/// Runs the Python peer; its one JSON line, or why not.
fn python(args: &[&str]) -> Result<serde_json::Value, String> {
    let script = Path::new(ROOT).join("scripts/pump_peer.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run python3 {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable output from {}: {e}", script.display()))
}

fn ms3(v: Option<(f64, f64, f64, usize)>) -> String {
    v.map_or("—".into(), |(p50, p99, max, _)| format!("{p50:>8.3} {p99:>8.3} {max:>8.3}"))
}

fn py3(v: &serde_json::Value) -> String {
    let f = |k: &str| v[k].as_f64().map_or("—".to_string(), |x| format!("{x:>8.3}"));
    format!("{} {} {}", f("p50_ms"), f("p99_ms"), f("max_ms"))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("model name"))?.split(':').nth(1).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}

/// Time taken from each CPU by the hypervisor so far (`/proc/stat`'s steal, in `USER_HZ` ticks
/// of 10 ms), per CPU.
fn steal_ms() -> Vec<u64> {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| l.split_whitespace().nth(8).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0) * 10)
        .collect()
}

fn steal_since(before: &[u64]) -> String {
    let now = steal_ms();
    let each: Vec<String> = now.iter().zip(before).map(|(n, b)| format!("{} ms", n.saturating_sub(*b))).collect();
    format!("steal per CPU: {}", each.join(", "))
}

/// The gap lengths the stall probe counts: an interrupt's worth, the sampler's 1 ms, and the
/// 100 Hz target's 2 ms maximum.
const GAP_THRESHOLDS: [Duration; 3] = [Duration::from_micros(100), Duration::from_millis(1), Duration::from_millis(2)];

/// What one probe thread saw: how many gaps between successive clock readings were longer than
/// each of [`GAP_THRESHOLDS`], and the longest gap.
struct Gaps {
    cpu: usize,
    scheduling: String,
    over: [usize; GAP_THRESHOLDS.len()],
    max: Duration,
}

/// One thread per CPU, pinned there at `SCHED_FIFO`, spinning on `Instant::now()` for `seconds`
/// in bursts of 100 ms with a 10 ms sleep between them (under the kernel's 95 % real-time
/// budget, so the kernel's throttling is never what is measured); the sleeps are not gaps.
fn stall_probe(seconds: u64) -> Vec<Gaps> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: Vec<_> = (0..cpus)
        .map(|cpu| {
            std::thread::spawn(move || {
                // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it.
                let pinned = unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
                };
                let s = rig::realtime::request_fifo(rig::realtime::priority::RIG_FIFO_PRIORITY);
                let scheduling = format!("{}{}", s.policy, if pinned { "" } else { ", NOT pinned" });
                let mut g = Gaps { cpu, scheduling, over: [0; GAP_THRESHOLDS.len()], max: Duration::ZERO };
                let end = Instant::now() + Duration::from_secs(seconds);
                while Instant::now() < end {
                    let burst = Instant::now() + Duration::from_millis(100);
                    let mut last = Instant::now();
                    while last < burst {
                        let now = Instant::now();
                        let gap = now - last;
                        g.max = g.max.max(gap);
                        for (count, threshold) in g.over.iter_mut().zip(GAP_THRESHOLDS) {
                            *count += usize::from(gap > threshold);
                        }
                        last = now;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                g
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().expect("a probe thread")).collect()
}

fn main() {
    let o = options();
    println!("realtime_path: {}", machine());
    println!("realtime_path: rig sim = {RIG}; peer = scripts/pump_peer.py (python3)");
    let sim = start_sim();
    let _load = o.load.then(|| busy_loops(std::thread::available_parallelism().map_or(2, |n| n.get())));
    println!(
        "realtime_path: {}",
        if o.load { "every core loaded by a `while :; do :; done` shell loop" } else { "no extra load" }
    );
    std::thread::sleep(Duration::from_millis(500));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");

    let link = runtime.block_on(rig_round_trips(&sim.pump, o.requests, true));
    let task_link = runtime.block_on(rig_round_trips(&sim.pump, o.requests, false));
    let count = o.requests.to_string();
    let peer_status = python(&["status", "--pump", &sim.pump.to_string_lossy(), "--count", &count]);
    let stolen_before = steal_ms();
    let rig_sampler = runtime.block_on(rig_sampling(&sim.bus, o.seconds));
    let stolen_sampling = steal_since(&stolen_before);
    let seconds = o.seconds.to_string();
    let peer_sampling = python(&["sample", "--bus", &sim.bus.to_string_lossy(), "--hz", "100", "--seconds", &seconds]);
    let stolen_before = steal_ms();
    let gaps = stall_probe(o.probe_seconds);
    let stolen_probe = steal_since(&stolen_before);

    println!();
    println!("STATUS round trip over the pty, write start → answer's first byte, ms ({} requests)", o.requests);
    println!("  {:<52} {:>8} {:>8} {:>8}  > 50 ms", "", "p50", "p99", "max");
    for (what, l) in [("rig link, own thread", &link), ("rig link", &task_link)] {
        println!("  {:<52} {}  {}", format!("{what} ({})", l.scheduling), ms3(spread(l.trips.clone())), l.slow);
    }
    match &peer_status {
        Ok(v) => println!("  {:<52} {}  {}", "pump_peer.py (blocking os.read/os.write)", py3(v), v["over_icd_50ms"]),
        Err(e) => println!("  pump_peer.py: NOT MEASURED: {e}"),
    }

    println!();
    println!("Sampling the flow sensor over the bench bus at 100 Hz for {} s, ms", o.seconds);
    println!("  {:<52} {:>26}  {:>26}  missed", "", "wake-up p50 / p99 / max", "read p50 / p99 / max");
    let s = &rig_sampler.stats;
    let pct = |p: &Option<rig::realtime::Percentiles>| {
        p.map_or("—".into(), |p| format!("{:>8.3} {:>8.3} {:>8.3}", p.p50_ms, p.p99_ms, p.max_ms))
    };
    println!(
        "  {:<52} {}  {}  {} of {} ({} samples)",
        format!("rig sampler ({})", s.scheduling.policy),
        pct(&s.wake_lateness),
        pct(&s.read_duration),
        s.missed_deadlines,
        s.deadlines,
        rig_sampler.samples
    );
    match &peer_sampling {
        Ok(v) => println!(
            "  {:<52} {}  {}  {} of {}",
            "pump_peer.py (time.sleep, blocking socket)",
            py3(&v["wake_lateness"]),
            py3(&v["read_duration"]),
            v["missed_deadlines"],
            v["deadlines"]
        ),
        Err(e) => println!("  pump_peer.py: NOT MEASURED: {e}"),
    }
    println!("  during the rig sampler's {} s: {stolen_sampling}", o.seconds);

    println!();
    println!(
        "What the machine allows: a SCHED_FIFO thread pinned to each core spinning on the clock for {} s",
        o.probe_seconds
    );
    println!(
        "  {:<52} {:>8} {:>8} {:>8} {:>8}",
        "gaps between clock readings", "> 0.1 ms", "> 1 ms", "> 2 ms", "max ms"
    );
    for g in &gaps {
        println!(
            "  {:<52} {:>8} {:>8} {:>8} {:>8.3}",
            format!("CPU {} ({})", g.cpu, g.scheduling),
            g.over[0],
            g.over[1],
            g.over[2],
            g.max.as_secs_f64() * 1e3
        );
    }
    println!("  during the probe: {stolen_probe}");
}
