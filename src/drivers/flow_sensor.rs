//! Driver for a Sensirion SF06-LF liquid-flow sensor (LD20, SLF3S) over any
//! `embedded_hal::i2c::I2c` (ICD part 2; REFERENCE.md "Instruments").
//!
//! Modelled on the `scd4x` driver: [`FlowSensor::new`] takes the bus, [`FlowSensor::destroy`]
//! gives it back; the sensor's commands are a table ([`Command`]); what the sensor sent
//! ([`RawFrame`]) and what it means ([`FlowReading`]) are separate types; every word's CRC-8 is
//! checked and a mismatch is an error naming the word, never a silently wrong reading.
//!
//! The same driver runs on a Raspberry Pi (`linux_embedded_hal::I2cdev`), over the software
//! bench bus ([`crate::bus::BusI2c`]) and against `embedded-hal-mock`.
//!
//! Call order: [`FlowSensor::start_continuous`], then [`FlowSensor::read`] as often as wanted
//! (the first result is ready [`FIRST_RESULT_AFTER`] after the start; the driver does not wait,
//! the caller's sampler spaces its reads), then [`FlowSensor::stop_continuous`]. The product
//! identifier can only be read while the sensor is not measuring.

use std::fmt;
use std::time::Duration;

use embedded_hal::i2c::{self, I2c};

use super::crc8::crc8;
use super::sensor_model::{SensorModel, temperature_c};

/// The I2C address of every SF06-LF sensor.
pub const DEFAULT_ADDRESS: u8 = 0x08;

/// Time from [`FlowSensor::start_continuous`] to the first measurement result.
pub const FIRST_RESULT_AFTER: Duration = Duration::from_millis(12);

/// The commands the driver sends: each is one 16-bit word written big-endian, without CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Command {
    /// Start continuous measurement, calibrated for water.
    StartContinuousWater = 0x3608,
    /// Stop continuous measurement; the sensor goes idle.
    StopContinuous = 0x3FF9,
    /// First half of "read product identifier" (idle only).
    ReadProductIdPrepare = 0x367C,
    /// Second half of "read product identifier": followed by an 18-byte read.
    ReadProductId = 0xE102,
}

impl Command {
    /// The two bytes on the wire.
    pub fn bytes(self) -> [u8; 2] {
        (self as u16).to_be_bytes()
    }
}

/// One measurement frame as the sensor sent it (CRCs already checked and removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFrame {
    /// Flow in counts; scale by the model ([`SensorModel::flow_ul_h`]).
    pub flow: i16,
    /// Temperature in counts of 1/200 °C.
    pub temperature: i16,
    /// Signalling flags; see [`SensorFlags`].
    pub flags: u16,
}

impl RawFrame {
    /// The 9 bytes the sensor sent: each word big-endian and its CRC-8. The driver accepts a
    /// frame only when every CRC matches its word, so these are exactly the bytes on the wire.
    pub fn bytes(&self) -> [u8; 9] {
        let mut out = [0u8; 9];
        for (chunk, word) in out.chunks_exact_mut(3).zip([self.flow as u16, self.temperature as u16, self.flags]) {
            let [hi, lo] = word.to_be_bytes();
            chunk.copy_from_slice(&[hi, lo, crc8(&[hi, lo])]);
        }
        out
    }

    /// [`RawFrame::bytes`] as 18 lower-case hex digits, as the bench bus writes them
    /// (`02589f11f820000081`: 500 µL/h on an LD20 at 23 °C, no flags), for the evidence.
    pub fn hex(&self) -> String {
        self.bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The flag bits of a frame's third word (ICD part 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SensorFlags {
    /// Bit 0: air (a bubble) in the line.
    pub air_in_line: bool,
    /// Bit 1: flow above the sensor's specified range.
    pub high_flow: bool,
    /// Bit 5: exponential smoothing is active.
    pub smoothing: bool,
}

impl SensorFlags {
    pub const AIR_IN_LINE: u16 = 1 << 0;
    pub const HIGH_FLOW: u16 = 1 << 1;
    pub const SMOOTHING: u16 = 1 << 5;

