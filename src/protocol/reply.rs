//! Typed contents of `OK` responses: `ID`, `SETTINGS`, `STATUS`, `BOLUS`, `ALARMS`.
//! Both sides use them: the twin to answer, the link to read the answer.

use serde::Serialize;

use super::codes::{AlarmCode, DenyReason, PumpState, format_alarm_list, parse_alarm_list};
use super::fields::{FieldError, Fields};
use super::setting_field::SettingField;

/// The pump's identity, as recorded in the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PumpIdentity {
    pub model: String,
    pub serial: String,
    pub fw: String,
    /// Firmware image hash, hex.
    pub build: String,
    pub proto: u32,
}

impl PumpIdentity {
    pub fn from_fields(f: &Fields) -> Result<Self, FieldError> {
        f.only(&["model", "serial", "fw", "build", "proto"])?;
        let build = f.require("build")?;
        if build.is_empty() || !build.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldError::BadWord { key: "build", message: format!("{build:?} is not hex") });
        }
        Ok(Self {
            model: f.require("model")?.to_string(),
            serial: f.require("serial")?.to_string(),
            fw: f.require("fw")?.to_string(),
            build: build.to_string(),
            proto: u32::try_from(f.uint("proto")?).unwrap_or(u32::MAX),
        })
    }

    pub fn to_fields(&self) -> Fields {
        Fields::new()
            .with("model", &self.model)
            .with("serial", &self.serial)
            .with("fw", &self.fw)
            .with("build", &self.build)
            .with("proto", self.proto)
    }
}

/// The answer to `STATUS`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StatusReport {
    pub state: PumpState,
    pub reservoir_ul: f64,
    /// Counted since boot.
    pub delivered_ul: f64,
    pub basal_ul_h: f64,
    pub pressure_kpa: f64,
    pub pump_ms: u64,
    pub alarms: Vec<AlarmCode>,
}

impl StatusReport {
    pub fn from_fields(f: &Fields) -> Result<Self, FieldError> {
        f.only(&["state", "reservoir_ul", "delivered_ul", "basal_ul_h", "pressure_kpa", "pump_ms", "alarms"])?;
        Ok(Self {
            state: f.word("state")?,
            reservoir_ul: f.number("reservoir_ul")?,
            delivered_ul: f.number("delivered_ul")?,
            basal_ul_h: f.number("basal_ul_h")?,
            pressure_kpa: f.number("pressure_kpa")?,
            pump_ms: f.uint("pump_ms")?,
            alarms: parse_alarm_list(f.require("alarms")?)
                .map_err(|e| FieldError::BadWord { key: "alarms", message: e.to_string() })?,
        })
    }

    pub fn to_fields(&self) -> Fields {
        Fields::with_room_for_status()
            .with("state", self.state)
            .number_field("reservoir_ul", self.reservoir_ul)
            .number_field("delivered_ul", self.delivered_ul)
            .number_field("basal_ul_h", self.basal_ul_h)
            .number_field("pressure_kpa", self.pressure_kpa)
            .uint_field("pump_ms", self.pump_ms)
            .with("alarms", format_alarm_list(&self.alarms))
    }
}

/// The answer to `SETTINGS`: the programmed settings, so that a host can read back what a
/// refused command left unchanged (ICD part 1, "Commands"). Keys in the ICD's order.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SettingsReport {
    pub basal_ul_h: f64,
    pub dose_ul: f64,
    pub lockout_s: u32,
    pub max_per_24h: u32,
    pub max_24h_ul: f64,
    pub low_reservoir_ul: f64,
    pub occlusion_kpa: f64,
    /// `therapy=on` after `START`, `off` after `STOP`.
    pub therapy_on: bool,
}

