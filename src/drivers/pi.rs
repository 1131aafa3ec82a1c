//! The real instruments on a Raspberry Pi: the flow sensor on an I2C bus device (`/dev/i2c-1`,
//! through linux-embedded-hal) and the valve on a line of a GPIO chip (`/dev/gpiochip0`, through
//! the GPIO character device's v2 interface, gpiocdev).
//!
//! The valve line is a [`GpioLine`]: a cheap, cloneable handle on one shared line request, so
//! that the emergency stop can drive the line low itself while the driver holds its own handle
//! (a process that exits without running `Drop` must still leave the valve open). The level is
//! written through a [`LineLevels`] backend, gpiocdev's request on the Pi and a recording double
//! in tests, so the type the emergency path handles is the same in both.
//!
//! Opening is where a bench set-up goes wrong (I2C not enabled, user not in the `i2c`/`gpio`
//! group, wrong chip or line, line held by another program), so every error names the device
//! and says what to check.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use embedded_hal::digital::{self, OutputPin};
use gpiocdev::line::{Bias, Value};
use linux_embedded_hal::I2cdev;
use linux_embedded_hal::i2cdev::linux::LinuxI2CError;

pub use crate::link::serial::{PathKind, path_kind};

/// The consumer label the valve line carries in `gpioinfo`.
pub const VALVE_CONSUMER: &str = "rig valve";

/// Writes levels to one GPIO output line. `true` is high: the valve energised (line closed).
pub trait LineLevels: Send + Sync {
    fn set_level(&self, high: bool) -> Result<(), LineLevelError>;
}

/// A level that could not be written, as the backend reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineLevelError(pub String);

/// gpiocdev's line request, on the Pi: one requested output line.
struct CdevLine(gpiocdev::Request);

impl LineLevels for CdevLine {
    fn set_level(&self, high: bool) -> Result<(), LineLevelError> {
        let value = if high { Value::Active } else { Value::Inactive };
        self.0.set_lone_value(value).map_err(|e| LineLevelError(e.to_string()))
    }
}

/// Whether the line got the pull-down bias it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineBias {
    /// Pull-down enabled: with the rig gone and the line released, the gate is pulled low.
    PullDown,
    /// The chip refused a bias on this line; requested without one. The valve driver's own
    /// pull-down resistor is then all that holds a released line low.
    Refused(String),
    /// A test double, which has no bias.
    NotApplicable,
}

/// The valve's GPIO line: a handle on a shared output line request. Clones drive the same line.
#[derive(Clone)]
pub struct GpioLine {
    levels: Arc<dyn LineLevels>,
    chip: PathBuf,
    line: u32,
    bias: LineBias,
}

impl fmt::Debug for GpioLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GpioLine({} line {}, {:?})", self.chip.display(), self.line, self.bias)
    }
}

impl GpioLine {
    /// A line over any backend: the Pi's request ([`open_valve_line`]) or a test double.
    pub fn over(levels: Arc<dyn LineLevels>, chip: &Path, line: u32, bias: LineBias) -> Self {
        GpioLine { levels, chip: chip.to_path_buf(), line, bias }
    }

    pub fn chip(&self) -> &Path {
        &self.chip
    }

    pub fn line(&self) -> u32 {
        self.line
    }

    pub fn bias(&self) -> &LineBias {
        &self.bias
    }

    fn drive(&self, high: bool) -> Result<(), GpioLineError> {
        self.levels.set_level(high).map_err(|LineLevelError(message)| GpioLineError {
            chip: self.chip.clone(),
            line: self.line,
            level: u8::from(high),
            message,
        })
    }
}

/// A level that could not be written to a [`GpioLine`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioLineError {
    pub chip: PathBuf,
    pub line: u32,
    pub level: u8,
    pub message: String,
}

impl fmt::Display for GpioLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot drive line {} of {} to {}: {}", self.line, self.chip.display(), self.level, self.message)
    }
}

impl std::error::Error for GpioLineError {}

impl digital::Error for GpioLineError {
    fn kind(&self) -> digital::ErrorKind {
        digital::ErrorKind::Other
    }
}