    /// Decodes the flags word; bits the ICD does not name are ignored.
    pub fn from_word(word: u16) -> Self {
        Self {
            air_in_line: word & Self::AIR_IN_LINE != 0,
            high_flow: word & Self::HIGH_FLOW != 0,
            smoothing: word & Self::SMOOTHING != 0,
        }
    }
}

/// A measurement in engineering units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowReading {
    /// Flow in µL/h (negative: backwards through the sensor).
    pub flow_ul_h: f64,
    /// Liquid temperature in °C.
    pub temperature_c: f64,
    pub flags: SensorFlags,
    /// What the sensor sent, for the evidence log.
    pub raw: RawFrame,
}

impl FlowReading {
    /// Converts a raw frame with the scale factors of `model`.
    pub fn from_raw(raw: RawFrame, model: SensorModel) -> Self {
        Self {
            flow_ul_h: model.flow_ul_h(raw.flow),
            temperature_c: temperature_c(raw.temperature),
            flags: SensorFlags::from_word(raw.flags),
            raw,
        }
    }
}

/// The sensor's product identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductId {
    pub product_number: u32,
    pub serial_number: u64,
}

/// Which received word failed its CRC check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    Flow,
    Temperature,
    Flags,
    /// Word `n` (0–5) of the product identifier.
    ProductId(u8),
}

impl fmt::Display for Word {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Word::Flow => f.write_str("flow word"),
            Word::Temperature => f.write_str("temperature word"),
            Word::Flags => f.write_str("flags word"),
            Word::ProductId(n) => write!(f, "product identifier word {n}"),
        }
    }
}

/// What went wrong, without saying which sensor (that is [`Error`]'s job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind<E> {
    /// The bus reported an error, a NACK included (`e.kind()` is `NoAcknowledge(_)`).
    I2c(E),
    /// A received word's CRC-8 did not match its two data bytes.
    Crc { word: Word, received: u8, computed: u8 },
    /// A measurement was read before [`FlowSensor::start_continuous`].
    NotMeasuring,
    /// The command is not allowed while measuring (the sensor would NACK it).
    Measuring,
}

/// A flow sensor error, naming the sensor so that a bench problem reads on its own, e.g.
/// "flow sensor LD20-0600L at 0x08: no acknowledge — check wiring/power/address (…)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error<E> {
    pub address: u8,
    pub model: SensorModel,
    pub kind: ErrorKind<E>,
}

impl<E: i2c::Error> Error<E> {
    /// The embedded-hal error kind, if the bus failed.
    pub fn i2c_kind(&self) -> Option<i2c::ErrorKind> {
        match &self.kind {
            ErrorKind::I2c(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// Whether the sensor (or whatever sits at its address) did not acknowledge.
    pub fn is_no_acknowledge(&self) -> bool {
        matches!(self.i2c_kind(), Some(i2c::ErrorKind::NoAcknowledge(_)))
    }
}

impl<E: i2c::Error + fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flow sensor {} at 0x{:02X}: ", self.model, self.address)?;
        match &self.kind {
            ErrorKind::I2c(e) => match e.kind() {
                i2c::ErrorKind::NoAcknowledge(_) => {
                    write!(f, "no acknowledge — check wiring/power/address ({e})")
                }
                i2c::ErrorKind::Bus => {
                    write!(f, "I2C bus error — check wiring, pull-ups and cable length ({e})")
                }
                i2c::ErrorKind::ArbitrationLoss => {
                    write!(f, "I2C arbitration lost — check wiring, pull-ups and cable length ({e})")
                }
                _ => write!(f, "I2C error: {e}"),
            },
            ErrorKind::Crc { word, received, computed } => write!(
                f,
                "CRC mismatch in the {word}: received 0x{received:02X}, computed 0x{computed:02X} \
                 — reading discarded; check cable length and connections"
            ),
            ErrorKind::NotMeasuring => f.write_str("not measuring — start continuous measurement before reading"),
            ErrorKind::Measuring => f.write_str("measuring — stop continuous measurement first"),
        }
    }
}

impl<E> std::error::Error for Error<E>
where
    E: i2c::Error + fmt::Display + std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::I2c(e) => Some(e),
            _ => None,
        }
    }
}

