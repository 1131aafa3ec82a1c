//! The emergency stop: what a second Ctrl-C (or a case task that panicked) uses to put the
//! bench in its safe state at once, whatever the executor is doing, and the escalation from a
//! first interrupt (stop the step, let the executor make the bench safe) to a second one (the
//! emergency stop, the run files flushed, then exit).
//!
//! The first SIGINT or SIGTERM only asks the run to stop: the executor ends the step, makes the
//! bench safe, keeps every sample, and the run returns its exit code (130) through the normal
//! path, destructors and flushes included. The second is the rig's one forced exit
//! ([`supervise`]): someone wants it to stop now, whatever the executor is waiting for.
//!
//! The emergency stop drives the valve line itself through a second handle on it: the process
//! exits right after, and an exit runs no `Drop`, so a valve left to its driver would stay as it
//! was (closed, on a Raspberry Pi whose GPIO keeps its last level).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::bench::Bench;

/// The handle a second Ctrl-C uses to make the bench safe at once, whatever the executor is
/// doing: the link (for STOP) and, where the pin can be shared, the valve line.
#[derive(Clone, Default)]
pub struct EmergencyStop(Arc<Mutex<Option<Armed>>>);

/// The running case's link, and a second handle on its valve line where one can be had.
type Armed = (crate::link::PumpLink, Option<crate::bench::instruments::BenchPin>);

impl EmergencyStop {
    /// Arms the stop on `bench` (its link and a second handle on its valve line).
    pub fn arm(&self, bench: &Bench) {
        let pin = bench.valve_pin_clone();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((bench.link().clone(), pin));
    }

    pub fn disarm(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Opens the valve and sends STOP (1 s at most); reports what it did.
    pub async fn engage(&self) -> String {
        let armed = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some((link, pin)) = armed else { return "no case was running".into() };
        let valve = match pin {
            Some(mut pin) => match embedded_hal::digital::OutputPin::set_low(&mut pin) {
                Ok(()) => "valve opened".to_string(),
                Err(e) => format!("valve NOT opened: {e}"),
            },
            None => "valve left to the driver's drop".to_string(),
        };
        let pump = match tokio::time::timeout(Duration::from_secs(1), link.stop()).await {
            Ok(Ok(())) => "pump stopped".to_string(),
            Ok(Err(e)) => format!("pump NOT stopped: {e}"),
            Err(_) => "pump NOT stopped: no answer within 1 s".to_string(),
        };
        format!("{valve}, {pump}")
    }
}

/// Where interrupts come from: SIGINT/SIGTERM in `rig`, a channel in tests.
pub trait Interrupts {
    /// Waits for the next interrupt; its name (`SIGINT`, `SIGTERM`).
    fn next(&mut self) -> impl Future<Output = &'static str> + Send;
}

/// Escalates interrupts: the first asks the run to stop (`interrupt` carries its name to the
/// executor, which ends the step and makes the bench safe); the second engages `emergency` and
/// then `flush`es the run files (the executor that owns them is not unwound by the exit that
/// follows). Returns the line to print before exiting with 130.
pub async fn escalate<I: Interrupts>(
    signals: &mut I,
    interrupt: watch::Sender<Option<String>>,
    emergency: &EmergencyStop,
    flush: impl FnOnce() -> (usize, usize),
) -> String {
    let first = signals.next().await;
    crate::say_err!("\nrig: {first}: stopping the step and making the bench safe (again to stop at once)");
    let _ = interrupt.send(Some(first.to_string()));
    let second = signals.next().await;
    let done = emergency.engage().await;
    let (flushed, failed) = flush();
    let files = if failed == 0 {
        format!("{flushed} run file(s) flushed")
    } else {
        format!("{flushed} run file(s) flushed, {failed} NOT flushed")
    };
    format!("rig: {second} again: {done}, {files}; exiting")
}

/// The exit status of a run an interrupt ended: 128 + SIGINT's number, the shell's convention.
/// The orderly path returns it too (an aborted case's summary).
pub const INTERRUPTED_EXIT: u8 = 130;

/// SIGINT and SIGTERM, listened for from [`ProcessSignals::install`] on. Installed before
/// anything moves and kept for both signals: a Ctrl-C is never met by the default action (death
/// without making the bench safe), and a second one that follows the first closely is not lost
/// between two listeners.
///
/// They are listened for on a thread of their own (`rig-signals`, with its own I/O driver) and
/// their names passed on: the twin's runtime has no I/O driver (with one, every step of the
/// paused clock would park in `epoll_wait`), and a signal must reach a run on any runtime.
pub struct ProcessSignals {
    names: tokio::sync::mpsc::UnboundedReceiver<&'static str>,
}

impl ProcessSignals {
    /// Returns once both signals are being listened for.
    pub fn install() -> std::io::Result<Self> {
        let (tx, names) = tokio::sync::mpsc::unbounded_channel();
        let (ready, installed) = std::sync::mpsc::sync_channel::<std::io::Result<()>>(1);
        std::thread::Builder::new().name("rig-signals".into()).spawn(move || {
            let listen = async {
                use tokio::signal::unix::{SignalKind, signal};
                let mut int = signal(SignalKind::interrupt())?;
                let mut term = signal(SignalKind::terminate())?;
                let _ = ready.send(Ok(()));
                loop {
                    let name = tokio::select! {
                        _ = int.recv() => "SIGINT",
                        _ = term.recv() => "SIGTERM",
                    };
                    if tx.send(name).is_err() {
                        return Ok::<(), std::io::Error>(());
                    }
                }
            };
            let result =
                tokio::runtime::Builder::new_current_thread().enable_io().build().and_then(|rt| rt.block_on(listen));
            if let Err(e) = result {
                let _ = ready.send(Err(e));
            }
        })?;
        match installed.recv() {
            Ok(Ok(())) => Ok(Self { names }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::other("the signal thread ended before it listened")),
        }
    }
}

impl Interrupts for ProcessSignals {
    /// The next interrupt's name (never, if the signal thread is gone).
    async fn next(&mut self) -> &'static str {
        match self.names.recv().await {
            Some(name) => name,
            None => std::future::pending().await,
        }
    }
}

