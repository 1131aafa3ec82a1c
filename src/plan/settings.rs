//! The ranges of the pump's settings, from the ICD's command table (ICD.md part 1,
//! "Commands"), so that `rig check` refuses a value the pump would refuse before anything
//! moves — unless the step expects the refusal, which is how plans test it.

use super::units::{self, Dimension};

/// One setting of a command: its wire key, its range in the canonical unit, its dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SettingRange {
    /// `PROGRAM`, `LIMIT`, ...
    pub command: &'static str,
    /// The wire key, e.g. `basal_ul_h`.
    pub key: &'static str,
    pub low: f64,
    pub high: f64,
    pub dimension: Dimension,
}

impl SettingRange {
    pub fn contains(&self, v: f64) -> bool {
        (self.low..=self.high).contains(&v)
    }

    /// `2 uL/h to 1000 uL/h`.
    pub fn describe(&self) -> String {
        format!(
            "{} to {}",
            units::format_value(self.low, self.dimension),
            units::format_value(self.high, self.dimension)
        )
    }
}

const fn range(command: &'static str, key: &'static str, low: f64, high: f64, dimension: Dimension) -> SettingRange {
    SettingRange { command, key, low, high, dimension }
}

pub const PROGRAM_BASAL: SettingRange = range("PROGRAM", "basal_ul_h", 2.0, 1000.0, Dimension::Flow);
pub const BOLUS_DOSE: SettingRange = range("BOLUS_CONFIG", "dose_ul", 1.0, 500.0, Dimension::Volume);
pub const BOLUS_LOCKOUT: SettingRange = range("BOLUS_CONFIG", "lockout_s", 0.0, 86_400.0, Dimension::Duration);
pub const BOLUS_MAX: SettingRange = range("BOLUS_CONFIG", "max_per_24h", 0.0, 24.0, Dimension::Count);
pub const LIMIT_MAX_24H: SettingRange = range("LIMIT", "max_24h_ul", 48.0, 24_000.0, Dimension::Volume);
pub const ALARM_LOW_RESERVOIR: SettingRange =
    range("ALARM_CONFIG", "low_reservoir_ul", 500.0, 5000.0, Dimension::Volume);
pub const ALARM_OCCLUSION: SettingRange = range("ALARM_CONFIG", "occlusion_kpa", 50.0, 400.0, Dimension::Pressure);
pub const FILL_VOLUME: SettingRange = range("FILL", "volume_ul", 0.0, 40_000.0, Dimension::Volume);

/// The most decimals a value carries on the wire (ICD.md: "a fractional value has at most 3
/// decimals").
pub const WIRE_DECIMALS: u32 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_the_icd_writes_them() {
        assert_eq!(PROGRAM_BASAL.describe(), "2 uL/h to 1000 uL/h");
        assert_eq!(LIMIT_MAX_24H.describe(), "48 uL to 24000 uL");
        assert_eq!(BOLUS_LOCKOUT.describe(), "0 s to 24 h");
        assert!(PROGRAM_BASAL.contains(2.0) && PROGRAM_BASAL.contains(1000.0) && !PROGRAM_BASAL.contains(1000.001));
        assert!(!ALARM_OCCLUSION.contains(49.999) && ALARM_OCCLUSION.contains(400.0));
    }
}
