//! The rig's side of the bench bus: a blocking client (embedded-hal traits are blocking) whose
//! handles implement `embedded_hal::i2c::I2c` ([`BusI2c`]) and
//! `embedded_hal::digital::OutputPin` ([`BusPin`]), so that [`crate::drivers::FlowSensor`] and
//! [`crate::drivers::OcclusionValve`] run over it unchanged.
//!
//! One connection serves every handle (`Arc<Mutex<_>>`): requests are strictly one at a time,
//! each waiting for its response line or a timeout (ICD part 2: "one request at a time"). A
//! client that stops waiting closes the connection, since a late answer could not be told from
//! the next one: after a timeout, an I/O error or an answer that does not fit its request, the
//! connection is closed and every later request fails at once ([`BusError::Broken`]) until
//! [`BusClient::reconnect`] opens a new one to the same socket and says `HELLO` again. The
//! valve's safe-state path, [`BusPin::set_low`](embedded_hal::digital::OutputPin::set_low), does that on its own: it reconnects and retries
//! until the bench confirms the line at 0, within [`SAFE_LOW_ATTEMPTS`] and [`SAFE_LOW_WITHIN`].
//!
//! The bus has no repeated start: `I2c::transaction` sends each `Operation` as its own
//! `I2C aa W hex` or `I2C aa R n` (stop between them), and `write_read` is a write then a read.
//! The SF06-LF sensor needs nothing more.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use embedded_hal::digital;
use embedded_hal::i2c::{self, NoAcknowledgeSource, Operation};

use super::codec::{BusParseError, BusRequest, BusResponse, Inject, InjectKind, LineReader, MAX_READ, MAX_WRITE};

/// How long a request waits for its response by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts [`BusPin::set_low`](embedded_hal::digital::OutputPin::set_low) makes to get the line confirmed at 0, the first included.
pub const SAFE_LOW_ATTEMPTS: u32 = 3;
/// Time [`BusPin::set_low`](embedded_hal::digital::OutputPin::set_low) allows itself for all its attempts.
pub const SAFE_LOW_WITHIN: Duration = Duration::from_secs(2);

/// A bench bus failure. Every variant names the socket.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("{}", connect_message(path, source))]
    Connect { path: PathBuf, source: io::Error },
    #[error("bench bus {}: I/O error during `{request}`: {source}", path.display())]
    Io { path: PathBuf, request: String, source: io::Error },
    #[error(
        "bench bus {}: no response to `{request}` within {timeout:?}; is the bench stuck or \
         overloaded?",
        path.display()
    )]
    Timeout { path: PathBuf, request: String, timeout: Duration },
    #[error(
        "bench bus {}: the bench closed the connection during `{request}`; did `rig sim` stop?",
        path.display()
    )]
    Closed { path: PathBuf, request: String },
    #[error(
        "bench bus {}: bad response to `{request}`: {error}; is the other end a bench bus (ICD part 2)?",
        path.display()
    )]
    Protocol { path: PathBuf, request: String, error: BusParseError },
    #[error("bench bus {}: the bench refused `{request}`: {reason}", path.display())]
    Refused { path: PathBuf, request: String, reason: String },
    /// `ERR unsupported`: a bench without this injection (a real bench has none).
    #[error("bench bus {}: the bench does not support `{request}` (ERR unsupported)", path.display())]
    Unsupported { path: PathBuf, request: String },
    #[error(
        "bench bus {}: the connection failed earlier and was closed; reconnect",
        path.display()
    )]
    Broken { path: PathBuf },
    /// [`BusPin::set_low`](embedded_hal::digital::OutputPin::set_low) could not get the line confirmed at 0.
    #[error(
        "bench bus {}: line not confirmed at 0 after {attempts} attempt(s) and {reconnects} \
         reconnect(s) in {elapsed:.1?}: {last}",
        path.display()
    )]
    NotConfirmedLow { path: PathBuf, attempts: u32, reconnects: u32, elapsed: Duration, last: Box<BusError> },
}

fn connect_message(path: &Path, source: &io::Error) -> String {
    let p = path.display();
    match source.kind() {
        io::ErrorKind::NotFound => format!(
            "no bench bus socket at {p}: is `rig sim` running, and is this the socket path it \
             printed? ({source})"
        ),
        io::ErrorKind::ConnectionRefused => format!(
            "bench bus socket {p} refused the connection: is `rig sim` running? (the socket file \
             may be left over from a bench that has stopped) ({source})"
        ),
        io::ErrorKind::PermissionDenied => {
            format!("bench bus socket {p}: permission denied; is it owned by another user? ({source})")
        }
        _ => format!("cannot connect to bench bus socket {p}: {source}; is `rig sim` running?"),
    }
}

