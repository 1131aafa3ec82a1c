//! The pump's own account of itself before a case's first step: `ID`, `STATUS`, `ALARMS`,
//! `SETTINGS`, as the record keeps them.

use serde::{Deserialize, Serialize};

use crate::protocol::{AlarmCode, PumpIdentity, SettingsReport, StatusReport};

/// The pump's state before the case's first step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PumpSnapshot {
    pub id: PumpIdentity,
    pub status: StatusReport,
    pub alarms: Vec<AlarmCode>,
    /// The programmed settings, therapy on or off among them.
    pub settings: SettingsReport,
}
