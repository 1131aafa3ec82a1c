//! Drivers for the bench instruments, generic over embedded-hal 1.0 traits so that the same code
//! runs on a Raspberry Pi (linux-embedded-hal), over the software bench bus, and against mocks.

pub mod crc8;
pub mod sensor_model;

pub use sensor_model::SensorModel;
