//! `rig doctor`: is this bench ready for a night of runs? Every device present and answering
//! (the pump's port opens and the pump answers `ID`; the sensor answers its product identifier
//! and its serial matches the bench file; the valve line can be taken), calibration due dates,
//! the firmware identity, the rig's clock source, whether the sampler may run at real-time
//! priority and lock their memory in RAM, and the disk space for the evidence bundles.
//!
//! Unlike `check-bench`, it moves nothing (no delivery, the valve is only driven to its safe
//! level) and reports every problem, not the first: one table, one exit code.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::{BenchFile, Connection};
use super::instruments::{BenchI2c, BenchPin};
use super::open::Bench;
use crate::clock::RigClock;
use crate::drivers::flow_sensor::FlowSensor;
use crate::drivers::valve::OcclusionValve;
use crate::link::{PortKind, PumpLink, open_port};

/// Where the kernel names the clock source behind the rig's monotonic clock.
pub const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
/// A calibration due within this many days is a warning.
pub const CALIBRATION_WARNING_DAYS: i64 = 30;
/// Less free space than this for the bundles is a warning; less than [`DISK_PROBLEM_BYTES`] a
/// problem (a long run's samples alone take tens of MB).
pub const DISK_WARNING_BYTES: u64 = 1 << 30;
pub const DISK_PROBLEM_BYTES: u64 = 100 << 20;
/// How long the pump has to answer `ID`.
const ID_TIMEOUT: Duration = Duration::from_secs(5);
/// The priority the sampler asks for (the same as the sampler's).
const SAMPLER_PRIORITY: i32 = 20;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warning,
    Problem,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Warning => "WARN",
            Status::Problem => "PROBLEM",
        })
    }
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub status: Status,
    /// What was checked: `pump port`, `flow sensor`, `calibration`, ...
    pub check: &'static str,
    /// The device or path it is about.
    pub subject: String,
    pub detail: String,
}

/// Exit codes of `rig doctor`.
pub mod exit {
    /// Every check passed.
    pub const ALL_WELL: u8 = 0;
    /// Warnings only (calibration due soon, no real-time priority, little disk): a run can go.
    pub const WARNINGS: u8 = 1;
    /// A device or the host has a problem: a run would fail or produce no evidence.
    pub const PROBLEM: u8 = 3;
}

/// Everything doctor found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorReport {
    pub bench: String,
    pub source: String,
    pub rows: Vec<Row>,
}

impl DoctorReport {
    pub fn worst(&self) -> Status {
        self.rows.iter().map(|r| r.status).max().unwrap_or(Status::Ok)
    }

    /// 0 all well, 1 warnings only, 3 a problem.
    pub fn exit_code(&self) -> u8 {
        match self.worst() {
            Status::Ok => exit::ALL_WELL,
            Status::Warning => exit::WARNINGS,
            Status::Problem => exit::PROBLEM,
        }
    }

    fn push(&mut self, status: Status, check: &'static str, subject: impl Into<String>, detail: impl Into<String>) {
        self.rows.push(Row { status, check, subject: subject.into(), detail: detail.into() });
    }
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rig doctor: bench {} ({})", self.bench, self.source)?;
        let width = |col: fn(&Row) -> usize, title: &str| self.rows.iter().map(col).max().unwrap_or(0).max(title.len());
        let ws = width(|r| r.status.to_string().len(), "STATUS");
        let wc = width(|r| r.check.len(), "CHECK");
        let wd = width(|r| r.subject.chars().count(), "DEVICE");
        let mut line = |a: &str, b: &str, c: &str, d: &str| {
            let mut s = String::new();
            let _ = write!(s, "{a:<ws$}  {b:<wc$}  {c:<wd$}  {d}");
            writeln!(f, "{}", s.trim_end())
        };
        line("STATUS", "CHECK", "DEVICE", "DETAIL")?;
        for r in &self.rows {
            line(&r.status.to_string(), r.check, &r.subject, &r.detail)?;
        }
        let count = |s: Status| self.rows.iter().filter(|r| r.status == s).count();
        match (count(Status::Problem), count(Status::Warning)) {
            (0, 0) => write!(f, "all well: {} checks passed", self.rows.len()),
            (0, w) => write!(f, "{w} warning(s); the bench can run"),
            (p, w) => write!(f, "{p} problem(s), {w} warning(s); fix the problems before a run"),
        }
    }
}

