//! Flow-rate accuracy in the style of IEC 60601-2-24: the start-up curve over the whole run and
//! the trumpet curve over the analysis period (usually the second hour).
//!
//! The cumulative volume is read every sample period S (the standard reads a balance every
//! 0.5 min); Q_i = (W_i − W_{i−1})·3600/S µL/h is the flow over the i-th sample interval. For an
//! observation window P of n = P/S samples, slid over the analysis period T in m = (T − P)/S + 1
//! positions, the trumpet curve gives the largest and smallest mean flow error of any window:
//!
//! Ep(max) = max_j (S/P)·Σ_{i=j}^{j+n−1} 100·(Q_i − r)/r, Ep(min) the same with min,
//!
//! and the overall error A = 100·(Q̄ − r)/r with Q̄ the mean flow over the whole period. A pump
//! delivering strokes looks bad over short windows by nature: every window is reported.

use super::Point;
use super::series::{check_covered, resample};

/// The observation windows of the standard, minutes: 2, 5, 11, 19 and 31 min.
pub const STANDARD_WINDOWS_MIN: [f64; 5] = [2.0, 5.0, 11.0, 19.0, 31.0];

/// One point of the trumpet curve: the extreme mean flow errors over windows of `window_s`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrumpetWindow {
    /// Observation window P, seconds.
    pub window_s: f64,
    /// How many positions m the window took in the analysis period.
    pub positions: usize,
    /// Ep(max): the largest mean flow error (%) over any window position.
    pub ep_max_pct: f64,
    /// Ep(min): the smallest (most negative) mean flow error (%) over any window position.
    pub ep_min_pct: f64,
}

/// The trumpet curve of one analysis period, with what it was computed from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrumpetCurve {
    /// Programmed flow r, µL/h.
    pub rate_ul_h: f64,
    /// Sample period S, seconds.
    pub sample_period_s: f64,
    /// Start of the analysis period, seconds from case start.
    pub from_s: f64,
    /// End of the analysis period, seconds from case start.
    pub to_s: f64,
    /// Overall error A (%): the mean flow over the whole period against the programmed flow.
    pub overall_error_pct: f64,
    /// One entry per observation window, in the order asked for.
    pub windows: Vec<TrumpetWindow>,
}

/// The flow Q_i (µL/h) over each sample interval of a cumulative volume series read every
/// `sample_period_s`: Q_i = (W_i − W_{i−1})·3600/S for i = 1..N, so one fewer than the readings.
///
/// Fewer than two readings, or a non-positive period, give no flows.
pub fn interval_flows(cumulative: &[f64], sample_period_s: f64) -> Vec<f64> {
    if !(sample_period_s > 0.0 && sample_period_s.is_finite()) {
        return Vec::new();
    }
    cumulative.iter().zip(cumulative.iter().skip(1)).map(|(a, b)| (b - a) * 3600.0 / sample_period_s).collect()
}

/// `Some(n)` when `length_s` is a whole number n ≥ 1 of `period_s` (within rounding).
fn whole_multiple(length_s: f64, period_s: f64) -> Option<usize> {
    let ratio = length_s / period_s;
    let n = ratio.round();
    if !(1.0..=1e9).contains(&n) || (ratio - n).abs() > 1e-9 * n {
        return None;
    }
    Some(n as usize)
}

fn check_period(sample_period_s: f64) -> Result<(), String> {
    if !(sample_period_s > 0.0 && sample_period_s.is_finite()) {
        return Err(format!("the sample period ({sample_period_s} s) is not positive"));
    }
    Ok(())
}

