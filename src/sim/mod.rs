//! The digital twin of the bench: an IT-1 pump (firmware model, service port, motor), the
//! reference test line, the SF06-LF flow sensor and the pinch valve, as plain state machines
//! over sim time. No I/O, no clock, no threads: the in-process bench drives it under tokio's
//! paused clock, `rig sim` drives it behind a pty and the software bench bus.
//!
//! - [`twin`] — the composite [`Twin`] and its API (the only thing hosts need);
//! - [`config`] — [`TwinConfig`];
//! - [`firmware`] — the pump firmware model (delivery, dose limits, alarms);
//! - [`service_port`] — bytes ⇄ requests, responses and events (ICD part 1);
//! - [`fluid`] — motor, reservoir and line physics;
//! - [`sensor`] — the I2C flow sensor (ICD part 2);
//! - [`faults`] — the catalogue of seeded firmware defects;
//! - [`injection`] — what the bench can do to the twin (ICD part 2's `INJECT` among them);
//! - [`noise`], [`timers`] — seeded randomness and typed timers.
//!
//! The nominal firmware meets every requirement of SRS.md; each [`Fault`] violates the ones it
//! names. `tests/suite/twin_srs.rs` and `tests/suite/twin_defects.rs` show both, black-box.

pub mod config;
pub mod faults;
pub mod firmware;
pub mod fluid;
pub mod injection;
pub mod noise;
pub mod sensor;
pub mod service_port;
pub mod timers;
pub mod twin;

pub use config::{ConfigError, TwinConfig};
pub use faults::{Fault, UnknownFault};
pub use firmware::{Firmware, Settings};
pub use fluid::LineParams;
pub use injection::Injection;
pub use sensor::SensorNoise;
pub use twin::{I2cNack, Twin, UnknownLine};