/// An SF06-LF flow sensor on an I2C bus.
#[derive(Debug)]
pub struct FlowSensor<I2C> {
    i2c: I2C,
    address: u8,
    model: SensorModel,
    measuring: bool,
}

impl<I2C: I2c> FlowSensor<I2C> {
    /// A driver for the sensor of `model` at `address` ([`DEFAULT_ADDRESS`]). Sends nothing;
    /// assumes the sensor is idle (after power-on it is). If a previous run left it measuring,
    /// call [`FlowSensor::stop_continuous`] first.
    pub fn new(i2c: I2C, address: u8, model: SensorModel) -> Self {
        Self { i2c, address, model, measuring: false }
    }

    /// Gives the bus back.
    pub fn destroy(self) -> I2C {
        self.i2c
    }

    pub fn address(&self) -> u8 {
        self.address
    }

    pub fn model(&self) -> SensorModel {
        self.model
    }

    /// The bus the sensor sits on (to say which, in a bench error).
    pub fn bus(&self) -> &I2C {
        &self.i2c
    }

    /// Whether the driver started continuous measurement and has not stopped it.
    pub fn is_measuring(&self) -> bool {
        self.measuring
    }

    /// Starts continuous measurement for water (`36 08`).
    pub fn start_continuous(&mut self) -> Result<(), Error<I2C::Error>> {
        if self.measuring {
            return Err(self.error(ErrorKind::Measuring));
        }
        self.write(Command::StartContinuousWater)?;
        self.measuring = true;
        Ok(())
    }

    /// Stops continuous measurement (`3F F9`). Sent even if the driver believes the sensor is
    /// idle, so that it can recover a sensor a previous run left measuring.
    pub fn stop_continuous(&mut self) -> Result<(), Error<I2C::Error>> {
        self.write(Command::StopContinuous)?;
        self.measuring = false;
        Ok(())
    }

    /// Reads one frame (9 bytes) and checks all three CRCs.
    pub fn read_raw(&mut self) -> Result<RawFrame, Error<I2C::Error>> {
        if !self.measuring {
            return Err(self.error(ErrorKind::NotMeasuring));
        }
        let mut buf = [0u8; 9];
        self.i2c.read(self.address, &mut buf).map_err(|e| self.error(ErrorKind::I2c(e)))?;
        let [flow, temperature, flags] = self.check_words([Word::Flow, Word::Temperature, Word::Flags], &buf)?;
        Ok(RawFrame { flow: flow as i16, temperature: temperature as i16, flags })
    }

    /// Reads one frame and converts it with the model's scale factors.
    pub fn read(&mut self) -> Result<FlowReading, Error<I2C::Error>> {
        Ok(FlowReading::from_raw(self.read_raw()?, self.model))
    }

    /// Reads the product number and serial number (`36 7C`, `E1 02`, then 18 bytes).
    /// Only valid while not measuring.
    pub fn read_product_id(&mut self) -> Result<ProductId, Error<I2C::Error>> {
        if self.measuring {
            return Err(self.error(ErrorKind::Measuring));
        }
        self.write(Command::ReadProductIdPrepare)?;
        self.write(Command::ReadProductId)?;
        let mut buf = [0u8; 18];
        self.i2c.read(self.address, &mut buf).map_err(|e| self.error(ErrorKind::I2c(e)))?;
        let w = self.check_words(std::array::from_fn::<_, 6, _>(|n| Word::ProductId(n as u8)), &buf)?;
        Ok(ProductId {
            product_number: (u32::from(w[0]) << 16) | u32::from(w[1]),
            serial_number: (u64::from(w[2]) << 48)
                | (u64::from(w[3]) << 32)
                | (u64::from(w[4]) << 16)
                | u64::from(w[5]),
        })
    }

