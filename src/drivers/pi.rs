//! The real instruments on a Raspberry Pi, through linux-embedded-hal: the flow sensor on an
//! I2C bus device (`/dev/i2c-1`) and the valve on a line of a GPIO chip (`/dev/gpiochip0`).
//!
//! Opening is where a bench set-up goes wrong (I2C not enabled, user not in the `i2c`/`gpio`
//! group, wrong chip or line, line held by another program), so every error names the device
//! and says what to check.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::i2cdev::linux::LinuxI2CError;
use linux_embedded_hal::{CdevPin, I2cdev};

/// The consumer label the valve line carries in `gpioinfo`.
pub const VALVE_CONSUMER: &str = "rig-occlusion-valve";

/// Which step of opening a GPIO line failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpioStep {
    OpenChip,
    GetLine,
    RequestLine,
    LineInfo,
}

/// A device that could not be opened.
#[derive(Debug)]
pub enum PiError {
    I2c { path: PathBuf, source: LinuxI2CError },
    Gpio { chip: PathBuf, line: u32, step: GpioStep, source: linux_embedded_hal::gpio_cdev::Error },
}

impl PiError {
    /// The I/O error kind underneath, when the failure was an I/O error (not found,
    /// permission denied, ...).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            PiError::I2c { source, .. } => match source {
                LinuxI2CError::Io(e) => Some(e.kind()),
                LinuxI2CError::Errno(n) => Some(io::Error::from_raw_os_error(*n).kind()),
            },
            PiError::Gpio { source, .. } => {
                std::error::Error::source(source).and_then(|s| s.downcast_ref::<io::Error>()).map(io::Error::kind)
            }
        }
    }
}

impl fmt::Display for PiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.io_kind();
        match self {
            PiError::I2c { path, source } => {
                let path = path.display();
                write!(f, "cannot open I2C bus {path} for the flow sensor: {source} — ")?;
                match kind {
                    Some(io::ErrorKind::NotFound) => write!(
                        f,
                        "{path} does not exist: is I2C enabled (raspi-config → Interface \
                         Options → I2C, or dtparam=i2c_arm=on in config.txt) and is this the \
                         right bus (ls /dev/i2c-*)?"
                    ),
                    Some(io::ErrorKind::PermissionDenied) => f.write_str(
                        "permission denied: is the user in the i2c group \
                         (sudo usermod -aG i2c $USER, then log in again)?",
                    ),
                    _ => f.write_str(
                        "check that the device exists, that the user may open it (i2c group) \
                         and that I2C is enabled in raspi-config",
                    ),
                }
            }
            PiError::Gpio { chip, line, step, source } => {
                let chip = chip.display();
                let doing = match step {
                    GpioStep::OpenChip => format!("cannot open GPIO chip {chip}"),
                    GpioStep::GetLine => format!("GPIO chip {chip} has no line {line}"),
                    GpioStep::RequestLine => {
                        format!("cannot take line {line} of GPIO chip {chip} as an output")
                    }
                    GpioStep::LineInfo => {
                        format!("cannot read the state of line {line} of GPIO chip {chip}")
                    }
                };
                write!(f, "{doing} for the occlusion valve: {source} — ")?;
                match (kind, step) {
                    (Some(io::ErrorKind::NotFound), _) => {
                        write!(f, "{chip} does not exist: is this the right chip (ls /dev/gpiochip*)?")
                    }
                    (Some(io::ErrorKind::PermissionDenied), _) => f.write_str(
                        "permission denied: is the user in the gpio group \
                         (sudo usermod -aG gpio $USER, then log in again)?",
                    ),
                    (_, GpioStep::GetLine) => {
                        f.write_str("check the line number in the bench file (gpioinfo lists them)")
                    }
                    (_, GpioStep::RequestLine) => f.write_str(
                        "is the line held by another program or a device-tree overlay \
                         (gpioinfo shows its consumer)?",
                    ),
                    _ => f.write_str("check that the chip exists and that the user may open it (gpio group)"),
                }
            }
        }
    }
}

impl std::error::Error for PiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PiError::I2c { source, .. } => Some(source),
            PiError::Gpio { source, .. } => Some(source),
        }
    }
}

/// Opens an I2C bus device (e.g. `/dev/i2c-1`) for [`super::FlowSensor`].
pub fn open_i2c(path: &Path) -> Result<I2cdev, PiError> {
    I2cdev::new(path).map_err(|source| PiError::I2c { path: path.to_path_buf(), source })
}

/// Takes `line` of GPIO `chip` (e.g. `/dev/gpiochip0`) as an output for
/// [`super::OcclusionValve`], driven low from the moment it is requested: the valve is open
/// (safe) before the driver even exists.
pub fn open_valve_line(chip: &Path, line: u32) -> Result<CdevPin, PiError> {
    let err = |step| move |source| PiError::Gpio { chip: chip.to_path_buf(), line, step, source };
    let mut gpio = Chip::new(chip).map_err(err(GpioStep::OpenChip))?;
    let handle = gpio
        .get_line(line)
        .map_err(err(GpioStep::GetLine))?
        .request(LineRequestFlags::OUTPUT, 0, VALVE_CONSUMER)
        .map_err(err(GpioStep::RequestLine))?;
    CdevPin::new(handle).map_err(err(GpioStep::LineInfo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_i2c_bus_names_the_path_and_what_to_check() {
        let err = open_i2c(Path::new("/dev/i2c-99")).err().expect("must not open");
        assert_eq!(err.io_kind(), Some(io::ErrorKind::NotFound));
        let text = err.to_string();
        assert!(text.starts_with("cannot open I2C bus /dev/i2c-99"), "{text}");
        assert!(text.contains("is I2C enabled"), "{text}");
    }

    #[test]
    fn missing_gpio_chip_names_the_path_and_what_to_check() {
        let err = open_valve_line(Path::new("/dev/gpiochip99"), 17).err().expect("must not open");
        assert!(matches!(err, PiError::Gpio { step: GpioStep::OpenChip, line: 17, .. }), "{err:?}");
        assert_eq!(err.io_kind(), Some(io::ErrorKind::NotFound));
        let text = err.to_string();
        assert!(text.starts_with("cannot open GPIO chip /dev/gpiochip99"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
    }

    #[test]
    fn a_file_that_is_not_a_gpio_chip_is_an_error_not_a_panic() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = open_valve_line(file.path(), 0).err().expect("must not open");
        assert!(err.to_string().contains(&file.path().display().to_string()), "{err}");
        let err = open_i2c(file.path()).err().expect("must not open");
        assert!(err.to_string().contains(&file.path().display().to_string()), "{err}");
    }
}