impl digital::ErrorType for GpioLine {
    type Error = GpioLineError;
}

impl OutputPin for GpioLine {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.drive(false)
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.drive(true)
    }
}

/// What went wrong taking the valve's GPIO line.
#[derive(Debug)]
pub enum GpioProblem {
    /// The chip device could not be opened (missing, not a GPIO chip, permission).
    OpenChip(gpiocdev::Error),
    /// The chip's information could not be read.
    ChipInfo(gpiocdev::Error),
    /// The bench file names a line the chip does not have.
    NoSuchLine { lines: u32 },
    /// Another program (or a kernel driver) holds the line.
    Held { consumer: String },
    /// The kernel refused the request.
    Request(gpiocdev::Error),
}

/// A device that could not be opened.
#[derive(Debug)]
pub enum PiError {
    I2c { path: PathBuf, source: LinuxI2CError },
    Gpio { chip: PathBuf, line: u32, problem: GpioProblem },
}

/// The errno inside a gpiocdev error, where it has one.
fn gpiocdev_errno(e: &gpiocdev::Error) -> Option<i32> {
    match e {
        gpiocdev::Error::Os(errno) => Some(errno.0),
        gpiocdev::Error::Uapi(_, gpiocdev_uapi::Error::Os(errno)) => Some(errno.0),
        _ => None,
    }
}

const ENOTTY: i32 = 25;
const EBUSY: i32 = 16;
const EINVAL: i32 = 22;
const EOPNOTSUPP: i32 = 95;
/// The kernel's internal "not supported" that gpiolib lets through for bias settings.
const ENOTSUPP: i32 = 524;

impl PiError {
    /// The I/O error kind underneath, when the failure was an I/O error (not found,
    /// permission denied, ...).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        self.errno().map(|n| io::Error::from_raw_os_error(n).kind())
    }

    /// The OS error number underneath, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            PiError::I2c { source, .. } => match source {
                LinuxI2CError::Io(e) => e.raw_os_error(),
                LinuxI2CError::Errno(n) => Some(*n),
            },
            PiError::Gpio { problem, .. } => match problem {
                GpioProblem::OpenChip(e) | GpioProblem::ChipInfo(e) | GpioProblem::Request(e) => gpiocdev_errno(e),
                GpioProblem::NoSuchLine { .. } | GpioProblem::Held { .. } => None,
            },
        }
    }

    /// The device path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            PiError::I2c { path, .. } => path,
            PiError::Gpio { chip, .. } => chip,
        }
    }

    /// What to check, for a person at the bench.
    pub fn hint(&self) -> String {
        let kind = self.io_kind();
        match self {
            PiError::I2c { path, .. } => {
                let path = path.display();
                match (kind, self.errno()) {
                    (Some(io::ErrorKind::NotFound), _) => format!(
                        "{path} does not exist: is I2C enabled (sudo raspi-config, Interface Options, \
                         I2C; or dtparam=i2c_arm=on in /boot/firmware/config.txt, then reboot) and \
                         is this the right bus (ls /dev/i2c-*)?"
                    ),
                    (Some(io::ErrorKind::PermissionDenied), _) => format!(
                        "permission denied: is the user in the i2c group (ls -l {path} shows the \
                         device's group; sudo usermod -aG i2c $USER, then log in again)?"
                    ),
                    // What is at the path decides, not only the errno of the I2C ioctl on it (a
                    // kernel says ENOTTY; qemu-user, which lacks the ioctl, ENOSYS).
                    (_, errno) if errno == Some(ENOTTY) || path_kind(self.path()) == PathKind::NotCharDevice => {
                        format!("{path} is not an I2C bus device: check the i2c path in the bench file (ls /dev/i2c-*)")
                    }
                    _ => format!(
                        "check that {path} is an I2C bus (ls /dev/i2c-*), that the user may open it \
                         (i2c group) and that I2C is enabled in raspi-config"
                    ),
                }
            }
            PiError::Gpio { chip, line, problem } => {
                let chip = chip.display();
                match problem {
                    GpioProblem::NoSuchLine { lines } => format!(
                        "{chip} has lines 0 to {}: check the valve line in the bench file (the \
                         GPIO number, not the header pin number; gpioinfo lists them)",
                        lines.saturating_sub(1)
                    ),
                    GpioProblem::Held { consumer } => format!(
                        "line {line} is held by {}: stop that program, or remove the device-tree \
                         overlay that claims the line, or wire the valve to a free line (gpioinfo \
                         shows every line's consumer)",
                        consumer_name(consumer)
                    ),
                    GpioProblem::OpenChip(gpiocdev::Error::GpioChip(..)) => format!(
                        "{chip} is not a GPIO chip: check the gpiochip path in the bench file (ls /dev/gpiochip*)"
                    ),
                    _ if kind == Some(io::ErrorKind::NotFound) => format!(
                        "{chip} does not exist: is this the right chip (ls /dev/gpiochip*; gpiodetect \
                         names them)?"
                    ),
                    _ if kind == Some(io::ErrorKind::PermissionDenied) => format!(
                        "permission denied: is the user in the gpio group (ls -l {chip} shows the \
                         device's group; sudo usermod -aG gpio $USER, then log in again)?"
                    ),
                    GpioProblem::Request(_) => format!(
                        "is line {line} held by another program or a device-tree overlay (gpioinfo \
                         shows its consumer)?"
                    ),
                    _ => format!("check that {chip} is a GPIO chip and that the user may open it (gpio group)"),
                }
            }
        }
    }
}

