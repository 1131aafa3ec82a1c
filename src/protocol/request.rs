//! Host → pump requests: `<seq> <COMMAND> [key=value ...]` (ICD part 1, "Commands").
//!
//! Parsing checks syntax only (tokens, keys, number forms); ranges and refused combinations are
//! the firmware's business and come back as `ERR RANGE`.

use std::fmt;

use super::codes::{AlarmCode, ErrCode};
use super::fields::{FieldError, Fields};
use super::number::parse_uint;

/// A request's command with its arguments, in the ICD's units.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Id,
    /// The programmed settings, therapy on/off among them.
    Settings,
    Status,
    Program {
        basal_ul_h: f64,
    },
    BolusConfig {
        dose_ul: f64,
        lockout_s: u32,
        max_per_24h: u32,
    },
    Limit {
        max_24h_ul: f64,
    },
    AlarmConfig {
        low_reservoir_ul: f64,
        occlusion_kpa: f64,
    },
    Fill {
        volume_ul: f64,
    },
    Start,
    Stop,
    Bolus,
    Alarms,
    Ack {
        code: AlarmCode,
    },
}

impl Command {
    /// The command word on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Id => "ID",
            Command::Settings => "SETTINGS",
            Command::Status => "STATUS",
            Command::Program { .. } => "PROGRAM",
            Command::BolusConfig { .. } => "BOLUS_CONFIG",
            Command::Limit { .. } => "LIMIT",
            Command::AlarmConfig { .. } => "ALARM_CONFIG",
            Command::Fill { .. } => "FILL",
            Command::Start => "START",
            Command::Stop => "STOP",
            Command::Bolus => "BOLUS",
            Command::Alarms => "ALARMS",
            Command::Ack { .. } => "ACK",
        }
    }

    /// The arguments as they go on the wire.
    pub fn fields(&self) -> Fields {
        let f = Fields::new();
        match *self {
            Command::Program { basal_ul_h } => f.number_field("basal_ul_h", basal_ul_h),
            Command::BolusConfig { dose_ul, lockout_s, max_per_24h } => {
                f.number_field("dose_ul", dose_ul).with("lockout_s", lockout_s).with("max_per_24h", max_per_24h)
            }
            Command::Limit { max_24h_ul } => f.number_field("max_24h_ul", max_24h_ul),
            Command::AlarmConfig { low_reservoir_ul, occlusion_kpa } => {
                f.number_field("low_reservoir_ul", low_reservoir_ul).number_field("occlusion_kpa", occlusion_kpa)
            }
            Command::Fill { volume_ul } => f.number_field("volume_ul", volume_ul),
            Command::Ack { code } => f.with("code", code),
            Command::Id
            | Command::Settings
            | Command::Status
            | Command::Start
            | Command::Stop
            | Command::Bolus
            | Command::Alarms => f,
        }
    }

    /// Builds a command from its word and arguments; every key must be known and present.
    pub fn from_parts(name: &str, f: &Fields) -> Result<Command, RequestError> {
        let syntax = |e: FieldError| RequestError::Syntax(e.to_string());
        let keys = |allowed: &[&str]| f.only(allowed).map_err(syntax);
        let u32_of = |key: &'static str| -> Result<u32, RequestError> {
            let v = f.uint(key).map_err(syntax)?;
            u32::try_from(v).map_err(|_| RequestError::Syntax(format!("key {key:?}: {v} is too large")))
        };
        let cmd = match name {
            "ID" => keys(&[]).map(|_| Command::Id)?,
            "SETTINGS" => keys(&[]).map(|_| Command::Settings)?,
            "STATUS" => keys(&[]).map(|_| Command::Status)?,
            "START" => keys(&[]).map(|_| Command::Start)?,
            "STOP" => keys(&[]).map(|_| Command::Stop)?,
            "BOLUS" => keys(&[]).map(|_| Command::Bolus)?,
            "ALARMS" => keys(&[]).map(|_| Command::Alarms)?,
            "PROGRAM" => {
                keys(&["basal_ul_h"])?;
                Command::Program { basal_ul_h: f.number("basal_ul_h").map_err(syntax)? }
            }
            "BOLUS_CONFIG" => {
                keys(&["dose_ul", "lockout_s", "max_per_24h"])?;
                Command::BolusConfig {
                    dose_ul: f.number("dose_ul").map_err(syntax)?,
                    lockout_s: u32_of("lockout_s")?,
                    max_per_24h: u32_of("max_per_24h")?,
                }
            }
            "LIMIT" => {
                keys(&["max_24h_ul"])?;
                Command::Limit { max_24h_ul: f.number("max_24h_ul").map_err(syntax)? }
            }
            "ALARM_CONFIG" => {
                keys(&["low_reservoir_ul", "occlusion_kpa"])?;
                Command::AlarmConfig {
                    low_reservoir_ul: f.number("low_reservoir_ul").map_err(syntax)?,
                    occlusion_kpa: f.number("occlusion_kpa").map_err(syntax)?,
                }
            }
            "FILL" => {
                keys(&["volume_ul"])?;
                Command::Fill { volume_ul: f.number("volume_ul").map_err(syntax)? }
            }
            "ACK" => {
                keys(&["code"])?;
                Command::Ack { code: f.word("code").map_err(syntax)? }
            }
            other => return Err(RequestError::Unknown(other.to_string())),
        };
        Ok(cmd)
    }
}

