//! The closed vocabularies of the service port: alarm codes, priorities, states, refusal
//! reasons, boot reasons and error codes (ICD part 1). Each maps one-to-one to its wire word.

use std::fmt;
use std::str::FromStr;

/// A wire word that is not in the vocabulary it was parsed for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{word:?} is not a valid {what} (expected one of: {expected})")]
pub struct UnknownWord {
    pub what: &'static str,
    pub word: String,
    pub expected: &'static str,
}

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The word used on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownWord { what: $what, word: s.to_string(), expected: concat!($($word, " "),+) }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

wire_enum!(
    /// Alarm codes (ICD "Alarm codes").
    AlarmCode, "alarm code" {
        Occlusion => "OCCLUSION",
        ReservoirLow => "RESERVOIR_LOW",
        ReservoirEmpty => "RESERVOIR_EMPTY",
        MotorStall => "MOTOR_STALL",
        TherapyInterrupted => "THERAPY_INTERRUPTED",
        DoseLimit => "DOSE_LIMIT",
    }
);

impl AlarmCode {
    /// The priority the ICD assigns to each code.
    pub fn priority(self) -> Priority {
        match self {
            AlarmCode::Occlusion
            | AlarmCode::ReservoirEmpty
            | AlarmCode::MotorStall
            | AlarmCode::TherapyInterrupted => Priority::High,
            AlarmCode::ReservoirLow => Priority::Medium,
            AlarmCode::DoseLimit => Priority::Low,
        }
    }
}

wire_enum!(
    /// Alarm priorities.
    Priority, "alarm priority" { High => "HIGH", Medium => "MEDIUM", Low => "LOW" }
);

wire_enum!(
    /// The pump's reported state: `ALARM` while any HIGH alarm is active, else `RUNNING` when
    /// therapy is on, else `STOPPED`.
    PumpState, "pump state" { Stopped => "STOPPED", Running => "RUNNING", Alarm => "ALARM" }
);

wire_enum!(
    /// Why a bolus request was refused.
    DenyReason, "bolus refusal reason" {
        Lockout => "LOCKOUT",
        MaxPer24h => "MAX_PER_24H",
        DailyLimit => "DAILY_LIMIT",
        Alarm => "ALARM",
        Stopped => "STOPPED",
    }
);

wire_enum!(
    /// Why the pump booted.
    BootReason, "boot reason" { PowerOn => "POWER_ON", Watchdog => "WATCHDOG" }
);

wire_enum!(
    /// Error codes of an `ERR` response (ICD "Error codes").
    ErrCode, "error code" {
        /// Checksum mismatch; nothing done.
        Crc => "CRC",
        /// Malformed request.
        Syntax => "SYNTAX",
        /// No such command.
        Unknown => "UNKNOWN",
        /// Value out of range or a refused combination.
        Range => "RANGE",
        /// Not allowed now.
        State => "STATE",
    }
);

/// A comma list of alarm codes as in `STATUS alarms=` and `ALARMS active=`: `none` when empty.
pub fn format_alarm_list(codes: &[AlarmCode]) -> String {
    if codes.is_empty() { "none".to_string() } else { codes.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",") }
}

/// Parses `none` or a comma list of alarm codes.
pub fn parse_alarm_list(s: &str) -> Result<Vec<AlarmCode>, UnknownWord> {
    if s == "none" {
        return Ok(Vec::new());
    }
    s.split(',').map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips() {
        for c in AlarmCode::ALL {
            assert_eq!(c.as_str().parse::<AlarmCode>(), Ok(*c));
        }
        for c in ErrCode::ALL {
            assert_eq!(c.as_str().parse::<ErrCode>(), Ok(*c));
        }
        for c in DenyReason::ALL {
            assert_eq!(c.as_str().parse::<DenyReason>(), Ok(*c));
        }
    }

    #[test]
    fn priorities_follow_the_icd_table() {
        use AlarmCode::*;
        let high: Vec<_> = AlarmCode::ALL.iter().filter(|c| c.priority() == Priority::High).collect();
        assert_eq!(high, [&Occlusion, &ReservoirEmpty, &MotorStall, &TherapyInterrupted]);
        assert_eq!(ReservoirLow.priority(), Priority::Medium);
        assert_eq!(DoseLimit.priority(), Priority::Low);
    }

    #[test]
    fn alarm_lists() {
        assert_eq!(parse_alarm_list("none"), Ok(vec![]));
        assert_eq!(
            parse_alarm_list("OCCLUSION,THERAPY_INTERRUPTED"),
            Ok(vec![AlarmCode::Occlusion, AlarmCode::TherapyInterrupted])
        );
        assert!(parse_alarm_list("OCCLUSION,").is_err());
        assert!(parse_alarm_list("occlusion").is_err());
        assert_eq!(format_alarm_list(&[]), "none");
        assert_eq!(format_alarm_list(&[AlarmCode::ReservoirLow, AlarmCode::DoseLimit]), "RESERVOIR_LOW,DOSE_LIMIT");
    }
}