/// A consumer label as a person reads it.
fn consumer_name(consumer: &str) -> String {
    if consumer.is_empty() {
        "another program or a kernel driver (it gave no name)".into()
    } else {
        format!("`{consumer}`")
    }
}

impl fmt::Display for PiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PiError::I2c { path, source } => {
                write!(f, "cannot open I2C bus {} for the flow sensor: {source}", path.display())?;
            }
            PiError::Gpio { chip, line, problem } => {
                let chip = chip.display();
                match problem {
                    GpioProblem::OpenChip(e) => write!(f, "cannot open GPIO chip {chip} for the occlusion valve: {e}")?,
                    GpioProblem::ChipInfo(e) => write!(f, "cannot read GPIO chip {chip} for the occlusion valve: {e}")?,
                    GpioProblem::NoSuchLine { .. } => {
                        write!(f, "GPIO chip {chip} has no line {line} for the occlusion valve")?
                    }
                    GpioProblem::Held { .. } => {
                        write!(f, "line {line} of GPIO chip {chip} for the occlusion valve is already in use")?
                    }
                    GpioProblem::Request(e) => write!(
                        f,
                        "cannot take line {line} of GPIO chip {chip} as an output for the occlusion valve: {e}"
                    )?,
                }
            }
        }
        write!(f, " — {}", self.hint())
    }
}

impl std::error::Error for PiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PiError::I2c { source, .. } => Some(source),
            PiError::Gpio { problem, .. } => match problem {
                GpioProblem::OpenChip(e) | GpioProblem::ChipInfo(e) | GpioProblem::Request(e) => Some(e),
                GpioProblem::NoSuchLine { .. } | GpioProblem::Held { .. } => None,
            },
        }
    }
}

/// Opens an I2C bus device (e.g. `/dev/i2c-1`) for [`super::FlowSensor`].
pub fn open_i2c(path: &Path) -> Result<I2cdev, PiError> {
    I2cdev::new(path).map_err(|source| PiError::I2c { path: path.to_path_buf(), source })
}

