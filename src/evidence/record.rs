//! `record.json`: the whole of one plan case's run, as a reviewer needs it to trust the verdict
//! from the bundle alone — which rig build, host and operator, which plan (by hash), which bench
//! (by hash; instruments with serial numbers and calibration due dates), which firmware (the
//! pump's `ID`), every step with its timing, every check with value, uncertainty, limits,
//! decision and requirements, and the verdict with why a case stopped early.

pub mod pump_snapshot;
pub mod sampler_stats;
pub mod start_up;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::judgement::{CheckOutcome, Verdict};
use crate::protocol::PumpIdentity;

/// The version of this record's layout.
///
/// 2: `run_id`; `operator_source`; `rig.executable_sha256` and `rig.target`; per instrument,
/// `reported` (what the instrument itself said when the bench opened) and `identity` (whether
/// that confirms the bench file); `bench.identity_mismatch_allowed`; `baseline` (the approved
/// result compared against, its provenance and SHA-256, and each drift finding); `signing` (the
/// key that signs `MANIFEST.sha256`, or `null`: unsigned). Also new since 1, from the executor:
/// `start_up`, `pump_at_start`, `left_over_cleared`, `anomalies`; later, `slow_answers` (absent
/// in older records: read as none counted), then `pump_events_unlisted` (absent: `pump_events`
/// lists every one).
pub const RECORD_FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub format: u32,
    /// The `rig run` this case was part of (random, shared by its cases' folders).
    pub run_id: String,
    pub rig: RigBuild,
    pub host: String,
    pub operator: String,
    /// Where the operator's name came from: `--operator`, `RIG_OPERATOR`, the login name
    /// (`getlogin`) or the password entry of the process's uid.
    pub operator_source: String,
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
    pub start_up: Option<start_up::StartUp>,
    /// The pump's state before the first step: `ID`, `STATUS`, `ALARMS`.
    #[serde(default)]
    pub pump_at_start: Option<pump_snapshot::PumpSnapshot>,
    /// Alarms left over from before the case, acknowledged again after `setup:`.
    #[serde(default)]
    pub left_over_cleared: Vec<start_up::Acknowledged>,
    /// What the pump or the link did that broke the ICD or the rig's expectations without
    /// stopping the case (a malformed or failed STATUS, ...), in order.
    #[serde(default)]
    pub anomalies: Vec<AnomalyRecord>,
    /// Events lost on the link (a jump in `evseq`), each with the active alarms re-read after it.
    #[serde(default)]
    pub lost_events: Vec<LostEventsRecord>,
    /// The pump's answers later than the ICD allows, counted, with the worst; `None`: none late.
    #[serde(default)]
    pub slow_answers: Option<SlowAnswers>,
    pub steps: Vec<StepRecord>,
    pub marks: Vec<MarkRecord>,
    /// Alarms, clears and boots the pump reported, in order: all of them, or for a pump that
    /// reports [`PUMP_EVENTS_LISTED`] × 3 or more, the first [`PUMP_EVENTS_LISTED`] and the
    /// latest ones, with those between counted in `pump_events_unlisted` (`events.jsonl` has
    /// every one).
    pub pump_events: Vec<PumpEventRecord>,
    /// The pump events `pump_events` leaves out, counted; `None`: it lists them all.
    #[serde(default)]
    pub pump_events_unlisted: Option<UnlistedPumpEvents>,
    /// When the occlusion valve was closed (energised) and opened again.
    pub valve_closed: Vec<Span>,
    /// The pump's state and programmed basal as its `STATUS` reported them, at each change.
    pub pump_states: Vec<PumpStateRecord>,
    /// The settings commands (and `START`, `STOP`, `ACK`, `FILL`) the plan's steps sent the pump,
    /// with its answer, in order. Bolus requests are in `boluses`.
    #[serde(default)]
    pub pump_commands: Vec<PumpCommandRecord>,
    /// Every bolus request and every bolus the pump ran, in order of request.
    #[serde(default)]
    pub boluses: Vec<BolusRecord>,
    pub checks: Vec<CheckOutcome>,
    pub samples: usize,
    pub verdict: Verdict,
    /// Why the case stopped early, if it did.
    pub reason: Option<String>,
    /// The safe state at the end: `ok`, or what failed.
    pub safe_state: SafeStateRecord,
    /// How the flow sampler kept its deadlines: its scheduling, wake-up lateness, read durations
    /// and missed deadlines, as measured (absent when the sampler never ran or died).
    #[serde(default)]
    pub sampler: Option<sampler_stats::SamplerStats>,
    /// The comparison with the approved baseline, when the run was given one (`--baseline`).
    pub baseline: Option<super::baseline::BaselineComparison>,
    /// The key `MANIFEST.sha256.sig` is made with; `None`: the bundle is unsigned.
    pub signing: Option<SigningRecord>,
}

