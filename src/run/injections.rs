//! A plan's `inject:` steps as the bench's injections (ICD part 2, "Fault injection"), and the
//! bookkeeping that undoes them: an injection with a duration is undone when it runs out, and
//! every one still in effect is undone when the case ends, before the safe state (a line still
//! corrupting frames would keep STOP from reaching the pump, and a software bench outlives the
//! case: the next case must not start on a stalled motor).
//!
//! The in-process twin and a software bench in its own process take the same requests, so a plan
//! behaves the same on both.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::bus::codec::{Inject, InjectKind};
use crate::clock::RigTime;
use crate::plan::Injection;

/// The requests an `inject:` step makes: one now, and perhaps one that undoes it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requests {
    pub now: Inject,
    pub undo_after: Option<(Duration, Inject)>,
}

/// The bench requests for a plan's injection.
pub fn requests(injection: Injection) -> Requests {
    let lasting = |now: Inject, duration: Option<Duration>| Requests {
        now,
        undo_after: duration.and_then(|d| undo(now).map(|u| (d, u))),
    };
    match injection {
        Injection::MotorStall { duration } => lasting(Inject::Stall(true), duration),
        Injection::ClearMotorStall => lasting(Inject::Stall(false), None),
        Injection::WatchdogReset => lasting(Inject::Watchdog, None),
        Injection::LinkCorrupt { permille } => lasting(Inject::Corrupt { permille }, None),
        Injection::LinkSilence { duration } => {
            let ms = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
            lasting(Inject::Silence { ms }, None)
        }
        Injection::SensorNack { count } => lasting(Inject::SensorNack { count }, None),
        Injection::SensorAir { on, duration } => lasting(Inject::SensorAir(on), duration),
        Injection::SensorStuck { on, duration } => lasting(Inject::SensorStuck(on), duration),
    }
}

/// The request that ends what `inject` started, for the injections that last until undone.
/// Those that end by themselves (a watchdog reset, a silence, a count of NACKs) have none.
pub fn undo(inject: Inject) -> Option<Inject> {
    match inject {
        Inject::Stall(true) => Some(Inject::Stall(false)),
        Inject::Corrupt { permille } if permille > 0 => Some(Inject::Corrupt { permille: 0 }),
        Inject::SensorAir(true) => Some(Inject::SensorAir(false)),
        Inject::SensorStuck(true) => Some(Inject::SensorStuck(false)),
        _ => None,
    }
}

/// What is in effect on the bench, and which undo falls due when.
#[derive(Debug, Default)]
pub struct InEffect {
    /// Per kind, the request that undoes what is in effect.
    active: BTreeMap<InjectKind, Inject>,
    /// Undo requests with the time they fall due, in order.
    scheduled: Vec<(RigTime, Inject)>,
}

impl InEffect {
    /// Notes that `inject` was made at `now` (and its undo, due `after` it).
    pub fn made(&mut self, now: RigTime, inject: Inject, undo_after: Option<(Duration, Inject)>) {
        let kind = inject.kind();
        // A later request of the same kind replaces what was in effect and its schedule.
        self.scheduled.retain(|(_, u)| u.kind() != kind);
        match undo(inject) {
            Some(u) => {
                self.active.insert(kind, u);
            }
            None => {
                self.active.remove(&kind);
            }
        }
        if let Some((after, u)) = undo_after {
            let due = now + after;
            let at = self.scheduled.partition_point(|(t, _)| *t <= due);
            self.scheduled.insert(at, (due, u));
        }
    }

    /// When the next scheduled undo falls due.
    pub fn next_due(&self) -> Option<RigTime> {
        self.scheduled.first().map(|(t, _)| *t)
    }

    /// The scheduled undo due by `now`, if any (take them one by one).
    pub fn take_due(&mut self, now: RigTime) -> Option<Inject> {
        if self.scheduled.first().is_some_and(|(t, _)| *t <= now) {
            let (_, u) = self.scheduled.remove(0);
            self.active.remove(&u.kind());
            return Some(u);
        }
        None
    }

    /// Every undo still needed, clearing the schedule: for the end of the case.
    pub fn take_all(&mut self) -> Vec<Inject> {
        self.scheduled.clear();
        std::mem::take(&mut self.active).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_plan_injection_is_the_icds_request_and_a_timed_one_is_undone() {
        let min = Duration::from_secs(60);
        assert_eq!(
            requests(Injection::MotorStall { duration: Some(min * 5) }),
            Requests { now: Inject::Stall(true), undo_after: Some((min * 5, Inject::Stall(false))) }
        );
        assert_eq!(requests(Injection::MotorStall { duration: None }).undo_after, None);
        assert_eq!(requests(Injection::ClearMotorStall).now, Inject::Stall(false));
        assert_eq!(requests(Injection::WatchdogReset).now, Inject::Watchdog);
        assert_eq!(requests(Injection::LinkCorrupt { permille: 50 }).now, Inject::Corrupt { permille: 50 });
        let silence = requests(Injection::LinkSilence { duration: Duration::from_millis(2500) });
        assert_eq!(silence, Requests { now: Inject::Silence { ms: 2500 }, undo_after: None }, "ends by itself");
        assert_eq!(requests(Injection::SensorNack { count: 3 }).now, Inject::SensorNack { count: 3 });
        assert_eq!(
            requests(Injection::SensorAir { on: true, duration: Some(min) }),
            Requests { now: Inject::SensorAir(true), undo_after: Some((min, Inject::SensorAir(false))) }
        );
        assert_eq!(requests(Injection::SensorStuck { on: false, duration: None }).now, Inject::SensorStuck(false));
    }

    #[test]
    fn what_is_in_effect_is_undone_when_due_and_at_the_end() {
        let t = |s: u64| RigTime::from_millis(s * 1000);
        let mut e = InEffect::default();
        e.made(t(0), Inject::Stall(true), Some((Duration::from_secs(300), Inject::Stall(false))));
        e.made(t(10), Inject::Corrupt { permille: 50 }, None);
        e.made(t(20), Inject::Silence { ms: 1000 }, None);
        assert_eq!(e.next_due(), Some(t(300)));
        assert_eq!(e.take_due(t(299)), None);
        assert_eq!(e.take_due(t(300)), Some(Inject::Stall(false)));
        assert_eq!(e.take_all(), [Inject::Corrupt { permille: 0 }], "only what lasts is undone at the end");
        // Cleared by hand before its time: nothing left to undo.
        e.made(t(0), Inject::SensorAir(true), Some((Duration::from_secs(60), Inject::SensorAir(false))));
        e.made(t(5), Inject::SensorAir(false), None);
        assert_eq!(e.next_due(), None);
        assert!(e.take_all().is_empty());
    }
}
