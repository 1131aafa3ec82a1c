//! The reporters that write files (`samples.csv`, `events.jsonl`, the record) on a thread of
//! their own, so that formatting rows and writing them never runs on the executor's thread:
//! on a bench a write that stalls on the SD card does not delay a step, a STATUS poll or the
//! reading of the link, and on the twin the writing runs on the second core beside the run.
//!
//! The executor hands each event over in time order; the thread gives every event to each of
//! its reporters in that order, as the executor would have. Events wait in a bounded queue:
//! the thread is woken once `hand_over_at` of them are waiting (one under real time, so each is
//! written at once; a batch under virtual time, where a wake-up per event would cost more than
//! writing it), and takes whatever waits at least every [`LONGEST_WAIT`] of wall time. A queue
//! full of unwritten events makes the executor wait for room: memory stays bounded (at most
//! twice [`QUEUE_CAPACITY`] events) when the disk is slower than the run.
//!
//! Nothing is lost on any way out. [`ReporterThread::finish`] writes every event and finishes
//! each reporter; dropped unfinished (the case task unwinding), it writes every event handed
//! over and drops the reporters, whose files flush as they close, before the drop returns; the
//! emergency exit asks every reporter thread to write what it holds first
//! ([`write_what_is_held`]). A reporter that panics on its thread is the case's panic: the
//! executor's next hand-over, or the finish, raises it again on the case task, which ends the
//! case ERROR as a panic there would.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::run::event::{Reporter, RunEvent, hand_out};

type Reporters = Vec<Box<dyn Reporter + Send>>;

/// The longest an event waits in the queue, in wall time, before the thread writes it.
pub const LONGEST_WAIT: Duration = Duration::from_millis(50);
/// The most events that wait in the queue: past it the executor waits for the thread. With the
/// batch the thread is writing, at most twice this many events are held.
pub const QUEUE_CAPACITY: usize = 8 * 1024;
/// Under virtual time, the thread is woken once this many events wait.
pub const VIRTUAL_TIME_BATCH: usize = 1024;

pub struct ReporterThread {
    mode: Mode,
}

enum Mode {
    Thread {
        shared: Arc<Shared>,
        thread: Option<JoinHandle<()>>,
    },
    /// The thread could not be started: the reporters run on the caller's thread.
    Inline(Reporters),
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled for the thread: events to write, the end, or a request to write what is held.
    work: Condvar,
    /// Signalled for the executor: room in the queue, or the thread gone.
    room: Condvar,
    hand_over_at: usize,
    /// [`LONGEST_WAIT`], but for tests.
    longest_wait: Duration,
    /// Events handed over, and events every reporter has had: equal when nothing is held.
    handed: AtomicU64,
    written: AtomicU64,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<RunEvent>,
    thread_waiting: bool,
    executor_waiting: bool,
    write_now: bool,
    end: Option<End>,
    /// The thread has ended (its reporters finished, dropped, or one panicked).
    thread_gone: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// Write everything, then call each reporter's `finish`.
    Finish,
    /// Write everything, then drop the reporters unfinished.
    Drop,
}

impl ReporterThread {
    /// Starts the thread with `reporters`; it is woken once `hand_over_at` events wait (at
    /// least one). If the thread cannot be started, the reporters run on the caller's thread.
    pub fn spawn(reporters: Reporters, hand_over_at: usize) -> Self {
        Self::spawn_waiting(reporters, hand_over_at, LONGEST_WAIT)
    }

