//! The pump firmware model: what an IT-1 does with its settings, its motor and its alarms.
//!
//! A plain state machine over sim time. The host of the model calls, in this order:
//! [`Firmware::next_deadline`] to learn when something will happen next; moves the [`Plant`] to
//! that instant and calls [`Firmware::handle_timeout`]; or, for a request, moves the plant and
//! calls [`Firmware::execute`]. Events accumulate until [`Firmware::take_events`].
//!
//! # Delivery
//! Strokes of [`STROKE_UL`]: basal strokes evenly spaced for the programmed rate
//! ([`basal`]); a granted bolus adds strokes every [`BOLUS_INTERVAL`] (1000 µL/h) on top until
//! its dose is delivered (SRS-DOS-005). Delivery runs while therapy is on (`START` … `STOP`)
//! and no HIGH alarm is active; when it stops, boluses in progress end (`BOLUS phase=END` with
//! what they delivered); when the last HIGH alarm clears and therapy is on it resumes by itself,
//! the first basal stroke one interval later.
//!
//! # The 24 h cap (SRS-DOS-004)
//! The cap prevails over basal delivery: a basal stroke is withheld while the strokes of the
//! rolling 24 h window, plus the strokes still to come of granted boluses, plus this one would
//! exceed `max_24h_ul`; it waits until enough old strokes have left the window, and the strokes
//! withheld meanwhile are not made up (the basal pattern starts again from the stroke that is
//! finally made). The wait is needed because SRS-DOS-001 grants a bolus on the volume of the
//! *preceding* 24 h alone: when boluses fill a window in which the basal has not yet run for
//! 24 h (the first day after `START`, or after a rate increase), the basal still to come no
//! longer fits, and the basal waits — for hours if boluses were requested early in that day.
//! A withheld stroke is not an interruption in the sense of SRS-WDR-004 (it raises no
//! `THERAPY_INTERRUPTED`). A bolus stroke that would itself break the cap (only possible after
//! `LIMIT` was lowered below what was granted) is not made: that bolus ends early, its
//! `BOLUS phase=END` saying what it delivered, and the next one queued behind it, if any, is
//! judged the same way at its first stroke.
//!
//! # Alarms and how each is detected
//! - `OCCLUSION`: the line pressure read after each stroke exceeds the threshold (SRS-OCC-001).
//!   Acknowledged once the pressure is below half the threshold (SRS-OCC-004).
//! - `RESERVOIR_LOW`: the reservoir gauge, after each stroke and after `FILL`, is at or below
//!   the threshold (so it is raised on the very stroke that reaches it, SRS-WDR-001).
//!   Acknowledged once the gauge is above the threshold.
//! - `RESERVOIR_EMPTY`: a stroke is due and the gauge holds less than one stroke
//!   (SRS-WDR-002). Acknowledged once a `FILL` has put a stroke's worth back.
//! - `MOTOR_STALL`: a stroke that fails is retried every [`STALL_RETRY`]; the
//!   [`STALL_ATTEMPTS`]th consecutive failure (15 s after the first) raises it (SRS-WDR-003).
//!   Acknowledged once the motor can move.
//! - `THERAPY_INTERRUPTED`: therapy is on and a stroke that was due has not been delivered for
//!   [`INTERRUPTION_DELAY`] (5 min), whatever the cause: a failed stroke, an empty reservoir, a
//!   HIGH alarm suspending delivery (SRS-WDR-004). `STOP` cancels the watch. Its condition
//!   has gone once no other HIGH alarm is active (ICD), so it is acknowledged last.
//! - `DOSE_LIMIT`: a bolus refused for the 24 h limit (`DAILY_LIMIT`, SRS-DOS-002); clears
//!   itself [`DOSE_LIMIT_HOLD`] after the last such refusal (each refusal while it is active
//!   extends it, without a new `ALARM` event); an `ACK` clears it at once.
//!
//! # Watchdog reset (ICD part 1, "Defaults after boot"; SRS-WDR-006)
//! Kept (non-volatile): the settings, therapy on/off, the reservoir gauge, the dose history
//! (strokes and grants of the last 24 h, the last grant's time) and the active HIGH alarms.
//! Started again: `delivered_ul`, `pump_ms`, `evseq` (and, in the port, the seq cache). A bolus
//! in progress or queued is dropped without an event. `BOOT reason=WATCHDOG` is the first event
//! and no `STATE` event follows it (a host reads `STATUS`). `RESERVOIR_LOW` is raised again
//! at once if the gauge is still at or below the threshold; `DOSE_LIMIT` is not (the refusal
//! that raised it is not kept). A `THERAPY_INTERRUPTED` that was being timed and not yet raised
//! is timed again from the boot. With therapy on, delivery resumes one basal interval after
//! the boot unless a HIGH alarm holds it.
//!
//! # Clock
//! `pump_ms` is the pump's own crystal clock since boot, running [`Firmware::crystal_ppm`]
//! fast or slow (the ICD allows ±100 ppm); the firmware's schedule itself is kept in sim time.