/// The key a bundle is signed with (minisign, Ed25519). The public key is here for whoever
/// wants to see which key it was; a reviewer checks with a public key they got elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningRecord {
    /// minisign's key id (16 hex digits), as `minisign -V` and `rig verify` print it.
    pub key_id: String,
    /// The public key, minisign's base64 line (the second line of the `.pub` file).
    pub public_key: String,
    /// The signature's file in the bundle.
    pub signature_file: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RigBuild {
    pub version: String,
    /// The commit the binary was built from, `<commit>-dirty` when its inputs (src/, rig/,
    /// Cargo.toml, Cargo.lock, build.rs) differed from it, `unknown` outside a git checkout.
    pub git_commit: String,
    /// SHA-256 of the running executable, read once when the run started (or why it could not
    /// be read).
    pub executable_sha256: String,
    /// The target triple the executable was built for.
    pub target: String,
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
    /// An instrument reported another identity than the bench file declares and the run was told
    /// to go on anyway (`--allow-identity-mismatch`).
    pub identity_mismatch_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    pub role: String,
    pub model: String,
    /// The serial number the bench file declares.
    pub serial_number: String,
    /// What the instrument itself reported when the bench opened (`None`: it cannot tell, or
    /// the bench could not be opened).
    pub reported: Option<ReportedIdentity>,
    /// Whether the bench file's serial number is confirmed by the instrument.
    pub identity: IdentityCheck,
    pub calibration_due: Option<String>,
    /// Past its calibration due date on the day of the run.
    pub calibration_expired: bool,
    pub accuracy: Option<String>,
}

/// An instrument's identity as the instrument reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedIdentity {
    /// The product number, `0x` and 8 hex digits.
    pub product_number: String,
    pub serial_number: String,
}

/// How far the rig confirmed an instrument's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityCheck {
    /// The instrument reported the serial number the bench file declares.
    Confirmed,
    /// The instrument reported another serial number (the run was allowed to go on).
    Mismatch,
    /// The instrument was not asked: the bench could not be opened.
    NotRead,
    /// The instrument has no way to report its identity (the valve): the bench file's claim only.
    DeclaredOnly,
}

impl IdentityCheck {
    /// In words, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            IdentityCheck::Confirmed => "confirmed: reported by the instrument",
            IdentityCheck::Mismatch => "MISMATCH: the instrument reported another serial number",
            IdentityCheck::NotRead => "not read: the bench could not be opened",
            IdentityCheck::DeclaredOnly => "not confirmed: the instrument cannot report it (bench file only)",
        }
    }
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

/// The first pump events a record lists; as many of the latest ones are listed too, so a pump
/// that reports thousands of events a second does not grow the record, the rig's memory or the
/// report with them.
pub const PUMP_EVENTS_LISTED: usize = 500;

/// Pump events left out of `pump_events`, between its first [`PUMP_EVENTS_LISTED`] and its
/// latest ones: how many, of which kinds, and when. Every one is in `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnlistedPumpEvents {
    /// How many entries of `pump_events` come before them.
    pub after_listed: usize,
    pub count: u64,
    /// When the first and the last of them arrived, s.
    pub from_s: f64,
    pub to_s: f64,
    /// How many of each kind and code or reason: `ALARM DOSE_LIMIT`, `BOOT WATCHDOG`, ...
    pub by_kind: BTreeMap<String, u64>,
}

