//! The pump's side of its serial service port (ICD part 1): bytes in, frames, requests,
//! responses and events, bytes out.
//!
//! Frames are cut by the protocol's [`FrameDecoder`]; a frame with a bad CRC (or one whose CRC
//! cannot be read at all) is answered `0 ERR CRC` and has no effect; an over-long line is
//! discarded without an answer. A request's payload goes through [`Request::parse`]: `SYNTAX`
//! or `UNKNOWN` is answered with the request's seq when it could be read, else 0. The port
//! remembers the last request's seq and response: a request repeating that seq is answered from
//! the cache and not executed (SRS-COM-002). Events the firmware emitted are written before the
//! response of the request during which they happened.

use std::time::Duration;

use super::faults::{Fault, FaultSet};
use super::firmware::Firmware;
use super::fluid::Plant;
use crate::protocol::crc16::crc16;
use crate::protocol::frame::encode_with_crc;
use crate::protocol::{ErrCode, FrameDecoder, FrameError, Request, Response};

/// The pump's UART and its request handling.
#[derive(Debug)]
pub struct ServicePort {
    faults: FaultSet,
    decoder: FrameDecoder,
    /// The last request's seq and the response it got.
    cache: Option<(u16, Response)>,
    out: Vec<u8>,
    corrupt_next_response: bool,
}

/// A frame, CRC and line end included. Not `encode_frame`: the pump's own payloads are valid
/// by construction, and this path has no error to report to anyone.
fn frame(payload: &str) -> Vec<u8> {
    encode_with_crc(payload, crc16(payload.as_bytes()))
}

impl ServicePort {
    pub fn new(faults: FaultSet) -> Self {
        Self { faults, decoder: FrameDecoder::new(), cache: None, out: Vec::new(), corrupt_next_response: false }
    }

    /// What a reboot does to the port: the receive buffer and the seq cache are lost. Bytes
    /// already sent stay sent.
    pub fn reset(&mut self) {
        self.decoder = FrameDecoder::new();
        self.cache = None;
    }

    /// The next response frame goes out with a wrong CRC (a bench injection: line noise).
    pub fn corrupt_next_response(&mut self) {
        self.corrupt_next_response = true;
    }

    /// Bytes received at `now`. The plant must be at `now`.
    pub fn receive(&mut self, now: Duration, bytes: &[u8], fw: &mut Firmware, plant: &mut Plant) {
        self.decoder.feed(bytes);
        while let Some(item) = self.decoder.next_frame() {
            match item {
                Ok(f) => {
                    let response = self.answer(now, &f.payload, fw, plant);
                    self.respond(fw, &response);
                }
                Err(FrameError::BadCrc { line, .. }) => {
                    if self.faults.has(Fault::BadCrcExecuted) {
                        if let Some((payload, _)) = line.rsplit_once('*') {
                            self.answer(now, payload, fw, plant);
                        }
                    }
                    self.respond(fw, &Response::err(0, ErrCode::Crc, None));
                }
                // A line without a readable CRC cannot be trusted either: nothing is done.
                Err(FrameError::Malformed { .. }) => self.respond(fw, &Response::err(0, ErrCode::Crc, None)),
                Err(FrameError::TooLong { .. }) => {}
            }
        }
    }

    /// The response to one payload, executing it unless it repeats the cached seq.
    fn answer(&mut self, now: Duration, payload: &str, fw: &mut Firmware, plant: &mut Plant) -> Response {
        let use_cache = !self.faults.has(Fault::RetryReexecutes);
        let (seq, fresh) = match Request::parse(payload) {
            Ok(request) => (request.seq, Ok(request)),
            Err((Some(seq), e)) => (seq, Err(e)),
            Err((None, e)) => return Response::err(0, e.code(), None),
        };
        if use_cache {
            if let Some((cached_seq, cached)) = &self.cache {
                if *cached_seq == seq {
                    return cached.clone();
                }
            }
        }
        let response = match fresh {
            Ok(request) => Response { seq, outcome: fw.execute(now, &request.command, plant) },
            Err(e) => Response::err(seq, e.code(), None),
        };
        self.cache = Some((seq, response.clone()));
        response
    }

    fn respond(&mut self, fw: &mut Firmware, response: &Response) {
        self.flush_events(fw);
        let payload = response.payload();
        let mut crc = crc16(payload.as_bytes());
        if std::mem::take(&mut self.corrupt_next_response) {
            crc ^= 0x5A5A;
        }
        self.out.extend_from_slice(&encode_with_crc(&payload, crc));
    }

    /// Writes the firmware's pending events to the output.
    pub fn flush_events(&mut self, fw: &mut Firmware) {
        for event in fw.take_events() {
            self.out.extend_from_slice(&frame(&event.payload()));
        }
    }

    /// Bytes written since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}
