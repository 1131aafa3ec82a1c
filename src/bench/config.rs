//! Bench files (`rig/*.yaml`): which bench to open and how, and the identity and calibration of
//! its instruments, which the evidence records.
//!
//! Parsing is strict: an unknown key, a wrong type or a bad value is an error located at
//! `file:line:column`, never ignored.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::capability::Capability;
use crate::drivers::SensorModel;
use crate::excerpt::{MAX_MESSAGE_CHARS, printable};
use crate::input_file::{self, Cap, InputFileError, Links};

/// A parsed bench file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BenchFile {
    /// Short name of the bench, shown in reports.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How the rig reaches the pump, the sensor and the valve.
    pub connection: Connection,
    pub flow_sensor: FlowSensorSpec,
    pub valve: ValveSpec,
    /// The test line between pump and valve. The twin simulates it; on a real bench it is the
    /// fitted tubing, recorded for the evidence. Defaults to the SRS reference line.
    #[serde(default)]
    pub test_line: TestLineSpec,
    /// Where the file came from and its bytes' SHA-256, for the evidence (set by `parse`).
    #[serde(skip)]
    pub source: BenchSource,
}

/// A bench file's origin: its path (or the name of the built-in text) and its SHA-256.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BenchSource {
    pub path: String,
    pub sha256: String,
}

/// The test line: compliance (SRS-OCC-002's reference line is 0.5 µL/kPa ± 20 %) and outlet
/// resistance, whose product is the time constant of the outflow.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TestLineSpec {
    pub compliance_ul_per_kpa: f64,
    pub resistance_kpa_s_per_ul: f64,
}

impl TestLineSpec {
    /// The line's time constant τ = R·C: how fast its pressure and outflow settle.
    pub fn time_constant(&self) -> std::time::Duration {
        let tau = self.compliance_ul_per_kpa * self.resistance_kpa_s_per_ul;
        std::time::Duration::try_from_secs_f64(tau).unwrap_or(std::time::Duration::from_secs(30))
    }
}

impl Default for TestLineSpec {
    fn default() -> Self {
        let reference = crate::sim::LineParams::default();
        Self {
            compliance_ul_per_kpa: reference.compliance_ul_per_kpa,
            resistance_kpa_s_per_ul: reference.resistance_kpa_s_per_ul,
        }
    }
}

/// How the bench is reached.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Connection {
    /// The digital twin, in this process, under a virtual clock.
    Twin {
        /// Seed of the twin's sensor noise: the same seed gives the same run.
        #[serde(default = "default_seed")]
        seed: u64,
        /// Seeded firmware defects, by name (`rig faults` lists them).
        #[serde(default)]
        faults: Vec<String>,
        /// A nominal variant of the firmware: consecutive failed strokes before `MOTOR_STALL`
        /// (1–12; the reference firmware waits for 4). 1 detects a stall at the first missed
        /// stroke, while the line still drains.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stall_attempts: Option<u32>,
    },
    /// A software bench running as its own process (`rig sim`, or another simulator that
    /// follows ICD.md): the pump on a pseudo-terminal, sensor and valve on the bench bus socket.
    /// `{uid}` in a path is replaced by the user's numeric id.
    SimProcess {
        serial: String,
        #[serde(default = "default_baud")]
        baud: u32,
        bus: String,
    },
    /// Real instruments on a Raspberry Pi.
    Hardware {
        serial: String,
        #[serde(default = "default_baud")]
        baud: u32,
        i2c: String,
        gpiochip: String,
    },
}

fn default_seed() -> u64 {
    1
}

fn default_baud() -> u32 {
    115_200
}

/// The liquid flow sensor: what it is, where it is, and how far to trust it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSensorSpec {
    pub model: SensorModel,
    /// 7-bit I2C address.
    pub address: u8,
    pub serial_number: String,
    pub calibration_due: CalendarDate,
    pub accuracy: Accuracy,
}

