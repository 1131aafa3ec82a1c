//! Telling a pump that reset itself mid-case from everything else that puts a `BOOT` on the
//! timeline: a state machine fed with the case's `BOOT` events and `STATUS` answers.
//!
//! A `BOOT` the plan caused (an injected watchdog reset, an operator's action) within
//! [`EXPECTED_BOOT_WITHIN`] is expected. Any other `BOOT` that arrives once the steps have begun
//! is a finding about the firmware — provided the pump really reset: the `BOOT` of the boot the
//! case started under may arrive late (an event queued behind other work, a slow line), and that
//! is no reset. The pump's own clock tells them apart (ICD part 1: `pump_ms` counts from boot, and
//! `delivered_ul`, `pump_ms`, `evseq` start again after a reset): at the first `STATUS` asked
//! after the `BOOT` arrived, a pump that reset shows a clock that went back; one that did not
//! shows its clock advanced by at least the rig's time between the two answers.

use std::time::Duration;

use crate::clock::RigTime;
use crate::protocol::BootReason;

/// How long after the plan's own reset its `BOOT` may arrive: the ICD's software benches reset
/// "at once", and a firmware boots in well under this. A later `BOOT` is the pump's own doing.
pub const EXPECTED_BOOT_WITHIN: Duration = Duration::from_secs(5);

/// The pump's crystal (ICD part 1: ±100 ppm), doubled for the rig's.
const CLOCK_TOLERANCE: f64 = 200e-6;

/// What a `STATUS` after an unexplained `BOOT` showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The pump's clock went back: it reset, and the plan did not cause it (the case's finding).
    Reset(String),
    /// Its clock ran on: the `BOOT` was the start's, arriving late (an anomaly, no finding).
    NotAReset(String),
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    arrived: RigTime,
    reason: BootReason,
    /// The last `STATUS` before it: when it was answered and the pump's clock then.
    before: Option<(RigTime, u64)>,
}

/// Watches the `BOOT`s of one case.
#[derive(Debug, Default)]
pub struct ResetWatch {
    watching: bool,
    expected_until: Option<RigTime>,
    last_status: Option<(RigTime, u64)>,
    pending: Option<Pending>,
}

impl ResetWatch {
    /// From now on (the first step) a `BOOT` is looked at; start-up's are the bench's business.
    pub fn start_watching(&mut self) {
        self.watching = true;
    }

    /// The plan is about to cause a reset at `now`.
    pub fn expect(&mut self, now: RigTime) {
        self.expected_until = Some(now + EXPECTED_BOOT_WITHIN);
    }

    /// A `BOOT` arrived at `at`. Expected ones are consumed; others wait for a `STATUS`.
    pub fn boot(&mut self, at: RigTime, reason: BootReason) {
        if !self.watching {
            return;
        }
        if self.expected_until.is_some_and(|until| at <= until) {
            self.expected_until = None;
            return;
        }
        if self.pending.is_none() {
            self.pending = Some(Pending { arrived: at, reason, before: self.last_status });
        }
    }

    /// Whether a `BOOT` waits for a `STATUS` to be judged.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// A `STATUS` asked at `asked_at`, answered at `answered_at` with the pump's clock at
    /// `pump_ms`. Judges the `BOOT` waiting, if this answer can.
    pub fn status(&mut self, asked_at: RigTime, answered_at: RigTime, pump_ms: u64) -> Option<Resolved> {
        let resolved = match self.pending {
            Some(p) if asked_at > p.arrived => {
                self.pending = None;
                Some(Self::judge(p, asked_at, pump_ms))
            }
            _ => None,
        };
        self.last_status = Some((answered_at, pump_ms));
        resolved
    }

    fn judge(p: Pending, asked_at: RigTime, pump_ms: u64) -> Resolved {
        let boot = format!("BOOT reason={} at t={}", p.reason, p.arrived);
        let Some((answered_before, ms_before)) = p.before else {
            return Resolved::Reset(format!("the pump reset itself ({boot}) without the plan causing it"));
        };
        // Between the two answers the pump's clock advanced at least the rig's time between
        // the first answer and the second request, less the crystals' tolerance.
        let elapsed_ms = asked_at.since(answered_before).as_secs_f64() * 1e3;
        let at_least = ms_before as f64 + elapsed_ms * (1.0 - CLOCK_TOLERANCE) - 1.0;
        if (pump_ms as f64) < at_least {
            Resolved::Reset(format!("the pump reset itself ({boot}) without the plan causing it"))
        } else {
            Resolved::NotAReset(format!(
                "{boot} arrived during the case, but the pump's clock ran on ({ms_before} ms, then {pump_ms} ms): taken as the boot before the case, reported late"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: f64) -> RigTime {
        RigTime::from_secs_f64(v)
    }

    fn watching() -> ResetWatch {
        let mut w = ResetWatch::default();
        w.status(s(0.0), s(0.0), 1_000);
        w.start_watching();
        w
    }

    #[test]
    fn a_boot_then_a_clock_that_went_back_is_a_reset_the_plan_did_not_cause() {
        let mut w = watching();
        w.status(s(9.0), s(9.0), 10_000);
        w.boot(s(12.0), BootReason::Watchdog);
        assert!(w.is_pending());
        assert_eq!(w.status(s(12.0), s(12.0), 12), None, "asked at the same instant: may predate the reset");
        let r = w.status(s(19.0), s(19.0), 7_000);
        assert_eq!(
            r,
            Some(Resolved::Reset(
                "the pump reset itself (BOOT reason=WATCHDOG at t=12.000s) without the plan causing it".into()
            ))
        );
        assert!(!w.is_pending());
    }

    #[test]
    fn a_late_boot_with_the_clock_running_on_is_no_reset() {
        let mut w = watching();
        w.boot(s(0.4), BootReason::PowerOn);
        match w.status(s(10.0), s(10.0), 11_000) {
            Some(Resolved::NotAReset(why)) => assert!(why.contains("clock ran on (1000 ms, then 11000 ms)"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_plans_own_reset_is_expected_within_its_bound_and_only_once() {
        let mut w = watching();
        w.expect(s(100.0));
        w.boot(s(100.2), BootReason::Watchdog);
        assert!(!w.is_pending());
        w.boot(s(101.0), BootReason::Watchdog);
        assert!(w.is_pending(), "a second BOOT is not the plan's");
        let mut w = watching();
        w.expect(s(100.0));
        w.boot(s(106.0), BootReason::Watchdog);
        assert!(w.is_pending(), "too long after the injection");
    }

    #[test]
    fn boots_before_the_steps_are_not_watched() {
        let mut w = ResetWatch::default();
        w.boot(s(0.0), BootReason::PowerOn);
        assert!(!w.is_pending());
    }
}
