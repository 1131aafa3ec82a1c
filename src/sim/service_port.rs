//! The pump's side of its serial service port (ICD part 1): bytes in, frames, requests,
//! responses and events, bytes out.
//!
//! Lines are cut by the protocol's [`FrameDecoder`] and judged by its rules: an empty line is
//! ignored; an over-long one is discarded without an answer; a line without a readable CRC, or
//! whose CRC does not match, is answered `0 ERR CRC` and has no effect, the seq cache included;
//! a good CRC over a payload that breaks the payload rules is answered `ERR SYNTAX` with the seq
//! it starts with (else 0). A request's payload goes through [`Request::parse`]: `SYNTAX` or
//! `UNKNOWN` is answered with the request's seq when it could be read, else 0. The port
//! remembers the last request's seq and response: a request repeating that seq is answered from
//! the cache and not executed (SRS-COM-002). Events the firmware emitted are written before the
//! response of the request during which they happened.
//!
//! Bench injections on the line (ICD part 2): [`ServicePort::corrupt_frames`] damages each frame,
//! either direction, with a given probability — one byte of its payload or CRC replaced by
//! another printable character that is neither a line end nor the same letter in the other case,
//! drawn from the twin's seed; [`ServicePort::silence`] passes nothing either way for a while
//! (bytes received are dropped, responses and events sent are lost).

use std::sync::Arc;
use std::time::Duration;

use super::faults::{Fault, FaultSet};
use super::firmware::Firmware;
use super::fluid::Plant;
use super::noise::Rng;
use crate::protocol::crc16::crc16;
use crate::protocol::frame::{decode_line, encode_with_crc, line_payload};
use crate::protocol::number::parse_uint;
use crate::protocol::{ErrCode, FrameDecoder, FrameError, Request, Response};

/// The random stream of the frame-corruption injection (see [`Rng::stream`]).
const CORRUPTION_STREAM: u64 = 3;

/// The pump's UART and its request handling.
#[derive(Debug)]
pub struct ServicePort {
    faults: FaultSet,
    decoder: FrameDecoder,
    /// The last request's seq and the response it got.
    /// The last answer and its seq, shared (not copied) between the cache and the line.
    cache: Option<(u16, Arc<Response>)>,
    out: Vec<u8>,
    corrupt_next_response: bool,
    /// Probability, per mille, that a frame is damaged on the line.
    corrupt_permille: u16,
    rng: Rng,
    /// The line passes nothing before this instant.
    silent_until: Option<Duration>,
}

/// A frame, CRC and line end included. Not `encode_frame`: the pump's own payloads are valid
/// by construction, and this path has no error to report to anyone.
fn frame(payload: &str) -> Vec<u8> {
    encode_with_crc(payload, crc16(payload.as_bytes()))
}

impl ServicePort {
    /// A port whose line injections draw from `seed`.
    pub fn new(faults: FaultSet, seed: u64) -> Self {
        Self {
            faults,
            decoder: FrameDecoder::new(),
            cache: None,
            out: Vec::new(),
            corrupt_next_response: false,
            corrupt_permille: 0,
            rng: Rng::stream(seed, CORRUPTION_STREAM),
            silent_until: None,
        }
    }

    /// What a reboot does to the port: the receive buffer and the seq cache are lost. Bytes
    /// already sent stay sent; the line's injections go on (they are the bench's, not the pump's).
    pub fn reset(&mut self) {
        self.decoder.clear();
        self.cache = None;
    }

    /// The next response frame goes out with a wrong CRC (a bench injection: line noise).
    pub fn corrupt_next_response(&mut self) {
        self.corrupt_next_response = true;
    }

    /// From now on each frame, either direction, is damaged with probability `permille`/1000
    /// (capped at 1000); 0 stops it.
    pub fn corrupt_frames(&mut self, permille: u16) {
        self.corrupt_permille = permille.min(1000);
    }