mod alarms;
pub mod basal;
pub mod dose;

use std::collections::VecDeque;
use std::time::Duration;

pub use alarms::AlarmSet;
use basal::BasalSchedule;
use dose::{Bolus, DAY, DoseHistory, bolus_strokes};

use super::faults::{Fault, FaultSet};
use super::fluid::{Plant, StrokeOutcome};
use super::timers::{Timer, TimerTable};
use crate::protocol::reply::active_alarms_to_fields;
use crate::protocol::{
    AlarmCode, BolusReply, BootReason, Command, DenyReason, ErrCode, Event, EventKind, Fields, PumpError, PumpIdentity,
    PumpState, SettingsReport, StatusReport,
};

/// Volume of one stroke, µL.
pub const STROKE_UL: f64 = 0.25;
/// Bolus strokes: 0.25 µL every 0.9 s is 1000 µL/h.
pub const BOLUS_INTERVAL: Duration = Duration::from_millis(900);
/// Bolus strokes of the `bolus-slow` defect (500 µL/h).
const SLOW_BOLUS_INTERVAL: Duration = Duration::from_millis(1800);
/// Time between attempts after a failed stroke.
pub const STALL_RETRY: Duration = Duration::from_secs(5);
/// Consecutive failed attempts that raise `MOTOR_STALL` (the last 15 s after the first).
pub const STALL_ATTEMPTS: u32 = 4;
/// Time from the first stroke due and not delivered to `THERAPY_INTERRUPTED`.
pub const INTERRUPTION_DELAY: Duration = Duration::from_secs(300);
/// How long `DOSE_LIMIT` stays up after a refusal for the 24 h limit.
pub const DOSE_LIMIT_HOLD: Duration = Duration::from_secs(60);
/// How far past the threshold the `low-reservoir-late` defect raises `RESERVOIR_LOW`, µL.
const LOW_RESERVOIR_LATE_UL: f64 = 50.0;
/// Slack for comparing decimal settings with sums of strokes.
const EPS: f64 = 1e-9;

/// Programmed settings, with the ICD's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub basal_ul_h: f64,
    pub dose_ul: f64,
    pub lockout_s: u32,
    pub max_per_24h: u32,
    pub max_24h_ul: f64,
    pub low_reservoir_ul: f64,
    pub occlusion_kpa: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            basal_ul_h: 10.0,
            dose_ul: 50.0,
            lockout_s: 3600,
            max_per_24h: 4,
            max_24h_ul: 1200.0,
            low_reservoir_ul: 2000.0,
            occlusion_kpa: 200.0,
        }
    }
}

/// Which schedule a stroke belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrokeKind {
    Basal,
    Bolus,
}

impl StrokeKind {
    fn timer(self) -> Timer {
        match self {
            StrokeKind::Basal => Timer::BasalStroke,
            StrokeKind::Bolus => Timer::BolusStroke,
        }
    }
}

/// A stroke failed and is being retried.
#[derive(Debug, Clone, Copy)]
struct Stall {
    kind: StrokeKind,
    failures: u32,
}

/// The firmware of one IT-1 pump (see the module documentation).
#[derive(Debug, Clone)]
pub struct Firmware {
    faults: FaultSet,
    identity: PumpIdentity,
    settings: Settings,
    therapy_on: bool,
    /// The reservoir gauge: what the firmware believes the reservoir holds.
    reservoir_ul: f64,
    boot_at: Duration,
    next_evseq: u32,
    strokes_since_boot: u64,
    alarms: AlarmSet,
    /// The state last reported by a `STATE` event (or implied by the boot).
    reported_state: PumpState,
    /// Stroke schedules are armed: therapy on and nothing suspends delivery.
    delivering: bool,
    basal: BasalSchedule,
    boluses: VecDeque<Bolus>,
    next_bolus_id: u32,
    stall: Option<Stall>,
    /// When the first stroke that was due and not delivered was due.
    undelivered_since: Option<Duration>,
    history: DoseHistory,
    /// The last basal stroke due was withheld by the 24 h cap (its timer waits for room).
    basal_withheld: bool,
    /// How far the pump's crystal is off, ppm (positive: `pump_ms` runs fast).
    crystal_ppm: f64,
    timers: TimerTable,
    events: Vec<Event>,
}