impl BusError {
    /// The socket path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            BusError::Connect { path, .. }
            | BusError::Io { path, .. }
            | BusError::Timeout { path, .. }
            | BusError::Closed { path, .. }
            | BusError::Protocol { path, .. }
            | BusError::Refused { path, .. }
            | BusError::Unsupported { path, .. }
            | BusError::Broken { path }
            | BusError::NotConfirmedLow { path, .. } => path,
        }
    }

    /// Whether a new connection could help: the stream failed or fell out of step, as opposed
    /// to the bench refusing the request.
    pub fn is_connection_failure(&self) -> bool {
        matches!(
            self,
            BusError::Connect { .. }
                | BusError::Io { .. }
                | BusError::Timeout { .. }
                | BusError::Closed { .. }
                | BusError::Protocol { .. }
                | BusError::Broken { .. }
        )
    }
}

/// What `HELLO` said: the bench's name and the injections it supports (none from a bench that
/// answers the older `OK bench=<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchHello {
    pub bench: String,
    pub inject: BTreeSet<InjectKind>,
}

/// The one stream all handles share; `None` once closed after a failure.
#[derive(Debug)]
struct Connection {
    path: PathBuf,
    stream: Option<UnixStream>,
    reader: LineReader,
    timeout: Duration,
}

impl Connection {
    /// Connects to `path` and says `HELLO`, within `timeout` (or `deadline`, if sooner).
    fn open(path: &Path, timeout: Duration, deadline: Option<Instant>) -> Result<(Connection, BenchHello), BusError> {
        let connect_err = |source| BusError::Connect { path: path.to_path_buf(), source };
        let stream = UnixStream::connect(path).map_err(connect_err)?;
        // A bench that stops reading must not block a request forever either.
        stream.set_write_timeout(Some(timeout)).map_err(connect_err)?;
        let mut conn =
            Connection { path: path.to_path_buf(), stream: Some(stream), reader: LineReader::new(), timeout };
        let hello = match conn.request(&BusRequest::Hello, deadline)? {
            BusResponse::Hello { bench, inject } => BenchHello { bench, inject },
            other => return Err(unexpected(path, &BusRequest::Hello, &other)),
        };
        Ok((conn, hello))
    }

    /// Sends one request and waits for its response line, until the timeout or `deadline`,
    /// whichever comes first. A failure of the stream closes it.
    fn request(&mut self, request: &BusRequest, deadline: Option<Instant>) -> Result<BusResponse, BusError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(BusError::Broken { path: self.path.clone() });
        };
        let mut wait = self.timeout;
        if let Some(deadline) = deadline {
            wait = wait.min(deadline.saturating_duration_since(Instant::now()));
        }
        let result = exchange(stream, &mut self.reader, &self.path, request, wait);
        if result.as_ref().is_err_and(BusError::is_connection_failure) {
            self.close();
        }
        result
    }

    /// Closes the stream: the bench sees the client stop waiting, and no late answer can be
    /// taken for the next request's.
    fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        self.reader.clear();
    }
}