    /// The line passes nothing either way from `now` for `for_`.
    pub fn silence(&mut self, now: Duration, for_: Duration) {
        self.silent_until = Some(now.saturating_add(for_));
    }

    fn silent(&self, now: Duration) -> bool {
        self.silent_until.is_some_and(|until| now < until)
    }

    /// Bytes received at `now`. The plant must be at `now`.
    pub fn receive(&mut self, now: Duration, bytes: &[u8], fw: &mut Firmware, plant: &mut Plant) {
        if self.silent(now) {
            return;
        }
        let mut rest = bytes;
        loop {
            let taken = self.decoder.feed(rest);
            rest = rest.get(taken..).unwrap_or_default();
            while let Some(line) = self.decoder.next_line() {
                match line {
                    Ok(mut line) => {
                        if !line.is_empty() && self.roll_corruption() {
                            damage_line(&mut line, &mut self.rng);
                        }
                        if let Some(decoded) = decode_line(&line) {
                            self.handle(now, decoded, fw, plant);
                        }
                    }
                    // Discarded without an answer.
                    Err(_too_long) => {}
                }
            }
            if rest.is_empty() {
                return;
            }
        }
    }

    fn handle(
        &mut self,
        now: Duration,
        decoded: Result<crate::protocol::Frame, FrameError>,
        fw: &mut Firmware,
        plant: &mut Plant,
    ) {
        let response = match decoded {
            Ok(f) => self.answer(now, &f.payload, fw, plant),
            Err(FrameError::BadCrc { line, .. }) => {
                if self.faults.has(Fault::BadCrcExecuted) {
                    if let Some((payload, _)) = line.rsplit_once('*') {
                        self.answer(now, payload, fw, plant);
                    }
                }
                Arc::new(Response::err(0, ErrCode::Crc, None))
            }
            Err(FrameError::Malformed { line, .. }) => self.answer_malformed(&line),
            Err(FrameError::TooLong { .. }) => return,
        };
        self.respond(now, fw, &response);
    }

    /// The response to one payload, executing it unless it repeats the cached seq.
    fn answer(&mut self, now: Duration, payload: &str, fw: &mut Firmware, plant: &mut Plant) -> Arc<Response> {
        let (seq, fresh) = match Request::parse(payload) {
            Ok(request) => (request.seq, Ok(request)),
            Err((Some(seq), e)) => (seq, Err(e)),
            Err((None, e)) => return Arc::new(Response::err(0, e.code(), None)),
        };
        if let Some(cached) = self.cached(seq) {
            return cached;
        }
        let response = Arc::new(match fresh {
            Ok(request) => Response { seq, outcome: fw.execute(now, &request.command, plant) },
            Err(e) => Response::err(seq, e.code(), None),
        });
        self.cache = Some((seq, response.clone()));
        response
    }

    /// `ERR SYNTAX` for a good CRC over a payload that breaks the rules, with the seq the payload
    /// starts with (cached like any request's answer), else 0.
    fn answer_malformed(&mut self, line: &str) -> Arc<Response> {
        let payload = line_payload(line);
        let seq = payload
            .split(' ')
            .next()
            .and_then(|token| parse_uint(token).ok())
            .and_then(|s| u16::try_from(s).ok())
            .filter(|&s| s != 0);
        let Some(seq) = seq else {
            return Arc::new(Response::err(0, ErrCode::Syntax, None));
        };
        if let Some(cached) = self.cached(seq) {
            return cached;
        }
        let response = Arc::new(Response::err(seq, ErrCode::Syntax, None));
        self.cache = Some((seq, response.clone()));
        response
    }

    fn cached(&self, seq: u16) -> Option<Arc<Response>> {
        if self.faults.has(Fault::RetryReexecutes) {
            return None;
        }
        self.cache.as_ref().filter(|(cached_seq, _)| *cached_seq == seq).map(|(_, r)| r.clone())
    }