/// The host's side: its clock, its scheduling rights and its disk, and the date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub today: time::Date,
    /// The kernel's clock source, or why it could not be read.
    pub clocksource: Result<String, String>,
    /// `Ok` when a thread may take SCHED_FIFO; otherwise why not.
    pub realtime: Result<(), String>,
    /// `Ok` when the real-time threads can lock the process's memory in RAM; otherwise why not.
    pub memory_lock: Result<(), String>,
    /// Free bytes for the bundles, and the folder measured.
    pub disk: Result<(PathBuf, u64), String>,
}

impl HostFacts {
    /// Reads them from this machine, the disk at `out` (or its nearest existing folder).
    pub fn gather(out: &Path) -> HostFacts {
        HostFacts {
            today: crate::civil_time::today(),
            clocksource: std::fs::read_to_string(CLOCKSOURCE)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("cannot read {CLOCKSOURCE}: {e}")),
            realtime: realtime_allowed(),
            memory_lock: crate::realtime::memory::memory_lockable(),
            disk: free_space(out),
        }
    }
}

/// Tries SCHED_FIFO on a throw-away thread, as the sampler will.
fn realtime_allowed() -> Result<(), String> {
    let probe = std::thread::Builder::new().name("rig-doctor-rt".into()).spawn(|| {
        let param = libc::sched_param { sched_priority: SAMPLER_PRIORITY };
        // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid parameter block.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit fills the struct it is given.
        let rtprio = if unsafe { libc::getrlimit(libc::RLIMIT_RTPRIO, &mut limit) } == 0 {
            format!("RLIMIT_RTPRIO is {}", limit.rlim_cur)
        } else {
            "RLIMIT_RTPRIO unreadable".to_string()
        };
        Err(format!("SCHED_FIFO {SAMPLER_PRIORITY} refused ({error}; {rtprio})"))
    });
    match probe {
        Ok(handle) => handle.join().unwrap_or_else(|_| Err("the probe thread failed".into())),
        Err(e) => Err(format!("cannot start a probe thread: {e}")),
    }
}

/// Free bytes at `out`, measured at its nearest existing folder.
fn free_space(out: &Path) -> Result<(PathBuf, u64), String> {
    let absolute = if out.is_absolute() {
        out.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?.join(out)
    };
    let existing = absolute.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/")).to_path_buf();
    let stats = nix::sys::statvfs::statvfs(&existing).map_err(|e| format!("statvfs {}: {e}", existing.display()))?;
    #[allow(clippy::useless_conversion)] // the field types differ between targets
    let free = u64::from(stats.blocks_available()).saturating_mul(u64::from(stats.fragment_size()));
    Ok((existing, free))
}

/// Runs every check on the bench `file` describes. Time for the pump's answers is read from
/// `clock` (the paused runtime clock on the twin).
pub async fn doctor(file: &BenchFile, host: &HostFacts, clock: RigClock) -> DoctorReport {
    let mut report = DoctorReport { bench: file.name.clone(), source: file.source.path.clone(), rows: Vec::new() };
    let real_time = !matches!(file.connection, Connection::Twin { .. });
    devices(file, clock, &mut report).await;
    calibration(file, host.today, &mut report);
    host_rows(host, real_time, &mut report);
    report
}

