//! The flow sampler: reads the sensor at the plan's period against absolute deadlines
//! (t_k = k · period on the rig's clock, so no drift accumulates), integrates volume, and sends
//! stamped samples into the run's event stream.
//!
//! On the in-process twin under the paused clock it reads lazily ([`Sampler::on_twin`]): no
//! wake-up per sample. Before anything advances the twin past a deadline (the service port,
//! the valve, an injection) and before the executor looks at its readings, the readings due by
//! then are taken, each at its own deadline with the twin advanced to that instant, through the
//! same driver and the same judgement of each read. It wakes once per deadline only while
//! someone needs each reading as it falls due: a wait on the flow, or a bench injection that
//! disturbs the sensor (so a sensor fault stops the run at the read that showed it). Elsewhere
//! under the paused clock it is a tokio task that sleeps to each deadline. In real time it owns
//! a thread (tokio's timer is 1 ms coarse and shares the
//! runtime) that asks for `SCHED_FIFO` and sleeps to each deadline with an absolute
//! `clock_nanosleep`, so a loaded machine delays it by microseconds, not milliseconds.
//!
//! Each sample is stamped when its read started (the SF06-LF latches the mean flow since its
//! previous read as the read transaction begins) and records when the read returned. How the
//! sampler was scheduled, how late it woke, how long its reads took and which deadlines it
//! missed come back from [`Sampler::stop`] as [`SamplerStats`], evidence for the record. A
//! deadline that passed before the previous read returned is missed: it is still read (at once,
//! late) and counted, never skipped; the first few are also reported as anomalies on the
//! timeline.
//!
//! What a read returned is judged by the rules of [`super::sensor_health`]: a reading flagged
//! air in line is sent as [`RunEventKind::AirInLine`] (with its raw bytes), never as a sample, and
//! never integrated; a failed read is [`RunEventKind::SampleFailed`], no sample, and the next
//! deadline reads again; a stuck sensor, or reads that keep failing, end the sampling with
//! [`RunEventKind::SensorFault`] naming the sensor and what to check.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::bench::instruments::BenchI2c;
use crate::clock::{RigClock, RigTime};
use crate::drivers::flow_sensor::FlowSensor;
pub use crate::evidence::record::sampler_stats::SamplerStats;
use crate::realtime::priority::RIG_FIFO_PRIORITY;
use crate::realtime::sleep::sleep_until_or;
use crate::realtime::{LatencyHistogram, Scheduling, request_fifo};
use crate::twin_host::SharedTwin;

use super::event::{FlaggedReading, RunEvent, RunEventKind, Sample};
use super::sensor_health::{FailedReads, StuckDetector};

/// Shared view of the valve, so each sample records whether the line was blocked.
pub type ValveState = Arc<AtomicBool>;

/// How often a sleeping sampler thread looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Missed deadlines reported one by one on the timeline; the rest are only counted.
const MISSED_REPORTED: u64 = 10;

/// What [`Sampler::stop`] hands back.
pub struct Stopped {
    pub sensor: FlowSensor<BenchI2c>,
    pub stats: SamplerStats,
}

/// A running sampler. [`Sampler::stop`] hands the sensor back with the statistics.
pub enum Sampler {
    Lazy(LazySampler),
    Task { stop: Arc<AtomicBool>, handle: tokio::task::JoinHandle<Stopped> },
    Thread { stop: Arc<AtomicBool>, handle: std::thread::JoinHandle<Stopped>, scheduling: Scheduling },
}

/// Where a sampler's events go: its readings (samples, air, failed reads, late deadlines) to
/// `readings`, and a fault that stops it to `faults`, which its reader watches.
pub struct SampleSink {
    pub readings: UnboundedSender<RunEvent>,
    pub faults: UnboundedSender<RunEvent>,
}

struct Integrator {
    sensor: FlowSensor<BenchI2c>,
    /// The sensor, its bus and serial number in words, for a bench error.
    name: String,
    clock: RigClock,
    valve: ValveState,
    events: SampleSink,
    /// When the read the next reading's mean flow starts from began.
    last: RigTime,
    volume_ul: f64,
    failures: FailedReads,
    stuck: StuckDetector,
}

/// One read, as the sampler saw it.
struct Read {
    started: RigTime,
    done: RigTime,
    failed: bool,
    /// False when the sampler must stop (sensor gone or nobody listening).
    go_on: bool,
}

impl Integrator {
    /// An integrator whose first reading's mean flow counts from now.
    fn new(sensor: FlowSensor<BenchI2c>, name: String, clock: RigClock, valve: ValveState, events: SampleSink) -> Self {
        let last = clock.now();
        Self {
            sensor,
            name,
            clock,
            valve,
            events,
            last,
            volume_ul: 0.0,
            failures: FailedReads::default(),
            stuck: StuckDetector::default(),
        }
    }

    fn read(&mut self) -> Read {
        self.read_at(None)
    }