/// One request line out, one response line back, within `wait`.
fn exchange(
    stream: &mut UnixStream,
    reader: &mut LineReader,
    path: &Path,
    request: &BusRequest,
    wait: Duration,
) -> Result<BusResponse, BusError> {
    let text = request.to_line();
    let failure = |source: io::Error| io_failure(path, &text, wait, source);
    if wait.is_zero() {
        return Err(failure(io::ErrorKind::TimedOut.into()));
    }
    let mut line = text.clone().into_bytes();
    line.push(b'\n');
    stream.write_all(&line).map_err(failure)?;

    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 256];
    let line = loop {
        if let Some(line) = reader.next_line() {
            break line;
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(failure(io::ErrorKind::TimedOut.into()));
        }
        let read = stream.set_read_timeout(Some(remaining)).and_then(|()| stream.read(&mut buf));
        match read {
            Ok(0) => return Err(failure(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => {
                // Everything after the first line would be an answer to nothing: the reader
                // keeps it, and the parse below finds the stream out of step if it matters.
                let mut rest = buf.get(..n).unwrap_or_default();
                while !rest.is_empty() {
                    let taken = reader.feed(rest);
                    if taken == 0 {
                        return Err(failure(io::Error::other("the bench sent more lines than were asked for")));
                    }
                    rest = rest.get(taken..).unwrap_or_default();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failure(e)),
        }
    };
    let protocol = |error| BusError::Protocol { path: path.to_path_buf(), request: text.clone(), error };
    let line = line.map_err(|too_long| protocol(too_long.into()))?;
    if reader.pending() > 0 || reader.next_line().is_some() {
        // More than one line came back for one request: a late answer to an earlier one.
        return Err(protocol(BusParseError::UnexpectedResponse { request: text.clone(), line }));
    }
    match BusResponse::parse_for(request, &line).map_err(protocol)? {
        BusResponse::Err(reason) => Err(BusError::Refused { path: path.to_path_buf(), request: text, reason }),
        response => Ok(response),
    }
}

/// Classifies a stream failure: a timeout (`WouldBlock` is how a socket timeout reports),
/// the bench going away, or another I/O error.
fn io_failure(path: &Path, request: &str, timeout: Duration, source: io::Error) -> BusError {
    let (path, request) = (path.to_path_buf(), request.to_string());
    match source.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => BusError::Timeout { path, request, timeout },
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
            BusError::Closed { path, request }
        }
        _ => BusError::Io { path, request, source },
    }
}

/// A response `parse_for` admitted but the caller cannot use (kept for robustness: the
/// match on the response must cover every variant).
fn unexpected(path: &Path, request: &BusRequest, response: &BusResponse) -> BusError {
    BusError::Protocol {
        path: path.to_path_buf(),
        request: request.to_line(),
        error: BusParseError::UnexpectedResponse { request: request.to_line(), line: response.to_line() },
    }
}

type Shared = Arc<Mutex<Connection>>;

/// The shared connection, locked. A poisoned lock (a thread panicked mid-request) means the
/// stream may be out of step: it is closed, and the caller sees it broken until a reconnect.
fn lock(conn: &Shared) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|poisoned| {
        let mut guard = poisoned.into_inner();
        guard.close();
        guard
    })
}

/// Runs one request on the shared connection.
fn request(conn: &Shared, request: &BusRequest, deadline: Option<Instant>) -> Result<BusResponse, BusError> {
    lock(conn).request(request, deadline)
}

/// Replaces the shared connection by a new one to the same socket (after `HELLO`).
fn reconnect(conn: &Shared, deadline: Option<Instant>) -> Result<BenchHello, BusError> {
    let mut guard = lock(conn);
    guard.close();
    let (fresh, hello) = Connection::open(&guard.path.clone(), guard.timeout, deadline)?;
    *guard = fresh;
    Ok(hello)
}

/// A connection to a software bench over its bus socket.
#[derive(Debug, Clone)]
pub struct BusClient {
    conn: Shared,
    path: PathBuf,
    hello: BenchHello,
}

impl BusClient {
    /// Connects with the [`DEFAULT_TIMEOUT`] and identifies the bench (`HELLO`).
    pub fn connect(path: impl AsRef<Path>) -> Result<BusClient, BusError> {
        Self::connect_with_timeout(path, DEFAULT_TIMEOUT)
    }

    /// Connects, with `timeout` for every response, and identifies the bench (`HELLO`).
    pub fn connect_with_timeout(path: impl AsRef<Path>, timeout: Duration) -> Result<BusClient, BusError> {
        let path = path.as_ref().to_path_buf();
        let (conn, hello) = Connection::open(&path, timeout, None)?;
        Ok(BusClient { conn: Arc::new(Mutex::new(conn)), path, hello })
    }

    /// The name the bench gave in answer to the first `HELLO`.
    pub fn bench_name(&self) -> &str {
        &self.hello.bench
    }

