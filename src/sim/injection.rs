//! What the bench can do to the twin: the fault injections of ICD part 2 and the older,
//! finer-grained ones the in-process plans use. One mapping, [`From<Inject>`], serves both paths:
//! the in-process bench (`SharedTwin::inject`) and `rig sim` (`INJECT` on the bench bus).

use std::time::Duration;

use crate::bus::codec::Inject;

/// Something the bench does to the pump, the line or the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injection {
    /// The motor cannot complete strokes for `for_`, or until [`Injection::ClearMotorStall`]
    /// if `None` (an MRI field, a jammed rotor). `INJECT STALL 1`.
    MotorStall { for_: Option<Duration> },
    /// The motor turns again. `INJECT STALL 0`.
    ClearMotorStall,
    /// The firmware's watchdog resets the pump. `INJECT WATCHDOG`.
    WatchdogReset,
    /// The next response frame leaves the pump with a wrong CRC (line noise).
    CorruptNextResponse,
    /// Each frame on the service port, either direction, is damaged with probability
    /// `permille` / 1000 (0 stops it). `INJECT CORRUPT <permille>`.
    CorruptFrames { permille: u16 },
    /// The service port passes nothing either way for this long. `INJECT SILENCE <ms>`.
    Silence { for_: Duration },
    /// The flow sensor NACKs its next `count` transactions. `INJECT SENSOR NACK <n>`.
    SensorNack { count: u32 },
    /// The flow sensor reports air in line (flag bit 0), its flow word meaningless.
    /// `INJECT SENSOR AIR 1|0`.
    SensorAir(bool),
    /// The flow sensor repeats the last reading it returned. `INJECT SENSOR STUCK 1|0`.
    SensorStuck(bool),
}

impl From<Inject> for Injection {
    fn from(inject: Inject) -> Injection {
        match inject {
            Inject::Stall(true) => Injection::MotorStall { for_: None },
            Inject::Stall(false) => Injection::ClearMotorStall,
            Inject::Watchdog => Injection::WatchdogReset,
            Inject::Corrupt { permille } => Injection::CorruptFrames { permille },
            Inject::Silence { ms } => Injection::Silence { for_: Duration::from_millis(u64::from(ms)) },
            Inject::SensorNack { count } => Injection::SensorNack { count },
            Inject::SensorAir(on) => Injection::SensorAir(on),
            Inject::SensorStuck(on) => Injection::SensorStuck(on),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bus_injection_maps_onto_the_twin() {
        let cases = [
            (Inject::Stall(true), Injection::MotorStall { for_: None }),
            (Inject::Stall(false), Injection::ClearMotorStall),
            (Inject::Watchdog, Injection::WatchdogReset),
            (Inject::Corrupt { permille: 250 }, Injection::CorruptFrames { permille: 250 }),
            (Inject::Silence { ms: 1500 }, Injection::Silence { for_: Duration::from_millis(1500) }),
            (Inject::SensorNack { count: 2 }, Injection::SensorNack { count: 2 }),
            (Inject::SensorAir(true), Injection::SensorAir(true)),
            (Inject::SensorStuck(false), Injection::SensorStuck(false)),
        ];
        for (inject, injection) in cases {
            assert_eq!(Injection::from(inject), injection, "{inject}");
        }
    }
}
