//! The decision rule: a measured value against its limits, with the measurement's uncertainty.
//!
//! The rig uses guarded acceptance (ILAC-G8): a check passes only when the whole interval
//! `value ± uncertainty` lies within the limits, and fails when the value lies outside them.
//! A value inside the limits but closer to one than its uncertainty cannot be told from a
//! failure by this bench: it is reported as such, never as a plain pass (its verdict is
//! INCONCLUSIVE). A value outside a limit is a FAIL even when the uncertainty reaches back
//! inside: the best estimate violates the requirement, and a patient-safety tool does not give
//! the benefit of the doubt to the device.

use std::fmt;

use serde::Serialize;

use super::verdict::Verdict;

/// Where a measured value lies against its limits, accounting for its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Inside the limits by more than the uncertainty.
    Pass,
    /// Inside the limits, but within the uncertainty of one: the bench cannot confirm it.
    PassWithinUncertainty,
    /// Outside a limit, but within the uncertainty of it.
    FailWithinUncertainty,
    /// Outside a limit by more than the uncertainty.
    Fail,
    /// Nothing could be measured (what was needed did not happen).
    NotMeasured,
}

impl Decision {
    pub fn verdict(self) -> Verdict {
        match self {
            Decision::Pass => Verdict::Pass,
            Decision::PassWithinUncertainty => Verdict::Inconclusive,
            Decision::FailWithinUncertainty | Decision::Fail | Decision::NotMeasured => Verdict::Fail,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Decision::Pass => "within",
            Decision::PassWithinUncertainty => "within, but inside its uncertainty of the limit,",
            Decision::FailWithinUncertainty => "outside, though within its uncertainty of the limit,",
            Decision::Fail => "outside",
            Decision::NotMeasured => "not measured against",
        })
    }
}

/// Decides `value` (± `uncertainty`, same unit; `None` for exact values such as counts)
/// against `low` ≤ value ≤ `high`.
pub fn decide(value: f64, uncertainty: Option<f64>, low: Option<f64>, high: Option<f64>) -> Decision {
    let u = uncertainty.unwrap_or(0.0).abs();
    let inside = low.is_none_or(|l| value >= l) && high.is_none_or(|h| value <= h);
    let clear_inside = low.is_none_or(|l| value - u >= l) && high.is_none_or(|h| value + u <= h);
    let clear_outside = low.is_some_and(|l| value + u < l) || high.is_some_and(|h| value - u > h);
    match (inside, clear_inside, clear_outside) {
        (true, true, _) => Decision::Pass,
        (true, false, _) => Decision::PassWithinUncertainty,
        (false, _, true) => Decision::Fail,
        (false, _, false) => Decision::FailWithinUncertainty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values_are_plain_in_or_out() {
        assert_eq!(decide(4.0, None, None, Some(4.0)), Decision::Pass);
        assert_eq!(decide(5.0, None, None, Some(4.0)), Decision::Fail);
        assert_eq!(decide(0.0, None, Some(1.0), None), Decision::Fail);
    }

    #[test]
    fn a_maximum_is_guard_banded() {
        // 1200 µL limit, ±60 µL (5 % of reading).
        assert_eq!(decide(1100.0, Some(55.0), None, Some(1200.0)), Decision::Pass);
        assert_eq!(decide(1145.0, Some(57.25), None, Some(1200.0)), Decision::PassWithinUncertainty);
        assert_eq!(decide(1200.0, Some(60.0), None, Some(1200.0)), Decision::PassWithinUncertainty);
        assert_eq!(decide(1218.0, Some(60.9), None, Some(1200.0)), Decision::FailWithinUncertainty);
        assert_eq!(decide(1300.0, Some(65.0), None, Some(1200.0)), Decision::Fail);
    }

    #[test]
    fn a_minimum_and_a_range_are_guard_banded() {
        assert_eq!(decide(53.0, Some(2.65), Some(45.0), Some(55.0)), Decision::PassWithinUncertainty);
        assert_eq!(decide(50.0, Some(2.5), Some(45.0), Some(55.0)), Decision::Pass);
        assert_eq!(decide(44.0, Some(2.2), Some(45.0), Some(55.0)), Decision::FailWithinUncertainty);
        assert_eq!(decide(40.0, Some(2.0), Some(45.0), Some(55.0)), Decision::Fail);
    }

    #[test]
    fn verdicts_never_call_a_guard_band_a_pass() {
        assert_eq!(Decision::Pass.verdict(), Verdict::Pass);
        assert_eq!(Decision::PassWithinUncertainty.verdict(), Verdict::Inconclusive);
        assert_eq!(Decision::FailWithinUncertainty.verdict(), Verdict::Fail);
        assert_eq!(Decision::NotMeasured.verdict(), Verdict::Fail);
    }
}