/// A sensor's stated accuracy: the larger of a share of the reading and an absolute floor.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Accuracy {
    pub percent_of_reading: f64,
    pub floor_ul_h: f64,
}

impl Accuracy {
    /// The uncertainty of one reading of `flow_ul_h`.
    pub fn of_reading(&self, flow_ul_h: f64) -> f64 {
        (flow_ul_h.abs() * self.percent_of_reading / 100.0).max(self.floor_ul_h)
    }

    /// The uncertainty of a volume integrated from the flow over `hours`: that of its mean flow,
    /// times the time (`None` over no time).
    pub fn of_volume(&self, volume_ul: f64, hours: f64) -> Option<f64> {
        if hours > 0.0 { Some(self.of_reading(volume_ul / hours) * hours) } else { None }
    }

    /// The uncertainty, in % of `rate_ul_h`, of a flow measured `error_pct` away from it.
    pub fn of_percent(&self, rate_ul_h: f64, error_pct: f64) -> f64 {
        100.0 * self.of_reading(rate_ul_h * (1.0 + error_pct / 100.0)) / rate_ul_h
    }
}

/// The occlusion valve: a normally-open pinch valve on one GPIO line.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ValveSpec {
    pub line: u32,
    pub model: String,
    pub serial_number: String,
}

/// A date `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CalendarDate(pub time::Date);

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

impl<'de> Deserialize<'de> for CalendarDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        time::Date::parse(&s, DATE_FORMAT)
            .map(CalendarDate)
            .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a date YYYY-MM-DD ({e})")))
    }
}

impl Serialize for CalendarDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.format(DATE_FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

/// The largest bench file read: one is written by hand and is about a kilobyte.
pub const BENCH_FILE_CAP: Cap =
    Cap { bytes: 1024 * 1024, what: "a bench file", why: "a bench file is written by hand and is about a kilobyte" };

/// A bench file that cannot be used, located in its file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BenchFileError {
    #[error("bench file {}: cannot read: {reason}\n  hint: {hint}", printable(&path.display().to_string(), MAX_MESSAGE_CHARS))]
    Read { path: PathBuf, reason: String, hint: String },
    #[error("{path}:{line}:{column}: {message}\n{snippet}\n  hint: {hint}")]
    Invalid { path: PathBuf, line: usize, column: usize, message: String, snippet: String, hint: String },
}

impl BenchFile {
    /// Reads and checks a bench file: a regular file of at most [`BENCH_FILE_CAP`], UTF-8 (a
    /// FIFO, a device or a link loop is named, never waited on or read: [`crate::input_file`]).
    pub fn load(path: &Path) -> Result<BenchFile, BenchFileError> {
        let bytes = input_file::read(path, BENCH_FILE_CAP, Links::Follow).map_err(|e| {
            let hint = match e {
                InputFileError::NotFound => {
                    "check the path; rig/sim.yaml and rig/pi.yaml are complete bench files to start from".into()
                }
                InputFileError::NotRegular(_) => "give the path of a bench file (`*.yaml`)".into(),
                ref e => e.hint(),
            };
            BenchFileError::Read { path: path.to_path_buf(), reason: e.to_string(), hint }
        })?;
        BenchFile::parse_bytes(path, &bytes)
    }