/// The trumpet curve of the delivery in `points` against the programmed flow `rate_ul_h`, over
/// the analysis period `[from_s, to_s]` read every `sample_period_s`, for each observation window
/// in `windows_s` (seconds; the standard's are [`STANDARD_WINDOWS_MIN`] × 60).
///
/// Errors when the rate is not positive, the samples do not cover the period, the period or a
/// window is not a whole multiple of the sample period, or a window is longer than the period.
pub fn trumpet_curve(
    points: &[Point],
    rate_ul_h: f64,
    from_s: f64,
    to_s: f64,
    sample_period_s: f64,
    windows_s: &[f64],
) -> Result<TrumpetCurve, String> {
    if !(rate_ul_h > 0.0 && rate_ul_h.is_finite()) {
        return Err(format!("the programmed flow ({rate_ul_h} µL/h) is not positive"));
    }
    check_period(sample_period_s)?;
    let period_s = to_s - from_s;
    if period_s.is_nan() || period_s <= 0.0 {
        return Err(format!("the analysis period ({from_s} s to {to_s} s) is empty"));
    }
    let Some(intervals) = whole_multiple(period_s, sample_period_s) else {
        return Err(format!(
            "the analysis period ({period_s} s) is not a whole multiple of the sample period ({sample_period_s} s)"
        ));
    };
    check_covered(points, from_s, to_s)?;
    let cumulative = resample(points, from_s, to_s, sample_period_s);
    let flows = interval_flows(&cumulative, sample_period_s);
    if flows.len() != intervals {
        return Err(format!("the analysis period gave {} sample intervals, not {intervals}", flows.len()));
    }
    // Prefix sums of the per-interval errors 100·(Q_i − r)/r: a window's sum is one subtraction.
    let mut prefix = Vec::with_capacity(flows.len() + 1);
    prefix.push(0.0);
    let mut sum = 0.0;
    for q in &flows {
        sum += 100.0 * (q - rate_ul_h) / rate_ul_h;
        prefix.push(sum);
    }
    let mut windows = Vec::with_capacity(windows_s.len());
    for &window_s in windows_s {
        if !(window_s > 0.0 && window_s.is_finite()) {
            return Err(format!("the window ({window_s} s) is not positive"));
        }
        if window_s > period_s + super::series::TIME_EPS_S {
            return Err(format!("the window ({window_s} s) is longer than the analysis period ({period_s} s)"));
        }
        let Some(n) = whole_multiple(window_s, sample_period_s) else {
            return Err(format!(
                "the window ({window_s} s) is not a whole multiple of the sample period ({sample_period_s} s)"
            ));
        };
        let positions = intervals - n + 1;
        let (mut ep_max_pct, mut ep_min_pct) = (f64::NEG_INFINITY, f64::INFINITY);
        // The window sum starting at interval j is prefix[j + n] − prefix[j].
        for (start, end) in prefix.iter().zip(prefix.iter().skip(n)).take(positions) {
            let ep = (end - start) / n as f64;
            ep_max_pct = ep_max_pct.max(ep);
            ep_min_pct = ep_min_pct.min(ep);
        }
        windows.push(TrumpetWindow { window_s, positions, ep_max_pct, ep_min_pct });
    }
    // `flows.len() == intervals` above: the series has intervals + 1 readings.
    let (Some(first), Some(last)) = (cumulative.first(), cumulative.get(intervals)) else {
        return Err(format!("the analysis period gave no readings for its {intervals} sample intervals"));
    };
    let mean_flow = (last - first) * 3600.0 / period_s;
    Ok(TrumpetCurve {
        rate_ul_h,
        sample_period_s,
        from_s,
        to_s,
        overall_error_pct: 100.0 * (mean_flow - rate_ul_h) / rate_ul_h,
        windows,
    })
}