    fn respond(&mut self, now: Duration, fw: &mut Firmware, response: &Response) {
        self.flush_events(now, fw);
        let payload = response.payload();
        let mut crc = crc16(payload.as_bytes());
        if std::mem::take(&mut self.corrupt_next_response) {
            crc ^= 0x5A5A;
        }
        self.send(now, encode_with_crc(&payload, crc));
    }

    /// Writes the firmware's pending events, emitted at `now`, to the line.
    pub fn flush_events(&mut self, now: Duration, fw: &mut Firmware) {
        for event in fw.take_events() {
            self.send(now, frame(&event.payload()));
        }
    }

    /// Puts one frame (with its `\r\n`) on the line at `now`, as the line's injections let it.
    fn send(&mut self, now: Duration, mut bytes: Vec<u8>) {
        if self.silent(now) {
            return;
        }
        if self.roll_corruption() {
            let end = bytes.len().saturating_sub(2);
            let (line, _line_end) = bytes.split_at_mut(end);
            let mut damaged = line.to_vec();
            damage_line(&mut damaged, &mut self.rng);
            line.copy_from_slice(&damaged);
        }
        if self.out.is_empty() {
            // The usual case, one frame between two takes: no copy.
            self.out = bytes;
        } else {
            self.out.extend_from_slice(&bytes);
        }
    }

    /// Whether the frame at hand is to be damaged.
    fn roll_corruption(&mut self) -> bool {
        match self.corrupt_permille {
            0 => false,
            p if p >= 1000 => true,
            p => self.rng.uniform() * 1000.0 < f64::from(p),
        }
    }

    /// Bytes written since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

/// Replaces one byte of a line's payload or CRC (not the `*` before the CRC) by another
/// printable character that is not the same letter in the other case. `line` has no line end.
pub fn damage_line(line: &mut [u8], rng: &mut Rng) {
    // The '*' separating payload and CRC, when the line has one, is neither.
    let separator = line.len().checked_sub(5).filter(|&i| line.get(i) == Some(&b'*'));
    let eligible = line.len() - usize::from(separator.is_some());
    if eligible == 0 {
        return;
    }
    let mut index = pick(rng, eligible);
    if separator.is_some_and(|s| index >= s) {
        index += 1;
    }
    let Some(byte) = line.get_mut(index) else { return };
    let original = *byte;
    let other_case = if original.is_ascii_alphabetic() { original ^ 0x20 } else { original };
    let candidates: Vec<u8> = (0x20..=0x7Eu8).filter(|&c| c != original && c != other_case).collect();
    if let Some(&replacement) = candidates.get(pick(rng, candidates.len())) {
        *byte = replacement;
    }
}

/// Uniform in `0..n` (`n` > 0).
fn pick(rng: &mut Rng, n: usize) -> usize {
    ((rng.uniform() * n as f64) as usize).min(n.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_changes_one_payload_or_crc_byte_to_another_printable_character() {
        let mut rng = Rng::new(7);
        let framed = frame("12 OK granted=1 id=4");
        let original = framed[..framed.len() - 2].to_vec();
        assert!(matches!(decode_line(&original), Some(Ok(_))));
        let mut positions = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let mut line = original.clone();
            damage_line(&mut line, &mut rng);
            let changed: Vec<usize> = (0..line.len()).filter(|&i| line[i] != original[i]).collect();
            assert_eq!(changed.len(), 1, "{:?}", String::from_utf8_lossy(&line));
            let i = changed[0];
            assert_ne!(i, original.len() - 5, "the '*' is neither payload nor CRC");
            assert!((0x20..=0x7E).contains(&line[i]));
            assert!(!line[i].eq_ignore_ascii_case(&original[i]), "not only a change of case");
            positions.insert(i);
            // Whatever changed, the line is a bad-CRC frame now.
            assert!(matches!(decode_line(&line), Some(Err(FrameError::BadCrc { .. }))), "{line:?}");
        }
        assert_eq!(positions.len(), original.len() - 1, "every payload and CRC byte can be hit");
    }
}
