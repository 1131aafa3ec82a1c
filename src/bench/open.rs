//! Opening a bench from its bench file: the pump link, the flow sensor and the valve, on the
//! in-process twin, on a software bench in its own process, or on real hardware.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::task::JoinHandle;

use super::config::{BenchFile, Connection};
use super::instruments::{BenchI2c, BenchPin, BenchPinError};
use crate::bus::BusClient;
use crate::bus::codec::{Inject, InjectKind};
use crate::clock::RigClock;
use crate::drivers::flow_sensor::{FlowSensor, ProductId};
use crate::drivers::valve::{OcclusionValve, ValveError};
use crate::link::{LinkError, LinkStreams, PortKind, PumpLink, Synchronised};
use crate::protocol::session::SessionConfig;
use crate::sim::{Fault, Twin};
use crate::twin_host::{InProcessPort, SharedTwin, SimI2c, SimPin, serve_service_port};

/// The name the in-process twin's service port goes by in records and errors.
pub const TWIN_PORT_NAME: &str = "twin:service-port";

/// A bench that could not be opened or failed while in use. Each names the device and what to
/// check; none of them is a finding about the pump.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Pump(#[from] LinkError),
    #[error("{0}")]
    Sensor(String),
    #[error("{0}")]
    Valve(String),
    #[error("{0}")]
    BenchBus(String),
    #[error("{0}")]
    Device(String),
    #[error("{0}")]
    Config(String),
}

/// An open bench. Dropping it opens the valve (the driver's `Drop`) and closes the link.
///
/// Its parts are reached through methods that say what is done with them (`link()`,
/// `take_sensor()`, `close_valve()`, `inject()`): the bench decides what a caller may hold.
pub struct Bench {
    name: String,
    clock: RigClock,
    link: PumpLink,
    /// Taken by whoever consumes the pump's events and the frame trace.
    streams: Option<LinkStreams>,
    /// Taken by the sampler while a case runs.
    sensor: Option<FlowSensor<BenchI2c>>,
    /// What the flow sensor reported as its product number and serial number when the bench
    /// opened: the evidence records this, beside what the bench file says.
    sensor_identity: ProductId,
    valve: OcclusionValve<BenchPin>,
    /// The twin, when the bench is the in-process twin (for injections).
    twin: Option<SharedTwin>,
    /// The seeded defects in effect, empty on any bench but the twin.
    faults: Vec<Fault>,
    /// The bench-bus connection, on a software bench in its own process (held for the bench's
    /// life; the sensor's and valve's handles share it).
    bus: Option<BusClient>,
    /// The test line fitted (from the bench file): how long the line takes to relax.
    test_line: super::config::TestLineSpec,
    /// How the session's throw-away first request was answered (see
    /// [`PumpLink::synchronise`]), for the record.
    session_start: String,
    tasks: Vec<JoinHandle<String>>,
}

/// What putting the bench in its safe state achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeStateReport {
    /// `Ok` when the pump acknowledged STOP.
    pub pump_stopped: Result<(), String>,
    /// `Ok` when the valve line was driven to 0 (open).
    pub valve_open: Result<(), String>,
}

impl SafeStateReport {
    pub fn is_safe(&self) -> bool {
        self.pump_stopped.is_ok() && self.valve_open.is_ok()
    }

    /// What was achieved, as a person reads it: `pump stopped, valve open`, or what failed.
    pub fn describe(&self) -> String {
        let pump = match &self.pump_stopped {
            Ok(()) => "pump stopped".to_string(),
            Err(e) => format!("pump NOT stopped ({e})"),
        };
        let valve = match &self.valve_open {
            Ok(()) => "valve open".to_string(),
            Err(e) => format!("valve NOT opened ({e})"),
        };
        format!("{pump}, {valve}")
    }
}

