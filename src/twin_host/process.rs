//! `rig sim`: the twin as its own process, reached like real hardware. The pump's service port
//! is a pseudo-terminal (`DIR/pump`, a symlink to it); the flow sensor and the valve are behind
//! the software bench bus (ICD part 2) on a Unix socket (`DIR/bus.sock`). Real time.
//!
//! The service port and the bench bus each run on a thread of their own at `SCHED_FIFO` where
//! the OS allows (see [`crate::realtime::thread`]): a twin that answers late on a loaded machine
//! would make every client look slow, and the rig's own latency could not be told from it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_serial::SerialPort;

use super::bus_target::TwinBusTarget;
use super::service_port::serve_service_port;
use super::shared::SharedTwin;
use crate::bus::serve;
use crate::clock::RigClock;
use crate::realtime::{StartError, spawn_realtime};
use crate::sim::{Twin, TwinConfig};

/// Where `rig sim` puts its two endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimEndpoints {
    pub dir: PathBuf,
    pub pump: PathBuf,
    pub bus: PathBuf,
}

impl SimEndpoints {
    pub fn in_dir(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), pump: dir.join("pump"), bus: dir.join("bus.sock") }
    }
}

/// Why `rig sim` could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimProcessError {
    #[error("rig sim: cannot prepare {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("rig sim: another simulator is already serving {0} (its bench bus answers); stop it or use --dir")]
    Busy(PathBuf),
    #[error("rig sim: cannot open a pseudo-terminal: {0}")]
    Pty(String),
    #[error("rig sim: cannot listen on {path}: {source}")]
    Listen { path: PathBuf, source: std::io::Error },
    #[error("rig sim: cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("rig sim: {0}")]
    Thread(String),
}

/// Runs the twin until SIGINT or SIGTERM, then removes the endpoints. Prints `pump: <path>` and
/// `bus: <path>` on stdout once both are ready. Returns a one-line summary of the twin at exit.
pub async fn run_sim_process(config: TwinConfig, endpoints: &SimEndpoints) -> Result<String, SimProcessError> {
    prepare_dir(endpoints)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(SimProcessError::Signals)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(SimProcessError::Signals)?;

    let clock = RigClock::start();
    let twin = SharedTwin::new(Twin::new(config), clock);

    // The service port, on its own thread: the pty is created there, so that thread's runtime
    // serves it. The slave end stays open for the whole run, so the master never sees a hang-up
    // when a client closes the port. `pair` neither sets TIOCEXCL nor flocks it, so a client can
    // still open it by path and take its exclusive lock (do not call `set_exclusive` on it: that
    // takes a shared flock, which would lock every client out).
    let (port_twin, pump_path) = (twin.clone(), endpoints.pump.clone());
    let port = spawn_realtime("rig-sim-port", move || {
        let (master, slave) = tokio_serial::SerialStream::pair().map_err(|e| SimProcessError::Pty(e.to_string()))?;
        let pty_path = slave.name().ok_or_else(|| SimProcessError::Pty("the pty has no name".into()))?;
        std::os::unix::fs::symlink(&pty_path, &pump_path)
            .map_err(|source| SimProcessError::Dir { path: pump_path.clone(), source })?;
        Ok((pty_path, async move {
            let why = serve_service_port(port_twin, master).await;
            drop(slave);
            why
        }))
    })
    .await
    .map_err(thread_error)?;
    let pty_path = port.info.clone();

    // The bench bus, on its own thread too: the listener is bound there.
    let target = Arc::new(Mutex::new(TwinBusTarget::new(twin.clone())));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let bus_path = endpoints.bus.clone();
    let bus = spawn_realtime("rig-sim-bus", move || {
        let listener = UnixListener::bind(&bus_path)
            .map_err(|source| SimProcessError::Listen { path: bus_path.clone(), source })?;
        Ok((
            (),
            serve(listener, target, async {
                let _ = stop_rx.await;
            }),
        ))
    })
    .await
    .map_err(thread_error)?;

    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "pump: {}", endpoints.pump.display());
    let _ = writeln!(stdout, "bus: {}", endpoints.bus.display());
    let _ = stdout.flush();
    crate::say_err!("rig sim: pump service port on {pty_path} (115200 8N1); Ctrl-C or SIGTERM stops the twin");
    crate::say_err!(
        "rig sim: service port thread {}; bench bus thread {}; memory {}",
        port.scheduling.policy,
        bus.scheduling.policy,
        crate::realtime::lock_process_memory().detail
    );

    let why = tokio::select! {
        _ = interrupt.recv() => "SIGINT".to_string(),
        _ = terminate.recv() => "SIGTERM".to_string(),
        r = port.done => format!("service port ended: {}", r.unwrap_or_else(|_| "its thread died".to_string())),
    };
    let _ = stop_tx.send(());
    let _ = bus.done.await;
    cleanup(endpoints);
    let summary = twin.with(|t, now| {
        format!(
            "stopped by {why} at t={:.3}s: therapy {}, valve line {}",
            now.as_secs_f64(),
            if t.therapy_on() { "on" } else { "off" },
            if t.valve_closed() { 1 } else { 0 }
        )
    });
    Ok(summary)
}

fn thread_error(e: StartError<SimProcessError>) -> SimProcessError {
    match e {
        StartError::Setup(e) => e,
        StartError::Thread(why) => SimProcessError::Thread(why),
    }
}

fn prepare_dir(endpoints: &SimEndpoints) -> Result<(), SimProcessError> {
    let dir_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SimProcessError::Dir { path, source }
    };
    std::fs::create_dir_all(&endpoints.dir).map_err(dir_err(&endpoints.dir))?;
    std::fs::set_permissions(&endpoints.dir, std::fs::Permissions::from_mode(0o700))
        .map_err(dir_err(&endpoints.dir))?;
    if std::os::unix::net::UnixStream::connect(&endpoints.bus).is_ok() {
        return Err(SimProcessError::Busy(endpoints.dir.clone()));
    }
    // Leftovers of a simulator that was killed: nobody answers on them.
    for stale in [&endpoints.pump, &endpoints.bus] {
        match std::fs::remove_file(stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SimProcessError::Dir { path: stale.clone(), source: e }),
        }
    }
    Ok(())
}

fn cleanup(endpoints: &SimEndpoints) {
    let _ = std::fs::remove_file(&endpoints.pump);
    let _ = std::fs::remove_file(&endpoints.bus);
}
