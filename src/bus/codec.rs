//! The bench bus's lines (ICD part 2) as plain data: no I/O here.
//!
//! - [`BusRequest`] and [`BusResponse`] ⇄ one line each, without the `\n`;
//! - [`Inject`] and [`InjectKind`]: the fault-injection vocabulary of software benches, shared by
//!   the rig (plans, executor) and the twin;
//! - [`LineReader`]: bytes in whatever pieces the socket delivers → bounded lines, cut by the
//!   same [`LineSplitter`] as the service port's frames.
//!
//! Hex is emitted in UPPER case (like the CRCs of ICD part 1) and accepted in either case.
//! Keywords (`HELLO`, `I2C`, `W`, `R`, `GPIO`, `SET`, `GET`, `INJECT` and the fault names, `OK`,
//! `NACK`, `ERR`) are upper case only, as the ICD writes them.
//!
//! A refused request is answered `ERR <reason>` with the ICD's reason words
//! ([`BusParseError::reason`]): `empty`, `too_long`, `address`, `no_such_line`, `unsupported`,
//! `syntax`.
//!
//! Where the ICD is silent this module decides (a client written from the ICD depends on none
//! of it): tokens may be separated by runs of spaces or tabs, and a line of only blanks is
//! `empty`; every other malformed request, an unknown keyword included, is `syntax`; an
//! `INJECT` of a fault the ICD does not name is `unsupported` (as one the bench lacks), one it
//! names with bad arguments is `syntax`; `CORRUPT` takes 0–1000, `SILENCE` and `SENSOR NACK` a
//! decimal `u32`; a GPIO line is a decimal `u32`.

use std::collections::BTreeSet;
use std::fmt;

use crate::protocol::lines::LineSplitter;
pub use crate::protocol::lines::LineTooLong;

/// Longest request line, in bytes before the `\n` (ICD part 2); responses are held to it too.
pub const MAX_LINE: usize = 512;
/// Most bytes one `I2C aa R n` may ask for (ICD part 2).
pub const MAX_READ: usize = 64;
/// Most bytes one `I2C aa W hex` may carry (ICD part 2).
pub const MAX_WRITE: usize = 64;
/// Largest `INJECT CORRUPT` probability, per mille.
pub const MAX_PERMILLE: u16 = 1000;

/// A fault a software bench may inject (ICD part 2, "Fault injection").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Inject {
    /// `INJECT STALL 1|0`: strokes stop completing / the motor turns again.
    Stall(bool),
    /// `INJECT WATCHDOG`: the pump's firmware resets at once (`BOOT reason=WATCHDOG`).
    Watchdog,
    /// `INJECT CORRUPT <permille>`: each service-port frame, either direction, is damaged with
    /// this probability; 0 stops it.
    Corrupt { permille: u16 },
    /// `INJECT SILENCE <ms>`: the service port passes nothing either way for this long.
    Silence { ms: u32 },
    /// `INJECT SENSOR NACK <n>`: the flow sensor NACKs its next n transactions.
    SensorNack { count: u32 },
    /// `INJECT SENSOR AIR 1|0`: the sensor reports air in line; its flow word is meaningless.
    SensorAir(bool),
    /// `INJECT SENSOR STUCK 1|0`: the sensor repeats the last reading it returned.
    SensorStuck(bool),
}

/// The kinds of [`Inject`], as `HELLO` lists them (`inject=STALL,WATCHDOG,...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InjectKind {
    Stall,
    Watchdog,
    Corrupt,
    Silence,
    SensorNack,
    SensorAir,
    SensorStuck,
}

impl InjectKind {
    /// Every kind, in the ICD's order.
    pub const ALL: [InjectKind; 7] = [
        InjectKind::Stall,
        InjectKind::Watchdog,
        InjectKind::Corrupt,
        InjectKind::Silence,
        InjectKind::SensorNack,
        InjectKind::SensorAir,
        InjectKind::SensorStuck,
    ];

