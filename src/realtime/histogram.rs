//! Latency distributions in bounded memory: a week at 100 Hz is 60 million wake-ups, too many
//! to keep, so each is counted in a fixed bucket and only the exact maximum is kept.
//!
//! Buckets are 1 µs wide below 1 ms, 10 µs to 10 ms, 1 ms to 1 s; one more counts everything
//! beyond. A percentile is reported as the upper edge of the bucket that holds it (never
//! better than measured), capped at the exact maximum.

use std::time::Duration;

use serde::{Deserialize, Serialize};

const FINE: u64 = 1_000; // 1 µs, in ns
const MEDIUM: u64 = 10_000; // 10 µs
const COARSE: u64 = 1_000_000; // 1 ms
const FINE_END: u64 = 1_000_000; // 1 ms
const MEDIUM_END: u64 = 10_000_000; // 10 ms
const COARSE_END: u64 = 1_000_000_000; // 1 s
const FINE_BUCKETS: usize = (FINE_END / FINE) as usize;
const MEDIUM_BUCKETS: usize = ((MEDIUM_END - FINE_END) / MEDIUM) as usize;
const COARSE_BUCKETS: usize = ((COARSE_END - MEDIUM_END) / COARSE) as usize;
const BUCKETS: usize = FINE_BUCKETS + MEDIUM_BUCKETS + COARSE_BUCKETS + 1;

/// The median, the 99th percentile and the maximum of a set of durations, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// How many durations were counted.
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Counts durations into fixed buckets (see the module's documentation).
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    buckets: Box<[u64]>,
    count: u64,
    max: Duration,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        Self { buckets: vec![0; BUCKETS].into_boxed_slice(), count: 0, max: Duration::ZERO }
    }

    pub fn record(&mut self, d: Duration) {
        let i = bucket(d);
        if let Some(b) = self.buckets.get_mut(i) {
            *b += 1;
        }
        self.count += 1;
        self.max = self.max.max(d);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// The smallest bucket edge at or below which a fraction `q` (0–1) of the durations lie
    /// (nearest rank), capped at the maximum; `None` when nothing was counted.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(upper_edge(i).min(self.max));
            }
        }
        Some(self.max)
    }

    /// p50, p99 and max, or `None` when nothing was counted.
    pub fn percentiles(&self) -> Option<Percentiles> {
        // Milliseconds to 0.1 µs.
        let ms = |d: Duration| (d.as_nanos() as f64 / 1e2).round() / 1e4;
        Some(Percentiles {
            count: self.count,
            p50_ms: ms(self.quantile(0.50)?),
            p99_ms: ms(self.quantile(0.99)?),
            max_ms: ms(self.max),
        })
    }
}

fn bucket(d: Duration) -> usize {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if ns < FINE_END {
        (ns / FINE) as usize
    } else if ns < MEDIUM_END {
        FINE_BUCKETS + ((ns - FINE_END) / MEDIUM) as usize
    } else if ns < COARSE_END {
        FINE_BUCKETS + MEDIUM_BUCKETS + ((ns - MEDIUM_END) / COARSE) as usize
    } else {
        BUCKETS - 1
    }
}

/// The exclusive upper edge of bucket `i` (for the last one, unbounded: the maximum decides).
fn upper_edge(i: usize) -> Duration {
    let i = i as u64;
    let (fine, medium, coarse) = (FINE_BUCKETS as u64, MEDIUM_BUCKETS as u64, COARSE_BUCKETS as u64);
    let ns = if i < fine {
        (i + 1) * FINE
    } else if i < fine + medium {
        FINE_END + (i - fine + 1) * MEDIUM
    } else if i < fine + medium + coarse {
        MEDIUM_END + (i - fine - medium + 1) * COARSE
    } else {
        u64::MAX
    };
    Duration::from_nanos(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn buckets_and_edges_agree_at_every_boundary() {
        for ns in [0, 999, 1_000, 999_999, 1_000_000, 9_999_999, 10_000_000, 999_999_999, 1_000_000_000] {
            let d = Duration::from_nanos(ns);
            let i = bucket(d);
            assert!(upper_edge(i) > d, "{ns} ns in bucket {i} whose edge is {:?}", upper_edge(i));
            if i > 0 {
                assert!(upper_edge(i - 1) <= d, "{ns} ns belongs to an earlier bucket");
            }
        }
        assert_eq!(bucket(Duration::from_secs(5)), BUCKETS - 1);
    }

    #[test]
    fn percentiles_by_nearest_rank_rounded_up_to_the_bucket() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.percentiles(), None);
        // 1..=100 µs, plus 0.5 µs steps that land in the same 1 µs buckets.
        for n in 1..=100 {
            h.record(us(n) + Duration::from_nanos(500));
        }
        let p = h.percentiles().unwrap();
        assert_eq!(p.count, 100);
        assert_eq!(p.p50_ms, 0.051, "the 50th value, 50.5 µs, reported as its bucket's edge");
        assert_eq!(p.p99_ms, 0.1, "the 99th, 99.5 µs");
        assert_eq!(p.max_ms, 0.1005, "the maximum is exact");
    }

    #[test]
    fn one_late_outlier_shows_in_the_maximum_and_not_in_p99() {
        let mut h = LatencyHistogram::new();
        for _ in 0..999 {
            h.record(us(20));
        }
        h.record(Duration::from_millis(1_500));
        let p = h.percentiles().unwrap();
        assert_eq!((p.p50_ms, p.p99_ms, p.max_ms), (0.021, 0.021, 1500.0));
        let mut h = LatencyHistogram::new();
        h.record(Duration::from_millis(3) + us(5));
        assert_eq!(h.quantile(0.5), Some(Duration::from_millis(3) + us(5)), "capped at the maximum");
    }
}