    fn write(&mut self, command: Command) -> Result<(), Error<I2C::Error>> {
        self.i2c.write(self.address, &command.bytes()).map_err(|e| self.error(ErrorKind::I2c(e)))
    }

    /// Splits `buf` (N × [hi, lo, crc]) into words, checking every CRC.
    fn check_words<const N: usize>(&self, words: [Word; N], buf: &[u8]) -> Result<[u16; N], Error<I2C::Error>> {
        let mut out = [0u16; N];
        for ((word, chunk), value) in words.into_iter().zip(buf.chunks_exact(3)).zip(&mut out) {
            let &[hi, lo, received] = chunk else { continue };
            let computed = crc8(&[hi, lo]);
            if received != computed {
                return Err(self.error(ErrorKind::Crc { word, received, computed }));
            }
            *value = u16::from_be_bytes([hi, lo]);
        }
        Ok(out)
    }

    fn error(&self, kind: ErrorKind<I2C::Error>) -> Error<I2C::Error> {
        Error { address: self.address, model: self.model, kind }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal::i2c::{ErrorKind as I2cKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};

    const ADDR: u8 = 0x08;
    const LD20: SensorModel = SensorModel::Ld20_0600L;

    // Expected bytes, CRCs worked out from the rule (poly 0x31, init 0xFF) independently of
    // `crc8`: 0x0258 → 9F, 0x11F8 → 20, 0x0000 → 81, 0xFDA8 → 9C, 0xBEEF → 92 (datasheet).
    const START: [u8; 2] = [0x36, 0x08];
    const STOP: [u8; 2] = [0x3F, 0xF9];

    fn started(expectations: &[Transaction]) -> (FlowSensor<Mock>, Mock) {
        let mut all = vec![Transaction::write(ADDR, START.to_vec())];
        all.extend_from_slice(expectations);
        let mock = Mock::new(&all);
        let mut sensor = FlowSensor::new(mock.clone(), ADDR, LD20);
        sensor.start_continuous().unwrap();
        (sensor, mock)
    }

    #[test]
    fn start_and_stop_send_the_command_words() {
        let (mut sensor, mut mock) = started(&[Transaction::write(ADDR, STOP.to_vec())]);
        assert!(sensor.is_measuring());
        sensor.stop_continuous().unwrap();
        assert!(!sensor.is_measuring());
        mock.done();
    }

    #[test]
    fn reads_500_ul_h_on_ld20() {
        // 600 counts / 1200 = 0.5 mL/h; 4600 / 200 = 23 °C; no flags.
        let frame = vec![0x02, 0x58, 0x9F, 0x11, 0xF8, 0x20, 0x00, 0x00, 0x81];
        let (mut sensor, mut mock) = started(&[Transaction::read(ADDR, frame)]);
        let r = sensor.read().unwrap();
        assert_eq!(r.raw, RawFrame { flow: 600, temperature: 4600, flags: 0 });
        assert_eq!(r.raw.hex(), "02589f11f820000081", "the bytes on the wire, CRCs included");
        assert!((r.flow_ul_h - 500.0).abs() < 1e-9);
        assert!((r.temperature_c - 23.0).abs() < 1e-9);
        assert_eq!(r.flags, SensorFlags::default());
        mock.done();
    }

    #[test]
    fn reads_negative_flow() {
        // -600 = 0xFDA8 → CRC 9C: backflow of 500 µL/h.
        let frame = vec![0xFD, 0xA8, 0x9C, 0x11, 0xF8, 0x20, 0x00, 0x00, 0x81];
        let (mut sensor, mut mock) = started(&[Transaction::read(ADDR, frame)]);
        let r = sensor.read().unwrap();
        assert_eq!(r.raw.flow, -600);
        assert!((r.flow_ul_h + 500.0).abs() < 1e-9);
        mock.done();
    }

    #[test]
    fn decodes_flags_with_the_datasheet_crc_vector() {
        // Flags 0xBEEF → CRC 92: bits 0, 1 and 5 are all set. Flags 0x0000 → all clear.
        let frame = vec![0x02, 0x58, 0x9F, 0x11, 0xF8, 0x20, 0xBE, 0xEF, 0x92];
        let (mut sensor, mut mock) = started(&[Transaction::read(ADDR, frame)]);
        let r = sensor.read().unwrap();
        assert_eq!(r.raw.flags, 0xBEEF);
        assert_eq!(r.raw.bytes(), [0x02, 0x58, 0x9F, 0x11, 0xF8, 0x20, 0xBE, 0xEF, 0x92]);
        assert_eq!(r.flags, SensorFlags { air_in_line: true, high_flow: true, smoothing: true });
        mock.done();
        assert_eq!(
            SensorFlags::from_word(0x0001),
            SensorFlags { air_in_line: true, high_flow: false, smoothing: false }
        );
        assert_eq!(
            SensorFlags::from_word(0x0002),
            SensorFlags { air_in_line: false, high_flow: true, smoothing: false }
        );
        assert_eq!(
            SensorFlags::from_word(0x0020),
            SensorFlags { air_in_line: false, high_flow: false, smoothing: true }
        );
        assert_eq!(SensorFlags::from_word(0xFFDC), SensorFlags::default());
    }

    #[test]
    fn a_bad_crc_in_any_word_is_an_error_naming_the_word() {
        let good = [0x02, 0x58, 0x9F, 0x11, 0xF8, 0x20, 0x00, 0x00, 0x81];
        for (index, word, computed) in [(2, Word::Flow, 0x9F), (5, Word::Temperature, 0x20), (8, Word::Flags, 0x81)] {
            let mut frame = good.to_vec();
            frame[index] ^= 0x01;
            let (mut sensor, mut mock) = started(&[Transaction::read(ADDR, frame.clone())]);
            let err = sensor.read().unwrap_err();
            assert_eq!(err.kind, ErrorKind::Crc { word, received: computed ^ 0x01, computed }, "{word}");
            assert!(err.to_string().contains(&word.to_string()), "{err}");
            assert!(err.to_string().starts_with("flow sensor LD20-0600L at 0x08: CRC mismatch"));
            mock.done();
        }
    }

    #[test]
    fn a_corrupted_data_byte_is_caught_too() {
        // Flow byte flipped, CRC left as sent: never a silently wrong reading.
        let frame = vec![0x02, 0x59, 0x9F, 0x11, 0xF8, 0x20, 0x00, 0x00, 0x81];
        let (mut sensor, mut mock) = started(&[Transaction::read(ADDR, frame)]);
        assert!(matches!(sensor.read_raw().unwrap_err().kind, ErrorKind::Crc { word: Word::Flow, received: 0x9F, .. }));
        mock.done();
    }

    #[test]
    fn nack_on_write_is_an_error_with_no_acknowledge_kind() {
        let nack = I2cKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut mock = Mock::new(&[Transaction::write(ADDR, START.to_vec()).with_error(nack)]);
        let mut sensor = FlowSensor::new(mock.clone(), ADDR, LD20);
        let err = sensor.start_continuous().unwrap_err();
        assert_eq!(err.kind, ErrorKind::I2c(nack));
        assert!(err.is_no_acknowledge());
        assert!(!sensor.is_measuring());
        let text = err.to_string();
        assert!(
            text.starts_with("flow sensor LD20-0600L at 0x08: no acknowledge — check wiring/power/address"),
            "{text}"
        );
        mock.done();
    }

    #[test]
    fn nack_on_read_is_an_error_with_no_acknowledge_kind() {
        let nack = I2cKind::NoAcknowledge(NoAcknowledgeSource::Data);
        let (mut sensor, mut mock) = started(&[Transaction::read(ADDR, vec![0; 9]).with_error(nack)]);
        let err = sensor.read().unwrap_err();
        assert_eq!(err.i2c_kind(), Some(nack));
        assert!(err.is_no_acknowledge());
        mock.done();
    }

    #[test]
    fn other_bus_errors_are_not_called_nack() {
        let (mut sensor, mut mock) = started(&[Transaction::read(ADDR, vec![0; 9]).with_error(I2cKind::Bus)]);
        let err = sensor.read().unwrap_err();
        assert!(!err.is_no_acknowledge());
        assert!(err.to_string().contains("I2C bus error — check wiring"), "{err}");
        assert!(!err.to_string().contains("(Bus)"), "no Rust debug form: {err}");
        mock.done();
    }

    #[test]
    fn reading_before_start_touches_no_bus() {
        let mut mock = Mock::new(&[]);
        let mut sensor = FlowSensor::new(mock.clone(), ADDR, SensorModel::Slf3s_0600F);
        let err = sensor.read().unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotMeasuring);
        assert_eq!(
            err.to_string(),
            "flow sensor SLF3S-0600F at 0x08: not measuring — start continuous measurement before reading"
        );
        mock.done();
    }

