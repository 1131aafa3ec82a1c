//! What the dose limits are judged on: the strokes delivered and the boluses granted, with their
//! times, over the last 24 h (SRS-DOS-001, SRS-DOS-004).
//!
//! Every delivered stroke is one timestamp in a `VecDeque`, pruned as it leaves the window: at
//! the highest possible rate (1000 µL/h basal plus 1000 µL/h bolus) a day is 192 000 entries,
//! 1.5 MB, and each stroke costs an amortised O(1) push and pop. Counts over any window inside
//! the last 24 h are binary searches. Exact, with no bucketing.

use std::collections::VecDeque;
use std::time::Duration;

/// The rolling window of the dose limits.
pub const DAY: Duration = Duration::from_secs(86_400);

/// Delivered strokes and granted boluses of the last 24 h.
#[derive(Debug, Clone, Default)]
pub struct DoseHistory {
    strokes: VecDeque<Duration>,
    grants: VecDeque<Duration>,
    last_grant: Option<Duration>,
}

/// Items of `times` (sorted) that lie in `(now − 24 h, now]`, as an index range start.
fn window_start(times: &VecDeque<Duration>, now: Duration) -> usize {
    match now.checked_sub(DAY) {
        Some(cutoff) => times.partition_point(|&t| t <= cutoff),
        None => 0,
    }
}

fn prune(times: &mut VecDeque<Duration>, now: Duration) {
    let stale = window_start(times, now);
    times.drain(..stale);
}

impl DoseHistory {
    pub fn record_stroke(&mut self, now: Duration) {
        prune(&mut self.strokes, now);
        self.strokes.push_back(now);
    }

    pub fn record_grant(&mut self, now: Duration) {
        prune(&mut self.grants, now);
        self.grants.push_back(now);
        self.last_grant = Some(now);
    }

    /// Strokes delivered in the rolling window `(now − 24 h, now]`.
    pub fn strokes_in_rolling_day(&self, now: Duration) -> usize {
        self.strokes.len() - window_start(&self.strokes, now)
    }

    /// Strokes delivered at or after `start` (which must lie within the last 24 h).
    pub fn strokes_since(&self, start: Duration) -> usize {
        self.strokes.len() - self.strokes.partition_point(|&t| t < start)
    }

    /// Boluses granted in the rolling window `(now − 24 h, now]`.
    pub fn grants_in_rolling_day(&self, now: Duration) -> usize {
        self.grants.len() - window_start(&self.grants, now)
    }

    /// When the last granted bolus started.
    pub fn last_grant(&self) -> Option<Duration> {
        self.last_grant
    }

    /// The first instant at which `excess` of the strokes now in the rolling window will have
    /// left it; `None` if the window does not hold that many.
    pub fn rolling_release(&self, now: Duration, excess: usize) -> Option<Duration> {
        let index = window_start(&self.strokes, now).checked_add(excess.checked_sub(1)?)?;
        self.strokes.get(index).map(|&t| t.saturating_add(DAY))
    }
}

/// Strokes that make up a bolus of `dose_ul`: the nearest whole number of 0.25 µL strokes
/// (halves round up), at least one.
pub fn bolus_strokes(dose_ul: f64) -> u32 {
    if !(dose_ul.is_finite() && dose_ul > 0.0) {
        return 1;
    }
    let milli = (dose_ul * 1000.0).round().min(1e9) as u64;
    u32::try_from((milli + 125) / 250).unwrap_or(u32::MAX).max(1)
}

/// A granted bolus, delivered or being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bolus {
    pub id: u32,
    pub strokes_left: u32,
    pub strokes_done: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(hours: f64) -> Duration {
        Duration::from_secs_f64(hours * 3600.0)
    }

    #[test]
    fn rolling_window_is_half_open() {
        let mut d = DoseHistory::default();
        d.record_stroke(h(1.0));
        d.record_stroke(h(2.0));
        d.record_stroke(h(3.0));
        assert_eq!(d.strokes_in_rolling_day(h(3.0)), 3);
        // At 25 h, the stroke at 1 h is exactly 24 h old: out of (1 h, 25 h].
        assert_eq!(d.strokes_in_rolling_day(h(25.0)), 2);
        assert_eq!(d.strokes_in_rolling_day(h(24.999)), 3);
        assert_eq!(d.strokes_since(h(2.0)), 2);
        assert_eq!(d.rolling_release(h(3.0), 1), Some(h(25.0)));
        assert_eq!(d.rolling_release(h(3.0), 2), Some(h(26.0)));
        assert_eq!(d.rolling_release(h(3.0), 4), None);
        assert_eq!(d.rolling_release(h(3.0), 0), None);
    }

    #[test]
    fn pruning_keeps_memory_to_one_day() {
        let mut d = DoseHistory::default();
        // 2000 µL/h for 30 h: a stroke every 0.45 s.
        let n = (30.0 * 3600.0 / 0.45) as u64;
        for k in 1..=n {
            d.record_stroke(Duration::from_millis(450 * k));
        }
        let now = Duration::from_millis(450 * n);
        assert_eq!(d.strokes_in_rolling_day(now), 192_000);
        assert!(d.strokes.len() <= 192_001);
    }

    #[test]
    fn grants_and_lockout_reference() {
        let mut d = DoseHistory::default();
        assert_eq!(d.last_grant(), None);
        d.record_grant(h(1.0));
        d.record_grant(h(20.0));
        assert_eq!(d.last_grant(), Some(h(20.0)));
        assert_eq!(d.grants_in_rolling_day(h(24.5)), 2);
        assert_eq!(d.grants_in_rolling_day(h(25.0)), 1);
    }

    #[test]
    fn bolus_strokes_round_to_nearest() {
        assert_eq!(bolus_strokes(50.0), 200);
        assert_eq!(bolus_strokes(1.0), 4);
        assert_eq!(bolus_strokes(1.1), 4);
        assert_eq!(bolus_strokes(1.125), 5);
        assert_eq!(bolus_strokes(500.0), 2000);
        assert_eq!(bolus_strokes(f64::NAN), 1);
        assert_eq!(bolus_strokes(0.01), 1);
    }
}
