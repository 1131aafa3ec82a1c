//! Mapping the pump's own clock (`pump_ms`, ICD part 1: a monotonic crystal clock, ±100 ppm)
//! onto the rig's, to place a pump event more precisely than its arrival.
//!
//! An event's frame reaches the rig late by its transmission and the pump's queueing. Its
//! `pump_ms` says when the pump raised it on the pump's clock. Each `STATUS` answer ties the two
//! clocks: the pump read its clock (`pump_ms` in the answer) at some rig time between the
//! request's write and the answer's arrival. From one such tie, an event `Δ` of pump time later
//! happened `Δ·(1 ± 100 ppm)` of rig time later; every tie gives an interval, and the event lies in
//! all of them and not after its own arrival. The intersection is the mapped time; its half-width
//! the uncertainty. A tie long before the event contributes a wide interval, so the nearest ties
//! decide; the drift bound needs no fit and cannot be fooled by a pump that drifts within spec.
//!
//! `pump_ms` restarts at every boot: ties and events are mapped within one boot epoch only.
//! Times are seconds on the rig's clock.

/// The ICD's bound on the pump clock's rate error.
pub const PUMP_CLOCK_PPM: f64 = 100.0;

/// How far a reported `pump_ms` may lie from the pump's true clock: the ICD does not say whether
/// it truncates or rounds, so a whole millisecond either way.
pub const PUMP_MS_RESOLUTION_S: f64 = 0.001;

/// One `STATUS` answer as a tie between the clocks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockTie {
    /// When the request went out (its write started), rig s.
    pub asked_s: f64,
    /// When the answer arrived, rig s.
    pub answered_s: f64,
    /// The pump's clock in the answer, ms since its boot.
    pub pump_ms: u64,
}

/// Where on the rig's clock a pump event happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MappedTime {
    /// The middle of the feasible interval, rig s.
    pub at_s: f64,
    /// Half its width, s.
    pub uncertainty_s: f64,
}

/// Maps an event raised at `pump_ms` (that arrived at `arrived_s`) onto the rig's clock, from the
/// ties of the same boot epoch. `None` when no tie exists or the ties contradict each other
/// beyond the ICD's ±100 ppm (the caller then keeps the arrival time and says so).
pub fn map_event(ties: &[ClockTie], pump_ms: u64, arrived_s: f64) -> Option<MappedTime> {
    if ties.is_empty() {
        return None;
    }
    let drift = PUMP_CLOCK_PPM * 1e-6;
    let p = pump_ms as f64 / 1000.0;
    let (mut lo, mut hi) = (f64::NEG_INFINITY, arrived_s);
    for tie in ties {
        let delta = p - tie.pump_ms as f64 / 1000.0;
        let (short, long) = if delta >= 0.0 {
            (delta * (1.0 - drift), delta * (1.0 + drift))
        } else {
            (delta * (1.0 + drift), delta * (1.0 - drift))
        };
        // Both readings may be a resolution off the true clock.
        let slack = 2.0 * PUMP_MS_RESOLUTION_S;
        lo = lo.max(tie.asked_s.min(tie.answered_s) + short - slack);
        hi = hi.min(tie.answered_s.max(tie.asked_s) + long + slack);
    }
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return None;
    }
    Some(MappedTime { at_s: (lo + hi) / 2.0, uncertainty_s: (hi - lo) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tie(asked_s: f64, answered_s: f64, pump_ms: u64) -> ClockTie {
        ClockTie { asked_s, answered_s, pump_ms }
    }

    #[test]
    fn an_instant_link_maps_an_event_to_within_the_clocks_resolution() {
        // The twin: answers take no time and the pump booted at rig 2.0 s.
        let ties = [tie(12.0, 12.0, 10_000), tie(22.0, 22.0, 20_000)];
        let m = map_event(&ties, 15_250, 17.25).unwrap();
        assert!((m.at_s - 17.25).abs() <= m.uncertainty_s + 1e-9, "{m:?}");
        assert!(m.uncertainty_s <= 0.003, "the ties bracket it closely: {m:?}");
    }

    #[test]
    fn a_late_arrival_is_placed_back_at_when_the_pump_raised_it() {
        // Answers took 20 ms; the event's frame arrived 150 ms after the pump raised it.
        let ties = [tie(100.000, 100.020, 98_010), tie(110.000, 110.020, 108_010)];
        let m = map_event(&ties, 103_010, 105.150).unwrap();
        // Raised at pump 103.010 s: rig ~105.000–105.020 s.
        assert!(m.at_s > 104.99 && m.at_s < 105.03, "{m:?}");
        assert!(m.uncertainty_s < 0.015, "bounded by the STATUS round trip: {m:?}");
        assert!(m.at_s + m.uncertainty_s <= 105.150, "never after its arrival");
    }

    #[test]
    fn a_distant_tie_widens_by_the_drift_bound_only() {
        // One tie a day before: 86 400 s × 100 ppm = 8.64 s either way, cut by the arrival.
        let m = map_event(&[tie(0.0, 0.0, 0)], 86_400_000, 86_400.5).unwrap();
        assert!(m.uncertainty_s > 4.5 && m.uncertainty_s < 4.6, "{m:?}");
        assert!(m.at_s + m.uncertainty_s <= 86_400.5 + 1e-9);
    }

    #[test]
    fn contradictory_ties_or_none_give_no_mapping() {
        assert_eq!(map_event(&[], 1_000, 1.0), None);
        // The pump's clock ran 1 % fast between the ties: impossible within ±100 ppm.
        let ties = [tie(0.0, 0.0, 0), tie(100.0, 100.0, 101_000)];
        assert_eq!(map_event(&ties, 50_000, 60.0), None);
    }
}
