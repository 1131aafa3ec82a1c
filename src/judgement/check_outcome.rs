//! The outcome of one check: what was measured, against which limits, the guard-banded
//! decision and the verdict it follows from, and why in words.

use serde::Serialize;

use super::decision::Decision;
use super::trumpet_measurement::TrumpetMeasurement;
use super::verdict::Verdict;
use crate::plan::Unit;

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