/// Takes `line` of GPIO `chip` (e.g. `/dev/gpiochip0`) as an output for
/// [`super::OcclusionValve`], driven low from the moment it is requested (the valve is open,
/// safe, before the driver even exists), with pull-down bias where the chip allows it, under the
/// consumer label [`VALVE_CONSUMER`].
pub fn open_valve_line(chip_path: &Path, line: u32) -> Result<GpioLine, PiError> {
    let err = |problem| PiError::Gpio { chip: chip_path.to_path_buf(), line, problem };
    let chip = gpiocdev::Chip::from_path(chip_path).map_err(|e| err(GpioProblem::OpenChip(e)))?;
    let lines = chip.info().map_err(|e| err(GpioProblem::ChipInfo(e)))?.num_lines;
    if line >= lines {
        return Err(err(GpioProblem::NoSuchLine { lines }));
    }
    let held = || {
        let consumer = chip.line_info(line).map(|info| info.consumer).unwrap_or_default();
        err(GpioProblem::Held { consumer })
    };
    if chip.line_info(line).is_ok_and(|info| info.used) {
        return Err(held());
    }
    let request = |bias: Option<Bias>| {
        gpiocdev::Request::builder()
            .on_chip(chip_path)
            .with_consumer(VALVE_CONSUMER)
            .with_line(line)
            .as_output(Value::Inactive)
            .with_bias(bias)
            .request()
    };
    let refusal = |e: &gpiocdev::Error| match gpiocdev_errno(e) {
        Some(EBUSY) => Some(held()),
        _ => None,
    };
    let (req, bias) = match request(Some(Bias::PullDown)) {
        Ok(r) => (r, LineBias::PullDown),
        Err(e) if matches!(gpiocdev_errno(&e), Some(EINVAL | EOPNOTSUPP | ENOTSUPP)) => match request(None) {
            Ok(r) => (r, LineBias::Refused(e.to_string())),
            Err(e) => return Err(refusal(&e).unwrap_or_else(|| err(GpioProblem::Request(e)))),
        },
        Err(e) => return Err(refusal(&e).unwrap_or_else(|| err(GpioProblem::Request(e)))),
    };
    Ok(GpioLine::over(Arc::new(CdevLine(req)), chip_path, line, bias))
}

