//! Basal stroke times, exact.
//!
//! The k-th stroke after the anchor is due at `anchor + ⌈k·I⌉` nanoseconds, with the interval
//! `I = 0.25 µL / rate` computed from the rate in thousandths of µL/h (the ICD gives rates with
//! at most 3 decimals): `I = 9·10¹⁴ / rate_milli` ns. Times never accumulate rounding error, and
//! whenever `24 h / I` is whole (any rate that is a multiple of 1/96 µL/h), a stroke pattern
//! shifted by 24 h is the same pattern, so every rolling 24 h window of a steady basal holds the
//! same number of strokes.

use std::time::Duration;

/// ns·(thousandths of µL/h) per stroke: 0.25 µL × 3.6·10¹² ns/h × 1000.
pub const NS_MILLI_PER_STROKE: u128 = 900_000_000_000_000;
/// The same for a 0.2 µL stroke: the `delivery-25pct-fast` defect's constant.
pub const NS_MILLI_PER_SMALL_STROKE: u128 = 720_000_000_000_000;

/// The basal rate in thousandths of µL/h; 0 (no basal strokes) for anything not positive.
pub fn rate_milli(rate_ul_h: f64) -> u64 {
    if rate_ul_h.is_finite() && rate_ul_h > 0.0 { (rate_ul_h * 1000.0).round().min(1e15) as u64 } else { 0 }
}

/// Where the basal strokes of the current run fall.
#[derive(Debug, Clone)]
pub struct BasalSchedule {
    anchor: Duration,
    /// Strokes delivered on schedule since the anchor.
    k: u64,
    rate_milli: u64,
    /// Stroke volume the intervals are computed for, as [`NS_MILLI_PER_STROKE`].
    ns_milli_per_stroke: u128,
}

impl BasalSchedule {
    pub fn new(rate_ul_h: f64) -> Self {
        Self::with_stroke_constant(rate_ul_h, NS_MILLI_PER_STROKE)
    }

    /// A schedule whose intervals are computed with another stroke constant (a defect).
    pub fn with_stroke_constant(rate_ul_h: f64, ns_milli_per_stroke: u128) -> Self {
        Self { anchor: Duration::ZERO, k: 0, rate_milli: rate_milli(rate_ul_h), ns_milli_per_stroke }
    }

    /// Time from the anchor to the k-th stroke; `None` without a basal rate.
    fn offset(&self, k: u64) -> Option<Duration> {
        if self.rate_milli == 0 {
            return None;
        }
        let ns = (u128::from(k) * self.ns_milli_per_stroke).div_ceil(u128::from(self.rate_milli));
        Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
    }

    /// Starts a run at `now`: the first stroke is one interval later.
    pub fn restart(&mut self, now: Duration) {
        self.anchor = now;
        self.k = 0;
    }

    /// When the next basal stroke is due.
    pub fn next_due(&self) -> Option<Duration> {
        self.offset(self.k + 1).and_then(|d| self.anchor.checked_add(d))
    }

    /// A basal stroke was delivered at `now`: on time it keeps the pattern, late (after a motor
    /// retry or a dose-limit hold) it starts a new one from `now`.
    pub fn delivered(&mut self, now: Duration) {
        if self.next_due() == Some(now) {
            self.k += 1;
        } else {
            self.restart(now);
        }
    }

    /// A new rate while running: the next stroke comes one new interval after the last one
    /// (or the start of the run), but not before `now`.
    pub fn reprogram(&mut self, now: Duration, rate_ul_h: f64) {
        let last = self.anchor.saturating_add(self.offset(self.k).unwrap_or_default());
        self.rate_milli = rate_milli(rate_ul_h);
        let interval = self.offset(1).unwrap_or_default();
        self.anchor = last.max(now.saturating_sub(interval));
        self.k = 0;
    }

    /// Sets the rate for the next run without touching the current pattern (therapy stopped).
    pub fn set_rate(&mut self, rate_ul_h: f64) {
        self.rate_milli = rate_milli(rate_ul_h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: f64) -> Duration {
        Duration::from_secs_f64(v)
    }

    #[test]
    fn intervals_follow_the_rate() {
        // 0.25 µL at 10 µL/h = 90 s; at 500 µL/h = 1.8 s; at 1000 µL/h = 0.9 s.
        for (rate, interval) in [(10.0, 90.0), (500.0, 1.8), (1000.0, 0.9), (2.0, 450.0)] {
            let mut b = BasalSchedule::new(rate);
            b.restart(s(100.0));
            assert_eq!(b.next_due(), Some(s(100.0 + interval)), "{rate}");
        }
        assert_eq!(BasalSchedule::new(0.0).next_due(), None);
        assert_eq!(BasalSchedule::new(f64::NAN).next_due(), None);
        assert_eq!(BasalSchedule::new(-3.0).next_due(), None);
        let mut fast = BasalSchedule::with_stroke_constant(10.0, NS_MILLI_PER_SMALL_STROKE);
        fast.restart(Duration::ZERO);
        assert_eq!(fast.next_due(), Some(s(72.0)), "0.2 µL at 10 µL/h");
    }

    #[test]
    fn times_do_not_drift_and_repeat_every_24_h() {
        // 7 µL/h: I = 128.571428571… s, not a whole number of ns; 672 strokes a day.
        let mut b = BasalSchedule::new(7.0);
        b.restart(Duration::ZERO);
        let mut times = Vec::new();
        for _ in 0..(672 * 2) {
            let due = b.next_due().unwrap();
            times.push(due);
            b.delivered(due);
        }
        assert_eq!(times[671], s(86_400.0));
        for k in 0..672 {
            assert_eq!(times[k + 672] - times[k], Duration::from_secs(86_400));
        }
    }

    #[test]
    fn late_strokes_restart_the_pattern() {
        let mut b = BasalSchedule::new(10.0);
        b.restart(Duration::ZERO);
        b.delivered(s(95.0));
        assert_eq!(b.next_due(), Some(s(185.0)));
    }

    #[test]
    fn reprogram_keeps_the_last_stroke_as_reference() {
        let mut b = BasalSchedule::new(10.0);
        b.restart(Duration::ZERO);
        b.delivered(s(90.0));
        // At t = 100 s, switch to 100 µL/h (9 s): next at 99 s is past, so now.
        b.reprogram(s(100.0), 100.0);
        assert_eq!(b.next_due(), Some(s(100.0)));
        // At t = 92 s it would be 90 + 9 = 99 s.
        let mut b = BasalSchedule::new(10.0);
        b.restart(Duration::ZERO);
        b.delivered(s(90.0));
        b.reprogram(s(92.0), 100.0);
        assert_eq!(b.next_due(), Some(s(99.0)));
    }
}
