//! One clock for the whole rig: every sample, frame, command and event is stamped with a
//! [`RigTime`] read from the same [`RigClock`].
//!
//! The clock is tokio's: on the in-process twin tokio's time is paused and auto-advanced, so
//! simulated hours pass in milliseconds; on a pty or a real bench it is the monotonic clock.
//! Either way there is exactly one source of time.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// A point on the run's timeline: the time since the run's epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RigTime(Duration);

impl RigTime {
    pub const ZERO: RigTime = RigTime(Duration::ZERO);

    pub const fn from_duration(d: Duration) -> Self {
        RigTime(d)
    }

    pub const fn from_millis(ms: u64) -> Self {
        RigTime(Duration::from_millis(ms))
    }

    pub fn from_secs_f64(s: f64) -> Self {
        RigTime(Duration::from_secs_f64(s.max(0.0)))
    }

    pub const fn as_duration(self) -> Duration {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0.as_secs_f64()
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: RigTime) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::ops::Add<Duration> for RigTime {
    type Output = RigTime;
    fn add(self, d: Duration) -> RigTime {
        RigTime(self.0 + d)
    }
}

impl fmt::Display for RigTime {
    /// Seconds with millisecond resolution: `t=12.345s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}s", self.0.as_secs_f64())
    }
}

impl Serialize for RigTime {
    /// Seconds as a number, microsecond resolution.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((self.0.as_micros() as f64) / 1e6)
    }
}

/// The run's clock. Cheap to clone; every clone reads the same timeline.
#[derive(Debug, Clone, Copy)]
pub struct RigClock {
    epoch: tokio::time::Instant,
}

impl RigClock {
    /// A clock whose epoch is now.
    pub fn start() -> Self {
        Self { epoch: tokio::time::Instant::now() }
    }

    pub fn now(&self) -> RigTime {
        RigTime(self.epoch.elapsed())
    }

    /// The tokio instant of a point on the timeline, for `sleep_until`.
    pub fn instant(&self, t: RigTime) -> tokio::time::Instant {
        self.epoch + t.0
    }

    /// Sleeps until `t` on this clock (an absolute deadline: no drift accumulates).
    pub async fn sleep_until(&self, t: RigTime) {
        tokio::time::sleep_until(self.instant(t)).await
    }
}

/// The runtime the in-process twin runs under: one thread, tokio's clock paused and advanced
/// to the next timer whenever every task waits, so bench time costs no wall time. Time only:
/// nothing on the twin needs the I/O driver, and with one every step of the paused clock would
/// park in `epoll_wait` (signals are listened for on a thread of their own, see
/// `run::emergency::ProcessSignals`).
pub fn virtual_time_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paused_clock_advances_only_by_sleeping() {
        let clock = RigClock::start();
        assert_eq!(clock.now(), RigTime::ZERO);
        clock.sleep_until(RigTime::from_millis(86_400_000)).await;
        assert_eq!(clock.now(), RigTime::from_millis(86_400_000));
    }

    #[test]
    fn display_and_arithmetic() {
        let t = RigTime::from_millis(12_345);
        assert_eq!(t.to_string(), "12.345s");
        assert_eq!((t + Duration::from_millis(5)).since(t), Duration::from_millis(5));
        assert_eq!(RigTime::ZERO.since(t), Duration::ZERO);
    }
}