    fn spawn_waiting(reporters: Reporters, hand_over_at: usize, longest_wait: Duration) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            hand_over_at: hand_over_at.clamp(1, QUEUE_CAPACITY),
            longest_wait,
            handed: AtomicU64::new(0),
            written: AtomicU64::new(0),
        });
        let for_thread = shared.clone();
        // The reporters go to the thread through a slot, so that a failed spawn gives them back.
        let slot = Arc::new(Mutex::new(Some(reporters)));
        let taken = slot.clone();
        let started = std::thread::Builder::new().name("rig-reporters".into()).spawn(move || {
            let reporters = lock(&taken).take().unwrap_or_default();
            write_until_the_end(&for_thread, reporters);
        });
        match started {
            Ok(thread) => {
                register(&shared);
                Self { mode: Mode::Thread { shared, thread: Some(thread) } }
            }
            Err(_) => Self { mode: Mode::Inline(lock(&slot).take().unwrap_or_default()) },
        }
    }

    /// Whether the reporters run on their own thread (not when it could not be started).
    pub fn on_own_thread(&self) -> bool {
        matches!(self.mode, Mode::Thread { .. })
    }

    /// Ends the thread with `end` and waits for it; raises a reporter's panic on this thread.
    fn end(&mut self, end: End) {
        let Mode::Thread { shared, thread } = &mut self.mode else {
            return;
        };
        {
            let mut q = lock(&shared.queue);
            q.end.get_or_insert(end);
            shared.work.notify_one();
        }
        if let Some(Err(panic)) = thread.take().map(JoinHandle::join) {
            if end == End::Finish {
                std::panic::resume_unwind(panic);
            }
        }
    }

    /// The thread ended early (a reporter panicked): raises its panic on this thread.
    fn raise_the_threads_panic(&mut self) {
        if let Mode::Thread { thread, .. } = &mut self.mode {
            if let Some(Err(panic)) = thread.take().map(JoinHandle::join) {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

impl Reporter for ReporterThread {
    fn on_event(&mut self, event: &RunEvent) {
        self.take_event(event.clone());
    }

    fn take_event(&mut self, event: RunEvent) {
        let gone = match &mut self.mode {
            Mode::Inline(reporters) => {
                hand_out(reporters, event);
                false
            }
            Mode::Thread { shared, .. } => shared.hand_over(std::iter::once(event)).is_err(),
        };
        if gone {
            self.raise_the_threads_panic();
        }
    }

    fn take_events(&mut self, events: &mut Vec<RunEvent>) {
        let gone = match &mut self.mode {
            Mode::Inline(reporters) => {
                events.drain(..).for_each(|e| hand_out(reporters, e));
                false
            }
            Mode::Thread { shared, .. } => shared.hand_over(events.drain(..)).is_err(),
        };
        if gone {
            self.raise_the_threads_panic();
        }
    }

    fn finish(&mut self) {
        match &mut self.mode {
            Mode::Inline(reporters) => reporters.iter_mut().for_each(|r| r.finish()),
            Mode::Thread { .. } => self.end(End::Finish),
        }
    }
}

impl Drop for ReporterThread {
    fn drop(&mut self) {
        // After `finish` the thread is already joined; otherwise every event handed over is
        // written before the reporters (and their files) are dropped.
        self.end(End::Drop);
    }
}

/// The thread has ended: the event was not taken.
struct Gone;

impl Shared {
    /// Puts `events` in the queue, in order, with one lock for them all; waits for room while
    /// the queue is full.
    fn hand_over(&self, events: impl Iterator<Item = RunEvent>) -> Result<(), Gone> {
        let mut q = lock(&self.queue);
        for event in events {
            while q.events.len() >= QUEUE_CAPACITY && !q.thread_gone {
                q.executor_waiting = true;
                if q.thread_waiting {
                    self.work.notify_one();
                }
                q = self.room.wait(q).unwrap_or_else(|p| p.into_inner());
                q.executor_waiting = false;
            }
            if q.thread_gone {
                return Err(Gone);
            }
            q.events.push_back(event);
            self.handed.fetch_add(1, Ordering::Release);
        }
        if q.thread_waiting && q.events.len() >= self.hand_over_at {
            self.work.notify_one();
        }
        Ok(())
    }

    /// Asks the thread to write what it holds; waits at most until `deadline` for it.
    fn write_what_is_held(&self, deadline: Instant) -> bool {
        let target = self.handed.load(Ordering::Acquire);
        {
            let mut q = lock(&self.queue);
            if q.thread_gone {
                return self.written.load(Ordering::Acquire) >= target;
            }
            q.write_now = true;
            self.work.notify_one();
        }
        while self.written.load(Ordering::Acquire) < target {
            if Instant::now() >= deadline || lock(&self.queue).thread_gone {
                return self.written.load(Ordering::Acquire) >= target;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

/// The thread's work: take what waits, give it to each reporter, until told to end.
fn write_until_the_end(shared: &Shared, mut reporters: Reporters) {
    // Marks the thread gone however it ends, a reporter's panic included, so that an executor
    // waiting for room or handing over learns it.
    struct Departure<'a>(&'a Shared);
    impl Drop for Departure<'_> {
        fn drop(&mut self) {
            let mut q = lock(&self.0.queue);
            q.thread_gone = true;
            self.0.room.notify_all();
        }
    }
    let _departure = Departure(shared);
    let mut batch = VecDeque::new();
    loop {
        let end = {
            let mut q = lock(&shared.queue);
            let mut waited = false;
            while q.end.is_none() && !q.write_now && !waited && q.events.len() < shared.hand_over_at {
                q.thread_waiting = true;
                let (guard, timeout) =
                    shared.work.wait_timeout(q, shared.longest_wait).unwrap_or_else(|p| p.into_inner());
                q = guard;
                q.thread_waiting = false;
                waited = timeout.timed_out();
            }
            q.write_now = false;
            std::mem::swap(&mut batch, &mut q.events);
            if q.executor_waiting {
                shared.room.notify_one();
            }
            // The end is taken only with the last events before it.
            q.end
        };
        for event in batch.drain(..) {
            hand_out(&mut reporters, event);
            shared.written.fetch_add(1, Ordering::Release);
        }
        match end {
            Some(End::Finish) => {
                reporters.iter_mut().for_each(|r| r.finish());
                return;
            }
            Some(End::Drop) => return,
            None => {}
        }
    }
}

/// The reporter threads of this process that are still running.
fn running() -> &'static Mutex<Vec<Weak<Shared>>> {
    static RUNNING: OnceLock<Mutex<Vec<Weak<Shared>>>> = OnceLock::new();
    RUNNING.get_or_init(|| Mutex::new(Vec::new()))
}

fn register(shared: &Arc<Shared>) {
    let mut running = lock(running());
    running.retain(|w| w.strong_count() > 0);
    running.push(Arc::downgrade(shared));
}

/// For an exit that will not unwind the executor: every reporter thread writes the events
/// handed to it so far. Waits at most `patience` in all; false if some were not written by then.
pub fn write_what_is_held(patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    let threads: Vec<Arc<Shared>> = lock(running()).iter().filter_map(Weak::upgrade).collect();
    // Every thread is asked, also after one that could not write all it held.
    let mut all = true;
    for t in &threads {
        all &= t.write_what_is_held(deadline);
    }
    all
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::RigTime;
    use crate::run::event::RunEventKind;
    use std::sync::mpsc;

    /// What a reporter on the thread was given, shared with the test.
    #[derive(Default)]
    struct Seen {
        marks: Vec<String>,
        finished: u32,
        dropped: bool,
    }

    struct Recording {
        seen: Arc<Mutex<Seen>>,
        /// Blocks the first event until the test sends on it (a disk that stalls).
        gate: Option<mpsc::Receiver<()>>,
        /// Panics at the event with this mark.
        panic_at: Option<String>,
    }

    impl Reporter for Recording {
        fn on_event(&mut self, event: &RunEvent) {
            if let Some(gate) = self.gate.take() {
                let _ = gate.recv();
            }
            if let RunEventKind::Mark { name } = &event.kind {
                if self.panic_at.as_deref() == Some(name.as_str()) {
                    std::panic::panic_any(format!("reporter failed at {name}"));
                }
                lock(&self.seen).marks.push(name.clone());
            }
        }
        fn finish(&mut self) {
            lock(&self.seen).finished += 1;
        }
    }

    impl Drop for Recording {
        fn drop(&mut self) {
            lock(&self.seen).dropped = true;
        }
    }

    fn recording() -> (Arc<Mutex<Seen>>, Recording) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (seen.clone(), Recording { seen, gate: None, panic_at: None })
    }

    fn mark(k: usize) -> RunEvent {
        RunEvent { at: RigTime::from_millis(k as u64), kind: RunEventKind::Mark { name: format!("m{k}") } }
    }

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|k| format!("m{k}")).collect()
    }

    #[test]
    fn every_reporter_gets_every_event_in_order_and_is_finished_once() {
        for hand_over_at in [1, 7, VIRTUAL_TIME_BATCH] {
            let (a_seen, a) = recording();
            let (b_seen, b) = recording();
            let mut thread = ReporterThread::spawn(vec![Box::new(a), Box::new(b)], hand_over_at);
            assert!(thread.on_own_thread());
            let n = 3 * VIRTUAL_TIME_BATCH + 5;
            for k in 0..n {
                if k % 2 == 0 { thread.take_event(mark(k)) } else { thread.on_event(&mark(k)) }
            }
            thread.finish();
            for seen in [&a_seen, &b_seen] {
                let seen = lock(seen);
                assert_eq!(seen.marks, names(n), "hand over at {hand_over_at}");
                assert_eq!(seen.finished, 1);
                assert!(seen.dropped, "the thread has ended with its reporters");
            }
            drop(thread);
            assert_eq!(lock(&a_seen).finished, 1, "a drop after finish does not finish again");
        }
    }

    /// A batch larger than the queue (a release after a long stall) is handed over whole and in
    /// order: while the queue is full the executor wakes the thread instead of both waiting, the
    /// thread for a batch's worth and the executor for room.
    #[test]
    fn a_batch_larger_than_the_queue_is_handed_over_whole_without_a_hang() {
        let (seen, r) = recording();
        let n = 3 * QUEUE_CAPACITY + 5;
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            // The thread's own timeout (an hour) would hide a hang behind a slow pass.
            let mut thread =
                ReporterThread::spawn_waiting(vec![Box::new(r)], VIRTUAL_TIME_BATCH, Duration::from_secs(3600));
            // The thread is waiting for a batch's worth before the hand-over begins.
            if let Mode::Thread { shared, .. } = &thread.mode {
                while !lock(&shared.queue).thread_waiting {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let mut batch: Vec<RunEvent> = (0..n).map(mark).collect();
            thread.take_events(&mut batch);
            assert!(batch.is_empty(), "the batch is taken");
            thread.finish();
            let _ = done.send(());
        });
        finished.recv_timeout(Duration::from_secs(60)).expect("the hand-over of a large batch hung");
        let seen = lock(&seen);
        assert_eq!(seen.marks, names(n));
        assert_eq!(seen.finished, 1);
    }

    #[test]
    fn dropped_unfinished_it_writes_every_event_handed_over_and_drops_the_reporters_unfinished() {
        let (seen, r) = recording();
        let mut thread =
            ReporterThread::spawn_waiting(vec![Box::new(r)], VIRTUAL_TIME_BATCH, Duration::from_secs(3600));
        for k in 0..10 {
            thread.take_event(mark(k));
        }
        drop(thread);
        let seen = lock(&seen);
        assert_eq!(seen.marks, names(10), "fewer than a batch: written at the drop");
        assert_eq!(seen.finished, 0);
        assert!(seen.dropped, "the drop returns once the reporters are dropped");
    }

    #[test]
    fn what_is_held_is_written_when_the_emergency_exit_asks() {
        let (seen, r) = recording();
        // Fewer than a batch, and no wait that ends by itself: only the ask can write them.
        let mut thread =
            ReporterThread::spawn_waiting(vec![Box::new(r)], VIRTUAL_TIME_BATCH, Duration::from_secs(3600));
        for k in 0..10 {
            thread.take_event(mark(k));
        }
        // This thread's part of `write_what_is_held` (the registry holds the other tests' too).
        let Mode::Thread { shared, .. } = &thread.mode else { unreachable!("the thread started") };
        assert!(lock(running()).iter().any(|w| w.as_ptr() == Arc::as_ptr(shared)), "registered");
        assert!(shared.write_what_is_held(Instant::now() + Duration::from_secs(10)));
        assert_eq!(lock(&seen).marks, names(10));
        thread.finish();
    }

    #[test]
    fn a_disk_slower_than_the_run_makes_the_executor_wait_with_the_queue_bounded() {
        let (seen, mut r) = recording();
        let (open_gate, gate) = mpsc::channel();
        r.gate = Some(gate);
        let mut thread = ReporterThread::spawn(vec![Box::new(r)], 1);
        let Mode::Thread { shared, .. } = &thread.mode else { unreachable!("the thread started") };
        let shared = shared.clone();
        let n = 2 * QUEUE_CAPACITY + 100;
        let (done_tx, done) = mpsc::channel();
        let producer = std::thread::spawn(move || {
            for k in 0..n {
                thread.take_event(mark(k));
            }
            let _ = done_tx.send(());
            thread.finish();
        });
        // The reporter is stuck in the batch it took; the queue fills and the producer waits.
        while shared.handed.load(Ordering::Acquire) < QUEUE_CAPACITY as u64 {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(done.try_recv().is_err(), "the producer went on past a full queue");
        let held = shared.handed.load(Ordering::Acquire) - shared.written.load(Ordering::Acquire);
        assert!(held <= 2 * QUEUE_CAPACITY as u64, "{held} events held");
        open_gate.send(()).unwrap();
        producer.join().unwrap();
        assert_eq!(lock(&seen).marks, names(n));
    }

    #[test]
    fn a_reporter_that_panics_on_the_thread_panics_the_case_and_never_hangs_it() {
        // A full queue waiting on the dead thread is the hang this guards against.
        for (events, hand_over_at) in [(3, 1), (QUEUE_CAPACITY * 2, 1), (3, VIRTUAL_TIME_BATCH)] {
            let (seen, mut r) = recording();
            r.panic_at = Some("m1".into());
            let mut thread = ReporterThread::spawn(vec![Box::new(r)], hand_over_at);
            let raised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for k in 0..events {
                    thread.take_event(mark(k));
                }
                thread.finish();
            }));
            let payload = raised.expect_err("the reporter's panic reaches the caller");
            assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("reporter failed at m1"));
            assert_eq!(lock(&seen).marks, vec!["m0".to_string()]);
            drop(thread);
        }
    }
}