fn err(code: ErrCode, detail: &str) -> PumpError {
    PumpError { code, detail: Some(detail.to_string()) }
}

impl Firmware {
    /// Powers the pump on at `now`: defaults, stopped, `BOOT reason=POWER_ON`.
    pub fn new(now: Duration, faults: FaultSet, identity: PumpIdentity, reservoir_ul: f64) -> Self {
        let settings = Settings::default();
        let stroke_constant = if faults.has(Fault::Delivery25pctFast) {
            basal::NS_MILLI_PER_SMALL_STROKE
        } else {
            basal::NS_MILLI_PER_STROKE
        };
        let mut fw = Self {
            faults,
            identity,
            basal: BasalSchedule::with_stroke_constant(settings.basal_ul_h, stroke_constant),
            settings,
            therapy_on: false,
            reservoir_ul: if reservoir_ul.is_finite() && reservoir_ul > 0.0 { reservoir_ul } else { 0.0 },
            boot_at: now,
            next_evseq: 1,
            strokes_since_boot: 0,
            alarms: AlarmSet::default(),
            reported_state: PumpState::Stopped,
            delivering: false,
            boluses: VecDeque::new(),
            next_bolus_id: 1,
            stall: None,
            undelivered_since: None,
            history: DoseHistory::default(),
            basal_withheld: false,
            crystal_ppm: 0.0,
            timers: TimerTable::default(),
            events: Vec::new(),
        };
        fw.emit(now, EventKind::Boot { reason: BootReason::PowerOn });
        fw
    }

    /// The same pump with its crystal `ppm` off (clamped to the ICD's ±100 ppm).
    pub fn with_crystal_ppm(mut self, ppm: f64) -> Self {
        self.crystal_ppm = if ppm.is_finite() { ppm.clamp(-100.0, 100.0) } else { 0.0 };
        self
    }

    pub fn crystal_ppm(&self) -> f64 {
        self.crystal_ppm
    }

    // ----- observation -------------------------------------------------------------------

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn identity(&self) -> &PumpIdentity {
        &self.identity
    }

    pub fn faults(&self) -> FaultSet {
        self.faults
    }

    pub fn therapy_on(&self) -> bool {
        self.therapy_on
    }

    /// Strokes are being scheduled (therapy on, delivery not suspended).
    pub fn is_delivering(&self) -> bool {
        self.delivering
    }

    pub fn state(&self) -> PumpState {
        if self.alarms.any_high() {
            PumpState::Alarm
        } else if self.therapy_on {
            PumpState::Running
        } else {
            PumpState::Stopped
        }
    }

    pub fn active_alarms(&self) -> Vec<AlarmCode> {
        self.alarms.active()
    }

    pub fn alarms(&self) -> &AlarmSet {
        &self.alarms
    }

    /// The reservoir gauge, µL.
    pub fn reservoir_ul(&self) -> f64 {
        self.reservoir_ul
    }

    /// Volume the firmware has delivered since it booted, µL.
    pub fn delivered_ul(&self) -> f64 {
        self.strokes_since_boot as f64 * STROKE_UL
    }

    /// When the pump last booted, in sim time.
    pub fn boot_at(&self) -> Duration {
        self.boot_at
    }

    /// The pump's clock at sim time `now`: milliseconds since boot on its own crystal.
    pub fn pump_ms(&self, now: Duration) -> u64 {
        let since_boot = now.saturating_sub(self.boot_at);
        if self.crystal_ppm == 0.0 {
            return u64::try_from(since_boot.as_millis()).unwrap_or(u64::MAX);
        }
        let ms = since_boot.as_secs_f64() * 1000.0 * (1.0 + self.crystal_ppm * 1e-6);
        // Saturating float-to-int cast: a finite, non-negative value in range.
        ms.floor() as u64
    }

    /// The programmed settings as `SETTINGS` reports them.
    pub fn settings_report(&self) -> SettingsReport {
        let s = &self.settings;
        SettingsReport {
            basal_ul_h: s.basal_ul_h,
            dose_ul: s.dose_ul,
            lockout_s: s.lockout_s,
            max_per_24h: s.max_per_24h,
            max_24h_ul: s.max_24h_ul,
            low_reservoir_ul: s.low_reservoir_ul,
            occlusion_kpa: s.occlusion_kpa,
            therapy_on: self.therapy_on,
        }
    }

    /// Bolus volume granted and not yet delivered, µL.
    pub fn pending_bolus_ul(&self) -> f64 {
        self.boluses.iter().map(|b| f64::from(b.strokes_left)).sum::<f64>() * STROKE_UL
    }

