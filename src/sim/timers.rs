//! The firmware's timers, typed (after quinn-proto's `connection/timer.rs`): one slot per kind,
//! the earliest armed slot is the firmware's next deadline.

use std::time::Duration;

/// Everything in the firmware that happens at a time rather than on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The next basal stroke is due.
    BasalStroke,
    /// The next stroke of the bolus being delivered is due.
    BolusStroke,
    /// A stroke failed; the motor is tried again.
    StallRetry,
    /// Strokes have been due and undelivered for the detection delay: raise
    /// `THERAPY_INTERRUPTED`.
    TherapyInterrupted,
    /// `DOSE_LIMIT` clears itself.
    DoseLimitClear,
}

impl Timer {
    /// Also the order in which timers expiring at the same instant are handled.
    pub const ALL: [Timer; 5] =
        [Timer::BasalStroke, Timer::BolusStroke, Timer::StallRetry, Timer::TherapyInterrupted, Timer::DoseLimitClear];

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    deadlines: [Option<Duration>; Timer::ALL.len()],
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Duration) {
        if let Some(d) = self.deadlines.get_mut(timer.index()) {
            *d = Some(at);
        }
    }

    pub fn stop(&mut self, timer: Timer) {
        if let Some(d) = self.deadlines.get_mut(timer.index()) {
            *d = None;
        }
    }

    pub fn get(&self, timer: Timer) -> Option<Duration> {
        self.deadlines.get(timer.index()).copied().flatten()
    }

    pub fn is_set(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    pub fn stop_all(&mut self) {
        self.deadlines = Default::default();
    }

    /// The earliest armed deadline.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// The timer that expires first among those due at `now` (ties in [`Timer::ALL`] order),
    /// disarmed.
    pub fn pop_expired(&mut self, now: Duration) -> Option<(Timer, Duration)> {
        let (timer, at) = Timer::ALL
            .iter()
            .filter_map(|&t| self.get(t).filter(|&at| at <= now).map(|at| (t, at)))
            .min_by_key(|&(t, at)| (at, t.index()))?;
        self.stop(timer);
        Some((timer, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn earliest_wins_and_ties_follow_declaration_order() {
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::DoseLimitClear, s(5));
        t.set(Timer::BolusStroke, s(5));
        t.set(Timer::BasalStroke, s(9));
        assert_eq!(t.next_timeout(), Some(s(5)));
        assert_eq!(t.pop_expired(s(4)), None);
        assert_eq!(t.pop_expired(s(10)), Some((Timer::BolusStroke, s(5))));
        assert_eq!(t.pop_expired(s(10)), Some((Timer::DoseLimitClear, s(5))));
        assert_eq!(t.pop_expired(s(10)), Some((Timer::BasalStroke, s(9))));
        assert_eq!(t.pop_expired(s(10)), None);
    }

    #[test]
    fn stop_disarms() {
        let mut t = TimerTable::default();
        t.set(Timer::StallRetry, s(1));
        assert!(t.is_set(Timer::StallRetry));
        t.stop(Timer::StallRetry);
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::TherapyInterrupted, s(2));
        t.stop_all();
        assert_eq!(t.next_timeout(), None);
    }
}
