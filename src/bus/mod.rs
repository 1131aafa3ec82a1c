//! ICD part 2, the software bench bus: a software bench (the twin under `rig sim`, or another
//! team's simulator) exposes the flow sensor's I2C bus and the valve's GPIO line on a Unix
//! stream socket, one request line and one response line at a time, so that the rig's drivers
//! run over it unchanged.
//!
//! - [`codec`]: request and response lines, the injection vocabulary ([`Inject`]) and a bounded
//!   line reader, free of I/O;
//! - [`client`]: the rig's blocking client, whose handles implement embedded-hal's `I2c` and
//!   `OutputPin`;
//! - [`server`]: serves the bus for a software bench that implements [`BusTarget`].

pub mod client;
pub mod codec;
pub mod server;

pub use client::{BenchHello, BusClient, BusError, BusI2c, BusI2cError, BusPin, BusPinError, ConfirmedLow};
pub use codec::{BusParseError, BusRequest, BusResponse, Inject, InjectKind, LineReader};
pub use server::{BusTarget, Nack, NoSuchLine, Unsupported, respond, serve};
