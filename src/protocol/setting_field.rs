//! The settings the pump's `SETTINGS` answer reports (ICD part 1), named by their wire keys.

use serde::Serialize;

/// The programmed settings the ICD's `SETTINGS` reports, by their wire keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingField {
    BasalUlH,
    DoseUl,
    LockoutS,
    MaxPer24h,
    Max24hUl,
    LowReservoirUl,
    OcclusionKpa,
    /// Therapy on (1) or off (0): a count.
    Therapy,
}

impl SettingField {
    pub const ALL: [SettingField; 8] = [
        SettingField::BasalUlH,
        SettingField::DoseUl,
        SettingField::LockoutS,
        SettingField::MaxPer24h,
        SettingField::Max24hUl,
        SettingField::LowReservoirUl,
        SettingField::OcclusionKpa,
        SettingField::Therapy,
    ];

    /// The ICD's key (the `SETTINGS` answer's), as plans write it too.
    pub fn name(self) -> &'static str {
        match self {
            SettingField::BasalUlH => "basal_ul_h",
            SettingField::DoseUl => "dose_ul",
            SettingField::LockoutS => "lockout_s",
            SettingField::MaxPer24h => "max_per_24h",
            SettingField::Max24hUl => "max_24h_ul",
            SettingField::LowReservoirUl => "low_reservoir_ul",
            SettingField::OcclusionKpa => "occlusion_kpa",
            SettingField::Therapy => "therapy",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::SettingsReport;

    #[test]
    fn every_field_is_a_key_of_the_settings_answer_in_its_order() {
        let names: Vec<&str> = SettingField::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names, SettingsReport::KEYS);
    }
}
