//! A cumulative-volume series as a function of time: interpolation, resampling onto a regular
//! grid (the "balance read every S" of the standard), volume and mean flow over an interval.

use super::Point;

/// Seconds of slack when deciding whether a time falls on a grid or inside the sampled span.
pub(crate) const TIME_EPS_S: f64 = 1e-9;

/// The cumulative volume (µL) delivered by time `t_s`, interpolated linearly between samples.
///
/// Outside the sampled span the series is clamped: before the first sample it is the first
/// volume, after the last sample the last volume. An empty series delivers nothing (0 µL).
pub fn volume_at(points: &[Point], t_s: f64) -> f64 {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return 0.0;
    };
    if t_s <= first.t_s {
        return first.volume_ul;
    }
    if t_s >= last.t_s {
        return last.volume_ul;
    }
    // First sample strictly after t: 1 ≤ i ≤ len − 1 given the clamps above.
    let i = points.partition_point(|p| p.t_s <= t_s);
    let (Some(&a), Some(&b)) = (points.get(i.wrapping_sub(1)), points.get(i)) else {
        return last.volume_ul;
    };
    let dt = b.t_s - a.t_s;
    if dt <= 0.0 {
        return b.volume_ul;
    }
    a.volume_ul + (b.volume_ul - a.volume_ul) * (t_s - a.t_s) / dt
}

/// The cumulative volume (µL) on the grid `start_s, start_s + period_s, …`, up to and including
/// `end_s` when it falls on the grid (within 1e-9 s), by [`volume_at`].
///
/// A non-positive or non-finite period, or an end before the start, gives an empty grid.
pub fn resample(points: &[Point], start_s: f64, end_s: f64, period_s: f64) -> Vec<f64> {
    grid(start_s, end_s, period_s).into_iter().map(|t| volume_at(points, t)).collect()
}

/// The grid times of [`resample`].
pub(crate) fn grid(start_s: f64, end_s: f64, period_s: f64) -> Vec<f64> {
    if !(period_s > 0.0 && period_s.is_finite() && start_s.is_finite() && end_s.is_finite()) || end_s < start_s {
        return Vec::new();
    }
    let steps = ((end_s - start_s + TIME_EPS_S) / period_s).floor();
    if !(0.0..=1e9).contains(&steps) {
        return Vec::new();
    }
    (0..=steps as u64).map(|k| start_s + k as f64 * period_s).collect()
}

/// A number for a message: at most three decimals, without trailing zeros (500.00000000000006
/// reads 500).
pub(crate) fn num(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// `Ok(())` when the samples span `[from_s, to_s]` (within 1e-9 s), else the reason.
pub(crate) fn check_covered(points: &[Point], from_s: f64, to_s: f64) -> Result<(), String> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Err("there are no flow samples".to_string());
    };
    if to_s < from_s {
        return Err(format!("the interval ends ({to_s} s) before it starts ({from_s} s)"));
    }
    if first.t_s > from_s + TIME_EPS_S || last.t_s < to_s - TIME_EPS_S {
        return Err(format!(
            "the flow samples ({} s to {} s) do not cover the interval ({from_s} s to {to_s} s)",
            first.t_s, last.t_s
        ));
    }
    Ok(())
}

/// The volume (µL) delivered through the sensor between `from_s` and `to_s`.
///
/// Errors when the samples do not cover the interval or it ends before it starts.
pub fn volume(points: &[Point], from_s: f64, to_s: f64) -> Result<f64, String> {
    check_covered(points, from_s, to_s)?;
    Ok(volume_at(points, to_s) - volume_at(points, from_s))
}

/// The mean flow (µL/h) between `from_s` and `to_s`: the volume delivered over the interval,
/// divided by its length.
///
/// Errors when the interval is empty or not covered by the samples.
pub fn mean_flow(points: &[Point], from_s: f64, to_s: f64) -> Result<f64, String> {
    if to_s <= from_s {
        return Err(format!("the interval ({from_s} s to {to_s} s) is empty"));
    }
    Ok(volume(points, from_s, to_s)? * 3600.0 / (to_s - from_s))
}

/// The flow error (%) of a measured flow against the programmed one: 100·(measured − programmed)
/// / programmed, the sign telling over- (+) from under-infusion (−).
///
/// The programmed flow must be positive: otherwise the result is not finite (or meaningless).
pub fn flow_error_pct(measured_ul_h: f64, programmed_ul_h: f64) -> f64 {
    100.0 * (measured_ul_h - programmed_ul_h) / programmed_ul_h
}

