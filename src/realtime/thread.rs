//! A real-time thread with a tokio runtime of its own, for I/O that a loaded machine must not
//! delay: the pump link on a real-time bench, and `rig sim`'s service port and bench bus.
//!
//! tokio's I/O objects (a `tokio_serial::SerialStream`, a `UnixListener`) register with the
//! runtime they are created on, and are served by the threads of that runtime. So the work is
//! set up on the thread itself, inside its current-thread runtime, and runs there to its end.

use std::future::Future;

use tokio::sync::oneshot;

use super::priority::{RIG_FIFO_PRIORITY, Scheduling, request_fifo};

/// A started thread: what its setup handed back, how the OS schedules it, and its work's result
/// once it ends.
pub struct Started<I, T> {
    pub info: I,
    pub scheduling: Scheduling,
    /// Resolves with the work's output; an error if the thread died (a panic).
    pub done: oneshot::Receiver<T>,
}

/// Why a thread could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError<E> {
    /// The setup refused (the port would not open, the socket would not bind, ...).
    #[error(transparent)]
    Setup(E),
    /// The OS gave no thread or the runtime could not be built.
    #[error("{0}")]
    Thread(String),
}

/// Starts the OS thread `name`, which asks for `SCHED_FIFO` (see [`request_fifo`]) and runs a
/// current-thread tokio runtime with I/O and timers. `setup` runs first on that runtime; its
/// `Ok((info, work))` is handed back with the scheduling granted, and `work` then runs on the
/// thread to its end. An `Err` from `setup` ends the thread and is returned as is.
pub async fn spawn_realtime<I, E, W, S>(name: &str, setup: S) -> Result<Started<I, W::Output>, StartError<E>>
where
    S: FnOnce() -> Result<(I, W), E> + Send + 'static,
    W: Future + 'static,
    W::Output: Send + 'static,
    I: Send + 'static,
    E: Send + 'static,
{
    let (ready_tx, ready) = oneshot::channel::<Result<(I, Scheduling), StartError<E>>>();
    let (done_tx, done) = oneshot::channel();
    let thread = name.to_string();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let scheduling = request_fifo(RIG_FIFO_PRIORITY);
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build() {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(StartError::Thread(format!("{thread}: cannot build its runtime: {e}"))));
                    return;
                }
            };
            runtime.block_on(async move {
                let (info, work) = match setup() {
                    Ok(parts) => parts,
                    Err(e) => {
                        let _ = ready_tx.send(Err(StartError::Setup(e)));
                        return;
                    }
                };
                if ready_tx.send(Ok((info, scheduling))).is_err() {
                    return;
                }
                let _ = done_tx.send(work.await);
            });
        })
        .map_err(|e| StartError::Thread(format!("cannot start the thread {name}: {e}")))?;
    let (info, scheduling) =
        ready.await.map_err(|_| StartError::Thread(format!("the thread {name} ended during its setup")))??;
    Ok(Started { info, scheduling, done })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_work_runs_on_the_thread_that_was_set_up() {
        let caller = std::thread::current().id();
        let started = spawn_realtime("rig-test-thread", move || {
            let setup_on = std::thread::current().id();
            // An I/O object created here registers with the thread's runtime.
            let (a, b) = tokio::net::UnixStream::pair().map_err(|e| e.to_string())?;
            Ok::<_, String>((setup_on, async move {
                drop(b);
                let mut a = a;
                let n = tokio::io::AsyncReadExt::read(&mut a, &mut [0u8; 1]).await.unwrap_or(99);
                (std::thread::current().id(), std::thread::current().name().map(str::to_string), n)
            }))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(started.info, caller, "set up on its own thread");
        let (ran_on, name, n) = started.done.await.unwrap();
        assert_eq!(ran_on, started.info, "run where it was set up");
        assert_eq!(name.as_deref(), Some("rig-test-thread"));
        assert_eq!(n, 0, "the pair's other end closed: end of file");
    }

    #[tokio::test]
    async fn a_refused_setup_is_returned_as_is() {
        let refused = spawn_realtime("rig-test-thread", || Err::<((), std::future::Ready<()>), _>("no port"));
        assert!(matches!(refused.await, Err(StartError::Setup("no port"))));
    }
}
