//! Opening the pump's service port: a UART, a USB–serial adapter, or a pseudo-terminal.

use std::time::{Duration, Instant};

use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, SerialStream, StopBits};

use super::error::LinkError;

/// Opens `path` at `baud`, 8N1, no flow control (ICD part 1, "Physical"), with an exclusive lock.
pub fn open_serial(path: &str, baud: u32) -> Result<SerialStream, LinkError> {
    try_open(path, baud).map_err(|e| describe(path, &e))
}

/// [`open_serial`], waiting up to `patience` while another holder's lock is released: a link
/// that was just closed (the previous case's) releases the port from its own thread, a moment
/// after its bench was dropped. Any other failure is returned at once.
pub fn open_serial_patiently(path: &str, baud: u32, patience: Duration) -> Result<SerialStream, LinkError> {
    let until = Instant::now() + patience;
    loop {
        match try_open(path, baud) {
            Err(e) if is_locked(&e) && Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            opened => return opened.map_err(|e| describe(path, &e)),
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

fn describe(path: &str, e: &tokio_serial::Error) -> LinkError {
    let (reason, hint) = match e.kind() {
        _ if is_locked(e) => (
            "in use".to_string(),
            "another program holds the port (another `rig run`, a terminal such as minicom or screen, a service tool); close it and try again".to_string(),
        ),
        tokio_serial::ErrorKind::NoDevice => (
            "no such device".to_string(),
            "check the USB-serial adapter is plugged in (`ls /dev/ttyUSB* /dev/ttyAMA*`) or, for the software twin, that `rig sim` is running".to_string(),
        ),
        tokio_serial::ErrorKind::Io(std::io::ErrorKind::NotFound) => (
            "no such device".to_string(),
            "check the path; for the software twin, start `rig sim` first".to_string(),
        ),
        tokio_serial::ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => (
            "permission denied".to_string(),
            "add the user to the `dialout` group or run with access to the port".to_string(),
        ),
        _ => (e.description.clone(), "check the port is not in use by another program".to_string()),
    };
    LinkError::Open { device: path.to_string(), reason: format!("{reason} ({})", e.description), hint }
}
