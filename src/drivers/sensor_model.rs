//! The SF06-LF family models the rig supports, and their scale factors (ICD part 2).

use std::fmt;
use std::str::FromStr;

/// A Sensirion liquid-flow sensor model of the SF06-LF family.
#[allow(non_camel_case_types)] // named as the manufacturer names them
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SensorModel {
    /// raw / 1200 → mL/h.
    Ld20_0600L,
    /// raw / 10 → µL/min.
    Slf3s_0600F,
    /// raw / 500 → mL/min.
    Slf3s_1300F,
}

impl SensorModel {
    pub const ALL: [SensorModel; 3] = [SensorModel::Ld20_0600L, SensorModel::Slf3s_0600F, SensorModel::Slf3s_1300F];

    pub fn name(self) -> &'static str {
        match self {
            SensorModel::Ld20_0600L => "LD20-0600L",
            SensorModel::Slf3s_0600F => "SLF3S-0600F",
            SensorModel::Slf3s_1300F => "SLF3S-1300F",
        }
    }

    /// Raw counts per µL/h.
    pub fn counts_per_ul_h(self) -> f64 {
        match self {
            // raw/1200 = mL/h  ⇒  raw = 1.2 · µL/h
            SensorModel::Ld20_0600L => 1200.0 / 1000.0,
            // raw/10 = µL/min  ⇒  raw = 10/60 · µL/h
            SensorModel::Slf3s_0600F => 10.0 / 60.0,
            // raw/500 = mL/min ⇒  raw = 500/60000 · µL/h
            SensorModel::Slf3s_1300F => 500.0 / 60_000.0,
        }
    }

    /// Converts a raw flow word to µL/h.
    ///
    /// ```
    /// use rig::drivers::SensorModel;
    /// // LD20-0600L: raw / 1200 → mL/h, so 600 counts are 500 µL/h.
    /// assert_eq!(SensorModel::Ld20_0600L.flow_ul_h(600), 500.0);
    /// ```
    pub fn flow_ul_h(self, raw: i16) -> f64 {
        f64::from(raw) / self.counts_per_ul_h()
    }

    /// The raw word for a flow, rounded and saturated to the int16 range (used by the twin).
    pub fn raw_from_ul_h(self, ul_h: f64) -> i16 {
        let raw = (ul_h * self.counts_per_ul_h()).round();
        raw.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
    }

    /// Resolution of one raw count, in µL/h.
    pub fn resolution_ul_h(self) -> f64 {
        1.0 / self.counts_per_ul_h()
    }

    /// Largest flow the word can carry, in µL/h.
    pub fn max_ul_h(self) -> f64 {
        f64::from(i16::MAX) / self.counts_per_ul_h()
    }
}

/// Temperature word → °C (raw / 200, every model).
pub fn temperature_c(raw: i16) -> f64 {
    f64::from(raw) / 200.0
}

impl fmt::Display for SensorModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model name the rig does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flow sensor model {0:?} (expected LD20-0600L, SLF3S-0600F or SLF3S-1300F)")]
pub struct UnknownModel(pub String);

impl FromStr for SensorModel {
    type Err = UnknownModel;
    fn from_str(s: &str) -> Result<Self, UnknownModel> {
        SensorModel::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| UnknownModel(s.to_string()))
    }
}

impl<'de> serde::Deserialize<'de> for SensorModel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for SensorModel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_factors_from_the_icd() {
        // LD20-0600L: raw/1200 → mL/h. 600 counts = 0.5 mL/h = 500 µL/h.
        assert!((SensorModel::Ld20_0600L.flow_ul_h(600) - 500.0).abs() < 1e-9);
        // SLF3S-0600F: raw/10 → µL/min. 100 counts = 10 µL/min = 600 µL/h.
        assert!((SensorModel::Slf3s_0600F.flow_ul_h(100) - 600.0).abs() < 1e-9);
        // SLF3S-1300F: raw/500 → mL/min. 500 counts = 1 mL/min = 60000 µL/h.
        assert!((SensorModel::Slf3s_1300F.flow_ul_h(500) - 60_000.0).abs() < 1e-9);
        assert!((temperature_c(4600) - 23.0).abs() < 1e-12);
        assert!((temperature_c(-200) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn raw_round_trip_and_saturation() {
        for m in SensorModel::ALL {
            let raw = m.raw_from_ul_h(m.flow_ul_h(1234));
            assert_eq!(raw, 1234, "{m}");
            assert_eq!(m.raw_from_ul_h(1e12), i16::MAX);
            assert_eq!(m.raw_from_ul_h(-1e12), i16::MIN);
        }
    }

    #[test]
    fn names_parse() {
        for m in SensorModel::ALL {
            assert_eq!(m.name().parse(), Ok(m));
        }
        assert!("LD20".parse::<SensorModel>().is_err());
    }
}