    /// A read; `at`, for a lazy sampler's catch-up: the deadline it is taken at (the twin is
    /// read at that instant, which takes no virtual time).
    fn read_at(&mut self, at: Option<RigTime>) -> Read {
        let started = at.unwrap_or_else(|| self.clock.now());
        let reading = self.sensor.read();
        let done = at.unwrap_or_else(|| self.clock.now());
        let mut fault = None;
        let kind = match reading {
            Ok(r) => {
                self.failures.succeeded();
                if let Some(stuck) = self.stuck.observe(started, r.raw.bytes()) {
                    fault = Some(RunEventKind::SensorFault {
                        why: format!(
                            "{}: stuck — the same frame ({}) {} times in a row since {}, which a live sensor's noise makes implausible; check the sensor's power and I2C wiring, and power-cycle it",
                            self.name,
                            r.raw.hex(),
                            stuck.frames,
                            stuck.since
                        ),
                        raw: Some(r.raw.hex()),
                    });
                }
                if r.flags.air_in_line {
                    // The flow word is meaningless: the volume since the previous read is not
                    // known, and the next reading's mean flow starts from this read.
                    self.last = started;
                    RunEventKind::AirInLine(FlaggedReading {
                        done_at: done,
                        flow_ul_h: r.flow_ul_h,
                        temperature_c: r.temperature_c,
                        flags: r.raw.flags,
                        raw: r.raw.hex(),
                    })
                } else {
                    // The SF06-LF reports the mean flow since its previous read, latched as the
                    // read transaction starts: that is the instant the value belongs to.
                    self.volume_ul += r.flow_ul_h * started.since(self.last).as_secs_f64() / 3600.0;
                    self.last = started;
                    RunEventKind::Sample(Sample {
                        at: started,
                        done_at: done,
                        flow_ul_h: r.flow_ul_h,
                        volume_ul: self.volume_ul,
                        temperature_c: r.temperature_c,
                        valve_closed: self.valve.load(Ordering::Relaxed),
                    })
                }
            }
            Err(e) => {
                // No sample (never a zero flow): the next good read's mean covers this one's span.
                let (in_a_row, persistent) = self.failures.failed(started);
                if persistent {
                    let since = self.failures.since().unwrap_or(started);
                    fault = Some(RunEventKind::SensorFault {
                        why: format!(
                            "{}: {in_a_row} reads in a row failed, since {since} (the last: {e}); check the sensor's wiring, the bus pull-ups and its power",
                            self.name
                        ),
                        raw: None,
                    });
                }
                RunEventKind::SampleFailed { reason: e.to_string(), in_a_row }
            }
        };
        let failed = matches!(kind, RunEventKind::SampleFailed { .. });
        let mut sent = self.events.readings.send(RunEvent { at: started, kind }).is_ok();
        let go_on = fault.is_none();
        if let Some(fault) = fault {
            sent &= self.events.faults.send(RunEvent { at: done, kind: fault }).is_ok();
        }
        Read { started, done, failed, go_on: sent && go_on }
    }

    fn anomaly(&self, at: RigTime, what: String) {
        let _ = self.events.readings.send(RunEvent { at, kind: RunEventKind::Anomaly { what } });
    }
}

/// The statistics as they are gathered.
struct Tally {
    scheduling: Scheduling,
    period: Duration,
    measured: bool,
    deadlines: u64,
    failed_reads: u64,
    missed: u64,
    /// The previous read returned after the deadline being counted now.
    behind: bool,
    lateness: LatencyHistogram,
    reads: LatencyHistogram,
}

impl Tally {
    fn new(period: Duration, scheduling: Scheduling, measured: bool) -> Self {
        Self {
            scheduling,
            period,
            measured,
            deadlines: 0,
            failed_reads: 0,
            missed: 0,
            behind: false,
            lateness: LatencyHistogram::new(),
            reads: LatencyHistogram::new(),
        }
    }

    /// Counts deadline `k`, reached at `woke`, and its read; reports when the read returned after
    /// deadline `k + 1` had passed.
    fn count(&mut self, it: &Integrator, k: u64, woke: RigTime, read: &Read) {
        self.deadlines += 1;
        self.failed_reads += u64::from(read.failed);
        if self.measured {
            if !self.behind {
                self.lateness.record(woke.since(tick(self.period, k)));
            }
            self.reads.record(read.done.since(read.started));
        }
        let next = tick(self.period, k + 1);
        self.behind = read.done >= next;
        if self.behind {
            self.missed += 1;
            if self.missed <= MISSED_REPORTED {
                let more = if self.missed == MISSED_REPORTED {
                    "; further missed deadlines are only counted, in the sampler's statistics"
                } else {
                    ""
                };
                it.anomaly(
                    read.done,
                    format!(
                        "sampler missed its deadline at {next}: the read started at {} returned only at {}; the next read is taken at once, late{more}",
                        read.started, read.done
                    ),
                );
            }
        }
    }

    fn finish(self) -> SamplerStats {
        SamplerStats {
            scheduling: self.scheduling,
            period_s: self.period.as_secs_f64(),
            deadlines: self.deadlines,
            failed_reads: self.failed_reads,
            missed_deadlines: self.missed,
            wake_lateness: self.lateness.percentiles(),
            read_duration: self.reads.percentiles(),
        }
    }
}

impl Sampler {
    /// Starts sampling at the next boundary of the period grid after now (deadlines at
    /// k · period on the rig's clock, so samples of different runs line up and the timeline's
    /// windows fall on sample instants); the sensor must be measuring. `virtual_time` chooses
    /// the tokio task (paused clock) or the thread.
    pub fn spawn(
        sensor: FlowSensor<BenchI2c>,
        clock: RigClock,
        period: Duration,
        valve: ValveState,
        events: UnboundedSender<RunEvent>,
        virtual_time: bool,
    ) -> std::io::Result<Sampler> {
        let name = format!("flow sensor {} at 0x{:02X}", sensor.model(), sensor.address());
        let sink = SampleSink { readings: events.clone(), faults: events };
        Self::spawn_named(sensor, name, clock, period, valve, sink, virtual_time)
    }