    /// The name in `HELLO`'s list: the fault's words with `_` for a space.
    pub fn name(self) -> &'static str {
        match self {
            InjectKind::Stall => "STALL",
            InjectKind::Watchdog => "WATCHDOG",
            InjectKind::Corrupt => "CORRUPT",
            InjectKind::Silence => "SILENCE",
            InjectKind::SensorNack => "SENSOR_NACK",
            InjectKind::SensorAir => "SENSOR_AIR",
            InjectKind::SensorStuck => "SENSOR_STUCK",
        }
    }

    pub fn from_name(name: &str) -> Option<InjectKind> {
        InjectKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for InjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Inject {
    pub fn kind(&self) -> InjectKind {
        match self {
            Inject::Stall(_) => InjectKind::Stall,
            Inject::Watchdog => InjectKind::Watchdog,
            Inject::Corrupt { .. } => InjectKind::Corrupt,
            Inject::Silence { .. } => InjectKind::Silence,
            Inject::SensorNack { .. } => InjectKind::SensorNack,
            Inject::SensorAir(_) => InjectKind::SensorAir,
            Inject::SensorStuck(_) => InjectKind::SensorStuck,
        }
    }

    /// The words after `INJECT `: `STALL 1`, `SENSOR NACK 3`, ...
    fn args(&self) -> String {
        let level = |on: bool| u8::from(on);
        match *self {
            Inject::Stall(on) => format!("STALL {}", level(on)),
            Inject::Watchdog => "WATCHDOG".to_string(),
            Inject::Corrupt { permille } => format!("CORRUPT {permille}"),
            Inject::Silence { ms } => format!("SILENCE {ms}"),
            Inject::SensorNack { count } => format!("SENSOR NACK {count}"),
            Inject::SensorAir(on) => format!("SENSOR AIR {}", level(on)),
            Inject::SensorStuck(on) => format!("SENSOR STUCK {}", level(on)),
        }
    }

    fn parse(tokens: &[&str]) -> Result<Inject, BusParseError> {
        let usage = |usage: &'static str| BusParseError::Usage { usage };
        let level = |t: &str, u: &'static str| parse_level(t).map_err(|_| usage(u));
        match tokens {
            ["STALL", v] => Ok(Inject::Stall(level(v, INJECT_STALL)?)),
            ["STALL", ..] => Err(usage(INJECT_STALL)),
            ["WATCHDOG"] => Ok(Inject::Watchdog),
            ["WATCHDOG", ..] => Err(usage("INJECT WATCHDOG")),
            ["CORRUPT", p] => parse_decimal::<u16>(p)
                .filter(|&p| p <= MAX_PERMILLE)
                .map(|permille| Inject::Corrupt { permille })
                .ok_or(usage("INJECT CORRUPT <permille 0-1000>")),
            ["CORRUPT", ..] => Err(usage("INJECT CORRUPT <permille 0-1000>")),
            ["SILENCE", ms] => parse_decimal(ms).map(|ms| Inject::Silence { ms }).ok_or(usage("INJECT SILENCE <ms>")),
            ["SILENCE", ..] => Err(usage("INJECT SILENCE <ms>")),
            ["SENSOR", "NACK", n] => {
                parse_decimal(n).map(|count| Inject::SensorNack { count }).ok_or(usage("INJECT SENSOR NACK <n>"))
            }
            ["SENSOR", "NACK", ..] => Err(usage("INJECT SENSOR NACK <n>")),
            ["SENSOR", "AIR", v] => Ok(Inject::SensorAir(level(v, "INJECT SENSOR AIR 1|0")?)),
            ["SENSOR", "AIR", ..] => Err(usage("INJECT SENSOR AIR 1|0")),
            ["SENSOR", "STUCK", v] => Ok(Inject::SensorStuck(level(v, "INJECT SENSOR STUCK 1|0")?)),
            ["SENSOR", "STUCK", ..] => Err(usage("INJECT SENSOR STUCK 1|0")),
            [] => Err(usage("INJECT <fault> [args]")),
            other => Err(BusParseError::UnknownInjection(other.join(" "))),
        }
    }
}

impl fmt::Display for Inject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.args())
    }
}

/// One request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusRequest {
    /// `HELLO`
    Hello,
    /// `I2C <addr> W <hex>`: one write transaction.
    I2cWrite { addr: u8, bytes: Vec<u8> },
    /// `I2C <addr> R <n>`: one read transaction of `len` bytes.
    I2cRead { addr: u8, len: usize },
    /// `GPIO <line> SET 0|1`
    GpioSet { line: u32, level: bool },
    /// `GPIO <line> GET`
    GpioGet { line: u32 },
    /// `INJECT <fault> [args]` (software benches only).
    Inject(Inject),
}

/// One response line. Which forms are valid depends on the request it answers
/// ([`BusResponse::parse_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusResponse {
    /// `OK` (I2C write, GPIO set, INJECT).
    Ok,
    /// `OK bench=<name> inject=<list>` (HELLO). A bench answering the older `OK bench=<name>`
    /// supports no injection.
    Hello { bench: String, inject: BTreeSet<InjectKind> },
    /// `OK <hex>` (I2C read).
    OkData(Vec<u8>),
    /// `OK 0|1` (GPIO get).
    OkLevel(bool),
    /// `NACK` (I2C only): the addressed device did not acknowledge.
    Nack,
    /// `ERR <reason>`: the request was not understood or could not be served.
    Err(String),
}