    /// The firmware's next deadline, if any timer is armed.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.timers.next_timeout()
    }

    /// Events emitted since the last call, in order.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    // ----- inputs --------------------------------------------------------------------------

    /// Handles every timer due at or before `now`. The plant must be at `now`.
    pub fn handle_timeout(&mut self, now: Duration, plant: &mut Plant) {
        while let Some((timer, _)) = self.timers.pop_expired(now) {
            match timer {
                Timer::BasalStroke => self.attempt_stroke(now, StrokeKind::Basal, plant),
                Timer::BolusStroke if !self.boluses.is_empty() => self.attempt_stroke(now, StrokeKind::Bolus, plant),
                Timer::BolusStroke => {}
                Timer::StallRetry => {
                    if let Some(stall) = self.stall {
                        self.attempt_stroke(now, stall.kind, plant);
                    }
                }
                Timer::TherapyInterrupted => self.raise(now, AlarmCode::TherapyInterrupted),
                Timer::DoseLimitClear => self.clear(now, AlarmCode::DoseLimit),
            }
        }
    }

    /// Executes one request's command. The plant must be at `now`.
    pub fn execute(&mut self, now: Duration, command: &Command, plant: &mut Plant) -> Result<Fields, PumpError> {
        let done = Ok(Fields::new());
        match *command {
            Command::Id => Ok(self.identity.to_fields()),
            Command::Settings => Ok(self.settings_report().to_fields()),
            Command::Status => Ok(self.status(now, plant).to_fields()),
            Command::Program { basal_ul_h } => self.program(now, basal_ul_h).and(done),
            Command::BolusConfig { dose_ul, lockout_s, max_per_24h } => {
                if !(1.0..=500.0).contains(&dose_ul) {
                    return Err(err(ErrCode::Range, "dose_ul"));
                }
                if lockout_s > 86_400 {
                    return Err(err(ErrCode::Range, "lockout_s"));
                }
                if self.faults.has(Fault::RefusedBolusConfigApplied) {
                    // The defect: the fields checked so far are stored before the last check.
                    self.settings.dose_ul = dose_ul;
                    self.settings.lockout_s = lockout_s;
                }
                if max_per_24h > 24 {
                    return Err(err(ErrCode::Range, "max_per_24h"));
                }
                self.settings.dose_ul = dose_ul;
                self.settings.lockout_s = lockout_s;
                self.settings.max_per_24h = max_per_24h;
                done
            }
            Command::Limit { max_24h_ul } => {
                if !(48.0..=24_000.0).contains(&max_24h_ul) {
                    return Err(err(ErrCode::Range, "max_24h_ul"));
                }
                if self.faults.has(Fault::RefusedLimitApplied) {
                    // The defect: stored before the combination is checked.
                    self.settings.max_24h_ul = max_24h_ul;
                }
                if !self.faults.has(Fault::LimitCombinationUnchecked)
                    && self.settings.basal_ul_h * 24.0 > max_24h_ul + EPS
                {
                    return Err(err(ErrCode::Range, "max_24h_ul"));
                }
                self.settings.max_24h_ul = max_24h_ul;
                // More room may release a withheld basal stroke; less is judged at the next one.
                self.release_withheld_basal(now);
                done
            }
            Command::AlarmConfig { low_reservoir_ul, occlusion_kpa } => {
                if !(500.0..=5000.0).contains(&low_reservoir_ul) {
                    return Err(err(ErrCode::Range, "low_reservoir_ul"));
                }
                if !(50.0..=400.0).contains(&occlusion_kpa) {
                    return Err(err(ErrCode::Range, "occlusion_kpa"));
                }
                self.settings.low_reservoir_ul = low_reservoir_ul;
                self.settings.occlusion_kpa = occlusion_kpa;
                done
            }
            Command::Fill { volume_ul } => {
                if !(0.0..=40_000.0).contains(&volume_ul) {
                    return Err(err(ErrCode::Range, "volume_ul"));
                }
                self.reservoir_ul = volume_ul;
                plant.fill(volume_ul);
                self.check_reservoir_low(now);
                done
            }
            Command::Start => {
                if self.alarms.any_high() {
                    return Err(err(ErrCode::State, "alarm"));
                }
                self.therapy_on = true;
                self.update_delivery(now);
                done
            }
            Command::Stop => {
                self.therapy_on = false;
                self.update_delivery(now);
                done
            }
            Command::Bolus => Ok(self.bolus(now).to_fields()),
            Command::Alarms => Ok(active_alarms_to_fields(&self.alarms.active())),
            Command::Ack { code } => {
                if self.alarms.is_active(code) {
                    if !self.condition_gone(code, plant) {
                        return Err(err(ErrCode::State, "condition"));
                    }
                    self.clear(now, code);
                }
                done
            }
        }
    }

    /// A watchdog reset at `now` (see the module documentation).
    pub fn watchdog_reset(&mut self, now: Duration) {
        let timing_interruption = self.undelivered_since.is_some();
        self.boot_at = now;
        self.next_evseq = 1;
        self.strokes_since_boot = 0;
        self.boluses.clear();
        self.stall = None;
        self.delivering = false;
        self.basal_withheld = false;
        self.undelivered_since = None;
        self.timers.stop_all();
        if self.faults.has(Fault::AlarmsLostOnWatchdog) {
            self.alarms.clear_all();
        } else {
            self.alarms.retain_high();
        }
        if self.faults.has(Fault::ResetForgetsTherapy) {
            self.therapy_on = false;
        }
        if self.faults.has(Fault::ResetForgetsSettings) {
            let defaults = Settings::default();
            self.settings.lockout_s = defaults.lockout_s;
            self.settings.max_24h_ul = defaults.max_24h_ul;
        }
        self.emit(now, EventKind::Boot { reason: BootReason::Watchdog });
        // No `STATE` event is implied by a boot: the state is what `STATUS` says.
        self.reported_state = self.state();
        self.update_delivery(now);
        if self.therapy_on && (timing_interruption || !self.delivering) {
            // An interruption not yet raised is timed again from the boot.
            self.undelivered_since = None;
            self.note_undelivered(now);
        }
        self.check_reservoir_low(now);
    }

    // ----- commands ------------------------------------------------------------------------

    fn status(&self, now: Duration, plant: &Plant) -> StatusReport {
        StatusReport {
            state: self.state(),
            reservoir_ul: self.reservoir_ul,
            delivered_ul: self.delivered_ul(),
            basal_ul_h: self.settings.basal_ul_h,
            pressure_kpa: plant.pressure_kpa(),
            pump_ms: self.pump_ms(now),
            alarms: self.alarms.active(),
        }
    }

    fn program(&mut self, now: Duration, basal_ul_h: f64) -> Result<(), PumpError> {
        let in_range = if self.faults.has(Fault::ProgramRangeUnchecked) {
            basal_ul_h <= 1000.0
        } else {
            (2.0..=1000.0).contains(&basal_ul_h)
        };
        if !in_range {
            return Err(err(ErrCode::Range, "basal_ul_h"));
        }
        if basal_ul_h * 24.0 > self.settings.max_24h_ul + EPS {
            return Err(err(ErrCode::Range, "basal_ul_h"));
        }
        self.settings.basal_ul_h = basal_ul_h;
        if self.delivering && self.stall.is_none() {
            self.basal.reprogram(now, basal_ul_h);
            self.arm_basal();
        } else {
            self.basal.set_rate(basal_ul_h);
        }
        Ok(())
    }

    fn bolus(&mut self, now: Duration) -> BolusReply {
        match self.bolus_refusal(now) {
            Some(reason) => {
                self.emit(now, EventKind::Denied { reason });
                if reason == DenyReason::DailyLimit && !self.faults.has(Fault::DoseLimitSilent) {
                    self.raise(now, AlarmCode::DoseLimit);
                }
                BolusReply::Denied { reason }
            }
            None => {
                let id = self.next_bolus_id;
                self.next_bolus_id = self.next_bolus_id.checked_add(1).unwrap_or(1);
                self.history.record_grant(now);
                let strokes = bolus_strokes(self.settings.dose_ul);
                self.boluses.push_back(Bolus { id, strokes_left: strokes, strokes_done: 0 });
                self.emit(now, EventKind::BolusStart { id });
                self.update_delivery(now);
                BolusReply::Granted { id }
            }
        }
    }

    /// SRS-DOS-001, in the order its conditions are listed (an active HIGH alarm first: SRS-WDR-005
    /// asks for `reason=ALARM` whether or not therapy is on).
    fn bolus_refusal(&self, now: Duration) -> Option<DenyReason> {
        if self.alarms.any_high() && !self.faults.has(Fault::BolusDuringAlarm) {
            return Some(DenyReason::Alarm);
        }
        if !self.therapy_on {
            return Some(DenyReason::Stopped);
        }
        let lockout = Duration::from_secs(u64::from(self.settings.lockout_s));
        let in_lockout = self.history.last_grant().is_some_and(|last| now.saturating_sub(last) < lockout);
        if in_lockout && !self.faults.has(Fault::LockoutIgnored) {
            return Some(DenyReason::Lockout);
        }
        let granted = self.history.grants_in_rolling_day(now);
        let max = usize::try_from(self.settings.max_per_24h).unwrap_or(usize::MAX);
        let too_many = if self.faults.has(Fault::MaxPer24hOffByOne) { granted > max } else { granted >= max };
        if too_many {
            return Some(DenyReason::MaxPer24h);
        }
        let dose = self.settings.dose_ul.max(f64::from(bolus_strokes(self.settings.dose_ul)) * STROKE_UL);
        if self.delivered_24h_ul(now) + self.pending_bolus_ul() + dose > self.settings.max_24h_ul + EPS {
            return Some(DenyReason::DailyLimit);
        }
        None
    }

    /// Volume in the 24 h window the limits are judged on (rolling; from the start of the
    /// current day since boot with `daily-limit-calendar-day`).
    fn delivered_24h_ul(&self, now: Duration) -> f64 {
        let strokes = if self.faults.has(Fault::DailyLimitCalendarDay) {
            self.history.strokes_since(self.day_start(now))
        } else {
            self.history.strokes_in_rolling_day(now)
        };
        strokes as f64 * STROKE_UL
    }

    /// Start of the current 24 h period since boot (the `daily-limit-calendar-day` defect).
    fn day_start(&self, now: Duration) -> Duration {
        let days = now.saturating_sub(self.boot_at).as_secs() / DAY.as_secs();
        self.boot_at.saturating_add(DAY.saturating_mul(u32::try_from(days).unwrap_or(u32::MAX)))
    }

    fn condition_gone(&self, code: AlarmCode, plant: &Plant) -> bool {
        let reservoir_holds_a_stroke = self.reservoir_ul >= STROKE_UL - EPS;
        match code {
            AlarmCode::Occlusion => {
                // The configured threshold: `occlusion-threshold-doubled` is a detection defect.
                self.faults.has(Fault::OcclusionAckEarly) || plant.pressure_kpa() < self.settings.occlusion_kpa / 2.0
            }
            AlarmCode::ReservoirLow => self.reservoir_ul > self.low_reservoir_threshold() + EPS,
            AlarmCode::ReservoirEmpty => reservoir_holds_a_stroke,
            AlarmCode::MotorStall => plant.motor_blocked().is_none(),
            // ICD: its condition has gone once no other HIGH alarm is active.
            AlarmCode::TherapyInterrupted => !self.alarms.any_high_except(Some(AlarmCode::TherapyInterrupted)),
            AlarmCode::DoseLimit => true,
        }
    }

    // ----- delivery --------------------------------------------------------------------------

    fn occlusion_threshold(&self) -> f64 {
        let factor = if self.faults.has(Fault::OcclusionThresholdDoubled) { 2.0 } else { 1.0 };
        self.settings.occlusion_kpa * factor
    }

    fn low_reservoir_threshold(&self) -> f64 {
        let late = if self.faults.has(Fault::LowReservoirLate) { LOW_RESERVOIR_LATE_UL } else { 0.0 };
        self.settings.low_reservoir_ul - late
    }

    fn bolus_interval(&self) -> Duration {
        if self.faults.has(Fault::BolusSlow) { SLOW_BOLUS_INTERVAL } else { BOLUS_INTERVAL }
    }

    /// A HIGH alarm holds delivery.
    fn suspended(&self) -> bool {
        if self.faults.has(Fault::PumpingAfterOcclusion) {
            self.alarms.any_high_except(Some(AlarmCode::Occlusion))
        } else {
            self.alarms.any_high()
        }
    }

    fn bolus_may_run(&self) -> bool {
        !self.suspended() && (self.therapy_on || self.faults.has(Fault::StopFinishesBolus))
    }

    fn arm_basal(&mut self) {
        match self.basal.next_due() {
            Some(due) => self.timers.set(Timer::BasalStroke, due),
            None => self.timers.stop(Timer::BasalStroke),
        }
    }

    /// Brings the stroke schedules, the interruption watch and the reported state in line with
    /// therapy on/off and the active alarms. Called after anything that changes them.
    fn update_delivery(&mut self, now: Duration) {
        let want = self.therapy_on && !self.suspended();
        if want && !self.delivering {
            self.delivering = true;
            self.stall = None;
            self.timers.stop(Timer::StallRetry);
            self.undelivered_since = None;
            self.timers.stop(Timer::TherapyInterrupted);
            self.basal.restart(now);
            self.arm_basal();
        } else if !want && self.delivering {
            self.delivering = false;
            let due = if self.stall.is_some() { Some(now) } else { self.timers.get(Timer::BasalStroke) };
            self.timers.stop(Timer::BasalStroke);
            self.timers.stop(Timer::StallRetry);
            self.stall = None;
            if self.therapy_on {
                self.note_undelivered(due.unwrap_or(now));
            }
        }
        if !self.therapy_on {
            self.undelivered_since = None;
            self.timers.stop(Timer::TherapyInterrupted);
        }
        if self.bolus_may_run() {
            if !self.boluses.is_empty() && self.stall.is_none() && !self.timers.is_set(Timer::BolusStroke) {
                self.timers.set(Timer::BolusStroke, now.saturating_add(self.bolus_interval()));
            }
        } else {
            self.timers.stop(Timer::BolusStroke);
            while let Some(b) = self.boluses.pop_front() {
                self.end_bolus(now, b);
            }
        }
        self.report_state(now);
    }

    /// A stroke due at `due` will not be delivered: start the interruption watch.
    fn note_undelivered(&mut self, due: Duration) {
        if self.undelivered_since.is_some() {
            return;
        }
        self.undelivered_since = Some(due);
        if !self.faults.has(Fault::TherapyInterruptedMissing) && !self.alarms.is_active(AlarmCode::TherapyInterrupted) {
            self.timers.set(Timer::TherapyInterrupted, due.saturating_add(INTERRUPTION_DELAY));
        }
    }

    /// Strokes `max_24h_ul` admits in one 24 h window.
    fn cap_strokes(&self) -> usize {
        // A finite setting of at most 24000 µL: at most 96000 strokes.
        (self.settings.max_24h_ul / STROKE_UL + EPS).floor().max(0.0) as usize
    }

    /// Strokes in the window the cap is judged on (rolling; the current day since boot with
    /// `daily-limit-calendar-day`).
    fn window_strokes(&self, now: Duration) -> usize {
        if self.faults.has(Fault::DailyLimitCalendarDay) {
            self.history.strokes_since(self.day_start(now))
        } else {
            self.history.strokes_in_rolling_day(now)
        }
    }

    fn pending_bolus_strokes(&self) -> usize {
        self.boluses
            .iter()
            .map(|b| usize::try_from(b.strokes_left).unwrap_or(usize::MAX))
            .fold(0, usize::saturating_add)
    }

    /// SRS-DOS-004 for a basal stroke due now: `None` if it may be made; else it is withheld, and
    /// this is when enough old strokes will have left the window for it.
    fn basal_withheld_until(&self, now: Duration) -> Option<Duration> {
        let cap = self.cap_strokes();
        let wanted = self.window_strokes(now).saturating_add(self.pending_bolus_strokes()).saturating_add(1);
        if wanted <= cap {
            return None;
        }
        let release = if self.faults.has(Fault::DailyLimitCalendarDay) {
            Some(self.day_start(now).saturating_add(DAY))
        } else {
            self.history.rolling_release(now, wanted - cap)
        };
        // The granted boluses alone fill the cap (a lowered LIMIT): wait for them to end.
        Some(release.unwrap_or(now.saturating_add(DAY)))
    }

    /// SRS-DOS-004 for a bolus stroke due now: whether it would put the window over the cap.
    fn bolus_stroke_breaks_cap(&self, now: Duration) -> bool {
        self.window_strokes(now).saturating_add(1) > self.cap_strokes()
    }

    /// A basal stroke withheld by the cap is looked at again now (the cap or the boluses changed).
    fn release_withheld_basal(&mut self, now: Duration) {
        if self.basal_withheld && self.delivering && self.stall.is_none() {
            self.timers.set(Timer::BasalStroke, now);
        }
    }

    /// The bolus being delivered ends early: its next stroke would break the 24 h cap.
    fn end_bolus_early(&mut self, now: Duration) {
        if let Some(bolus) = self.boluses.pop_front() {
            self.end_bolus(now, bolus);
        }
        if let Some(stall) = self.stall.as_mut() {
            // The motor is still being retried; the next stroke it owes is a basal one.
            stall.kind = StrokeKind::Basal;
            self.timers.set(Timer::StallRetry, now.saturating_add(STALL_RETRY));
        } else if !self.boluses.is_empty() && self.bolus_may_run() {
            self.timers.set(Timer::BolusStroke, now.saturating_add(self.bolus_interval()));
        }
        self.release_withheld_basal(now);
    }

    fn attempt_stroke(&mut self, now: Duration, kind: StrokeKind, plant: &mut Plant) {
        let timer = if self.stall.is_some() { Timer::StallRetry } else { kind.timer() };
        match kind {
            StrokeKind::Basal => {
                if let Some(release) = self.basal_withheld_until(now) {
                    self.basal_withheld = true;
                    self.timers.set(timer, release);
                    return;
                }
                self.basal_withheld = false;
            }
            StrokeKind::Bolus => {
                if self.bolus_stroke_breaks_cap(now) {
                    self.end_bolus_early(now);
                    return;
                }
            }
        }
        if self.reservoir_ul < STROKE_UL - EPS && !self.faults.has(Fault::ReservoirEmptyMissed) {
            if self.therapy_on {
                self.note_undelivered(now);
            }
            self.raise(now, AlarmCode::ReservoirEmpty);
            return;
        }
        let outcome = plant.stroke(STROKE_UL);
        match outcome {
            StrokeOutcome::Failed(_) => {
                let failures = self.stall.map_or(0, |s| s.failures) + 1;
                self.stall = Some(Stall { kind, failures });
                self.timers.stop(Timer::BasalStroke);
                self.timers.stop(Timer::BolusStroke);
                if self.therapy_on {
                    self.note_undelivered(now);
                }
                if failures >= STALL_ATTEMPTS && !self.faults.has(Fault::StallDetectionOff) {
                    self.raise(now, AlarmCode::MotorStall);
                } else {
                    self.timers.set(Timer::StallRetry, now.saturating_add(STALL_RETRY));
                }
            }
            StrokeOutcome::Completed { .. } => {
                let recovered = self.stall.take().is_some();
                self.undelivered_since = None;
                self.timers.stop(Timer::TherapyInterrupted);
                self.strokes_since_boot += 1;
                self.history.record_stroke(now);
                self.reservoir_ul = (self.reservoir_ul - STROKE_UL).max(0.0);
                match kind {
                    StrokeKind::Basal => self.basal.delivered(now),
                    StrokeKind::Bolus => self.bolus_stroke_done(now),
                }
                if recovered && kind == StrokeKind::Bolus {
                    self.basal.restart(now);
                }
                if (kind == StrokeKind::Basal || recovered) && self.delivering {
                    self.arm_basal();
                }
                if (kind == StrokeKind::Bolus || recovered) && !self.boluses.is_empty() && self.bolus_may_run() {
                    self.timers.set(Timer::BolusStroke, now.saturating_add(self.bolus_interval()));
                }
                self.check_reservoir_low(now);
            }
        }
        // The pump reads the line pressure after every stroke.
        if plant.pressure_kpa() > self.occlusion_threshold() {
            self.raise(now, AlarmCode::Occlusion);
        }
    }

    fn bolus_stroke_done(&mut self, now: Duration) {
        let Some(bolus) = self.boluses.front_mut() else {
            return;
        };
        bolus.strokes_done += 1;
        bolus.strokes_left = bolus.strokes_left.saturating_sub(1);
        if bolus.strokes_left == 0 {
            if let Some(done) = self.boluses.pop_front() {
                self.end_bolus(now, done);
            }
        }
    }

    fn end_bolus(&mut self, now: Duration, bolus: Bolus) {
        let delivered_ul = f64::from(bolus.strokes_done) * STROKE_UL;
        self.emit(now, EventKind::BolusEnd { id: bolus.id, delivered_ul });
    }

    fn check_reservoir_low(&mut self, now: Duration) {
        if self.reservoir_ul <= self.low_reservoir_threshold() + EPS {
            self.raise(now, AlarmCode::ReservoirLow);
        }
    }

    // ----- alarms and events -----------------------------------------------------------------

    fn raise(&mut self, now: Duration, code: AlarmCode) {
        if self.alarms.raise(code, now) {
            self.emit(now, EventKind::Alarm { code, priority: code.priority() });
        }
        match code {
            AlarmCode::DoseLimit => self.timers.set(Timer::DoseLimitClear, now.saturating_add(DOSE_LIMIT_HOLD)),
            AlarmCode::TherapyInterrupted => self.timers.stop(Timer::TherapyInterrupted),
            _ => {}
        }
        self.update_delivery(now);
    }

    fn clear(&mut self, now: Duration, code: AlarmCode) {
        if self.alarms.clear(code) {
            self.emit(now, EventKind::Clear { code });
            if code == AlarmCode::DoseLimit {
                self.timers.stop(Timer::DoseLimitClear);
            }
            self.update_delivery(now);
        }
    }

    fn report_state(&mut self, now: Duration) {
        let state = self.state();
        if state != self.reported_state {
            self.reported_state = state;
            self.emit(now, EventKind::State { state });
        }
    }

    fn emit(&mut self, now: Duration, kind: EventKind) {
        if self.faults.has(Fault::EvseqSkips) && matches!(kind, EventKind::Clear { .. }) {
            self.next_evseq = self.next_evseq.wrapping_add(1);
        }
        let evseq = self.next_evseq;
        self.next_evseq = self.next_evseq.wrapping_add(1);
        self.events.push(Event { evseq, pump_ms: self.pump_ms(now), kind });
    }
}
