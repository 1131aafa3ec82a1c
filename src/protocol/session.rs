//! The host's side of the service-port conversation as a sans-IO state machine, after
//! quinn-proto's `Connection` (STYLE.md §1): time is always an argument, outputs are plain data.
//!
//! # Call order
//! 1. [`PumpSession::submit`] queues a request (one is on the wire at a time: the pump caches
//!    only the previous request, so pipelining would make retries unsafe).
//! 2. [`PumpSession::poll_transmit`] hands out the next frame to write; call it until `None`
//!    and write each frame in order. The response timer starts when the frame is taken.
//! 3. [`PumpSession::handle_input`] takes received bytes; [`PumpSession::handle_timeout`] is
//!    called when [`PumpSession::poll_timeout`] has passed.
//! 4. [`PumpSession::poll_output`] drains completions, events, evseq gaps and frame traces.
//!
//! # Retries (ICD: "Retries are safe")
//! On a timeout, or on `0 ERR CRC` (the pump received our frame damaged), the same frame —
//! same `seq` — is sent again, up to [`SessionConfig::max_attempts`] in all. The pump answers a
//! repeated `seq` from its cache and does not execute it again, so a retried `BOLUS` never
//! delivers twice.
//!
//! # Events
//! `evseq` must grow by one per event. A jump (or a restart without `BOOT`) is reported as
//! [`SessionOutput::EventGap`] and the session re-reads `ALARMS` on its own, reporting the
//! result as [`SessionOutput::AlarmsResynced`].

use std::collections::VecDeque;
use std::time::Duration;

use crate::clock::RigTime;

use super::codes::{AlarmCode, ErrCode};
use super::crc16::crc16;
use super::event::{Event, EventKind};
use super::frame::{FrameDecoder, FrameError, ReceivedFrame, encode_frame, encode_with_crc};
use super::inbound::{Inbound, ProtocolViolation};
use super::reply::active_alarms_from_fields;
use super::request::{Command, Request};
use super::response::Response;

/// Timing and retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// How long to wait for a response before sending again (ICD: the pump answers in 50 ms).
    pub response_timeout: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The seq of the session's first request (1–65535; 0 is taken as 1). The pump caches the
    /// previous request's seq and answer whoever sent it, so a host that always started at 1
    /// would have its first request answered from the cache of someone else's `1 ...`: the
    /// rig starts at a random seq and spends its first request on a throw-away `STATUS`
    /// (the link's `PumpLink::synchronise`, above this codec).
    pub first_seq: u16,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { response_timeout: Duration::from_millis(500), max_attempts: 3, first_seq: 1 }
    }
}

impl SessionConfig {
    /// The default policy, starting at a seq drawn at random from 1–65535.
    pub fn with_random_first_seq() -> Self {
        use std::hash::BuildHasher as _;
        let draw = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
        Self { first_seq: (draw % 65_535) as u16 + 1, ..Self::default() }
    }
}

/// Identifies one submitted request, to match its completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Submission {
    /// A normal request: new seq, retried on timeout or `ERR CRC`.
    Command(Command),
    /// Probe for SRS-COM-001: the command with a deliberately wrong CRC. Not retried; the pump
    /// must answer `0 ERR CRC` and do nothing.
    BadCrc(Command),
    /// Probe for SRS-COM-002: the previous request's frame again, same seq, byte for byte.
    /// Not retried. The pump must answer from its cache and not execute it again.
    RepeatLast,
    /// A command, then — as soon as it is answered and before anything else goes out — the
    /// identical frame again (SRS-COM-002). Other requests share the line, so only the session
    /// can keep the two adjacent. Completes with the repeat's answer and `first_answer`.
    CommandThenRepeat(Command),
}

