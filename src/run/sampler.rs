//! The flow sampler: reads the sensor at the plan's period against absolute deadlines
//! (t_k = k · period on the rig's clock, so no drift accumulates), integrates volume, and sends
//! stamped samples into the run's event stream.
//!
//! Under the paused clock (the in-process twin) it is a tokio task: its sleeps are what moves
//! virtual time. In real time it owns a thread (tokio's timer is 1 ms coarse and shares the
//! runtime), asking for real-time priority where the OS allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::bench::instruments::BenchI2c;
use crate::clock::{RigClock, RigTime};
use crate::drivers::flow_sensor::FlowSensor;

use super::event::{RunEvent, RunEventKind, Sample};

/// Shared view of the valve, so each sample records whether the line was blocked.
pub type ValveState = Arc<AtomicBool>;

/// After this many consecutive failed reads the sampler gives up: the sensor is gone.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 3;

/// A running sampler. [`Sampler::stop`] hands the sensor back.
pub enum Sampler {
    Task { stop: Arc<AtomicBool>, handle: tokio::task::JoinHandle<FlowSensor<BenchI2c>> },
    Thread { stop: Arc<AtomicBool>, handle: std::thread::JoinHandle<FlowSensor<BenchI2c>>, realtime: bool },
}

struct Integrator {
    sensor: FlowSensor<BenchI2c>,
    clock: RigClock,
    period: Duration,
    valve: ValveState,
    events: UnboundedSender<RunEvent>,
    last: RigTime,
    volume_ul: f64,
    failures: u32,
}

impl Integrator {
    /// Reads once; returns false when the sampler must stop (sensor gone or nobody listening).
    fn read(&mut self) -> bool {
        let reading = self.sensor.read();
        let at = self.clock.now();
        let kind = match reading {
            Ok(r) => {
                self.failures = 0;
                // The SF06-LF reports the mean flow since its previous reading.
                self.volume_ul += r.flow_ul_h * at.since(self.last).as_secs_f64() / 3600.0;
                self.last = at;
                RunEventKind::Sample(Sample {
                    at,
                    flow_ul_h: r.flow_ul_h,
                    volume_ul: self.volume_ul,
                    temperature_c: r.temperature_c,
                    air_in_line: r.flags.air_in_line,
                    valve_closed: self.valve.load(Ordering::Relaxed),
                })
            }
            Err(e) => {
                self.failures += 1;
                RunEventKind::SampleFailed { reason: e.to_string() }
            }
        };
        self.events.send(RunEvent { at, kind }).is_ok() && self.failures < MAX_CONSECUTIVE_FAILURES
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
        let stop = Arc::new(AtomicBool::new(false));
        let start = clock.now();
        let first = first_tick(start, period);
        let mut it = Integrator { sensor, clock, period, valve, events, last: start, volume_ul: 0.0, failures: 0 };
        if virtual_time {
            let flag = stop.clone();
            let handle = tokio::spawn(async move {
                let mut k = first;
                while !flag.load(Ordering::Relaxed) {
                    it.clock.sleep_until(tick(it.period, k)).await;
                    if flag.load(Ordering::Relaxed) || !it.read() {
                        break;
                    }
                    k += 1;
                }
                it.sensor
            });
            Ok(Sampler::Task { stop, handle })
        } else {
            let flag = stop.clone();
            let realtime = Arc::new(AtomicBool::new(false));
            let got_rt = realtime.clone();
            let handle = std::thread::Builder::new().name("rig-sampler".into()).spawn(move || {
                got_rt.store(raise_priority(), Ordering::Relaxed);
                let mut k = first;
                while !flag.load(Ordering::Relaxed) {
                    let deadline = it.clock.instant(tick(it.period, k)).into_std();
                    // Sleep in short slices so a stop request is seen within 50 ms.
                    loop {
                        let now = std::time::Instant::now();
                        if now >= deadline || flag.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
                    }
                    if flag.load(Ordering::Relaxed) || !it.read() {
                        break;
                    }
                    k += 1;
                }
                it.sensor
            })?;
            // Give the thread a moment to report whether it got real-time priority.
            std::thread::sleep(Duration::from_millis(5));
            Ok(Sampler::Thread { stop, handle, realtime: realtime.load(Ordering::Relaxed) })
        }
    }

    /// Stops sampling and returns the sensor (`None` if the sampler died).
    pub async fn stop(self) -> Option<FlowSensor<BenchI2c>> {
        match self {
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

    /// Whether the real-time thread got real-time scheduling.
    pub fn is_realtime(&self) -> bool {
        matches!(self, Sampler::Thread { realtime: true, .. })
    }
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

/// Asks for SCHED_FIFO priority for the sampler thread; false where the OS does not allow it.
fn raise_priority() -> bool {
    let param = libc::sched_param { sched_priority: 20 };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid parameter block.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

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
