//! `record.json`: the whole of one plan case's run, as a reviewer needs it to trust the verdict
//! from the bundle alone — which rig build, host and operator, which plan (by hash), which bench
//! (by hash; instruments with serial numbers and calibration due dates), which firmware (the
//! pump's `ID`), every step with its timing, every check with value, uncertainty, limits,
//! decision and requirements, and the verdict with why a case stopped early.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::PumpIdentity;
use crate::run::{CheckOutcome, Verdict};

/// The version of this record's layout.
pub const RECORD_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub format: u32,
    pub rig: RigBuild,
    pub host: String,
    pub operator: String,
    /// UTC, RFC 3339.
    pub started_utc: String,
    pub ended_utc: String,
    /// The case's duration on the bench's clock (virtual on the twin), s.
    pub bench_time_s: f64,
    /// The case's duration in wall time, s.
    pub wall_time_s: f64,
    pub plan: PlanIdentity,
    pub bench: BenchIdentity,
    pub instruments: Vec<Instrument>,
    /// The pump's answer to `ID`, when it gave one.
    pub pump: Option<PumpIdentity>,
    /// What start-up found on the bench (left by an earlier run) and did about it.
    #[serde(default)]
    pub start_up: Option<crate::run::startup::StartUp>,
    /// The pump's state before the first step: `ID`, `STATUS`, `ALARMS`.
    #[serde(default)]
    pub pump_at_start: Option<crate::run::startup::PumpSnapshot>,
    /// Alarms left over from before the case, acknowledged again after `setup:`.
    #[serde(default)]
    pub left_over_cleared: Vec<crate::run::startup::Acknowledged>,
    /// What the pump or the link did that broke the ICD or the rig's expectations without
    /// stopping the case (a malformed or failed STATUS, ...), in order.
    #[serde(default)]
    pub anomalies: Vec<AnomalyRecord>,
    /// Events lost on the link (a jump in `evseq`), each with the active alarms re-read after it.
    #[serde(default)]
    pub lost_events: Vec<LostEventsRecord>,
    pub steps: Vec<StepRecord>,
    pub marks: Vec<MarkRecord>,
    /// Alarms, clears and boots the pump reported, in order.
    pub pump_events: Vec<PumpEventRecord>,
    /// When the occlusion valve was closed (energised) and opened again.
    pub valve_closed: Vec<Span>,
    /// The pump's state and programmed basal as its `STATUS` reported them, at each change.
    pub pump_states: Vec<PumpStateRecord>,
    pub checks: Vec<CheckOutcome>,
    pub samples: usize,
    pub verdict: Verdict,
    /// Why the case stopped early, if it did.
    pub reason: Option<String>,
    /// The safe state at the end: `ok`, or what failed.
    pub safe_state: SafeStateRecord,
    /// Trumpet curves of the case's `trumpet` checks, over their intervals (all standard windows).
    pub trumpet: Vec<crate::analysis::TrumpetCurve>,
    /// How the flow sampler kept its deadlines: its scheduling, wake-up lateness, read durations
    /// and missed deadlines, as measured (absent when the sampler never ran or died).
    #[serde(default)]
    pub sampler: Option<crate::run::sampler::SamplerStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RigBuild {
    pub version: String,
    /// `git describe`-style commit the binary was built from (`-dirty` when the tree had changes).
    pub git_commit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanIdentity {
    pub id: String,
    pub title: String,
    pub version: String,
    pub case: Option<String>,
    pub params: BTreeMap<String, String>,
    pub file: String,
    pub sha256: String,
    pub covers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchIdentity {
    pub name: String,
    pub file: String,
    pub sha256: String,
    /// `twin`, `sim-process` or `hardware`.
    pub kind: String,
    /// Firmware defects seeded into the twin (empty on real firmware).
    pub faults: Vec<String>,
    pub test_line: crate::bench::config::TestLineSpec,
    /// An instrument was past its calibration due date and the run was told to go on anyway.
    pub expired_calibration_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    pub role: String,
    pub model: String,
    pub serial_number: String,
    pub calibration_due: Option<String>,
    /// Past its calibration due date on the day of the run.
    pub calibration_expired: bool,
    pub accuracy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub index: usize,
    pub label: String,
    pub started_s: f64,
    pub finished_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkRecord {
    pub name: String,
    pub at_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PumpEventRecord {
    pub at_s: f64,
    /// `ALARM`, `CLEAR` or `BOOT`.
    pub kind: String,
    /// The alarm code or the boot reason.
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRecord {
    pub at_s: f64,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LostEventsRecord {
    pub at_s: f64,
    /// The evseq that should have come, and the one that did.
    pub expected: u32,
    pub received: u32,
    /// The active alarms as `ALARMS` answered after the gap (`None` until it answered).
    pub resynced: Option<Vec<crate::protocol::AlarmCode>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PumpStateRecord {
    pub at_s: f64,
    /// `STOPPED`, `RUNNING` or `ALARM`.
    pub state: String,
    pub basal_ul_h: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub from_s: f64,
    /// `None`: still closed when the record ended (the safe state opens it).
    pub to_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SafeStateRecord {
    pub reached: bool,
    pub pump_stopped: Option<String>,
    pub valve_open: Option<String>,
}

impl CaseRecord {
    /// `plan` or `plan[case]`.
    pub fn run_name(&self) -> String {
        match &self.plan.case {
            Some(c) => format!("{}[{}]", self.plan.id, c),
            None => self.plan.id.clone(),
        }
    }

    /// The instruments past their calibration due date.
    pub fn expired_instruments(&self) -> Vec<&Instrument> {
        self.instruments.iter().filter(|i| i.calibration_expired).collect()
    }
}