    /// The injections the bench listed in answer to the first `HELLO`.
    pub fn injections(&self) -> &BTreeSet<InjectKind> {
        &self.hello.inject
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Asks the bench again who it is and which injections it supports (`HELLO`).
    pub fn hello(&self) -> Result<BenchHello, BusError> {
        match self.request(&BusRequest::Hello)? {
            BusResponse::Hello { bench, inject } => Ok(BenchHello { bench, inject }),
            other => Err(unexpected(&self.path, &BusRequest::Hello, &other)),
        }
    }

    /// Injects a fault (`INJECT ...`). `ERR unsupported` is [`BusError::Unsupported`].
    pub fn inject(&self, inject: Inject) -> Result<(), BusError> {
        let req = BusRequest::Inject(inject);
        match self.request(&req) {
            Ok(BusResponse::Ok) => Ok(()),
            Ok(other) => Err(unexpected(&self.path, &req, &other)),
            Err(BusError::Refused { path, request, reason }) if reason == "unsupported" => {
                Err(BusError::Unsupported { path, request })
            }
            Err(e) => Err(e),
        }
    }

    /// Closes the connection all handles share and opens a new one to the same socket, saying
    /// `HELLO` again. Returns what the bench said.
    pub fn reconnect(&self) -> Result<BenchHello, BusError> {
        reconnect(&self.conn, None)
    }

    /// Sends one raw request and returns its response (`ERR` comes back as
    /// [`BusError::Refused`]). For diagnostics; drivers use [`BusClient::i2c`] and
    /// [`BusClient::pin`].
    pub fn request(&self, req: &BusRequest) -> Result<BusResponse, BusError> {
        request(&self.conn, req, None)
    }

    /// An I2C bus handle on this connection.
    pub fn i2c(&self) -> BusI2c {
        BusI2c { conn: Arc::clone(&self.conn), path: self.path.clone() }
    }

    /// An output pin handle for GPIO `line` on this connection.
    pub fn pin(&self, line: u32) -> BusPin {
        BusPin { conn: Arc::clone(&self.conn), path: self.path.clone(), line }
    }
}

/// Why an I2C operation over the bench bus failed.
#[derive(Debug, thiserror::Error)]
pub enum BusI2cError {
    /// The bench answered `NACK`: nothing acknowledged at `addr`.
    #[error("bench bus {}: NACK from I2C address 0x{addr:02X}", path.display())]
    Nack { path: PathBuf, addr: u8 },
    /// An operation the bus cannot carry (empty, too long, 10-bit address).
    #[error("bench bus {}: {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
    #[error(transparent)]
    Bus(#[from] BusError),
}

impl i2c::Error for BusI2cError {
    fn kind(&self) -> i2c::ErrorKind {
        match self {
            BusI2cError::Nack { .. } => i2c::ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown),
            BusI2cError::Unsupported { .. } | BusI2cError::Bus(_) => i2c::ErrorKind::Other,
        }
    }
}

/// The bench's I2C bus as an `embedded_hal::i2c::I2c` (7-bit addresses).
#[derive(Debug, Clone)]
pub struct BusI2c {
    conn: Shared,
    path: PathBuf,
}

impl BusI2c {
    /// The bench-bus socket the bus goes over (to name it in a bench error).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn unsupported(&self, what: String) -> BusI2cError {
        BusI2cError::Unsupported { path: self.path.clone(), what }
    }

