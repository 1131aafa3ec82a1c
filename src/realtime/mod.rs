//! What the rig's real-time threads share: asking the OS for real-time scheduling
//! ([`priority`]), a thread with a tokio runtime of its own for I/O ([`thread`]), sleeping to an
//! absolute deadline on the monotonic clock ([`sleep`]), and keeping the distribution of
//! latencies in bounded memory ([`histogram`]).
//!
//! On a real-time bench (the twin in its own process, a Raspberry Pi) the flow sampler and the
//! pump link each own an OS thread that asks for `SCHED_FIFO`, so that a loaded machine (a
//! compiler, a browser rendering a report) cannot starve them; what each thread got, and how
//! late it was, and whether the process's memory is locked in RAM ([`memory`]), is recorded as
//! evidence. Under the in-process twin's paused clock none of this
//! is used: time is virtual and nothing can be late.

pub mod histogram;
pub mod memory;
pub mod priority;
pub mod sleep;
pub mod thread;

pub use histogram::{LatencyHistogram, Percentiles};
pub use memory::{MemoryLock, lock_process_memory};
pub use priority::{Scheduling, request_fifo};
pub use sleep::sleep_until;
pub use thread::{StartError, Started, spawn_realtime};
