//! Min/max thinning of a series for plotting: the report's one way of drawing a week of samples
//! in a few thousand points without losing a one-sample spike.
//!
//! The first and last points are kept; the points between are cut into buckets of consecutive
//! rows, each of which keeps its lowest and highest point and its first non-finite one (a gap
//! stays a gap), in their original order. [`Thinner`] does it on a stream of unknown length, in
//! memory bounded by the output: the buckets start one row wide, and whenever the rows outgrow
//! them, neighbouring buckets are merged in pairs (each keeping the extremes and the first gap
//! of both), so the width doubles and the series always holds between half and all of its
//! buckets. [`thin`] does the same on a slice. The same rows give the same points however they
//! arrive: the run thins its samples as it writes them, and a reader of `samples.csv` as it
//! reads them, to the same plot.

type Point = (f64, f64);
/// A point and the row it came from.
type Kept = Option<(usize, Point)>;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    lo: Kept,
    hi: Kept,
    gap: Kept,
}

impl Bucket {
    fn add(&mut self, row: usize, p: Point) {
        if !(p.0.is_finite() && p.1.is_finite()) {
            self.gap.get_or_insert((row, p));
            return;
        }
        if self.lo.is_none_or(|(_, q)| p.1 < q.1) {
            self.lo = Some((row, p));
        }
        if self.hi.is_none_or(|(_, q)| p.1 > q.1) {
            self.hi = Some((row, p));
        }
    }

    /// `self` and the bucket after it as one bucket: the same as if its rows had come into one.
    fn merged(self, next: Bucket) -> Bucket {
        // Ties go to the earlier row, as they do when points arrive one by one.
        let lo = match (self.lo, next.lo) {
            (Some(a), Some(b)) => Some(if b.1.1 < a.1.1 { b } else { a }),
            (a, b) => a.or(b),
        };
        let hi = match (self.hi, next.hi) {
            (Some(a), Some(b)) => Some(if b.1.1 > a.1.1 { b } else { a }),
            (a, b) => a.or(b),
        };
        Bucket { lo, hi, gap: self.gap.or(next.gap) }
    }

    /// Its points in row order, each row once.
    fn points(&self) -> impl Iterator<Item = (usize, Point)> {
        let mut keep: Vec<(usize, Point)> = [self.lo, self.hi, self.gap].into_iter().flatten().collect();
        keep.sort_by_key(|&(row, _)| row);
        keep.dedup_by_key(|&mut (row, _)| row);
        keep.into_iter()
    }
}

/// Streaming thinning of one series whose points are rows of a file, in increasing order (a
/// series may skip rows, e.g. pressure before the pump's first `STATUS`), to at most
/// `max_points` (at least 5).
#[derive(Debug, Clone)]
pub struct Thinner {
    max_points: usize,
    /// Every point, while there are no more than `max_points` of them.
    all: Vec<Point>,
    /// The first point and its row, once thinning has begun.
    first: Kept,
    /// The latest point: kept as the series' last.
    last: Kept,
    /// Buckets `width` rows wide, the first starting on the row after the first point's.
    buckets: Vec<Bucket>,
    width: usize,
    capacity: usize,
    /// The rows seen, to replay `all` into buckets when thinning begins.
    rows: Vec<usize>,
}

impl Thinner {
    pub fn new(max_points: usize) -> Self {
        let max_points = max_points.max(5);
        Self {
            max_points,
            all: Vec::new(),
            first: None,
            last: None,
            buckets: Vec::new(),
            width: 1,
            capacity: (max_points - 2) / 3,
            rows: Vec::new(),
        }
    }

    /// Adds the point of row `row` (rows in increasing order).
    pub fn push(&mut self, row: usize, p: Point) {
        if self.first.is_none() {
            if self.all.len() < self.max_points {
                self.all.push(p);
                self.rows.push(row);
                return;
            }
            // One point too many to keep them all: thin from here on, the kept ones included.
            let all = std::mem::take(&mut self.all);
            let rows = std::mem::take(&mut self.rows);
            let mut points = rows.into_iter().zip(all);
            if let Some((r, q)) = points.next() {
                self.first = Some((r, q));
                self.last = Some((r, q));
            }
            for (r, q) in points {
                self.bucket(r, q);
            }
        }
        self.bucket(row, p);
    }