    /// [`Sampler::spawn`], with `name` naming the sensor (its serial number and bus too) in a
    /// bench error.
    pub fn spawn_named(
        sensor: FlowSensor<BenchI2c>,
        name: String,
        clock: RigClock,
        period: Duration,
        valve: ValveState,
        events: SampleSink,
        virtual_time: bool,
    ) -> std::io::Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let start = clock.now();
        let first = first_tick(start, period);
        let witness = PanicWitness { faults: events.faults.clone(), clock, name: name.clone() };
        let mut it = Integrator::new(sensor, name, clock, valve, events);
        let flag = stop.clone();
        if virtual_time {
            let handle = tokio::spawn(async move {
                let _witness = witness;
                let mut tally = Tally::new(period, Scheduling::virtual_time(), false);
                let mut k = first;
                while !flag.load(Ordering::Relaxed) {
                    it.clock.sleep_until(tick(period, k)).await;
                    if flag.load(Ordering::Relaxed) {
                        break;
                    }
                    let woke = it.clock.now();
                    let read = it.read();
                    tally.count(&it, k, woke, &read);
                    if !read.go_on {
                        break;
                    }
                    k += 1;
                }
                Stopped { sensor: it.sensor, stats: tally.finish() }
            });
            Ok(Sampler::Task { stop, handle })
        } else {
            let (ready, scheduled) = std::sync::mpsc::sync_channel(1);
            let handle = std::thread::Builder::new().name("rig-sampler".into()).spawn(move || {
                let _witness = witness;
                let scheduling = request_fifo(RIG_FIFO_PRIORITY);
                let _ = ready.send(scheduling.clone());
                let mut tally = Tally::new(period, scheduling, true);
                let mut k = first;
                loop {
                    let deadline = it.clock.instant(tick(period, k)).into_std();
                    if !sleep_until_or(deadline, STOP_POLL, || flag.load(Ordering::Relaxed)) {
                        break;
                    }
                    let woke = it.clock.now();
                    let read = it.read();
                    tally.count(&it, k, woke, &read);
                    if !read.go_on {
                        break;
                    }
                    k += 1;
                }
                Stopped { sensor: it.sensor, stats: tally.finish() }
            })?;
            // The thread answers at once; without an answer, say so rather than guess.
            let scheduling = scheduled.recv_timeout(Duration::from_secs(2)).unwrap_or_else(|_| Scheduling {
                realtime: false,
                policy: "unknown: the sampler thread did not report its scheduling".into(),
                memory: None,
            });
            Ok(Sampler::Thread { stop, handle, scheduling })
        }
    }

    /// The lazy sampler on the in-process twin under the paused clock (see the module's text):
    /// the same reads and judgements as [`Sampler::spawn_named`], taken when the twin is next
    /// advanced or the executor next looks, each at its own deadline.
    pub fn on_twin(
        sensor: FlowSensor<BenchI2c>,
        name: String,
        twin: SharedTwin,
        period: Duration,
        valve: ValveState,
        events: SampleSink,
    ) -> Sampler {
        let clock = twin.clock();
        let start = clock.now();
        let it = Integrator::new(sensor, name, clock, valve, events);
        let state = Arc::new(Mutex::new(Some(LazyState {
            it,
            tally: Tally::new(period, Scheduling::virtual_time(), false),
            period,
            next: first_tick(start, period),
            ended: false,
        })));
        let shared = state.clone();
        twin.set_catch_up(Box::new(move |twin, now| {
            if let Some(state) = lock(&shared).as_mut() {
                state.catch_up(twin, RigTime::from_duration(now));
            }
        }));
        let handle = LazyHandle {
            twin,
            wanted: Arc::new(AtomicUsize::new(0)),
            wanted_changed: Arc::new(tokio::sync::Notify::new()),
        };
        let waker = tokio::spawn(wake_while_wanted(handle.clone(), state.clone()));
        Sampler::Lazy(LazySampler { state, handle, waker })
    }

    /// What the executor holds of a lazy sampler, to take its readings due by now and to ask for
    /// each reading as it falls due; `None` for the others, whose readings come by themselves.
    pub fn lazy_handle(&self) -> Option<LazyHandle> {
        match self {
            Sampler::Lazy(l) => Some(l.handle.clone()),
            _ => None,
        }
    }

    /// Stops sampling and returns the sensor and the statistics (`None` if the sampler died).
    pub async fn stop(self) -> Option<Stopped> {
        match self {
            Sampler::Lazy(l) => {
                // The readings due by now are taken; then nothing reads any more.
                l.handle.twin.catch_up();
                l.handle.twin.clear_catch_up();
                l.waker.abort();
                let state = lock(&l.state).take()?;
                Some(Stopped { sensor: state.it.sensor, stats: state.tally.finish() })
            }
            Sampler::Task { stop, handle } => {
                stop.store(true, Ordering::Relaxed);
                handle.await.ok()
            }
            Sampler::Thread { stop, handle, .. } => {
                stop.store(true, Ordering::Relaxed);
                tokio::task::spawn_blocking(move || handle.join().ok()).await.ok().flatten()
            }
        }
    }

    /// How the sampler is scheduled.
    pub fn scheduling(&self) -> Scheduling {
        match self {
            Sampler::Lazy(_) | Sampler::Task { .. } => Scheduling::virtual_time(),
            Sampler::Thread { scheduling, .. } => scheduling.clone(),
        }
    }
}

/// Says so when the sampler's task or thread unwinds from a panic (a bug in the rig): its
/// readings stop, and without a word the case would go on and judge what it had, a sensor
/// gone silent taken for a quiet one. The executor ends the case on the fault (ERROR).
struct PanicWitness {
    faults: UnboundedSender<RunEvent>,
    clock: RigClock,
    name: String,
}

impl Drop for PanicWitness {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let why = format!("{}: the sampler stopped reading (a panic in the rig while it read)", self.name);
            let _ =
                self.faults.send(RunEvent { at: self.clock.now(), kind: RunEventKind::SensorFault { why, raw: None } });
        }
    }
}