/// Why a line is not a valid request or response. The `Display` form is for people (the
/// client's errors); [`BusParseError::reason`] is the word a server answers after `ERR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusParseError {
    #[error("empty line")]
    Empty,
    #[error("unknown request {0:?} (expected HELLO, I2C, GPIO or INJECT)")]
    UnknownCommand(String),
    #[error("malformed request, expected `{usage}`")]
    Usage { usage: &'static str },
    #[error("I2C address {0:?} is not two hex digits of a 7-bit address (00-7F)")]
    BadAddress(String),
    #[error("{0:?} is not hex bytes (an even number of hex digits, no spaces)")]
    BadHex(String),
    #[error("I2C write of {0} bytes; the bus carries 1 to {MAX_WRITE}")]
    BadWriteLength(usize),
    #[error("I2C read length {0:?} is not a number from 1 to {MAX_READ}")]
    BadReadLength(String),
    #[error("GPIO line {0:?} is not a decimal line number")]
    BadLine(String),
    #[error("GPIO level {0:?} is not 0 or 1")]
    BadLevel(String),
    #[error("no injection {0:?} in the ICD")]
    UnknownInjection(String),
    #[error("read of {expected} bytes answered with {got} bytes")]
    WrongDataLength { expected: usize, got: usize },
    #[error("HELLO lists {0:?}, which is not an injection of the ICD (or `none`)")]
    BadInjectList(String),
    #[error("{line:?} does not answer `{request}`")]
    UnexpectedResponse { request: String, line: String },
    #[error(transparent)]
    TooLong(#[from] LineTooLong),
}

impl BusParseError {
    /// The reason a server puts after `ERR` for a request it cannot parse, in the ICD's words.
    pub fn reason(&self) -> &'static str {
        match self {
            BusParseError::Empty => "empty",
            BusParseError::TooLong(_) => "too_long",
            BusParseError::BadAddress(_) => "address",
            BusParseError::UnknownInjection(_) => "unsupported",
            BusParseError::UnknownCommand(_)
            | BusParseError::Usage { .. }
            | BusParseError::BadHex(_)
            | BusParseError::BadWriteLength(_)
            | BusParseError::BadReadLength(_)
            | BusParseError::BadLine(_)
            | BusParseError::BadLevel(_)
            | BusParseError::WrongDataLength { .. }
            | BusParseError::BadInjectList(_)
            | BusParseError::UnexpectedResponse { .. } => "syntax",
        }
    }
}

const I2C_USAGE: &str = "I2C <addr> W <hex>` or `I2C <addr> R <n>";
const GPIO_USAGE: &str = "GPIO <line> SET 0|1` or `GPIO <line> GET";
const INJECT_STALL: &str = "INJECT STALL 1|0";

impl BusRequest {
    /// The request line, without `\n`: `HELLO`, `I2C 08 W 3608`, `I2C 08 R 9`, `GPIO 17 SET 1`,
    /// `GPIO 17 GET`, `INJECT SENSOR NACK 3`.
    pub fn to_line(&self) -> String {
        match self {
            BusRequest::Hello => "HELLO".to_string(),
            BusRequest::I2cWrite { addr, bytes } => {
                format!("I2C {addr:02X} W {}", encode_hex(bytes))
            }
            BusRequest::I2cRead { addr, len } => format!("I2C {addr:02X} R {len}"),
            BusRequest::GpioSet { line, level } => {
                format!("GPIO {line} SET {}", u8::from(*level))
            }
            BusRequest::GpioGet { line } => format!("GPIO {line} GET"),
            BusRequest::Inject(inject) => format!("INJECT {inject}"),
        }
    }

    /// Parses a request line (without `\n`; a trailing `\r` is tolerated).
    pub fn parse(line: &str) -> Result<BusRequest, BusParseError> {
        let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
        match tokens.as_slice() {
            [] => Err(BusParseError::Empty),
            ["HELLO"] => Ok(BusRequest::Hello),
            ["HELLO", ..] => Err(BusParseError::Usage { usage: "HELLO" }),
            ["I2C", addr, "W", hex] => {
                let addr = parse_addr(addr)?;
                let bytes = decode_hex(hex).ok_or_else(|| BusParseError::BadHex(hex.to_string()))?;
                if bytes.is_empty() || bytes.len() > MAX_WRITE {
                    return Err(BusParseError::BadWriteLength(bytes.len()));
                }
                Ok(BusRequest::I2cWrite { addr, bytes })
            }
            ["I2C", addr, "R", n] => {
                let addr = parse_addr(addr)?;
                let len = parse_decimal::<usize>(n)
                    .filter(|n| (1..=MAX_READ).contains(n))
                    .ok_or_else(|| BusParseError::BadReadLength(n.to_string()))?;
                Ok(BusRequest::I2cRead { addr, len })
            }
            ["I2C", addr, _, ..] if parse_addr(addr).is_err() => Err(BusParseError::BadAddress(addr.to_string())),
            ["I2C", ..] => Err(BusParseError::Usage { usage: I2C_USAGE }),
            ["GPIO", line, "SET", level] => {
                Ok(BusRequest::GpioSet { line: parse_line(line)?, level: parse_level(level)? })
            }
            ["GPIO", line, "GET"] => Ok(BusRequest::GpioGet { line: parse_line(line)? }),
            ["GPIO", ..] => Err(BusParseError::Usage { usage: GPIO_USAGE }),
            ["INJECT", rest @ ..] => Inject::parse(rest).map(BusRequest::Inject),
            [other, ..] => Err(BusParseError::UnknownCommand(other.to_string())),
        }
    }
}