impl Bench {
    /// Opens the bench `file` describes, with `extra_faults` seeded on top of the file's own
    /// (only the twin takes faults). Time is read from `clock`: on the twin, it must be the
    /// runtime's paused clock for virtual time.
    pub async fn open(file: &BenchFile, extra_faults: &[Fault], clock: RigClock) -> Result<Bench, BenchError> {
        // A random first seq and a throw-away first request: the pump answers a repeated seq
        // from its cache, whoever sent the request that seq belongs to.
        let session = SessionConfig::with_random_first_seq();
        let line = file.valve.line;
        // Each kind of bench yields its pump stream, instrument buses and extras; the drivers on
        // top are the same for all.
        let parts = match file.resolved_connection() {
            Connection::Twin { .. } => twin_parts(file, extra_faults, clock, |twin| direct_line(twin, clock, session))?,
            Connection::SimProcess { serial, baud, bus } => {
                refuse_faults(extra_faults, &file.name)?;
                // Real time: the link owns a thread at real-time priority, where the port is opened.
                let (link, streams, link_task) =
                    PumpLink::open_serial_on_thread(&serial, baud, PortKind::Simulator, clock, session).await?;
                let client = BusClient::connect(Path::new(&bus)).map_err(|e| BenchError::BenchBus(e.to_string()))?;
                let (i2c, pin) = (BenchI2c::Bus(client.i2c()), BenchPin::Bus(client.pin(line)));
                Parts {
                    link,
                    streams,
                    i2c,
                    pin,
                    twin: None,
                    faults: Vec::new(),
                    bus: Some(client),
                    tasks: vec![link_task],
                }
            }
            Connection::Hardware { serial, baud, i2c, gpiochip } => {
                refuse_faults(extra_faults, &file.name)?;
                let device = |e: crate::drivers::pi::PiError| BenchError::Device(e.to_string());
                // The valve line first: requesting it drives it to 0, so a valve left closed by
                // a killed run opens even if another device then fails.
                let pin = crate::drivers::pi::open_valve_line(Path::new(&gpiochip), line).map_err(device)?;
                let i2c = crate::drivers::pi::open_i2c(Path::new(&i2c)).map_err(device)?;
                let (link, streams, link_task) =
                    PumpLink::open_serial_on_thread(&serial, baud, PortKind::Adapter, clock, session).await?;
                let (i2c, pin) = (BenchI2c::Linux(super::instruments::LinuxI2c::device(i2c)), BenchPin::Linux(pin));
                Parts { link, streams, i2c, pin, twin: None, faults: Vec::new(), bus: None, tasks: vec![link_task] }
            }
        };
        Bench::assemble(file, clock, parts).await
    }

