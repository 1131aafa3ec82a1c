//! The executor: runs plan cases on a bench and streams what happens to reporters.

pub mod case_record;
pub mod emergency;
pub mod evaluate;
pub mod event;
pub mod executor;
pub mod injections;
pub mod matrix;
pub mod reporters;
pub mod resets;
pub mod runner;
pub mod sampler;
pub mod sensor_health;
pub mod spill;
pub mod startup;
pub mod timeline;

pub use crate::judgement::{CheckOutcome, Verdict};
pub use emergency::EmergencyStop;
pub use event::{Reporter, RunEvent, RunEventKind, Sample};
pub use executor::{CaseOptions, CaseReport, run_case};
pub use runner::{RunOptions, RunSummary, render_summary, run_case_guarded, run_plans};

/// The verdicts' old path: they are [`crate::judgement`]'s.
pub mod verdict {
    pub use crate::judgement::{CheckOutcome, TrumpetMeasurement, Verdict};
}

/// The decision rule's old path: it is [`crate::judgement::decision`].
pub mod decision {
    pub use crate::judgement::decision::{Decision, decide};
}