impl fmt::Display for BusRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

/// `none`, or the kinds comma-separated in the ICD's order.
pub fn format_inject_list(kinds: &BTreeSet<InjectKind>) -> String {
    if kinds.is_empty() { "none".to_string() } else { kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(",") }
}

/// Parses `HELLO`'s `inject=` list: `none`, or known names comma-separated.
pub fn parse_inject_list(list: &str) -> Result<BTreeSet<InjectKind>, BusParseError> {
    if list == "none" {
        return Ok(BTreeSet::new());
    }
    list.split(',')
        .map(|name| InjectKind::from_name(name).ok_or_else(|| BusParseError::BadInjectList(name.to_string())))
        .collect()
}

impl BusResponse {
    /// The response line, without `\n`. A bench name or reason is put on one line: control
    /// characters (a `\n` above all) become spaces.
    pub fn to_line(&self) -> String {
        match self {
            BusResponse::Ok => "OK".to_string(),
            BusResponse::Hello { bench, inject } => {
                format!("OK bench={} inject={}", one_line(bench), format_inject_list(inject))
            }
            BusResponse::OkData(bytes) => format!("OK {}", encode_hex(bytes)),
            BusResponse::OkLevel(level) => format!("OK {}", u8::from(*level)),
            BusResponse::Nack => "NACK".to_string(),
            BusResponse::Err(reason) if reason.trim().is_empty() => "ERR".to_string(),
            BusResponse::Err(reason) => format!("ERR {}", one_line(reason)),
        }
    }

    /// Parses the response line that answers `request`: `ERR <reason>` answers anything,
    /// `NACK` only an I2C request; the `OK` form must be the one `request` calls for (and a
    /// read must return exactly the bytes asked for).
    pub fn parse_for(request: &BusRequest, line: &str) -> Result<BusResponse, BusParseError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == "ERR" {
            return Ok(BusResponse::Err(String::new()));
        }
        if let Some(reason) = line.strip_prefix("ERR ") {
            return Ok(BusResponse::Err(reason.trim().to_string()));
        }
        let unexpected = || BusParseError::UnexpectedResponse { request: request.to_line(), line: line.to_string() };
        let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
        match (request, tokens.as_slice()) {
            (BusRequest::I2cWrite { .. } | BusRequest::I2cRead { .. }, ["NACK"]) => Ok(BusResponse::Nack),
            (BusRequest::Hello, ["OK", ..]) => {
                let rest = line.strip_prefix("OK bench=").ok_or_else(unexpected)?;
                let (bench, inject) = match rest.rsplit_once(" inject=") {
                    Some((bench, list)) => (bench, parse_inject_list(list.trim())?),
                    None => (rest, BTreeSet::new()),
                };
                Ok(BusResponse::Hello { bench: bench.trim().to_string(), inject })
            }
            (BusRequest::I2cWrite { .. } | BusRequest::GpioSet { .. } | BusRequest::Inject(_), ["OK"]) => {
                Ok(BusResponse::Ok)
            }
            (BusRequest::I2cRead { len, .. }, ["OK", hex]) => {
                let bytes = decode_hex(hex).ok_or_else(|| BusParseError::BadHex(hex.to_string()))?;
                if bytes.len() != *len {
                    return Err(BusParseError::WrongDataLength { expected: *len, got: bytes.len() });
                }
                Ok(BusResponse::OkData(bytes))
            }
            (BusRequest::GpioGet { .. }, ["OK", level]) => Ok(BusResponse::OkLevel(parse_level(level)?)),
            _ => Err(unexpected()),
        }
    }
}

impl fmt::Display for BusResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

fn parse_addr(token: &str) -> Result<u8, BusParseError> {
    let bad = || BusParseError::BadAddress(token.to_string());
    if token.len() != 2 {
        return Err(bad());
    }
    decode_hex(token).and_then(|b| b.first().copied()).filter(|&a| a <= 0x7F).ok_or_else(bad)
}

