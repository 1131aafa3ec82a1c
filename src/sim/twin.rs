//! The composite twin: pump firmware, service port, motor and line, flow sensor and valve, on
//! one sim-time axis.
//!
//! Sans-IO (after smoltcp's `Interface::poll` / `poll_at`): the host owns the clock. Every input
//! carries its time `t`; the twin first runs everything due up to `t` (strokes, alarm timers) in
//! order, with the line physics exact in between, then applies the input at `t`.
//! [`Twin::next_deadline`] tells the host when to come back, so simulated days cost
//! milliseconds. Times are `Duration`s since the twin was created ("sim time"); an input at a
//! time already passed is applied at the twin's current time.
//!
//! The typical host loop:
//! 1. on serial bytes from the rig, [`Twin::serial_receive`]`(t, bytes)`; on a bench-bus request,
//!    [`Twin::i2c_write`] / [`Twin::i2c_read`] / [`Twin::gpio_set`] / [`Twin::gpio_get`];
//! 2. after any of these, or at a deadline, [`Twin::advance_to`]`(t)` and write
//!    [`Twin::serial_take_output`] to the rig;
//! 3. sleep until the earlier of the next input and [`Twin::next_deadline`].

use std::time::Duration;

use super::config::{ConfigError, TwinConfig};
use super::faults::FaultSet;
use super::firmware::Firmware;
use super::fluid::Plant;
use super::injection::Injection;
use super::sensor::{Outlet, SimSensor};
use super::service_port::ServicePort;

/// The addressed I2C device did not acknowledge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("I2C address 0x{addr:02x} did not acknowledge: {reason}")]
pub struct I2cNack {
    pub addr: u8,
    pub reason: &'static str,
}

/// A GPIO line the twin does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("GPIO line {line} is not connected on the twin (the valve is on line {valve_line})")]
pub struct UnknownLine {
    pub line: u32,
    pub valve_line: u32,
}

/// The digital twin of the bench: one IT-1 pump, its test line, the flow sensor and the valve.
#[derive(Debug)]
pub struct Twin {
    now: Duration,
    config: TwinConfig,
    firmware: Firmware,
    port: ServicePort,
    plant: Plant,
    sensor: SimSensor,
}

impl Twin {
    /// Powers the bench on at t = 0: the pump boots and emits `BOOT reason=POWER_ON` (evseq 1).
    /// Figures that fail [`TwinConfig::check`] are replaced by their defaults; use
    /// [`Twin::try_new`] to refuse them instead.
    pub fn new(config: TwinConfig) -> Twin {
        let config = config.sanitized();
        let faults = FaultSet::new(&config.faults);
        let firmware = Firmware::new(Duration::ZERO, faults, config.identity.clone(), config.initial_reservoir_ul)
            .with_crystal_ppm(config.crystal_ppm)
            .with_stall_attempts(config.stall_attempts);
        Twin {
            now: Duration::ZERO,
            firmware,
            port: ServicePort::new(faults, config.seed),
            plant: Plant::new(config.line, config.initial_reservoir_ul),
            sensor: SimSensor::new(config.sensor_model, config.sensor_serial, config.sensor_noise, config.seed),
            config,
        }
    }

    /// As [`Twin::new`], but refuses a configuration that fails [`TwinConfig::check`].
    pub fn try_new(config: TwinConfig) -> Result<Twin, ConfigError> {
        config.check()?;
        Ok(Twin::new(config))
    }

    pub fn now(&self) -> Duration {
        self.now
    }

    /// Runs everything due up to `t`, in order. No-op if `t` is not after [`Twin::now`].
    pub fn advance_to(&mut self, t: Duration) {
        if t <= self.now {
            return;
        }
        while let Some(deadline) = self.firmware.next_deadline() {
            if deadline > t {
                break;
            }
            let at = deadline.max(self.now);
            self.plant.advance_to(at);
            self.now = at;
            self.firmware.handle_timeout(at, &mut self.plant);
            // Events go on the line when they happen (a silenced line loses them).
            self.port.flush_events(at, &mut self.firmware);
        }
        self.plant.advance_to(t);
        self.now = t;
    }

