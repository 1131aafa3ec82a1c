//! How the sampler kept its deadlines, as the record keeps it: the scheduling it ran under, the
//! deadlines it reached and missed, and its latencies (see `run::sampler` for how they are taken).

use serde::{Deserialize, Serialize};

use crate::realtime::{Percentiles, Scheduling};

/// How the sampler kept its deadlines, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerStats {
    /// Virtual time, `SCHED_FIFO`, or the normal policy and why.
    pub scheduling: Scheduling,
    pub period_s: f64,
    /// Deadlines reached; each got one read.
    pub deadlines: u64,
    pub failed_reads: u64,
    /// Deadlines that had passed before the previous read returned (each read late, at once).
    pub missed_deadlines: u64,
    /// From each deadline the thread slept to, to the moment it woke: the scheduler's latency.
    /// A missed deadline is not slept to (its read starts when the previous one returns) and is
    /// counted in `missed_deadlines` instead. `None` under virtual time, where a task wakes
    /// exactly at its deadline by construction.
    pub wake_lateness: Option<Percentiles>,
    /// From each read's start to its return. `None` under virtual time.
    pub read_duration: Option<Percentiles>,
}
