//! Unsolicited pump events: `! <evseq> <pump_ms> <EVENT> [key=value ...]` (ICD "Events").

use std::fmt;

use super::codes::{AlarmCode, BootReason, DenyReason, Priority, PumpState};
use super::fields::{FieldError, Fields};
use super::number::format_number;

/// What happened, with its arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EventKind {
    Boot { reason: BootReason },
    State { state: PumpState },
    Alarm { code: AlarmCode, priority: Priority },
    Clear { code: AlarmCode },
    BolusStart { id: u32 },
    BolusEnd { id: u32, delivered_ul: f64 },
    Denied { reason: DenyReason },
}

/// One event as the pump numbered and stamped it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// 1 after boot, +1 per event.
    pub evseq: u32,
    /// Milliseconds since the pump booted, on the pump's own clock.
    pub pump_ms: u64,
    pub kind: EventKind,
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Boot { .. } => "BOOT",
            EventKind::State { .. } => "STATE",
            EventKind::Alarm { .. } => "ALARM",
            EventKind::Clear { .. } => "CLEAR",
            EventKind::BolusStart { .. } | EventKind::BolusEnd { .. } => "BOLUS",
            EventKind::Denied { .. } => "DENIED",
        }
    }

    pub fn fields(&self) -> Fields {
        let f = Fields::new();
        match *self {
            EventKind::Boot { reason } => f.with("reason", reason),
            EventKind::State { state } => f.with("state", state),
            EventKind::Alarm { code, priority } => f.with("code", code).with("priority", priority),
            EventKind::Clear { code } => f.with("code", code),
            EventKind::BolusStart { id } => f.with("id", id).with("phase", "START"),
            EventKind::BolusEnd { id, delivered_ul } => {
                f.with("id", id).with("phase", "END").with("delivered_ul", format_number(delivered_ul))
            }
            EventKind::Denied { reason } => f.with("reason", reason),
        }
    }

    /// Builds an event from its word and arguments, refusing unknown or missing keys.
    pub fn from_parts(name: &str, f: &Fields) -> Result<EventKind, FieldError> {
        let id = || -> Result<u32, FieldError> {
            let v = f.uint("id")?;
            u32::try_from(v).map_err(|_| FieldError::BadWord { key: "id", message: format!("{v} is too large") })
        };
        Ok(match name {
            "BOOT" => {
                f.only(&["reason"])?;
                EventKind::Boot { reason: f.word("reason")? }
            }
            "STATE" => {
                f.only(&["state"])?;
                EventKind::State { state: f.word("state")? }
            }
            "ALARM" => {
                f.only(&["code", "priority"])?;
                EventKind::Alarm { code: f.word("code")?, priority: f.word("priority")? }
            }
            "CLEAR" => {
                f.only(&["code"])?;
                EventKind::Clear { code: f.word("code")? }
            }
            "BOLUS" => match f.require("phase")? {
                "START" => {
                    f.only(&["id", "phase"])?;
                    EventKind::BolusStart { id: id()? }
                }
                "END" => {
                    f.only(&["id", "phase", "delivered_ul"])?;
                    EventKind::BolusEnd { id: id()?, delivered_ul: f.number("delivered_ul")? }
                }
                other => {
                    return Err(FieldError::BadWord {
                        key: "phase",
                        message: format!("{other:?} is not START or END"),
                    });
                }
            },
            "DENIED" => {
                f.only(&["reason"])?;
                EventKind::Denied { reason: f.word("reason")? }
            }
            other => return Err(FieldError::BadWord { key: "event", message: format!("unknown event {other:?}") }),
        })
    }
}

impl Event {
    /// The frame payload.
    pub fn payload(&self) -> String {
        let fields = self.kind.fields();
        format!("! {} {} {} {}", self.evseq, self.pump_ms, self.kind.name(), fields)
    }
}

impl serde::Serialize for Event {
    /// `{"evseq": 4, "pump_ms": 120345, "event": "ALARM", "code": "OCCLUSION", "priority": "HIGH"}`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self.kind.fields();
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("evseq", &self.evseq)?;
        map.serialize_entry("pump_ms", &self.pump_ms)?;
        map.serialize_entry("event", self.kind.name())?;
        for (k, v) in fields.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.payload())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_match_icd_text() {
        let e = Event { evseq: 3, pump_ms: 120345, kind: EventKind::State { state: PumpState::Running } };
        assert_eq!(e.payload(), "! 3 120345 STATE state=RUNNING");
        let e = Event {
            evseq: 9,
            pump_ms: 5,
            kind: EventKind::Alarm { code: AlarmCode::Occlusion, priority: Priority::High },
        };
        assert_eq!(e.payload(), "! 9 5 ALARM code=OCCLUSION priority=HIGH");
        let e = Event { evseq: 10, pump_ms: 6, kind: EventKind::BolusEnd { id: 2, delivered_ul: 50.0 } };
        assert_eq!(e.payload(), "! 10 6 BOLUS id=2 phase=END delivered_ul=50");
    }
}