/// A sampler that reads when the twin is next advanced (see [`Sampler::on_twin`]).
pub struct LazySampler {
    state: Arc<Mutex<Option<LazyState>>>,
    handle: LazyHandle,
    waker: tokio::task::JoinHandle<()>,
}

impl Drop for LazySampler {
    /// A sampler dropped without [`Sampler::stop`] (a case that panicked) reads no more: the
    /// twin lets go of its catch-up (which holds the sensor, and through it the twin).
    fn drop(&mut self) {
        self.handle.twin.clear_catch_up();
        self.waker.abort();
    }
}

struct LazyState {
    it: Integrator,
    tally: Tally,
    period: Duration,
    /// The index of the next deadline to read.
    next: u64,
    /// A fault (or nobody listening) ended the sampling.
    ended: bool,
}

impl LazyState {
    /// Reads every deadline at or before `now`, each with the twin at its instant.
    fn catch_up(&mut self, twin: &SharedTwin, now: RigTime) {
        while !self.ended {
            let at = tick(self.period, self.next);
            if at > now {
                break;
            }
            let read = twin.read_at(at.as_duration(), || self.it.read_at(Some(at)));
            self.tally.count(&self.it, self.next, at, &read);
            self.ended = !read.go_on;
            self.next += 1;
        }
    }

    /// The next deadline, unless the sampling has ended.
    fn next_deadline(&self) -> Option<RigTime> {
        (!self.ended).then(|| tick(self.period, self.next))
    }
}

/// The executor's hold on a lazy sampler.
#[derive(Clone)]
pub struct LazyHandle {
    twin: SharedTwin,
    /// How many want each reading as it falls due (waits on the flow).
    wanted: Arc<AtomicUsize>,
    wanted_changed: Arc<tokio::sync::Notify>,
}

impl LazyHandle {
    /// Takes the readings due by now (they go to the sampler's sink).
    pub fn catch_up(&self) {
        self.twin.catch_up();
    }

    /// Until the guard is dropped, each reading is taken as it falls due (a wait on the flow).
    pub fn each_reading(&self) -> EachReading {
        self.wanted.fetch_add(1, Ordering::Relaxed);
        self.wanted_changed.notify_waiters();
        EachReading { wanted: self.wanted.clone(), changed: self.wanted_changed.clone() }
    }
}

/// See [`LazyHandle::each_reading`].
pub struct EachReading {
    wanted: Arc<AtomicUsize>,
    changed: Arc<tokio::sync::Notify>,
}

impl Drop for EachReading {
    fn drop(&mut self) {
        self.wanted.fetch_sub(1, Ordering::Relaxed);
        self.changed.notify_waiters();
    }
}

