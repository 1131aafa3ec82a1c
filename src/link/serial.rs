//! Opening the pump's service port: a UART, a USB–serial adapter, or a pseudo-terminal.

use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, SerialStream, StopBits};

use super::error::LinkError;

/// Opens `path` at `baud`, 8N1, no flow control (ICD part 1, "Physical").
pub fn open_serial(path: &str, baud: u32) -> Result<SerialStream, LinkError> {
    let port = tokio_serial::new(path, baud)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .flow_control(FlowControl::None)
        .open_native_async();
    port.map_err(|e| {
        let (reason, hint) = match e.kind() {
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
    })
}