/// Why a request got no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestFailure {
    #[error("no response after {attempts} attempt(s) of {timeout:?} each")]
    Timeout { attempts: u32, timeout: Duration },
    /// Lines came back, but none was a frame the rig could decode: the pump is talking, and the
    /// line (baud rate, wiring, ground, noise) garbles what it says.
    #[error(
        "{} answer line(s) over {attempts} attempt(s), none a valid frame ({bad_crc} with a bad CRC, {unframed} not a frame at all)",
        bad_crc + unframed
    )]
    Undecodable { attempts: u32, bad_crc: u32, unframed: u32 },
    #[error("pump answered `0 ERR CRC` to all {attempts} attempt(s): the line corrupts frames")]
    CrcRejected { attempts: u32 },
    #[error("nothing to repeat: no request was sent yet")]
    NothingToRepeat,
    #[error("payload cannot be framed: {0}")]
    Unframable(String),
}

/// A received line, as decoded, for the evidence log.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceivedLine {
    /// A frame with a valid CRC (whatever its payload means): the line as received, without
    /// its line end (its CRC digits in the case they came in).
    Frame(String),
    /// A line that was not a valid frame; it was dropped.
    Invalid(FrameError),
}

/// Everything the session reports, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOutput {
    /// A submitted request is finished: the pump's response (OK or ERR), or a failure.
    /// `seq` is the seq it went out with; `attempts` how many times it was sent.
    Completed {
        id: RequestId,
        seq: u16,
        attempts: u32,
        result: Result<Response, RequestFailure>,
        /// For [`Submission::CommandThenRepeat`]: the answer to the first sending.
        first_answer: Option<Response>,
    },
    /// The same frame is being sent again.
    Retrying { id: RequestId, seq: u16, attempt: u32, reason: RetryReason },
    /// An unsolicited event, stamped with when its frame arrived.
    Event { at: RigTime, event: Event },
    /// `evseq` did not follow on: events were lost.
    EventGap { at: RigTime, expected: u32, received: u32 },
    /// The `ALARMS` re-read after a gap.
    AlarmsResynced { at: RigTime, active: Vec<AlarmCode> },
    /// A line arrived (trace for the evidence log).
    Received { at: RigTime, line: ReceivedLine },
    /// A valid frame that breaks the ICD, or a response matching nothing outstanding.
    Anomaly { at: RigTime, description: String },
}

/// Why a frame is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    Timeout,
    CrcRejected,
    /// The response timer ran out with only undecodable lines received.
    Undecodable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Submitted by the caller; completes as `Completed`.
    Caller(RequestId),
    /// The session's own `ALARMS` after an evseq gap.
    Resync,
}

#[derive(Debug)]
struct Queued {
    purpose: Purpose,
    submission: Submission,
}

#[derive(Debug)]
struct Pending {
    purpose: Purpose,
    seq: u16,
    frame: Vec<u8>,
    attempts: u32,
    /// `None` until the frame has been handed to the transport.
    deadline: Option<RigTime>,
    retry: bool,
    /// A bad-CRC probe expects `0 ERR CRC` as its answer.
    expects_crc_error: bool,
    /// Send the frame once more when answered ([`Submission::CommandThenRepeat`]).
    repeat_after: bool,
    /// The first answer, once the repeat is on its way.
    first_answer: Option<Response>,
    /// Lines received while the frame was on the wire that failed their CRC, and lines that
    /// were not frames at all (no CRC, too long): a garbling line, not a silent pump.
    bad_crc: u32,
    unframed: u32,
    /// Whether the current attempt received such a line.
    undecodable_this_attempt: bool,
}

/// The host side of one service-port connection.
#[derive(Debug)]
pub struct PumpSession {
    config: SessionConfig,
    decoder: FrameDecoder,
    next_id: u64,
    /// The last seq used; `first_seq - 1` before the first request.
    last_seq: u16,
    /// The last normal request sent, for the repeat probe.
    last_frame: Option<(u16, Vec<u8>)>,
    pending: Option<Pending>,
    queue: VecDeque<Queued>,
    /// Frames ready for the transport, the pending one's first.
    transmit: VecDeque<Vec<u8>>,
    last_evseq: Option<u32>,
    resync_queued: bool,
    outputs: VecDeque<SessionOutput>,
}