    /// The in-process twin bench of `file`, with the rig's end of the service port passed
    /// through `tap` first: a middleware on the line (after smoltcp's `FaultInjector`), for
    /// tests of how the rig takes what a real line or a non-conforming pump can do to it.
    pub async fn open_twin_tapped<S>(
        file: &BenchFile,
        extra_faults: &[Fault],
        clock: RigClock,
        tap: impl FnOnce(DuplexStream) -> S,
    ) -> Result<Bench, BenchError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let session = SessionConfig::with_random_first_seq();
        let parts = twin_parts(file, extra_faults, clock, |twin| tapped_line(twin, clock, session, tap))?;
        Bench::assemble(file, clock, parts).await
    }

    /// The drivers on top of a backend's parts, the same for every kind of bench.
    async fn assemble(file: &BenchFile, clock: RigClock, parts: Parts) -> Result<Bench, BenchError> {
        let Parts { link, streams, i2c, pin, twin, faults, bus, tasks } = parts;
        let (line, address, model) = (file.valve.line, file.flow_sensor.address, file.flow_sensor.model);
        let valve = match OcclusionValve::new(pin, line) {
            Ok(v) => v,
            Err(e) => {
                tasks.iter().for_each(|t| t.abort());
                return Err(BenchError::Valve(e.to_string()));
            }
        };
        let session_start = match link.synchronise().await {
            Ok(Synchronised::Status(_)) => "STATUS answered".to_string(),
            Ok(Synchronised::AnsweredFromCache { seq, payload }) => format!(
                "seq {seq} was answered from the pump's cache (`{payload}`: another host's request had that seq); later seqs differ from it"
            ),
            Err(e) => {
                tasks.iter().for_each(|t| t.abort());
                return Err(BenchError::Pump(e));
            }
        };
        let mut sensor = FlowSensor::new(i2c, address, model);
        // A run that ended without stopping the sensor (SIGKILL, a second Ctrl-C, power lost on
        // the Pi but not on the sensor) leaves it measuring, and a measuring SF06-LF answers
        // every command but stop with NACK. Stop it first, so the run starts from idle. The
        // answer is not needed: a sensor that is really absent fails its first command after
        // this, with an error that names it.
        let _ = sensor.stop_continuous();
        // The sensor's identity, read here so that every run records what the sensor says it
        // is, not what the bench file claims. A sensor that cannot tell is a bench failure.
        let sensor_identity = match sensor.read_product_id() {
            Ok(id) => id,
            Err(e) => {
                tasks.iter().for_each(|t| t.abort());
                return Err(BenchError::Sensor(format!("{e} (reading its product identifier as the bench opened)")));
            }
        };
        Ok(Bench {
            name: file.name.clone(),
            clock,
            link,
            streams: Some(streams),
            sensor: Some(sensor),
            sensor_identity,
            valve,
            twin,
            faults,
            bus,
            test_line: file.test_line,
            session_start,
            tasks,
        })
    }

    /// The bench's name, from its bench file.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The clock the bench's time is read from (tokio's, paused on the in-process twin).
    pub fn clock(&self) -> RigClock {
        self.clock
    }

    /// The pump's service-port link (a cheap handle: clone it to keep it).
    pub fn link(&self) -> &PumpLink {
        &self.link
    }

    /// Takes the link's notices and frame trace, for whoever consumes them; `None` once taken.
    pub fn take_link_streams(&mut self) -> Option<LinkStreams> {
        self.streams.take()
    }

    /// Takes the flow sensor, for the sampler while a case runs; `None` while it is held.
    pub fn take_sensor(&mut self) -> Option<FlowSensor<BenchI2c>> {
        self.sensor.take()
    }

    /// Gives the flow sensor back once its holder is done with it.
    pub fn return_sensor(&mut self, sensor: FlowSensor<BenchI2c>) {
        self.sensor = Some(sensor);
    }

    /// What the flow sensor said it is (product number, serial number) when the bench opened.
    pub fn sensor_identity(&self) -> &ProductId {
        &self.sensor_identity
    }

    /// Closes the occlusion valve (energises it: the line is blocked).
    pub fn close_valve(&mut self) -> Result<(), ValveError<BenchPinError>> {
        self.valve.close()
    }

    /// Opens the occlusion valve (de-energises it: the line is open).
    pub fn open_valve(&mut self) -> Result<(), ValveError<BenchPinError>> {
        self.valve.open()
    }

    /// Drives the valve to its safe state (open), whatever state it was believed to be in.
    pub fn make_valve_safe(&mut self) -> Result<(), ValveError<BenchPinError>> {
        self.valve.make_safe()
    }

    /// The in-process twin, when the bench is one: for tests that look at or drive the pump's
    /// physics directly. `None` on any other bench.
    pub fn twin(&self) -> Option<&SharedTwin> {
        self.twin.as_ref()
    }

    /// The seeded defects in effect, empty on any bench but the twin.
    pub fn seeded_faults(&self) -> &[Fault] {
        &self.faults
    }

    /// The test line fitted (from the bench file).
    pub fn test_line(&self) -> super::config::TestLineSpec {
        self.test_line
    }

    /// How the session's throw-away first request was answered, for the record.
    pub fn session_start(&self) -> &str {
        &self.session_start
    }

    /// Refits the bench as a Raspberry Pi would be: `valve` on a GPIO line of its own and no
    /// twin to inject into (the pump stays the twin's, for STOP to be answered).
    #[cfg(test)]
    pub(crate) fn refit_as_hardware(&mut self, valve: OcclusionValve<BenchPin>) {
        self.valve = valve;
        self.twin = None;
    }

    /// The injections of ICD part 2 this bench takes: all on the in-process twin, those its
    /// `HELLO` lists on a software bench in its own process, none on real hardware.
    pub fn injections(&self) -> std::collections::BTreeSet<InjectKind> {
        match (&self.twin, &self.bus) {
            (Some(_), _) => InjectKind::ALL.into_iter().collect(),
            (None, Some(bus)) => bus.injections().clone(),
            (None, None) => Default::default(),
        }
    }

    /// Injects a fault (ICD part 2, "Fault injection"): into the in-process twin, or as `INJECT`
    /// over the bench bus. A real bench has none.
    pub async fn inject(&self, inject: Inject) -> Result<(), BenchError> {
        if !self.injections().contains(&inject.kind()) {
            return Err(BenchError::Config(format!(
                "bench `{}` cannot inject {} (it does not list {} among its injections)",
                self.name,
                inject,
                inject.kind().name()
            )));
        }
        if let Some(twin) = &self.twin {
            twin.inject(inject);
            return Ok(());
        }
        let Some(bus) = self.bus.clone() else {
            return Err(BenchError::Config(format!(
                "bench `{}` is real hardware: it has no fault injection",
                self.name
            )));
        };
        // The bench bus is a blocking socket: keep it off the async workers.
        let path = bus.path().display().to_string();
        tokio::task::spawn_blocking(move || bus.inject(inject))
            .await
            .map_err(|e| BenchError::BenchBus(format!("bench bus {path}: the injection task failed: {e}")))?
            .map_err(|e| BenchError::BenchBus(e.to_string()))
    }

    /// A second handle on the valve line for an emergency stop, which drives it itself (a
    /// process that exits at once runs no `Drop`). Every backend has one; `None` only if the
    /// valve has handed its pin back.
    pub fn valve_pin_clone(&self) -> Option<BenchPin> {
        self.valve.pin().map(BenchPin::second_handle)
    }

    /// On the in-process twin: a handle that "pulls the serial cable" when aborted (the twin's
    /// end of the service port goes away, as on a lost link: the task holding the
    /// [`crate::twin_host::SerialCable`], or the twin's port task on a tapped line). For tests of
    /// the rig's handling.
    pub fn twin_serial_cable(&self) -> Option<tokio::task::AbortHandle> {
        self.twin.as_ref().and_then(|_| self.tasks.first()).map(|t| t.abort_handle())
    }

    /// The flow sensor, unless the sampler holds it.
    pub fn sensor(&mut self) -> Result<&mut FlowSensor<BenchI2c>, BenchError> {
        self.sensor.as_mut().ok_or_else(|| BenchError::Sensor("the flow sensor is held by the sampler".into()))
    }

    /// Puts the bench in its safe state: pump STOP and valve open, each attempted whatever the
    /// other did. Safe to call more than once.
    pub async fn make_safe(&mut self) -> SafeStateReport {
        // Open the valve first: it needs no answer from anyone.
        let valve_open = self.valve.make_safe().map_err(|e| e.to_string());
        let pump_stopped = match tokio::time::timeout(Duration::from_secs(3), self.link.stop()).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("pump on {}: no answer to STOP within 3 s", self.link.device())),
        };
        SafeStateReport { pump_stopped, valve_open }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        // Unwinding from a panic, the pump has not been stopped: leave the link running for the
        // emergency stop, which holds a handle on it. The link task ends by itself when that
        // last handle goes (and the twin's end of the port with it).
        if std::thread::panicking() {
            return;
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What a backend hands the drivers: the pump link, the instrument buses, and what it keeps
/// running.
struct Parts {
    link: PumpLink,
    streams: LinkStreams,
    i2c: BenchI2c,
    pin: BenchPin,
    twin: Option<SharedTwin>,
    faults: Vec<Fault>,
    bus: Option<BusClient>,
    tasks: Vec<JoinHandle<String>>,
}

/// The link, its streams and the tasks the bench keeps running.
type Line = (PumpLink, LinkStreams, Vec<JoinHandle<String>>);

/// The in-process twin: its service port (`line`: [`direct_line`] or a test's [`tapped_line`]),
/// its sensor and valve as in-memory embedded-hal devices.
fn twin_parts(
    file: &BenchFile,
    extra_faults: &[Fault],
    clock: RigClock,
    line: impl FnOnce(&SharedTwin) -> Line,
) -> Result<Parts, BenchError> {
    let config = file.twin_config(extra_faults).map_err(BenchError::Config)?;
    let faults = config.faults.clone();
    let twin = SharedTwin::new(Twin::new(config), clock);
    let (link, streams, tasks) = line(&twin);
    let i2c = BenchI2c::Twin(SimI2c::new(twin.clone()));
    let pin = BenchPin::Twin(SimPin::new(twin.clone(), file.valve.line));
    Ok(Parts { link, streams, i2c, pin, twin: Some(twin), faults, bus: None, tasks })
}

/// Nothing between the link and the twin ([`InProcessPort`]): what `rig run` uses. The port's
/// cable is held by a task of the bench's, so that the bench's end (or a test's abort, see
/// `twin_serial_cable`) pulls it, as the end of the twin's port task did on a pipe.
fn direct_line(twin: &SharedTwin, clock: RigClock, session: SessionConfig) -> Line {
    let port = InProcessPort::new(twin.clone());
    let cable = port.cable();
    let cable_task = tokio::spawn(async move {
        let _plugged_in = cable;
        std::future::pending::<String>().await
    });
    let (link, streams, link_task) = PumpLink::spawn(port, TWIN_PORT_NAME, clock, session);
    (link, streams, vec![cable_task, link_task])
}

/// An in-memory pipe, its far end served by the twin's port task (as `rig sim` serves a pty),
/// the rig's end through `tap`: for tests of a line that misbehaves.
fn tapped_line<S>(
    twin: &SharedTwin,
    clock: RigClock,
    session: SessionConfig,
    tap: impl FnOnce(DuplexStream) -> S,
) -> Line
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rig_end, pump_end) = tokio::io::duplex(16 * 1024);
    let twin_task = tokio::spawn(serve_service_port(twin.clone(), pump_end));
    let (link, streams, link_task) = PumpLink::spawn(tap(rig_end), TWIN_PORT_NAME, clock, session);
    (link, streams, vec![twin_task, link_task])
}

fn refuse_faults(faults: &[Fault], bench: &str) -> Result<(), BenchError> {
    match faults.first() {
        None => Ok(()),
        Some(f) => Err(BenchError::Config(format!(
            "--fault {} needs the in-process twin; bench `{bench}` runs real firmware (or a simulator of its own)",
            f.name()
        ))),
    }
}