impl Command {
    /// `NAME [key=value ...]`, as a request's payload carries it after its seq: the one writer of
    /// a command's text, for the payload and for `Display`.
    fn write_text(&self, out: &mut impl fmt::Write) -> fmt::Result {
        out.write_str(self.name())?;
        let fields = self.fields();
        if !fields.is_empty() {
            out.write_str(" ")?;
            out.write_str(fields.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_text(f)
    }
}

/// One request: a sequence number and a command.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// 1–65535, chosen by the host.
    pub seq: u16,
    pub command: Command,
}

/// Why the pump cannot accept a request payload: the error code it answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request: {0}")]
    Syntax(String),
    #[error("no such command {0:?}")]
    Unknown(String),
}

impl RequestError {
    pub fn code(&self) -> ErrCode {
        match self {
            RequestError::Syntax(_) => ErrCode::Syntax,
            RequestError::Unknown(_) => ErrCode::Unknown,
        }
    }
}

impl Request {
    pub fn new(seq: u16, command: Command) -> Self {
        Self { seq, command }
    }

    /// The frame payload: `<seq> <COMMAND> [key=value ...]`.
    pub fn payload(&self) -> String {
        // Built in place, without the formatting machinery: the rig sends one per request.
        let mut out = String::with_capacity(64);
        super::number::push_uint(&mut out, u64::from(self.seq));
        out.push(' ');
        // Writing to a String cannot fail.
        let _ = self.command.write_text(&mut out);
        out
    }

    /// Parses a payload. On failure, also returns the seq to answer with when one could be read
    /// (otherwise the pump answers with seq 0).
    pub fn parse(payload: &str) -> Result<Request, (Option<u16>, RequestError)> {
        let mut tokens = super::fields::words(payload);
        let seq_token = tokens.next().unwrap_or_default();
        let seq = parse_uint(seq_token)
            .ok()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|&s| s != 0)
            .ok_or_else(|| (None, RequestError::Syntax(format!("seq {seq_token:?} is not 1-65535"))))?;
        let name = tokens
            .next()
            .filter(|n| !n.is_empty())
            .ok_or((Some(seq), RequestError::Syntax("missing command".to_string())))?;
        let fields = Fields::parse(tokens).map_err(|e| (Some(seq), RequestError::Syntax(e.to_string())))?;
        let command = Command::from_parts(name, &fields).map_err(|e| (Some(seq), e))?;
        Ok(Request { seq, command })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_match_icd_text() {
        assert_eq!(Request::new(7, Command::Program { basal_ul_h: 500.0 }).payload(), "7 PROGRAM basal_ul_h=500");
        assert_eq!(Request::new(8, Command::Start).payload(), "8 START");
        assert_eq!(
            Request::new(12, Command::BolusConfig { dose_ul: 50.0, lockout_s: 3600, max_per_24h: 4 }).payload(),
            "12 BOLUS_CONFIG dose_ul=50 lockout_s=3600 max_per_24h=4"
        );
        assert_eq!(
            Request::new(13, Command::AlarmConfig { low_reservoir_ul: 2000.0, occlusion_kpa: 200.0 }).payload(),
            "13 ALARM_CONFIG low_reservoir_ul=2000 occlusion_kpa=200"
        );
        assert_eq!(Request::new(14, Command::Limit { max_24h_ul: 1200.5 }).payload(), "14 LIMIT max_24h_ul=1200.5");
        assert_eq!(Request::new(15, Command::Fill { volume_ul: 20000.0 }).payload(), "15 FILL volume_ul=20000");
        assert_eq!(Request::new(16, Command::Ack { code: AlarmCode::Occlusion }).payload(), "16 ACK code=OCCLUSION");
        assert_eq!(Request::new(65535, Command::Id).payload(), "65535 ID");
        assert_eq!(Request::new(17, Command::Settings).payload(), "17 SETTINGS");
    }