impl PumpSession {
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config,
            decoder: FrameDecoder::new(),
            next_id: 0,
            last_seq: config.first_seq.max(1) - 1,
            last_frame: None,
            pending: None,
            queue: VecDeque::new(),
            transmit: VecDeque::new(),
            last_evseq: None,
            resync_queued: false,
            outputs: VecDeque::new(),
        }
    }

    /// Queues a request; its completion comes out of [`PumpSession::poll_output`] with this id.
    pub fn submit(&mut self, submission: Submission) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.queue.push_back(Queued { purpose: Purpose::Caller(id), submission });
        self.start_next();
        id
    }

    /// Next frame to write, if any. Starts the response timer of the frame it hands out.
    pub fn poll_transmit(&mut self, now: RigTime) -> Option<Vec<u8>> {
        let frame = self.transmit.pop_front()?;
        if let Some(p) = self.pending.as_mut().filter(|p| p.deadline.is_none()) {
            p.deadline = Some(now + self.config.response_timeout);
        }
        Some(frame)
    }

    /// When [`PumpSession::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<RigTime> {
        self.pending.as_ref().and_then(|p| p.deadline)
    }

    /// Takes bytes as they came off the line.
    pub fn handle_input(&mut self, now: RigTime, mut bytes: &[u8]) {
        loop {
            let taken = self.decoder.feed(bytes);
            bytes = bytes.get(taken..).unwrap_or_default();
            while let Some(line) = self.decoder.next_received() {
                self.on_line(now, line);
            }
            if bytes.is_empty() {
                return;
            }
        }
    }

    fn on_line(&mut self, now: RigTime, line: Result<ReceivedFrame, FrameError>) {
        match line {
            Ok(frame) => {
                let inbound = Inbound::parse(frame.payload());
                self.outputs
                    .push_back(SessionOutput::Received { at: now, line: ReceivedLine::Frame(frame.into_line()) });
                match inbound {
                    Ok(Inbound::Response(r)) => self.on_response(now, r),
                    Ok(Inbound::Event(e)) => self.on_event(now, e),
                    Err(ProtocolViolation { payload, reason }) => self.outputs.push_back(SessionOutput::Anomaly {
                        at: now,
                        description: format!("{payload:?} breaks the ICD: {reason}"),
                    }),
                }
            }
            // A damaged response, or a line without a readable CRC, is dropped: the timeout
            // retries the same seq, and the pump answers that from its cache. It is counted, so
            // that a request that only ever gets such lines says so instead of "no response".
            Err(e) => {
                if let Some(p) = self.pending.as_mut().filter(|p| p.deadline.is_some()) {
                    match e {
                        FrameError::BadCrc { .. } => p.bad_crc += 1,
                        FrameError::Malformed { .. } | FrameError::TooLong { .. } => p.unframed += 1,
                    }
                    p.undecodable_this_attempt = true;
                }
                self.outputs.push_back(SessionOutput::Received { at: now, line: ReceivedLine::Invalid(e) })
            }
        }
    }

    /// Handles an expired response timer: send again, or give up.
    pub fn handle_timeout(&mut self, now: RigTime) {
        let Some(p) = self.pending.as_mut() else { return };
        if p.deadline.is_none_or(|d| d > now) {
            return;
        }
        if p.retry && p.attempts < self.config.max_attempts {
            let reason = if p.undecodable_this_attempt { RetryReason::Undecodable } else { RetryReason::Timeout };
            self.resend(reason);
        } else {
            let failure = if p.bad_crc + p.unframed > 0 {
                RequestFailure::Undecodable { attempts: p.attempts, bad_crc: p.bad_crc, unframed: p.unframed }
            } else {
                RequestFailure::Timeout { attempts: p.attempts, timeout: self.config.response_timeout }
            };
            self.finish(now, Err(failure));
        }
    }

    pub fn poll_output(&mut self) -> Option<SessionOutput> {
        self.outputs.pop_front()
    }

    /// Whether anything is queued or outstanding.
    pub fn is_idle(&self) -> bool {
        self.pending.is_none() && self.queue.is_empty()
    }

    fn on_response(&mut self, now: RigTime, response: Response) {
        let Some(p) = self.pending.as_ref().filter(|p| p.deadline.is_some()) else {
            return self.anomaly(now, format!("response {:?} while no request is outstanding", response.payload()));
        };
        let crc_rejection = response.seq == 0 && matches!(&response.outcome, Err(e) if e.code == ErrCode::Crc);
        if crc_rejection && !p.expects_crc_error {
            if p.retry && p.attempts < self.config.max_attempts {
                self.resend(RetryReason::CrcRejected);
            } else {
                let attempts = p.attempts;
                self.finish(now, Err(RequestFailure::CrcRejected { attempts }));
            }
        } else if response.seq == p.seq && p.repeat_after {
            // First answer in: the identical frame goes out again at once, not as a retry.
            if let Some(p) = self.pending.as_mut() {
                p.repeat_after = false;
                p.first_answer = Some(response);
                p.retry = false;
                p.attempts = 1;
                p.deadline = None;
                self.transmit.push_back(p.frame.clone());
            }
        } else if response.seq == p.seq || (crc_rejection && p.expects_crc_error) {
            self.finish(now, Ok(response));
        } else {
            let (got, want) = (response.payload(), p.seq);
            self.anomaly(now, format!("response {got:?} does not match the outstanding seq {want}"));
        }
    }

    fn on_event(&mut self, now: RigTime, event: Event) {
        let is_boot = matches!(event.kind, EventKind::Boot { .. });
        let expected = self.last_evseq.map(|last| last.wrapping_add(1));
        let gap = match expected {
            // A fresh boot restarts numbering at 1.
            _ if is_boot && event.evseq == 1 => None,
            Some(expected) if event.evseq != expected => Some(expected),
            // First event seen on this connection, not a boot: we joined late; nothing to compare.
            _ => None,
        };
        self.last_evseq = Some(event.evseq);
        if let Some(expected) = gap {
            self.outputs.push_back(SessionOutput::EventGap { at: now, expected, received: event.evseq });
            if !self.resync_queued {
                self.resync_queued = true;
                self.queue
                    .push_back(Queued { purpose: Purpose::Resync, submission: Submission::Command(Command::Alarms) });
            }
        }
        self.outputs.push_back(SessionOutput::Event { at: now, event });
        self.start_next();
    }

    fn anomaly(&mut self, at: RigTime, description: String) {
        self.outputs.push_back(SessionOutput::Anomaly { at, description });
    }

    fn resend(&mut self, reason: RetryReason) {
        if let Some(p) = self.pending.as_mut() {
            p.attempts += 1;
            p.deadline = None;
            p.undecodable_this_attempt = false;
            self.transmit.push_back(p.frame.clone());
            if let Purpose::Caller(id) = p.purpose {
                self.outputs.push_back(SessionOutput::Retrying { id, seq: p.seq, attempt: p.attempts, reason });
            }
        }
    }

    fn finish(&mut self, now: RigTime, result: Result<Response, RequestFailure>) {
        let Some(p) = self.pending.take() else { return };
        match p.purpose {
            Purpose::Caller(id) => self.outputs.push_back(SessionOutput::Completed {
                id,
                seq: p.seq,
                attempts: p.attempts,
                result,
                first_answer: p.first_answer,
            }),
            Purpose::Resync => {
                self.resync_queued = false;
                let active = match &result {
                    Ok(Response { outcome: Ok(fields), .. }) => {
                        active_alarms_from_fields(fields).map_err(|e| e.to_string())
                    }
                    Ok(r) => Err(format!("pump answered {:?}", r.payload())),
                    Err(e) => Err(e.to_string()),
                };
                self.outputs.push_back(match active {
                    Ok(active) => SessionOutput::AlarmsResynced { at: now, active },
                    Err(why) => SessionOutput::Anomaly {
                        at: now,
                        description: format!("ALARMS re-read after an evseq gap failed: {why}"),
                    },
                });
            }
        }
        self.start_next();
    }

    fn next_seq(&mut self) -> u16 {
        self.last_seq = if self.last_seq == u16::MAX { 1 } else { self.last_seq + 1 };
        self.last_seq
    }

    /// Puts the next queued request on the wire if none is outstanding.
    fn start_next(&mut self) {
        while self.pending.is_none() {
            let Some(Queued { purpose, submission }) = self.queue.pop_front() else { return };
            let repeat_after = matches!(submission, Submission::CommandThenRepeat(_));
            let prepared = match submission {
                Submission::Command(command) | Submission::CommandThenRepeat(command) => {
                    let seq = self.next_seq();
                    encode_frame(&Request::new(seq, command).payload()).map(|frame| {
                        self.last_frame = Some((seq, frame.clone()));
                        (seq, frame, true, false)
                    })
                }
                Submission::BadCrc(command) => {
                    let seq = self.next_seq();
                    let payload = Request::new(seq, command).payload();
                    // Flip bits of the true CRC: guaranteed to differ.
                    Ok((seq, encode_with_crc(&payload, crc16(payload.as_bytes()) ^ 0x5A5A), false, true))
                }
                Submission::RepeatLast => match self.last_frame.clone() {
                    Some((seq, frame)) => Ok((seq, frame, false, false)),
                    None => {
                        self.fail_unsent(purpose, RequestFailure::NothingToRepeat);
                        continue;
                    }
                },
            };
            match prepared {
                Ok((seq, frame, retry, expects_crc_error)) => {
                    self.transmit.push_back(frame.clone());
                    self.pending = Some(Pending {
                        purpose,
                        seq,
                        frame,
                        attempts: 1,
                        deadline: None,
                        retry,
                        expects_crc_error,
                        repeat_after,
                        first_answer: None,
                        bad_crc: 0,
                        unframed: 0,
                        undecodable_this_attempt: false,
                    });
                }
                Err(e) => self.fail_unsent(purpose, RequestFailure::Unframable(e.to_string())),
            }
        }
    }

    fn fail_unsent(&mut self, purpose: Purpose, failure: RequestFailure) {
        if let Purpose::Caller(id) = purpose {
            let result = Err(failure);
            self.outputs.push_back(SessionOutput::Completed { id, seq: 0, attempts: 0, result, first_answer: None });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::fields::Fields;
    use crate::protocol::frame::encode_frame;

    fn t(ms: u64) -> RigTime {
        RigTime::from_millis(ms)
    }

    fn frame(payload: &str) -> Vec<u8> {
        encode_frame(payload).unwrap()
    }

    fn drain(s: &mut PumpSession) -> Vec<SessionOutput> {
        std::iter::from_fn(|| s.poll_output()).filter(|o| !matches!(o, SessionOutput::Received { .. })).collect()
    }

    fn sent(s: &mut PumpSession, now: RigTime) -> Vec<String> {
        std::iter::from_fn(|| s.poll_transmit(now)).map(|f| String::from_utf8(f).unwrap()).collect()
    }

    #[test]
    fn seq_starts_at_one_and_frames_are_byte_exact() {
        let mut s = PumpSession::new(SessionConfig::default());
        s.submit(Submission::Command(Command::Program { basal_ul_h: 500.0 }));
        assert_eq!(sent(&mut s, t(0)), [String::from_utf8(frame("1 PROGRAM basal_ul_h=500")).unwrap()]);
        s.handle_input(t(10), &frame("1 OK"));
        let out = drain(&mut s);
        assert!(matches!(&out[..], [SessionOutput::Completed { seq: 1, attempts: 1, result: Ok(_), .. }]), "{out:?}");
    }

    #[test]
    fn the_first_seq_is_the_configured_one_and_wraps_to_one() {
        let mut s = PumpSession::new(SessionConfig { first_seq: 65535, ..SessionConfig::default() });
        s.submit(Submission::Command(Command::Status));
        assert_eq!(sent(&mut s, t(0)), [String::from_utf8(frame("65535 STATUS")).unwrap()]);
        s.handle_input(t(1), &frame("65535 OK state=STOPPED"));
        s.submit(Submission::Command(Command::Id));
        assert_eq!(sent(&mut s, t(2)), [String::from_utf8(frame("1 ID")).unwrap()], "65535 wraps to 1, never 0");
    }

    #[test]
    fn random_first_seqs_are_valid_seqs() {
        for _ in 0..200 {
            let c = SessionConfig::with_random_first_seq();
            assert!(c.first_seq >= 1, "{}", c.first_seq);
        }
        let draws: std::collections::BTreeSet<u16> =
            (0..50).map(|_| SessionConfig::with_random_first_seq().first_seq).collect();
        assert!(draws.len() > 40, "50 draws gave only {} distinct seqs: not random", draws.len());
    }

    #[test]
    fn one_request_on_the_wire_at_a_time() {
        let mut s = PumpSession::new(SessionConfig::default());
        s.submit(Submission::Command(Command::Start));
        s.submit(Submission::Command(Command::Status));
        assert_eq!(sent(&mut s, t(0)).len(), 1);
        s.handle_input(t(5), &frame("1 OK"));
        assert_eq!(sent(&mut s, t(5)), [String::from_utf8(frame("2 STATUS")).unwrap()]);
    }

    #[test]
    fn timeout_resends_the_same_seq_then_gives_up() {
        let mut s = PumpSession::new(SessionConfig::default());
        let id = s.submit(Submission::Command(Command::Bolus));
        let first = sent(&mut s, t(0));
        assert_eq!(s.poll_timeout(), Some(t(500)));
        s.handle_timeout(t(499));
        assert!(sent(&mut s, t(499)).is_empty(), "not due yet");
        s.handle_timeout(t(500));
        assert_eq!(sent(&mut s, t(500)), first, "retry is byte-identical: same seq");
        s.handle_timeout(t(1000));
        assert_eq!(sent(&mut s, t(1000)), first);
        s.handle_timeout(t(1500));
        assert!(sent(&mut s, t(1500)).is_empty());
        let out = drain(&mut s);
        let timeout = Duration::from_millis(500);
        assert_eq!(
            out,
            [
                SessionOutput::Retrying { id, seq: 1, attempt: 2, reason: RetryReason::Timeout },
                SessionOutput::Retrying { id, seq: 1, attempt: 3, reason: RetryReason::Timeout },
                SessionOutput::Completed {
                    id,
                    seq: 1,
                    attempts: 3,
                    result: Err(RequestFailure::Timeout { attempts: 3, timeout }),
                    first_answer: None,
                },
            ]
        );
        // The next request takes a new seq.
        s.submit(Submission::Command(Command::Status));
        assert_eq!(sent(&mut s, t(1600)), [String::from_utf8(frame("2 STATUS")).unwrap()]);
    }

    #[test]
    fn crc_rejection_resends_same_seq_and_late_cached_answer_completes() {
        let mut s = PumpSession::new(SessionConfig::default());
        let id = s.submit(Submission::Command(Command::Bolus));
        let first = sent(&mut s, t(0));
        s.handle_input(t(20), &frame("0 ERR CRC"));
        assert_eq!(sent(&mut s, t(20)), first);
        s.handle_input(t(40), &frame("1 OK granted=1 id=1"));
        let out = drain(&mut s);
        let ok = Response::ok(1, Fields::new().with("granted", 1).with("id", 1));
        assert_eq!(
            out,
            [
                SessionOutput::Retrying { id, seq: 1, attempt: 2, reason: RetryReason::CrcRejected },
                SessionOutput::Completed { id, seq: 1, attempts: 2, result: Ok(ok), first_answer: None },
            ]
        );
    }

    #[test]
    fn persistent_crc_rejection_fails_typed() {
        let mut s = PumpSession::new(SessionConfig::default());
        s.submit(Submission::Command(Command::Start));
        for i in 0..3 {
            assert_eq!(sent(&mut s, t(i)).len(), 1);
            s.handle_input(t(i), &frame("0 ERR CRC"));
        }
        let out = drain(&mut s);
        assert!(matches!(
            out.last(),
            Some(SessionOutput::Completed { result: Err(RequestFailure::CrcRejected { attempts: 3 }), .. })
        ));
    }

    #[test]
    fn damaged_response_is_dropped_and_retry_recovers() {
        let mut s = PumpSession::new(SessionConfig::default());
        s.submit(Submission::Command(Command::Status));
        sent(&mut s, t(0));
        s.handle_input(t(10), b"1 OK state=STOPPED*0000\r\n");
        let received: Vec<_> = std::iter::from_fn(|| s.poll_output()).collect();
        assert!(matches!(
            &received[..],
            [SessionOutput::Received { line: ReceivedLine::Invalid(FrameError::BadCrc { .. }), .. }]
        ));
        s.handle_timeout(t(500));
        assert_eq!(sent(&mut s, t(500)).len(), 1);
        s.handle_input(t(510), &frame("1 OK"));
        assert!(matches!(
            &drain(&mut s)[..],
            [SessionOutput::Retrying { .. }, SessionOutput::Completed { attempts: 2, result: Ok(_), .. }]
        ));
    }

    #[test]
    fn events_interleaved_before_the_response() {
        let mut s = PumpSession::new(SessionConfig::default());
        s.submit(Submission::Command(Command::Start));
        sent(&mut s, t(0));
        let mut bytes = frame("! 3 120345 STATE state=RUNNING");
        bytes.extend(frame("1 OK"));
        s.handle_input(t(7), &bytes);
        let out = drain(&mut s);
        assert!(
            matches!(&out[..], [SessionOutput::Event { at, event }, SessionOutput::Completed { result: Ok(_), .. }]
            if *at == t(7) && event.evseq == 3 && event.pump_ms == 120345)
        );
    }

    #[test]
    fn evseq_gap_is_reported_and_alarms_are_reread() {
        let mut s = PumpSession::new(SessionConfig::default());
        s.handle_input(t(0), &frame("! 1 0 BOOT reason=POWER_ON"));
        s.handle_input(t(1), &frame("! 2 10 STATE state=RUNNING"));
        s.handle_input(t(2), &frame("! 5 20 ALARM code=OCCLUSION priority=HIGH"));
        let out = drain(&mut s);
        assert!(matches!(out[2], SessionOutput::EventGap { expected: 3, received: 5, .. }), "{out:?}");
        assert_eq!(sent(&mut s, t(2)), [String::from_utf8(frame("1 ALARMS")).unwrap()]);
        s.handle_input(t(3), &frame("1 OK active=OCCLUSION,THERAPY_INTERRUPTED"));
        assert_eq!(
            drain(&mut s),
            [SessionOutput::AlarmsResynced {
                at: t(3),
                active: vec![AlarmCode::Occlusion, AlarmCode::TherapyInterrupted]
            }]
        );
    }

    #[test]
    fn boot_restarts_numbering_without_a_gap_but_a_silent_restart_is_a_gap() {
        let mut s = PumpSession::new(SessionConfig::default());
        s.handle_input(t(0), &frame("! 7 100 STATE state=RUNNING"));
        s.handle_input(t(1), &frame("! 1 0 BOOT reason=WATCHDOG"));
        s.handle_input(t(2), &frame("! 2 5 STATE state=ALARM"));
        assert!(drain(&mut s).iter().all(|o| matches!(o, SessionOutput::Event { .. })));
        s.handle_input(t(3), &frame("! 1 0 STATE state=STOPPED"));
        assert!(drain(&mut s).iter().any(|o| matches!(o, SessionOutput::EventGap { expected: 3, received: 1, .. })));
    }

    #[test]
    fn seq_wraps_from_65535_to_1() {
        let mut s = PumpSession::new(SessionConfig::default());
        s.last_seq = 65534;
        for expected in ["65535 ID", "1 ID"] {
            s.submit(Submission::Command(Command::Id));
            assert_eq!(sent(&mut s, t(0)), [String::from_utf8(frame(expected)).unwrap()]);
            s.handle_input(t(0), &frame(&format!("{} OK", expected.split(' ').next().unwrap())));
        }
    }

    #[test]
    fn bad_crc_probe_expects_crc_error_and_is_not_retried() {
        let mut s = PumpSession::new(SessionConfig::default());
        let id = s.submit(Submission::BadCrc(Command::Start));
        let wire = sent(&mut s, t(0));
        let good = String::from_utf8(frame("1 START")).unwrap();
        assert_eq!(wire.len(), 1);
        assert!(wire[0].starts_with("1 START*") && wire[0] != good, "{wire:?}");
        s.handle_input(t(5), &frame("0 ERR CRC"));
        assert_eq!(
            drain(&mut s),
            [SessionOutput::Completed {
                id,
                seq: 1,
                attempts: 1,
                result: Ok(Response::err(0, ErrCode::Crc, None)),
                first_answer: None
            }]
        );
        assert!(sent(&mut s, t(5)).is_empty());
    }

    #[test]
    fn repeat_probe_resends_previous_frame_verbatim() {
        let mut s = PumpSession::new(SessionConfig::default());
        let id0 = s.submit(Submission::RepeatLast);
        assert!(
            matches!(&drain(&mut s)[..], [SessionOutput::Completed { id, result: Err(RequestFailure::NothingToRepeat), .. }] if *id == id0)
        );
        s.submit(Submission::Command(Command::Bolus));
        let first = sent(&mut s, t(0));
        s.handle_input(t(1), &frame("1 OK granted=1 id=1"));
        s.submit(Submission::RepeatLast);
        assert_eq!(sent(&mut s, t(2)), first);
        s.handle_input(t(3), &frame("1 OK granted=1 id=1"));
        let out = drain(&mut s);
        assert!(matches!(out.last(), Some(SessionOutput::Completed { seq: 1, attempts: 1, result: Ok(_), .. })));
        // The next normal request moves on.
        s.submit(Submission::Command(Command::Status));
        assert_eq!(sent(&mut s, t(4)), [String::from_utf8(frame("2 STATUS")).unwrap()]);
    }

    #[test]
    fn command_then_repeat_keeps_the_two_frames_adjacent() {
        let mut s = PumpSession::new(SessionConfig::default());
        let id = s.submit(Submission::CommandThenRepeat(Command::Bolus));
        s.submit(Submission::Command(Command::Status)); // a poll queued meanwhile
        let first = sent(&mut s, t(0));
        assert_eq!(first, [String::from_utf8(frame("1 BOLUS")).unwrap()]);
        s.handle_input(t(5), &frame("1 OK granted=1 id=7"));
        assert_eq!(sent(&mut s, t(5)), first, "the identical frame, before the queued STATUS");
        s.handle_input(t(9), &frame("1 OK granted=1 id=7"));
        let granted = Response::ok(1, Fields::new().with("granted", 1).with("id", 7));
        assert_eq!(
            drain(&mut s),
            [SessionOutput::Completed {
                id,
                seq: 1,
                attempts: 1,
                result: Ok(granted.clone()),
                first_answer: Some(granted)
            }]
        );
        assert_eq!(sent(&mut s, t(9)), [String::from_utf8(frame("2 STATUS")).unwrap()]);
    }

    #[test]
    fn stray_and_mismatched_responses_are_anomalies() {
        let mut s = PumpSession::new(SessionConfig::default());
        s.handle_input(t(0), &frame("4 OK"));
        s.submit(Submission::Command(Command::Status));
        sent(&mut s, t(0));
        s.handle_input(t(1), &frame("9 OK"));
        s.handle_input(t(2), &frame("1 MAYBE"));
        let out = drain(&mut s);
        assert_eq!(out.iter().filter(|o| matches!(o, SessionOutput::Anomaly { .. })).count(), 3, "{out:?}");
        assert!(!s.is_idle(), "still waiting for seq 1");
    }
}
