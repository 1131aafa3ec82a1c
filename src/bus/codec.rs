//! The bench bus's lines (ICD part 2) as plain data: no I/O here.
//!
//! - [`BusRequest`] and [`BusResponse`] ⇄ one line each, without the `\n`;
//! - [`LineReader`]: bytes in whatever pieces the socket delivers → bounded lines, after
//!   tokio-util's `LinesCodec` (an over-long line is discarded up to its `\n` and reported once;
//!   a trailing `\r` is stripped).
//!
//! Hex is emitted in UPPER case (like the CRCs of ICD part 1) and accepted in either case.
//! Keywords (`HELLO`, `I2C`, `W`, `R`, `GPIO`, `SET`, `GET`, `OK`, `NACK`, `ERR`) are upper case
//! only, as the ICD writes them. Tokens are separated by one space; the parser also accepts runs
//! of spaces or tabs.
//!
//! Where the ICD is silent this module decides: an I2C write carries 1 to [`MAX_WRITE`] bytes
//! (as a read carries 1–64); the address is exactly two hex digits of a 7-bit address (00–7F);
//! a GPIO line is a decimal `u32`.

use std::collections::VecDeque;
use std::fmt;

/// Longest line either side sends or accepts, in bytes before the `\n`.
pub const MAX_LINE: usize = 1024;
/// Most bytes one `I2C aa R n` may ask for (ICD part 2).
pub const MAX_READ: usize = 64;
/// Most bytes one `I2C aa W hex` may carry (not fixed by the ICD; the same as a read).
pub const MAX_WRITE: usize = 64;

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
}

/// One response line. Which forms are valid depends on the request it answers
/// ([`BusResponse::parse_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusResponse {
    /// `OK` (I2C write, GPIO set).
    Ok,
    /// `OK bench=<name>` (HELLO).
    OkBench(String),
    /// `OK <hex>` (I2C read).
    OkData(Vec<u8>),
    /// `OK 0|1` (GPIO get).
    OkLevel(bool),
    /// `NACK` (I2C only): the addressed device did not acknowledge.
    Nack,
    /// `ERR <reason>`: the request was not understood or could not be served.
    Err(String),
}

/// Why a line is not a valid request or response. The `Display` form is what the server puts
/// after `ERR`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusParseError {
    #[error("empty line")]
    Empty,
    #[error("unknown request {0:?} (expected HELLO, I2C or GPIO)")]
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
    #[error("read of {expected} bytes answered with {got} bytes")]
    WrongDataLength { expected: usize, got: usize },
    #[error("{line:?} does not answer `{request}`")]
    UnexpectedResponse { request: String, line: String },
    #[error(transparent)]
    TooLong(#[from] LineTooLong),
}

const I2C_USAGE: &str = "I2C <addr> W <hex>` or `I2C <addr> R <n>";
const GPIO_USAGE: &str = "GPIO <line> SET 0|1` or `GPIO <line> GET";

impl BusRequest {
    /// The request line, without `\n`: `HELLO`, `I2C 08 W 3608`, `I2C 08 R 9`, `GPIO 17 SET 1`,
    /// `GPIO 17 GET`.
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
            ["I2C", ..] => Err(BusParseError::Usage { usage: I2C_USAGE }),
            ["GPIO", line, "SET", level] => {
                Ok(BusRequest::GpioSet { line: parse_line(line)?, level: parse_level(level)? })
            }
            ["GPIO", line, "GET"] => Ok(BusRequest::GpioGet { line: parse_line(line)? }),
            ["GPIO", ..] => Err(BusParseError::Usage { usage: GPIO_USAGE }),
            [other, ..] => Err(BusParseError::UnknownCommand(other.to_string())),
        }
    }
}

impl fmt::Display for BusRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_line())
    }
}

impl BusResponse {
    /// The response line, without `\n`. A bench name or reason is put on one line: control
    /// characters (a `\n` above all) become spaces.
    pub fn to_line(&self) -> String {
        match self {
            BusResponse::Ok => "OK".to_string(),
            BusResponse::OkBench(name) => format!("OK bench={}", one_line(name)),
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
            (BusRequest::Hello, ["OK", ..]) => line
                .strip_prefix("OK bench=")
                .map(|name| BusResponse::OkBench(name.trim().to_string()))
                .ok_or_else(unexpected),
            (BusRequest::I2cWrite { .. } | BusRequest::GpioSet { .. }, ["OK"]) => Ok(BusResponse::Ok),
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
    digits.chunks_exact(2).map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?)).collect()
}

fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// A line longer than the reader's limit; its bytes were dropped up to the `\n`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line of {length} bytes exceeds {max} bytes; discarded")]
pub struct LineTooLong {
    pub length: usize,
    pub max: usize,
}