    /// Parses a bench file's bytes: UTF-8 text (an invalid byte is located), then [`BenchFile::parse`].
    pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<BenchFile, BenchFileError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => BenchFile::parse(path, text),
            Err(e) => {
                let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let column = String::from_utf8_lossy(valid.get(line_start..).unwrap_or_default()).chars().count() + 1;
                let text = String::from_utf8_lossy(bytes);
                Err(BenchFileError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: "the file is not UTF-8 text".into(),
                    snippet: snippet(&text, line, column),
                    hint: "save the bench file as UTF-8".into(),
                })
            }
        }
    }

    /// Parses bench-file text; `path` is only used to locate errors.
    pub fn parse(path: &Path, original: &str) -> Result<BenchFile, BenchFileError> {
        // YAML breaks lines at a lone CR too; `str::lines`, which finds the snippet and the keys,
        // does not. Same length, so serde_yaml's byte offsets still hold.
        let text = &lone_cr_as_lf(original);
        let bench: BenchFile = serde_yaml::from_str(text).map_err(|e| {
            let location = e.location().map(|l| (l.line(), l.column()));
            let (line, column) = position_in_message(text, &e.to_string()).or(location).unwrap_or((1, 1));
            let (line, column) = refine_location(text, line, column, &e.to_string());
            let (line, column) = within_text(text, line, column);
            let message = e.to_string();
            // serde_yaml appends its own "at line L column C"; the prefix says it already.
            let message = message.split(" at line ").next().unwrap_or(&message).to_string();
            invalid(path, text, line, column, message)
        })?;
        bench.check(path, text)?;
        let source =
            BenchSource { path: path.display().to_string(), sha256: crate::digest::sha256_hex(original.as_bytes()) };
        Ok(BenchFile { source, ..bench })
    }

    /// Checks the rules serde cannot express, locating the offending key.
    fn check(&self, path: &Path, text: &str) -> Result<(), BenchFileError> {
        let at = |key: &str, message: String| {
            let (line, column) = locate_key(text, key);
            Err(invalid(path, text, line, column, message))
        };
        let refuse = |key: &str, message: String, hint: String| {
            let (line, column) = locate_key(text, key);
            let mut error = invalid(path, text, line, column, message);
            if let BenchFileError::Invalid { hint: h, .. } = &mut error {
                *h = hint;
            }
            Err(error)
        };
        if self.name.trim().is_empty() {
            return refuse(
                "name",
                "the bench has no name: expected a short name, shown in reports and recorded in the evidence".into(),
                "name the bench, e.g. `name: pi-bench-1`".into(),
            );
        }
        match &self.connection {
            Connection::SimProcess { serial, baud, bus } => {
                check_baud(*baud).or_else(|m| refuse("baud", m, BAUD_HINT.into()))?;
                check_path("serial", serial).or_else(|(k, m, h)| refuse(k, m, h))?;
                check_path("bus", bus).or_else(|(k, m, h)| refuse(k, m, h))?;
            }
            Connection::Hardware { serial, baud, i2c, gpiochip } => {
                check_baud(*baud).or_else(|m| refuse("baud", m, BAUD_HINT.into()))?;
                for (key, value) in [("serial", serial), ("i2c", i2c), ("gpiochip", gpiochip)] {
                    check_path(key, value).or_else(|(k, m, h)| refuse(k, m, h))?;
                }
            }
            Connection::Twin { stall_attempts: Some(n), .. }
                if !(1..=crate::sim::firmware::MAX_STALL_ATTEMPTS).contains(n) =>
            {
                return refuse(
                    "stall_attempts",
                    format!(
                        "stall_attempts {n}: expected 1 to {} failed strokes before MOTOR_STALL",
                        crate::sim::firmware::MAX_STALL_ATTEMPTS
                    ),
                    format!(
                        "the reference firmware waits for {}; remove the key to model it",
                        crate::sim::firmware::STALL_ATTEMPTS
                    ),
                );
            }
            Connection::Twin { .. } => {}
        }
        let address = self.flow_sensor.address;
        if address > 0x7F {
            return at("address", format!("I2C address 0x{address:02X} is not a 7-bit address (0x00-0x7F)"));
        }
        if !(0x08..=0x77).contains(&address) {
            return refuse(
                "address",
                format!(
                    "I2C address 0x{address:02X} is reserved by the I2C specification (0x00-0x07 and 0x78-0x7F): \
                     expected the sensor's address, 0x08-0x77"
                ),
                "the SF06-LF flow sensor of ICD part 2 answers at 0x08".into(),
            );
        }
        let acc = self.flow_sensor.accuracy;
        if !(acc.percent_of_reading.is_finite() && acc.percent_of_reading > 0.0 && acc.percent_of_reading < 100.0) {
            return at("percent_of_reading", "percent_of_reading must be above 0 and below 100".into());
        }
        if !(acc.floor_ul_h.is_finite() && acc.floor_ul_h >= 0.0) {
            return at("floor_ul_h", "floor_ul_h must be 0 or more".into());
        }
        let line = self.test_line;
        if !(line.compliance_ul_per_kpa.is_finite() && line.compliance_ul_per_kpa > 0.0) {
            return at("compliance_ul_per_kpa", "compliance_ul_per_kpa must be above 0".into());
        }
        if !(line.resistance_kpa_s_per_ul.is_finite() && line.resistance_kpa_s_per_ul > 0.0) {
            return at("resistance_kpa_s_per_ul", "resistance_kpa_s_per_ul must be above 0".into());
        }
        if let Connection::Twin { faults, .. } = &self.connection {
            for name in faults {
                if let Err(e) = name.parse::<crate::sim::Fault>() {
                    return at(name, e.to_string());
                }
            }
        }
        Ok(())
    }

    /// The twin that models this bench: its sensor, valve line and test line, the file's seed and
    /// faults (a twin bench) plus `extra_faults`.
    pub fn twin_config(&self, extra_faults: &[crate::sim::Fault]) -> Result<crate::sim::TwinConfig, String> {
        let mut config = crate::sim::TwinConfig::default();
        let mut faults = Vec::new();
        if let Connection::Twin { seed, faults: names, stall_attempts } = &self.connection {
            config.seed = *seed;
            if let Some(n) = stall_attempts {
                config.stall_attempts = *n;
            }
            for name in names {
                faults.push(name.parse::<crate::sim::Fault>().map_err(|e| e.to_string())?);
            }
        }
        for f in extra_faults {
            if !faults.contains(f) {
                faults.push(*f);
            }
        }
        config.faults = faults;
        config.sensor_model = self.flow_sensor.model;
        config.sensor_address = self.flow_sensor.address;
        config.valve_line = self.valve.line;
        if let Ok(serial) = self.flow_sensor.serial_number.parse() {
            config.sensor_serial = serial;
        }
        config.line.compliance_ul_per_kpa = self.test_line.compliance_ul_per_kpa;
        config.line.resistance_kpa_s_per_ul = self.test_line.resistance_kpa_s_per_ul;
        Ok(config)
    }

    /// What this bench can do for a plan. Injections need the in-process twin (the bench bus of
    /// ICD part 2 has no injection command); an operator needs a real bench and a terminal.
    pub fn capabilities(&self, interactive: bool) -> std::collections::BTreeSet<Capability> {
        match self.connection {
            // The in-process twin takes every injection of ICD part 2.
            Connection::Twin { .. } => capabilities_with(&crate::bus::codec::InjectKind::ALL, false),
            // What a software bench can inject, it says in its HELLO: see `probe_capabilities`.
            Connection::SimProcess { .. } => capabilities_with(&[], false),
            // A real bench has no fault injection; it may have an operator.
            Connection::Hardware { .. } => capabilities_with(&[], interactive),
        }
    }

    /// What this bench can do for the plans of a run or a check: [`BenchFile::probe_capabilities`],
    /// or, when a software bench cannot be asked, what is known without it and a note saying so.
    pub fn capabilities_for_plans(
        &self,
        interactive: bool,
    ) -> (std::collections::BTreeSet<Capability>, Option<String>) {
        match self.probe_capabilities(interactive) {
            Ok(caps) => (caps, None),
            Err(why) => (
                self.capabilities(interactive),
                Some(format!(
                    "bench `{}`: could not ask its bench bus which injections it takes ({why}); plans that need one count as not applicable (start the software bench, e.g. `rig sim`, and check again)",
                    self.name
                )),
            ),
        }
    }

    /// What this bench can do for a plan, asking a software bench in its own process what it
    /// injects (its bench-bus `HELLO`). `Err` says why it could not be asked (not running, no
    /// socket); the caller then knows only [`BenchFile::capabilities`].
    pub fn probe_capabilities(&self, interactive: bool) -> Result<std::collections::BTreeSet<Capability>, String> {
        match self.resolved_connection() {
            Connection::SimProcess { bus, .. } => {
                let client = crate::bus::BusClient::connect(std::path::Path::new(&bus)).map_err(|e| e.to_string())?;
                let kinds: Vec<_> = client.injections().iter().copied().collect();
                Ok(capabilities_with(&kinds, false))
            }
            _ => Ok(self.capabilities(interactive)),
        }
    }
    /// The connection with `{uid}` in its paths replaced by the user's numeric id.
    pub fn resolved_connection(&self) -> Connection {
        let uid = nix::unistd::getuid().as_raw().to_string();
        let fix = |p: &String| p.replace("{uid}", &uid);
        match &self.connection {
            Connection::SimProcess { serial, baud, bus } => {
                Connection::SimProcess { serial: fix(serial), baud: *baud, bus: fix(bus) }
            }
            other => other.clone(),
        }
    }
}

