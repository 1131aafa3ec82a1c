//! The catalogue of seeded firmware defects.
//!
//! Each [`Fault`] is a realistic slip in pump firmware that the rig's qualification plans must
//! catch: it deviates from the nominal firmware only where its description says, and it violates
//! the SRS requirements [`Fault::requirement`] names, detectably through the service port, the
//! flow sensor and the valve alone.

use std::fmt;
use std::str::FromStr;

macro_rules! faults {
    (
        $($(#[$doc:meta])* $variant:ident => $name:literal, [$($req:literal),+], $desc:literal;)+
    ) => {
        /// A seeded firmware defect (see the module documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Fault { $($(#[$doc])* $variant),+ }

        impl Fault {
            /// The defects the defect matrix runs every plan against (`rig matrix`,
            /// `tests/suite/defect_matrix.rs`), in catalogue order: each is caught by a current plan.
            pub const ALL: &'static [Fault] = &[$(Fault::$variant),+];


            /// The kebab-case name used in bench files and on the command line.
            pub fn name(&self) -> &'static str {
                match self { $(Fault::$variant => $name),+ }
            }

            /// The SRS requirement ids this defect violates.
            pub fn requirement(&self) -> &'static [&'static str] {
                match self { $(Fault::$variant => &[$($req),+]),+ }
            }

            /// What the defective firmware does differently from the nominal one.
            pub fn description(&self) -> &'static str {
                match self { $(Fault::$variant => $desc),+ }
            }
        }
    };
}

