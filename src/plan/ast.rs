//! A test plan once loaded, checked and expanded: what the executor runs. Every value is in the
//! rig's canonical units (µL, µL/h, kPa, `Duration`), every name it refers to is known to
//! exist, and every step knows where it was written, so a finding points back at its line.
//!
//! Steps, bench capabilities and checks are kept apart (STYLE.md §9): what to do, what hardware
//! it needs, what is judged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use crate::bench::Capability;
pub use crate::protocol::SettingField;
use crate::protocol::{AlarmCode, BootReason, DenyReason, ErrCode, PumpState};

/// A position in a plan file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A plan file: its metadata and one [`Plan`] per case (one, if it declares no `cases:`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFile {
    pub path: PathBuf,
    /// The file's bytes' SHA-256, hex, for the evidence.
    pub sha256: String,
    pub cases: Vec<Plan>,
}

/// One runnable case of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub id: String,
    pub title: String,
    pub version: String,
    /// SRS ids the plan as a whole covers.
    pub covers: Vec<String>,
    /// What the bench must provide.
    pub requires: BTreeSet<Capability>,
    /// Flow sensor read period.
    pub sample_period: Duration,
    /// Pump `STATUS` poll period.
    pub status_period: Duration,
    /// A bound on the case's bench time; the run is aborted (ERROR) past it.
    pub max_duration: Option<Duration>,
    /// The case, when the plan declares `cases:`.
    pub case: Option<Case>,
    /// `setup:` and `steps:` in order (setup first), each a [`Step`].
    pub steps: Vec<Step>,
    /// How many of `steps` are the `setup:` section.
    pub setup_len: usize,
}

impl Plan {
    /// `id` or `id[case]`: how reports name this run.
    pub fn run_name(&self) -> String {
        match &self.case {
            Some(c) => format!("{}[{}]", self.id, c.name),
            None => self.id.clone(),
        }
    }

    /// The checks, in order.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        self.steps.iter().filter_map(|s| match &s.kind {
            StepKind::Check(c) => Some(c),
            _ => None,
        })
    }
}

/// A row of the `cases:` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub name: String,
    /// Parameter values as written (e.g. `rate: 500 uL/h`).
    pub params: BTreeMap<String, String>,
}

/// One step, where it was written, and a one-line description for progress and reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub pos: Pos,
    /// E.g. `wait until alarm OCCLUSION (timeout 40 min)`.
    pub label: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Do something to the pump or the bench; `expect` judges the pump's answer.
    Action { action: Action, expect: Option<Expect> },
    /// Let bench time pass.
    Wait(Duration),
    /// Wait for a condition, at most `timeout`. Timing out is not itself a verdict: checks that
    /// need what did not happen fail, saying so. On an alarm, the wait is for the alarm to be
    /// *raised* after it begins: if it is already active then, the case ends ERROR ("… was
    /// already active when the wait began") unless `already_active_ok`, when the wait ends at
    /// once. `already_active_ok` is only ever true for a [`Condition::Alarm`].
    WaitUntil { condition: Condition, timeout: Duration, already_active_ok: bool },
    /// Name this instant on the timeline.
    Mark(String),
    /// Judge a measured quantity.
    Check(Check),
}

/// What an action does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `START`.
    Start,
    /// `STOP`.
    Stop,
    /// Energise (close) or de-energise (open) the occlusion valve.
    Valve(ValveCommand),
    /// `FILL volume_ul=`.
    Fill { volume_ul: f64 },
    /// `PROGRAM basal_ul_h=`.
    Program { basal_ul_h: f64 },
    /// `BOLUS_CONFIG`.
    BolusConfig { dose_ul: f64, lockout: Duration, max_per_24h: u32 },
    /// `LIMIT max_24h_ul=`.
    Limit { max_24h_ul: f64 },
    /// `ALARM_CONFIG`.
    AlarmConfig { low_reservoir_ul: f64, occlusion_kpa: f64 },
    /// Patient bolus requests: once, or repeated. A repeated request is one step that ends
    /// after its last request.
    Bolus { repeat: Option<Repeat> },
    /// `ACK code=`.
    Ack { alarm: AlarmCode },
    /// Ask the operator to do something and wait for confirmation (real benches only).
    Prompt { text: String },
    /// A link-level probe of the protocol requirements.
    Probe(Probe),
    /// A bench injection.
    Inject(Injection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValveCommand {
    Close,
    Open,
}

/// Repetition of bolus requests: `every` D, `count` N times, or for a duration `for_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeat {
    pub every: Duration,
    pub count: u32,
}

