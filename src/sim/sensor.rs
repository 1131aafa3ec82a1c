//! The simulated Sensirion SF06-LF liquid-flow sensor: a byte-exact I2C slave (ICD part 2,
//! REFERENCE.md "Instruments").
//!
//! Commands (16-bit, big-endian, written as one transaction):
//! - `36 08` (water) or `36 15` (IPA): start continuous measurement; the first result is ready
//!   12 ms later (a read before that is NACKed);
//! - `3F F9`: stop; while measuring, every other command is NACKed;
//! - `36 7C` then `E1 02`: prepare the product identifier, then a read of up to 18 bytes returns
//!   the product number (u32, two words) and the serial number (u64, four words).
//!
//! A measurement read returns up to 9 bytes: flow (int16), temperature (int16), flags (uint16),
//! each word followed by its CRC-8. The flow is the mean outflow since the previous read (or
//! since the start of the measurement), so summing `flow × interval` over the readings recovers
//! the delivered volume within the sensor's accuracy, however pulsatile the flow and however
//! irregular the reads. Flags: bit 0 air in line, bit 1 high flow (the reading saturated the
//! int16 word).
//!
//! Bench injections (ICD part 2, "Fault injection"): [`SimSensor::nack_next`] makes the next n
//! transactions (reads and writes alike) NACK without effect; [`SimSensor::set_air`] reports
//! air in line, with a flow word that is plausibly wrong (the true flow scaled by a random
//! factor of 0.25–2.5, or 20–200 µL/h of nothing, never 0); [`SimSensor::set_stuck`] repeats
//! the last 9 bytes a measurement read returned (or, before any, the next reading), while the
//! hidden measurement goes on.

use std::time::Duration;

use super::noise::Rng;
use crate::drivers::SensorModel;
use crate::drivers::crc8::word_with_crc;

/// The simulated sensor's errors: a fixed gain error and zero offset, plus white noise on each
/// reading. The defaults sit well inside the accuracy the rig assumes for the sensor,
/// [`SensorNoise::ACCURACY_PCT`] of reading or [`SensorNoise::ACCURACY_FLOOR_UL_H`], whichever
/// is greater.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorNoise {
    /// Systematic gain error, % of reading.
    pub gain_error_pct: f64,
    /// Systematic zero offset, µL/h.
    pub zero_offset_ul_h: f64,
    /// Standard deviation of the white noise on each reading, µL/h.
    pub white_sigma_ul_h: f64,
}

impl SensorNoise {
    /// Stated accuracy: ± this % of reading...
    pub const ACCURACY_PCT: f64 = 5.0;
    /// ... or ± this many µL/h, whichever is greater.
    pub const ACCURACY_FLOOR_UL_H: f64 = 1.0;
    /// A perfect sensor (still quantised to its raw word).
    pub const NONE: SensorNoise = SensorNoise { gain_error_pct: 0.0, zero_offset_ul_h: 0.0, white_sigma_ul_h: 0.0 };

    /// Why these figures cannot describe a sensor within its stated accuracy, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.gain_error_pct.is_nan() || self.gain_error_pct.abs() > Self::ACCURACY_PCT {
            return Err(format!("sensor gain error {} % is outside ±{} %", self.gain_error_pct, Self::ACCURACY_PCT));
        }
        if self.zero_offset_ul_h.is_nan() || self.zero_offset_ul_h.abs() > Self::ACCURACY_FLOOR_UL_H {
            return Err(format!(
                "sensor zero offset {} µL/h is outside ±{} µL/h",
                self.zero_offset_ul_h,
                Self::ACCURACY_FLOOR_UL_H
            ));
        }
        if !(self.white_sigma_ul_h.is_finite() && self.white_sigma_ul_h >= 0.0) {
            return Err(format!("sensor noise sigma {} µL/h must be finite and non-negative", self.white_sigma_ul_h));
        }
        Ok(())
    }
}

impl Default for SensorNoise {
    /// +1.5 % gain, +0.2 µL/h offset, 0.5 µL/h white noise per reading.
    fn default() -> Self {
        Self { gain_error_pct: 1.5, zero_offset_ul_h: 0.2, white_sigma_ul_h: 0.5 }
    }
}

/// What the sensor sees of the outlet at the instant of a transaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outlet {
    /// Cumulative volume out of the outlet, µL.
    pub outflow_ul: f64,
    /// Instantaneous flow, µL/h.
    pub flow_ul_h: f64,
    pub air_in_line: bool,
}

