//! `PumpLink`: the tokio client around the sans-IO [`PumpSession`], over any byte stream —
//! a UART or pseudo-terminal (`tokio_serial::SerialStream`), the in-process twin's port
//! ([`crate::twin_host::InProcessPort`]) or an in-memory `tokio::io::duplex` (tests).
//!
//! One task owns the stream and the session; [`PumpLink`] handles send it requests over a channel.
//! Events and the frame trace come out on their own channels, stamped by the [`RigClock`]: a
//! request when its write started (and when the write returned), a line from the pump when the
//! read that delivered its first byte returned (and when its last byte came). Each read is cut at
//! its line ends before it reaches the session, so a line split over two reads keeps the time of
//! its first byte. Answers slower than the ICD's 50 ms are reported as
//! [`PumpNotice::SlowAnswer`].
//!
//! Under the in-process twin the task runs on the caller's runtime (virtual time,
//! [`PumpLink::spawn`]). On a real-time bench it owns an OS thread at real-time priority where the
//! OS allows, with a current-thread runtime of its own on which the port is opened
//! ([`PumpLink::spawn_on_thread`]): a loaded machine then delays the pump conversation by
//! microseconds, not by a scheduler's time slice.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::clock::{RigClock, RigTime};
use crate::protocol::frame::{FrameError, line_payload};
use crate::protocol::reply::{BolusReply, PumpIdentity, SettingsReport, StatusReport, active_alarms_from_fields};
use crate::protocol::session::{
    PumpSession, ReceivedLine, RequestFailure, RequestId, RetryReason, SessionConfig, SessionOutput, Submission,
};
use crate::protocol::{AlarmCode, Command, Fields, Response};

use super::error::LinkError;
use super::record::{Direction, FrameRecord, ICD_ANSWER_WITHIN, PumpNotice};
use crate::realtime::{Scheduling, StartError, spawn_realtime};

/// A finished request: the answer, how many sendings it took, and for a command-then-repeat
/// the answer to the first sending.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub response: Response,
    pub attempts: u32,
    pub first_answer: Option<Response>,
}

/// How the session's first, throw-away request was answered ([`PumpLink::synchronise`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Synchronised {
    /// A STATUS reply: no one else's request held our seq.
    Status(StatusReport),
    /// Not a STATUS reply: the pump's cache held an earlier request with the same seq, and
    /// answered it again (`payload`, without executing anything).
    AnsweredFromCache { seq: u16, payload: String },
}

type Reply = oneshot::Sender<Result<Completion, LinkError>>;

/// How long opening a port waits for a lock that is being released (see
/// [`PumpLink::open_serial_on_thread`]); a port held longer is in use by someone else.
pub const RELEASE_PATIENCE: Duration = Duration::from_secs(1);

struct LinkRequest {
    submission: Submission,
    reply: Reply,
}

/// The receiving ends of what the link reports. Unbounded so that a slow consumer never stalls
/// the pump conversation; every record is small.
pub struct LinkStreams {
    /// Pump events, evseq gaps, re-reads, and the loss of the link.
    pub notices: mpsc::UnboundedReceiver<PumpNotice>,
    /// Every frame in and out, for the evidence log.
    pub frames: mpsc::UnboundedReceiver<FrameRecord>,
}

/// A handle to the pump's service port. Cheap to clone; requests are served one at a time in
/// the order they were made.
#[derive(Clone)]
pub struct PumpLink {
    requests: mpsc::Sender<LinkRequest>,
    device: Arc<str>,
    /// How the link's own thread is scheduled; `None` for a task on the caller's runtime.
    thread: Option<Arc<Scheduling>>,
}

