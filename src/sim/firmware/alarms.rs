//! The set of active alarms, latched with the instant each was raised.

use std::time::Duration;

use crate::protocol::{AlarmCode, Priority};

fn slot(code: AlarmCode) -> usize {
    match code {
        AlarmCode::Occlusion => 0,
        AlarmCode::ReservoirLow => 1,
        AlarmCode::ReservoirEmpty => 2,
        AlarmCode::MotorStall => 3,
        AlarmCode::TherapyInterrupted => 4,
        AlarmCode::DoseLimit => 5,
    }
}

/// Active alarms. Lists come out in the ICD's table order.
#[derive(Debug, Clone, Default)]
pub struct AlarmSet {
    raised_at: [Option<Duration>; 6],
}

impl AlarmSet {
    /// Latches `code`; false if it was already active.
    pub fn raise(&mut self, code: AlarmCode, now: Duration) -> bool {
        let Some(s) = self.raised_at.get_mut(slot(code)) else { return false };
        if s.is_some() {
            return false;
        }
        *s = Some(now);
        true
    }

    /// Clears `code`; false if it was not active.
    pub fn clear(&mut self, code: AlarmCode) -> bool {
        self.raised_at.get_mut(slot(code)).and_then(Option::take).is_some()
    }

    pub fn is_active(&self, code: AlarmCode) -> bool {
        self.raised_at.get(slot(code)).is_some_and(Option::is_some)
    }

    pub fn raised_at(&self, code: AlarmCode) -> Option<Duration> {
        self.raised_at.get(slot(code)).copied().flatten()
    }

    pub fn active(&self) -> Vec<AlarmCode> {
        AlarmCode::ALL.iter().copied().filter(|&c| self.is_active(c)).collect()
    }

    /// Whether any HIGH alarm other than `except` is active.
    pub fn any_high_except(&self, except: Option<AlarmCode>) -> bool {
        AlarmCode::ALL.iter().any(|&c| Some(c) != except && c.priority() == Priority::High && self.is_active(c))
    }

    pub fn any_high(&self) -> bool {
        self.any_high_except(None)
    }

    /// Keeps only the HIGH alarms (what survives a watchdog reset).
    pub fn retain_high(&mut self) {
        for &c in AlarmCode::ALL {
            if c.priority() != Priority::High {
                self.clear(c);
            }
        }
    }

    pub fn clear_all(&mut self) {
        self.raised_at = Default::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latch_list_and_priorities() {
        let mut a = AlarmSet::default();
        assert!(a.raise(AlarmCode::DoseLimit, Duration::ZERO));
        assert!(!a.raise(AlarmCode::DoseLimit, Duration::from_secs(1)), "already latched");
        assert_eq!(a.raised_at(AlarmCode::DoseLimit), Some(Duration::ZERO));
        assert!(!a.any_high());
        assert!(a.raise(AlarmCode::MotorStall, Duration::ZERO));
        assert!(a.raise(AlarmCode::Occlusion, Duration::ZERO));
        assert_eq!(a.active(), vec![AlarmCode::Occlusion, AlarmCode::MotorStall, AlarmCode::DoseLimit]);
        assert!(a.any_high_except(Some(AlarmCode::Occlusion)));
        a.retain_high();
        assert_eq!(a.active(), vec![AlarmCode::Occlusion, AlarmCode::MotorStall]);
        assert!(a.clear(AlarmCode::MotorStall));
        assert!(!a.clear(AlarmCode::MotorStall));
        assert!(!a.any_high_except(Some(AlarmCode::Occlusion)));
        a.clear_all();
        assert!(a.active().is_empty());
    }
}
