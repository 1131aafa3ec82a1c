//! Parsing what the pump sends: a response or an event.

use super::codes::ErrCode;
use super::event::{Event, EventKind};
use super::fields::{FieldError, Fields};
use super::number::parse_uint;
use super::response::{PumpError, Response};

/// A frame from the pump, understood.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Response(Response),
    Event(Event),
}

/// A frame from the pump with a valid CRC whose payload breaks the ICD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pump sent {payload:?}, which breaks the ICD: {reason}")]
pub struct ProtocolViolation {
    pub payload: String,
    pub reason: String,
}

impl Inbound {
    pub fn parse(payload: &str) -> Result<Inbound, ProtocolViolation> {
        let violation = |reason: String| ProtocolViolation { payload: payload.to_string(), reason };
        let mut tokens = super::fields::words(payload);
        let first = tokens.next().unwrap_or_default();
        if first == "!" {
            let evseq = tokens.next().ok_or_else(|| violation("event without evseq".into()))?;
            let evseq = parse_uint(evseq)
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| violation(format!("evseq {evseq:?} is not a number")))?;
            let pump_ms = tokens.next().ok_or_else(|| violation("event without pump_ms".into()))?;
            let pump_ms = parse_uint(pump_ms).map_err(|e| violation(e.to_string()))?;
            let name = tokens.next().ok_or_else(|| violation("event without a name".into()))?;
            let fields = Fields::parse(tokens).map_err(|e| violation(e.to_string()))?;
            let kind = EventKind::from_parts(name, &fields).map_err(|e: FieldError| violation(e.to_string()))?;
            return Ok(Inbound::Event(Event { evseq, pump_ms, kind }));
        }
        let seq = parse_uint(first)
            .ok()
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| violation(format!("seq {first:?} is not 0-65535")))?;
        match tokens.next() {
            Some("OK") => {
                let fields = Fields::parse(tokens).map_err(|e| violation(e.to_string()))?;
                Ok(Inbound::Response(Response::ok(seq, fields)))
            }
            Some("ERR") => {
                let code: ErrCode = tokens
                    .next()
                    .ok_or_else(|| violation("ERR without a code".into()))?
                    .parse()
                    .map_err(|e: super::codes::UnknownWord| violation(e.to_string()))?;
                let fields = Fields::parse(tokens).map_err(|e| violation(e.to_string()))?;
                fields.only(&["detail"]).map_err(|e| violation(e.to_string()))?;
                let detail = fields.get("detail").map(str::to_string);
                Ok(Inbound::Response(Response { seq, outcome: Err(PumpError { code, detail }) }))
            }
            other => Err(violation(format!("expected OK or ERR after the seq, found {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codes::{DenyReason, PumpState};

    #[test]
    fn parses_icd_example_responses_and_events() {
        assert_eq!(Inbound::parse("7 OK"), Ok(Inbound::Response(Response::ok(7, Fields::new()))));
        assert_eq!(
            Inbound::parse("9 OK granted=0 reason=LOCKOUT"),
            Ok(Inbound::Response(Response::ok(9, Fields::new().with("granted", 0).with("reason", "LOCKOUT"))))
        );
        assert_eq!(Inbound::parse("0 ERR CRC"), Ok(Inbound::Response(Response::err(0, ErrCode::Crc, None))));
        assert_eq!(
            Inbound::parse("4 ERR STATE detail=alarm"),
            Ok(Inbound::Response(Response::err(4, ErrCode::State, Some("alarm"))))
        );
        assert_eq!(
            Inbound::parse("! 3 120345 STATE state=RUNNING"),
            Ok(Inbound::Event(Event {
                evseq: 3,
                pump_ms: 120345,
                kind: EventKind::State { state: PumpState::Running }
            }))
        );
        assert_eq!(
            Inbound::parse("! 4 120400 DENIED reason=MAX_PER_24H"),
            Ok(Inbound::Event(Event {
                evseq: 4,
                pump_ms: 120400,
                kind: EventKind::Denied { reason: DenyReason::MaxPer24h }
            }))
        );
    }

    #[test]
    fn every_event_kind_round_trips() {
        use crate::protocol::codes::*;
        let kinds = [
            EventKind::Boot { reason: BootReason::Watchdog },
            EventKind::State { state: PumpState::Alarm },
            EventKind::Alarm { code: AlarmCode::MotorStall, priority: Priority::High },
            EventKind::Clear { code: AlarmCode::DoseLimit },
            EventKind::BolusStart { id: 7 },
            EventKind::BolusEnd { id: 7, delivered_ul: 49.75 },
            EventKind::Denied { reason: DenyReason::DailyLimit },
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            let e = Event { evseq: i as u32 + 1, pump_ms: 1000 * i as u64, kind };
            assert_eq!(Inbound::parse(&e.payload()), Ok(Inbound::Event(e)));
        }
    }

    #[test]
    fn violations_are_reported_not_guessed() {
        for bad in [
            "",
            "OK",
            "7",
            "7 MAYBE",
            "7 ERR",
            "7 ERR TIRED",
            "7 ERR RANGE why=x",
            "70000 OK",
            "! x 1 BOOT reason=POWER_ON",
            "! 1 1 BOOT",
            "! 1 1 BOOT reason=POWER_ON extra=1",
            "! 1 1 REBOOT reason=POWER_ON",
            "! 1 1 BOLUS id=1 phase=MIDDLE",
            "! 1 1 ALARM code=OCCLUSION priority=URGENT",
        ] {
            assert!(Inbound::parse(bad).is_err(), "{bad:?} should be a violation");
        }
    }
}
