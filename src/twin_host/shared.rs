//! A twin shared between the tasks that reach it (service port, I2C, GPIO), advanced to the
//! rig's clock before every access, so the twin's timeline is the rig's.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::RigClock;
use crate::sim::{Injection, Twin};

/// A handle to one twin. Cheap to clone.
#[derive(Clone)]
pub struct SharedTwin {
    twin: Arc<Mutex<Twin>>,
    clock: RigClock,
    /// Woken after every access, so the service-port task flushes what the twin said and
    /// re-arms its timer.
    changed: Arc<Notify>,
}

impl SharedTwin {
    /// `clock` must be the clock the twin's time counts from (its epoch is the twin's t = 0).
    pub fn new(twin: Twin, clock: RigClock) -> Self {
        Self { twin: Arc::new(Mutex::new(twin)), clock, changed: Arc::new(Notify::new()) }
    }

    pub fn clock(&self) -> RigClock {
        self.clock
    }

    /// The twin's time now.
    pub fn now(&self) -> Duration {
        self.clock.now().as_duration()
    }

    /// Runs `f` on the twin advanced to now, then wakes the service port so it forwards what
    /// the twin said and re-arms its timer.
    pub fn with<R>(&self, f: impl FnOnce(&mut Twin, Duration) -> R) -> R {
        let result = self.with_quietly(f);
        self.changed.notify_one();
        result
    }

    /// [`SharedTwin::with`] without waking the service port: for the service port itself, which
    /// would otherwise wake itself forever (and, under the paused clock, stop time).
    pub(crate) fn with_quietly<R>(&self, f: impl FnOnce(&mut Twin, Duration) -> R) -> R {
        let now = self.now();
        let mut twin = self.lock();
        twin.advance_to(now);
        f(&mut twin, now)
    }

    /// Reads the twin without advancing it (for observers that must not disturb it).
    pub fn peek<R>(&self, f: impl FnOnce(&Twin) -> R) -> R {
        f(&self.lock())
    }

    /// A bench injection now: a twin [`Injection`], or an ICD [`crate::bus::Inject`] (mapped the
    /// same way as one received over the bench bus).
    pub fn inject(&self, injection: impl Into<Injection>) {
        let injection = injection.into();
        self.with(|twin, now| twin.inject(now, injection));
    }

    pub(crate) async fn changed(&self) {
        self.changed.notified().await
    }

    fn lock(&self) -> MutexGuard<'_, Twin> {
        // A panic while holding the lock cannot leave the twin half-updated in a way that
        // matters more than losing the bench: keep serving.
        self.twin.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
