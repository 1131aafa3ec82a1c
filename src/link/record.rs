//! What the link reports besides responses: the pump's unsolicited events and a trace of every
//! frame, each stamped by the rig's clock when it really happened.

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
    pub at: RigTime,
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
    /// The link is gone; no more notices will come.
    LinkLost { at: RigTime, reason: String },
}

impl PumpNotice {
    pub fn at(&self) -> RigTime {
        match self {
            PumpNotice::Event { at, .. }
            | PumpNotice::EventGap { at, .. }
            | PumpNotice::AlarmsResynced { at, .. }
            | PumpNotice::LinkLost { at, .. } => *at,
        }
    }
}