/// The lazy sampler's only timer: while a wait wants each reading, or an injection disturbs the
/// sensor, it wakes at each deadline and takes what is due; otherwise it sleeps until that
/// changes.
async fn wake_while_wanted(handle: LazyHandle, state: Arc<Mutex<Option<LazyState>>>) {
    let LazyHandle { twin, wanted, wanted_changed } = handle;
    let clock = twin.clock();
    loop {
        let changed = wanted_changed.notified();
        let injected = twin.injected();
        let eager = wanted.load(Ordering::Relaxed) > 0 || twin.sensor_disturbed();
        let next = lock(&state).as_ref().and_then(LazyState::next_deadline);
        match next {
            Some(at) if eager => tokio::select! {
                _ = clock.sleep_until(at) => twin.catch_up(),
                _ = changed => {}
                _ = injected => {}
            },
            Some(_) => tokio::select! {
                _ = changed => {}
                _ = injected => {}
            },
            None => return,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The index of the first grid point k · period strictly after `start`.
fn first_tick(start: RigTime, period: Duration) -> u64 {
    let period_ns = period.as_nanos().max(1);
    (start.as_duration().as_nanos() / period_ns) as u64 + 1
}

/// The grid point k · period.
fn tick(period: Duration, k: u64) -> RigTime {
    RigTime::from_duration(Duration::from_nanos((period.as_nanos() as u64).saturating_mul(k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::run::event::FlaggedReading;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    use crate::bus::BusClient;
    use crate::drivers::sensor_model::SensorModel;

    /// Flow 0, temperature 0, flags 0, each word with its SF06-LF CRC-8 (0x00 0x00 → 0x81).
    const ZERO_FRAME: &str = "000081000081000081";

    /// A bench bus whose sensor answers each read after `delay(n)` (n counts reads from 0), and
    /// notes on the rig's clock when each read request reached it.
    struct SlowBench {
        _dir: tempfile::TempDir,
        client: BusClient,
        seen: Arc<Mutex<Vec<RigTime>>>,
    }

    impl SlowBench {
        fn start(clock: RigClock, delay: fn(usize) -> Duration) -> SlowBench {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("bus.sock");
            let listener = UnixListener::bind(&path).unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = seen.clone();
            std::thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                let mut out = stream.try_clone().unwrap();
                let mut reads = 0;
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { return };
                    let answer = match line.as_str() {
                        "HELLO" => "OK bench=slow-bench inject=none".to_string(),
                        "I2C 08 R 9" => {
                            log.lock().unwrap().push(clock.now());
                            std::thread::sleep(delay(reads));
                            reads += 1;
                            format!("OK {ZERO_FRAME}")
                        }
                        _ => "OK".to_string(),
                    };
                    if out.write_all(format!("{answer}\n").as_bytes()).is_err() {
                        return;
                    }
                }
            });
            let client = BusClient::connect(&path).unwrap();
            SlowBench { _dir: dir, client, seen }
        }

        fn sensor(&self) -> FlowSensor<BenchI2c> {
            let mut sensor = FlowSensor::new(BenchI2c::Bus(self.client.i2c()), 0x08, SensorModel::Ld20_0600L);
            sensor.start_continuous().unwrap();
            sensor
        }
    }

    /// Runs the real-time sampler for `periods` periods of `period` and returns its events and
    /// statistics.
    async fn sample(
        bench: &SlowBench,
        clock: RigClock,
        period: Duration,
        periods: u32,
    ) -> (Vec<RunEvent>, SamplerStats) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let valve = Arc::new(AtomicBool::new(false));
        let sampler = Sampler::spawn(bench.sensor(), clock, period, valve, tx, false).unwrap();
        tokio::time::sleep(period * periods).await;
        let stopped = sampler.stop().await.expect("the sampler hands the sensor back");
        let events = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        (events, stopped.stats)
    }

    fn samples(events: &[RunEvent]) -> Vec<Sample> {
        events.iter().filter_map(|e| if let RunEventKind::Sample(s) = e.kind { Some(s) } else { None }).collect()
    }

    #[tokio::test]
    async fn a_sample_is_stamped_when_its_read_started_and_records_when_it_returned() {
        let clock = RigClock::start();
        let bench = SlowBench::start(clock, |_| Duration::from_millis(3));
        let (events, stats) = sample(&bench, clock, Duration::from_millis(20), 6).await;
        let samples = samples(&events);
        let seen = bench.seen.lock().unwrap().clone();
        assert!(samples.len() >= 2, "{events:?}");
        for (s, reached) in samples.iter().zip(&seen) {
            assert!(s.at <= *reached, "stamped at {}, after the read reached the sensor at {reached}", s.at);
            assert!(s.done_at >= *reached + Duration::from_millis(3), "returned at {}, before the answer", s.done_at);
        }
        let event_times: Vec<RigTime> =
            events.iter().filter(|e| matches!(e.kind, RunEventKind::Sample(_))).map(|e| e.at).collect();
        assert_eq!(event_times, samples.iter().map(|s| s.at).collect::<Vec<_>>(), "the event is at the read's start");
        assert_eq!(stats.deadlines, samples.len() as u64);
        let reads = stats.read_duration.expect("read durations are measured in real time");
        assert!(reads.p50_ms >= 3.0, "each read took the bench's 3 ms at least: {reads:?}");
        assert!(stats.wake_lateness.is_some());
        assert_eq!(stats.period_s, 0.02);
    }

    #[tokio::test]
    async fn a_missed_deadline_is_counted_and_reported_and_its_read_taken_late_not_skipped() {
        let clock = RigClock::start();
        // The third read takes longer than two periods.
        let bench = SlowBench::start(clock, |n| Duration::from_millis(if n == 2 { 50 } else { 0 }));
        let period = Duration::from_millis(20);
        let started = clock.now();
        let (events, stats) = sample(&bench, clock, period, 10).await;
        let samples = samples(&events);
        assert!(stats.missed_deadlines >= 1, "{stats:?}");
        assert_eq!(stats.deadlines, samples.len() as u64, "every deadline got its read");
        assert_eq!(stats.failed_reads, 0);
        let woke = stats.wake_lateness.expect("measured").count;
        assert_eq!(woke, stats.deadlines - stats.missed_deadlines, "a missed deadline is not a wake-up");
        let reported = events
            .iter()
            .filter(|e| matches!(&e.kind, RunEventKind::Anomaly { what } if what.contains("missed its deadline")))
            .count() as u64;
        assert_eq!(reported, stats.missed_deadlines.min(MISSED_REPORTED));
        // One sample per grid point, in order: each stamp lies at or after its own deadline. The
        // grid starts after the sampler's start (the instant before `spawn`: at most the
        // sampler's own first deadline), not after the first sample, which may itself be late
        // by more than a period (the first read under qemu, a loaded CI machine).
        let first = first_tick(started, period);
        for (i, s) in samples.iter().enumerate() {
            assert!(s.at >= tick(period, first + i as u64), "sample {i} at {} leads its deadline", s.at);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn under_virtual_time_the_statistics_say_so_and_count_every_deadline() {
        let clock = RigClock::start();
        let twin = crate::twin_host::SharedTwin::new(crate::sim::Twin::new(crate::sim::TwinConfig::default()), clock);
        let i2c = BenchI2c::Twin(crate::twin_host::SimI2c::new(twin));
        let mut sensor = FlowSensor::new(i2c, 0x08, SensorModel::Ld20_0600L);
        sensor.start_continuous().unwrap();
        clock.sleep_until(RigTime::from_millis(100)).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let period = Duration::from_secs(1);
        let sampler = Sampler::spawn(sensor, clock, period, Arc::new(AtomicBool::new(false)), tx, true).unwrap();
        assert!(!sampler.scheduling().realtime);
        clock.sleep_until(RigTime::from_millis(10_500)).await;
        let stopped = sampler.stop().await.unwrap();
        let events: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        let samples = samples(&events);
        assert_eq!(samples.len(), 10, "deadlines at 1 s … 10 s");
        assert!(samples.iter().all(|s| s.done_at == s.at), "a read takes no virtual time");
        let s = stopped.stats;
        assert_eq!(s.scheduling, Scheduling::virtual_time());
        assert_eq!((s.deadlines, s.missed_deadlines, s.failed_reads), (10, 0, 0));
        assert_eq!((s.wake_lateness, s.read_duration), (None, None), "nothing can be late in virtual time");
    }

    /// A twin delivering 1000 µL/h (so the readings change from one deadline to the next), its
    /// sensor measuring, the clock at 0.1 s.
    async fn delivering_twin(clock: RigClock) -> (crate::twin_host::SharedTwin, FlowSensor<BenchI2c>) {
        use crate::protocol::frame::encode_frame;
        let twin = crate::twin_host::SharedTwin::new(crate::sim::Twin::new(crate::sim::TwinConfig::default()), clock);
        twin.with(|t, now| {
            for p in ["1 FILL volume_ul=20000", "2 LIMIT max_24h_ul=24000", "3 PROGRAM basal_ul_h=1000", "4 START"] {
                t.serial_receive(now, &encode_frame(p).unwrap());
            }
        });
        let mut sensor =
            FlowSensor::new(BenchI2c::Twin(crate::twin_host::SimI2c::new(twin.clone())), 0x08, SensorModel::Ld20_0600L);
        sensor.start_continuous().unwrap();
        clock.sleep_until(RigTime::from_millis(100)).await;
        (twin, sensor)
    }

    fn lazy(twin: &crate::twin_host::SharedTwin, sensor: FlowSensor<BenchI2c>, period: Duration) -> (Sampler, Rx) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let sink = SampleSink { readings: tx.clone(), faults: tx };
        let sampler = Sampler::on_twin(
            sensor,
            "flow sensor".into(),
            twin.clone(),
            period,
            Arc::new(AtomicBool::new(false)),
            sink,
        );
        (sampler, rx)
    }

    type Rx = tokio::sync::mpsc::UnboundedReceiver<RunEvent>;

    fn taken(rx: &mut Rx) -> Vec<RunEvent> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    /// The lazy sampler reads what the sampler that wakes at every deadline reads: the same
    /// readings at the same instants, to the bit, though the twin is touched meanwhile (a valve
    /// closed mid-run) and its readings are taken in batches.
    #[tokio::test(start_paused = true)]
    async fn the_lazy_sampler_reads_what_a_sampler_waking_at_each_deadline_reads() {
        let period = Duration::from_millis(500);
        let run = |lazily: bool| async move {
            let clock = RigClock::start();
            let (twin, sensor) = delivering_twin(clock).await;
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let valve = Arc::new(AtomicBool::new(false));
            let sink = SampleSink { readings: tx.clone(), faults: tx };
            let sampler = if lazily {
                Sampler::on_twin(sensor, "flow sensor".into(), twin.clone(), period, valve, sink)
            } else {
                Sampler::spawn_named(sensor, "flow sensor".into(), clock, period, valve, sink, true).unwrap()
            };
            // Between deadlines, the valve closes (the twin advanced to 30.25 s), then opens.
            clock.sleep_until(RigTime::from_millis(30_250)).await;
            twin.with(|t, now| t.gpio_set(now, 17, true)).unwrap();
            clock.sleep_until(RigTime::from_millis(45_250)).await;
            twin.with(|t, now| t.gpio_set(now, 17, false)).unwrap();
            clock.sleep_until(RigTime::from_millis(60_100)).await;
            let stopped = sampler.stop().await.unwrap();
            (samples(&taken(&mut rx)), stopped.stats)
        };
        let (eager, eager_stats) = run(false).await;
        let (lazy, lazy_stats) = run(true).await;
        assert_eq!(eager.len(), 120, "deadlines at 0.5 s … 60 s");
        assert!(eager.iter().any(|s| s.flow_ul_h > 500.0), "the pump delivers: {:?}", &eager[..4]);
        let bits =
            |v: &[Sample]| v.iter().map(|s| (s.at, s.flow_ul_h.to_bits(), s.volume_ul.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&lazy), bits(&eager));
        assert_eq!(lazy_stats.deadlines, eager_stats.deadlines);
    }

    /// Nothing is read until the twin is advanced or the executor asks: then every deadline
    /// due is read, each stamped at its own instant.
    #[tokio::test(start_paused = true)]
    async fn the_lazy_sampler_takes_what_is_due_when_asked_and_not_before() {
        let clock = RigClock::start();
        let (twin, sensor) = delivering_twin(clock).await;
        let (sampler, mut rx) = lazy(&twin, sensor, Duration::from_secs(1));
        let handle = sampler.lazy_handle().expect("a lazy sampler has a handle");
        clock.sleep_until(RigTime::from_millis(10_500)).await;
        assert!(taken(&mut rx).is_empty(), "no reading without a wake-up");
        handle.catch_up();
        let at: Vec<RigTime> = samples(&taken(&mut rx)).iter().map(|s| s.at).collect();
        assert_eq!(at, (1..=10).map(|s| RigTime::from_millis(s * 1000)).collect::<Vec<_>>());
        // The twin advanced by someone else (the service port, the valve): due readings first.
        clock.sleep_until(RigTime::from_millis(13_000)).await;
        twin.with(|_, _| ());
        let at: Vec<RigTime> = samples(&taken(&mut rx)).iter().map(|s| s.at).collect();
        assert_eq!(at, [11_000, 12_000, 13_000].map(RigTime::from_millis), "a deadline equal to now is due");
        // While a wait looks at the flow, each reading comes at its deadline by itself.
        let each = handle.each_reading();
        clock.sleep_until(RigTime::from_millis(15_500)).await;
        assert_eq!(samples(&taken(&mut rx)).len(), 2, "14 s and 15 s");
        drop(each);
        clock.sleep_until(RigTime::from_millis(18_500)).await;
        assert!(taken(&mut rx).is_empty(), "lazy again once nobody waits on the flow");
        let stopped = sampler.stop().await.unwrap();
        assert_eq!(samples(&taken(&mut rx)).len(), 3, "stopping takes what is due");
        assert_eq!(stopped.stats.deadlines, 18);
    }

    /// Stopped or dropped (a case that panicked), the lazy sampler leaves the twin: nothing reads
    /// on its behalf afterwards.
    #[tokio::test(start_paused = true)]
    async fn a_lazy_sampler_stopped_or_dropped_leaves_the_twin() {
        let clock = RigClock::start();
        let (twin, sensor) = delivering_twin(clock).await;
        let (sampler, mut rx) = lazy(&twin, sensor, Duration::from_secs(1));
        drop(sampler);
        assert!(!twin.clear_catch_up(), "the dropped sampler took its catch-up away");
        clock.sleep_until(RigTime::from_millis(5_500)).await;
        twin.with(|_, _| ());
        assert!(samples(&taken(&mut rx)).is_empty(), "no reading after the drop");

        let (twin, sensor) = delivering_twin(RigClock::start()).await;
        let (sampler, _rx) = lazy(&twin, sensor, Duration::from_secs(1));
        assert!(sampler.stop().await.is_some());
        assert!(!twin.clear_catch_up(), "the stopped sampler took its catch-up away");
    }

    /// A disturbed sensor (a bench injection) is read at each deadline as it falls due, so its
    /// fault is sent at the read that showed it, not whenever the twin is next touched.
    #[tokio::test(start_paused = true)]
    async fn a_stuck_sensor_on_the_lazy_sampler_is_a_fault_at_the_read_that_showed_it() {
        let clock = RigClock::start();
        let (twin, sensor) = delivering_twin(clock).await;
        let (sampler, mut rx) = lazy(&twin, sensor, Duration::from_secs(1));
        clock.sleep_until(RigTime::from_millis(5_500)).await;
        twin.inject(crate::sim::Injection::SensorStuck(true));
        clock.sleep_until(RigTime::from_millis(60_000)).await;
        let events = taken(&mut rx);
        let fault = events.iter().find(|e| matches!(e.kind, RunEventKind::SensorFault { .. })).expect("a fault");
        let last = samples(&events).last().map(|s| s.at).unwrap();
        assert_eq!(fault.at, last, "the fault is stamped at the read that showed it");
        assert!(fault.at <= RigTime::from_millis(20_000), "stuck since 6 s: a fault within ten reads, at {}", fault.at);
        let stopped = sampler.stop().await.unwrap();
        assert_eq!(stopped.stats.deadlines, samples(&events).len() as u64, "no read after the fault");
    }

    /// The Pi's path: the sampler over `BenchI2c::Linux`, the bus an `embedded-hal-mock` whose
    /// transactions are written from ICD part 2 (CRCs worked out by hand from poly 0x31, init
    /// 0xFF): good frames, a frame flagged air in line, two NACKs, then the same frame ten times.
    #[tokio::test(start_paused = true)]
    async fn on_the_hardware_path_air_is_no_volume_nacks_are_skipped_and_a_stuck_sensor_stops_sampling() {
        use crate::bench::instruments::LinuxI2c;
        use embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
        use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

        // 600 counts (500 µL/h on an LD20), temperature 4600 + dt counts, flags.
        let temperature =
            [[0x11, 0xF8, 0x20], [0x11, 0xF9, 0x11], [0x11, 0xFA, 0x42], [0x11, 0xFB, 0x73], [0x11, 0xFC, 0xE4]];
        let frame = |flow: [u8; 3], dt: usize, flags: [u8; 3]| {
            let mut f = flow.to_vec();
            f.extend_from_slice(&temperature[dt]);
            f.extend_from_slice(&flags);
            Transaction::read(0x08, f)
        };
        let (flow_500, flow_2500, clear, air) =
            ([0x02, 0x58, 0x9F], [0x0B, 0xB8, 0x9D], [0x00, 0x00, 0x81], [0x00, 0x01, 0xB0]);
        let nack =
            || Transaction::read(0x08, vec![0; 9]).with_error(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        let mut script = vec![
            Transaction::write(0x08, vec![0x36, 0x08]),
            frame(flow_500, 0, clear), // 1 s
            frame(flow_500, 1, clear), // 2 s
            frame(flow_2500, 2, air),  // 3 s: air, its flow meaningless
            frame(flow_500, 3, clear), // 4 s
            nack(),                    // 5 s
            nack(),                    // 6 s
            frame(flow_500, 4, clear), // 7 s
        ];
        script.extend((8..=17).map(|_| frame(flow_500, 0, clear))); // 8 s … 17 s: stuck
        let mut mock = Mock::new(&script);
        let bus = LinuxI2c::over(OneByOne(mock.clone()));
        let mut sensor = FlowSensor::new(BenchI2c::Linux(bus), 0x08, SensorModel::Ld20_0600L);
        sensor.start_continuous().unwrap();
        let clock = RigClock::start();
        clock.sleep_until(RigTime::from_millis(500)).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sampler = Sampler::spawn_named(
            sensor,
            "flow sensor LD20-0600L serial 7 at 0x08 on /dev/i2c-1".into(),
            clock,
            Duration::from_secs(1),
            Arc::new(AtomicBool::new(false)),
            SampleSink { readings: tx.clone(), faults: tx },
            true,
        )
        .unwrap();
        clock.sleep_until(RigTime::from_millis(30_000)).await;
        let stopped = sampler.stop().await.unwrap();
        mock.done();
        let events: Vec<RunEvent> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        let at = |s: u64| RigTime::from_millis(s * 1000);

        let samples = samples(&events);
        let times: Vec<RigTime> = samples.iter().map(|s| s.at).collect();
        let expected: Vec<RigTime> = [1, 2, 4, 7].into_iter().chain(8..=17).map(at).collect();
        assert_eq!(times, expected, "no sample for the air reading or the failed reads");
        assert!(samples.iter().all(|s| (s.flow_ul_h - 500.0).abs() < 1e-9), "never a zero or an air flow");
        let volume = |t: u64| samples.iter().find(|s| s.at == at(t)).unwrap().volume_ul;
        assert!((volume(4) - volume(2) - 500.0 / 3600.0).abs() < 1e-9, "the air reading's second is not volume");
        assert!((volume(7) - volume(4) - 3.0 * 500.0 / 3600.0).abs() < 1e-9, "the read after the NACKs covers them");

        let air: Vec<&FlaggedReading> = events
            .iter()
            .filter_map(|e| if let RunEventKind::AirInLine(r) = &e.kind { Some(r) } else { None })
            .collect();
        assert_eq!(air.len(), 1);
        assert_eq!((air[0].raw.as_str(), air[0].flags), ("0bb89d11fa42 0001b0".replace(' ', "").as_str(), 1));
        assert!((air[0].flow_ul_h - 2500.0).abs() < 1e-9, "recorded as the sensor said it");

        let failed: Vec<(RigTime, u32)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                RunEventKind::SampleFailed { in_a_row, reason } => {
                    assert!(reason.contains("no acknowledge"), "{reason}");
                    Some((e.at, *in_a_row))
                }
                _ => None,
            })
            .collect();
        assert_eq!(failed, [(at(5), 1), (at(6), 2)]);

        let faults: Vec<(&str, Option<&str>)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                RunEventKind::SensorFault { why, raw } => Some((why.as_str(), raw.as_deref())),
                _ => None,
            })
            .collect();
        let [(why, raw)] = faults[..] else { panic!("one fault: {faults:?}") };
        assert_eq!(raw, Some("02589f11f820000081"));
        assert!(why.starts_with("flow sensor LD20-0600L serial 7 at 0x08 on /dev/i2c-1: stuck"), "{why}");
        assert!(why.contains("10 times in a row since 8.000s"), "{why}");
        assert_eq!(stopped.stats.deadlines, 17, "the sampler stopped at the stuck frame");
        assert_eq!(stopped.stats.failed_reads, 2);
    }

    /// The mock answers `read`/`write` with their scripted errors, but panics on an error
    /// inside `transaction` (what `LinuxI2c` calls): run a transaction's operations one by one.
    struct OneByOne(embedded_hal_mock::eh1::i2c::Mock);
    impl embedded_hal::i2c::ErrorType for OneByOne {
        type Error = embedded_hal::i2c::ErrorKind;
    }
    impl embedded_hal::i2c::I2c for OneByOne {
        fn transaction(
            &mut self,
            address: u8,
            operations: &mut [embedded_hal::i2c::Operation<'_>],
        ) -> Result<(), embedded_hal::i2c::ErrorKind> {
            use embedded_hal::i2c::Operation;
            operations.iter_mut().try_for_each(|op| match op {
                Operation::Read(buf) => self.0.read(address, buf),
                Operation::Write(bytes) => self.0.write(address, bytes),
            })
        }
    }
    /// A sampler whose reads panic (the mock panics past its script: a bug in the rig's read)
    /// reports a sensor fault on its way out, on virtual time (a task) and real time (a thread).
    async fn a_sampler_that_panics(virtual_time: bool, period: Duration) -> Vec<RunEvent> {
        use crate::bench::instruments::LinuxI2c;
        use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
        let frame = Transaction::read(0x08, vec![0x02, 0x58, 0x9F, 0x00, 0x00, 0x81, 0x00, 0x00, 0x81]);
        let mut mock = Mock::new(&[Transaction::write(0x08, vec![0x36, 0x08]), frame]);
        let bus = LinuxI2c::over(OneByOne(mock.clone()));
        let mut sensor = FlowSensor::new(BenchI2c::Linux(bus), 0x08, SensorModel::Ld20_0600L);
        sensor.start_continuous().unwrap();
        let clock = RigClock::start();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sink = SampleSink { readings: tx.clone(), faults: tx };
        let valve = Arc::new(AtomicBool::new(false));
        let sampler =
            Sampler::spawn_named(sensor, "flow sensor at 0x08".into(), clock, period, valve, sink, virtual_time)
                .unwrap();
        let mut events = Vec::new();
        while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            let fault = matches!(e.kind, RunEventKind::SensorFault { .. });
            events.push(e);
            if fault {
                break;
            }
        }
        assert!(sampler.stop().await.is_none(), "the sampler died");
        mock.done();
        events
    }

    fn says_it_stopped(events: &[RunEvent]) {
        assert_eq!(samples(events).len(), 1, "the one scripted reading: {events:?}");
        let faults: Vec<&str> = events
            .iter()
            .filter_map(|e| if let RunEventKind::SensorFault { why, .. } = &e.kind { Some(why.as_str()) } else { None })
            .collect();
        let [why] = faults[..] else { panic!("one fault: {events:?}") };
        assert!(why.starts_with("flow sensor at 0x08: the sampler stopped reading"), "{why}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_sampler_task_that_panics_says_the_sensor_is_lost() {
        says_it_stopped(&a_sampler_that_panics(true, Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn a_sampler_thread_that_panics_says_the_sensor_is_lost() {
        says_it_stopped(&a_sampler_that_panics(false, Duration::from_millis(20)).await);
    }

    #[test]
    fn deadlines_fall_on_the_period_grid_after_the_start() {
        let p = Duration::from_millis(500);
        assert_eq!(first_tick(RigTime::ZERO, p), 1);
        assert_eq!(first_tick(RigTime::from_millis(2), p), 1);
        assert_eq!(first_tick(RigTime::from_millis(500), p), 2, "a start on the grid samples one period later");
        assert_eq!(first_tick(RigTime::from_millis(1_234), p), 3);
        assert_eq!(tick(p, 3), RigTime::from_millis(1_500));
        // A week at 0.5 s is 1.2 million ticks; the arithmetic must not wrap.
        assert_eq!(tick(p, 1_209_600), RigTime::from_millis(604_800_000));
    }
}
