//! A file written as a run goes: buffered, flushed at least once a wall-clock second (or at
//! once when asked), so a killed run keeps everything up to its last second. The first write
//! error is kept and later writes are skipped: the run goes on and its summary says so.
//!
//! Every open stream file is also reachable from [`flush_open_files`], so the emergency exit (a
//! second Ctrl-C, which leaves without unwinding the executor that owns the writers) loses none
//! of the lines already recorded.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

type Writer = Arc<Mutex<BufWriter<File>>>;
/// The registry's view of a writer: it does not keep a closed file alive.
type Registered = Weak<Mutex<BufWriter<File>>>;

pub struct StreamFile {
    out: Writer,
    /// The wall-clock second of the last flush, as [`wall_second`] counts them.
    flushed_in: u64,
    error: Option<String>,
}

/// Wall-clock seconds since the first stream file was opened, counted by a ticker thread, so a
/// writer learns that a second has passed from one atomic load instead of reading the clock for
/// every line (which, on the twin's fast runs, cost more than writing the line).
fn wall_second() -> u64 {
    static SECONDS: AtomicU64 = AtomicU64::new(0);
    static TICKER: OnceLock<()> = OnceLock::new();
    TICKER.get_or_init(|| {
        let started = Instant::now();
        let _ = std::thread::Builder::new().name("rig-flush-ticker".into()).spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(250));
                SECONDS.store(started.elapsed().as_secs(), Ordering::Relaxed);
            }
        });
    });
    SECONDS.load(Ordering::Relaxed)
}

/// The stream files of this process that are still open.
fn open_files() -> &'static Mutex<Vec<Registered>> {
    static OPEN: OnceLock<Mutex<Vec<Registered>>> = OnceLock::new();
    OPEN.get_or_init(|| Mutex::new(Vec::new()))
}

/// Flushes every open stream file, for an exit that will not run their destructors. Waits at
/// most `patience` for a writer that is in the middle of a line (so the line is whole); returns
/// how many files were flushed and how many could not be.
pub fn flush_open_files(patience: Duration) -> (usize, usize) {
    let files: Vec<Writer> = {
        let mut open = open_files().lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|w| w.strong_count() > 0);
        open.iter().filter_map(Weak::upgrade).collect()
    };
    let give_up = Instant::now() + patience;
    let (mut flushed, mut failed) = (0, 0);
    for file in files {
        let out = loop {
            match file.try_lock() {
                Ok(out) => break Some(out),
                // A writer panicked mid-line: its last line may be torn; keep what is there.
                Err(std::sync::TryLockError::Poisoned(p)) => break Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < give_up => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(std::sync::TryLockError::WouldBlock) => break None,
            }
        };
        match out.map(|mut out| out.flush()) {
            Some(Ok(())) => flushed += 1,
            _ => failed += 1,
        }
    }
    (flushed, failed)
}

impl StreamFile {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        // `create_new`: a run file is never written over an existing one (a bundle folder is never
        // reused, and this makes sure of it).
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
        let out = Arc::new(Mutex::new(BufWriter::new(file)));
        {
            let mut open = open_files().lock().unwrap_or_else(|p| p.into_inner());
            open.retain(|w| w.strong_count() > 0);
            open.push(Arc::downgrade(&out));
        }
        Ok(Self { out, flushed_in: wall_second(), error: None })
    }

    /// Writes with `f`; flushes when `urgent` or a second has passed since the last flush.
    pub fn write(&mut self, urgent: bool, f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) {
        if self.error.is_some() {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let mut result = f(&mut out);
        let second = wall_second();
        if result.is_ok() && (urgent || second != self.flushed_in) {
            self.flushed_in = second;
            result = out.flush();
        }
        drop(out);
        if let Err(e) = result {
            self.error = Some(e.to_string());
        }
    }

    pub fn flush(&mut self) {
        let result = self.out.lock().unwrap_or_else(|p| p.into_inner()).flush();
        if let Err(e) = result {
            self.error.get_or_insert(e.to_string());
        }
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emergency_flush_puts_every_written_line_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.csv");
        let mut file = StreamFile::create(&path).unwrap();
        file.write(true, |out| writeln!(out, "header"));
        file.write(false, |out| writeln!(out, "1.000,2.000"));
        // Buffered, not yet on disk (no second has passed, not urgent).
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "header\n");
        let (flushed, failed) = flush_open_files(Duration::from_millis(100));
        assert!(flushed >= 1 && failed == 0, "flushed {flushed}, failed {failed}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "header\n1.000,2.000\n");
    }
}