impl UnlistedPumpEvents {
    /// Lists at most [`PUMP_EVENTS_LISTED`] × 3 events: once there are that many, the oldest of
    /// those after the first [`PUMP_EVENTS_LISTED`] are counted in `unlisted` instead, a
    /// [`PUMP_EVENTS_LISTED`] at a time (so `events` keeps between one and two times
    /// [`PUMP_EVENTS_LISTED`] of the latest).
    pub fn push(events: &mut Vec<PumpEventRecord>, unlisted: &mut Option<UnlistedPumpEvents>, event: PumpEventRecord) {
        events.push(event);
        if events.len() < 3 * PUMP_EVENTS_LISTED {
            return;
        }
        let head = unlisted.as_ref().map_or(PUMP_EVENTS_LISTED, |u| u.after_listed);
        let moved: Vec<PumpEventRecord> = events.drain(head..(head + PUMP_EVENTS_LISTED).min(events.len())).collect();
        let (Some(first), Some(last)) = (moved.first(), moved.last()) else { return };
        let u = unlisted.get_or_insert_with(|| UnlistedPumpEvents {
            after_listed: head,
            count: 0,
            from_s: first.at_s,
            to_s: last.at_s,
            by_kind: BTreeMap::new(),
        });
        u.to_s = last.at_s;
        u.count += moved.len() as u64;
        for e in &moved {
            *u.by_kind.entry(format!("{} {}", e.kind, e.what)).or_default() += 1;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyRecord {
    pub at_s: f64,
    pub what: String,
}

/// Answers from the pump later than ICD part 1 allows ("within 50 ms"), as the link timed them:
/// from the start of the request's write to the answer's first byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowAnswers {
    pub count: u64,
    /// What the ICD allows, ms.
    pub allowed_ms: u64,
    /// The longest latency, ms, the request it answered (as sent, without its CRC) and when the
    /// answer came, s.
    pub worst_ms: f64,
    pub worst_command: String,
    pub worst_at_s: f64,
}

impl SlowAnswers {
    /// Counts one more late answer.
    pub fn add(tally: &mut Option<SlowAnswers>, at_s: f64, command: &str, latency_ms: f64, allowed_ms: u64) {
        let t = tally.get_or_insert_with(|| SlowAnswers {
            count: 0,
            allowed_ms,
            worst_ms: latency_ms,
            worst_command: command.to_string(),
            worst_at_s: at_s,
        });
        t.count += 1;
        if latency_ms > t.worst_ms {
            (t.worst_ms, t.worst_command, t.worst_at_s) = (latency_ms, command.to_string(), at_s);
        }
    }
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

/// A command the rig sent the pump, as the ICD writes it, and the pump's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PumpCommandRecord {
    /// When the answer came, s from the case's start.
    pub at_s: f64,
    /// `ALARM_CONFIG low_reservoir_ul=2000 occlusion_kpa=200`.
    pub command: String,
    /// `accepted`, or what the pump answered instead (`refused it (ERR RANGE)`).
    pub outcome: String,
}

/// One bolus request and, when granted, the bolus the pump reported running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BolusRecord {
    /// When the pump's answer to `BOLUS` came, s; `None` for a bolus the pump reported whose
    /// request the record did not see.
    pub requested_s: Option<f64>,
    pub granted: bool,
    /// The pump's bolus id, when granted.
    pub id: Option<u32>,
    /// The refusal reason (`LOCKOUT`, `DAILY_LIMIT`, …), when refused.
    pub refused: Option<String>,
    /// The pump's `BOLUS phase=START` and `phase=END` events, s.
    pub started_s: Option<f64>,
    pub ended_s: Option<f64>,
    /// What the `END` event said was delivered, µL: the pump's own figure, not a measurement.
    pub delivered_ul: Option<f64>,
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

    /// Why this case is not valid as evidence though it ran: each instrument past its
    /// calibration due date, each identity mismatch the run was allowed to go on with. Empty for
    /// a run with nothing to declare.
    pub fn evidence_caveats(&self) -> Vec<String> {
        let mut caveats = Vec::new();
        for i in self.expired_instruments() {
            caveats.push(format!(
                "calibration expired: {} {} {}, due {} (run with --allow-expired-calibration)",
                i.role,
                i.model,
                i.serial_number,
                i.calibration_due.as_deref().unwrap_or("?")
            ));
        }
        if self.bench.expired_calibration_allowed && self.expired_instruments().is_empty() {
            caveats.push("calibration expired: allowed for this run (--allow-expired-calibration)".into());
        }
        for i in self.instruments.iter().filter(|i| i.identity == IdentityCheck::Mismatch) {
            let reported = i.reported.as_ref().map_or("nothing", |r| r.serial_number.as_str());
            caveats.push(format!(
                "identity mismatch: {} {} reports serial {reported}, bench file says {:?} (run with \
                 --allow-identity-mismatch)",
                i.role, i.model, i.serial_number
            ));
        }
        caveats
    }
}
