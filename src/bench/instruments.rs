//! One I2C bus type and one GPIO pin type for every kind of bench, so that the drivers and the
//! executor are written once: the twin's in-memory devices, the software bench bus, or Linux
//! devices on a Raspberry Pi.
//!
//! On the Pi the I2C bus is a blocking Linux device: [`LinuxI2c`] keeps its transactions off the
//! async runtime's worker threads, whoever calls the driver (bench start-up, the bench check, the
//! executor starting and stopping the sensor, identity reads).

use std::fmt;

use embedded_hal::digital::{self, OutputPin};
use embedded_hal::i2c::{self, I2c, Operation, SevenBitAddress};

use crate::bus::{BusI2c, BusPin};
use crate::twin_host::{SimI2c, SimPin};

/// The I2C bus the flow sensor sits on.
pub enum BenchI2c {
    Twin(SimI2c),
    Bus(BusI2c),
    Linux(LinuxI2c),
}

/// The GPIO line that drives the valve.
pub enum BenchPin {
    Twin(SimPin),
    Bus(BusPin),
    Linux(crate::drivers::pi::GpioLine),
}

impl BenchPin {
    /// A second handle on the same line, for an emergency stop that must drive it while the
    /// valve driver holds the first. Every backend has one: the twin's and the bench bus's pins
    /// are handles on a shared connection, and a Linux line is a handle on a shared request.
    pub fn second_handle(&self) -> BenchPin {
        match self {
            BenchPin::Twin(pin) => BenchPin::Twin(pin.clone()),
            BenchPin::Bus(pin) => BenchPin::Bus(pin.clone()),
            BenchPin::Linux(line) => BenchPin::Linux(line.clone()),
        }
    }
}

/// A blocking I2C bus whose transactions never run on an async runtime's worker thread.
///
/// The flow-sensor driver is synchronous (embedded-hal's blocking `I2c`), and a Linux I2C
/// transaction sleeps in the kernel for as long as the bus takes: on a worker thread it would
/// stall the pump link and the timers with it. Called from a worker of a multi-threaded runtime,
/// each transaction runs under [`tokio::task::block_in_place`], which hands the worker's other
/// tasks to another thread first (tokio's blocking pool, as `spawn_blocking` uses); called from
/// any other thread (the sampler's own, a blocking-pool thread) it runs in place.
pub struct LinuxI2c(Box<dyn I2c<SevenBitAddress, Error = BenchI2cError> + Send + Sync>);

impl LinuxI2c {
    /// The bus device on the Pi.
    pub fn device(dev: linux_embedded_hal::I2cdev) -> Self {
        LinuxI2c(Box::new(ErrorsAsBench(dev)))
    }

    /// Any blocking bus (a test double in tests).
    pub fn over<B: I2c<SevenBitAddress> + Send + Sync + 'static>(bus: B) -> Self
    where
        B::Error: fmt::Display,
    {
        LinuxI2c(Box::new(ErrorsAsBench(bus)))
    }
}

/// Maps a bus's own error type to [`BenchI2cError`].
struct ErrorsAsBench<B>(B);

impl<B: I2c<SevenBitAddress>> i2c::ErrorType for ErrorsAsBench<B>
where
    B::Error: fmt::Display,
{
    type Error = BenchI2cError;
}

impl<B: I2c<SevenBitAddress>> I2c<SevenBitAddress> for ErrorsAsBench<B>
where
    B::Error: fmt::Display,
{
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Self::Error> {
        self.0.transaction(address, operations).map_err(i2c_err)
    }
}

impl i2c::ErrorType for LinuxI2c {
    type Error = BenchI2cError;
}

impl I2c<SevenBitAddress> for LinuxI2c {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Self::Error> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let bus = &mut self.0;
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            // On a worker (or in `block_on`) of a multi-threaded runtime: move the other tasks
            // off this thread first. Outside a worker it runs the closure as it is.
            Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| bus.transaction(address, operations)),
            // No runtime (the sampler thread), or a single-threaded one, where nothing can be
            // moved: the hardware bench always runs on the multi-threaded runtime.
            _ => bus.transaction(address, operations),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A blocking bus whose transaction starts a task on the runtime and then waits for it:
    /// it completes only if the runtime can run that task while the transaction blocks.
    struct WaitsForTheRuntime {
        runtime: tokio::runtime::Handle,
    }

    impl i2c::ErrorType for WaitsForTheRuntime {
        type Error = i2c::ErrorKind;
    }

    impl I2c<SevenBitAddress> for WaitsForTheRuntime {
        fn transaction(&mut self, _: u8, _: &mut [Operation<'_>]) -> Result<(), Self::Error> {
            let (tx, rx) = mpsc::channel();
            self.runtime.spawn(async move { tx.send(()) });
            rx.recv_timeout(Duration::from_secs(10)).map_err(|_| i2c::ErrorKind::Other)
        }
    }

    #[test]
    fn a_linux_i2c_transaction_on_a_worker_thread_leaves_the_runtime_running() {
        // One worker: a transaction that blocked it would leave the task it waits for unrun.
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let handle = runtime.handle().clone();
        let result = runtime.block_on(async move {
            let mut bus = LinuxI2c::over(WaitsForTheRuntime { runtime: handle });
            tokio::spawn(async move { bus.write(0x08, &[0x3f, 0xf9]) }).await
        });
        assert_eq!(result.unwrap(), Ok(()));
    }

    #[test]
    fn a_linux_i2c_transaction_off_the_runtime_runs_in_place() {
        // The sampler's own thread: no runtime, nothing to move.
        struct Answers;
        impl i2c::ErrorType for Answers {
            type Error = i2c::ErrorKind;
        }
        impl I2c<SevenBitAddress> for Answers {
            fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), Self::Error> {
                if let Some(Operation::Read(buf)) = ops.first_mut() {
                    buf.fill(address);
                }
                Ok(())
            }
        }
        let mut bus = LinuxI2c::over(Answers);
        let mut buf = [0u8; 3];
        bus.read(0x08, &mut buf).unwrap();
        assert_eq!(buf, [0x08; 3]);
        // Errors keep their embedded-hal kind and say what they are.
        struct Nack;
        impl i2c::ErrorType for Nack {
            type Error = i2c::ErrorKind;
        }
        impl I2c<SevenBitAddress> for Nack {
            fn transaction(&mut self, _: u8, _: &mut [Operation<'_>]) -> Result<(), Self::Error> {
                Err(i2c::ErrorKind::NoAcknowledge(i2c::NoAcknowledgeSource::Address))
            }
        }
        let e = LinuxI2c::over(Nack).write(0x08, &[0]).unwrap_err();
        assert_eq!(e.kind, i2c::ErrorKind::NoAcknowledge(i2c::NoAcknowledgeSource::Address));
        assert!(!e.message.is_empty());
    }
}