    #[test]
    fn start_twice_and_product_id_while_measuring_are_refused() {
        let (mut sensor, mut mock) = started(&[]);
        assert_eq!(sensor.start_continuous().unwrap_err().kind, ErrorKind::Measuring);
        assert_eq!(sensor.read_product_id().unwrap_err().kind, ErrorKind::Measuring);
        mock.done();
    }

    #[test]
    fn reads_product_id() {
        // Product 0x0703_0302, serial 0x0000_0000_1234_BEEF; CRCs: 0703 → 7C, 0302 → CE,
        // 0000 → 81, 1234 → 37, BEEF → 92.
        let id = vec![
            0x07, 0x03, 0x7C, 0x03, 0x02, 0xCE, //
            0x00, 0x00, 0x81, 0x00, 0x00, 0x81, 0x12, 0x34, 0x37, 0xBE, 0xEF, 0x92,
        ];
        let mut mock = Mock::new(&[
            Transaction::write(ADDR, vec![0x36, 0x7C]),
            Transaction::write(ADDR, vec![0xE1, 0x02]),
            Transaction::read(ADDR, id),
        ]);
        let mut sensor = FlowSensor::new(mock.clone(), ADDR, LD20);
        assert_eq!(
            sensor.read_product_id().unwrap(),
            ProductId { product_number: 0x0703_0302, serial_number: 0x1234_BEEF }
        );
        mock.done();
    }

    #[test]
    fn product_id_crc_error_names_the_word() {
        let mut id = vec![
            0x07, 0x03, 0x7C, 0x03, 0x02, 0xCE, //
            0x00, 0x00, 0x81, 0x00, 0x00, 0x81, 0x12, 0x34, 0x37, 0xBE, 0xEF, 0x92,
        ];
        id[14] = 0x00;
        let mut mock = Mock::new(&[
            Transaction::write(ADDR, vec![0x36, 0x7C]),
            Transaction::write(ADDR, vec![0xE1, 0x02]),
            Transaction::read(ADDR, id),
        ]);
        let mut sensor = FlowSensor::new(mock.clone(), ADDR, LD20);
        assert_eq!(
            sensor.read_product_id().unwrap_err().kind,
            ErrorKind::Crc { word: Word::ProductId(4), received: 0x00, computed: 0x37 }
        );
        mock.done();
    }

    #[test]
    fn destroy_gives_the_bus_back() {
        let mock = Mock::new(&[]);
        let sensor = FlowSensor::new(mock, ADDR, LD20);
        sensor.destroy().done();
    }
}