    fn bucket(&mut self, row: usize, p: Point) {
        let start = self.first.map_or(0, |(r, _)| r + 1);
        let mut k = row.saturating_sub(start) / self.width;
        while k >= self.capacity {
            self.buckets = self
                .buckets
                .chunks(2)
                .map(|pair| pair.iter().copied().reduce(Bucket::merged).unwrap_or_default())
                .collect();
            self.width *= 2;
            k = row.saturating_sub(start) / self.width;
        }
        if self.buckets.len() <= k {
            self.buckets.resize(k + 1, Bucket::default());
        }
        if let Some(b) = self.buckets.get_mut(k) {
            b.add(row, p);
        }
        self.last = Some((row, p));
    }

    /// The thinned series.
    pub fn finish(self) -> Vec<Point> {
        let Some((first_row, first)) = self.first else { return self.all };
        let last = self.last;
        let mut out = vec![first];
        let mut kept = first_row;
        for (row, p) in self.buckets.iter().flat_map(Bucket::points) {
            if row > kept {
                out.push(p);
                kept = row;
            }
        }
        if let Some((row, p)) = last
            && row > kept
        {
            out.push(p);
        }
        out
    }
}

/// `points` thinned to at most `max_points` (at least 5), as [`Thinner`] does.
pub fn thin(points: &[Point], max_points: usize) -> Vec<Point> {
    let mut t = Thinner::new(max_points);
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
            // At least half the buckets in use, each with its lowest and highest point.
            assert!(d.len() >= (max - 2) / 3, "{max}: buckets used: {}", d.len());
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
        let mut t = Thinner::new(50);
        for row in 10..1000 {
            t.push(row, (row as f64, if row == 500 { 99.0 } else { 1.0 }));
        }
        let out = t.finish();
        assert!(out.len() <= 50, "{}", out.len());
        assert_eq!(out.first(), Some(&(10.0, 1.0)));
        assert_eq!(out.last(), Some(&(999.0, 1.0)));
        assert!(out.contains(&(500.0, 99.0)));
    }

    #[test]
    fn any_length_is_bounded_kept_in_order_and_a_subsequence_of_the_input() {
        for n in [0usize, 1, 4, 5, 6, 99, 100, 101, 1000, 4097, 65_537] {
            let points: Vec<(f64, f64)> = (0..n).map(|i| (i as f64, ((i * 7919) % 1013) as f64)).collect();
            for max in [5, 17, 100] {
                let d = thin(&points, max);
                assert!(d.len() <= max.max(5), "{n} points, {max}: {}", d.len());
                if n <= max {
                    assert_eq!(d, points, "{n} points, {max}: a short series is kept whole");
                } else {
                    assert!(d.len() >= 3, "{n} points, {max}: first, last and the extremes between");
                }
                assert_eq!((d.first(), d.last()), (points.first(), points.last()), "{n}, {max}");
                // A subsequence: each kept point is the input's point at its time, in order.
                assert!(d.iter().all(|p| points[p.0 as usize] == *p), "{n}, {max}");
                assert!(d.windows(2).all(|w| w[0].0 < w[1].0), "{n}, {max}");
                let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
                if n > 0 {
                    assert!(d.iter().any(|p| p.1 == lo) && d.iter().any(|p| p.1 == hi), "{n}, {max}: extremes lost");
                }
            }
        }
    }

    #[test]
    fn a_merged_bucket_keeps_what_one_bucket_of_its_rows_would() {
        // Rows pushed one by one into 1-row buckets and merged must equal one wide bucket.
        let rows = [(3, (3.0, 5.0)), (4, (4.0, -1.0)), (5, (5.0, f64::NAN)), (6, (6.0, 9.0)), (7, (7.0, -1.0))];
        let mut wide = Bucket::default();
        let mut narrow = Vec::new();
        for &(row, p) in &rows {
            wide.add(row, p);
            let mut b = Bucket::default();
            b.add(row, p);
            narrow.push(b);
        }
        let merged = narrow.into_iter().reduce(Bucket::merged).unwrap();
        let rows_of = |b: &Bucket| b.points().map(|(r, _)| r).collect::<Vec<_>>();
        assert_eq!(rows_of(&merged), rows_of(&wide));
        assert_eq!(rows_of(&wide), vec![4, 5, 6], "lowest (first of the ties), gap, highest");
    }
}