/// Link probes (SRS-COM).
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// Send `command` with a corrupted CRC; the pump must answer `0 ERR CRC` and do nothing.
    BadCrc { command: crate::protocol::Command },
    /// Send the previous request again with its seq; the pump must answer from its cache.
    RepeatSeq,
}

/// Bench injections: the `INJECT` requests of a software bench (ICD part 2, "Fault
/// injection"). A real bench has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// `INJECT STALL 1`: the motor stalls, for `duration` (then `INJECT STALL 0`) or until
    /// [`Injection::ClearMotorStall`].
    MotorStall { duration: Option<Duration> },
    /// `INJECT STALL 0`.
    ClearMotorStall,
    /// `INJECT WATCHDOG`: the firmware resets at once.
    WatchdogReset,
    /// `INJECT CORRUPT <permille>`: each frame, either direction, is damaged with this
    /// probability (0..=1000); 0 stops it.
    LinkCorrupt { permille: u16 },
    /// `INJECT SILENCE <ms>`: the service port passes nothing for `duration` (whole ms).
    LinkSilence { duration: Duration },
    /// `INJECT SENSOR NACK <n>`: the flow sensor NACKs its next `count` transactions.
    SensorNack { count: u32 },
    /// `INJECT SENSOR AIR 1|0`: the sensor reports air in line (`on`), for `duration` (then
    /// `0`) or until an injection with `on: false`.
    SensorAir { on: bool, duration: Option<Duration> },
    /// `INJECT SENSOR STUCK 1|0`: the sensor repeats its last reading, as [`Injection::SensorAir`].
    SensorStuck { on: bool, duration: Option<Duration> },
}

impl Injection {
    pub fn capability(self) -> Capability {
        match self {
            Injection::MotorStall { .. } | Injection::ClearMotorStall => Capability::MotorStall,
            Injection::WatchdogReset => Capability::WatchdogReset,
            Injection::LinkCorrupt { .. } => Capability::FrameCorruption,
            Injection::LinkSilence { .. } => Capability::LinkSilence,
            Injection::SensorNack { .. } => Capability::SensorNack,
            Injection::SensorAir { .. } => Capability::SensorAir,
            Injection::SensorStuck { .. } => Capability::SensorStuck,
        }
    }
}

/// What the pump must answer to an action, judged like a check.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// Check id (unique in the plan).
    pub id: String,
    pub outcome: ExpectedOutcome,
    pub verifies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedOutcome {
    /// `OK` (a bolus: granted).
    Accepted,
    /// `ERR` with this code (any code when `None`); a bolus: denied, with this reason.
    Refused { code: Option<ErrCode>, reason: Option<DenyReason> },
}

/// Something that happens on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// An `ALARM code=` event.
    Alarm(AlarmCode),
    /// A `CLEAR code=` event.
    Cleared(AlarmCode),
    /// A `STATE state=` event.
    State(PumpState),
    /// A flow sample below this (µL/h).
    FlowBelow(f64),
    /// A flow sample above this (µL/h).
    FlowAbove(f64),
    /// A `BOOT reason=` event.
    Boot(BootReason),
    /// A `DENIED reason=` event (any reason: `None`).
    Denied(Option<DenyReason>),
}