async fn devices(file: &BenchFile, clock: RigClock, report: &mut DoctorReport) {
    let session = crate::protocol::session::SessionConfig::default();
    let line = file.valve.line;
    let (address, model) = (file.flow_sensor.address, file.flow_sensor.model);
    match file.resolved_connection() {
        Connection::Twin { .. } => match Bench::open(file, &[], clock).await {
            Ok(mut bench) => {
                report.push(Status::Ok, "pump port", super::open::TWIN_PORT_NAME, "the in-process twin's service port");
                pump(bench.link(), report).await;
                if let Ok(sensor) = bench.sensor() {
                    sensor_identity(sensor, file, "twin I2C", false, report);
                }
                report.push(Status::Ok, "valve line", format!("twin line {line}"), "driven to 0 (open)");
            }
            Err(e) => report.push(Status::Problem, "bench", file.name.clone(), e.to_string()),
        },
        Connection::SimProcess { serial, baud, bus } => {
            let link = match open_port(&serial, baud, PortKind::Simulator) {
                Ok(port) => {
                    report.push(Status::Ok, "pump port", serial.clone(), format!("opened at {baud} 8N1"));
                    Some(PumpLink::spawn(port, &serial, clock, session))
                }
                Err(e) => {
                    report.push(Status::Problem, "pump port", serial.clone(), e.to_string());
                    None
                }
            };
            if let Some((link, _streams, task)) = &link {
                pump(link, report).await;
                task.abort();
            }
            match crate::bus::BusClient::connect(Path::new(&bus)) {
                Ok(client) => {
                    report.push(Status::Ok, "bench bus", bus.clone(), "connected");
                    let mut sensor = FlowSensor::new(BenchI2c::Bus(client.i2c()), address, model);
                    sensor_identity(&mut sensor, file, &bus, false, report);
                    valve(BenchPin::Bus(client.pin(line)), format!("bus line {line}"), None, report);
                }
                Err(e) => {
                    report.push(Status::Problem, "bench bus", bus.clone(), e.to_string());
                    report.push(Status::Problem, "flow sensor", bus.clone(), "not checked: no bench bus");
                    report.push(Status::Problem, "valve line", bus.clone(), "not checked: no bench bus");
                }
            }
        }
        Connection::Hardware { serial, baud, i2c, gpiochip } => {
            match open_port(&serial, baud, PortKind::Adapter) {
                Ok(port) => {
                    report.push(Status::Ok, "pump port", serial.clone(), format!("opened at {baud} 8N1"));
                    let (link, _streams, task) = PumpLink::spawn(port, &serial, clock, session);
                    pump(&link, report).await;
                    task.abort();
                }
                Err(e) => report.push(Status::Problem, "pump port", serial.clone(), e.to_string()),
            }
            hardware_sensor(file, &i2c, report);
            match crate::drivers::pi::open_valve_line(Path::new(&gpiochip), line) {
                Ok(gpio) => {
                    let bias = gpio.bias().clone();
                    valve(BenchPin::Linux(gpio), format!("{gpiochip} line {line}"), Some(bias), report);
                }
                Err(e) => report.push(Status::Problem, "valve line", format!("{gpiochip} line {line}"), e.to_string()),
            }
        }
    }
}

fn hardware_sensor(file: &BenchFile, i2c: &str, report: &mut DoctorReport) {
    let (address, model) = (file.flow_sensor.address, file.flow_sensor.model);
    match crate::drivers::pi::open_i2c(Path::new(i2c)) {
        Ok(dev) => {
            let bus = BenchI2c::Linux(super::instruments::LinuxI2c::device(dev));
            let mut sensor = FlowSensor::new(bus, address, model);
            sensor_identity(&mut sensor, file, i2c, true, report);
        }
        Err(e) => report.push(Status::Problem, "flow sensor", i2c.to_string(), e.to_string()),
    }
}

/// The pump answers `ID`: its identity, and the firmware's.
async fn pump(link: &PumpLink, report: &mut DoctorReport) {
    let device = link.device().to_string();
    match tokio::time::timeout(ID_TIMEOUT, link.id()).await {
        Ok(Ok(id)) => {
            report.push(Status::Ok, "pump", device.clone(), format!("answers ID: {} serial {}", id.model, id.serial));
            report.push(Status::Ok, "firmware", device, format!("{} build {} protocol {}", id.fw, id.build, id.proto));
        }
        Ok(Err(e)) => report.push(Status::Problem, "pump", device, e.to_string()),
        Err(_) => report.push(
            Status::Problem,
            "pump",
            device,
            format!(
                "no answer to ID within {} s: is the pump powered, its service port wired to the adapter \
                 (TX to RX, RX to TX, GND), and the baud rate 115200?",
                ID_TIMEOUT.as_secs()
            ),
        ),
    }
}