/// Why the sensor did not acknowledge a transaction.
pub type NackReason = &'static str;

pub const CMD_START_WATER: [u8; 2] = [0x36, 0x08];
pub const CMD_START_IPA: [u8; 2] = [0x36, 0x15];
pub const CMD_STOP: [u8; 2] = [0x3F, 0xF9];
pub const CMD_ID_PREPARE: [u8; 2] = [0x36, 0x7C];
pub const CMD_ID_READ: [u8; 2] = [0xE1, 0x02];
/// Time from the start command to the first result.
pub const WARM_UP: Duration = Duration::from_millis(12);
/// Bytes of one measurement: three words with their CRCs.
pub const MEASUREMENT_LEN: usize = 9;
/// Bytes of the product identifier: six words with their CRCs.
pub const IDENTIFIER_LEN: usize = 18;

pub const FLAG_AIR_IN_LINE: u16 = 1 << 0;
pub const FLAG_HIGH_FLOW: u16 = 1 << 1;

/// Product numbers the simulated sensors report (illustrative values of the SF06-LF family's
/// 0x0703xxxx form, not read from a datasheet).
pub fn product_number(model: SensorModel) -> u32 {
    match model {
        SensorModel::Ld20_0600L => 0x0703_0102,
        SensorModel::Slf3s_0600F => 0x0703_0202,
        SensorModel::Slf3s_1300F => 0x0703_0302,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Idle { id_step: IdStep },
    Measuring { started: Duration, last_read: Duration, last_outflow_ul: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdStep {
    None,
    Prepared,
    Ready,
}

/// One SF06-LF sensor on the bench's I2C bus.
#[derive(Debug, Clone)]
pub struct SimSensor {
    model: SensorModel,
    serial: u64,
    noise: SensorNoise,
    flow_rng: Rng,
    temperature_rng: Rng,
    air_rng: Rng,
    mode: Mode,
    /// Transactions still to NACK (`INJECT SENSOR NACK n`).
    nack_remaining: u32,
    /// Air in line reported (`INJECT SENSOR AIR 1`).
    air: bool,
    /// Readings frozen (`INJECT SENSOR STUCK 1`).
    stuck: bool,
    /// The last measurement the sensor returned, all 9 bytes.
    last_reading: Option<[u8; MEASUREMENT_LEN]>,
}

impl SimSensor {
    pub fn new(model: SensorModel, serial: u64, noise: SensorNoise, seed: u64) -> Self {
        Self {
            model,
            serial,
            noise,
            flow_rng: Rng::stream(seed, 1),
            temperature_rng: Rng::stream(seed, 2),
            air_rng: Rng::stream(seed, 4),
            mode: Mode::Idle { id_step: IdStep::None },
            nack_remaining: 0,
            air: false,
            stuck: false,
            last_reading: None,
        }
    }

    /// The next `count` transactions are not acknowledged.
    pub fn nack_next(&mut self, count: u32) {
        self.nack_remaining = count;
    }

    /// Reports air in line (flag bit 0, flow word meaningless), or stops doing so.
    pub fn set_air(&mut self, on: bool) {
        self.air = on;
    }

    /// Repeats the last reading it returned, or stops doing so.
    pub fn set_stuck(&mut self, on: bool) {
        self.stuck = on;
    }

    /// Whether an injection is in effect: NACKs still to come, air reported, or stuck.
    pub fn disturbed(&self) -> bool {
        self.nack_remaining > 0 || self.air || self.stuck
    }

    /// An injected NACK, if one is due: it takes this transaction.
    fn injected_nack(&mut self) -> Result<(), NackReason> {
        if self.nack_remaining > 0 {
            self.nack_remaining -= 1;
            return Err("injected NACK");
        }
        Ok(())
    }

    pub fn model(&self) -> SensorModel {
        self.model
    }

    pub fn is_measuring(&self) -> bool {
        matches!(self.mode, Mode::Measuring { .. })
    }

    /// One write transaction.
    pub fn write(&mut self, now: Duration, bytes: &[u8], outlet: Outlet) -> Result<(), NackReason> {
        self.injected_nack()?;
        if bytes.is_empty() {
            // An address probe: acknowledged, changes nothing.
            return Ok(());
        }
        let Ok(command) = <[u8; 2]>::try_from(bytes) else {
            return Err("not a 16-bit command");
        };
        match (self.mode, command) {
            (Mode::Measuring { .. }, CMD_STOP) => {
                self.mode = Mode::Idle { id_step: IdStep::None };
                Ok(())
            }
            (Mode::Measuring { .. }, _) => Err("only the stop command is accepted while measuring"),
            (Mode::Idle { .. }, CMD_START_WATER | CMD_START_IPA) => {
                self.mode = Mode::Measuring { started: now, last_read: now, last_outflow_ul: outlet.outflow_ul };
                Ok(())
            }
            (Mode::Idle { .. }, CMD_STOP) => {
                self.mode = Mode::Idle { id_step: IdStep::None };
                Ok(())
            }
            (Mode::Idle { .. }, CMD_ID_PREPARE) => {
                self.mode = Mode::Idle { id_step: IdStep::Prepared };
                Ok(())
            }
            (Mode::Idle { id_step: IdStep::Prepared | IdStep::Ready }, CMD_ID_READ) => {
                self.mode = Mode::Idle { id_step: IdStep::Ready };
                Ok(())
            }
            (Mode::Idle { .. }, CMD_ID_READ) => Err("read product identifier without 36 7C first"),
            (Mode::Idle { .. }, _) => Err("unknown command"),
        }
    }

    /// One read transaction of `buf.len()` bytes.
    pub fn read(&mut self, now: Duration, buf: &mut [u8], outlet: Outlet) -> Result<(), NackReason> {
        self.injected_nack()?;
        match self.mode {
            Mode::Idle { id_step: IdStep::Ready } => {
                if buf.len() > IDENTIFIER_LEN {
                    return Err("product identifier is 18 bytes");
                }
                let bytes = self.identifier_bytes();
                let Some(read) = bytes.get(..buf.len()) else { return Err("product identifier is 18 bytes") };
                buf.copy_from_slice(read);
                Ok(())
            }
            Mode::Idle { .. } => Err("not measuring"),
            Mode::Measuring { started, last_read, last_outflow_ul } => {
                if now < started.saturating_add(WARM_UP) {
                    return Err("no result yet (12 ms after start)");
                }
                if buf.len() > MEASUREMENT_LEN {
                    return Err("a measurement is 9 bytes");
                }
                let dt_s = now.saturating_sub(last_read).as_secs_f64();
                let mean_ul_h =
                    if dt_s > 0.0 { (outlet.outflow_ul - last_outflow_ul) / dt_s * 3600.0 } else { outlet.flow_ul_h };
                self.mode = Mode::Measuring { started, last_read: now, last_outflow_ul: outlet.outflow_ul };
                let fresh = self.measurement_bytes(mean_ul_h, outlet.air_in_line);
                let bytes = match self.last_reading {
                    Some(last) if self.stuck => last,
                    _ => fresh,
                };
                self.last_reading = Some(bytes);
                let Some(read) = bytes.get(..buf.len()) else { return Err("a measurement is 9 bytes") };
                buf.copy_from_slice(read);
                Ok(())
            }
        }
    }

    fn measurement_bytes(&mut self, true_ul_h: f64, air_in_line: bool) -> [u8; MEASUREMENT_LEN] {
        let n = &self.noise;
        let reading = true_ul_h * (1.0 + n.gain_error_pct / 100.0)
            + n.zero_offset_ul_h
            + n.white_sigma_ul_h * self.flow_rng.normal();
        let reading = if reading.is_finite() { reading } else { 0.0 };
        let air_in_line = air_in_line || self.air;
        let reading = if self.air { self.meaningless_flow(true_ul_h) } else { reading };
        let mut raw_flow = self.model.raw_from_ul_h(reading);
        if self.air && raw_flow == 0 {
            raw_flow = 1;
        }
        let celsius = 23.0 + 0.02 * self.temperature_rng.normal();
        let raw_temperature = (celsius * 200.0).round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
        let mut flags = 0;
        if air_in_line {
            flags |= FLAG_AIR_IN_LINE;
        }
        if reading.abs() > self.model.max_ul_h() {
            flags |= FLAG_HIGH_FLOW;
        }
        let mut out = [0; MEASUREMENT_LEN];
        for (chunk, word) in out.chunks_exact_mut(3).zip([raw_flow as u16, raw_temperature as u16, flags]) {
            chunk.copy_from_slice(&word_with_crc(word));
        }
        out
    }

    /// What the flow word says with air in the line: plausible, wrong.
    fn meaningless_flow(&mut self, true_ul_h: f64) -> f64 {
        let u = self.air_rng.uniform();
        if true_ul_h.is_finite() && true_ul_h.abs() > 5.0 { true_ul_h * (0.25 + 2.25 * u) } else { 20.0 + 180.0 * u }
    }

    fn identifier_bytes(&self) -> [u8; IDENTIFIER_LEN] {
        let product = product_number(self.model);
        let words = [
            (product >> 16) as u16,
            product as u16,
            (self.serial >> 48) as u16,
            (self.serial >> 32) as u16,
            (self.serial >> 16) as u16,
            self.serial as u16,
        ];
        let mut out = [0; IDENTIFIER_LEN];
        for (chunk, word) in out.chunks_exact_mut(3).zip(words) {
            chunk.copy_from_slice(&word_with_crc(word));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn outlet(outflow_ul: f64) -> Outlet {
        Outlet { outflow_ul, flow_ul_h: 0.0, air_in_line: false }
    }

    fn quiet(model: SensorModel) -> SimSensor {
        SimSensor::new(model, 0x0000_0000_2024_0001, SensorNoise::NONE, 1)
    }

    /// CRC-8 (0x31, init 0xFF) by the bit-wise definition, written out here so the expected
    /// frames do not depend on the code under test.
    fn crc(hi: u8, lo: u8) -> u8 {
        let mut c = 0xFFu8;
        for b in [hi, lo] {
            c ^= b;
            for _ in 0..8 {
                c = if c & 0x80 != 0 { (c << 1) ^ 0x31 } else { c << 1 };
            }
        }
        c
    }

    #[test]
    fn reference_crc_matches_the_datasheet_vector() {
        assert_eq!(crc(0xBE, 0xEF), 0x92);
    }

    #[test]
    fn zero_flow_frame_is_byte_exact() {
        let mut s = quiet(SensorModel::Ld20_0600L);
        s.write(ms(0), &CMD_START_WATER, outlet(0.0)).unwrap();
        let mut buf = [0u8; 9];
        s.read(ms(1000), &mut buf, outlet(0.0)).unwrap();
        // flow 0 → 00 00 81 (by hand: CRC of 00 00 is 0x81); flags 0 → 00 00 81.
        assert_eq!(&buf[0..3], &[0x00, 0x00, 0x81]);
        assert_eq!(&buf[6..9], &[0x00, 0x00, 0x81]);
        // Temperature is 23 °C ± noise: the quiet sensor still has temperature noise of 0.02 °C.
        let t = i16::from_be_bytes([buf[3], buf[4]]);
        assert!((4590..=4610).contains(&t), "{t}");
        assert_eq!(buf[5], crc(buf[3], buf[4]));
    }

    #[test]
    fn flow_is_the_mean_since_the_previous_read_in_model_units() {
        let mut s = quiet(SensorModel::Ld20_0600L);
        s.write(ms(0), &CMD_START_WATER, outlet(10.0)).unwrap();
        let mut buf = [0u8; 9];
        // 0.5 µL in 3.6 s = 500 µL/h → LD20-0600L raw = 500 × 1.2 = 600 = 0x0258.
        s.read(ms(3600), &mut buf, outlet(10.5)).unwrap();
        assert_eq!(&buf[0..3], &[0x02, 0x58, crc(0x02, 0x58)]);
        assert_eq!(SensorModel::Ld20_0600L.flow_ul_h(i16::from_be_bytes([buf[0], buf[1]])), 500.0);
        // Next read: nothing flowed → 0.
        s.read(ms(7200), &mut buf, outlet(10.5)).unwrap();
        assert_eq!(&buf[0..3], &[0x00, 0x00, 0x81]);
        // SLF3S-0600F: 600 µL/h = 10 µL/min → raw 100 = 0x0064.
        let mut s = quiet(SensorModel::Slf3s_0600F);
        s.write(ms(0), &CMD_START_WATER, outlet(0.0)).unwrap();
        s.read(ms(3600), &mut buf, outlet(0.6)).unwrap();
        assert_eq!(&buf[0..3], &[0x00, 0x64, crc(0x00, 0x64)]);
    }

    #[test]
    fn saturation_sets_high_flow_flag_and_air_sets_bit_0() {
        let mut s = quiet(SensorModel::Ld20_0600L);
        s.write(ms(0), &CMD_START_WATER, outlet(0.0)).unwrap();
        let mut buf = [0u8; 9];
        // 100 µL in 1 s = 360 000 µL/h, beyond 27 306 µL/h.
        s.read(ms(1000), &mut buf, Outlet { outflow_ul: 100.0, flow_ul_h: 0.0, air_in_line: true }).unwrap();
        assert_eq!(&buf[0..3], &[0x7F, 0xFF, crc(0x7F, 0xFF)]);
        assert_eq!(&buf[6..9], &[0x00, 0x03, crc(0x00, 0x03)]);
    }

    #[test]
    fn nacks_before_start_during_warm_up_and_foreign_commands() {
        let mut s = quiet(SensorModel::Ld20_0600L);
        let mut buf = [0u8; 9];
        assert!(s.read(ms(0), &mut buf, outlet(0.0)).is_err(), "not measuring");
        assert!(s.write(ms(0), &[0x12, 0x34], outlet(0.0)).is_err());
        assert!(s.write(ms(0), &[0x36], outlet(0.0)).is_err());
        assert!(s.write(ms(0), &[], outlet(0.0)).is_ok());
        s.write(ms(100), &CMD_START_IPA, outlet(0.0)).unwrap();
        assert!(s.read(ms(111), &mut buf, outlet(0.0)).is_err(), "within 12 ms");
        assert!(s.read(ms(112), &mut buf, outlet(0.0)).is_ok());
        assert!(s.write(ms(200), &CMD_ID_PREPARE, outlet(0.0)).is_err(), "measuring");
        assert!(s.write(ms(200), &CMD_START_WATER, outlet(0.0)).is_err(), "measuring");
        assert!(s.read(ms(300), &mut [0u8; 10], outlet(0.0)).is_err(), "longer than a measurement");
        s.write(ms(300), &CMD_STOP, outlet(0.0)).unwrap();
        assert!(s.read(ms(400), &mut buf, outlet(0.0)).is_err());
    }

    #[test]
    fn product_identifier_is_byte_exact() {
        let mut s = quiet(SensorModel::Ld20_0600L);
        let mut buf = [0u8; 18];
        assert!(s.write(ms(0), &CMD_ID_READ, outlet(0.0)).is_err(), "36 7C first");
        s.write(ms(0), &CMD_ID_PREPARE, outlet(0.0)).unwrap();
        s.write(ms(0), &CMD_ID_READ, outlet(0.0)).unwrap();
        s.read(ms(1), &mut buf, outlet(0.0)).unwrap();
        let expect: Vec<u8> = [0x0703u16, 0x0102, 0x0000, 0x0000, 0x2024, 0x0001]
            .iter()
            .flat_map(|w| {
                let [hi, lo] = w.to_be_bytes();
                [hi, lo, crc(hi, lo)]
            })
            .collect();
        assert_eq!(buf.to_vec(), expect);
        // 00 00 → 81, by hand as in the driver's CRC test.
        assert_eq!(&buf[6..9], &[0x00, 0x00, 0x81]);
    }

    #[test]
    fn readings_integrate_to_the_volume_within_accuracy() {
        let noise = SensorNoise::default();
        let mut s = SimSensor::new(SensorModel::Ld20_0600L, 1, noise, 99);
        s.write(Duration::ZERO, &CMD_START_WATER, outlet(0.0)).unwrap();
        // A pulsatile 20 µL/h: 0.25 µL jumps every 45 s, read every 0.5 s for an hour, the
        // outflow following each jump with τ = 30 s.
        let mut measured = 0.0;
        let mut buf = [0u8; 9];
        let mut outflow = 0.0;
        let mut stored = 0.0;
        for step in 1..=7200u64 {
            let t = ms(500 * step);
            if step % 90 == 0 {
                stored += 0.25;
            }
            let out = stored * (1.0 - (-0.5f64 / 30.0).exp());
            stored -= out;
            outflow += out;
            s.read(t, &mut buf, outlet(outflow)).unwrap();
            measured += SensorModel::Ld20_0600L.flow_ul_h(i16::from_be_bytes([buf[0], buf[1]])) * 0.5 / 3600.0;
        }
        let tolerance = (outflow * SensorNoise::ACCURACY_PCT / 100.0).max(SensorNoise::ACCURACY_FLOOR_UL_H);
        assert!((measured - outflow).abs() <= tolerance, "measured {measured} µL, true {outflow} µL");
    }

    #[test]
    fn same_seed_same_bytes() {
        let run = |seed| {
            let mut s = SimSensor::new(SensorModel::Ld20_0600L, 1, SensorNoise::default(), seed);
            s.write(ms(0), &CMD_START_WATER, outlet(0.0)).unwrap();
            let mut all = Vec::new();
            for k in 1..50u64 {
                let mut buf = [0u8; 9];
                s.read(ms(100 * k), &mut buf, outlet(k as f64 * 0.01)).unwrap();
                all.extend_from_slice(&buf);
            }
            all
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn injected_nacks_take_the_next_transactions_without_effect() {
        let mut s = quiet(SensorModel::Ld20_0600L);
        s.nack_next(2);
        assert_eq!(s.write(ms(0), &CMD_START_WATER, outlet(0.0)), Err("injected NACK"));
        assert!(!s.is_measuring(), "a NACKed start does nothing");
        assert_eq!(s.read(ms(0), &mut [0u8; 9], outlet(0.0)), Err("injected NACK"));
        s.write(ms(0), &CMD_START_WATER, outlet(0.0)).unwrap();
        assert!(s.read(ms(20), &mut [0u8; 9], outlet(0.0)).is_ok());
    }

    #[test]
    fn air_sets_bit_0_and_a_wrong_nonzero_flow() {
        let mut s = quiet(SensorModel::Ld20_0600L);
        s.write(ms(0), &CMD_START_WATER, outlet(0.0)).unwrap();
        s.set_air(true);
        let mut buf = [0u8; 9];
        for k in 1..20u64 {
            // 0.5 µL every 3.6 s: 500 µL/h.
            s.read(ms(3600 * k), &mut buf, outlet(0.5 * k as f64)).unwrap();
            assert_eq!(u16::from_be_bytes([buf[6], buf[7]]) & FLAG_AIR_IN_LINE, FLAG_AIR_IN_LINE);
            assert_eq!(buf[2], crc(buf[0], buf[1]), "the word is still well-formed");
            let flow = SensorModel::Ld20_0600L.flow_ul_h(i16::from_be_bytes([buf[0], buf[1]]));
            assert!(flow != 0.0 && (100.0..=1300.0).contains(&flow), "{flow}");
        }
        // Nothing flowing: still not zero.
        s.read(ms(100_000), &mut buf, outlet(9.5)).unwrap();
        s.read(ms(110_000), &mut buf, outlet(9.5)).unwrap();
        assert_ne!(i16::from_be_bytes([buf[0], buf[1]]), 0);
        s.set_air(false);
        s.read(ms(120_000), &mut buf, outlet(9.5)).unwrap();
        assert_eq!(&buf[0..3], &[0x00, 0x00, 0x81]);
        assert_eq!(&buf[6..9], &[0x00, 0x00, 0x81]);
    }

    #[test]
    fn stuck_repeats_the_last_nine_bytes() {
        let mut s = quiet(SensorModel::Ld20_0600L);
        s.write(ms(0), &CMD_START_WATER, outlet(0.0)).unwrap();
        let mut first = [0u8; 9];
        s.read(ms(3600), &mut first, outlet(0.5)).unwrap();
        s.set_stuck(true);
        for k in 2..6u64 {
            let mut buf = [0u8; 9];
            s.read(ms(3600 * k), &mut buf, outlet(k as f64)).unwrap();
            assert_eq!(buf, first);
        }
        s.set_stuck(false);
        let mut buf = [0u8; 9];
        s.read(ms(3600 * 6), &mut buf, outlet(6.5)).unwrap();
        assert_ne!(buf[0..2], first[0..2]);
        // Stuck before any reading: the next one is repeated.
        let mut s = quiet(SensorModel::Ld20_0600L);
        s.set_stuck(true);
        s.write(ms(0), &CMD_START_WATER, outlet(0.0)).unwrap();
        let (mut a, mut b) = ([0u8; 9], [0u8; 9]);
        s.read(ms(3600), &mut a, outlet(0.5)).unwrap();
        s.read(ms(7200), &mut b, outlet(3.0)).unwrap();
        assert_eq!(a, b);
        assert_eq!(&a[0..2], &[0x02, 0x58]);
    }

    #[test]
    fn noise_figures_are_checked() {
        assert!(SensorNoise::default().check().is_ok());
        assert!(SensorNoise { gain_error_pct: 8.0, ..SensorNoise::default() }.check().is_err());
        assert!(SensorNoise { zero_offset_ul_h: f64::NAN, ..SensorNoise::default() }.check().is_err());
        assert!(SensorNoise { white_sigma_ul_h: -1.0, ..SensorNoise::default() }.check().is_err());
    }
}
