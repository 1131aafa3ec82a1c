//! Verdicts. A FAIL is a finding about the pump; INCONCLUSIVE a result the bench could not
//! resolve against its limit (within the measurement's uncertainty of it: see
//! [`super::decision`]); an ERROR is the rig's or the bench's failure and never reported as a
//! pump failure; ABORTED means someone stopped the run.

use std::fmt;

use serde::Serialize;

/// The verdict of a check or of a whole case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Inconclusive,
    Fail,
    Error,
    Aborted,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Aborted => "ABORTED",
        })
    }
}
