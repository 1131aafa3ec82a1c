//! `PumpLink`: the tokio client around the sans-IO [`PumpSession`], over any byte stream —
//! a UART or pseudo-terminal (`tokio_serial::SerialStream`) or an in-memory `tokio::io::duplex`.
//!
//! One task owns the stream and the session; [`PumpLink`] handles send it requests over a channel.
//! Events and the frame trace come out on their own channels, stamped by the [`RigClock`].

use std::collections::HashMap;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::clock::RigClock;
use crate::protocol::frame::FrameError;
use crate::protocol::reply::{BolusReply, PumpIdentity, SettingsReport, StatusReport, active_alarms_from_fields};
use crate::protocol::session::{
    PumpSession, ReceivedLine, RequestFailure, RequestId, RetryReason, SessionConfig, SessionOutput, Submission,
};
use crate::protocol::{AlarmCode, Command, Fields, Response};

use super::error::LinkError;
use super::record::{Direction, FrameRecord, PumpNotice};

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
}

impl PumpLink {
    /// Starts the link task over `stream`. `device` names the port in every error and record.
    /// The task ends when every handle is dropped or the stream fails; its result says why.
    pub fn spawn<S>(
        stream: S,
        device: &str,
        clock: RigClock,
        config: SessionConfig,
    ) -> (PumpLink, LinkStreams, JoinHandle<String>)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
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
        };
        let handle = tokio::spawn(task.run(stream, rx));
        (PumpLink { requests, device: device.into() }, LinkStreams { notices, frames }, handle)
    }

    /// The port this link talks over.
    pub fn device(&self) -> &str {
        &self.device
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
        let text = command.to_string();
        let (response, attempts) = self.submit(Submission::Command(command)).await?;
        response.outcome.map_err(|e| LinkError::from_pump_error(&self.device, &text, &e, attempts))
    }

    async fn typed<T>(
        &self,
        command: Command,
        decode: impl FnOnce(&Fields) -> Result<T, crate::protocol::fields::FieldError>,
    ) -> Result<T, LinkError> {
        let text = command.to_string();
        let fields = self.request(command).await?;
        decode(&fields).map_err(|e| LinkError::Protocol {
            device: self.device.to_string(),
            command: text,
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
    waiting: HashMap<RequestId, (String, Reply)>,
}

impl LinkTask {
    async fn run<S>(mut self, stream: S, mut requests: mpsc::Receiver<LinkRequest>) -> String
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut buf = vec![0u8; 1024];
        let reason = loop {
            if let Err(e) = self.write_due(&mut writer).await {
                break format!("write failed: {e}");
            }
            self.dispatch();
            let deadline = self.session.poll_timeout().map(|t| self.clock.instant(t));
            tokio::select! {
                read = reader.read(&mut buf) => match read {
                    Ok(0) => break "the port closed (end of file)".to_string(),
                    Ok(n) => self.session.handle_input(self.clock.now(), &buf[..n]),
                    Err(e) => break format!("read failed: {e}"),
                },
                request = requests.recv() => match request {
                    Some(LinkRequest { submission, reply }) => {
                        let text = describe(&submission);
                        let id = self.session.submit(submission);
                        self.waiting.insert(id, (text, reply));
                    }
                    // Every handle dropped: the rig is done with the pump.
                    None => break "closed by the rig".to_string(),
                },
                _ = sleep_until_opt(deadline) => self.session.handle_timeout(self.clock.now()),
            }
            self.dispatch();
        };
        let at = self.clock.now();
        for (_, (_, reply)) in self.waiting.drain() {
            let _ = reply.send(Err(LinkError::Disconnected { device: self.device.clone(), reason: reason.clone() }));
        }
        let _ = self.notices.send(PumpNotice::LinkLost { at, reason: reason.clone() });
        reason
    }

    async fn write_due<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> std::io::Result<()> {
        while let Some(frame) = self.session.poll_transmit(self.clock.now()) {
            writer.write_all(&frame).await?;
            writer.flush().await?;
            let line = String::from_utf8_lossy(frame.strip_suffix(b"\r\n").unwrap_or(&frame)).into_owned();
            let record = FrameRecord { at: self.clock.now(), direction: Direction::ToPump, line, note: None };
            let _ = self.frames.send(record);
        }
        Ok(())
    }

    fn trace(&self, at: crate::clock::RigTime, direction: Direction, line: String, note: Option<String>) {
        let _ = self.frames.send(FrameRecord { at, direction, line, note });
    }

    fn dispatch(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                SessionOutput::Completed { id, attempts, result, first_answer, .. } => {
                    let Some((command, reply)) = self.waiting.remove(&id) else { continue };
                    let device = self.device.clone();
                    let outcome =
                        result.map(|response| Completion { response, attempts, first_answer }).map_err(|failure| {
                            match failure {
                                RequestFailure::Timeout { attempts, timeout } => {
                                    LinkError::Timeout { device, command, attempts, timeout }
                                }
                                RequestFailure::CrcRejected { attempts } => {
                                    LinkError::CrcRejected { device, command, attempts }
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
                    };
                    let note = format!("retry: attempt {attempt} of seq {seq} ({why})");
                    self.trace(self.clock.now(), Direction::ToPump, String::new(), Some(note));
                }
                SessionOutput::Received { at, line } => match line {
                    ReceivedLine::Frame(payload) => {
                        let line = crate::protocol::Frame { payload }.to_string();
                        self.trace(at, Direction::FromPump, line, None)
                    }
                    ReceivedLine::Invalid(e) => {
                        let (line, note) = match &e {
                            FrameError::BadCrc { line, .. } | FrameError::Malformed { line, .. } => {
                                (line.clone(), format!("dropped: {e}"))
                            }
                            FrameError::TooLong { .. } => (String::new(), format!("dropped: {e}")),
                        };
                        self.trace(at, Direction::FromPump, line, Some(note))
                    }
                },
                SessionOutput::Anomaly { at, description } => {
                    self.trace(at, Direction::FromPump, String::new(), Some(format!("anomaly: {description}")))
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
