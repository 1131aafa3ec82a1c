//! What can go wrong talking to the pump, one variant per cause, each naming the device.

use std::time::Duration;

use crate::protocol::{ErrCode, PumpError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    /// `ERR CRC` to every attempt: frames are being damaged on the line.
    #[error(
        "pump on {device}: `{command}` was answered `ERR CRC` {attempts} time(s); check the serial cable, baud rate (115200 8N1) and grounding"
    )]
    CrcRejected { device: String, command: String, attempts: u32 },
    /// `ERR SYNTAX`: the pump could not read the request.
    #[error("pump on {device}: `{command}` refused as malformed (ERR SYNTAX{})", detail_suffix(.detail))]
    Syntax { device: String, command: String, detail: Option<String> },
    /// `ERR UNKNOWN`: the firmware does not know the command.
    #[error("pump on {device}: `{command}` is not a command this firmware knows (ERR UNKNOWN{}); check the protocol version in ID", detail_suffix(.detail))]
    UnknownCommand { device: String, command: String, detail: Option<String> },
    /// `ERR RANGE`: a value out of range or a refused combination.
    #[error("pump on {device}: `{command}` refused: value out of range or refused combination (ERR RANGE{})", detail_suffix(.detail))]
    Range { device: String, command: String, detail: Option<String> },
    /// `ERR STATE`: not allowed now.
    #[error("pump on {device}: `{command}` not allowed in the pump's current state (ERR STATE{})", detail_suffix(.detail))]
    State { device: String, command: String, detail: Option<String> },
    /// No response after every attempt.
    #[error(
        "pump on {device}: no response to `{command}` after {attempts} attempt(s) of {timeout:?}; check the pump is powered and its service port is connected"
    )]
    Timeout { device: String, command: String, attempts: u32, timeout: Duration },
    /// Answers came back to every attempt, but none could be decoded: the pump is powered and
    /// talking, and the line garbles what it says.
    #[error(
        "pump on {device}: `{command}` got {} answer line(s) over {attempts} attempt(s), none a valid frame ({bad_crc} with a bad CRC, {unframed} not a frame at all): the pump is talking but the line garbles it; check the baud rate (the service port runs at 115200 8N1), the wiring and its ground, and for electrical noise on the line",
        bad_crc + unframed
    )]
    Undecodable { device: String, command: String, attempts: u32, bad_crc: u32, unframed: u32 },
    /// The link is gone (end of file, I/O error, or the link task ended).
    #[error("pump on {device}: serial link lost: {reason}")]
    Disconnected { device: String, reason: String },
    /// The pump answered, but not as the ICD says it must.
    #[error("pump on {device}: answer to `{command}` breaks the ICD: {detail}")]
    Protocol { device: String, command: String, detail: String },
    /// The port could not be opened.
    #[error("pump serial port {device}: cannot open: {reason}; {hint}")]
    Open { device: String, reason: String, hint: String },
}

fn detail_suffix(detail: &Option<String>) -> String {
    detail.as_deref().map(|d| format!(" detail={d}")).unwrap_or_default()
}

impl LinkError {
    /// Builds the typed error for an `ERR` response.
    pub fn from_pump_error(device: &str, command: &str, e: &PumpError, attempts: u32) -> LinkError {
        let (device, command, detail) = (device.to_string(), command.to_string(), e.detail.clone());
        match e.code {
            ErrCode::Crc => LinkError::CrcRejected { device, command, attempts },
            ErrCode::Syntax => LinkError::Syntax { device, command, detail },
            ErrCode::Unknown => LinkError::UnknownCommand { device, command, detail },
            ErrCode::Range => LinkError::Range { device, command, detail },
            ErrCode::State => LinkError::State { device, command, detail },
        }
    }

    /// The pump's error code, when the pump refused the request.
    pub fn pump_code(&self) -> Option<ErrCode> {
        match self {
            LinkError::CrcRejected { .. } => Some(ErrCode::Crc),
            LinkError::Syntax { .. } => Some(ErrCode::Syntax),
            LinkError::UnknownCommand { .. } => Some(ErrCode::Unknown),
            LinkError::Range { .. } => Some(ErrCode::Range),
            LinkError::State { .. } => Some(ErrCode::State),
            _ => None,
        }
    }

    /// True when the pump answered and refused; false when the link or the bench failed.
    /// A refusal is a finding about the pump; anything else is a fault of the rig or bench.
    pub fn is_pump_refusal(&self) -> bool {
        self.pump_code().is_some()
    }
}