/// The instruments every bench has, the injections `kinds` and, where asked, an operator.
pub fn capabilities_with(
    kinds: &[crate::bus::codec::InjectKind],
    operator: bool,
) -> std::collections::BTreeSet<Capability> {
    let mut caps: std::collections::BTreeSet<_> = [Capability::Pump, Capability::FlowSensor, Capability::Valve].into();
    caps.extend(kinds.iter().filter_map(|k| Capability::from_inject_name(k.name())));
    if operator {
        caps.insert(Capability::Operator);
    }
    caps
}

/// The one rate of the pump's service port: ICD part 1, "Physical: UART, 115200 baud, 8N1".
pub const SERVICE_PORT_BAUD: u32 = 115_200;

const BAUD_HINT: &str = "the pump's service port runs at 115200 baud, 8N1 (ICD part 1): set `baud: 115200` or \
                         remove the key (115200 is the default)";

/// The baud rate of the service port: only the ICD's, for the pump speaks no other (a wrong rate
/// gives frames that fail their CRC, and 0 is no rate at all).
fn check_baud(baud: u32) -> Result<(), String> {
    if baud == SERVICE_PORT_BAUD {
        Ok(())
    } else {
        Err(format!("baud {baud} is not a rate the pump's service port uses: expected {SERVICE_PORT_BAUD}"))
    }
}