    fn operation(&mut self, addr: u8, op: &mut Operation<'_>) -> Result<(), BusI2cError> {
        let req = match op {
            Operation::Write(bytes) if bytes.is_empty() || bytes.len() > MAX_WRITE => {
                return Err(self.unsupported(format!(
                    "an I2C write of {} bytes cannot be sent (the bus carries 1 to {MAX_WRITE})",
                    bytes.len()
                )));
            }
            Operation::Read(buf) if buf.is_empty() || buf.len() > MAX_READ => {
                return Err(self.unsupported(format!(
                    "an I2C read of {} bytes cannot be sent (the bus carries 1 to {MAX_READ})",
                    buf.len()
                )));
            }
            Operation::Write(bytes) => BusRequest::I2cWrite { addr, bytes: bytes.to_vec() },
            Operation::Read(buf) => BusRequest::I2cRead { addr, len: buf.len() },
        };
        match request(&self.conn, &req, None)? {
            BusResponse::Nack => Err(BusI2cError::Nack { path: self.path.clone(), addr }),
            BusResponse::OkData(data) => match op {
                // `parse_for` has checked the length against the request.
                Operation::Read(buf) => {
                    buf.copy_from_slice(&data);
                    Ok(())
                }
                Operation::Write(_) => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

impl i2c::ErrorType for BusI2c {
    type Error = BusI2cError;
}

impl i2c::I2c for BusI2c {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Self::Error> {
        if address > 0x7F {
            return Err(self.unsupported(format!("I2C address 0x{address:02X} is not a 7-bit address")));
        }
        for op in operations {
            self.operation(address, op)?;
        }
        Ok(())
    }
}

/// A GPIO error over the bench bus, naming the line.
#[derive(Debug, thiserror::Error)]
#[error("GPIO line {line}: {source}")]
pub struct BusPinError {
    pub line: u32,
    #[source]
    pub source: BusError,
}

impl digital::Error for BusPinError {
    fn kind(&self) -> digital::ErrorKind {
        digital::ErrorKind::Other
    }
}

/// One GPIO line of the bench, driven with `GPIO n SET 0|1` (physical level).
#[derive(Debug, Clone)]
pub struct BusPin {
    conn: Shared,
    path: PathBuf,
    line: u32,
}

/// What [`BusPin::set_low_confirmed`] did to get the line confirmed at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmedLow {
    /// `SET 0` / `GET` rounds, the successful one included.
    pub attempts: u32,
    /// New connections opened on the way.
    pub reconnects: u32,
    pub elapsed: Duration,
}

impl BusPin {
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Reads the line's level from the bench (`GPIO n GET`).
    pub fn level(&mut self) -> Result<bool, BusPinError> {
        self.read_level(None).map_err(|e| self.error(e))
    }

    /// Drives the line to 0 and has the bench confirm it (`GPIO n SET 0`, then `GPIO n GET`
    /// answered `OK 0`). A connection that fails or falls out of step (a late answer, a bench
    /// that dropped it) is replaced by a new one and the round tried again, up to
    /// [`SAFE_LOW_ATTEMPTS`] rounds within [`SAFE_LOW_WITHIN`]. A refusal (`ERR no_such_line`) is
    /// final at once. This is the valve's safe-state path: level 0 leaves the line open.
    pub fn set_low_confirmed(&mut self) -> Result<ConfirmedLow, BusPinError> {
        let start = Instant::now();
        let deadline = start + SAFE_LOW_WITHIN;
        let mut reconnects = 0;
        let mut last = None;
        let mut attempts = 0;
        while attempts < SAFE_LOW_ATTEMPTS && Instant::now() < deadline {
            attempts += 1;
            if attempts > 1 || lock(&self.conn).stream.is_none() {
                match reconnect(&self.conn, Some(deadline)) {
                    Ok(_) => reconnects += 1,
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                }
            }
            let round = request(&self.conn, &BusRequest::GpioSet { line: self.line, level: false }, Some(deadline))
                .and_then(|_| self.read_level(Some(deadline)));
            match round {
                Ok(false) => return Ok(ConfirmedLow { attempts, reconnects, elapsed: start.elapsed() }),
                Ok(true) => {
                    last = Some(BusError::Refused {
                        path: self.path.clone(),
                        request: format!("GPIO {} GET", self.line),
                        reason: "the line still reads 1 after SET 0".to_string(),
                    })
                }
                Err(e) if e.is_connection_failure() => last = Some(e),
                Err(e) => return Err(self.error(e)),
            }
        }
        let last = last.unwrap_or(BusError::Broken { path: self.path.clone() });
        Err(self.error(BusError::NotConfirmedLow {
            path: self.path.clone(),
            attempts,
            reconnects,
            elapsed: start.elapsed(),
            last: Box::new(last),
        }))
    }

    fn read_level(&self, deadline: Option<Instant>) -> Result<bool, BusError> {
        let get = BusRequest::GpioGet { line: self.line };
        match request(&self.conn, &get, deadline)? {
            BusResponse::OkLevel(level) => Ok(level),
            // `parse_for` admits only `OkLevel` (or `ERR`, already an error) for a GET.
            other => Err(unexpected(&self.path, &get, &other)),
        }
    }

    fn set(&mut self, level: bool) -> Result<(), BusPinError> {
        request(&self.conn, &BusRequest::GpioSet { line: self.line, level }, None).map(drop).map_err(|e| self.error(e))
    }

    fn error(&self, source: BusError) -> BusPinError {
        BusPinError { line: self.line, source }
    }
}

impl digital::ErrorType for BusPin {
    type Error = BusPinError;
}

impl digital::OutputPin for BusPin {
    /// [`BusPin::set_low_confirmed`]: the safe state is confirmed by the bench, reconnecting if
    /// need be.
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.set_low_confirmed().map(drop)
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.set(true)
    }
}

/// `is_set_high` asks the bench for the line's level (`GET`) rather than remembering what was
/// last set: the answer is the bench's, which is what a test wants to see.
impl digital::StatefulOutputPin for BusPin {
    fn is_set_high(&mut self) -> Result<bool, Self::Error> {
        self.level()
    }

    fn is_set_low(&mut self) -> Result<bool, Self::Error> {
        self.level().map(|high| !high)
    }
}

impl fmt::Display for BusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bench {:?} on {}", self.hello.bench, self.path.display())
    }
}
