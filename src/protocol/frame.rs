//! The line codec of the service port (ICD part 1, "Frames"): `<payload>*<CRC>\r\n`.
//!
//! Sans-IO: bytes are fed in whatever pieces the transport delivers and cut into lines by the
//! shared [`LineSplitter`]; each line is then judged by [`decode_line`], the ICD's receiver rules
//! in one place:
//! - an empty line is ignored;
//! - a line longer than [`MAX_LINE`] bytes is discarded ([`FrameError::TooLong`]);
//! - a line that does not end in `*` and four hex digits (either case), or whose CRC does not
//!   match its payload, is a frame with a bad CRC ([`FrameError::BadCrc`]);
//! - a frame with a good CRC whose payload breaks the payload rules (printable ASCII without
//!   `*`, at most [`MAX_PAYLOAD`] bytes) is [`FrameError::Malformed`] (the pump answers it
//!   `ERR SYNTAX`);
//! - anything else is a [`Frame`]. What its payload means is the message parsers' job.

use std::fmt;

use super::crc16::crc16;
use super::lines::LineSplitter;

/// Longest payload a sender may put in one frame.
pub const MAX_PAYLOAD: usize = 240;
/// A receiver discards a line longer than this (bytes before the line end).
pub const MAX_LINE: usize = 256;

/// A frame whose CRC matched and whose payload keeps the ICD's payload rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub payload: String,
}

/// What was wrong with a bad-CRC frame's checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcFault {
    /// The line ends in `*` and four hex digits, which do not match the payload.
    Mismatch { received: u16, computed: u16 },
    /// The line does not end in `*` and four hex digits: no CRC can be read.
    Unreadable,
}

impl fmt::Display for CrcFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrcFault::Mismatch { received, computed } => {
                write!(f, "CRC mismatch: frame says {received:04X}, payload gives {computed:04X}")
            }
            CrcFault::Unreadable => f.write_str("no CRC: the line does not end in '*' and 4 hex digits"),
        }
    }
}

/// A line that was not a valid frame. Every variant keeps what was received, for the evidence log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Counts as a frame with a bad CRC: the pump answers `0 ERR CRC` and does nothing.
    #[error("{crc} in {line:?}")]
    BadCrc { line: String, crc: CrcFault },
    /// The CRC matched but the payload breaks the ICD's payload rules: the pump answers
    /// `ERR SYNTAX` (with the seq the payload starts with, else 0).
    #[error("malformed frame ({reason}): {line:?}")]
    Malformed { line: String, reason: &'static str },
    #[error("line of {length} bytes exceeds {MAX_LINE} bytes; discarded")]
    TooLong { length: usize },
}

/// Why a payload cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("payload of {0} bytes exceeds {MAX_PAYLOAD} bytes")]
    TooLong(usize),
    #[error("payload byte 0x{0:02X} is not printable ASCII or is '*'")]
    BadByte(u8),
}

/// Encodes `payload` as a complete frame with its CRC and `\r\n`.
///
/// ```
/// // ICD part 1: the payload `123456789` carries CRC `29B1`.
/// assert_eq!(rig::protocol::encode_frame("123456789").unwrap(), b"123456789*29B1\r\n");
/// // A `*` cannot be sent: it separates payload and CRC.
/// assert!(rig::protocol::encode_frame("1 FILL*").is_err());
/// ```
pub fn encode_frame(payload: &str) -> Result<Vec<u8>, EncodeError> {
    check_payload(payload)?;
    Ok(encode_with_crc(payload, crc16(payload.as_bytes())))
}

/// Encodes `payload` with a CRC chosen by the caller: the link's bad-CRC probe and fault
/// injection use it to send a frame the pump must reject. Does not validate the payload.
pub fn encode_with_crc(payload: &str, crc: u16) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let hex = |shift: u16| HEX.get(usize::from((crc >> shift) & 0xF)).copied().unwrap_or(b'0');
    let mut out = Vec::with_capacity(payload.len() + 7);
    out.extend_from_slice(payload.as_bytes());
    out.extend_from_slice(&[b'*', hex(12), hex(8), hex(4), hex(0), b'\r', b'\n']);
    out
}

fn check_payload(payload: &str) -> Result<(), EncodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(EncodeError::TooLong(payload.len()));
    }
    match payload.bytes().find(|&b| !is_payload_byte(b)) {
        Some(b) => Err(EncodeError::BadByte(b)),
        None => Ok(()),
    }
}