fn parse_line(token: &str) -> Result<u32, BusParseError> {
    parse_decimal(token).ok_or_else(|| BusParseError::BadLine(token.to_string()))
}

fn parse_level(token: &str) -> Result<bool, BusParseError> {
    match token {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(BusParseError::BadLevel(token.to_string())),
    }
}

/// Plain decimal digits only (no sign, no `+`), which `str::parse` alone would not enforce.
fn parse_decimal<T: std::str::FromStr>(token: &str) -> Option<T> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// Bytes as upper-case hex, two digits each, no separators.
pub fn encode_hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Hex digits (either case) → bytes; `None` unless an even number of hex digits.
pub fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let digits = hex.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| match *pair {
            [high, low] => Some((digit(high)? << 4) | digit(low)?),
            _ => None,
        })
        .collect()
}

fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// The bench bus's line reader: the shared [`LineSplitter`] at [`MAX_LINE`], lines as text.
///
/// Feed bytes with [`LineReader::feed`] (it takes them until its bounded queue of lines is full
/// and says how many it took), then drain with [`LineReader::next_line`] until `None`. An empty
/// line is returned as `""` (on the bench bus every line gets an answer); bytes that are not
/// UTF-8 are replaced with U+FFFD.
#[derive(Debug, Clone)]
pub struct LineReader {
    lines: LineSplitter,
}

impl Default for LineReader {
    fn default() -> Self {
        Self::new()
    }
}

impl LineReader {
    /// A reader for lines of up to [`MAX_LINE`] bytes.
    pub fn new() -> Self {
        Self::with_max_length(MAX_LINE)
    }

    pub fn with_max_length(max: usize) -> Self {
        Self { lines: LineSplitter::new(max) }
    }

    pub fn max_length(&self) -> usize {
        self.lines.max_line()
    }