/// The start-up curve: the flow Q_i (µL/h) over each sample interval of `[from_s, to_s]` (usually
/// the whole run), as `(end time of the interval s, Q_i)`. A last partial interval is left out.
///
/// Errors when the sample period is not positive, the interval is shorter than one sample
/// period, or the samples do not cover it.
pub fn startup_curve(
    points: &[Point],
    from_s: f64,
    to_s: f64,
    sample_period_s: f64,
) -> Result<Vec<(f64, f64)>, String> {
    check_period(sample_period_s)?;
    if to_s - from_s + super::series::TIME_EPS_S < sample_period_s {
        return Err(format!(
            "the interval ({} s) is shorter than the sample period ({sample_period_s} s)",
            to_s - from_s
        ));
    }
    check_covered(points, from_s, to_s)?;
    let cumulative = resample(points, from_s, to_s, sample_period_s);
    let flows = interval_flows(&cumulative, sample_period_s);
    Ok(flows.into_iter().enumerate().map(|(i, q)| (from_s + (i + 1) as f64 * sample_period_s, q)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: f64 = 60.0;

    fn standard_windows_s() -> Vec<f64> {
        STANDARD_WINDOWS_MIN.iter().map(|m| m * MIN).collect()
    }

    /// The REFERENCE.md check vector: 1 mL/h delivered as 50 µL pulses at t = 0.25 + 3k min over
    /// two hours, each pulse a step between samples 1 ms either side.
    fn pulsed_1ml_h() -> Vec<Point> {
        let mut points = vec![Point::new(0.0, 0.0)];
        for k in 0..40 {
            let t = (0.25 + 3.0 * k as f64) * MIN;
            points.push(Point::new(t - 0.001, 50.0 * k as f64));
            points.push(Point::new(t + 0.001, 50.0 * (k + 1) as f64));
        }
        points.push(Point::new(120.0 * MIN, 2000.0));
        points
    }

    /// A steady `rate_ul_h` over two hours, sampled every 10 s.
    fn steady(rate_ul_h: f64) -> Vec<Point> {
        (0..=720).map(|i| Point::new(i as f64 * 10.0, rate_ul_h * i as f64 * 10.0 / 3600.0)).collect()
    }

    #[test]
    fn interval_flows_are_per_hour() {
        // 5 µL in 30 s = 600 µL/h; nothing; 50 µL in 30 s = 6000 µL/h.
        assert_eq!(interval_flows(&[0.0, 5.0, 5.0, 55.0], 30.0), vec![600.0, 0.0, 6000.0]);
        assert!(interval_flows(&[1.0], 30.0).is_empty());
        assert!(interval_flows(&[], 30.0).is_empty());
        assert!(interval_flows(&[0.0, 1.0], 0.0).is_empty());
    }

    #[test]
    fn reproduces_the_reference_check_vector() {
        let c =
            trumpet_curve(&pulsed_1ml_h(), 1000.0, 60.0 * MIN, 120.0 * MIN, 0.5 * MIN, &standard_windows_s()).unwrap();
        let expected = [
            (2.0, 117, "+50.00", "-100.00"),
            (5.0, 111, "+20.00", "-40.00"),
            (11.0, 99, "+9.09", "-18.18"),
            (19.0, 83, "+10.53", "-5.26"),
            (31.0, 59, "+6.45", "-3.23"),
        ];
        assert_eq!(c.windows.len(), expected.len());
        for (w, (p_min, m, max, min)) in c.windows.iter().zip(expected) {
            assert_eq!(w.window_s, p_min * MIN);
            assert_eq!(w.positions, m, "P = {p_min} min");
            assert_eq!(format!("{:+.2}", w.ep_max_pct), max, "Ep(max), P = {p_min} min");
            assert_eq!(format!("{:+.2}", w.ep_min_pct), min, "Ep(min), P = {p_min} min");
        }
        assert_eq!(format!("{:.2}", c.overall_error_pct), "0.00");
        assert!(c.overall_error_pct.abs() < 1e-9);
        assert_eq!((c.rate_ul_h, c.sample_period_s, c.from_s, c.to_s), (1000.0, 30.0, 3600.0, 7200.0));
        // Exact fractions behind the rounded figures: one pulse in four intervals is 500 − 3·100
        // over 4; seven in 38 is (7·500 − 31·100)/38.
        assert!((c.windows[0].ep_max_pct - 50.0).abs() < 1e-9);
        assert!((c.windows[3].ep_max_pct - 400.0 / 38.0).abs() < 1e-9);
        assert!((c.windows[4].ep_min_pct + 200.0 / 62.0).abs() < 1e-9);
    }

    #[test]
    fn steady_delivery_has_a_flat_trumpet() {
        let c = trumpet_curve(&steady(250.0), 250.0, 3600.0, 7200.0, 30.0, &standard_windows_s()).unwrap();
        assert!(c.overall_error_pct.abs() < 1e-9);
        for w in &c.windows {
            assert!(w.ep_max_pct.abs() < 1e-9 && w.ep_min_pct.abs() < 1e-9, "{w:?}");
        }
    }

    #[test]
    fn ten_percent_overinfusion_is_plus_ten_everywhere() {
        let c = trumpet_curve(&steady(275.0), 250.0, 3600.0, 7200.0, 30.0, &standard_windows_s()).unwrap();
        assert!((c.overall_error_pct - 10.0).abs() < 1e-9);
        let m: Vec<usize> = c.windows.iter().map(|w| w.positions).collect();
        assert_eq!(m, vec![117, 111, 99, 83, 59]);
        for w in &c.windows {
            assert!((w.ep_max_pct - 10.0).abs() < 1e-9 && (w.ep_min_pct - 10.0).abs() < 1e-9, "{w:?}");
        }
    }

    #[test]
    fn a_window_as_long_as_the_period_has_one_position_equal_to_the_overall_error() {
        let c = trumpet_curve(&pulsed_1ml_h(), 800.0, 3600.0, 7200.0, 30.0, &[3600.0]).unwrap();
        // 1000 µL in the hour against 800 µL/h: +25 %.
        assert!((c.overall_error_pct - 25.0).abs() < 1e-9);
        assert_eq!(c.windows[0].positions, 1);
        assert!((c.windows[0].ep_max_pct - 25.0).abs() < 1e-9);
        assert!((c.windows[0].ep_min_pct - 25.0).abs() < 1e-9);
    }

    #[test]
    fn trumpet_refuses_what_it_cannot_compute() {
        let p = pulsed_1ml_h();
        let w = standard_windows_s();
        assert_eq!(
            trumpet_curve(&p, 0.0, 3600.0, 7200.0, 30.0, &w).unwrap_err(),
            "the programmed flow (0 µL/h) is not positive"
        );
        assert!(trumpet_curve(&p, -5.0, 3600.0, 7200.0, 30.0, &w).is_err());
        assert_eq!(
            trumpet_curve(&p, 1000.0, 3600.0, 7200.0, 30.0, &[100.0]).unwrap_err(),
            "the window (100 s) is not a whole multiple of the sample period (30 s)"
        );
        assert_eq!(
            trumpet_curve(&p, 1000.0, 3600.0, 4200.0, 30.0, &[3600.0]).unwrap_err(),
            "the window (3600 s) is longer than the analysis period (600 s)"
        );
        assert!(trumpet_curve(&p, 1000.0, 3600.0, 7200.0, 30.0, &[0.0]).is_err());
        assert!(trumpet_curve(&p, 1000.0, 3600.0, 7210.0, 30.0, &w).is_err());
        assert!(trumpet_curve(&p, 1000.0, 3600.0, 3600.0, 30.0, &w).is_err());
        assert!(trumpet_curve(&p, 1000.0, 3600.0, 7200.0, 0.0, &w).is_err());
        assert!(trumpet_curve(&p, 1000.0, 3600.0, 9000.0, 30.0, &w).unwrap_err().contains("do not cover"));
        assert!(trumpet_curve(&[], 1000.0, 3600.0, 7200.0, 30.0, &w).is_err());
        assert!(trumpet_curve(&[Point::new(0.0, 0.0)], 1000.0, 3600.0, 7200.0, 30.0, &w).is_err());
        // No windows asked: the overall error alone.
        assert_eq!(trumpet_curve(&p, 1000.0, 3600.0, 7200.0, 30.0, &[]).unwrap().windows, vec![]);
    }

    #[test]
    fn startup_curve_shows_each_pulse_in_its_interval() {
        let c = startup_curve(&pulsed_1ml_h(), 0.0, 120.0 * MIN, 30.0).unwrap();
        assert_eq!(c.len(), 240);
        assert_eq!(c[0], (30.0, 6000.0));
        assert_eq!(c[1], (60.0, 0.0));
        // The second pulse, at 3.25 min, lands in the interval ending at 3.5 min.
        assert_eq!(c[6], (210.0, 6000.0));
        assert_eq!(c.iter().filter(|(_, q)| *q > 0.0).count(), 40);
        assert_eq!(c[239].0, 7200.0);
        // A last partial interval is left out.
        assert_eq!(startup_curve(&pulsed_1ml_h(), 0.0, 75.0, 30.0).unwrap(), vec![(30.0, 6000.0), (60.0, 0.0)]);
    }

    #[test]
    fn startup_curve_refuses_what_it_cannot_compute() {
        let p = pulsed_1ml_h();
        assert_eq!(
            startup_curve(&p, 0.0, 20.0, 30.0).unwrap_err(),
            "the interval (20 s) is shorter than the sample period (30 s)"
        );
        assert!(startup_curve(&p, 0.0, 7200.0, 0.0).is_err());
        assert!(startup_curve(&p, 0.0, 8000.0, 30.0).is_err());
        assert!(startup_curve(&[], 0.0, 60.0, 30.0).is_err());
    }
}