/// A byte a payload may hold: printable ASCII other than `*`.
pub fn is_payload_byte(b: u8) -> bool {
    (0x20..=0x7E).contains(&b) && b != b'*'
}

/// Judges one line (without its line end) by the ICD's receiver rules (see the module
/// documentation). An empty line yields nothing.
pub fn decode_line(line: &[u8]) -> Option<Result<Frame, FrameError>> {
    let payload_len = match judge_line(line)? {
        Ok(n) => n,
        Err(e) => return Some(Err(e)),
    };
    let payload = line.get(..payload_len).unwrap_or_default();
    // All printable ASCII, checked by `judge_line`.
    Some(Ok(Frame { payload: String::from_utf8_lossy(payload).into_owned() }))
}

/// The payload of a frame's line (without its line end): the text before its last `*` (a valid
/// payload has none), or the whole line if it has no `*`.
pub fn line_payload(line: &str) -> &str {
    line.rsplit_once('*').map_or(line, |(payload, _)| payload)
}

/// A valid frame as it arrived: the line without its line end, CRC digits in the case they
/// came in (a receiver accepts lower case), so that the record holds what was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    line: String,
    payload_len: usize,
}

impl ReceivedFrame {
    /// The line as received, without its line end.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The payload: the line before its `*`.
    pub fn payload(&self) -> &str {
        self.line.get(..self.payload_len).unwrap_or_default()
    }

    pub fn into_line(self) -> String {
        self.line
    }
}

/// [`decode_line`] keeping the line as it arrived ([`ReceivedFrame`]); takes the line's buffer.
pub fn decode_received(line: Vec<u8>) -> Option<Result<ReceivedFrame, FrameError>> {
    let payload_len = match judge_line(&line)? {
        Ok(n) => n,
        Err(e) => return Some(Err(e)),
    };
    // Printable ASCII up to the `*`, then `*` and four hex digits: valid UTF-8.
    let line = String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Some(Ok(ReceivedFrame { line, payload_len }))
}

/// The receiver's rules for one line: `None` for an empty line, else the payload's length in a
/// valid frame, or why the line is not one.
fn judge_line(line: &[u8]) -> Option<Result<usize, FrameError>> {
    if line.is_empty() {
        return None;
    }
    let text = || String::from_utf8_lossy(line).into_owned();
    let Some((payload, received)) = split_crc(line) else {
        return Some(Err(FrameError::BadCrc { line: text(), crc: CrcFault::Unreadable }));
    };
    let computed = crc16(payload);
    if received != computed {
        return Some(Err(FrameError::BadCrc { line: text(), crc: CrcFault::Mismatch { received, computed } }));
    }
    let malformed = |reason| Some(Err(FrameError::Malformed { line: text(), reason }));
    if payload.len() > MAX_PAYLOAD {
        return malformed("payload longer than 240 bytes");
    }
    if !payload.iter().all(|&b| is_payload_byte(b)) {
        return malformed("payload is not printable ASCII without '*'");
    }
    Some(Ok(payload.len()))
}

/// The payload and the CRC of a line that ends in `*` and four hex digits.
fn split_crc(line: &[u8]) -> Option<(&[u8], u16)> {
    let star = line.len().checked_sub(5)?;
    let (payload, tail) = line.split_at(star);
    let (&sep, digits) = tail.split_first()?;
    if sep != b'*' || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let crc = digits.iter().try_fold(0u16, |acc, &d| Some((acc << 4) | (d as char).to_digit(16)? as u16))?;
    Some((payload, crc))
}

