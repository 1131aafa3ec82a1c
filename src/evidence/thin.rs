//! Min/max thinning of a series for plotting: the report's one way of drawing a week of samples
//! in a few thousand points without losing a one-sample spike.
//!
//! The first and last points are kept; the points between are cut into buckets of consecutive
//! points, each of which keeps its lowest and highest point and its first non-finite one (a gap
//! stays a gap), in their original order. [`Thinner`] does it on a stream whose length is known
//! up front, in memory bounded by the output; [`thin`] on a slice.

/// Streaming thinning of one series whose points are rows `0..rows` of a file (a series may skip
/// rows, e.g. pressure before the pump's first `STATUS`), to at most `max_points` (at least 5).
pub struct Thinner {
    keep_all: bool,
    rows: usize,
    buckets: usize,
    out: Vec<(f64, f64)>,
    bucket: usize,
    lo: Option<(usize, (f64, f64))>,
    hi: Option<(usize, (f64, f64))>,
    gap: Option<(usize, (f64, f64))>,
    last: Option<(usize, (f64, f64))>,
    last_kept: Option<usize>,
}

impl Thinner {
    pub fn new(rows: usize, max_points: usize) -> Self {
        let max_points = max_points.max(5);
        Self {
            keep_all: rows <= max_points,
            rows,
            buckets: (max_points - 2) / 3,
            out: Vec::with_capacity(max_points.min(rows)),
            bucket: 0,
            lo: None,
            hi: None,
            gap: None,
            last: None,
            last_kept: None,
        }
    }

    /// Adds the point of row `row` (rows in increasing order).
    pub fn push(&mut self, row: usize, p: (f64, f64)) {
        if self.keep_all {
            self.out.push(p);
            return;
        }
        if self.last_kept.is_none() {
            self.out.push(p);
            self.last_kept = Some(row);
            return;
        }
        // Rows 1..rows-1 are the interior; clamp, in case the count was off.
        let interior = self.rows.saturating_sub(2).max(1) as u128;
        let k = ((row.saturating_sub(1) as u128 * self.buckets as u128 / interior) as usize).min(self.buckets - 1);
        if k != self.bucket {
            self.flush();
            self.bucket = k;
        }
        if !(p.0.is_finite() && p.1.is_finite()) {
            self.gap.get_or_insert((row, p));
        } else {
            if self.lo.is_none_or(|(_, q)| p.1 < q.1) {
                self.lo = Some((row, p));
            }
            if self.hi.is_none_or(|(_, q)| p.1 > q.1) {
                self.hi = Some((row, p));
            }
        }
        self.last = Some((row, p));
    }

    fn flush(&mut self) {
        let mut keep: Vec<(usize, (f64, f64))> =
            [self.lo.take(), self.hi.take(), self.gap.take()].into_iter().flatten().collect();
        keep.sort_by_key(|&(row, _)| row);
        keep.dedup_by_key(|&mut (row, _)| row);
        for (row, p) in keep {
            self.out.push(p);
            self.last_kept = Some(row);
        }
    }

    /// The thinned series.
    pub fn finish(mut self) -> Vec<(f64, f64)> {
        if !self.keep_all {
            self.flush();
            if let Some((row, p)) = self.last
                && self.last_kept.is_none_or(|k| row > k)
            {
                self.out.push(p);
            }
        }
        self.out
    }
}

/// `points` thinned to at most `max_points` (at least 5), as [`Thinner`] does.
pub fn thin(points: &[(f64, f64)], max_points: usize) -> Vec<(f64, f64)> {
    let mut t = Thinner::new(points.len(), max_points);
    for (row, &p) in points.iter().enumerate() {
        t.push(row, p);
    }
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_extremes_first_and_last_and_bounds_the_count() {
        let mut points: Vec<(f64, f64)> = (0..100_000).map(|i| (f64::from(i), (f64::from(i) * 0.01).sin())).collect();
        points[31_337].1 = 42.0; // one-sample spike
        points[77_777].1 = -17.0; // one-sample dip
        for max in [5, 10, 101, 1000, 4000] {
            let d = thin(&points, max);
            assert!(d.len() <= max, "{max}: {}", d.len());
            assert!(d.len() >= (max - 2) / 3 * 2, "{max}: buckets used: {}", d.len());
            assert_eq!(d.first(), points.first());
            assert_eq!(d.last(), points.last());
            assert!(d.windows(2).all(|w| w[0].0 < w[1].0), "order kept");
            assert!(d.contains(&(31_337.0, 42.0)), "{max}: spike lost");
            assert!(d.contains(&(77_777.0, -17.0)), "{max}: dip lost");
        }
        // Short input is returned unchanged.
        assert_eq!(thin(&points[..5], 10), points[..5].to_vec());
        assert_eq!(thin(&[], 10), vec![]);
        // A gap survives thinning.
        points[50_000].1 = f64::NAN;
        let d = thin(&points, 1000);
        assert!(d.len() <= 1000);
        assert!(d.iter().any(|p| p.1.is_nan()), "gap lost");
    }

    #[test]
    fn a_series_that_skips_rows_is_thinned_by_row() {
        // Points on rows 10..1000 of a 1000-row file (the first ten rows had no value).
        let mut t = Thinner::new(1000, 50);
        for row in 10..1000 {
            t.push(row, (row as f64, if row == 500 { 99.0 } else { 1.0 }));
        }
        let out = t.finish();
        assert!(out.len() <= 50, "{}", out.len());
        assert_eq!(out.first(), Some(&(10.0, 1.0)));
        assert_eq!(out.last(), Some(&(999.0, 1.0)));
        assert!(out.contains(&(500.0, 99.0)));
    }
}