/// Splits a byte stream into lines at `\n`, with memory bounded by the maximum line length.
///
/// Feed bytes with [`LineReader::feed`], then drain with [`LineReader::next_line`] until
/// `None`. A trailing `\r` is stripped; an empty line is returned as `""` (on the bench bus
/// every line gets an answer); bytes that are not UTF-8 are replaced with U+FFFD.
#[derive(Debug)]
pub struct LineReader {
    max: usize,
    buf: Vec<u8>,
    /// Set once the current line has passed `max`: its bytes are counted, not kept.
    discarding: Option<usize>,
    ready: VecDeque<Result<String, LineTooLong>>,
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
        Self { max, buf: Vec::new(), discarding: None, ready: VecDeque::new() }
    }

    pub fn max_length(&self) -> usize {
        self.max
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                let line = match self.discarding.take() {
                    Some(length) => Err(LineTooLong { length, max: self.max }),
                    None => {
                        let mut line = std::mem::take(&mut self.buf);
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        Ok(String::from_utf8_lossy(&line).into_owned())
                    }
                };
                self.ready.push_back(line);
            } else if let Some(length) = self.discarding.as_mut() {
                *length += 1;
            } else if self.buf.len() == self.max {
                // A `\r` at the limit could still be the line's ending `\r`; counting it as
                // content keeps the rule simple: more than `max` bytes before `\n` is too long.
                self.discarding = Some(self.buf.len() + 1);
                self.buf = Vec::new();
            } else {
                self.buf.push(b);
            }
        }
    }

    /// The next complete line, in arrival order.
    pub fn next_line(&mut self) -> Option<Result<String, LineTooLong>> {
        self.ready.pop_front()
    }

    /// Bytes of an unfinished line held (or counted, if it is being discarded).
    pub fn pending(&self) -> usize {
        self.discarding.unwrap_or(self.buf.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(line: &str) -> BusRequest {
        BusRequest::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
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
        ];
        for (request, line) in cases {
            assert_eq!(request.to_line(), line);
            assert_eq!(req(line), request, "{line}");
        }
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
    fn read_length_is_1_to_64() {
        assert_eq!(req("I2C 08 R 1"), BusRequest::I2cRead { addr: 8, len: 1 });
        assert_eq!(req("I2C 08 R 64"), BusRequest::I2cRead { addr: 8, len: 64 });
        for n in ["0", "65", "-1", "+9", "9x", "", "99999999999999999999999"] {
            let line = format!("I2C 08 R {n}");
            assert!(BusRequest::parse(&line).is_err(), "{line}");
        }
        assert_eq!(BusRequest::parse("I2C 08 R 65"), Err(BusParseError::BadReadLength("65".into())));
    }

    #[test]
    fn address_is_two_hex_digits_of_seven_bits() {
        for bad in ["8", "008", "80", "FF", "G8", "-1"] {
            assert_eq!(
                BusRequest::parse(&format!("I2C {bad} R 9")),
                Err(BusParseError::BadAddress(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(req("I2C 00 R 2"), BusRequest::I2cRead { addr: 0, len: 2 });
    }

    #[test]
    fn malformed_requests_say_why() {
        let cases = [
            ("", BusParseError::Empty),
            ("   ", BusParseError::Empty),
            ("hello", BusParseError::UnknownCommand("hello".into())),
            ("SPI 1 W 00", BusParseError::UnknownCommand("SPI".into())),
            ("HELLO there", BusParseError::Usage { usage: "HELLO" }),
            ("I2C 08 W", BusParseError::Usage { usage: I2C_USAGE }),
            ("I2C 08 X 36", BusParseError::Usage { usage: I2C_USAGE }),
            ("I2C 08 W 36 08", BusParseError::Usage { usage: I2C_USAGE }),
            ("I2C 08 W 360", BusParseError::BadHex("360".into())),
            ("I2C 08 W 36G8", BusParseError::BadHex("36G8".into())),
            ("GPIO 17 SET 2", BusParseError::BadLevel("2".into())),
            ("GPIO 17 SET high", BusParseError::BadLevel("high".into())),
            ("GPIO x GET", BusParseError::BadLine("x".into())),
            ("GPIO -1 GET", BusParseError::BadLine("-1".into())),
            ("GPIO 4294967296 GET", BusParseError::BadLine("4294967296".into())),
            ("GPIO 17", BusParseError::Usage { usage: GPIO_USAGE }),
            ("GPIO 17 get", BusParseError::Usage { usage: GPIO_USAGE }),
        ];
        for (line, err) in cases {
            assert_eq!(BusRequest::parse(line), Err(err), "{line:?}");
        }
        assert_eq!(BusRequest::parse(&format!("I2C 08 W {}", "00".repeat(65))), Err(BusParseError::BadWriteLength(65)));
        assert_eq!(
            BusParseError::Usage { usage: I2C_USAGE }.to_string(),
            "malformed request, expected `I2C <addr> W <hex>` or `I2C <addr> R <n>`"
        );
    }

    #[test]
    fn responses_byte_exact() {
        let cases = [
            (BusResponse::Ok, "OK"),
            (BusResponse::OkBench("twin".into()), "OK bench=twin"),
            (BusResponse::OkData(vec![0x02, 0x58, 0x9F, 0xBE, 0xEF, 0x92]), "OK 02589FBEEF92"),
            (BusResponse::OkLevel(true), "OK 1"),
            (BusResponse::OkLevel(false), "OK 0"),
            (BusResponse::Nack, "NACK"),
            (BusResponse::Err("unknown request".into()), "ERR unknown request"),
            (BusResponse::Err(String::new()), "ERR"),
            (BusResponse::Err("two\nlines".into()), "ERR two lines"),
            (BusResponse::OkBench("a\r\nb".into()), "OK bench=a  b"),
        ];
        for (response, line) in cases {
            assert_eq!(response.to_line(), line);
        }
    }

    #[test]
    fn responses_parse_for_their_request() {
        let hello = BusRequest::Hello;
        let write = BusRequest::I2cWrite { addr: 8, bytes: vec![0x36, 0x08] };
        let read = BusRequest::I2cRead { addr: 8, len: 3 };
        let set = BusRequest::GpioSet { line: 17, level: true };
        let get = BusRequest::GpioGet { line: 17 };
        let ok =
            |r: &BusRequest, line: &str| BusResponse::parse_for(r, line).unwrap_or_else(|e| panic!("{line:?}: {e}"));

        assert_eq!(ok(&hello, "OK bench=twin 1"), BusResponse::OkBench("twin 1".into()));
        assert_eq!(ok(&write, "OK"), BusResponse::Ok);
        assert_eq!(ok(&write, "NACK"), BusResponse::Nack);
        assert_eq!(ok(&read, "OK beef92"), BusResponse::OkData(vec![0xBE, 0xEF, 0x92]));
        assert_eq!(ok(&read, "NACK"), BusResponse::Nack);
        assert_eq!(ok(&set, "OK\r"), BusResponse::Ok);
        assert_eq!(ok(&get, "OK 1"), BusResponse::OkLevel(true));
        assert_eq!(ok(&get, "OK 0"), BusResponse::OkLevel(false));
        for r in [&hello, &write, &read, &set, &get] {
            assert_eq!(ok(r, "ERR no such line"), BusResponse::Err("no such line".into()));
            assert_eq!(ok(r, "ERR"), BusResponse::Err(String::new()));
        }

        assert_eq!(
            BusResponse::parse_for(&read, "OK BEEF"),
            Err(BusParseError::WrongDataLength { expected: 3, got: 2 })
        );
        for (r, line) in [
            (&hello, "OK"),
            (&hello, "NACK"),
            (&write, "OK 36"),
            (&read, "OK"),
            (&set, "NACK"),
            (&set, "OK 1"),
            (&get, "OK"),
            (&get, "NACK"),
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
            r.feed(chunk);
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
    fn line_reader_byte_by_byte() {
        let mut r = LineReader::new();
        for &b in b"OK 02589F\r\n" {
            assert_eq!(r.next_line(), None);
            r.feed(&[b]);
        }
        assert_eq!(lines(&mut r), vec![Ok("OK 02589F".to_string())]);
    }

    #[test]
    fn line_reader_returns_empty_lines_and_replaces_bad_utf8() {
        let mut r = LineReader::new();
        r.feed(b"\n\r\n\xFFX\n");
        assert_eq!(lines(&mut r), vec![Ok(String::new()), Ok(String::new()), Ok("\u{FFFD}X".to_string())]);
    }

    #[test]
    fn overlong_line_is_reported_once_and_the_next_survives() {
        let mut r = LineReader::with_max_length(8);
        r.feed(b"12345678\n");
        assert_eq!(lines(&mut r), vec![Ok("12345678".to_string())]);
        for chunk in b"123456789abcdef".chunks(4) {
            r.feed(chunk);
            assert!(r.pending() <= 15);
        }
        r.feed(b"\nHELLO\n");
        assert_eq!(lines(&mut r), vec![Err(LineTooLong { length: 15, max: 8 }), Ok("HELLO".to_string())]);
    }

    #[test]
    fn default_limit_is_1024() {
        let mut r = LineReader::new();
        let mut long = vec![b'A'; MAX_LINE];
        long.push(b'\n');
        r.feed(&long);
        assert_eq!(r.next_line(), Some(Ok("A".repeat(MAX_LINE))));
        long.insert(0, b'A');
        r.feed(&long);
        assert_eq!(r.next_line(), Some(Err(LineTooLong { length: MAX_LINE + 1, max: MAX_LINE })));
    }
}