/// A device or socket path: not empty, no NUL (the kernel cannot take one).
fn check_path(key: &'static str, value: &str) -> Result<(), (&'static str, String, String)> {
    let what = match key {
        "serial" => "the pump's serial port, e.g. /dev/ttyUSB0",
        "bus" => "the bench bus socket, e.g. /tmp/rig-sim-{uid}/bus.sock",
        "i2c" => "the I2C bus device, e.g. /dev/i2c-1",
        _ => "the GPIO chip device, e.g. /dev/gpiochip0",
    };
    if value.trim().is_empty() {
        Err((key, format!("`{key}` is empty: expected the path of {what}"), "give the path; see rig/pi.yaml".into()))
    } else if value.contains('\0') {
        Err((key, format!("`{key}` holds a NUL character: expected the path of {what}"), "retype the path".into()))
    } else {
        Ok(())
    }
}

fn invalid(path: &Path, text: &str, line: usize, column: usize, message: String) -> BenchFileError {
    let hint = hint_for(&message);
    BenchFileError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        // A message may quote the file (an unknown key, a bad value): shown bounded and printable.
        message: printable(&message, MAX_MESSAGE_CHARS),
        snippet: snippet(text, line, column),
        hint,
    }
}

/// The offending line with a caret under the column: cut to a window around the column and
/// with control characters escaped, as a plan's diagnostics show it, so a 200 KB line or a NUL
/// byte in the file does not reach the terminal.
pub fn snippet(text: &str, line: usize, column: usize) -> String {
    let source = text.lines().nth(line.saturating_sub(1)).unwrap_or_default();
    let (shown, lead, carets) = crate::excerpt::snippet(source, column, 1);
    let gutter = format!("{line:>4} | ");
    format!("{gutter}{shown}\n{}{lead}{carets}", " ".repeat(gutter.len()))
}

