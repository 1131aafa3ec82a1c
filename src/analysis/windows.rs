//! The most and the least delivered in any window of a given length: the volume limits of the
//! dose rules ("in no rolling 24 h window…") and the gaps of a stopped delivery.

use super::Point;
use super::series::{TIME_EPS_S, check_covered, volume_at};

/// Which extreme to look for.
#[derive(Clone, Copy)]
enum Extreme {
    Max,
    Min,
}

/// The largest volume (µL) delivered in any window of `window_s` seconds lying inside
/// `[from_s, to_s]`, with the end time (s) of the first window that delivered it.
///
/// The windows considered end at every sample time in range, at `to_s`, at `from_s + window_s`,
/// and at `t + window_s` for every sample time `t` (windows starting on a sample). The volume is
/// linear between samples, so these are all the places an extreme can be: the result is the
/// extreme over every window position, not only those ending on a sample.
///
/// Errors when the window is not positive, the interval is shorter than the window, or the
/// samples do not cover the interval.
pub fn max_window_volume(points: &[Point], window_s: f64, from_s: f64, to_s: f64) -> Result<(f64, f64), String> {
    extreme_window_volume(points, window_s, from_s, to_s, Extreme::Max)
}

/// The smallest volume (µL) delivered in any window of `window_s` seconds lying inside
/// `[from_s, to_s]`, with the end time (s) of the first window that delivered it. Same windows
/// and errors as [`max_window_volume`].
pub fn min_window_volume(points: &[Point], window_s: f64, from_s: f64, to_s: f64) -> Result<(f64, f64), String> {
    extreme_window_volume(points, window_s, from_s, to_s, Extreme::Min)
}

fn extreme_window_volume(
    points: &[Point],
    window_s: f64,
    from_s: f64,
    to_s: f64,
    extreme: Extreme,
) -> Result<(f64, f64), String> {
    check_window(points, window_s, from_s, to_s)?;
    let first_end = (from_s + window_s).min(to_s);
    // The window ends, in increasing order: `first_end`, then the sample times and the sample
    // times plus the window strictly between, merged (each sequence is sorted, as the samples
    // are), then `to_s`. Both ends of the sliding window only move forward, so the volume at
    // each is read by a cursor instead of a search: linear in the samples.
    let inside = |end: &f64| *end > first_end && *end < to_s;
    let mut starts = points.iter().map(|p| p.t_s).filter(inside).peekable();
    let mut shifted = points.iter().map(|p| p.t_s + window_s).filter(inside).peekable();
    let between = std::iter::from_fn(|| match (starts.peek(), shifted.peek()) {
        (Some(a), Some(b)) if a.total_cmp(b).is_le() => starts.next(),
        (Some(_), Some(_)) | (None, _) => shifted.next(),
        (Some(_), None) => starts.next(),
    });
    let ends = std::iter::once(first_end).chain(between).chain(std::iter::once(to_s));
    let (mut at_end, mut at_start) = (VolumeCursor::new(points), VolumeCursor::new(points));
    extreme_over(ends, extreme, |end| at_end.volume_at(end) - at_start.volume_at(end - window_s))
}

/// The extreme of `volume` over the window ends in `ends` (in increasing order), with the end
/// where it is first reached.
fn extreme_over(
    ends: impl IntoIterator<Item = f64>,
    extreme: Extreme,
    mut volume: impl FnMut(f64) -> f64,
) -> Result<(f64, f64), String> {
    let mut best: Option<(f64, f64)> = None;
    for end in ends {
        let v = volume(end);
        let better = match (best, extreme) {
            (None, _) => true,
            (Some((b, _)), Extreme::Max) => v > b,
            (Some((b, _)), Extreme::Min) => v < b,
        };
        if better {
            best = Some((v, end));
        }
    }
    best.ok_or_else(|| "no window fits in the interval".to_string())
}

/// The window is positive, fits in `[from_s, to_s]`, and the samples cover that interval.
fn check_window(points: &[Point], window_s: f64, from_s: f64, to_s: f64) -> Result<(), String> {
    if !(window_s > 0.0 && window_s.is_finite()) {
        return Err(format!("the window ({window_s} s) is not positive"));
    }
    if to_s - from_s + TIME_EPS_S < window_s {
        return Err(format!("the interval ({} s) is shorter than the window ({window_s} s)", to_s - from_s));
    }
    check_covered(points, from_s, to_s)
}

/// [`volume_at`] for times that never decrease: the same value, found by walking forward from
/// the previous time's place instead of searching the whole series.
struct VolumeCursor<'a> {
    points: &'a [Point],
    /// The first sample after the previous time.
    after: usize,
}

impl<'a> VolumeCursor<'a> {
    fn new(points: &'a [Point]) -> Self {
        Self { points, after: 0 }
    }