/// A measured quantity judged against limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Unique within the plan; stable across runs (baselines key on it).
    pub id: String,
    pub title: String,
    pub measure: Measure,
    pub limits: Limits,
    /// SRS ids this check verifies.
    pub verifies: Vec<String>,
}

/// What to measure. Results are in the measure's [`Measure::unit`].
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// Time from the mark to the first occurrence of the condition after it.
    TimeTo { from: String, condition: Condition },
    /// Volume through the sensor over the interval (integrated flow).
    Volume(Interval),
    /// Mean flow over the interval.
    FlowMean(Interval),
    /// Granted or denied bolus requests in the interval (denied: with this reason, if given).
    Boluses { granted: bool, reason: Option<DenyReason>, interval: Interval },
    /// Shortest time between the starts of consecutive granted boluses in the interval.
    BolusSpacingMin(Interval),
    /// Largest volume through the sensor in any window of this length within the interval.
    MaxWindowVolume { window: Duration, interval: Interval },
    /// A value of the pump's `STATUS`: the one the executor takes at the mark (it takes one at
    /// every mark), or, without a mark, the last at or before the check.
    PumpValue { field: PumpField, at: Option<String> },
    /// How many times the condition occurred in the interval.
    Occurrences { condition: Condition, interval: Interval },
    /// Smallest volume through the sensor in any window of this length within the interval.
    MinWindowVolume { window: Duration, interval: Interval },
    /// The largest deviation (%, magnitude) from `rate` of the mean flow in any window of this
    /// length within the interval: one point of the trumpet curve (IEC 60601-2-24 method).
    Trumpet { window: Duration, rate: f64, interval: Interval },
    /// Deviation (%, magnitude) of the mean flow over the interval from `rate`: the overall
    /// error A of the IEC 60601-2-24 method.
    FlowError { rate: f64, interval: Interval },
    /// Time from when delivery stopped as the flow sensor saw it (after the mark) to the first
    /// occurrence of the condition.
    FlowStopTo { after: String, condition: Condition },
    /// Change of a pump-reported value between the first `STATUS` at or after `from` and the
    /// last at or before `to`.
    PumpChange { field: PumpField, interval: Interval },
    /// Events lost on the link: gaps in `evseq` (which starts at 1 at each `BOOT`).
    EvseqGaps(Interval),
    /// A programmed setting as the pump's `SETTINGS` reports it: read at the mark (the executor
    /// reads SETTINGS at every mark), or at the check. An exact digital value.
    Setting { field: SettingField, at: Option<String> },
}

/// Canonical units of measured values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Unit {
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "uL")]
    Microlitres,
    #[serde(rename = "uL/h")]
    MicrolitresPerHour,
    #[serde(rename = "kPa")]
    Kilopascal,
    #[serde(rename = "count")]
    Count,
    #[serde(rename = "%")]
    Percent,
}

impl Unit {
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Microlitres => "uL",
            Unit::MicrolitresPerHour => "uL/h",
            Unit::Kilopascal => "kPa",
            Unit::Count => "",
            Unit::Percent => "%",
        }
    }
}

impl Measure {
    pub fn unit(&self) -> Unit {
        match self {
            Measure::TimeTo { .. } | Measure::BolusSpacingMin(_) | Measure::FlowStopTo { .. } => Unit::Seconds,
            Measure::Volume(_) | Measure::MaxWindowVolume { .. } | Measure::MinWindowVolume { .. } => Unit::Microlitres,
            Measure::FlowMean(_) => Unit::MicrolitresPerHour,
            Measure::Boluses { .. } | Measure::Occurrences { .. } | Measure::EvseqGaps(_) => Unit::Count,
            Measure::PumpValue { field, .. } | Measure::PumpChange { field, .. } => field.unit(),
            Measure::Setting { field, .. } => field.unit(),
            Measure::Trumpet { .. } | Measure::FlowError { .. } => Unit::Percent,
        }
    }

