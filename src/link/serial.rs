//! Opening the pump's service port: a UART, a USB–serial adapter, or a pseudo-terminal.
//!
//! An open that fails names the port and says what to check for the kind of bench it is: a
//! hardware bench's adapter (plugged in, dialout group, udev name, baud rate), or the software
//! bench's pseudo-terminal (`rig sim` running).

use std::io;
use std::path::Path;

use std::time::{Duration, Instant};

use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, SerialStream, StopBits};

use super::error::LinkError;

/// What is at the other end of the port, for the hints of an open that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// A UART or USB–serial adapter wired to the pump's service port.
    Adapter,
    /// The pseudo-terminal of a software bench (`rig sim`).
    Simulator,
}

/// What is at a device path, to tell "missing" from "not a device" in a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Missing,
    NotCharDevice,
    CharDevice,
    /// It may exist, but its metadata cannot be read (a folder on the way is not searchable).
    Unreadable,
}

/// Classifies `path`, following symlinks (a udev name is a link to the device).
pub fn path_kind(path: &Path) -> PathKind {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_char_device() => PathKind::CharDevice,
        Ok(_) => PathKind::NotCharDevice,
        Err(e) if e.kind() == io::ErrorKind::NotFound => PathKind::Missing,
        Err(_) => PathKind::Unreadable,
    }
}

/// Opens `path` at `baud`, 8N1, no flow control (ICD part 1, "Physical"), as a hardware
/// adapter.
pub fn open_serial(path: &str, baud: u32) -> Result<SerialStream, LinkError> {
    open_port(path, baud, PortKind::Adapter)
}

/// Opens `path` at `baud`, 8N1, no flow control (ICD part 1, "Physical"); a failure's hint fits
/// `kind`.
pub fn open_port(path: &str, baud: u32, kind: PortKind) -> Result<SerialStream, LinkError> {
    try_open(path, baud).map_err(|e| open_error(path, baud, kind, &e))
}

/// [`open_port`], waiting up to `patience` while another holder's lock is released: a link
/// that was just closed (the previous case's) releases the port from its own thread, a moment
/// after its bench was dropped. Any other failure is returned at once.
pub fn open_port_patiently(
    path: &str,
    baud: u32,
    kind: PortKind,
    patience: Duration,
) -> Result<SerialStream, LinkError> {
    let until = Instant::now() + patience;
    loop {
        match try_open(path, baud) {
            Err(e) if is_locked(&e) && Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            opened => return opened.map_err(|e| open_error(path, baud, kind, &e)),
        }
    }
}

fn try_open(path: &str, baud: u32) -> Result<SerialStream, tokio_serial::Error> {
    tokio_serial::new(path, baud)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .flow_control(FlowControl::None)
        .open_native_async()
}

/// serialport reports a port whose exclusive `flock` another process (or link) holds as
/// `NoDevice` with this description.
fn is_locked(e: &tokio_serial::Error) -> bool {
    e.kind() == tokio_serial::ErrorKind::NoDevice && e.description.contains("exclusive lock")
}

/// The typed error for a port that would not open, with what to check.
fn open_error(path: &str, baud: u32, kind: PortKind, e: &tokio_serial::Error) -> LinkError {
    use tokio_serial::ErrorKind as K;
    let found = path_kind(Path::new(path));
    let is = |errno: nix::errno::Errno| e.description == errno.desc();
    let (reason, hint) = match (e.kind(), found) {
        (K::Io(io::ErrorKind::NotFound), _) | (_, PathKind::Missing) => ("no such device", missing_hint(path, kind)),
        (K::Io(io::ErrorKind::PermissionDenied), _) => (
            "permission denied",
            match kind {
                PortKind::Adapter => format!(
                    "is the user in the dialout group (ls -l {path} shows the port's group; sudo usermod -aG \
                     dialout $USER, then log in again)?"
                ),
                PortKind::Simulator => {
                    "the pseudo-terminal belongs to another user: run `rig sim` as this user".to_string()
                }
            },
        ),
        (_, PathKind::NotCharDevice) => (
            "not a serial device",
            format!("{path} is a file or folder, not a serial port: check the serial path in the bench file"),
        ),
        // serialport reports EBUSY (the port locked with TIOCEXCL by another program) as this.
        (K::NoDevice, _) => (
            "port busy",
            format!(
                "another program holds {path} (a rig still running, a terminal program, ModemManager: \
                 fuser -v {path} names it); stop it and try again"
            ),
        ),
        _ if is(nix::errno::Errno::ENOTTY) => (
            "not a serial port",
            format!("{path} is a device but not a serial port: check the serial path in the bench file"),
        ),
        _ if is(nix::errno::Errno::EINVAL) => (
            "settings refused",
            format!(
                "the port refused {baud} baud 8N1: check the baud rate in the bench file (the pump's service \
                 port runs at 115200)"
            ),
        ),
        _ => ("cannot open", format!("check {path} is the pump's port and not in use by another program")),
    };
    LinkError::Open { device: path.to_string(), reason: format!("{reason} ({})", e.description), hint }
}

