//! The pump mechanism and the test line it feeds, as physics.
//!
//! ```text
//! reservoir ──motor (strokes)──▶ test line, compliance C ──pinch valve──▶ outlet resistance R ──▶ flow sensor
//! ```
//!
//! A stroke moves its volume `v` from the reservoir into the line and raises the line pressure by
//! `v / C`. With the valve open the line drains through `R`: `q = P / R`, so the pressure decays
//! as `P(t) = P₀·e^(−t/τ)` with `τ = R·C`, and the volume that left between two instants is
//! `C·(P₀ − P₁)` — computed exactly, not integrated step by step, so a day of simulated time
//! costs one exponential per stroke. With the valve closed nothing leaves and each stroke adds
//! `v / C`: the pressure builds until the pump alarms (or, against `max_motor_kpa`, the motor
//! can no longer complete a stroke). When the valve reopens, the stored `C·P` flows out: the
//! unintended bolus. Volume is conserved: `pumped = outflow + C·P` at every instant.

use std::time::Duration;

/// Physical constants of the reference test line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineParams {
    /// Compliance of the line between pump and valve, µL per kPa (SRS-OCC-002: 0.5 ± 20 %).
    pub compliance_ul_per_kpa: f64,
    /// Outlet resistance, kPa per µL/s. With the default compliance, τ = R·C = 30 s.
    pub resistance_kpa_s_per_ul: f64,
    /// Line pressure at and above which the motor cannot complete a stroke, kPa.
    pub max_motor_kpa: f64,
}

impl Default for LineParams {
    /// C = 0.5 µL/kPa (the SRS reference line), R = 60 kPa·s/µL (τ = 30 s), motor limit 500 kPa.
    ///
    /// τ = 30 s keeps the outflow pulsatile at low rates (a stroke every 45 s at 20 µL/h) while
    /// the peak flow of an unintended bolus, `P/R`, stays inside the default LD20-0600L sensor's
    /// range (27 300 µL/h) up to the highest settable threshold, 400 kPa (24 000 µL/h): the
    /// sensor can then measure the bolus without saturating.
    fn default() -> Self {
        Self { compliance_ul_per_kpa: 0.5, resistance_kpa_s_per_ul: 60.0, max_motor_kpa: 500.0 }
    }
}

impl LineParams {
    /// Time constant of the drain, seconds.
    pub fn tau_s(&self) -> f64 {
        self.resistance_kpa_s_per_ul * self.compliance_ul_per_kpa
    }

    /// Why these parameters cannot describe a line, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("line {name} must be a positive number, not {v}"))
            }
        };
        positive("compliance_ul_per_kpa", self.compliance_ul_per_kpa)?;
        positive("resistance_kpa_s_per_ul", self.resistance_kpa_s_per_ul)?;
        positive("max_motor_kpa", self.max_motor_kpa)
    }
}

/// Why the motor did not complete a stroke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrokeFailure {
    /// The rotor is blocked (a bench injection: an MRI field, a mechanical jam).
    Stalled,
    /// The line pressure is at or above what the motor can push against.
    OverPressure,
}