/// The sensor answers its product identifier, and its serial is the bench file's.
fn sensor_identity<I>(sensor: &mut FlowSensor<I>, file: &BenchFile, bus: &str, on_pi: bool, report: &mut DoctorReport)
where
    I: embedded_hal::i2c::I2c,
    I::Error: fmt::Display,
{
    let subject = format!("{bus} @ 0x{:02X}", sensor.address());
    // A sensor left measuring by a killed run answers nothing but stop: stop it first.
    let _ = sensor.stop_continuous();
    match sensor.read_product_id() {
        Ok(id) => {
            let declared = &file.flow_sensor.serial_number;
            let (status, verdict) = match declared.parse::<u64>() {
                Ok(n) if n == id.serial_number => (Status::Ok, "matches the bench file".to_string()),
                _ => (Status::Problem, format!("the bench file says `{declared}`: correct one or the other")),
            };
            let detail = format!(
                "{} answers: product 0x{:08X}, serial {} ({verdict})",
                file.flow_sensor.model, id.product_number, id.serial_number
            );
            report.push(status, "flow sensor", subject, detail);
        }
        Err(e) => {
            let mut detail = e.to_string();
            if on_pi && e.is_no_acknowledge() {
                detail.push_str(&format!(
                    "; nothing answers at 0x{:02X} on {bus}: check SDA (header pin 3), SCL (pin 5), 3.3 V (pin 1), \
                     GND (pin 6) and the pull-ups; `i2cdetect -y 1` lists the addresses that answer",
                    sensor.address()
                ));
            }
            report.push(Status::Problem, "flow sensor", subject, detail);
        }
    }
}

/// The valve line can be taken and driven to its safe level (open).
fn valve(pin: BenchPin, subject: String, bias: Option<crate::drivers::pi::LineBias>, report: &mut DoctorReport) {
    use crate::drivers::pi::LineBias;
    match OcclusionValve::new(pin, 0) {
        Ok(_valve) => match bias {
            Some(LineBias::Refused(why)) => report.push(
                Status::Warning,
                "valve line",
                subject,
                format!(
                    "driven to 0 (open); the chip refused pull-down bias ({why}): only the driver board's \
                     pull-down holds a released line low"
                ),
            ),
            Some(LineBias::PullDown) => report.push(
                Status::Ok,
                "valve line",
                subject,
                format!("requested as `{}`, driven to 0 (open), pull-down bias", crate::drivers::pi::VALVE_CONSUMER),
            ),
            _ => report.push(Status::Ok, "valve line", subject, "driven to 0 (open)"),
        },
        Err(e) => report.push(Status::Problem, "valve line", subject, e.source.to_string()),
    }
}

fn calibration(file: &BenchFile, today: time::Date, report: &mut DoctorReport) {
    let s = &file.flow_sensor;
    let subject = format!("flow sensor {}", s.serial_number);
    let due = s.calibration_due;
    let days = (due.0 - today).whole_days();
    if days < 0 {
        report.push(
            Status::Problem,
            "calibration",
            subject,
            format!("due {due}, {} day(s) ago: rig run refuses to produce evidence", -days),
        );
    } else if days <= CALIBRATION_WARNING_DAYS {
        report.push(Status::Warning, "calibration", subject, format!("due {due}, in {days} day(s): book it"));
    } else {
        report.push(Status::Ok, "calibration", subject, format!("due {due}, in {days} day(s)"));
    }
}

