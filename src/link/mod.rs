//! The pump link: the host side of ICD part 1 over any `AsyncRead + AsyncWrite`.
//!
//! The protocol logic lives in [`crate::protocol::session`]; this module only moves bytes,
//! reads the clock, and turns outcomes into typed errors and stamped records.

pub mod client;
pub mod error;
pub mod record;
pub mod serial;

pub use client::{Completion, LinkStreams, PumpLink, Synchronised};
pub use error::LinkError;
pub use record::{Direction, FrameRecord, ICD_ANSWER_WITHIN, PumpNotice};
pub use serial::{PortKind, open_port, open_port_patiently, open_serial};