impl SettingsReport {
    /// A setting as a number in its ICD unit (therapy: 1 on, 0 off).
    pub fn value(&self, field: SettingField) -> f64 {
        use SettingField as F;
        match field {
            F::BasalUlH => self.basal_ul_h,
            F::DoseUl => self.dose_ul,
            F::LockoutS => f64::from(self.lockout_s),
            F::MaxPer24h => f64::from(self.max_per_24h),
            F::Max24hUl => self.max_24h_ul,
            F::LowReservoirUl => self.low_reservoir_ul,
            F::OcclusionKpa => self.occlusion_kpa,
            F::Therapy => f64::from(u8::from(self.therapy_on)),
        }
    }

    pub const KEYS: [&'static str; 8] = [
        "basal_ul_h",
        "dose_ul",
        "lockout_s",
        "max_per_24h",
        "max_24h_ul",
        "low_reservoir_ul",
        "occlusion_kpa",
        "therapy",
    ];

    pub fn from_fields(f: &Fields) -> Result<Self, FieldError> {
        f.only(&Self::KEYS)?;
        let u32_of = |key: &'static str| -> Result<u32, FieldError> {
            let v = f.uint(key)?;
            u32::try_from(v).map_err(|_| FieldError::BadWord { key, message: format!("{v} is too large") })
        };
        let therapy_on = match f.require("therapy")? {
            "on" => true,
            "off" => false,
            other => {
                return Err(FieldError::BadWord { key: "therapy", message: format!("{other:?} is not on or off") });
            }
        };
        Ok(Self {
            basal_ul_h: f.number("basal_ul_h")?,
            dose_ul: f.number("dose_ul")?,
            lockout_s: u32_of("lockout_s")?,
            max_per_24h: u32_of("max_per_24h")?,
            max_24h_ul: f.number("max_24h_ul")?,
            low_reservoir_ul: f.number("low_reservoir_ul")?,
            occlusion_kpa: f.number("occlusion_kpa")?,
            therapy_on,
        })
    }

    pub fn to_fields(&self) -> Fields {
        Fields::new()
            .number_field("basal_ul_h", self.basal_ul_h)
            .number_field("dose_ul", self.dose_ul)
            .with("lockout_s", self.lockout_s)
            .with("max_per_24h", self.max_per_24h)
            .number_field("max_24h_ul", self.max_24h_ul)
            .number_field("low_reservoir_ul", self.low_reservoir_ul)
            .number_field("occlusion_kpa", self.occlusion_kpa)
            .with("therapy", if self.therapy_on { "on" } else { "off" })
    }
}

/// The answer to `BOLUS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "granted", rename_all = "snake_case")]
pub enum BolusReply {
    Granted { id: u32 },
    Denied { reason: DenyReason },
}

impl BolusReply {
    pub fn from_fields(f: &Fields) -> Result<Self, FieldError> {
        match f.require("granted")? {
            "1" => {
                f.only(&["granted", "id"])?;
                let id = f.uint("id")?;
                let id = u32::try_from(id)
                    .map_err(|_| FieldError::BadWord { key: "id", message: format!("{id} is too large") })?;
                Ok(BolusReply::Granted { id })
            }
            "0" => {
                f.only(&["granted", "reason"])?;
                Ok(BolusReply::Denied { reason: f.word("reason")? })
            }
            other => Err(FieldError::BadWord { key: "granted", message: format!("{other:?} is not 0 or 1") }),
        }
    }

    pub fn to_fields(&self) -> Fields {
        match *self {
            BolusReply::Granted { id } => Fields::new().with("granted", 1).with("id", id),
            BolusReply::Denied { reason } => Fields::new().with("granted", 0).with("reason", reason),
        }
    }
}

/// The answer to `ALARMS`: `active=`.
pub fn active_alarms_from_fields(f: &Fields) -> Result<Vec<AlarmCode>, FieldError> {
    f.only(&["active"])?;
    parse_alarm_list(f.require("active")?).map_err(|e| FieldError::BadWord { key: "active", message: e.to_string() })
}