    /// The earliest future time at which the twin does something observable on its own (a
    /// stroke, an alarm timer, `DOSE_LIMIT` clearing itself); `None` if nothing is scheduled.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.firmware.next_deadline()
    }

    /// Bytes from the rig to the pump's service port, at `t`.
    pub fn serial_receive(&mut self, t: Duration, bytes: &[u8]) {
        self.advance_to(t);
        self.port.receive(self.now, bytes, &mut self.firmware, &mut self.plant);
        self.settle();
    }

    /// Bytes the pump has sent since the last call: responses and events, framed.
    pub fn serial_take_output(&mut self) -> Vec<u8> {
        self.port.flush_events(self.now, &mut self.firmware);
        self.port.take_output()
    }

    /// One I2C write transaction at `t`.
    pub fn i2c_write(&mut self, t: Duration, addr: u8, bytes: &[u8]) -> Result<(), I2cNack> {
        self.advance_to(t);
        if addr != self.config.sensor_address {
            return Err(I2cNack { addr, reason: "no device at this address" });
        }
        let outlet = self.outlet();
        self.sensor.write(self.now, bytes, outlet).map_err(|reason| I2cNack { addr, reason })
    }

    /// One I2C read transaction of `buf.len()` bytes at `t`.
    pub fn i2c_read(&mut self, t: Duration, addr: u8, buf: &mut [u8]) -> Result<(), I2cNack> {
        self.advance_to(t);
        if addr != self.config.sensor_address {
            return Err(I2cNack { addr, reason: "no device at this address" });
        }
        let outlet = self.outlet();
        self.sensor.read(self.now, buf, outlet).map_err(|reason| I2cNack { addr, reason })
    }

    /// Drives a GPIO output at `t`. The valve line at 1 energises the valve: the line closes.
    pub fn gpio_set(&mut self, t: Duration, line: u32, high: bool) -> Result<(), UnknownLine> {
        self.check_line(line)?;
        self.advance_to(t);
        self.plant.set_valve_closed(high);
        self.settle();
        Ok(())
    }

    /// Reads a GPIO line's level.
    pub fn gpio_get(&self, line: u32) -> Result<bool, UnknownLine> {
        self.check_line(line)?;
        Ok(self.plant.valve_closed())
    }

    /// Applies a bench injection at `t`.
    pub fn inject(&mut self, t: Duration, injection: impl Into<Injection>) {
        self.advance_to(t);
        // What was said before the injection is on the wire already.
        self.port.flush_events(self.now, &mut self.firmware);
        match injection.into() {
            Injection::MotorStall { for_ } => self.plant.stall_motor(for_.and_then(|d| self.now.checked_add(d))),
            Injection::ClearMotorStall => self.plant.free_motor(),
            Injection::WatchdogReset => {
                self.firmware.watchdog_reset(self.now);
                self.port.reset();
            }
            Injection::CorruptNextResponse => self.port.corrupt_next_response(),
            Injection::CorruptFrames { permille } => self.port.corrupt_frames(permille),
            Injection::Silence { for_ } => self.port.silence(self.now, for_),
            Injection::SensorNack { count } => self.sensor.nack_next(count),
            Injection::SensorAir(on) => self.sensor.set_air(on),
            Injection::SensorStuck(on) => self.sensor.set_stuck(on),
        }
        self.settle();
    }

    // ----- observation (tests and hosting; not for the rig's verdicts) ---------------------

    /// The configuration in effect (after [`TwinConfig::check`] replacements and the faulty
    /// build hash).
    pub fn config(&self) -> &TwinConfig {
        &self.config
    }

    pub fn firmware(&self) -> &Firmware {
        &self.firmware
    }

    /// Whether a bench injection disturbs the flow sensor now (see [`SimSensor::disturbed`]).
    pub fn sensor_disturbed(&self) -> bool {
        self.sensor.disturbed()
    }

    pub fn plant(&self) -> &Plant {
        &self.plant
    }

    pub fn line_pressure_kpa(&self) -> f64 {
        self.plant.pressure_kpa()
    }

    /// What the reservoir physically holds, µL.
    pub fn reservoir_ul(&self) -> f64 {
        self.plant.reservoir_ul()
    }

    /// Volume that has physically left the outlet since t = 0, µL.
    pub fn total_outflow_ul(&self) -> f64 {
        self.plant.outflow_ul()
    }

    /// Liquid physically pumped into the line since t = 0, µL.
    pub fn total_pumped_ul(&self) -> f64 {
        self.plant.pumped_ul()
    }

    pub fn therapy_on(&self) -> bool {
        self.firmware.therapy_on()
    }

    pub fn valve_closed(&self) -> bool {
        self.plant.valve_closed()
    }

    pub fn sensor_measuring(&self) -> bool {
        self.sensor.is_measuring()
    }

    // ----- internals ------------------------------------------------------------------------

    /// Runs what an input made due at the current instant, so that every armed deadline is in
    /// the future when control returns to the host.
    fn settle(&mut self) {
        self.firmware.handle_timeout(self.now, &mut self.plant);
        self.port.flush_events(self.now, &mut self.firmware);
    }

    fn outlet(&self) -> Outlet {
        Outlet {
            outflow_ul: self.plant.outflow_ul(),
            flow_ul_h: self.plant.flow_ul_h(),
            air_in_line: self.plant.air_in_line(),
        }
    }

    fn check_line(&self, line: u32) -> Result<(), UnknownLine> {
        if line == self.config.valve_line {
            Ok(())
        } else {
            Err(UnknownLine { line, valve_line: self.config.valve_line })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode_frame;

    fn send(twin: &mut Twin, t: Duration, payloads: &[&str]) {
        for p in payloads {
            twin.serial_receive(t, &encode_frame(p).unwrap());
        }
    }

    /// The 24 h cap (firmware docs): 2 µL/h with LIMIT 48 leaves no room for a 10 µL bolus in
    /// the first day; the basal waits for the bolus strokes to leave the window, and no window
    /// ever holds more than 48 µL (192 strokes).
    #[test]
    fn the_24_h_cap_holds_basal_until_old_strokes_leave_the_window() {
        let mut twin = Twin::new(TwinConfig::default());
        let t0 = Duration::from_secs(1);
        send(&mut twin, t0, &["1 FILL volume_ul=20000", "2 PROGRAM basal_ul_h=2", "3 LIMIT max_24h_ul=48"]);
        send(&mut twin, t0, &["4 BOLUS_CONFIG dose_ul=10 lockout_s=0 max_per_24h=24", "5 START", "6 BOLUS"]);
        let mut strokes = Vec::new();
        let mut last = 0.0;
        while twin.now() < Duration::from_secs(3 * 86_400) {
            let next = twin.next_deadline().expect("therapy is on");
            twin.advance_to(next);
            let pumped = twin.total_pumped_ul();
            if pumped > last {
                strokes.push(twin.now());
                last = pumped;
            }
        }
        let day = Duration::from_secs(86_400);
        let mut worst = 0;
        for (i, &t) in strokes.iter().enumerate() {
            let in_window = strokes[..=i].iter().filter(|&&s| s + day > t).count();
            worst = worst.max(in_window);
        }
        assert_eq!(worst, 192, "48 µL = 192 strokes, never more");
        let longest_wait = strokes.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        // 40 bolus strokes + 152 basal strokes fill the day at 1 s + 152 × 450 s = 19 h; the
        // basal waits until the bolus strokes leave the window at 24 h.
        assert!(longest_wait > Duration::from_secs(4 * 3600), "{longest_wait:?}");
        assert!(twin.firmware().active_alarms().is_empty());
    }

    /// Whatever times and bytes a host passes, the twin answers or refuses; it never panics.
    #[test]
    fn extreme_times_and_garbage_do_not_panic() {
        let mut twin = Twin::new(TwinConfig::default());
        let t = Duration::from_secs(1);
        for payload in ["1 FILL volume_ul=20000", "2 LIMIT max_24h_ul=24000", "3 PROGRAM basal_ul_h=1000"] {
            twin.serial_receive(t, &encode_frame(payload).unwrap());
        }
        twin.serial_receive(t, &encode_frame("4 BOLUS_CONFIG dose_ul=500 lockout_s=0 max_per_24h=24").unwrap());
        twin.serial_receive(t, &encode_frame("5 START").unwrap());
        twin.serial_receive(t, &encode_frame("6 BOLUS").unwrap());
        twin.inject(t, Injection::MotorStall { for_: Some(Duration::MAX) });
        twin.serial_receive(t, b"\xff\x00*\r\n\n\n*0000\r\n");
        twin.serial_receive(t, &[b'9'; 10_000]);
        let late = Duration::MAX - Duration::from_secs(1);
        twin.advance_to(late);
        twin.serial_receive(Duration::MAX, &encode_frame("7 BOLUS").unwrap());
        twin.serial_receive(Duration::MAX, &encode_frame("8 LIMIT max_24h_ul=48").unwrap());
        twin.inject(Duration::MAX, Injection::ClearMotorStall);
        twin.inject(Duration::MAX, Injection::WatchdogReset);
        twin.serial_receive(Duration::MAX, &encode_frame("9 START").unwrap());
        twin.advance_to(Duration::MAX);
        let mut buf = [0u8; 64];
        assert!(twin.i2c_read(Duration::MAX, 0x08, &mut buf).is_err());
        assert!(twin.i2c_write(Duration::MAX, 0x08, &[0x36, 0x08]).is_ok());
        let _ = twin.i2c_read(Duration::MAX, 0x08, &mut buf[..9]);
        assert!(twin.next_deadline().is_none_or(|d| d >= twin.now()));
        assert!(!twin.serial_take_output().is_empty());
    }
}