    /// Marks the measure refers to.
    pub fn marks(&self) -> Vec<&str> {
        fn interval(i: &Interval) -> Vec<&str> {
            [&i.from, &i.to]
                .into_iter()
                .filter_map(|e| if let Endpoint::Mark(m) = e { Some(m.as_str()) } else { None })
                .collect()
        }
        match self {
            Measure::TimeTo { from, .. } => vec![from.as_str()],
            Measure::FlowStopTo { after, .. } => vec![after.as_str()],
            Measure::Volume(i) | Measure::FlowMean(i) | Measure::BolusSpacingMin(i) | Measure::EvseqGaps(i) => {
                interval(i)
            }
            Measure::Boluses { interval: i, .. }
            | Measure::MaxWindowVolume { interval: i, .. }
            | Measure::MinWindowVolume { interval: i, .. }
            | Measure::Trumpet { interval: i, .. }
            | Measure::FlowError { interval: i, .. }
            | Measure::PumpChange { interval: i, .. }
            | Measure::Occurrences { interval: i, .. } => interval(i),
            Measure::PumpValue { at, .. } | Measure::Setting { at, .. } => at.iter().map(String::as_str).collect(),
        }
    }
}

/// Pump-reported quantities (`STATUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PumpField {
    ReservoirUl,
    DeliveredUl,
    PressureKpa,
    BasalUlH,
}

impl PumpField {
    pub fn unit(self) -> Unit {
        match self {
            PumpField::ReservoirUl | PumpField::DeliveredUl => Unit::Microlitres,
            PumpField::PressureKpa => Unit::Kilopascal,
            PumpField::BasalUlH => Unit::MicrolitresPerHour,
        }
    }
}

/// The unit a setting is measured in, as a check's value: the field is the ICD's (see
/// [`SettingField`]), the unit of a measured value is the plan's.
impl SettingField {
    pub fn unit(self) -> Unit {
        match self {
            SettingField::BasalUlH => Unit::MicrolitresPerHour,
            SettingField::DoseUl | SettingField::Max24hUl | SettingField::LowReservoirUl => Unit::Microlitres,
            SettingField::LockoutS => Unit::Seconds,
            SettingField::MaxPer24h | SettingField::Therapy => Unit::Count,
            SettingField::OcclusionKpa => Unit::Kilopascal,
        }
    }
}

/// A span of the timeline between two endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub from: Endpoint,
    pub to: Endpoint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The start of the case (t = 0 of its timeline).
    Start,
    /// The instant the check is evaluated.
    Now,
    Mark(String),
}

/// Acceptance limits, in the measure's unit. At least one is present.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// `nominal` ± tolerance.
    pub nominal: Option<(f64, Tolerance)>,
    /// How far the value may move from the approved baseline's before it is a finding
    /// (`rig run --baseline`), in the measure's unit.
    pub drift: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    Percent(f64),
    Absolute(f64),
}

impl Limits {
    /// The drift a baseline comparison allows: `drift` if declared, else the tolerance of a
    /// `nominal`, else `None` (the value's own uncertainty, or exact).
    pub fn declared_drift(&self) -> Option<f64> {
        self.drift.or_else(|| {
            self.nominal.map(|(nominal, tol)| match tol {
                Tolerance::Percent(p) => nominal.abs() * p / 100.0,
                Tolerance::Absolute(a) => a,
            })
        })
    }

    /// The acceptance interval `[low, high]` (either end may be open).
    pub fn bounds(&self) -> (Option<f64>, Option<f64>) {
        let (mut low, mut high) = (self.min, self.max);
        if let Some((nominal, tol)) = self.nominal {
            let half = match tol {
                Tolerance::Percent(p) => nominal.abs() * p / 100.0,
                Tolerance::Absolute(a) => a,
            };
            low = Some(low.map_or(nominal - half, |l| l.max(nominal - half)));
            high = Some(high.map_or(nominal + half, |h| h.min(nominal + half)));
        }
        (low, high)
    }
}
