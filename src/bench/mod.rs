//! Benches: the bench file format, opening a bench (twin, software bench process, or a
//! Raspberry Pi), and the end-to-end bench check.

pub mod capability;
pub mod config;
pub mod doctor;
pub mod instruments;
pub mod open;
pub mod self_check;

pub use capability::Capability;
pub use config::{BenchFile, BenchFileError, Connection};
pub use open::{Bench, BenchError, SafeStateReport};

/// The in-process twin bench, built into the binary: `rig` with no `--bench` uses it.
pub const EMBEDDED_TWIN: &str = include_str!("../../rig/sim.yaml");
/// The twin-as-a-process bench, built in as the default of `rig sim`.
pub const EMBEDDED_SIM_PTY: &str = include_str!("../../rig/sim-pty.yaml");

/// Loads `path`, or the built-in twin bench when there is none.
pub fn load_or_default(
    path: Option<&std::path::Path>,
    default: &str,
    default_name: &str,
) -> Result<BenchFile, BenchFileError> {
    match path {
        Some(p) => BenchFile::load(p),
        None => BenchFile::parse(std::path::Path::new(default_name), default),
    }
}