fn host_rows(host: &HostFacts, real_time: bool, report: &mut DoctorReport) {
    match &host.clocksource {
        Ok(source) if source == "jiffies" => report.push(
            Status::Warning,
            "clock source",
            "clocksource0",
            "jiffies: timestamps are only as fine as the scheduler tick",
        ),
        Ok(source) => report.push(Status::Ok, "clock source", "clocksource0", source.clone()),
        Err(e) => report.push(Status::Warning, "clock source", "clocksource0", e.clone()),
    }
    match (&host.realtime, real_time) {
        (Ok(()), _) => report.push(Status::Ok, "real-time", "sampler thread", "SCHED_FIFO allowed"),
        (Err(why), false) => report.push(
            Status::Ok,
            "real-time",
            "sampler thread",
            format!("{why}; not needed on the in-process twin (virtual time)"),
        ),
        (Err(why), true) => report.push(
            Status::Warning,
            "real-time",
            "sampler thread",
            format!(
                "{why}: the sampler runs at normal priority; allow it with `@dialout - rtprio {SAMPLER_PRIORITY}` in \
                 /etc/security/limits.d/rig.conf, or LimitRTPRIO={SAMPLER_PRIORITY} in the service unit"
            ),
        ),
    }
    match (&host.memory_lock, real_time) {
        (Ok(()), _) => report.push(Status::Ok, "memory lock", "real-time threads", "mlockall allowed"),
        (Err(why), false) => report.push(
            Status::Ok,
            "memory lock",
            "real-time threads",
            format!("not allowed ({why}); not needed on the in-process twin (virtual time)"),
        ),
        (Err(why), true) => report.push(
            Status::Warning,
            "memory lock",
            "real-time threads",
            format!(
                "not allowed: {why}. A page evicted under memory pressure is read back from the card while a deadline \
                 waits; allow it with `@dialout - memlock unlimited` in /etc/security/limits.d/rig.conf, or \
                 LimitMEMLOCK=infinity in the service unit"
            ),
        ),
    }
    match &host.disk {
        Ok((path, free)) => {
            let status = if *free < DISK_PROBLEM_BYTES {
                Status::Problem
            } else if *free < DISK_WARNING_BYTES {
                Status::Warning
            } else {
                Status::Ok
            };
            report.push(status, "disk", path.display().to_string(), format!("{} free for bundles", human_bytes(*free)));
        }
        Err(e) => report.push(Status::Warning, "disk", "--out", e.clone()),
    }
}

