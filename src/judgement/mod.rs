//! Judgement: how a measured value becomes a verdict. The guard-banded decision rule
//! ([`decision`]), the verdicts ([`verdict`]) and a check's outcome ([`check_outcome`]): pure
//! types and functions, below both the run that judges and the evidence that records, so that
//! the record never depends on the machinery that ran the case.

pub mod check_outcome;
pub mod decision;
pub mod trumpet_measurement;
pub mod verdict;

pub use check_outcome::CheckOutcome;
pub use decision::{Decision, decide};
pub use trumpet_measurement::TrumpetMeasurement;
pub use verdict::Verdict;