impl PumpLink {
    /// Starts the link task over `stream` on the caller's runtime (the in-process twin, under
    /// virtual time; tests). `device` names the port in every error and record. The task ends
    /// when every handle is dropped or the stream fails; its result says why.
    pub fn spawn<S>(
        stream: S,
        device: &str,
        clock: RigClock,
        config: SessionConfig,
    ) -> (PumpLink, LinkStreams, JoinHandle<String>)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (link, streams, task, rx) = Self::parts(device, clock, config, None);
        let handle = tokio::spawn(task.run(stream, rx, std::future::pending()));
        (link, streams, handle)
    }

    /// Starts the link on an OS thread of its own (`rig-pump-link`), at `SCHED_FIFO` where the OS
    /// allows, running a current-thread tokio runtime; `open` runs on that thread, so a stream
    /// that registers with the runtime it is created on (a `tokio_serial::SerialStream`) is
    /// served by the link's runtime, not the caller's. For real-time benches: the twin in its own
    /// process and real hardware. Never under a paused clock.
    ///
    /// The returned task resolves with the link's end, like [`PumpLink::spawn`]'s; aborting it
    /// closes the link (the thread ends at once, as when every handle is dropped).
    pub async fn spawn_on_thread<S, F>(
        open: F,
        device: &str,
        clock: RigClock,
        config: SessionConfig,
    ) -> Result<(PumpLink, LinkStreams, JoinHandle<String>), LinkError>
    where
        S: AsyncRead + AsyncWrite + 'static,
        F: FnOnce() -> Result<S, LinkError> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let (mut link, streams, task, rx) = Self::parts(device, clock, config, None);
        let started = spawn_realtime("rig-pump-link", move || {
            let stream = open()?;
            let stopped = async {
                let _ = stopped.await;
            };
            Ok(((), task.run(stream, rx, stopped)))
        })
        .await
        .map_err(|e| match e {
            StartError::Setup(e) => e,
            StartError::Thread(reason) => LinkError::Open {
                device: device.to_string(),
                reason,
                hint: "check the process's thread and file-descriptor limits".into(),
            },
        })?;
        let done = started.done;
        link.thread = Some(Arc::new(started.scheduling));
        let handle = tokio::spawn(async move {
            // Dropped when this task ends or is aborted: the link thread then stops.
            let _stop = stop;
            done.await.unwrap_or_else(|_| "the link thread ended without saying why".to_string())
        });
        Ok((link, streams, handle))
    }

    /// [`PumpLink::spawn_on_thread`] over the serial port at `path` (opened 8N1 at `baud` on the
    /// link's thread). A port still locked by a link that is closing (the previous case's, whose
    /// thread releases it a moment after its bench was dropped) is waited for, up to
    /// [`RELEASE_PATIENCE`].
    pub async fn open_serial_on_thread(
        path: &str,
        baud: u32,
        kind: super::serial::PortKind,
        clock: RigClock,
        config: SessionConfig,
    ) -> Result<(PumpLink, LinkStreams, JoinHandle<String>), LinkError> {
        let owned = path.to_string();
        let open = move || super::serial::open_port_patiently(&owned, baud, kind, RELEASE_PATIENCE);
        Self::spawn_on_thread(open, path, clock, config).await
    }

    fn parts(
        device: &str,
        clock: RigClock,
        config: SessionConfig,
        thread: Option<Arc<Scheduling>>,
    ) -> (PumpLink, LinkStreams, LinkTask, mpsc::Receiver<LinkRequest>) {
        let (requests, rx) = mpsc::channel(16);
        let (notices_tx, notices) = mpsc::unbounded_channel();
        let (frames_tx, frames) = mpsc::unbounded_channel();
        let task = LinkTask {
            session: PumpSession::new(config),
            clock,
            device: device.to_string(),
            notices: notices_tx,
            frames: frames_tx,
            waiting: HashMap::new(),
            line_started: None,
            on_wire: None,
        };
        (PumpLink { requests, device: device.into(), thread }, LinkStreams { notices, frames }, task, rx)
    }

    /// The port this link talks over.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// How the link's own thread is scheduled ([`PumpLink::spawn_on_thread`]); `None` when the
    /// link is a task on the caller's runtime.
    pub fn thread_scheduling(&self) -> Option<&Scheduling> {
        self.thread.as_deref()
    }

    /// Sends a submission and returns the pump's response as is (OK or ERR), with the number
    /// of attempts it took. Only link failures are errors here.
    pub async fn submit(&self, submission: Submission) -> Result<(Response, u32), LinkError> {
        self.complete(submission).await.map(|c| (c.response, c.attempts))
    }

    async fn complete(&self, submission: Submission) -> Result<Completion, LinkError> {
        let (reply, answer) = oneshot::channel();
        let lost =
            || LinkError::Disconnected { device: self.device.to_string(), reason: "the link task has ended".into() };
        self.requests.send(LinkRequest { submission, reply }).await.map_err(|_| lost())?;
        answer.await.map_err(|_| lost())?
    }

    /// SRS-COM-002 probe: `command`, then the identical frame (same seq) again, adjacent on the
    /// wire whatever else is queued. Returns the first answer and the repeat's answer.
    pub async fn command_then_repeat(&self, command: Command) -> Result<(Response, Response), LinkError> {
        let text = command.to_string();
        let c = self.complete(Submission::CommandThenRepeat(command)).await?;
        let first = c.first_answer.ok_or_else(|| LinkError::Protocol {
            device: self.device.to_string(),
            command: text,
            detail: "the first answer of a repeated request went missing".into(),
        })?;
        Ok((first, c.response))
    }

    /// Sends a command; an `ERR` answer becomes the typed [`LinkError`] for its code.
    pub async fn request(&self, command: Command) -> Result<Fields, LinkError> {
        self.fields(&command).await
    }

    /// [`PumpLink::request`] for a command the caller keeps. The command is printed only for an
    /// error: a poll answered OK formats nothing.
    async fn fields(&self, command: &Command) -> Result<Fields, LinkError> {
        let (response, attempts) = self.submit(Submission::Command(command.clone())).await?;
        response.outcome.map_err(|e| LinkError::from_pump_error(&self.device, &command.to_string(), &e, attempts))
    }

    async fn typed<T>(
        &self,
        command: Command,
        decode: impl FnOnce(&Fields) -> Result<T, crate::protocol::fields::FieldError>,
    ) -> Result<T, LinkError> {
        let fields = self.fields(&command).await?;
        decode(&fields).map_err(|e| LinkError::Protocol {
            device: self.device.to_string(),
            command: command.to_string(),
            detail: format!("{e} in `{fields}`"),
        })
    }

    async fn expect_empty(&self, command: Command) -> Result<(), LinkError> {
        self.typed(command, |f| f.only(&[])).await
    }

    /// The session's first request: a throw-away `STATUS`. The pump answers a request whose seq
    /// equals the previous request's from its cache, whoever sent that one (a service tool, a
    /// killed run); spending the first seq on a request whose answer the rig can do without
    /// makes every later seq differ from the cached one. Tells whether the answer came from the
    /// cache (anything but a STATUS reply).
    pub async fn synchronise(&self) -> Result<Synchronised, LinkError> {
        let (response, _) = self.submit(Submission::Command(Command::Status)).await?;
        let status = response.outcome.as_ref().ok().and_then(|fields| StatusReport::from_fields(fields).ok());
        Ok(match status {
            Some(status) => Synchronised::Status(status),
            None => Synchronised::AnsweredFromCache { seq: response.seq, payload: response.payload() },
        })
    }

    pub async fn id(&self) -> Result<PumpIdentity, LinkError> {
        self.typed(Command::Id, PumpIdentity::from_fields).await
    }

    /// The programmed settings (`SETTINGS`), to read back what a refused command left unchanged.
    pub async fn settings(&self) -> Result<SettingsReport, LinkError> {
        self.typed(Command::Settings, SettingsReport::from_fields).await
    }

    pub async fn status(&self) -> Result<StatusReport, LinkError> {
        self.typed(Command::Status, StatusReport::from_fields).await
    }

    pub async fn alarms(&self) -> Result<Vec<AlarmCode>, LinkError> {
        self.typed(Command::Alarms, active_alarms_from_fields).await
    }

    pub async fn bolus(&self) -> Result<BolusReply, LinkError> {
        self.typed(Command::Bolus, BolusReply::from_fields).await
    }

    pub async fn program(&self, basal_ul_h: f64) -> Result<(), LinkError> {
        self.expect_empty(Command::Program { basal_ul_h }).await
    }

    pub async fn bolus_config(&self, dose_ul: f64, lockout_s: u32, max_per_24h: u32) -> Result<(), LinkError> {
        self.expect_empty(Command::BolusConfig { dose_ul, lockout_s, max_per_24h }).await
    }

    pub async fn limit(&self, max_24h_ul: f64) -> Result<(), LinkError> {
        self.expect_empty(Command::Limit { max_24h_ul }).await
    }

    pub async fn alarm_config(&self, low_reservoir_ul: f64, occlusion_kpa: f64) -> Result<(), LinkError> {
        self.expect_empty(Command::AlarmConfig { low_reservoir_ul, occlusion_kpa }).await
    }

    pub async fn fill(&self, volume_ul: f64) -> Result<(), LinkError> {
        self.expect_empty(Command::Fill { volume_ul }).await
    }

    pub async fn start(&self) -> Result<(), LinkError> {
        self.expect_empty(Command::Start).await
    }

    pub async fn stop(&self) -> Result<(), LinkError> {
        self.expect_empty(Command::Stop).await
    }

    pub async fn ack(&self, code: AlarmCode) -> Result<(), LinkError> {
        self.expect_empty(Command::Ack { code }).await
    }

    /// SRS-COM-001 probe: `command` with a wrong CRC; returns what the pump answered.
    pub async fn probe_bad_crc(&self, command: Command) -> Result<Response, LinkError> {
        self.submit(Submission::BadCrc(command)).await.map(|(r, _)| r)
    }

    /// SRS-COM-002 probe: the previous request again, same seq; returns what the pump answered.
    pub async fn probe_repeat_last(&self) -> Result<Response, LinkError> {
        self.submit(Submission::RepeatLast).await.map(|(r, _)| r)
    }
}

