//! How a twin is built: seed, seeded defects, instruments, line and firmware identity.

use super::faults::Fault;
use super::fluid::LineParams;
use super::sensor::SensorNoise;
use crate::drivers::SensorModel;
use crate::protocol::PumpIdentity;

/// Everything a [`Twin`](super::Twin) is made from. `Default` is the nominal reference bench.
#[derive(Debug, Clone, PartialEq)]
pub struct TwinConfig {
    /// Seed of every random stream (sensor noise): same seed and same calls, same bytes.
    pub seed: u64,
    /// Seeded firmware defects; empty for the nominal firmware.
    pub faults: Vec<Fault>,
    pub sensor_model: SensorModel,
    /// 7-bit I2C address of the flow sensor.
    pub sensor_address: u8,
    /// Serial number the sensor reports in its product identifier.
    pub sensor_serial: u64,
    /// GPIO line of the occlusion valve (level 1 closes the line).
    pub valve_line: u32,
    pub line: LineParams,
    pub sensor_noise: SensorNoise,
    /// What `ID` answers for the nominal image. With faults, the twin replaces `build` by a
    /// hash of it and the fault names, so the evidence shows which image ran.
    pub identity: PumpIdentity,
    /// What the reservoir holds at power-on, µL (the ICD default is 0).
    pub initial_reservoir_ul: f64,
    /// How far the pump's crystal is off, ppm: `pump_ms` runs this much fast (positive) or slow.
    /// The ICD allows ±100 ppm; the reference twin's is exact.
    pub crystal_ppm: f64,
}

/// The nominal image's identity.
pub fn nominal_identity() -> PumpIdentity {
    PumpIdentity {
        model: "IT-1".to_string(),
        serial: "SIM-0001".to_string(),
        fw: "2.4.1".to_string(),
        build: "5a17c0de".to_string(),
        proto: 1,
    }
}

impl Default for TwinConfig {
    fn default() -> Self {
        Self {
            seed: 0x5EED,
            faults: Vec::new(),
            sensor_model: SensorModel::Ld20_0600L,
            sensor_address: 0x08,
            sensor_serial: 0x0000_0000_2024_0001,
            valve_line: 17,
            line: LineParams::default(),
            sensor_noise: SensorNoise::default(),
            identity: nominal_identity(),
            initial_reservoir_ul: 0.0,
            crystal_ppm: 0.0,
        }
    }
}

/// A configuration the twin cannot honour as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid twin configuration: {0}")]
pub struct ConfigError(pub String);

/// A value that can go into a `key=value` token of a frame: printable, no space, `*` or `=`.
fn is_wire_word(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| (0x21..=0x7E).contains(&b) && b != b'*' && b != b'=')
}

impl TwinConfig {
    /// Checks every figure; [`Twin::new`](super::Twin::new) replaces what fails by its default.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.line.check().map_err(ConfigError)?;
        self.sensor_noise.check().map_err(ConfigError)?;
        if self.sensor_address > 0x7F {
            return Err(ConfigError(format!("sensor address 0x{:02x} is not a 7-bit address", self.sensor_address)));
        }
        if !(0.0..=40_000.0).contains(&self.initial_reservoir_ul) {
            return Err(ConfigError(format!("initial reservoir {} µL is outside 0–40000", self.initial_reservoir_ul)));
        }
        if !(self.crystal_ppm.is_finite() && self.crystal_ppm.abs() <= 100.0) {
            return Err(ConfigError(format!("crystal error {} ppm is outside the ICD's ±100 ppm", self.crystal_ppm)));
        }
        let id = &self.identity;
        for (key, value) in [("model", &id.model), ("serial", &id.serial), ("fw", &id.fw), ("build", &id.build)] {
            if !is_wire_word(value) {
                return Err(ConfigError(format!("identity {key} {value:?} cannot go on the wire")));
            }
        }
        if !id.build.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError(format!("identity build {:?} is not hex", id.build)));
        }
        Ok(())
    }

    /// This configuration with every figure that fails [`TwinConfig::check`] replaced by its
    /// default, and the identity's `build` marked with the faults.
    pub(crate) fn sanitized(mut self) -> Self {
        let defaults = TwinConfig::default();
        if self.line.check().is_err() {
            self.line = defaults.line;
        }
        if self.sensor_noise.check().is_err() {
            self.sensor_noise = defaults.sensor_noise;
        }
        if self.sensor_address > 0x7F {
            self.sensor_address = defaults.sensor_address;
        }
        if !(0.0..=40_000.0).contains(&self.initial_reservoir_ul) {
            self.initial_reservoir_ul = defaults.initial_reservoir_ul;
        }
        if !(self.crystal_ppm.is_finite() && self.crystal_ppm.abs() <= 100.0) {
            self.crystal_ppm = defaults.crystal_ppm;
        }
        let nominal = nominal_identity();
        let id = &mut self.identity;
        for (value, default) in
            [(&mut id.model, nominal.model), (&mut id.serial, nominal.serial), (&mut id.fw, nominal.fw)]
        {
            if !is_wire_word(value) {
                *value = default;
            }
        }
        if !is_wire_word(&id.build) || !id.build.bytes().all(|b| b.is_ascii_hexdigit()) {
            id.build = nominal.build;
        }
        self.faults.sort();
        self.faults.dedup();
        if !self.faults.is_empty() {
            id.build = faulty_build(&id.build, &self.faults);
        }
        self
    }
}

/// The `build` hash of an image carrying `faults`: FNV-1a (32 bit) over the nominal build and
/// the sorted fault names, as 8 hex digits.
pub fn faulty_build(nominal_build: &str, faults: &[Fault]) -> String {
    let mut names: Vec<&str> = faults.iter().map(Fault::name).collect();
    names.sort_unstable();
    names.dedup();
    let text = format!("{nominal_build}+{}", names.join(","));
    let hash = text.bytes().fold(0x811C_9DC5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_nominal() {
        let c = TwinConfig::default();
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.clone().sanitized(), c);
    }

    #[test]
    fn faults_change_the_build_deterministically() {
        let a = faulty_build("5a17c0de", &[Fault::EvseqSkips, Fault::BolusSlow]);
        let b = faulty_build("5a17c0de", &[Fault::BolusSlow, Fault::EvseqSkips]);
        assert_eq!(a, b);
        assert_eq!(a.len(), 8);
        assert_ne!(a, "5a17c0de");
        assert_ne!(a, faulty_build("5a17c0de", &[Fault::EvseqSkips]));
        let c = TwinConfig { faults: vec![Fault::EvseqSkips], ..TwinConfig::default() }.sanitized();
        assert_eq!(c.identity.build, faulty_build("5a17c0de", &[Fault::EvseqSkips]));
    }

    #[test]
    fn bad_figures_are_reported_and_replaced() {
        let mut c = TwinConfig::default();
        c.identity.serial = "SIM 1".into();
        c.line.compliance_ul_per_kpa = -1.0;
        c.initial_reservoir_ul = f64::NAN;
        c.sensor_address = 0x80;
        assert!(c.check().is_err());
        let s = c.sanitized();
        assert_eq!(s.check(), Ok(()));
        assert_eq!(s.identity.serial, "SIM-0001");
        assert_eq!(s.line, LineParams::default());
        assert_eq!(s.initial_reservoir_ul, 0.0);
        assert_eq!(s.sensor_address, 0x08);
    }
}
