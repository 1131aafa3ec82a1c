//! The twin's flow sensor and valve line as in-memory embedded-hal devices, for the in-process
//! bench: the rig's real `FlowSensor` and `OcclusionValve` drivers run on them unchanged.

use embedded_hal::digital::{self, ErrorKind as PinErrorKind, OutputPin};
use embedded_hal::i2c::{self, ErrorKind, I2c, NoAcknowledgeSource, Operation, SevenBitAddress};

use super::shared::SharedTwin;

/// The twin's I2C bus.
#[derive(Clone)]
pub struct SimI2c {
    twin: SharedTwin,
}

impl SimI2c {
    pub fn new(twin: SharedTwin) -> Self {
        Self { twin }
    }
}

/// The only way the twin's bus fails: no device acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no acknowledge from the device at 0x{0:02X} on the twin's I2C bus")]
pub struct SimNack(pub u8);

impl i2c::Error for SimNack {
    fn kind(&self) -> ErrorKind {
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown)
    }
}

impl i2c::ErrorType for SimI2c {
    type Error = SimNack;
}

impl I2c<SevenBitAddress> for SimI2c {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Self::Error> {
        // Quietly: the sensor cannot change the firmware's timers, so the service port's timer
        // (the firmware's next deadline) stays right, and whatever the firmware said while the
        // twin caught up to now is sent when that timer fires, at its own instant. Waking the
        // service port on every read cost a task wake-up per sample.
        self.twin.with_quietly(|twin, now| {
            for op in operations.iter_mut() {
                match op {
                    Operation::Write(bytes) => twin.i2c_write(now, address, bytes),
                    Operation::Read(buf) => twin.i2c_read(now, address, buf),
                }
                .map_err(|_| SimNack(address))?;
            }
            Ok(())
        })
    }
}

/// One of the twin's GPIO lines.
#[derive(Clone)]
pub struct SimPin {
    twin: SharedTwin,
    line: u32,
}

impl SimPin {
    pub fn new(twin: SharedTwin, line: u32) -> Self {
        Self { twin, line }
    }
}

/// The twin has no such GPIO line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the twin has no GPIO line {0}")]
pub struct SimNoLine(pub u32);

impl digital::Error for SimNoLine {
    fn kind(&self) -> PinErrorKind {
        PinErrorKind::Other
    }
}

impl digital::ErrorType for SimPin {
    type Error = SimNoLine;
}

impl OutputPin for SimPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        let line = self.line;
        self.twin.with(|twin, now| twin.gpio_set(now, line, false)).map_err(|_| SimNoLine(line))
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        let line = self.line;
        self.twin.with(|twin, now| twin.gpio_set(now, line, true)).map_err(|_| SimNoLine(line))
    }
}
