//! What the link reports besides responses: the pump's unsolicited events and a trace of every
//! frame, each stamped by the rig's clock when it really happened: a request when its write
//! started, a line from the pump when its first byte was read.

use std::time::Duration;

use serde::Serialize;

use crate::clock::RigTime;
use crate::protocol::{AlarmCode, Event};

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    ToPump,
    FromPump,
}

/// One line on the wire, for the evidence log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameRecord {
    /// To the pump: when the write started. From the pump: when the read that delivered the
    /// line's first byte returned.
    pub at: RigTime,
    /// When the write (and its flush) returned, or the read that delivered the line's end; only
    /// where that is later than `at`. The difference is the link's own latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done_at: Option<RigTime>,
    pub direction: Direction,
    /// The line as sent or received, without its line end.
    pub line: String,
    /// What the link made of it: `retry 2 (timeout)`, `bad CRC`, `anomaly: ...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the pump told the rig without being asked, and what the link noticed about it.
#[derive(Debug, Clone, PartialEq)]
pub enum PumpNotice {
    /// An event frame, stamped when it arrived.
    Event { at: RigTime, event: Event },
    /// Events were lost between `expected` and `received`.
    EventGap { at: RigTime, expected: u32, received: u32 },
    /// The active alarms re-read after a gap.
    AlarmsResynced { at: RigTime, active: Vec<AlarmCode> },
    /// The pump answered a request later than the ICD allows ([`ICD_ANSWER_WITHIN`]). `command`
    /// is the request as sent, without its CRC (`4711 STATUS`); `latency`
    /// is from the start of the write of the request's last attempt to the first byte of the
    /// answer; `at` is when that byte arrived. An upper bound on the pump's own latency (the
    /// line and the rig's scheduling are included).
    SlowAnswer { at: RigTime, command: String, latency: Duration },
    /// The link is gone; no more notices will come.
    LinkLost { at: RigTime, reason: String },
}

/// ICD part 1: "The pump answers every well-formed request within 50 ms."
pub const ICD_ANSWER_WITHIN: Duration = Duration::from_millis(50);

impl PumpNotice {
    pub fn at(&self) -> RigTime {
        match self {
            PumpNotice::Event { at, .. }
            | PumpNotice::EventGap { at, .. }
            | PumpNotice::AlarmsResynced { at, .. }
            | PumpNotice::SlowAnswer { at, .. }
            | PumpNotice::LinkLost { at, .. } => *at,
        }
    }
}