fn missing_hint(path: &str, kind: PortKind) -> String {
    match kind {
        PortKind::Adapter => format!(
            "{path} does not exist: is the USB-serial adapter plugged in (ls /dev/ttyUSB* /dev/serial/by-id/; \
             dmesg names a new one), and is this its name (the udev rule of the Debian package names it \
             /dev/rig-pump)?"
        ),
        PortKind::Simulator => format!("{path} does not exist: start the software bench first (`rig sim`)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_err(path: &str, kind: PortKind) -> String {
        match open_port(path, 115_200, kind) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{path} opened"),
        }
    }

    #[tokio::test]
    async fn a_missing_adapter_names_the_port_and_never_mentions_the_simulator() {
        let text = open_err("/dev/ttyUSB-rig-test-missing", PortKind::Adapter);
        assert!(
            text.starts_with("pump serial port /dev/ttyUSB-rig-test-missing: cannot open: no such device"),
            "{text}"
        );
        assert!(text.contains("is the USB-serial adapter plugged in"), "{text}");
        assert!(!text.contains("rig sim"), "{text}");
    }

    #[tokio::test]
    async fn a_missing_simulator_port_says_to_start_rig_sim() {
        let text = open_err("/tmp/rig-test-missing/pump", PortKind::Simulator);
        assert!(text.contains("start the software bench first (`rig sim`)"), "{text}");
        assert!(!text.contains("USB"), "{text}");
    }

    #[tokio::test]
    async fn a_plain_file_is_not_a_serial_device() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().display().to_string();
        let text = open_err(&path, PortKind::Adapter);
        assert!(text.contains("not a serial device"), "{text}");
        assert!(text.contains("check the serial path in the bench file"), "{text}");
    }

    #[tokio::test]
    async fn a_character_device_that_is_no_serial_port_says_so() {
        let text = open_err("/dev/null", PortKind::Adapter);
        assert!(text.contains("/dev/null is a device but not a serial port"), "{text}");
    }

    #[test]
    fn permission_denied_points_at_dialout_and_busy_at_the_other_program() {
        // The errors the kernel gives a user outside dialout, and a port another program locked
        // (root is not stopped by file modes, so these are built as the OS reports them).
        let denied = tokio_serial::Error::new(tokio_serial::ErrorKind::Io(io::ErrorKind::PermissionDenied), "EACCES");
        let text = open_error("/dev/null", 115_200, PortKind::Adapter, &denied).to_string();
        assert!(text.contains("permission denied"), "{text}");
        assert!(text.contains("sudo usermod -aG dialout $USER"), "{text}");
        let busy = tokio_serial::Error::new(tokio_serial::ErrorKind::NoDevice, nix::errno::Errno::EBUSY.desc());
        let text = open_error("/dev/null", 115_200, PortKind::Adapter, &busy).to_string();
        assert!(text.contains("another program holds /dev/null"), "{text}");
        let baud = tokio_serial::Error::new(tokio_serial::ErrorKind::Unknown, nix::errno::Errno::EINVAL.desc());
        let text = open_error("/dev/null", 9_999_999, PortKind::Adapter, &baud).to_string();
        assert!(text.contains("refused 9999999 baud 8N1: check the baud rate"), "{text}");
    }
}