fn hint_for(message: &str) -> String {
    if message.contains("unknown field") {
        "check the spelling; every key a bench file may hold is shown in rig/sim.yaml and rig/pi.yaml".into()
    } else if message.contains("missing field") {
        "add the key; see rig/pi.yaml for a complete bench file".into()
    } else if message.contains("unknown variant") {
        "connection kind is one of: twin, sim-process, hardware".into()
    } else if message.contains("fault") {
        "`rig faults` lists the seeded defects".into()
    } else {
        "see rig/pi.yaml for a complete, commented bench file".into()
    }
}

/// Line and column (1-based) of `key:` (or, failing that, the word) in `text`.
fn locate_key(text: &str, key: &str) -> (usize, usize) {
    let as_key = format!("{key}:");
    for needle in [as_key.as_str(), key] {
        for (i, line) in text.lines().enumerate() {
            if let Some(col) = line.find(needle) {
                return (i + 1, col + 1);
            }
        }
    }
    (1, 1)
}

/// `text` with each CR that does not start a CRLF replaced by LF: the lines YAML sees.
fn lone_cr_as_lf(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(if c == '\r' && chars.peek() != Some(&'\n') { '\n' } else { c });
    }
    out
}

/// serde_yaml's reader refuses a control character before parsing, saying only `at position N`
/// (a byte offset): the line and column (1-based) of that byte.
fn position_in_message(text: &str, message: &str) -> Option<(usize, usize)> {
    let offset: usize =
        message.split(" at position ").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()?;
    let before = text.get(..offset.min(text.len()))?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Some((before.matches('\n').count() + 1, before.get(line_start..)?.chars().count() + 1))
}

/// A position inside `text`: serde_yaml places an error found at the end of the stream (a key
/// missing from a file of blank lines) a line past the last one. The end of the text is the
/// last place an author can look at.
fn within_text(text: &str, line: usize, column: usize) -> (usize, usize) {
    let lines: Vec<&str> = text.split('\n').collect();
    let last = lines.len().max(1);
    if line > last {
        let end = lines.last().map_or(0, |l| l.chars().count());
        return (last, end + 1);
    }
    let width = lines.get(line.saturating_sub(1)).map_or(0, |l| l.chars().count());
    (line.max(1), column.clamp(1, width + 1))
}

