//! What a bench can do: talk to a pump, measure flow, occlude the line, inject each of ICD part
//! 2's faults, ask an operator. The bench says which it offers; a plan says which it requires.

use std::fmt;

use serde::Serialize;

/// Something a bench provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    Pump,
    FlowSensor,
    Valve,
    /// Injecting a motor stall (ICD `INJECT STALL`).
    MotorStall,
    /// Injecting a watchdog reset (ICD `INJECT WATCHDOG`).
    WatchdogReset,
    /// Corrupting frames on the service port (ICD `INJECT CORRUPT`).
    FrameCorruption,
    /// Silencing the service port (ICD `INJECT SILENCE`).
    LinkSilence,
    /// Making the flow sensor NACK (ICD `INJECT SENSOR NACK`).
    SensorNack,
    /// Making the flow sensor report air in line (ICD `INJECT SENSOR AIR`).
    SensorAir,
    /// Making the flow sensor repeat its last reading (ICD `INJECT SENSOR STUCK`).
    SensorStuck,
    /// A person at the bench to answer prompts (an interactive run on a real bench).
    Operator,
}

impl Capability {
    pub const ALL: [Capability; 11] = [
        Capability::Pump,
        Capability::FlowSensor,
        Capability::Valve,
        Capability::MotorStall,
        Capability::WatchdogReset,
        Capability::FrameCorruption,
        Capability::LinkSilence,
        Capability::SensorNack,
        Capability::SensorAir,
        Capability::SensorStuck,
        Capability::Operator,
    ];

    /// The injection's name in a software bench's `HELLO` (ICD part 2), for the capabilities
    /// that are injections.
    pub fn inject_name(self) -> Option<&'static str> {
        match self {
            Capability::MotorStall => Some("STALL"),
            Capability::WatchdogReset => Some("WATCHDOG"),
            Capability::FrameCorruption => Some("CORRUPT"),
            Capability::LinkSilence => Some("SILENCE"),
            Capability::SensorNack => Some("SENSOR_NACK"),
            Capability::SensorAir => Some("SENSOR_AIR"),
            Capability::SensorStuck => Some("SENSOR_STUCK"),
            Capability::Pump | Capability::FlowSensor | Capability::Valve | Capability::Operator => None,
        }
    }

    /// The capability a software bench's `HELLO` names `name` (`SENSOR_AIR`), if any.
    pub fn from_inject_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.inject_name() == Some(name))
    }

    pub fn name(self) -> &'static str {
        match self {
            Capability::Pump => "pump",
            Capability::FlowSensor => "flow_sensor",
            Capability::Valve => "valve",
            Capability::MotorStall => "motor_stall",
            Capability::WatchdogReset => "watchdog_reset",
            Capability::FrameCorruption => "frame_corruption",
            Capability::LinkSilence => "link_silence",
            Capability::SensorNack => "sensor_nack",
            Capability::SensorAir => "sensor_air",
            Capability::SensorStuck => "sensor_stuck",
            Capability::Operator => "operator",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
