//! Verdicts. A FAIL is a finding about the pump; INCONCLUSIVE a result the bench could not
//! resolve against its limit (within the measurement's uncertainty of it: see
//! [`super::decision`]); an ERROR is the rig's or the bench's failure and never reported as a
//! pump failure; ABORTED means someone stopped the run.

use std::fmt;

use serde::Serialize;

use crate::analysis::TrumpetCurve;
use crate::plan::Unit;

use super::decision::Decision;

/// The verdict of a check or of a whole case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Inconclusive,
    Fail,
    Error,
    Aborted,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Aborted => "ABORTED",
        })
    }
}

/// The result of one check (or of an action's expectation).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CheckOutcome {
    pub id: String,
    pub title: String,
    /// The measured value, when there was something to measure.
    pub value: Option<f64>,
    pub unit: Unit,
    /// The bound of the measurement's error (same unit) from the instrument's stated accuracy
    /// or the measure's resolution; `None` for exact values (counts, the pump's answers).
    pub uncertainty: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// How far the value may drift from an approved baseline's (declared `drift`, or the
    /// `nominal`'s tolerance); `None`: its uncertainty, or no change at all for exact values.
    #[serde(default)]
    pub drift: Option<f64>,
    /// The guard-banded decision the verdict follows from.
    pub decision: Decision,
    pub verdict: Verdict,
    /// Why, in words: the measurement against its limits, or what could not be measured.
    pub detail: String,
    pub verifies: Vec<String>,
    /// What a `trumpet` check measured: the whole curve over its interval and the window it
    /// judged, so the report draws what was judged rather than a curve computed again. `None`
    /// for every other check, and when the curve could not be computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trumpet: Option<TrumpetMeasurement>,
}

/// The trumpet curve a `trumpet` check computed (every standard window that fits in its
/// interval, and its own) and the window whose worst error is the check's value.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TrumpetMeasurement {
    /// The observation window the check judged, s.
    pub judged_window_s: f64,
    pub curve: TrumpetCurve,
}