/// serde_yaml locates an error raised by a value's own parser (a date, a model name) at the
/// mapping that holds it. When the message quotes the bad value, point at the value instead:
/// its first occurrence at or after the reported line.
fn refine_location(text: &str, line: usize, column: usize, message: &str) -> (usize, usize) {
    let quoted = message.split('"').nth(1).filter(|q| !q.is_empty());
    let Some(value) = quoted else { return (line, column) };
    text.lines()
        .enumerate()
        .skip(line.saturating_sub(1))
        .find_map(|(i, l)| l.find(value).map(|c| (i + 1, c + 1)))
        .unwrap_or((line, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_at_the_end_of_a_file_of_blank_lines_is_placed_in_the_file() {
        // Found by the bench_file fuzz target: serde_yaml said line 5 of these four.
        let Err(BenchFileError::Invalid { line, column, message, .. }) =
            BenchFile::parse_bytes(Path::new("b.yaml"), b"\n\n\n ")
        else {
            unreachable!("blank lines are not a bench file")
        };
        assert_eq!((line, column), (4, 2), "{message}");
        assert!(message.contains("missing field `name`"), "{message}");
        assert_eq!(within_text("a\nbc\n", 3, 1), (3, 1), "the line after a final newline is the end");
        assert_eq!(within_text("a\nbc", 2, 9), (2, 3), "a column past the line's end is its end");
    }

    const PI: &str = "\
name: pi-bench-1
connection:
  kind: hardware
  serial: /dev/ttyUSB0
  i2c: /dev/i2c-1
  gpiochip: /dev/gpiochip0
flow_sensor:
  model: LD20-0600L
  address: 0x08
  serial_number: \"12345\"
  calibration_due: 2027-03-31
  accuracy: { percent_of_reading: 5.0, floor_ul_h: 1.0 }
valve:
  line: 17
  model: NResearch 161P011
  serial_number: V-0042
";

    fn parse(text: &str) -> Result<BenchFile, BenchFileError> {
        BenchFile::parse(Path::new("bench.yaml"), text)
    }

    #[test]
    fn parses_a_complete_hardware_bench() {
        let b = parse(PI).unwrap();
        assert_eq!(
            b.connection,
            Connection::Hardware {
                serial: "/dev/ttyUSB0".into(),
                baud: 115_200,
                i2c: "/dev/i2c-1".into(),
                gpiochip: "/dev/gpiochip0".into()
            }
        );
        assert_eq!(b.flow_sensor.address, 0x08);
        assert_eq!(b.flow_sensor.model, SensorModel::Ld20_0600L);
        assert_eq!(b.flow_sensor.calibration_due.to_string(), "2027-03-31");
        assert_eq!(b.valve.line, 17);
    }

    #[test]
    fn unknown_key_is_located() {
        let err = parse(&PI.replace("  address: 0x08", "  adress: 0x08")).unwrap_err();
        let BenchFileError::Invalid { line, column, message, snippet, .. } = &err else { panic!("{err:?}") };
        assert_eq!((*line, *column), (9, 3), "{err}");
        assert!(message.contains("unknown field `adress`"), "{message}");
        assert!(snippet.contains("adress: 0x08") && snippet.ends_with('^'), "{snippet}");
        assert!(err.to_string().starts_with("bench.yaml:9:3: "), "{err}");
    }

    #[test]
    fn unknown_key_in_a_connection_variant_is_refused() {
        let err =
            parse(&PI.replace("  gpiochip: /dev/gpiochip0", "  gpiochip: /dev/gpiochip0\n  speed: 9")).unwrap_err();
        assert!(err.to_string().contains("unknown field `speed`"), "{err}");
    }

    #[test]
    fn bad_values_are_located() {
        let err = parse(&PI.replace("LD20-0600L", "LD99")).unwrap_err();
        assert!(err.to_string().starts_with("bench.yaml:8:10: "), "{err}");
        assert!(err.to_string().contains("unknown flow sensor model"), "{err}");
        let err = parse(&PI.replace("2027-03-31", "2027-13-31")).unwrap_err();
        assert!(err.to_string().starts_with("bench.yaml:11:20: "), "{err}");
        let err = parse(&PI.replace("address: 0x08", "address: 0x90")).unwrap_err();
        assert!(err.to_string().contains("bench.yaml:9:3: I2C address 0x90"), "{err}");
        let err = parse(&PI.replace("kind: hardware", "kind: laptop")).unwrap_err();
        assert!(err.to_string().contains("bench.yaml:3:"), "{err}");
    }

    #[test]
    fn a_baud_the_service_port_cannot_use_is_refused_with_the_expected_rate() {
        for baud in ["0", "9600", "4294967295"] {
            let text = PI.replace("  serial: /dev/ttyUSB0", &format!("  serial: /dev/ttyUSB0\n  baud: {baud}"));
            let err = parse(&text).unwrap_err();
            let BenchFileError::Invalid { line, column, message, hint, .. } = &err else { panic!("{err:?}") };
            assert_eq!((*line, *column), (5, 3), "{err}");
            assert_eq!(message, &format!("baud {baud} is not a rate the pump's service port uses: expected 115200"));
            assert!(hint.contains("115200 baud, 8N1 (ICD part 1)"), "{hint}");
        }
        let text = PI.replace("  serial: /dev/ttyUSB0", "  serial: /dev/ttyUSB0\n  baud: 115200");
        assert!(parse(&text).is_ok());
        let sim = "name: s\nconnection:\n  kind: sim-process\n  serial: /tmp/p\n  baud: 0\n  bus: /tmp/b\n";
        let err = parse(&format!("{sim}{}", &PI[PI.find("flow_sensor:").unwrap()..])).unwrap_err();
        assert!(err.to_string().starts_with("bench.yaml:5:3: baud 0 is not a rate"), "{err}");
    }

    #[test]
    fn a_control_character_is_located_where_it_is() {
        let err = parse(&PI.replace("model: NResearch", "model: N\u{1b}Research")).unwrap_err();
        let BenchFileError::Invalid { line, column, snippet, .. } = &err else { panic!("{err:?}") };
        assert_eq!((*line, *column), (15, 11), "{err}");
        assert!(snippet.contains("N\\u{1b}Research"), "{snippet}");
    }

    #[test]
    fn nonsensical_numbers_and_paths_are_refused_where_they_are_written() {
        let err = parse(&PI.replace("address: 0x08", "address: 0x00")).unwrap_err();
        assert!(err.to_string().starts_with("bench.yaml:9:3: I2C address 0x00 is reserved"), "{err}");
        let err = parse(&PI.replace("address: 0x08", "address: 0x78")).unwrap_err();
        assert!(err.to_string().contains("expected the sensor's address, 0x08-0x77"), "{err}");
        let err = parse(&PI.replace("  i2c: /dev/i2c-1", "  i2c: \"\"")).unwrap_err();
        assert!(
            err.to_string().starts_with("bench.yaml:5:3: `i2c` is empty: expected the path of the I2C bus"),
            "{err}"
        );
        let err = parse(&PI.replace("name: pi-bench-1", "name: \"  \"")).unwrap_err();
        assert!(err.to_string().starts_with("bench.yaml:1:1: the bench has no name"), "{err}");
        let twin = |n: &str| {
            let head = format!("name: t\nconnection:\n  kind: twin\n  stall_attempts: {n}\n");
            parse(&format!("{head}{}", &PI[PI.find("flow_sensor:").unwrap()..]))
        };
        for n in ["0", "13"] {
            let err = twin(n).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!("bench.yaml:4:3: stall_attempts {n}: expected 1 to 12")),
                "{err}"
            );
        }
        assert!(twin("1").is_ok() && twin("12").is_ok());
    }

    #[test]
    fn uid_placeholder_is_resolved() {
        let text = PI.replace(
            "  kind: hardware\n  serial: /dev/ttyUSB0\n  i2c: /dev/i2c-1\n  gpiochip: /dev/gpiochip0",
            "  kind: sim-process\n  serial: /tmp/rig-sim-{uid}/pump\n  bus: /tmp/rig-sim-{uid}/bus.sock",
        );
        let b = parse(&text).unwrap();
        let uid = nix::unistd::getuid().as_raw();
        let Connection::SimProcess { serial, bus, .. } = b.resolved_connection() else { panic!() };
        assert_eq!(serial, format!("/tmp/rig-sim-{uid}/pump"));
        assert_eq!(bus, format!("/tmp/rig-sim-{uid}/bus.sock"));
    }

    #[test]
    fn accuracy_is_the_larger_of_share_and_floor() {
        let a = Accuracy { percent_of_reading: 5.0, floor_ul_h: 1.0 };
        assert!((a.of_reading(500.0) - 25.0).abs() < 1e-12);
        assert!((a.of_reading(10.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn shipped_bench_files_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rig");
        for name in ["sim.yaml", "sim-pty.yaml", "pi.yaml"] {
            BenchFile::load(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
