//! ICD part 1, the pump's service port, as pure functions and plain data: no I/O here.
//!
//! - [`lines`]: the bounded line splitter both ICD codecs (this one and the bench bus) share;
//! - [`frame`]: bytes ⇄ frames, CRC-16/CCITT-FALSE ([`crc16`]);
//! - [`request`], [`response`], [`event`], [`inbound`]: payloads ⇄ typed messages;
//! - [`reply`]: the typed contents of `OK` responses;
//! - [`session`]: the host's side of the conversation (seq, retries, evseq) as a state machine.

pub mod codes;
pub mod crc16;
pub mod event;
pub mod fields;
pub mod frame;
pub mod inbound;
pub mod lines;
pub mod number;
pub mod reply;
pub mod request;
pub mod response;
pub mod session;
pub mod setting_field;

pub use codes::{AlarmCode, BootReason, DenyReason, ErrCode, Priority, PumpState};
pub use event::{Event, EventKind};
pub use fields::Fields;
pub use frame::{CrcFault, Frame, FrameDecoder, FrameError, encode_frame};
pub use inbound::{Inbound, ProtocolViolation};
pub use reply::{BolusReply, PumpIdentity, SettingsReport, StatusReport};
pub use request::{Command, Request, RequestError};
pub use response::{PumpError, Response};
pub use setting_field::SettingField;
