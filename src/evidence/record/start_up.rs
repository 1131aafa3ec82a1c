//! What start-up found and did before a case's first step, as the record keeps it (see
//! `run::startup` for how it is done).

use serde::{Deserialize, Serialize};

use crate::protocol::{AlarmCode, StatusReport};

/// What start-up found and did, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartUp {
    /// How the session's throw-away first request was answered.
    pub first_request: String,
    /// The pump's STATUS as found, before the rig did anything.
    pub found: StatusReport,
    /// The answer to STOP: `ok`, or why not.
    pub stop: String,
    /// The valve driven open (de-energised): `ok`, or why not.
    pub valve_open: String,
    /// How the line relaxed: the pressure before and after, and how long it took.
    pub relaxation: Relaxation,
    /// Each alarm left active, and the answer to its ACK.
    pub acknowledged: Vec<Acknowledged>,
    /// Alarms still active after start-up (acknowledged again after `setup:`).
    pub left_over: Vec<AlarmCode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relaxation {
    pub from_kpa: f64,
    pub to_kpa: f64,
    pub waited_s: f64,
    /// `relaxed` (at or below the limit), `plateau` (stopped falling above it) or `timed out`.
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acknowledged {
    pub code: AlarmCode,
    /// `ok`, or the pump's refusal.
    pub answer: String,
}
