//! When delivery stopped, as seen by the flow sensor: the moment the flow between samples fell
//! well below the flow the pump was running at before the cause (a closed valve, an empty
//! reservoir, a stalled motor) was applied.
//!
//! The sensor does not see a stop as a step: line compliance and the sensor's own filtering make
//! the flow decay. The detector therefore brackets the stop between two times: `onset_s`, the
//! last moment the flow was evidently still on (≥ 90 % of the running flow), and `confirmed_s`,
//! the first sample at which it was evidently off (< 50 %). With a first-order decay of time
//! constant τ sampled every Δ, `onset_s` lags the true stop by about τ·ln(1/0.9) ≈ 0.105·τ (up to
//! one Δ more) and `confirmed_s` by about τ·ln 2 + Δ/2 (up to one Δ more).

use super::Point;
use super::series::{mean_flow, num, point_flows};

/// Flow below this share of the running flow means delivery has evidently stopped.
pub const STOPPED_BELOW: f64 = 0.5;
/// Flow at or above this share of the running flow means delivery is evidently still on.
pub const RUNNING_AT_LEAST: f64 = 0.9;

/// Where a stop of delivery lies in time, as seen by the sensor.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FlowStop {
    /// The last moment delivery was evidently still on (s): the end of the last sample interval
    /// before `confirmed_s` with flow ≥ 90 % of the running flow, or `after_s` if none.
    pub onset_s: f64,
    /// The estimated first missed stroke (s), timed from when measuring what follows the stop.
    /// The line decays to 90 % τ·ln(1/0.9) after the stop and to 50 % τ·ln 2 after it, so
    /// τ ≈ (confirmed − onset) / ln(0.9/0.5), and the stop is placed τ·ln(1/0.9) before the onset
    /// (never before `after_s`). Timing from the onset itself would make every latency look
    /// shorter than it was by about 0.1·τ.
    pub stop_s: f64,
    /// The first sample time after `after_s` ending an interval with flow < 50 % of the running
    /// flow: delivery had evidently stopped by then (s).
    pub confirmed_s: f64,
    /// The mean flow over the reference window before `after_s`, µL/h.
    pub running_flow_ul_h: f64,
}