/// Watches a run's interrupts for as long as it runs (spawn it beside the run). The first asks
/// the run to stop through `interrupt`; the run then ends through its normal path and returns
/// its exit code, and this never finishes. The second [`escalate`]s: the emergency stop, the
/// run files `flush`ed, the line said on stderr, then `exit(`[`INTERRUPTED_EXIT`]`)` — the
/// one forced exit, since the executor may be stuck in what the person wants stopped; the
/// emergency stop has done what the skipped destructors would. `exit` is [`exit_process`] in
/// `rig`, a recording double in tests.
pub async fn supervise<I: Interrupts>(
    mut signals: I,
    interrupt: watch::Sender<Option<String>>,
    emergency: EmergencyStop,
    flush: impl FnOnce() -> (usize, usize),
    exit: impl FnOnce(u8),
) {
    let line = escalate(&mut signals, interrupt, &emergency, flush).await;
    crate::say_err!("{line}");
    exit(INTERRUPTED_EXIT);
}

/// Ends the process with `code` at once (`std::process::exit`: no destructors run): the exit of
/// [`supervise`], and nothing else's.
pub fn exit_process(code: u8) {
    std::process::exit(i32::from(code))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::bench::instruments::BenchPin;
    use crate::bench::{BenchFile, EMBEDDED_TWIN};
    use crate::clock::RigClock;
    use crate::drivers::pi::recording;
    use crate::drivers::valve::OcclusionValve;

    /// A bench whose valve is a Linux GPIO line over a recording double, as on a Pi (no twin,
    /// no bench bus to borrow a pin from); the pump is the twin's, for STOP to be answered.
    async fn pi_like_bench() -> (Bench, Arc<recording::RecordingLine>) {
        let file = BenchFile::parse(Path::new("rig/sim.yaml"), EMBEDDED_TWIN).unwrap();
        let mut bench = Bench::open(&file, &[], RigClock::start()).await.unwrap();
        let (line, rec) = recording::line(17);
        bench.refit_as_hardware(OcclusionValve::new(BenchPin::Linux(line), 17).unwrap());
        (bench, rec)
    }

    #[tokio::test(start_paused = true)]
    async fn engaged_on_a_linux_gpio_line_it_drives_the_line_low_itself() {
        let (mut bench, rec) = pi_like_bench().await;
        bench.close_valve().unwrap();
        let stop = EmergencyStop::default();
        stop.arm(&bench);
        let said = stop.engage().await;
        assert_eq!(said, "valve opened, pump stopped");
        // Opened by the driver at start, closed by the case, opened by the emergency stop: the
        // bench is still alive (no Drop ran), as before the `process::exit` that follows.
        assert_eq!(rec.levels(), vec![false, true, false]);
        std::mem::forget(bench);
        assert_eq!(rec.levels(), vec![false, true, false], "nothing else drives the line once the process exits");
    }

    #[tokio::test(start_paused = true)]
    async fn a_line_that_cannot_be_driven_is_reported_and_stop_is_still_sent() {
        let (mut bench, rec) = pi_like_bench().await;
        bench.close_valve().unwrap();
        let stop = EmergencyStop::default();
        stop.arm(&bench);
        rec.fail_from_now();
        let said = stop.engage().await;
        assert_eq!(
            said,
            "valve NOT opened: cannot drive line 17 of /dev/gpiochip0 to 0: Input/output error (os error 5), pump stopped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn disarmed_or_never_armed_it_touches_nothing() {
        let (bench, rec) = pi_like_bench().await;
        let stop = EmergencyStop::default();
        assert_eq!(stop.engage().await, "no case was running");
        stop.arm(&bench);
        stop.disarm();
        assert_eq!(stop.engage().await, "no case was running");
        assert_eq!(rec.levels(), vec![false]);
    }

    struct Scripted(tokio::sync::mpsc::UnboundedReceiver<&'static str>);

    impl Interrupts for Scripted {
        async fn next(&mut self) -> &'static str {
            match self.0.recv().await {
                Some(name) => name,
                None => std::future::pending().await,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn supervised_the_first_interrupt_leaves_the_exit_to_the_run_and_the_second_forces_130() {
        let (mut bench, rec) = pi_like_bench().await;
        bench.close_valve().unwrap();
        let stop = EmergencyStop::default();
        stop.arm(&bench);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (interrupt_tx, mut interrupt) = watch::channel(None);
        let exited = Arc::new(Mutex::new(Vec::new()));
        let flushed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let supervisor = tokio::spawn(supervise(
            Scripted(rx),
            interrupt_tx,
            stop.clone(),
            {
                let flushed = flushed.clone();
                move || {
                    flushed.store(true, std::sync::atomic::Ordering::SeqCst);
                    (2, 0)
                }
            },
            {
                let exited = exited.clone();
                move |code| exited.lock().unwrap().push((code, rec.levels()))
            },
        ));
        tx.send("SIGINT").unwrap();
        interrupt.changed().await.unwrap();
        assert_eq!(interrupt.borrow().as_deref(), Some("SIGINT"));
        // A run that stops by itself now ends the process through its own return: no exit yet.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!supervisor.is_finished(), "the first interrupt does not end the process");
        assert!(exited.lock().unwrap().is_empty());
        assert!(!flushed.load(std::sync::atomic::Ordering::SeqCst));
        tx.send("SIGTERM").unwrap();
        supervisor.await.unwrap();
        // Exited once, with 130, after the valve was opened and the files flushed.
        assert_eq!(*exited.lock().unwrap(), vec![(INTERRUPTED_EXIT, vec![false, true, false])]);
        assert!(flushed.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(INTERRUPTED_EXIT, 130);
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_interrupt_asks_the_run_to_stop_and_a_second_engages_the_stop_and_flushes() {
        let (mut bench, rec) = pi_like_bench().await;
        bench.close_valve().unwrap();
        let stop = EmergencyStop::default();
        stop.arm(&bench);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (interrupt_tx, mut interrupt) = watch::channel(None);
        let flushed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let saw_flush = flushed.clone();
        let escalation = tokio::spawn({
            let stop = stop.clone();
            async move {
                let mut signals = Scripted(rx);
                escalate(&mut signals, interrupt_tx, &stop, move || {
                    saw_flush.store(true, std::sync::atomic::Ordering::SeqCst);
                    (3, 1)
                })
                .await
            }
        });
        tx.send("SIGTERM").unwrap();
        interrupt.changed().await.unwrap();
        assert_eq!(interrupt.borrow().as_deref(), Some("SIGTERM"));
        assert_eq!(rec.levels(), vec![false, true], "the first interrupt leaves the valve to the executor");
        assert!(!flushed.load(std::sync::atomic::Ordering::SeqCst));
        tx.send("SIGINT").unwrap();
        let line = escalation.await.unwrap();
        assert_eq!(
            line,
            "rig: SIGINT again: valve opened, pump stopped, 3 run file(s) flushed, 1 NOT flushed; exiting"
        );
        assert_eq!(rec.levels(), vec![false, true, false]);
        assert!(flushed.load(std::sync::atomic::Ordering::SeqCst));
    }
}