pub fn active_alarms_to_fields(codes: &[AlarmCode]) -> Fields {
    Fields::new().with("active", format_alarm_list(codes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_matches_icd_keys() {
        let s = StatusReport {
            state: PumpState::Alarm,
            reservoir_ul: 19_950.25,
            delivered_ul: 49.75,
            basal_ul_h: 500.0,
            pressure_kpa: 201.5,
            pump_ms: 720_000,
            alarms: vec![AlarmCode::Occlusion],
        };
        let f = s.to_fields();
        assert_eq!(
            f.to_string(),
            "state=ALARM reservoir_ul=19950.25 delivered_ul=49.75 basal_ul_h=500 pressure_kpa=201.5 pump_ms=720000 alarms=OCCLUSION"
        );
        assert_eq!(StatusReport::from_fields(&f), Ok(s));
    }

    #[test]
    fn settings_round_trip_in_the_icd_order() {
        let s = SettingsReport {
            basal_ul_h: 437.5,
            dose_ul: 20.0,
            lockout_s: 900,
            max_per_24h: 6,
            max_24h_ul: 12000.0,
            low_reservoir_ul: 1500.0,
            occlusion_kpa: 150.0,
            therapy_on: true,
        };
        let f = s.to_fields();
        assert_eq!(
            f.to_string(),
            "basal_ul_h=437.5 dose_ul=20 lockout_s=900 max_per_24h=6 max_24h_ul=12000 low_reservoir_ul=1500 \
             occlusion_kpa=150 therapy=on"
        );
        assert_eq!(SettingsReport::from_fields(&f), Ok(s.clone()));
        let off = SettingsReport { therapy_on: false, ..s };
        assert!(off.to_fields().to_string().ends_with(" therapy=off"));
    }

    #[test]
    fn settings_refuse_missing_unknown_and_bad_values() {
        let full = "basal_ul_h=10 dose_ul=50 lockout_s=3600 max_per_24h=4 max_24h_ul=1200 low_reservoir_ul=2000 \
                    occlusion_kpa=200 therapy=off";
        let parse = |text: &str| SettingsReport::from_fields(&Fields::parse(text.split(' ')).unwrap());
        assert!(parse(full).is_ok());
        assert_eq!(parse(&full.replace(" therapy=off", "")), Err(FieldError::Missing("therapy")));
        assert_eq!(parse(&format!("{full} state=RUNNING")), Err(FieldError::Unexpected("state".into())));
        assert!(matches!(
            parse(&full.replace("therapy=off", "therapy=1")),
            Err(FieldError::BadWord { key: "therapy", .. })
        ));
        assert!(matches!(
            parse(&full.replace("lockout_s=3600", "lockout_s=36.5")),
            Err(FieldError::BadValue { key: "lockout_s", .. })
        ));
        assert!(matches!(
            parse(&full.replace("max_per_24h=4", "max_per_24h=4294967296")),
            Err(FieldError::BadWord { key: "max_per_24h", .. })
        ));
    }

    #[test]
    fn bolus_replies() {
        let g = BolusReply::Granted { id: 4 };
        assert_eq!(g.to_fields().to_string(), "granted=1 id=4");
        assert_eq!(BolusReply::from_fields(&g.to_fields()), Ok(g));
        let d = BolusReply::Denied { reason: DenyReason::Lockout };
        assert_eq!(d.to_fields().to_string(), "granted=0 reason=LOCKOUT");
        assert_eq!(BolusReply::from_fields(&d.to_fields()), Ok(d));
        assert!(BolusReply::from_fields(&Fields::new().with("granted", 2)).is_err());
    }

    #[test]
    fn identity_requires_hex_build() {
        let id = PumpIdentity {
            model: "IT-1".into(),
            serial: "X1".into(),
            fw: "2.4.1".into(),
            build: "9f3a".into(),
            proto: 1,
        };
        assert_eq!(PumpIdentity::from_fields(&id.to_fields()), Ok(id));
        let bad =
            Fields::new().with("model", "a").with("serial", "b").with("fw", "c").with("build", "xyz").with("proto", 1);
        assert!(PumpIdentity::from_fields(&bad).is_err());
    }
}
