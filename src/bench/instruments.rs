//! One I2C bus type and one GPIO pin type for every kind of bench, so that the drivers and the
//! executor are written once: the twin's in-memory devices, the software bench bus, or Linux
//! devices on a Raspberry Pi.

use std::fmt;

use embedded_hal::digital::{self, OutputPin};
use embedded_hal::i2c::{self, I2c, Operation, SevenBitAddress};

use crate::bus::{BusI2c, BusPin};
use crate::twin_host::{SimI2c, SimPin};

/// The I2C bus the flow sensor sits on.
pub enum BenchI2c {
    Twin(SimI2c),
    Bus(BusI2c),
    Linux(linux_embedded_hal::I2cdev),
}

/// The GPIO line that drives the valve.
pub enum BenchPin {
    Twin(SimPin),
    Bus(BusPin),
    Linux(linux_embedded_hal::CdevPin),
}

/// An instrument bus error from any backend, keeping its embedded-hal kind and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenchBusError<K> {
    pub kind: K,
    pub message: String,
}

impl<K> fmt::Display for BenchBusError<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<K: fmt::Debug> std::error::Error for BenchBusError<K> {}

pub type BenchI2cError = BenchBusError<i2c::ErrorKind>;
pub type BenchPinError = BenchBusError<digital::ErrorKind>;

impl i2c::Error for BenchI2cError {
    fn kind(&self) -> i2c::ErrorKind {
        self.kind
    }
}

impl digital::Error for BenchPinError {
    fn kind(&self) -> digital::ErrorKind {
        self.kind
    }
}

fn i2c_err<E: i2c::Error + fmt::Display>(e: E) -> BenchI2cError {
    BenchBusError { kind: e.kind(), message: e.to_string() }
}

fn pin_err<E: digital::Error + fmt::Display>(e: E) -> BenchPinError {
    BenchBusError { kind: e.kind(), message: e.to_string() }
}

impl i2c::ErrorType for BenchI2c {
    type Error = BenchI2cError;
}

impl I2c<SevenBitAddress> for BenchI2c {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Self::Error> {
        match self {
            BenchI2c::Twin(bus) => bus.transaction(address, operations).map_err(i2c_err),
            BenchI2c::Bus(bus) => bus.transaction(address, operations).map_err(i2c_err),
            BenchI2c::Linux(bus) => bus.transaction(address, operations).map_err(i2c_err),
        }
    }
}

impl digital::ErrorType for BenchPin {
    type Error = BenchPinError;
}

impl OutputPin for BenchPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        match self {
            BenchPin::Twin(pin) => pin.set_low().map_err(pin_err),
            BenchPin::Bus(pin) => pin.set_low().map_err(pin_err),
            BenchPin::Linux(pin) => pin.set_low().map_err(pin_err),
        }
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        match self {
            BenchPin::Twin(pin) => pin.set_high().map_err(pin_err),
            BenchPin::Bus(pin) => pin.set_high().map_err(pin_err),
            BenchPin::Linux(pin) => pin.set_high().map_err(pin_err),
        }
    }
}
