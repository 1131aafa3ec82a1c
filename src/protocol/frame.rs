//! The line codec of the service port (ICD part 1, "Frames"): `<payload>*<CRC>\r\n`.
//!
//! Sans-IO, after tokio-util's `LinesCodec`: bytes are fed in whatever pieces the transport
//! delivers, complete lines come out, an over-long line is discarded up to its end and reported
//! once. The codec only checks the framing and the CRC; what a payload means is `message`'s job.

use std::fmt;

use super::crc16::crc16;

/// Longest payload a sender may put in one frame.
pub const MAX_PAYLOAD: usize = 240;
/// A receiver discards a line longer than this (bytes before the `\n`).
pub const MAX_LINE: usize = 256;

/// A frame whose CRC matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub payload: String,
}

/// A line that was not a valid frame. Every variant keeps what was received, for the evidence log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("CRC mismatch: frame says {received:04X}, payload gives {computed:04X} in {line:?}")]
    BadCrc { line: String, received: u16, computed: u16 },
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
    let mut out = Vec::with_capacity(payload.len() + 7);
    out.extend_from_slice(payload.as_bytes());
    out.extend_from_slice(format!("*{crc:04X}\r\n").as_bytes());
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

fn is_payload_byte(b: u8) -> bool {
    (0x20..=0x7E).contains(&b) && b != b'*'
}

/// Incremental frame decoder. Feed bytes with [`FrameDecoder::feed`], then drain complete lines
/// with [`FrameDecoder::next_frame`] until it returns `None`.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Set once the current line has passed `MAX_LINE`: bytes are dropped until the next `\n`.
    discarding: Option<usize>,
    /// Lines completed but not yet drained.
    ready: std::collections::VecDeque<Result<Frame, FrameError>>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes. Memory stays bounded by `MAX_LINE` whatever arrives.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                if let Some(length) = self.discarding.take() {
                    self.ready.push_back(Err(FrameError::TooLong { length }));
                } else {
                    let line = std::mem::take(&mut self.buf);
                    if let Some(decoded) = decode_line(&line) {
                        self.ready.push_back(decoded);
                    }
                }
                continue;
            }
            if let Some(length) = self.discarding.as_mut() {
                *length += 1;
            } else if self.buf.len() == MAX_LINE {
                self.discarding = Some(self.buf.len() + 1);
                self.buf.clear();
            } else {
                self.buf.push(b);
            }
        }
    }

    /// The next complete line, in arrival order.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        self.ready.pop_front()
    }
}

/// Decodes one line without its `\n`. An empty line (a stray line end) yields nothing.
fn decode_line(line: &[u8]) -> Option<Result<Frame, FrameError>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(line).into_owned();
    let malformed = |reason| Some(Err(FrameError::Malformed { line: text.clone(), reason }));
    let Some(star) = line.iter().position(|&b| b == b'*') else {
        return malformed("no '*' before the CRC");
    };
    let (payload, crc_field) = (&line[..star], &line[star + 1..]);
    if crc_field.len() != 4 || !crc_field.iter().all(u8::is_ascii_hexdigit) {
        return malformed("CRC is not 4 hex digits");
    }
    if !payload.iter().all(|&b| is_payload_byte(b)) {
        return malformed("payload is not printable ASCII");
    }
    // Both checked above: ASCII hex digits, printable ASCII payload.
    let received = u16::from_str_radix(std::str::from_utf8(crc_field).ok()?, 16).ok()?;
    let computed = crc16(payload);
    if received != computed {
        return Some(Err(FrameError::BadCrc { line: text, received, computed }));
    }
    Some(Ok(Frame { payload: String::from_utf8_lossy(payload).into_owned() }))
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
        d.feed(bytes);
        std::iter::from_fn(|| d.next_frame()).collect()
    }

    fn ok(payload: &str) -> Result<Frame, FrameError> {
        Ok(Frame { payload: payload.to_string() })
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
            d.feed(&[*b]);
        }
        assert_eq!(d.next_frame(), Some(ok("8 START")));
        assert_eq!(d.next_frame(), None);
    }

    #[test]
    fn bad_crc_is_reported_with_both_values() {
        let got = decode_all(b"123456789*29B2\r\n");
        assert_eq!(
            got,
            vec![Err(FrameError::BadCrc { line: "123456789*29B2".into(), received: 0x29B2, computed: 0x29B1 })]
        );
    }

    #[test]
    fn malformed_lines() {
        for (line, reason) in [
            (&b"8 START\r\n"[..], "no '*' before the CRC"),
            (b"8 START*29B\r\n", "CRC is not 4 hex digits"),
            (b"8 START*29BG\r\n", "CRC is not 4 hex digits"),
            (b"8 ST*ART*29B1\r\n", "CRC is not 4 hex digits"),
            (b"8 ST\tART*29B1\r\n", "payload is not printable ASCII"),
        ] {
            match &decode_all(line)[..] {
                [Err(FrameError::Malformed { reason: r, .. })] => assert_eq!(*r, reason, "{line:?}"),
                other => panic!("{line:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn empty_lines_are_skipped() {
        assert_eq!(decode_all(b"\r\n\n123456789*29B1\r\n"), vec![ok("123456789")]);
    }

    #[test]
    fn overlong_line_is_discarded_and_the_next_line_survives() {
        let mut bytes = vec![b'A'; 300];
        bytes.extend_from_slice(b"\r\n123456789*29B1\r\n");
        assert_eq!(decode_all(&bytes), vec![Err(FrameError::TooLong { length: 301 }), ok("123456789")]);
    }

    #[test]
    fn line_of_exactly_max_length_is_kept() {
        // 251 payload bytes + '*' + 4 CRC digits = 256 bytes before '\n': within the limit,
        // (a well-formed sender never sends it: the payload is over 240, but the codec's job is lines).
        let payload = "A".repeat(251);
        let frame = encode_with_crc(&payload, crc16(payload.as_bytes()));
        let line_len = frame.len() - 2; // without \r\n
        assert_eq!(line_len, 256);
        let mut no_cr = frame[..line_len].to_vec();
        no_cr.push(b'\n');
        assert_eq!(decode_all(&no_cr), vec![ok(&payload)]);
        let mut too_long = payload.into_bytes();
        too_long.extend_from_slice(b"A*0000\n");
        assert!(matches!(&decode_all(&too_long)[..], [Err(FrameError::TooLong { length: 257 })]));
    }

    #[test]
    fn encoder_refuses_what_the_icd_forbids() {
        assert_eq!(encode_frame(&"A".repeat(241)), Err(EncodeError::TooLong(241)));
        assert!(encode_frame(&"A".repeat(240)).is_ok());
        assert_eq!(encode_frame("1 FILL*"), Err(EncodeError::BadByte(b'*')));
        assert_eq!(encode_frame("1 FILL\n"), Err(EncodeError::BadByte(b'\n')));
    }
}
