//! The one stream of run events (STYLE.md §7, after nextest's `TestEvent`): everything the
//! executor does and observes, stamped by the rig's clock when it happened. Reporters —
//! progress, samples file, event log, summary — consume it and nothing else.

use serde::Serialize;

use crate::clock::RigTime;
use crate::link::{Direction, FrameRecord};
use crate::protocol::{AlarmCode, BolusReply, Event, StatusReport};

use crate::judgement::{CheckOutcome, Verdict};

/// One flow-sensor reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// When the read transaction started: the SF06-LF latches the mean flow since its previous
    /// read as a read begins, so this is the instant the value belongs to, and the one the
    /// analyses use. Serialized as the event's own `at`.
    #[serde(skip)]
    pub at: RigTime,
    /// When the read returned: `done_at - at` is what the I2C transfer (or the bench-bus round
    /// trip) took.
    pub done_at: RigTime,
    /// Flow through the sensor, µL/h.
    pub flow_ul_h: f64,
    /// Volume through the sensor since the case started, µL (flow integrated over each sample
    /// period: the SF06-LF reports the mean flow since its previous reading).
    pub volume_ul: f64,
    pub temperature_c: f64,
    /// Valve state when the sample was taken.
    pub valve_closed: bool,
}

/// A reading the sensor returned that is not a flow sample (air in line): what it said and the
/// bytes it sent, for the evidence. Its `at` is the event's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlaggedReading {
    pub done_at: RigTime,
    /// What the flow word says, µL/h: meaningless with air in the line, never a volume.
    pub flow_ul_h: f64,
    pub temperature_c: f64,
    /// The flags word (bit 0: air in line).
    pub flags: u16,
    /// The 9 bytes of the frame, CRCs included, as hex (see [`crate::drivers::flow_sensor::RawFrame::hex`]).
    pub raw: String,
}

/// What a `STATUS` was read for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusTaken {
    /// The periodic poll (the plan's `status_period`).
    Poll,
    /// At a `mark:` step, for checks that read the pump `at:` that mark.
    Mark(String),
    /// At a check that reads the pump now (its id).
    Check(String),
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunEventKind {
    CaseStarted {
        plan: String,
        case: Option<String>,
        steps: usize,
    },
    /// The pump's answer to `ID` at the start of the case.
    PumpIdentified(Box<crate::protocol::PumpIdentity>),
    StepStarted {
        index: usize,
        label: String,
    },
    StepFinished {
        index: usize,
    },
    Mark {
        name: String,
    },
    Sample(Sample),
    /// A read that returned no reading (a NACK, a CRC mismatch): no sample, retried at the next
    /// deadline. `in_a_row` counts the failed reads since the last good one.
    SampleFailed {
        reason: String,
        in_a_row: u32,
    },
    /// A reading flagged air in line: recorded, never integrated into volume (see
    /// [`crate::run::sensor_health`]).
    AirInLine(FlaggedReading),
    /// The flow sensor can no longer be trusted (stuck, or its reads keep failing): the sampler
    /// has stopped and the case ends ERROR. `why` names the sensor and what to check; `raw` is
    /// the repeated frame of a stuck sensor.
    SensorFault {
        why: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        raw: Option<String>,
    },
    /// The pump answered a request later than the ICD allows (ICD part 1: within 50 ms): an
    /// anomaly, with the latency measured from the request's write to the answer's first byte.
    SlowAnswer {
        command: String,
        latency_ms: f64,
        allowed_ms: u64,
    },
    /// A `STATUS` answer, stamped when it arrived, and what it was read for.
    PumpStatus {
        /// Boxed: the largest of the frequent events otherwise, and every event is moved through
        /// the merge and the hand-overs (136 bytes with it inline, 96 without).
        status: Box<StatusReport>,
        taken: StatusTaken,
        /// When the rig asked (the answer's own time is the event's `at`): the pump read its
        /// clock in between, which ties `pump_ms` to the rig's clock.
        asked_at: RigTime,
    },
    /// A `SETTINGS` answer, and what it was read for (at a mark, for a check).
    PumpSettings {
        settings: crate::protocol::SettingsReport,
        taken: StatusTaken,
    },
    /// What start-up found on the bench and did to bring it to a known state.
    StartUp(Box<crate::run::startup::StartUp>),
    /// The pump's state before the first step: `ID`, `STATUS`, `ALARMS`, `SETTINGS`.
    PumpAtStart(Box<crate::run::startup::PumpSnapshot>),
    /// Start-up's left-over alarms acknowledged again once the plan's `setup:` had run.
    LeftOverCleared {
        acknowledged: Vec<crate::run::startup::Acknowledged>,
    },
    /// The pump stopped answering STATUS: the case ends ERROR (a check must not judge stale data).
    PumpSilent {
        why: String,
    },
    /// The serial link to the pump is gone (port closed, read or write failed): the case ends
    /// ERROR and the safe state is attempted.
    LinkLost {
        reason: String,
    },
    /// Something the pump or the link did that breaks the ICD or the rig's expectations without
    /// stopping the case (a malformed or failed STATUS, a late answer): evidence, not a verdict.
    Anomaly {
        what: String,
    },
    PumpEvent {
        event: Event,
    },
    EventGap {
        expected: u32,
        received: u32,
    },
    AlarmsResynced {
        active: Vec<AlarmCode>,
    },
    /// A line to or from the pump, stamped by the event's `at` when its write started or its
    /// first byte arrived; `done_at` when the write returned or the line's last byte arrived,
    /// where that was later.
    Frame {
        direction: Direction,
        line: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        done_at: Option<RigTime>,
    },
    /// Something the rig did to the bench: a command and its answer, a valve move, an injection.
    BenchAction {
        what: String,
        outcome: String,
    },
    Bolus {
        reply: BolusReply,
    },
    Check(Box<CheckOutcome>),
    /// The bench was put in its safe state (pump stopped, valve open), or tried to be.
    SafeState {
        pump_stopped: Result<(), String>,
        valve_open: Result<(), String>,
    },
    /// How the sampler kept its deadlines (its scheduling, wake-up lateness, read durations,
    /// missed deadlines), once it has stopped.
    SamplerStats(Box<crate::run::sampler::SamplerStats>),
    CaseFinished {
        verdict: Verdict,
        reason: Option<String>,
    },
}