/// The flow (µL/h) over each interval between consecutive samples, as `(end time s, flow)`: what
/// the sensor saw delivered between one sample and the next. Fewer than two samples give none.
pub fn point_flows(points: &[Point]) -> Vec<(f64, f64)> {
    points
        .iter()
        .zip(points.iter().skip(1))
        .filter(|(a, b)| b.t_s > a.t_s)
        .map(|(a, b)| (b.t_s, (b.volume_ul - a.volume_ul) * 3600.0 / (b.t_s - a.t_s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// 0 µL at 0 s, 10 µL at 10 s, 10 µL at 20 s, 40 µL at 30 s.
    fn series() -> Vec<Point> {
        vec![Point::new(0.0, 0.0), Point::new(10.0, 10.0), Point::new(20.0, 10.0), Point::new(30.0, 40.0)]
    }

    #[test]
    fn volume_at_interpolates_and_clamps() {
        let p = series();
        assert_eq!(volume_at(&p, -5.0), 0.0);
        assert_eq!(volume_at(&p, 0.0), 0.0);
        assert!(close(volume_at(&p, 2.5), 2.5));
        assert_eq!(volume_at(&p, 10.0), 10.0);
        assert_eq!(volume_at(&p, 15.0), 10.0);
        assert!(close(volume_at(&p, 25.0), 25.0));
        assert_eq!(volume_at(&p, 30.0), 40.0);
        assert_eq!(volume_at(&p, 1e6), 40.0);
        assert_eq!(volume_at(&[], 3.0), 0.0);
        assert_eq!(volume_at(&[Point::new(5.0, 7.0)], 3.0), 7.0);
        assert_eq!(volume_at(&[Point::new(5.0, 7.0)], 9.0), 7.0);
    }

    #[test]
    fn resample_on_grid_includes_end_on_grid_only() {
        let p = series();
        assert_eq!(resample(&p, 0.0, 30.0, 10.0), vec![0.0, 10.0, 10.0, 40.0]);
        assert_eq!(resample(&p, 0.0, 29.0, 10.0), vec![0.0, 10.0, 10.0]);
        let r = resample(&p, 5.0, 25.0, 5.0);
        assert_eq!(r.len(), 5);
        for (got, want) in r.iter().zip([5.0, 10.0, 10.0, 10.0, 25.0]) {
            assert!(close(*got, want), "{r:?}");
        }
        // 0.3 / 0.1 is 2.999… in floating point: the end is still on the grid.
        assert_eq!(resample(&p, 0.0, 0.3, 0.1).len(), 4);
        assert_eq!(resample(&p, 0.0, 0.0, 10.0), vec![0.0]);
        assert!(resample(&p, 10.0, 0.0, 10.0).is_empty());
        assert!(resample(&p, 0.0, 10.0, 0.0).is_empty());
        assert!(resample(&p, 0.0, 10.0, -1.0).is_empty());
        assert!(resample(&p, 0.0, 10.0, f64::INFINITY).is_empty());
        assert_eq!(resample(&[], 0.0, 10.0, 5.0), vec![0.0, 0.0, 0.0]);
    }

    #[test]
    fn volume_and_mean_flow_over_an_interval() {
        let p = series();
        assert!(close(volume(&p, 5.0, 25.0).unwrap(), 20.0));
        assert!(close(volume(&p, 0.0, 30.0).unwrap(), 40.0));
        // 30 µL in 10 s = 10 800 µL/h.
        assert!(close(mean_flow(&p, 20.0, 30.0).unwrap(), 10_800.0));
        assert!(close(mean_flow(&p, 10.0, 20.0).unwrap(), 0.0));
        // 40 µL in 30 s = 4 800 µL/h.
        assert!(close(mean_flow(&p, 0.0, 30.0).unwrap(), 4_800.0));
    }

    #[test]
    fn volume_and_mean_flow_refuse_uncovered_or_empty_intervals() {
        let p = series();
        let e = volume(&p, -1.0, 10.0).unwrap_err();
        assert_eq!(e, "the flow samples (0 s to 30 s) do not cover the interval (-1 s to 10 s)");
        assert!(volume(&p, 0.0, 31.0).is_err());
        assert!(volume(&p, 20.0, 10.0).is_err());
        assert_eq!(volume(&[], 0.0, 1.0).unwrap_err(), "there are no flow samples");
        assert_eq!(volume(&p, 10.0, 10.0), Ok(0.0));
        assert_eq!(mean_flow(&p, 10.0, 10.0).unwrap_err(), "the interval (10 s to 10 s) is empty");
        assert!(mean_flow(&p, 0.0, 40.0).is_err());
        assert!(mean_flow(&[Point::new(0.0, 0.0)], 0.0, 1.0).is_err());
    }

    #[test]
    fn flow_error_is_relative_to_the_programmed_flow() {
        assert!(close(flow_error_pct(110.0, 100.0), 10.0));
        assert!(close(flow_error_pct(95.0, 100.0), -5.0));
        assert!(close(flow_error_pct(0.0, 250.0), -100.0));
        assert!(!flow_error_pct(1.0, 0.0).is_finite());
    }

    #[test]
    fn numbers_for_messages() {
        assert_eq!(num(500.00000000000006), "500");
        assert_eq!(num(2.5), "2.5");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(num(1234.56789), "1234.568");
    }

    #[test]
    fn point_flows_between_consecutive_samples() {
        let f = point_flows(&series());
        assert_eq!(f, vec![(10.0, 3_600.0), (20.0, 0.0), (30.0, 10_800.0)]);
        assert!(point_flows(&[]).is_empty());
        assert!(point_flows(&[Point::new(0.0, 0.0)]).is_empty());
    }
}
