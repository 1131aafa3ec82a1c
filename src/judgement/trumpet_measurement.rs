//! What a `trumpet` check measured, kept in its outcome so the report draws what was judged.

use serde::Serialize;

use crate::analysis::TrumpetCurve;

/// The trumpet curve a `trumpet` check computed (every standard window that fits in its
/// interval, and its own) and the window whose worst error is the check's value.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TrumpetMeasurement {
    /// The observation window the check judged, s.
    pub judged_window_s: f64,
    pub curve: TrumpetCurve,
}