fn human_bytes(n: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let n = n as f64;
    if n >= GIB { format!("{:.1} GiB", n / GIB) } else { format!("{:.0} MiB", n / MIB) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::EMBEDDED_TWIN;

    fn host(today: time::Date) -> HostFacts {
        HostFacts {
            today,
            clocksource: Ok("arch_sys_counter".into()),
            realtime: Err("SCHED_FIFO 20 refused (Operation not permitted (os error 1); RLIMIT_RTPRIO is 0)".into()),
            memory_lock: Err("RLIMIT_MEMLOCK is 8192 KiB and the process lacks CAP_IPC_LOCK".into()),
            disk: Ok((PathBuf::from("/var/lib/rig"), 12 << 30)),
        }
    }

    fn twin() -> BenchFile {
        BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn on_the_twin_every_device_answers_and_the_table_says_so() {
        let file = twin();
        let today = file.flow_sensor.calibration_due.0 - time::Duration::days(200);
        let report = doctor(&file, &host(today), RigClock::start()).await;
        assert_eq!(report.exit_code(), exit::ALL_WELL, "{report}");
        insta::assert_snapshot!(report.to_string());
    }

    #[tokio::test(start_paused = true)]
    async fn calibration_due_soon_is_a_warning_and_past_due_a_problem() {
        let file = twin();
        let due = file.flow_sensor.calibration_due.0;
        let soon = doctor(&file, &host(due - time::Duration::days(30)), RigClock::start()).await;
        assert_eq!(soon.exit_code(), exit::WARNINGS, "{soon}");
        assert!(soon.to_string().contains("in 30 day(s): book it"), "{soon}");
        let past = doctor(&file, &host(due + time::Duration::days(1)), RigClock::start()).await;
        assert_eq!(past.exit_code(), exit::PROBLEM, "{past}");
        assert!(past.to_string().contains("1 day(s) ago: rig run refuses to produce evidence"), "{past}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_sensor_serial_that_differs_from_the_bench_file_is_a_problem() {
        let mut file = twin();
        file.flow_sensor.serial_number = "REPLACE-WITH-SENSOR-SERIAL".into();
        let today = file.flow_sensor.calibration_due.0 - time::Duration::days(200);
        let report = doctor(&file, &host(today), RigClock::start()).await;
        let row = report.rows.iter().find(|r| r.check == "flow sensor").unwrap();
        assert_eq!(row.status, Status::Problem);
        assert!(row.detail.contains("the bench file says `REPLACE-WITH-SENSOR-SERIAL`"), "{}", row.detail);
    }

    #[test]
    fn little_disk_no_real_time_and_no_memory_lock_on_a_real_bench_are_reported() {
        let mut report = DoctorReport { bench: "b".into(), source: "b.yaml".into(), rows: Vec::new() };
        let mut facts = host(time::macros::date!(2026 - 01 - 01));
        facts.disk = Ok((PathBuf::from("/"), 50 << 20));
        facts.clocksource = Err(format!("cannot read {CLOCKSOURCE}: No such file or directory (os error 2)"));
        host_rows(&facts, true, &mut report);
        let status = |check: &str| report.rows.iter().find(|r| r.check == check).map(|r| r.status);
        assert_eq!(status("disk"), Some(Status::Problem));
        assert_eq!(status("real-time"), Some(Status::Warning));
        assert_eq!(status("memory lock"), Some(Status::Warning));
        let detail = |check: &str| report.rows.iter().find(|r| r.check == check).map(|r| r.detail.clone());
        assert!(detail("memory lock").is_some_and(|d| d.contains("memlock unlimited")), "{report}");
        facts.memory_lock = Ok(());
        let mut allowed = DoctorReport { bench: "b".into(), source: "b.yaml".into(), rows: Vec::new() };
        host_rows(&facts, true, &mut allowed);
        assert!(allowed.rows.iter().any(|r| r.check == "memory lock" && r.status == Status::Ok), "{allowed}");
        assert_eq!(status("clock source"), Some(Status::Warning));
        assert_eq!(report.exit_code(), exit::PROBLEM);
    }

    #[test]
    fn every_missing_pi_device_is_named_not_only_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let text = include_str!("../../rig/pi.yaml");
        let missing = |name: &str| dir.path().join(name).display().to_string();
        let text = text
            .replace("/dev/ttyUSB0", &missing("ttyUSB0"))
            .replace("/dev/i2c-1", &missing("i2c-1"))
            .replace("/dev/gpiochip0", &missing("gpiochip0"));
        let file = BenchFile::parse(Path::new("pi.yaml"), &text).unwrap();
        let today = file.flow_sensor.calibration_due.0 - time::Duration::days(200);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let report = runtime.block_on(doctor(&file, &host(today), RigClock::start()));
        assert_eq!(report.exit_code(), exit::PROBLEM);
        let problems: Vec<_> =
            report.rows.iter().filter(|r| r.status == Status::Problem).map(|r| (r.check, r.subject.clone())).collect();
        assert_eq!(
            problems,
            vec![
                ("pump port", missing("ttyUSB0")),
                ("flow sensor", missing("i2c-1")),
                ("valve line", format!("{} line 17", missing("gpiochip0"))),
            ]
        );
        let text = report.to_string();
        assert!(text.contains("is the USB-serial adapter plugged in"), "{text}");
        assert!(text.contains("is I2C enabled"), "{text}");
        assert!(text.contains("is this the right chip"), "{text}");
        assert!(!text.contains("rig sim"), "{text}");
        assert!(text.ends_with("3 problem(s), 2 warning(s); fix the problems before a run"), "{text}");
    }
}