faults! {
    /// The occlusion check compares the pressure with twice the configured threshold.
    OcclusionThresholdDoubled => "occlusion-threshold-doubled", ["SRS-OCC-002", "SRS-OCC-003"],
        "the occlusion check compares the line pressure with twice the configured threshold, so \
         the alarm comes late and the trapped volume released afterwards is twice as large";
    /// `OCCLUSION` is raised but does not suspend delivery.
    PumpingAfterOcclusion => "pumping-after-occlusion", ["SRS-OCC-001", "SRS-WDR-004"],
        "OCCLUSION is raised but does not suspend delivery: strokes continue into the blocked line \
         (so nothing reaches the patient while the firmware believes it delivers, and \
         THERAPY_INTERRUPTED waits until the motor gives up against the pressure)";
    /// `ACK code=OCCLUSION` succeeds at any pressure.
    OcclusionAckEarly => "occlusion-ack-early", ["SRS-OCC-004"],
        "ACK code=OCCLUSION is accepted at any pressure, before it has fallen below half the threshold";
    /// The bolus lockout is not checked.
    LockoutIgnored => "lockout-ignored", ["SRS-DOS-001"],
        "a bolus request is granted without checking the lockout since the last granted bolus";
    /// The 24 h volume is counted per day since boot instead of over a rolling window.
    DailyLimitCalendarDay => "daily-limit-calendar-day", ["SRS-DOS-001", "SRS-DOS-004"],
        "the 24 h volume is counted from the last 24 h boundary since boot (a calendar day) instead \
         of over the preceding rolling 24 h, so boluses on both sides of a boundary exceed the limit";
    /// One bolus more than `max_per_24h` is granted.
    MaxPer24hOffByOne => "max-per-24h-off-by-one", ["SRS-DOS-001"],
        "the boluses-per-24h check uses <= instead of <: one bolus more than max_per_24h is granted";
    /// A bolus is granted while a HIGH alarm is active.
    BolusDuringAlarm => "bolus-during-alarm", ["SRS-WDR-005"],
        "a bolus request is granted while a HIGH alarm is active instead of refused with reason=ALARM";
    /// `RESERVOIR_LOW` is raised 50 µL past the threshold.
    LowReservoirLate => "low-reservoir-late", ["SRS-WDR-001"],
        "RESERVOIR_LOW is raised only when the reservoir is 50 µL below the low-reservoir threshold";
    /// `THERAPY_INTERRUPTED` is never raised.
    TherapyInterruptedMissing => "therapy-interrupted-missing", ["SRS-WDR-004"],
        "THERAPY_INTERRUPTED is never raised when delivery stops while therapy is on";
    /// A stroke that fails is retried for ever without `MOTOR_STALL`.
    StallDetectionOff => "stall-detection-off", ["SRS-WDR-003"],
        "a stroke that does not complete is retried every 5 s for ever; MOTOR_STALL is never raised";
    /// A watchdog reset loses the active alarms.
    AlarmsLostOnWatchdog => "alarms-lost-on-watchdog", ["SRS-WDR-006"],
        "after a watchdog reset the active HIGH alarms are forgotten and delivery resumes";
    /// The basal interval is computed for a 0.2 µL stroke: 25 % too much basal.
    Delivery25pctFast => "delivery-25pct-fast", ["SRS-DEL-002"],
        "the basal stroke interval is computed for a 0.2 µL stroke (another pump variant's \
         constant), so 0.25 µL strokes come 25 % too often: 1.25 × the programmed basal";
    /// A retried request is executed again.
    RetryReexecutes => "retry-reexecutes", ["SRS-COM-002"],
        "the seq cache is not consulted: a request repeating the previous seq is executed again";
    /// A frame with a bad CRC is answered `0 ERR CRC` but executed anyway.
    BadCrcExecuted => "bad-crc-executed", ["SRS-COM-001"],
        "a frame with a bad CRC is answered 0 ERR CRC but its request is executed anyway";
    /// `evseq` skips a number at every `CLEAR` event.
    EvseqSkips => "evseq-skips", ["SRS-COM-003"],
        "the event counter is incremented twice for CLEAR events, so evseq skips a number after each";
    /// `PROGRAM` checks only the upper bound of the basal rate.
    ProgramRangeUnchecked => "program-range-unchecked", ["SRS-DEL-001"],
        "PROGRAM checks only the upper bound of the basal rate: rates below 2.0 µL/h are accepted";
    /// `STOP` lets the bolus in progress finish.
    StopFinishesBolus => "stop-finishes-bolus", ["SRS-DEL-003"],
        "STOP stops the basal delivery but lets a bolus in progress run to its end";
    /// The empty reservoir is not detected; the pump keeps stroking (air).
    ReservoirEmptyMissed => "reservoir-empty-missed", ["SRS-WDR-002", "SRS-WDR-004"],
        "the empty-reservoir check is missing: the pump keeps stroking air and never raises \
         RESERVOIR_EMPTY (nor THERAPY_INTERRUPTED: it believes it delivers)";
    /// A refusal for the 24 h limit raises no `DOSE_LIMIT`.
    DoseLimitSilent => "dose-limit-silent", ["SRS-DOS-002"],
        "a bolus refused for the 24 h limit is answered and reported by DENIED, but DOSE_LIMIT is \
         not raised";
    /// `LIMIT` does not check the basal rate against the new limit.
    LimitCombinationUnchecked => "limit-combination-unchecked", ["SRS-DOS-003"],
        "LIMIT checks only its own range, not that the programmed basal rate fits in the new limit";
    /// Boluses are delivered at 500 µL/h.
    BolusSlow => "bolus-slow", ["SRS-DOS-005"],
        "bolus strokes are spaced 1.8 s apart: boluses are delivered at 500 µL/h instead of 1000 µL/h";
    /// A `LIMIT` refused for the basal combination is stored anyway.
    RefusedLimitApplied => "refused-limit-applied", ["SRS-DOS-003"],
        "a LIMIT refused with ERR RANGE because the programmed basal rate would exceed it is stored \
         anyway: the answer says refused, max_24h_ul has changed (only SETTINGS shows it)";
    /// A `BOLUS_CONFIG` refused for its `max_per_24h` still changes the dose and the lockout.
    RefusedBolusConfigApplied => "refused-bolus-config-applied", ["SRS-DEL-001"],
        "BOLUS_CONFIG stores dose_ul and lockout_s before checking max_per_24h: refused with \
         ERR RANGE for its max_per_24h, it has still changed the dose and the lockout, so the \
         program is not left unchanged (only SETTINGS shows it)";
    /// After a watchdog reset therapy is off.
    ResetForgetsTherapy => "reset-forgets-therapy", ["SRS-WDR-006"],
        "a watchdog reset does not restore therapy on: the pump comes back with therapy off (STOPPED, \
         or ALARM while a HIGH alarm is kept), and delivery does not resume once the alarms are \
         cleared";
    /// After a watchdog reset the lockout and the 24 h limit are the defaults again.
    ResetForgetsSettings => "reset-forgets-settings", ["SRS-WDR-006"],
        "a watchdog reset restores the default lockout (3600 s) and 24 h limit (1200 µL) instead of \
         the programmed ones; the basal rate, which STATUS shows, is kept";
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fault {name:?}; valid faults: {}", valid_names())]
pub struct UnknownFault {
    pub name: String,
}

fn valid_names() -> String {
    Fault::ALL.iter().map(Fault::name).collect::<Vec<_>>().join(", ")
}

impl FromStr for Fault {
    type Err = UnknownFault;
    fn from_str(s: &str) -> Result<Self, UnknownFault> {
        Fault::ALL.iter().copied().find(|f| f.name() == s).ok_or_else(|| UnknownFault { name: s.to_string() })
    }
}

impl serde::Serialize for Fault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Fault {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The faults a firmware image carries, for constant-time checks on the hot path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultSet(u64);

impl FaultSet {
    pub fn new(faults: &[Fault]) -> Self {
        Self(faults.iter().fold(0, |bits, &f| bits | (1 << f as u64)))
    }

    pub fn has(self, fault: Fault) -> bool {
        self.0 & (1 << fault as u64) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The faults present, in catalogue order.
    pub fn faults(self) -> Vec<Fault> {
        Fault::ALL.iter().copied().filter(|&f| self.has(f)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_kebab_case_and_parse_back() {
        let mut seen = HashSet::new();
        for &f in Fault::ALL {
            assert!(seen.insert(f.name()), "duplicate {f}");
            assert!(f.name().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{f}");
            assert_eq!(f.name().parse::<Fault>(), Ok(f));
            assert!(!f.description().is_empty());
        }
        assert!(Fault::ALL.len() <= 64, "FaultSet is a u64 bitset");
    }

    #[test]
    fn every_fault_names_real_srs_ids() {
        const SRS: &[&str] = &[
            "SRS-DEL-001",
            "SRS-DEL-002",
            "SRS-DEL-003",
            "SRS-OCC-001",
            "SRS-OCC-002",
            "SRS-OCC-003",
            "SRS-OCC-004",
            "SRS-DOS-001",
            "SRS-DOS-002",
            "SRS-DOS-003",
            "SRS-DOS-004",
            "SRS-DOS-005",
            "SRS-WDR-001",
            "SRS-WDR-002",
            "SRS-WDR-003",
            "SRS-WDR-004",
            "SRS-WDR-005",
            "SRS-WDR-006",
            "SRS-COM-001",
            "SRS-COM-002",
            "SRS-COM-003",
        ];
        for &f in Fault::ALL {
            assert!(!f.requirement().is_empty());
            for r in f.requirement() {
                assert!(SRS.contains(r), "{f}: {r}");
            }
        }
        // Every requirement has at least one defect that a plan must catch.
        for r in SRS {
            assert!(Fault::ALL.iter().any(|f| f.requirement().contains(r)), "no fault violates {r}");
        }
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = "occlusion".parse::<Fault>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"occlusion\""), "{msg}");
        for f in Fault::ALL {
            assert!(msg.contains(f.name()), "{msg}");
        }
    }

    #[test]
    fn fault_set_membership() {
        let set = FaultSet::new(&[Fault::EvseqSkips, Fault::BolusSlow]);
        assert!(set.has(Fault::EvseqSkips) && set.has(Fault::BolusSlow));
        assert!(!set.has(Fault::LockoutIgnored));
        assert_eq!(set.faults(), vec![Fault::EvseqSkips, Fault::BolusSlow]);
        assert!(FaultSet::new(&[]).is_empty());
    }
}