    fn volume_at(&mut self, t_s: f64) -> f64 {
        while self.points.get(self.after).is_some_and(|p| p.t_s <= t_s) {
            self.after += 1;
        }
        // Up to the first sample, the first sample's volume (also when later samples share its
        // time), as `volume_at` clamps; after it, the samples either side of `t_s`, where its
        // search would land (or the series' last sample): it reads them the same way.
        if self.points.first().is_some_and(|first| t_s <= first.t_s) {
            return volume_at(self.points.get(..1).unwrap_or_default(), t_s);
        }
        let from = self.after.saturating_sub(1);
        let to = (self.after + 1).min(self.points.len());
        volume_at(self.points.get(from..to).unwrap_or_default(), t_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f64, f64), b: (f64, f64)) -> bool {
        (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9
    }

    /// 1 µL every 10 s, except a 10 µL burst between 20 s and 30 s, to 60 s.
    fn burst() -> Vec<Point> {
        [(0.0, 0.0), (10.0, 1.0), (20.0, 2.0), (30.0, 12.0), (40.0, 13.0), (50.0, 14.0), (60.0, 15.0)]
            .into_iter()
            .map(|(t, v)| Point::new(t, v))
            .collect()
    }

    /// The search this module did before its cursor (after the same argument checks and the same
    /// choice among the ends): every end sorted, `volume_at` searched for each. The cursor must give the same extreme at the same end, bit for bit.
    fn by_search(
        points: &[Point],
        window_s: f64,
        from_s: f64,
        to_s: f64,
        extreme: Extreme,
    ) -> Result<(f64, f64), String> {
        check_window(points, window_s, from_s, to_s)?;
        let first_end = (from_s + window_s).min(to_s);
        let mut ends: Vec<f64> = vec![first_end, to_s];
        for p in points {
            for end in [p.t_s, p.t_s + window_s] {
                if end > first_end && end < to_s {
                    ends.push(end);
                }
            }
        }
        ends.sort_by(f64::total_cmp);
        extreme_over(ends, extreme, |end| volume_at(points, end) - volume_at(points, end - window_s))
    }

    #[test]
    fn the_cursor_finds_what_the_search_found() {
        use proptest::prelude::*;
        let series = proptest::collection::vec((0.0..50.0f64, -5.0..40.0f64, 0u8..6), 1..200);
        let config = ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(steps in series, window in 0.01..400.0f64, from in -10.0..300.0f64, len in 0.0..600.0f64)| {
            // Sample times that never decrease (some repeated), volumes that may fall (noise).
            let mut t = 0.0;
            let mut v = 0.0;
            let points: Vec<Point> = steps
                .iter()
                .map(|&(dt, dv, kind)| {
                    t += if kind == 0 { 0.0 } else if kind == 1 { 1.0 } else { dt };
                    v += dv;
                    Point::new(t, v)
                })
                .collect();
            let first = points[0].t_s;
            for (from_s, to_s) in [(from, from + len), (first, t), (first, first + window), (first + 0.5, t - 0.25)] {
                for extreme in [Extreme::Max, Extreme::Min] {
                    let fast = extreme_window_volume(&points, window, from_s, to_s, extreme);
                    let slow = by_search(&points, window, from_s, to_s, extreme);
                    prop_assert_eq!(fast.map(|(v, e)| (v.to_bits(), e.to_bits())), slow.map(|(v, e)| (v.to_bits(), e.to_bits())));
                }
            }
        });
    }

    #[test]
    fn the_burst_is_the_largest_window() {
        let p = burst();
        assert!(close(max_window_volume(&p, 10.0, 0.0, 60.0).unwrap(), (10.0, 30.0)));
        // 15 s: the burst plus half a baseline interval, first reached by the window [15, 30].
        assert!(close(max_window_volume(&p, 15.0, 0.0, 60.0).unwrap(), (10.5, 30.0)));
        // 30 s: the burst and two baseline intervals, first in [0, 30].
        assert!(close(max_window_volume(&p, 30.0, 0.0, 60.0).unwrap(), (12.0, 30.0)));
        // The whole interval as one window.
        assert!(close(max_window_volume(&p, 60.0, 0.0, 60.0).unwrap(), (15.0, 60.0)));
        // Restricted to after the burst.
        assert!(close(max_window_volume(&p, 10.0, 30.0, 60.0).unwrap(), (1.0, 40.0)));
        // A window cut by the start of the interval, mid-burst: [25, 35] = 5 + 0.5.
        assert!(close(max_window_volume(&p, 10.0, 25.0, 60.0).unwrap(), (5.5, 35.0)));
    }

    #[test]
    fn the_baseline_is_the_smallest_window() {
        let p = burst();
        assert!(close(min_window_volume(&p, 10.0, 0.0, 60.0).unwrap(), (1.0, 10.0)));
        assert!(close(min_window_volume(&p, 15.0, 0.0, 60.0).unwrap(), (1.5, 15.0)));
        assert!(close(min_window_volume(&p, 30.0, 0.0, 60.0).unwrap(), (3.0, 60.0)));
        assert!(close(min_window_volume(&p, 10.0, 15.0, 35.0).unwrap(), (5.5, 25.0)));
    }

    #[test]
    fn windows_not_ending_on_a_sample_count() {
        // 4 µL in the first 4 s, then 1 µL over 16 s: the 10 s window [0, 10] holds 4 + 6/16 µL,
        // though no sample lies at 10 s.
        let p = vec![Point::new(0.0, 0.0), Point::new(4.0, 4.0), Point::new(20.0, 5.0)];
        assert!(close(max_window_volume(&p, 10.0, 0.0, 20.0).unwrap(), (4.375, 10.0)));
        assert!(close(min_window_volume(&p, 10.0, 0.0, 20.0).unwrap(), (0.625, 14.0)));
    }

    #[test]
    fn refuses_short_intervals_and_uncovered_ones() {
        let p = burst();
        assert_eq!(
            max_window_volume(&p, 3600.0, 0.0, 600.0).unwrap_err(),
            "the interval (600 s) is shorter than the window (3600 s)"
        );
        assert!(min_window_volume(&p, 10.0, 0.0, 5.0).is_err());
        assert!(max_window_volume(&p, 0.0, 0.0, 60.0).is_err());
        assert!(max_window_volume(&p, -1.0, 0.0, 60.0).is_err());
        assert!(max_window_volume(&p, 10.0, 0.0, 70.0).unwrap_err().contains("do not cover"));
        assert!(min_window_volume(&[], 10.0, 0.0, 60.0).is_err());
        assert!(min_window_volume(&[Point::new(0.0, 0.0)], 10.0, 0.0, 60.0).is_err());
    }
}