impl RunEventKind {
    /// An anomaly's text, for the events that are anomalies on the timeline.
    pub fn anomaly_text(&self) -> Option<String> {
        match self {
            RunEventKind::Anomaly { what } => Some(what.clone()),
            RunEventKind::SlowAnswer { command, latency_ms, allowed_ms } => Some(format!(
                "the pump answered `{command}` {latency_ms:.1} ms after the request's write started; the ICD allows {allowed_ms} ms"
            )),
            RunEventKind::SampleFailed { reason, in_a_row } => Some(format!(
                "flow sensor read failed ({in_a_row} in a row; no sample, retried at the next deadline): {reason}"
            )),
            RunEventKind::SensorFault { why, .. } => Some(why.clone()),
            _ => None,
        }
    }

    pub fn frame(record: FrameRecord) -> RunEventKind {
        RunEventKind::Frame {
            direction: record.direction,
            line: record.line,
            note: record.note,
            done_at: record.done_at,
        }
    }
}

/// One event on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEvent {
    pub at: RigTime,
    #[serde(flatten)]
    pub kind: RunEventKind,
}

/// Something that consumes the run's events.
pub trait Reporter {
    fn on_event(&mut self, event: &RunEvent);
    /// The event, for the last reporter to see it: one that keeps events takes it instead of
    /// a copy.
    fn take_event(&mut self, event: RunEvent) {
        self.on_event(&event);
    }
    /// Several events in time order, for the last reporter to see them, taken as
    /// [`Reporter::take_event`] takes one: a reporter that hands events on (to a thread) hands
    /// them on at once instead of one at a time.
    fn take_events(&mut self, events: &mut Vec<RunEvent>) {
        for event in events.drain(..) {
            self.take_event(event);
        }
    }
    /// Called once the case's last event is out: flush, close files.
    fn finish(&mut self) {}
}

/// Gives `event` to each of `reporters` in turn, the last one taking it.
pub fn hand_out(reporters: &mut [Box<dyn Reporter + Send>], event: RunEvent) {
    if let Some((last, others)) = reporters.split_last_mut() {
        for r in others {
            r.on_event(&event);
        }
        last.take_event(event);
    }
}

/// Gives `events` (in time order, emptied) to each of `reporters` in turn, every reporter but
/// the last seeing each event in order, the last taking them all at once.
pub fn hand_out_all(reporters: &mut [Box<dyn Reporter + Send>], events: &mut Vec<RunEvent>) {
    if let Some((last, others)) = reporters.split_last_mut() {
        for r in others {
            events.iter().for_each(|e| r.on_event(e));
        }
        last.take_events(events);
    }
    events.clear();
}
