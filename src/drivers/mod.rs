//! Drivers for the bench instruments, generic over embedded-hal 1.0 traits so that the same code
//! runs on a Raspberry Pi ([`pi`], linux-embedded-hal), over the software bench bus
//! ([`crate::bus`]), and against mocks.
//!
//! - [`flow_sensor`]: the Sensirion SF06-LF liquid-flow sensor on I2C;
//! - [`valve`]: the normally-open occlusion pinch valve on a GPIO output;
//! - [`crc8`], [`sensor_model`]: the sensor's CRC and per-model scale factors.

pub mod crc8;
pub mod flow_sensor;
#[cfg(target_os = "linux")]
pub mod pi;
pub mod sensor_model;
pub mod valve;

pub use flow_sensor::{FlowReading, FlowSensor, ProductId, RawFrame, SensorFlags};
pub use sensor_model::SensorModel;
pub use valve::OcclusionValve;
