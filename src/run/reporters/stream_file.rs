//! A file written as a run goes: buffered, flushed at least once a wall-clock second (or at
//! once when asked), so a killed run keeps everything up to its last second. The first write
//! error is kept and later writes are skipped: the run goes on and its summary says so.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub struct StreamFile {
    out: BufWriter<File>,
    last_flush: Instant,
    error: Option<String>,
}

impl StreamFile {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self { out: BufWriter::new(File::create(path)?), last_flush: Instant::now(), error: None })
    }

    /// Writes with `f`; flushes when `urgent` or a second has passed since the last flush.
    pub fn write(&mut self, urgent: bool, f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) {
        if self.error.is_some() {
            return;
        }
        let mut result = f(&mut self.out);
        if result.is_ok() && (urgent || self.last_flush.elapsed() >= Duration::from_secs(1)) {
            self.last_flush = Instant::now();
            result = self.out.flush();
        }
        if let Err(e) = result {
            self.error = Some(e.to_string());
        }
    }

    pub fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e.to_string());
        }
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}