/// Detects the stop of delivery after `after_s`, against the flow the pump was running at: the
/// mean flow over `[after_s − reference_window_s, after_s]`. The first missed stroke lies in
/// `[onset_s, confirmed_s]` (to within the sensor's lag, see the module docs).
///
/// Errors when the reference window is not positive or not covered by the samples, when the
/// running flow is not positive, or when the flow never fell below 50 % of it.
pub fn flow_stop(points: &[Point], after_s: f64, reference_window_s: f64) -> Result<FlowStop, String> {
    if !(reference_window_s > 0.0 && reference_window_s.is_finite()) {
        return Err(format!("the reference window ({reference_window_s} s) is not positive"));
    }
    let running_flow_ul_h = mean_flow(points, after_s - reference_window_s, after_s)
        .map_err(|e| format!("no running flow before {after_s} s: {e}"))?;
    if running_flow_ul_h.is_nan() || running_flow_ul_h <= 0.0 {
        return Err(format!("the running flow before {after_s} s ({} µL/h) is not positive", num(running_flow_ul_h)));
    }
    let flows = point_flows(points);
    let after: Vec<(f64, f64)> = flows.into_iter().filter(|(t, _)| *t > after_s).collect();
    let Some((stop, &(confirmed_s, _))) =
        after.iter().enumerate().find(|(_, (_, q))| *q < STOPPED_BELOW * running_flow_ul_h)
    else {
        return Err(format!(
            "the flow never fell below {} % of the running flow ({} µL/h) after {after_s} s",
            STOPPED_BELOW * 100.0,
            num(running_flow_ul_h)
        ));
    };
    let onset_s = after
        .get(..stop)
        .unwrap_or_default()
        .iter()
        .rev()
        .find(|(_, q)| *q >= RUNNING_AT_LEAST * running_flow_ul_h)
        .map_or(after_s, |(t, _)| *t);
    let tau = (confirmed_s - onset_s) / (RUNNING_AT_LEAST / STOPPED_BELOW).ln();
    let stop_s = (onset_s - tau * (1.0 / RUNNING_AT_LEAST).ln()).max(after_s.min(onset_s));
    Ok(FlowStop { onset_s, stop_s, confirmed_s, running_flow_ul_h })
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: f64 = 500.0;
    const TAU: f64 = 30.0;

    /// `R` µL/h until `t0`, then decaying as R·e^{−(t−t0)/τ}, sampled every second to 200 s.
    fn decay(t0: f64) -> Vec<Point> {
        let v = |t: f64| {
            if t <= t0 { R * t / 3600.0 } else { R / 3600.0 * (t0 + TAU * (1.0 - (-(t - t0) / TAU).exp())) }
        };
        (0..=200).map(|i| Point::new(i as f64, v(i as f64))).collect()
    }

    /// `R` µL/h until `t0`, then nothing, sampled every second to 200 s.
    fn step(t0: f64) -> Vec<Point> {
        (0..=200).map(|i| Point::new(i as f64, R * (i as f64).min(t0) / 3600.0)).collect()
    }

    #[test]
    fn a_first_order_decay_is_bracketed_by_its_90_and_50_percent_points() {
        let s = flow_stop(&decay(100.0), 100.0, 60.0).unwrap();
        assert!((s.running_flow_ul_h - R).abs() < 1e-9);
        // Interval (102, 103]: 500·30·(e^{−2/30} − e^{−3/30}) = 460.0 µL/h ≥ 450; (103, 104]:
        // 445.0 < 450. The 90 % point of the decay itself is at t0 + 30·ln(1/0.9) = t0 + 3.16.
        assert_eq!(s.onset_s, 103.0);
        // τ ≈ 19 / ln 1.8 = 32.3 s, so the stop is put 3.4 s before the onset: 99.6 s, within
        // half a sample of the true 100 s and not after it.
        assert!(s.stop_s <= 100.0 && s.stop_s >= 99.0, "{s:?}");
        // Interval (120, 121]: 252.5 µL/h ≥ 250; (121, 122]: 244.2 < 250. The 50 % point of the
        // decay is at t0 + 30·ln 2 = t0 + 20.79; the mean over a 1 s interval ending at t is
        // about the flow at t − 0.5 s, so confirmation comes within [20.79 + 0.5, 20.79 + 1.5].
        assert_eq!(s.confirmed_s, 122.0);
        let half = 100.0 + TAU * 2f64.ln();
        assert!(s.confirmed_s >= half + 0.5 && s.confirmed_s <= half + 1.5);
    }

    #[test]
    fn a_decay_starting_between_samples() {
        let s = flow_stop(&decay(100.5), 100.5, 60.0).unwrap();
        // (103, 104] averages e^{−(3.5 − 0.5)/30}-ish: 452.4 µL/h; (104, 105]: 437.6.
        assert_eq!(s.onset_s, 104.0);
        // (120, 121]: 256.7 µL/h; (121, 122]: 248.3.
        assert_eq!(s.confirmed_s, 122.0);
    }

    #[test]
    fn a_sharp_stop_is_found_within_one_sample() {
        let s = flow_stop(&step(100.0), 100.0, 60.0).unwrap();
        assert_eq!((s.onset_s, s.confirmed_s), (100.0, 101.0));
        // Looking from earlier: the last full interval, ending at 100 s, still ran.
        let s = flow_stop(&step(100.0), 90.0, 60.0).unwrap();
        assert_eq!((s.onset_s, s.confirmed_s), (100.0, 101.0));
        // A stop between samples: (100, 101] carries 0.4 s of flow (200 µL/h < 250).
        let s = flow_stop(&step(100.4), 90.0, 60.0).unwrap();
        assert_eq!((s.onset_s, s.confirmed_s), (100.0, 101.0));
    }

    #[test]
    fn no_stop_is_an_error() {
        let steady: Vec<Point> = (0..=200).map(|i| Point::new(i as f64, R * i as f64 / 3600.0)).collect();
        assert_eq!(
            flow_stop(&steady, 100.0, 60.0).unwrap_err(),
            "the flow never fell below 50 % of the running flow (500 µL/h) after 100 s"
        );
        // A decay that never reaches half within the samples.
        assert!(flow_stop(&decay(190.0), 190.0, 60.0).is_err());
    }

    #[test]
    fn no_running_flow_is_an_error() {
        let p = decay(100.0);
        assert!(flow_stop(&p, 100.0, 0.0).is_err());
        assert!(flow_stop(&p, 30.0, 60.0).unwrap_err().starts_with("no running flow before 30 s"));
        let idle: Vec<Point> = (0..=200).map(|i| Point::new(i as f64, 0.0)).collect();
        assert_eq!(
            flow_stop(&idle, 100.0, 60.0).unwrap_err(),
            "the running flow before 100 s (0 µL/h) is not positive"
        );
        assert!(flow_stop(&[], 100.0, 60.0).is_err());
        assert!(flow_stop(&[Point::new(0.0, 0.0)], 100.0, 60.0).is_err());
    }
}