struct LinkTask {
    session: PumpSession,
    clock: RigClock,
    device: String,
    notices: mpsc::UnboundedSender<PumpNotice>,
    frames: mpsc::UnboundedSender<FrameRecord>,
    /// Each request in the session with its reply; the submission is kept (not its text) so
    /// that it is printed only if it fails.
    waiting: HashMap<RequestId, (Submission, Reply)>,
    /// When the first byte of the line being received arrived; `None` between lines.
    line_started: Option<RigTime>,
    /// The request frame on the wire, until its answer's first byte arrives.
    on_wire: Option<OnWire>,
}

/// The last request frame written, for timing its answer.
struct OnWire {
    /// When the write of its latest attempt started.
    at: RigTime,
    /// The line as written, without its line end.
    line: String,
}

impl OnWire {
    /// The payload as sent, without its CRC.
    fn payload(&self) -> &str {
        line_payload(&self.line)
    }

    /// Its seq as written (an answer carries it, or `0` for `ERR CRC`).
    fn seq(&self) -> &str {
        self.payload().split(' ').next().unwrap_or_default()
    }
}

impl LinkTask {
    async fn run<S, F>(mut self, stream: S, mut requests: mpsc::Receiver<LinkRequest>, stop: F) -> String
    where
        S: AsyncRead + AsyncWrite,
        F: Future<Output = ()>,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut buf = vec![0u8; 1024];
        let mut stop = std::pin::pin!(stop);
        let reason = loop {
            if let Err(e) = self.write_due(&mut writer).await {
                break format!("write failed: {e}");
            }
            self.dispatch(None);
            let deadline = self.session.poll_timeout().map(|t| self.clock.instant(t));
            tokio::select! {
                read = reader.read(&mut buf) => match read {
                    Ok(0) => break "the port closed (end of file)".to_string(),
                    Ok(n) => {
                        let at = self.clock.now();
                        self.receive(at, buf.get(..n).unwrap_or_default());
                    }
                    Err(e) => break format!("read failed: {e}"),
                },
                request = requests.recv() => match request {
                    Some(LinkRequest { submission, reply }) => {
                        let id = self.session.submit(submission.clone());
                        self.waiting.insert(id, (submission, reply));
                    }
                    // Every handle dropped: the rig is done with the pump.
                    None => break "closed by the rig".to_string(),
                },
                _ = sleep_until_opt(deadline) => self.session.handle_timeout(self.clock.now()),
                () = &mut stop => break "closed by the rig (the bench was closed)".to_string(),
            }
            self.dispatch(None);
        };
        let at = self.clock.now();
        for (_, (_, reply)) in self.waiting.drain() {
            let _ = reply.send(Err(LinkError::Disconnected { device: self.device.clone(), reason: reason.clone() }));
        }
        let _ = self.notices.send(PumpNotice::LinkLost { at, reason: reason.clone() });
        reason
    }

    /// Hands what one read returned (at `read_at`) to the session a line at a time, each piece
    /// stamped with the time its line's first byte arrived, and traces each completed line with
    /// the time its end arrived.
    fn receive(&mut self, read_at: RigTime, bytes: &[u8]) {
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let started = *self.line_started.get_or_insert(read_at);
            self.session.handle_input(started, piece);
            let complete = piece.ends_with(b"\n");
            if complete {
                self.line_started = None;
            }
            self.dispatch(complete.then_some(read_at));
        }
    }

    async fn write_due<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> std::io::Result<()> {
        loop {
            // Stamped before the write: the request is on its way from here, and the session's
            // response timer starts now too.
            let at = self.clock.now();
            let Some(frame) = self.session.poll_transmit(at) else { return Ok(()) };
            writer.write_all(&frame).await?;
            writer.flush().await?;
            let done = self.clock.now();
            let line = frame_line(frame);
            self.on_wire = Some(OnWire { at, line: line.clone() });
            let done_at = (done > at).then_some(done);
            let _ = self.frames.send(FrameRecord { at, done_at, direction: Direction::ToPump, line, note: None });
        }
    }

    fn trace(&self, at: RigTime, done_at: Option<RigTime>, direction: Direction, line: String, note: Option<String>) {
        let done_at = done_at.filter(|&d| d > at);
        let _ = self.frames.send(FrameRecord { at, done_at, direction, line, note });
    }

    /// Times an answer from the pump (a response frame whose first byte arrived at `at`) against
    /// the request on the wire.
    fn time_answer(&mut self, at: RigTime, payload: &str) {
        let seq = payload.split(' ').next().unwrap_or_default();
        if payload.starts_with('!') || !self.on_wire.as_ref().is_some_and(|w| w.seq() == seq || seq == "0") {
            return;
        }
        let Some(sent) = self.on_wire.take() else { return };
        let latency = at.since(sent.at);
        if latency > ICD_ANSWER_WITHIN {
            let _ = self.notices.send(PumpNotice::SlowAnswer { at, command: sent.payload().to_string(), latency });
        }
    }

    /// Hands out what the session produced; `line_done` is when the line just fed ended, if it did.
    fn dispatch(&mut self, line_done: Option<RigTime>) {
        while let Some(output) = self.session.poll_output() {
            match output {
                SessionOutput::Completed { id, attempts, result, first_answer, .. } => {
                    let Some((submission, reply)) = self.waiting.remove(&id) else { continue };
                    let outcome =
                        result.map(|response| Completion { response, attempts, first_answer }).map_err(|failure| {
                            let device = self.device.clone();
                            let command = describe(&submission);
                            match failure {
                                RequestFailure::Timeout { attempts, timeout } => {
                                    LinkError::Timeout { device, command, attempts, timeout }
                                }
                                RequestFailure::CrcRejected { attempts } => {
                                    LinkError::CrcRejected { device, command, attempts }
                                }
                                RequestFailure::Undecodable { attempts, bad_crc, unframed } => {
                                    LinkError::Undecodable { device, command, attempts, bad_crc, unframed }
                                }
                                other => LinkError::Protocol { device, command, detail: other.to_string() },
                            }
                        });
                    let _ = reply.send(outcome);
                }
                SessionOutput::Retrying { seq, attempt, reason, .. } => {
                    let why = match reason {
                        RetryReason::Timeout => "no response",
                        RetryReason::CrcRejected => "pump answered ERR CRC",
                        RetryReason::Undecodable => "only undecodable answers",
                    };
                    let note = format!("retry: attempt {attempt} of seq {seq} ({why})");
                    self.trace(self.clock.now(), None, Direction::ToPump, String::new(), Some(note));
                }
                SessionOutput::Received { at, line } => match line {
                    ReceivedLine::Frame(line) => {
                        self.time_answer(at, line_payload(&line));
                        self.trace(at, line_done, Direction::FromPump, line, None)
                    }
                    ReceivedLine::Invalid(e) => {
                        let (line, note) = match &e {
                            FrameError::BadCrc { line, .. } | FrameError::Malformed { line, .. } => {
                                (line.clone(), format!("dropped: {e}"))
                            }
                            FrameError::TooLong { .. } => (String::new(), format!("dropped: {e}")),
                        };
                        self.trace(at, line_done, Direction::FromPump, line, Some(note))
                    }
                },
                SessionOutput::Anomaly { at, description } => {
                    self.trace(at, None, Direction::FromPump, String::new(), Some(format!("anomaly: {description}")))
                }
                SessionOutput::Event { at, event } => {
                    let _ = self.notices.send(PumpNotice::Event { at, event });
                }
                SessionOutput::EventGap { at, expected, received } => {
                    let _ = self.notices.send(PumpNotice::EventGap { at, expected, received });
                }
                SessionOutput::AlarmsResynced { at, active } => {
                    let _ = self.notices.send(PumpNotice::AlarmsResynced { at, active });
                }
            }
        }
    }
}

/// A frame as written, as the text of its line (without the line end). The session encodes
/// ASCII, so the frame's own buffer becomes the line.
fn frame_line(mut frame: Vec<u8>) -> String {
    if frame.ends_with(b"\r\n") {
        frame.truncate(frame.len() - 2);
    }
    String::from_utf8(frame).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn describe(submission: &Submission) -> String {
    match submission {
        Submission::Command(c) => c.to_string(),
        Submission::BadCrc(c) => format!("{c} (bad-CRC probe)"),
        Submission::RepeatLast => "repeat of the previous request".to_string(),
        Submission::CommandThenRepeat(c) => format!("{c} (then repeated with its seq)"),
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