    /// Takes received bytes until the queue of lines is full; returns how many it took.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        self.lines.feed(bytes)
    }

    /// The next complete line, in arrival order.
    pub fn next_line(&mut self) -> Option<Result<String, LineTooLong>> {
        self.lines.next_line().map(|line| line.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Bytes of an unfinished line held (or counted, if it is being discarded).
    pub fn pending(&self) -> usize {
        self.lines.pending()
    }

    /// Forgets everything received (a new connection).
    pub fn clear(&mut self) {
        self.lines.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(line: &str) -> BusRequest {
        BusRequest::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn reason(line: &str) -> &'static str {
        match BusRequest::parse(line) {
            Ok(r) => panic!("{line:?} parsed as {r:?}"),
            Err(e) => e.reason(),
        }
    }

    #[test]
    fn requests_from_the_icd_table_byte_exact() {
        let cases = [
            (BusRequest::Hello, "HELLO"),
            (BusRequest::I2cWrite { addr: 0x08, bytes: vec![0x36, 0x08] }, "I2C 08 W 3608"),
            (BusRequest::I2cWrite { addr: 0x08, bytes: vec![0x3F, 0xF9] }, "I2C 08 W 3FF9"),
            (BusRequest::I2cRead { addr: 0x08, len: 9 }, "I2C 08 R 9"),
            (BusRequest::GpioSet { line: 17, level: true }, "GPIO 17 SET 1"),
            (BusRequest::GpioSet { line: 17, level: false }, "GPIO 17 SET 0"),
            (BusRequest::GpioGet { line: 17 }, "GPIO 17 GET"),
            (BusRequest::Inject(Inject::Stall(true)), "INJECT STALL 1"),
            (BusRequest::Inject(Inject::Stall(false)), "INJECT STALL 0"),
            (BusRequest::Inject(Inject::Watchdog), "INJECT WATCHDOG"),
            (BusRequest::Inject(Inject::Corrupt { permille: 1000 }), "INJECT CORRUPT 1000"),
            (BusRequest::Inject(Inject::Corrupt { permille: 0 }), "INJECT CORRUPT 0"),
            (BusRequest::Inject(Inject::Silence { ms: 2500 }), "INJECT SILENCE 2500"),
            (BusRequest::Inject(Inject::SensorNack { count: 3 }), "INJECT SENSOR NACK 3"),
            (BusRequest::Inject(Inject::SensorAir(true)), "INJECT SENSOR AIR 1"),
            (BusRequest::Inject(Inject::SensorAir(false)), "INJECT SENSOR AIR 0"),
            (BusRequest::Inject(Inject::SensorStuck(true)), "INJECT SENSOR STUCK 1"),
            (BusRequest::Inject(Inject::SensorStuck(false)), "INJECT SENSOR STUCK 0"),
        ];
        for (request, line) in cases {
            assert_eq!(request.to_line(), line);
            assert_eq!(req(line), request, "{line}");
        }
    }

    #[test]
    fn inject_kinds_have_the_hello_names() {
        let names: Vec<&str> = InjectKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names, ["STALL", "WATCHDOG", "CORRUPT", "SILENCE", "SENSOR_NACK", "SENSOR_AIR", "SENSOR_STUCK"]);
        for k in InjectKind::ALL {
            assert_eq!(InjectKind::from_name(k.name()), Some(k));
        }
        assert_eq!(InjectKind::from_name("SENSOR NACK"), None);
        assert_eq!(Inject::SensorNack { count: 1 }.kind(), InjectKind::SensorNack);
        assert_eq!(Inject::Corrupt { permille: 5 }.kind(), InjectKind::Corrupt);
    }

    #[test]
    fn hex_is_accepted_in_either_case() {
        let stop = BusRequest::I2cWrite { addr: 0x7F, bytes: vec![0x3F, 0xF9] };
        assert_eq!(req("I2C 7f W 3ff9"), stop);
        assert_eq!(req("I2C 7F W 3fF9"), stop);
        assert_eq!(req("I2C 7F W 3FF9\r"), stop);
        assert_eq!(req("I2C  7F\tW 3FF9 "), stop);
    }

    #[test]
    fn read_length_is_1_to_64_and_write_1_to_64_bytes() {
        assert_eq!(req("I2C 08 R 1"), BusRequest::I2cRead { addr: 8, len: 1 });
        assert_eq!(req("I2C 08 R 64"), BusRequest::I2cRead { addr: 8, len: 64 });
        for n in ["0", "65", "-1", "+9", "9x", "99999999999999999999999"] {
            assert_eq!(reason(&format!("I2C 08 R {n}")), "syntax", "{n}");
        }
        assert_eq!(BusRequest::parse("I2C 08 R 65"), Err(BusParseError::BadReadLength("65".into())));
        assert_eq!(
            req(&format!("I2C 08 W {}", "ab".repeat(64))),
            BusRequest::I2cWrite { addr: 8, bytes: vec![0xAB; 64] }
        );
        assert_eq!(BusRequest::parse(&format!("I2C 08 W {}", "00".repeat(65))), Err(BusParseError::BadWriteLength(65)));
        assert_eq!(reason(&format!("I2C 08 W {}", "00".repeat(65))), "syntax");
    }

    /// ICD: "an address is 00–7F (`ERR address` otherwise)".
    #[test]
    fn address_is_two_hex_digits_of_seven_bits() {
        for bad in ["8", "008", "80", "FF", "G8", "-1"] {
            assert_eq!(
                BusRequest::parse(&format!("I2C {bad} R 9")),
                Err(BusParseError::BadAddress(bad.into())),
                "{bad}"
            );
            assert_eq!(reason(&format!("I2C {bad} W 3608")), "address");
            assert_eq!(reason(&format!("I2C {bad} X 1")), "address");
        }
        assert_eq!(req("I2C 00 R 2"), BusRequest::I2cRead { addr: 0, len: 2 });
        assert_eq!(req("I2C 7f R 2"), BusRequest::I2cRead { addr: 0x7F, len: 2 });
    }

    #[test]
    fn malformed_requests_say_why_and_answer_the_icd_reasons() {
        let cases = [
            ("", BusParseError::Empty, "empty"),
            ("   ", BusParseError::Empty, "empty"),
            ("hello", BusParseError::UnknownCommand("hello".into()), "syntax"),
            ("SPI 1 W 00", BusParseError::UnknownCommand("SPI".into()), "syntax"),
            ("HELLO there", BusParseError::Usage { usage: "HELLO" }, "syntax"),
            ("I2C 08 W", BusParseError::Usage { usage: I2C_USAGE }, "syntax"),
            ("I2C 08 X 36", BusParseError::Usage { usage: I2C_USAGE }, "syntax"),
            ("I2C 08 W 36 08", BusParseError::Usage { usage: I2C_USAGE }, "syntax"),
            ("I2C 08 W 360", BusParseError::BadHex("360".into()), "syntax"),
            ("I2C 08 W 36G8", BusParseError::BadHex("36G8".into()), "syntax"),
            ("i2c 08 r 9", BusParseError::UnknownCommand("i2c".into()), "syntax"),
            ("GPIO 17 SET 2", BusParseError::BadLevel("2".into()), "syntax"),
            ("GPIO 17 SET high", BusParseError::BadLevel("high".into()), "syntax"),
            ("GPIO x GET", BusParseError::BadLine("x".into()), "syntax"),
            ("GPIO -1 GET", BusParseError::BadLine("-1".into()), "syntax"),
            ("GPIO 4294967296 GET", BusParseError::BadLine("4294967296".into()), "syntax"),
            ("GPIO 17", BusParseError::Usage { usage: GPIO_USAGE }, "syntax"),
            ("GPIO 17 get", BusParseError::Usage { usage: GPIO_USAGE }, "syntax"),
        ];
        for (line, err, word) in cases {
            let got = BusRequest::parse(line);
            assert_eq!(got, Err(err), "{line:?}");
            assert_eq!(reason(line), word, "{line:?}");
        }
        assert_eq!(
            BusParseError::Usage { usage: I2C_USAGE }.to_string(),
            "malformed request, expected `I2C <addr> W <hex>` or `I2C <addr> R <n>`"
        );
        assert_eq!(BusParseError::TooLong(LineTooLong { length: 600, max: 512 }).reason(), "too_long");
    }

    #[test]
    fn malformed_injections_are_syntax_unknown_ones_unsupported() {
        for line in [
            "INJECT",
            "INJECT STALL",
            "INJECT STALL 2",
            "INJECT STALL on",
            "INJECT STALL 1 0",
            "INJECT WATCHDOG now",
            "INJECT CORRUPT",
            "INJECT CORRUPT 1001",
            "INJECT CORRUPT -1",
            "INJECT CORRUPT 0.5",
            "INJECT SILENCE",
            "INJECT SILENCE 4294967296",
            "INJECT SILENCE 1s",
            "INJECT SENSOR NACK",
            "INJECT SENSOR NACK x",
            "INJECT SENSOR AIR 2",
            "INJECT SENSOR STUCK",
        ] {
            assert_eq!(reason(line), "syntax", "{line:?}");
        }
        for line in ["INJECT FIRE", "INJECT SENSOR SMOKE 1", "INJECT SENSOR", "INJECT stall 1"] {
            assert_eq!(reason(line), "unsupported", "{line:?}");
        }
        assert_eq!(req("INJECT SILENCE 4294967295"), BusRequest::Inject(Inject::Silence { ms: u32::MAX }));
    }

    #[test]
    fn responses_byte_exact() {
        let all: BTreeSet<InjectKind> = InjectKind::ALL.into_iter().collect();
        let cases = [
            (BusResponse::Ok, "OK"),
            (BusResponse::Hello { bench: "twin".into(), inject: BTreeSet::new() }, "OK bench=twin inject=none"),
            (
                BusResponse::Hello { bench: "twin".into(), inject: all },
                "OK bench=twin inject=STALL,WATCHDOG,CORRUPT,SILENCE,SENSOR_NACK,SENSOR_AIR,SENSOR_STUCK",
            ),
            (BusResponse::OkData(vec![0x02, 0x58, 0x9F, 0xBE, 0xEF, 0x92]), "OK 02589FBEEF92"),
            (BusResponse::OkLevel(true), "OK 1"),
            (BusResponse::OkLevel(false), "OK 0"),
            (BusResponse::Nack, "NACK"),
            (BusResponse::Err("no_such_line".into()), "ERR no_such_line"),
            (BusResponse::Err(String::new()), "ERR"),
            (BusResponse::Err("two\nlines".into()), "ERR two lines"),
            (
                BusResponse::Hello { bench: "a\r\nb".into(), inject: [InjectKind::Stall].into() },
                "OK bench=a  b inject=STALL",
            ),
        ];
        for (response, line) in cases {
            assert_eq!(response.to_line(), line);
        }
    }

    #[test]
    fn hello_lists_injections_or_none_and_the_old_form_has_none() {
        let hello = BusRequest::Hello;
        let parse = |line: &str| BusResponse::parse_for(&hello, line);
        assert_eq!(
            parse("OK bench=twin 1"),
            Ok(BusResponse::Hello { bench: "twin 1".into(), inject: BTreeSet::new() })
        );
        assert_eq!(
            parse("OK bench=sil inject=none"),
            Ok(BusResponse::Hello { bench: "sil".into(), inject: BTreeSet::new() })
        );
        assert_eq!(
            parse("OK bench=rig twin inject=SENSOR_STUCK,STALL"),
            Ok(BusResponse::Hello {
                bench: "rig twin".into(),
                inject: [InjectKind::Stall, InjectKind::SensorStuck].into()
            })
        );
        assert_eq!(parse("OK bench=x inject=STALL,FIRE"), Err(BusParseError::BadInjectList("FIRE".into())));
        assert_eq!(parse("OK bench=x inject="), Err(BusParseError::BadInjectList(String::new())));
        assert_eq!(parse("OK bench=x inject=SENSOR NACK"), Err(BusParseError::BadInjectList("SENSOR NACK".into())));
    }

    #[test]
    fn responses_parse_for_their_request() {
        let write = BusRequest::I2cWrite { addr: 8, bytes: vec![0x36, 0x08] };
        let read = BusRequest::I2cRead { addr: 8, len: 3 };
        let set = BusRequest::GpioSet { line: 17, level: true };
        let get = BusRequest::GpioGet { line: 17 };
        let inject = BusRequest::Inject(Inject::Watchdog);
        let ok =
            |r: &BusRequest, line: &str| BusResponse::parse_for(r, line).unwrap_or_else(|e| panic!("{line:?}: {e}"));

        assert_eq!(ok(&write, "OK"), BusResponse::Ok);
        assert_eq!(ok(&write, "NACK"), BusResponse::Nack);
        assert_eq!(ok(&read, "OK beef92"), BusResponse::OkData(vec![0xBE, 0xEF, 0x92]));
        assert_eq!(ok(&read, "NACK"), BusResponse::Nack);
        assert_eq!(ok(&set, "OK\r"), BusResponse::Ok);
        assert_eq!(ok(&get, "OK 1"), BusResponse::OkLevel(true));
        assert_eq!(ok(&get, "OK 0"), BusResponse::OkLevel(false));
        assert_eq!(ok(&inject, "OK"), BusResponse::Ok);
        for r in [&BusRequest::Hello, &write, &read, &set, &get, &inject] {
            assert_eq!(ok(r, "ERR no_such_line"), BusResponse::Err("no_such_line".into()));
            assert_eq!(ok(r, "ERR"), BusResponse::Err(String::new()));
        }

        assert_eq!(
            BusResponse::parse_for(&read, "OK BEEF"),
            Err(BusParseError::WrongDataLength { expected: 3, got: 2 })
        );
        for (r, line) in [
            (&BusRequest::Hello, "OK"),
            (&BusRequest::Hello, "NACK"),
            (&write, "OK 36"),
            (&read, "OK"),
            (&set, "NACK"),
            (&set, "OK 1"),
            (&get, "OK"),
            (&get, "NACK"),
            (&inject, "NACK"),
            (&inject, "OK 1"),
            (&write, "ok"),
            (&write, ""),
            (&write, "ERRATIC"),
        ] {
            assert!(BusResponse::parse_for(r, line).is_err(), "{r} / {line:?}");
        }
        assert_eq!(
            BusResponse::parse_for(&set, "NACK").unwrap_err().to_string(),
            "\"NACK\" does not answer `GPIO 17 SET 1`"
        );
        assert_eq!(BusResponse::parse_for(&get, "OK 2"), Err(BusParseError::BadLevel("2".into())));
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(encode_hex(&[0x00, 0x0A, 0xFF]), "000AFF");
        assert_eq!(decode_hex("000aFF"), Some(vec![0x00, 0x0A, 0xFF]));
        assert_eq!(decode_hex(""), Some(vec![]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("0x"), None);
        assert_eq!(decode_hex("é0"), None);
    }

    fn lines(reader: &mut LineReader) -> Vec<Result<String, LineTooLong>> {
        std::iter::from_fn(|| reader.next_line()).collect()
    }

    #[test]
    fn line_reader_fed_in_pieces() {
        let mut r = LineReader::new();
        let input = b"HELLO\r\nI2C 08 W 3608\nGPIO 17 GET\r\n";
        for chunk in input.chunks(3) {
            assert_eq!(r.feed(chunk), chunk.len());
        }
        assert_eq!(
            lines(&mut r),
            vec![Ok("HELLO".to_string()), Ok("I2C 08 W 3608".to_string()), Ok("GPIO 17 GET".to_string())]
        );
        r.feed(b"I2C 08");
        assert_eq!(r.next_line(), None);
        assert_eq!(r.pending(), 6);
        r.feed(b" R 9\n");
        assert_eq!(r.next_line(), Some(Ok("I2C 08 R 9".to_string())));
        assert_eq!(r.next_line(), None);
    }

    #[test]
    fn line_reader_returns_empty_lines_and_replaces_bad_utf8() {
        let mut r = LineReader::new();
        r.feed(b"\n\r\n\xFFX\n");
        assert_eq!(lines(&mut r), vec![Ok(String::new()), Ok(String::new()), Ok("\u{FFFD}X".to_string())]);
    }

    /// ICD: "A request line is at most 512 bytes, `\n` not counted".
    #[test]
    fn the_limit_is_512_bytes() {
        let mut r = LineReader::new();
        let mut long = vec![b'A'; MAX_LINE];
        long.push(b'\n');
        r.feed(&long);
        assert_eq!(r.next_line(), Some(Ok("A".repeat(MAX_LINE))));
        long.insert(0, b'A');
        r.feed(&long);
        assert_eq!(r.next_line(), Some(Err(LineTooLong { length: MAX_LINE + 1, max: MAX_LINE })));
        assert_eq!(MAX_LINE, 512);
    }
}
