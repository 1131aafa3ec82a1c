//! A twin shared between the tasks that reach it (service port, I2C, GPIO), advanced to the
//! rig's clock before every access, so the twin's timeline is the rig's.
//!
//! Under virtual time a sampler may read the twin lazily (see `run::sampler`): it registers a
//! [`CatchUp`] here, and before anything advances the twin to `now` the catch-up takes every
//! reading due at or before `now`, each at its own instant (the twin advanced to that instant
//! and no further). The twin's timeline stays the rig's, and nothing needs a wake-up per sample.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::RigClock;
use crate::sim::{Injection, Twin};

/// What a lazy reader of the twin does before the twin is advanced to `now`: its reads due at
/// or before `now`, through [`SharedTwin::read_at`]-stamped accesses.
pub type CatchUp = Box<dyn FnMut(&SharedTwin, Duration) + Send>;

/// No instant: accesses are at the clock's now.
const NOT_OVERRIDDEN: u64 = u64::MAX;

/// A handle to one twin. Cheap to clone.
#[derive(Clone)]
pub struct SharedTwin {
    twin: Arc<Mutex<Twin>>,
    clock: RigClock,
    /// Woken after every access, so the service-port task (`rig sim`, a tapped line) flushes
    /// what the twin said and re-arms its timer; the in-process port's read is woken through
    /// `port_reader`.
    changed: Arc<Notify>,
    /// The lazy reader's catch-up, if one is registered; taken out while it runs.
    catch_up: Arc<Mutex<Option<CatchUp>>>,
    /// While a catch-up reads: the instant (ns on the twin's timeline) its accesses are at.
    reading_at: Arc<AtomicU64>,
    /// Woken by an injection: a lazy reader looks again at whether the sensor is disturbed.
    injected: Arc<Notify>,
    /// The in-process port's read waiting for the twin, woken like `changed`.
    port_reader: Arc<Mutex<Option<Waker>>>,
}

impl SharedTwin {
    /// `clock` must be the clock the twin's time counts from (its epoch is the twin's t = 0).
    pub fn new(twin: Twin, clock: RigClock) -> Self {
        Self {
            twin: Arc::new(Mutex::new(twin)),
            clock,
            changed: Arc::new(Notify::new()),
            catch_up: Arc::new(Mutex::new(None)),
            reading_at: Arc::new(AtomicU64::new(NOT_OVERRIDDEN)),
            injected: Arc::new(Notify::new()),
            port_reader: Arc::new(Mutex::new(None)),
        }
    }

    pub fn clock(&self) -> RigClock {
        self.clock
    }

    /// The twin's time now: the clock's, or during a catch-up the instant of the read.
    pub fn now(&self) -> Duration {
        match self.reading_at.load(Ordering::Relaxed) {
            NOT_OVERRIDDEN => self.clock.now().as_duration(),
            ns => Duration::from_nanos(ns),
        }
    }

    /// Registers the lazy reader's catch-up (replacing any other), run before every access that
    /// advances the twin and by [`SharedTwin::catch_up`].
    pub fn set_catch_up(&self, catch_up: CatchUp) {
        *lock(&self.catch_up) = Some(catch_up);
    }

    /// Removes the catch-up; returns whether one was registered.
    pub fn clear_catch_up(&self) -> bool {
        lock(&self.catch_up).take().is_some()
    }

    /// Runs the catch-up to now, if one is registered and not already running (its own reads
    /// come back through here).
    pub fn catch_up(&self) {
        if self.reading_at.load(Ordering::Relaxed) != NOT_OVERRIDDEN {
            return;
        }
        let Some(mut catch_up) = lock(&self.catch_up).take() else { return };
        let now = self.clock.now().as_duration();
        catch_up(self, now);
        self.reading_at.store(NOT_OVERRIDDEN, Ordering::Relaxed);
        let mut slot = lock(&self.catch_up);
        if slot.is_none() {
            *slot = Some(catch_up);
        }
    }

    /// For a catch-up: runs `f` with the twin's accesses at `t` (at or before now), not at now.
    pub fn read_at<R>(&self, t: Duration, f: impl FnOnce() -> R) -> R {
        let ns = u64::try_from(t.as_nanos()).unwrap_or(NOT_OVERRIDDEN - 1).min(NOT_OVERRIDDEN - 1);
        let before = self.reading_at.swap(ns, Ordering::Relaxed);
        let result = f();
        self.reading_at.store(before, Ordering::Relaxed);
        result
    }

    /// Whether a bench injection disturbs the flow sensor now (NACKs pending, air, stuck).
    pub fn sensor_disturbed(&self) -> bool {
        self.peek(Twin::sensor_disturbed)
    }

    /// Resolves after the next injection.
    pub async fn injected(&self) {
        self.injected.notified().await
    }

    /// Runs `f` on the twin advanced to now, then wakes the service port so it forwards what
    /// the twin said and re-arms its timer.
    pub fn with<R>(&self, f: impl FnOnce(&mut Twin, Duration) -> R) -> R {
        let result = self.with_quietly(f);
        self.changed.notify_one();
        self.wake_port();
        result
    }

    /// Wakes the in-process port's waiting read, if there is one.
    pub(crate) fn wake_port(&self) {
        let reader = lock(&self.port_reader).take();
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    /// For the in-process port's read: `waker` is woken by the next [`SharedTwin::with`].
    pub(crate) fn wake_port_on_access(&self, waker: &Waker) {
        let mut slot = lock(&self.port_reader);
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// For the in-process port's write: wakes a read waiting on another task than `writer`'s.
    pub(crate) fn wake_port_unless(&self, writer: &Waker) {
        let reader = lock(&self.port_reader).take_if(|w| !w.will_wake(writer));
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    /// [`SharedTwin::with`] without waking the service port: for the service port itself, which
    /// would otherwise wake itself forever (and, under the paused clock, stop time).
    pub(crate) fn with_quietly<R>(&self, f: impl FnOnce(&mut Twin, Duration) -> R) -> R {
        self.catch_up();
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
        self.injected.notify_waiters();
    }

    pub(crate) async fn changed(&self) {
        self.changed.notified().await
    }

    fn lock(&self) -> MutexGuard<'_, Twin> {
        lock(&self.twin)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the twin half-updated in a way that matters
    // more than losing the bench: keep serving.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