/// Incremental frame decoder: the [`LineSplitter`] and [`decode_line`].
///
/// Feed bytes with [`FrameDecoder::feed`], which takes them until its bounded queue of lines is
/// full and says how many it took, then drain with [`FrameDecoder::next_frame`] until `None`;
/// or let [`FrameDecoder::feed_all`] do both. Memory stays bounded whatever arrives.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    lines: LineSplitter,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self { lines: LineSplitter::new(MAX_LINE) }
    }

    /// Takes received bytes until the queue of lines is full; returns how many it took.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        self.lines.feed(bytes)
    }

    /// Feeds all of `bytes`, handing every complete line's outcome to `sink` in arrival order.
    pub fn feed_all(&mut self, mut bytes: &[u8], mut sink: impl FnMut(Result<Frame, FrameError>)) {
        loop {
            let taken = self.feed(bytes);
            bytes = bytes.get(taken..).unwrap_or_default();
            while let Some(item) = self.next_frame() {
                sink(item);
            }
            if bytes.is_empty() {
                return;
            }
        }
    }

    /// The next complete line's outcome, in arrival order (empty lines are skipped).
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        self.next_received().map(|r| r.map(|f| Frame { payload: f.payload().to_string() }))
    }

    /// [`FrameDecoder::next_frame`], each valid frame as it arrived ([`ReceivedFrame`]).
    pub fn next_received(&mut self) -> Option<Result<ReceivedFrame, FrameError>> {
        loop {
            match self.lines.next_line()? {
                Ok(line) => {
                    if let Some(decoded) = decode_received(line) {
                        return Some(decoded);
                    }
                }
                Err(too_long) => return Some(Err(FrameError::TooLong { length: too_long.length })),
            }
        }
    }

    /// The next complete line as received, not yet judged (for a receiver that looks at the
    /// line first, as the twin's frame-corruption injection does).
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        self.lines.next_line().map(|l| l.map_err(|too_long| FrameError::TooLong { length: too_long.length }))
    }

    /// Forgets the unfinished line and everything not yet drained.
    pub fn clear(&mut self) {
        self.lines.clear();
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}*{:04X}", self.payload, crc16(self.payload.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Vec<Result<Frame, FrameError>> {
        let mut d = FrameDecoder::new();
        let mut out = Vec::new();
        d.feed_all(bytes, |item| out.push(item));
        out
    }

    fn ok(payload: &str) -> Result<Frame, FrameError> {
        Ok(Frame { payload: payload.to_string() })
    }

    fn bad_crc(line: &str, crc: CrcFault) -> Result<Frame, FrameError> {
        Err(FrameError::BadCrc { line: line.to_string(), crc })
    }

    #[test]
    fn encodes_check_value_frame_byte_exact() {
        assert_eq!(encode_frame("123456789").unwrap(), b"123456789*29B1\r\n");
    }

    #[test]
    fn decodes_crlf_and_bare_lf() {
        assert_eq!(decode_all(b"123456789*29B1\r\n123456789*29B1\n"), vec![ok("123456789"), ok("123456789")]);
    }

    #[test]
    fn lowercase_crc_digits_are_accepted() {
        assert_eq!(decode_all(b"123456789*29b1\r\n"), vec![ok("123456789")]);
        assert_eq!(decode_all(b"8 START*12fd\r\n"), vec![ok("8 START")]);
        assert_eq!(decode_all(b"8 START*12fD\r\n"), vec![ok("8 START")]);
    }

    #[test]
    fn roundtrip_icd_example_exchange() {
        for payload in [
            "7 PROGRAM basal_ul_h=500",
            "7 OK",
            "8 START",
            "! 3 120345 STATE state=RUNNING",
            "8 OK",
            "9 BOLUS",
            "9 OK granted=0 reason=LOCKOUT",
        ] {
            let bytes = encode_frame(payload).unwrap();
            assert!(bytes.ends_with(b"\r\n"));
            assert_eq!(decode_all(&bytes), vec![ok(payload)]);
        }
    }

    #[test]
    fn fed_one_byte_at_a_time() {
        let mut d = FrameDecoder::new();
        for b in b"8 START*".iter().chain(format!("{:04X}\r\n", crc16(b"8 START")).as_bytes()) {
            assert_eq!(d.next_frame(), None);
            assert_eq!(d.feed(&[*b]), 1);
        }
        assert_eq!(d.next_frame(), Some(ok("8 START")));
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn bad_crc_is_reported_with_both_values() {
        assert_eq!(
            decode_all(b"123456789*29B2\r\n"),
            vec![bad_crc("123456789*29B2", CrcFault::Mismatch { received: 0x29B2, computed: 0x29B1 })]
        );
    }

    /// ICD: "Any other line that does not end in `*` and four hex digits counts as a frame with a
    /// bad CRC".
    #[test]
    fn a_line_without_a_readable_crc_is_a_bad_crc_frame() {
        for line in ["8 START", "8 START*29B", "8 START*29BG", "8 START*29B1 ", "*", "29B1", "8 START*-29B"] {
            let mut bytes = line.as_bytes().to_vec();
            bytes.extend_from_slice(b"\r\n");
            assert_eq!(decode_all(&bytes), vec![bad_crc(line, CrcFault::Unreadable)], "{line:?}");
        }
        // Not UTF-8, no CRC: kept (lossily) for the log.
        assert!(matches!(&decode_all(b"\xff\x00\n")[..], [Err(FrameError::BadCrc { crc: CrcFault::Unreadable, .. })]));
    }

    /// ICD: "A frame with a good CRC whose payload breaks the rules above is answered
    /// `ERR SYNTAX`": the CRC decides first, the payload rules second.
    #[test]
    fn a_good_crc_over_a_payload_that_breaks_the_rules_is_malformed() {
        let with_good_crc = |payload: &[u8]| {
            let mut bytes = payload.to_vec();
            bytes.extend_from_slice(format!("*{:04X}\r\n", crc16(payload)).as_bytes());
            decode_all(&bytes)
        };
        for (payload, reason) in [
            (&b"8 ST*ART"[..], "payload is not printable ASCII without '*'"),
            (b"8 ST\tART", "payload is not printable ASCII without '*'"),
            (b"8 ST\xe9ART", "payload is not printable ASCII without '*'"),
        ] {
            match &with_good_crc(payload)[..] {
                [Err(FrameError::Malformed { reason: r, .. })] => assert_eq!(*r, reason, "{payload:?}"),
                other => panic!("{payload:?}: {other:?}"),
            }
        }
        let long = vec![b'A'; 241];
        assert!(matches!(
            &with_good_crc(&long)[..],
            [Err(FrameError::Malformed { reason: "payload longer than 240 bytes", .. })]
        ));
        assert_eq!(with_good_crc(&[b'A'; 240]), vec![ok(&"A".repeat(240))]);
        // The same payloads with a wrong CRC are bad-CRC frames.
        assert!(matches!(
            &decode_all(b"8 ST*ART*0000\r\n")[..],
            [Err(FrameError::BadCrc { crc: CrcFault::Mismatch { received: 0, .. }, .. })]
        ));
    }

    #[test]
    fn empty_lines_are_skipped() {
        assert_eq!(decode_all(b"\r\n\n123456789*29B1\r\n\n"), vec![ok("123456789")]);
    }

    #[test]
    fn overlong_line_is_discarded_and_the_next_line_survives() {
        let mut bytes = vec![b'A'; 300];
        bytes.extend_from_slice(b"\r\n123456789*29B1\r\n");
        assert_eq!(decode_all(&bytes), vec![Err(FrameError::TooLong { length: 300 }), ok("123456789")]);
    }

    #[test]
    fn line_of_exactly_max_length_is_kept() {
        // 251 payload bytes + '*' + 4 CRC digits = 256 bytes before the line end: within the
        // limit. Its payload is over 240, so it is judged malformed, not discarded.
        let payload = "A".repeat(251);
        let frame = encode_with_crc(&payload, crc16(payload.as_bytes()));
        assert_eq!(frame.len() - 2, 256);
        let malformed = decode_all(&frame);
        assert!(matches!(&malformed[..], [Err(FrameError::Malformed { .. })]), "{malformed:?}");
        let mut lf_only = frame[..256].to_vec();
        lf_only.push(b'\n');
        assert_eq!(decode_all(&lf_only), malformed);
        let mut too_long = payload.into_bytes();
        too_long.extend_from_slice(b"A*0000\r\n");
        assert_eq!(decode_all(&too_long), vec![Err(FrameError::TooLong { length: 257 })]);
    }

    #[test]
    fn the_queue_of_decoded_lines_is_bounded() {
        let mut d = FrameDecoder::new();
        let many = b"123456789*29B1\n".repeat(1000);
        let taken = d.feed(&many);
        assert!(taken < many.len(), "a full queue stops taking bytes");
        let mut count = 0;
        while d.next_frame().is_some() {
            count += 1;
        }
        assert!(count > 0 && count <= crate::protocol::lines::DEFAULT_MAX_READY, "{count}");
        assert_eq!(decode_all(&many).len(), 1000, "feed_all takes everything");
    }

    #[test]
    fn encoder_refuses_what_the_icd_forbids() {
        assert_eq!(encode_frame(&"A".repeat(241)), Err(EncodeError::TooLong(241)));
        assert!(encode_frame(&"A".repeat(240)).is_ok());
        assert_eq!(encode_frame("1 FILL*"), Err(EncodeError::BadByte(b'*')));
        assert_eq!(encode_frame("1 FILL\n"), Err(EncodeError::BadByte(b'\n')));
    }
}