/// A [`LineLevels`] double that records every level written, and can be made to fail.
#[cfg(test)]
pub(crate) mod recording {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Default)]
    pub struct RecordingLine {
        levels: Mutex<Vec<bool>>,
        fail: AtomicBool,
    }

    impl RecordingLine {
        /// Every level written so far, `true` high.
        pub fn levels(&self) -> Vec<bool> {
            self.levels.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }

        pub fn fail_from_now(&self) {
            self.fail.store(true, Ordering::SeqCst);
        }
    }

    impl LineLevels for RecordingLine {
        fn set_level(&self, high: bool) -> Result<(), LineLevelError> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(LineLevelError("Input/output error (os error 5)".into()));
            }
            self.levels.lock().unwrap_or_else(|p| p.into_inner()).push(high);
            Ok(())
        }
    }

    /// A [`GpioLine`] over a fresh recording double, and the double.
    pub fn line(number: u32) -> (GpioLine, Arc<RecordingLine>) {
        let rec = Arc::new(RecordingLine::default());
        (GpioLine::over(rec.clone(), Path::new("/dev/gpiochip0"), number, LineBias::NotApplicable), rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::valve::OcclusionValve;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn missing_i2c_bus_names_the_path_and_what_to_check() {
        let err = open_i2c(Path::new("/dev/i2c-99")).err().expect("must not open");
        assert_eq!(err.io_kind(), Some(io::ErrorKind::NotFound));
        let text = err.to_string();
        assert!(text.starts_with("cannot open I2C bus /dev/i2c-99 for the flow sensor"), "{text}");
        assert!(text.contains("is I2C enabled"), "{text}");
        assert!(text.contains("dtparam=i2c_arm=on"), "{text}");
    }

    #[test]
    fn a_file_that_is_not_an_i2c_bus_says_so() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = open_i2c(file.path()).err().expect("must not open");
        let text = err.to_string();
        assert!(text.contains(&file.path().display().to_string()), "{text}");
        assert!(text.contains("is not an I2C bus device"), "{text}");
        assert_eq!(path_kind(file.path()), PathKind::NotCharDevice);
    }

    #[test]
    fn an_unreadable_i2c_bus_points_at_the_i2c_group_unless_root() {
        use std::os::unix::fs::PermissionsExt;
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o000)).unwrap();
        let err = open_i2c(file.path()).err().expect("a plain file is no I2C bus");
        if is_root() {
            // Root is not stopped by file modes: the open succeeds and the I2C ioctl fails,
            // on a file that is no device.
            assert_ne!(err.io_kind(), Some(io::ErrorKind::PermissionDenied), "{err}");
            assert!(err.to_string().contains("is not an I2C bus device"), "{err}");
        } else {
            assert_eq!(err.io_kind(), Some(io::ErrorKind::PermissionDenied), "{err}");
            assert!(err.to_string().contains("i2c group"), "{err}");
        }
        // The hint itself, for the error the kernel gives a user outside the i2c group.
        let denied = PiError::I2c { path: "/dev/i2c-1".into(), source: LinuxI2CError::Errno(13) };
        assert_eq!(
            denied.to_string(),
            "cannot open I2C bus /dev/i2c-1 for the flow sensor: EACCES: Permission denied — \
             permission denied: is the user in the i2c group (ls -l /dev/i2c-1 shows the device's \
             group; sudo usermod -aG i2c $USER, then log in again)?"
        );
    }

    #[test]
    fn missing_gpio_chip_names_the_path_and_what_to_check() {
        let err = open_valve_line(Path::new("/dev/gpiochip99"), 17).expect_err("must not open");
        assert!(matches!(err, PiError::Gpio { problem: GpioProblem::OpenChip(_), line: 17, .. }), "{err:?}");
        assert_eq!(err.io_kind(), Some(io::ErrorKind::NotFound));
        let text = err.to_string();
        assert!(text.starts_with("cannot open GPIO chip /dev/gpiochip99"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
    }

    #[test]
    fn a_file_or_device_that_is_not_a_gpio_chip_says_so() {
        let file = tempfile::NamedTempFile::new().unwrap();
        for path in [file.path(), Path::new("/dev/null")] {
            let err = open_valve_line(path, 0).expect_err("must not open");
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains("is not a GPIO chip: check the gpiochip path"), "{text}");
        }
    }

    #[test]
    fn gpio_hints_for_permission_a_missing_line_and_a_held_line() {
        let chip = PathBuf::from("/dev/gpiochip0");
        let denied = PiError::Gpio {
            chip: chip.clone(),
            line: 17,
            problem: GpioProblem::OpenChip(gpiocdev::Error::Os(gpiocdev_uapi::Errno(13))),
        };
        assert_eq!(denied.io_kind(), Some(io::ErrorKind::PermissionDenied));
        assert!(denied.to_string().contains("is the user in the gpio group"), "{denied}");
        let missing = PiError::Gpio { chip: chip.clone(), line: 60, problem: GpioProblem::NoSuchLine { lines: 54 } };
        assert_eq!(
            missing.to_string(),
            "GPIO chip /dev/gpiochip0 has no line 60 for the occlusion valve — /dev/gpiochip0 has \
             lines 0 to 53: check the valve line in the bench file (the GPIO number, not the header \
             pin number; gpioinfo lists them)"
        );
        let held =
            PiError::Gpio { chip: chip.clone(), line: 17, problem: GpioProblem::Held { consumer: "gpio-fan".into() } };
        assert!(held.to_string().contains("line 17 is held by `gpio-fan`: stop that program"), "{held}");
        let anonymous = PiError::Gpio { chip, line: 17, problem: GpioProblem::Held { consumer: String::new() } };
        assert!(anonymous.to_string().contains("held by another program or a kernel driver"), "{anonymous}");
    }

    #[test]
    fn clones_of_a_line_drive_the_same_line_and_errors_name_it() {
        let (line, rec) = recording::line(17);
        let mut valve = OcclusionValve::new(line.clone(), 17).unwrap();
        valve.close().unwrap();
        let mut second = line.clone();
        second.set_low().unwrap();
        assert_eq!(rec.levels(), vec![false, true, false]);
        rec.fail_from_now();
        let e = second.set_high().unwrap_err();
        assert_eq!(e.to_string(), "cannot drive line 17 of /dev/gpiochip0 to 1: Input/output error (os error 5)");
        drop(valve);
    }
}