    #[test]
    fn every_command_round_trips() {
        let commands = [
            Command::Id,
            Command::Settings,
            Command::Status,
            Command::Program { basal_ul_h: 12.5 },
            Command::BolusConfig { dose_ul: 1.0, lockout_s: 0, max_per_24h: 24 },
            Command::Limit { max_24h_ul: 48.0 },
            Command::AlarmConfig { low_reservoir_ul: 500.0, occlusion_kpa: 50.0 },
            Command::Fill { volume_ul: 0.048 },
            Command::Start,
            Command::Stop,
            Command::Bolus,
            Command::Alarms,
            Command::Ack { code: AlarmCode::TherapyInterrupted },
        ];
        for (i, command) in commands.into_iter().enumerate() {
            let req = Request::new(i as u16 + 1, command);
            assert_eq!(Request::parse(&req.payload()), Ok(req));
        }
    }

    #[test]
    fn syntax_and_unknown_errors() {
        let code = |p: &str| Request::parse(p).map_err(|(seq, e)| (seq, e.code()));
        assert_eq!(code("0 ID"), Err((None, ErrCode::Syntax)));
        assert_eq!(code("65536 ID"), Err((None, ErrCode::Syntax)));
        assert_eq!(code("x ID"), Err((None, ErrCode::Syntax)));
        assert_eq!(code("5"), Err((Some(5), ErrCode::Syntax)));
        assert_eq!(code("5 FLY"), Err((Some(5), ErrCode::Unknown)));
        assert_eq!(code("5 id"), Err((Some(5), ErrCode::Unknown)));
        assert_eq!(code("5 PROGRAM"), Err((Some(5), ErrCode::Syntax)));
        assert_eq!(code("5 PROGRAM basal_ul_h=1e3"), Err((Some(5), ErrCode::Syntax)));
        assert_eq!(code("5 PROGRAM basal_ul_h=5 extra=1"), Err((Some(5), ErrCode::Syntax)));
        assert_eq!(code("5 PROGRAM  basal_ul_h=5"), Err((Some(5), ErrCode::Syntax)));
        assert_eq!(code("5 START now=1"), Err((Some(5), ErrCode::Syntax)));
        assert_eq!(code("5 SETTINGS therapy=on"), Err((Some(5), ErrCode::Syntax)));
        assert_eq!(code("5 settings"), Err((Some(5), ErrCode::Unknown)));
        assert_eq!(code("5 BOLUS_CONFIG dose_ul=5 lockout_s=1.5 max_per_24h=4"), Err((Some(5), ErrCode::Syntax)));
        assert_eq!(code("5 ACK code=FIRE"), Err((Some(5), ErrCode::Syntax)));
        // Out-of-range values are syntactically fine; the firmware refuses them with RANGE.
        assert!(Request::parse("5 PROGRAM basal_ul_h=5000").is_ok());
    }
}
