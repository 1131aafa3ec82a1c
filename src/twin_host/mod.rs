//! Hosting the digital twin: the pure model in [`crate::sim`] advanced by tokio, reached either
//! in this process (its service port reached directly, `InProcessPort`, and in-memory embedded-hal
//! devices, under the paused clock)
//! or as its own process (`rig sim`: a pseudo-terminal and the bench-bus socket, real time).

mod bus_target;
mod in_process_port;
mod instruments;
mod process;
mod service_port;
mod shared;

pub use bus_target::TwinBusTarget;
pub use in_process_port::{InProcessPort, SerialCable};
pub use instruments::{SimI2c, SimNack, SimNoLine, SimPin};
pub use process::{SimEndpoints, SimProcessError, run_sim_process};
pub use service_port::serve_service_port;
pub use shared::SharedTwin;
