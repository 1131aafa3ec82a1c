//! The rig's side of the bench bus: a blocking client (embedded-hal traits are blocking) whose
//! handles implement `embedded_hal::i2c::I2c` ([`BusI2c`]) and
//! `embedded_hal::digital::OutputPin` ([`BusPin`]), so that [`crate::drivers::FlowSensor`] and
//! [`crate::drivers::OcclusionValve`] run over it unchanged.
//!
//! One connection serves every handle (`Arc<Mutex<_>>`): requests are strictly one at a time,
//! each waiting for its response line or a timeout. After a timeout or an I/O error the
//! connection is out of step (a late answer would be taken for the next request's), so it is
//! marked broken and every later request fails at once; reconnect to recover.
//!
//! The bus has no repeated start: `I2c::transaction` sends each `Operation` as its own
//! `I2C aa W hex` or `I2C aa R n` (stop between them), and `write_read` is a write then a read.
//! The SF06-LF sensor needs nothing more.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use embedded_hal::digital;
use embedded_hal::i2c::{self, NoAcknowledgeSource, Operation};

use super::codec::{BusParseError, BusRequest, BusResponse, LineReader, MAX_READ, MAX_WRITE};

/// How long a request waits for its response by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

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
    #[error(
        "bench bus {}: the connection failed earlier and is out of step; reconnect",
        path.display()
    )]
    Broken { path: PathBuf },
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
            | BusError::Broken { path } => path,
        }
    }
}

/// The one stream all handles share.
#[derive(Debug)]
struct Connection {
    path: PathBuf,
    stream: UnixStream,
    reader: LineReader,
    timeout: Duration,
    broken: bool,
}

impl Connection {
    /// Sends one request and waits for its response line.
    fn request(&mut self, request: &BusRequest) -> Result<BusResponse, BusError> {
        if self.broken {
            return Err(BusError::Broken { path: self.path.clone() });
        }
        let result = self.exchange(request);
        if matches!(result, Err(BusError::Io { .. } | BusError::Timeout { .. } | BusError::Closed { .. })) {
            self.broken = true;
        }
        result
    }

    fn exchange(&mut self, request: &BusRequest) -> Result<BusResponse, BusError> {
        let text = request.to_line();
        let mut line = text.clone().into_bytes();
        line.push(b'\n');
        self.stream.write_all(&line).map_err(|e| self.io_failure(&text, e))?;

        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 256];
        let line = loop {
            if let Some(line) = self.reader.next_line() {
                break line;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.io_failure(&text, io::ErrorKind::TimedOut.into()));
            }
            let read = self.stream.set_read_timeout(Some(remaining)).and_then(|()| self.stream.read(&mut buf));
            match read {
                Ok(0) => return Err(self.io_failure(&text, io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => self.reader.feed(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_failure(&text, e)),
            }
        };
        let protocol = |error| BusError::Protocol { path: self.path.clone(), request: text.clone(), error };
        let line = line.map_err(|too_long| protocol(too_long.into()))?;
        match BusResponse::parse_for(request, &line).map_err(protocol)? {
            BusResponse::Err(reason) => Err(BusError::Refused { path: self.path.clone(), request: text, reason }),
            response => Ok(response),
        }
    }

    /// Classifies a stream failure: a timeout (`WouldBlock` is how a socket timeout reports),
    /// the bench going away, or another I/O error.
    fn io_failure(&self, request: &str, source: io::Error) -> BusError {
        let (path, request) = (self.path.clone(), request.to_string());
        match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                BusError::Timeout { path, request, timeout: self.timeout }
            }
            io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                BusError::Closed { path, request }
            }
            _ => BusError::Io { path, request, source },
        }
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

/// Runs one request on the shared connection. A poisoned lock (a thread panicked mid-request)
/// means the stream may be out of step: reported as broken.
fn request(conn: &Shared, path: &Path, request: &BusRequest) -> Result<BusResponse, BusError> {
    let mut conn = conn.lock().map_err(|_| BusError::Broken { path: path.to_path_buf() })?;
    conn.request(request)
}

/// A connection to a software bench over its bus socket.
#[derive(Debug, Clone)]
pub struct BusClient {
    conn: Shared,
    path: PathBuf,
    bench: String,
}

impl BusClient {
    /// Connects with the [`DEFAULT_TIMEOUT`] and identifies the bench (`HELLO`).
    pub fn connect(path: impl AsRef<Path>) -> Result<BusClient, BusError> {
        Self::connect_with_timeout(path, DEFAULT_TIMEOUT)
    }

    /// Connects, with `timeout` for every response, and identifies the bench (`HELLO`).
    pub fn connect_with_timeout(path: impl AsRef<Path>, timeout: Duration) -> Result<BusClient, BusError> {
        let path = path.as_ref().to_path_buf();
        let connect_err = |source| BusError::Connect { path: path.clone(), source };
        let stream = UnixStream::connect(&path).map_err(connect_err)?;
        // A bench that stops reading must not block a request forever either.
        stream.set_write_timeout(Some(timeout)).map_err(connect_err)?;
        let mut conn = Connection { path: path.clone(), stream, reader: LineReader::new(), timeout, broken: false };
        let bench = match conn.request(&BusRequest::Hello)? {
            BusResponse::OkBench(name) => name,
            other => return Err(unexpected(&path, &BusRequest::Hello, &other)),
        };
        Ok(BusClient { conn: Arc::new(Mutex::new(conn)), path, bench })
    }

    /// The name the bench gave in answer to `HELLO`.
    pub fn bench_name(&self) -> &str {
        &self.bench
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one raw request and returns its response (`ERR` comes back as
    /// [`BusError::Refused`]). For diagnostics; drivers use [`BusClient::i2c`] and
    /// [`BusClient::pin`].
    pub fn request(&self, req: &BusRequest) -> Result<BusResponse, BusError> {
        request(&self.conn, &self.path, req)
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
        match request(&self.conn, &self.path, &req)? {
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

impl BusPin {
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Reads the line's level from the bench (`GPIO n GET`).
    pub fn level(&mut self) -> Result<bool, BusPinError> {
        match self.send(BusRequest::GpioGet { line: self.line })? {
            BusResponse::OkLevel(level) => Ok(level),
            // `parse_for` admits only `OkLevel` (or `ERR`, already an error) for a GET.
            other => Err(self.error(unexpected(&self.path, &BusRequest::GpioGet { line: self.line }, &other))),
        }
    }

    fn set(&mut self, level: bool) -> Result<(), BusPinError> {
        self.send(BusRequest::GpioSet { line: self.line, level }).map(drop)
    }

    fn send(&self, req: BusRequest) -> Result<BusResponse, BusPinError> {
        request(&self.conn, &self.path, &req).map_err(|e| self.error(e))
    }

    fn error(&self, source: BusError) -> BusPinError {
        BusPinError { line: self.line, source }
    }
}

impl digital::ErrorType for BusPin {
    type Error = BusPinError;
}

impl digital::OutputPin for BusPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.set(false)
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
        write!(f, "bench {:?} on {}", self.bench, self.path.display())
    }
}
