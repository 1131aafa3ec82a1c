//! A file written as a run goes: buffered, flushed at least once a wall-clock second (or at
//! once when asked), so a killed run keeps everything up to its last second. The first write
//! error is kept and later writes are skipped: the run goes on and its summary says so.
//!
//! Every open stream file is also reachable from [`flush_open_files`], so the emergency exit (a
//! second Ctrl-C, which leaves without unwinding the executor that owns the writers) loses none
//! of the lines already recorded.
//!
//! Each file's SHA-256 is taken of the bytes as they go to the file ([`HashedFile`]), so the
//! manifest need not read a finished file back ([`StreamFile::finish`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::evidence::manifest::Prehashed;

type Writer = Arc<Mutex<BufWriter<HashedFile>>>;

/// Where a stream file's reporter leaves the hash of its finished file ([`StreamFile::finish`]).
pub type SharedHash = Arc<Mutex<Option<Prehashed>>>;

/// Puts `hash` where the bundle's writer will take it.
pub fn leave_hash(out: &SharedHash, hash: Option<Prehashed>) {
    *out.lock().unwrap_or_else(|p| p.into_inner()) = hash;
}
/// The registry's view of a writer: it does not keep a closed file alive.
type Registered = Weak<Mutex<BufWriter<HashedFile>>>;

/// A file that hashes every byte the OS accepted into it, and counts them: its digest is the
/// file's content as long as nothing else writes to it (the manifest checks that it is the same
/// file, of that length, unchanged since).
pub struct HashedFile {
    file: File,
    hasher: Sha256,
    written: u64,
}

impl Write for HashedFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(bytes)?;
        // Only what the write took: a short write's rest comes again in the next call.
        self.hasher.update(bytes.get(..n).unwrap_or_default());
        self.written = self.written.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

pub struct StreamFile {
    out: Writer,
    path: PathBuf,
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
        let out = Arc::new(Mutex::new(BufWriter::new(HashedFile { file, hasher: Sha256::new(), written: 0 })));
        {
            let mut open = open_files().lock().unwrap_or_else(|p| p.into_inner());
            open.retain(|w| w.strong_count() > 0);
            open.push(Arc::downgrade(&out));
        }
        Ok(Self { out, path: path.to_path_buf(), flushed_in: wall_second(), error: None })
    }

    /// Writes with `f`; flushes when `urgent` or a second has passed since the last flush.
    pub fn write(&mut self, urgent: bool, f: impl FnOnce(&mut BufWriter<HashedFile>) -> std::io::Result<()>) {
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

    /// Flushes the file for the last time and gives the hash of what it holds, for the manifest:
    /// `None` after a write error, or if the file on disk is not as long as what was written to
    /// it (the manifest then hashes the file itself, and says why if it cannot). Nothing may be
    /// written after this.
    pub fn finish(&mut self) -> Option<Prehashed> {
        self.flush();
        if self.error.is_some() {
            return None;
        }
        let out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let written = out.get_ref();
        let name = self.path.file_name()?.to_str()?;
        let dir = self.path.parent()?;
        Prehashed::of_written(dir, name, crate::digest::hex(&written.hasher.clone().finalize()), written.written)
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

    /// The hash a stream file takes as it writes is the file's, byte for byte, however the
    /// lines were buffered and flushed; after a write error there is none.
    #[test]
    fn the_hash_taken_while_writing_is_the_finished_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut file = StreamFile::create(&path).unwrap();
        let line = "x".repeat(700);
        for i in 0..100 {
            // Lines longer than the buffer and shorter, urgent and not.
            file.write(i % 7 == 0, |out| writeln!(out, "{i} {}", line.get(..(i * 37) % 700).unwrap()));
        }
        let taken = file.finish().expect("a hash of what was written");
        let on_disk = crate::digest::sha256_hex(&std::fs::read(&path).unwrap());
        assert_eq!(taken.hex(), on_disk);

        let mut broken = StreamFile::create(&dir.path().join("samples.csv")).unwrap();
        broken.write(true, |_| Err(std::io::Error::other("disk full")));
        assert!(broken.finish().is_none(), "a file with a failed write has no hash taken ahead");
    }
}