/// The result of one commanded stroke.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StrokeOutcome {
    /// The stroke completed; `fluid_ul` of liquid entered the line (less than commanded when
    /// the reservoir ran dry and the stroke moved air).
    Completed {
        fluid_ul: f64,
    },
    Failed(StrokeFailure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Motor {
    Free,
    StalledUntil(Duration),
    Stalled,
}

/// Below this the line is considered empty (keeps the decay out of subnormal numbers).
const NEGLIGIBLE_KPA: f64 = 1e-9;

/// Motor, reservoir, line, valve and outlet, at one instant of sim time.
#[derive(Debug, Clone)]
pub struct Plant {
    params: LineParams,
    /// The instant the state below describes.
    t: Duration,
    pressure_kpa: f64,
    outflow_ul: f64,
    pumped_ul: f64,
    reservoir_ul: f64,
    valve_closed: bool,
    motor: Motor,
    air_in_line: bool,
}

impl Plant {
    /// A relaxed line at t = 0, valve open, motor free. `params` must pass [`LineParams::check`].
    pub fn new(params: LineParams, reservoir_ul: f64) -> Self {
        Self {
            params,
            t: Duration::ZERO,
            pressure_kpa: 0.0,
            outflow_ul: 0.0,
            pumped_ul: 0.0,
            reservoir_ul: finite_non_negative(reservoir_ul),
            valve_closed: false,
            motor: Motor::Free,
            air_in_line: false,
        }
    }

    /// Moves the state to `t` analytically. Does nothing if `t` is not after the current instant.
    pub fn advance_to(&mut self, t: Duration) {
        if t <= self.t {
            return;
        }
        let dt = (t - self.t).as_secs_f64();
        self.t = t;
        if self.valve_closed || self.pressure_kpa == 0.0 {
            return;
        }
        let p1 = self.pressure_kpa * (-dt / self.params.tau_s()).exp();
        let p1 = if p1 < NEGLIGIBLE_KPA { 0.0 } else { p1 };
        self.outflow_ul += self.params.compliance_ul_per_kpa * (self.pressure_kpa - p1);
        self.pressure_kpa = p1;
    }

    /// One stroke of `volume_ul` at the current instant.
    pub fn stroke(&mut self, volume_ul: f64) -> StrokeOutcome {
        if let Some(failure) = self.motor_blocked() {
            return StrokeOutcome::Failed(failure);
        }
        let volume_ul = finite_non_negative(volume_ul);
        let fluid_ul = volume_ul.min(self.reservoir_ul);
        self.reservoir_ul -= fluid_ul;
        self.pumped_ul += fluid_ul;
        self.pressure_kpa += fluid_ul / self.params.compliance_ul_per_kpa;
        self.air_in_line = fluid_ul < volume_ul;
        StrokeOutcome::Completed { fluid_ul }
    }

    /// Why a stroke commanded now would fail, if it would.
    pub fn motor_blocked(&self) -> Option<StrokeFailure> {
        let stalled = match self.motor {
            Motor::Free => false,
            Motor::StalledUntil(until) => self.t < until,
            Motor::Stalled => true,
        };
        if stalled {
            Some(StrokeFailure::Stalled)
        } else if self.pressure_kpa >= self.params.max_motor_kpa {
            Some(StrokeFailure::OverPressure)
        } else {
            None
        }
    }

    /// Blocks the motor from now until `until`, or until [`Plant::free_motor`] if `None`.
    pub fn stall_motor(&mut self, until: Option<Duration>) {
        self.motor = match until {
            Some(until) => Motor::StalledUntil(until),
            None => Motor::Stalled,
        };
    }

    pub fn free_motor(&mut self) {
        self.motor = Motor::Free;
    }

    pub fn set_valve_closed(&mut self, closed: bool) {
        self.valve_closed = closed;
    }

    /// The reservoir now holds `volume_ul` (a refill on the bench).
    pub fn fill(&mut self, volume_ul: f64) {
        self.reservoir_ul = finite_non_negative(volume_ul);
    }

    pub fn now(&self) -> Duration {
        self.t
    }

    pub fn params(&self) -> &LineParams {
        &self.params
    }

    pub fn pressure_kpa(&self) -> f64 {
        self.pressure_kpa
    }

    /// Volume that has left the outlet since t = 0, µL.
    pub fn outflow_ul(&self) -> f64 {
        self.outflow_ul
    }

    /// Liquid pumped into the line since t = 0, µL.
    pub fn pumped_ul(&self) -> f64 {
        self.pumped_ul
    }

    /// Instantaneous outlet flow, µL/h.
    pub fn flow_ul_h(&self) -> f64 {
        if self.valve_closed { 0.0 } else { self.pressure_kpa / self.params.resistance_kpa_s_per_ul * 3600.0 }
    }

    pub fn reservoir_ul(&self) -> f64 {
        self.reservoir_ul
    }

    pub fn valve_closed(&self) -> bool {
        self.valve_closed
    }

    /// The last stroke moved air (the reservoir was dry).
    pub fn air_in_line(&self) -> bool {
        self.air_in_line
    }
}

fn finite_non_negative(v: f64) -> f64 {
    if v.is_finite() && v > 0.0 { v } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn a_stroke_raises_pressure_by_volume_over_compliance() {
        let mut p = Plant::new(LineParams::default(), 100.0);
        assert_eq!(p.stroke(0.25), StrokeOutcome::Completed { fluid_ul: 0.25 });
        // 0.25 µL / 0.5 µL/kPa = 0.5 kPa
        assert!(close(p.pressure_kpa(), 0.5, 1e-12));
        assert!(close(p.reservoir_ul(), 99.75, 1e-12));
    }

    #[test]
    fn open_line_decays_with_tau_and_conserves_volume() {
        let params = LineParams::default();
        assert!(close(params.tau_s(), 30.0, 1e-12));
        let mut p = Plant::new(params, 1000.0);
        for _ in 0..40 {
            p.stroke(0.25);
        }
        assert!(close(p.pressure_kpa(), 20.0, 1e-9));
        p.advance_to(secs(30.0));
        // one τ: P = 20/e; out = C·(20 − 20/e)
        assert!(close(p.pressure_kpa(), 20.0 / std::f64::consts::E, 1e-9));
        assert!(close(p.outflow_ul(), 0.5 * (20.0 - 20.0 / std::f64::consts::E), 1e-9));
        // initial flow P/R = 20/60 µL/s; now a factor e lower
        assert!(close(p.flow_ul_h(), 20.0 / std::f64::consts::E / 60.0 * 3600.0, 1e-9));
        p.advance_to(secs(3600.0));
        assert_eq!(p.pressure_kpa(), 0.0);
        assert!(close(p.outflow_ul(), 10.0, 1e-9), "{}", p.outflow_ul());
        assert!(close(p.pumped_ul(), p.outflow_ul() + 0.5 * p.pressure_kpa(), 1e-9));
    }

    #[test]
    fn closed_valve_holds_and_releases_the_stored_volume() {
        let mut p = Plant::new(LineParams::default(), 1000.0);
        p.set_valve_closed(true);
        // 500 µL/h = a stroke every 1.8 s; 401 strokes take the line to 200.5 kPa
        for k in 0..401 {
            p.advance_to(secs(1.8 * f64::from(k)));
            p.stroke(0.25);
        }
        assert!(close(p.pressure_kpa(), 200.5, 1e-9));
        assert_eq!(p.outflow_ul(), 0.0);
        assert_eq!(p.flow_ul_h(), 0.0);
        p.advance_to(secs(2000.0));
        assert!(close(p.pressure_kpa(), 200.5, 1e-9), "no leak while closed");
        p.set_valve_closed(false);
        // Peak flow 200.5/60 µL/s = 12 030 µL/h: inside the LD20-0600L range.
        assert!(close(p.flow_ul_h(), 12_030.0, 1e-6));
        p.advance_to(secs(2000.0 + 600.0));
        // The unintended bolus: C·P = 100.25 µL, ≤ 150 µL (SRS-OCC-003).
        assert!(close(p.outflow_ul(), 100.25, 1e-6), "{}", p.outflow_ul());
    }

    #[test]
    fn motor_fails_against_max_pressure_and_when_stalled() {
        let mut p = Plant::new(LineParams::default(), 1000.0);
        p.set_valve_closed(true);
        for _ in 0..1000 {
            p.stroke(0.25);
        }
        assert!(close(p.pressure_kpa(), 500.0, 1e-9));
        assert_eq!(p.stroke(0.25), StrokeOutcome::Failed(StrokeFailure::OverPressure));
        assert!(close(p.pressure_kpa(), 500.0, 1e-9), "a failed stroke moves nothing");
        let mut p = Plant::new(LineParams::default(), 1000.0);
        p.stall_motor(Some(secs(10.0)));
        assert_eq!(p.stroke(0.25), StrokeOutcome::Failed(StrokeFailure::Stalled));
        p.advance_to(secs(10.0));
        assert!(matches!(p.stroke(0.25), StrokeOutcome::Completed { .. }));
        p.stall_motor(None);
        p.advance_to(secs(1e6));
        assert_eq!(p.motor_blocked(), Some(StrokeFailure::Stalled));
        p.free_motor();
        assert_eq!(p.motor_blocked(), None);
    }

    #[test]
    fn dry_reservoir_pumps_air() {
        let mut p = Plant::new(LineParams::default(), 0.3);
        assert_eq!(p.stroke(0.25), StrokeOutcome::Completed { fluid_ul: 0.25 });
        assert!(!p.air_in_line());
        let StrokeOutcome::Completed { fluid_ul } = p.stroke(0.25) else { panic!("motor is free") };
        assert!(close(fluid_ul, 0.05, 1e-12));
        assert!(p.air_in_line());
        assert_eq!(p.reservoir_ul(), 0.0);
        p.fill(5.0);
        p.stroke(0.25);
        assert!(!p.air_in_line());
    }

    #[test]
    fn bad_numbers_do_not_poison_the_state() {
        let mut p = Plant::new(LineParams::default(), f64::NAN);
        assert_eq!(p.reservoir_ul(), 0.0);
        p.fill(f64::INFINITY);
        assert_eq!(p.reservoir_ul(), 0.0);
        p.fill(10.0);
        p.stroke(f64::NAN);
        assert_eq!(p.pressure_kpa(), 0.0);
        assert!(LineParams { compliance_ul_per_kpa: 0.0, ..LineParams::default() }.check().is_err());
        assert!(LineParams { resistance_kpa_s_per_ul: f64::NAN, ..LineParams::default() }.check().is_err());
        assert!(LineParams::default().check().is_ok());
    }
}
