//! `events.jsonl`: every event but the samples — each frame to and from the pump, each bench
//! action, pump event, status, mark and check — one JSON object a line, with its time, flushed
//! at least once a wall-clock second.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::run::event::{Reporter, RunEvent, RunEventKind};

pub struct EventsJsonl {
    out: BufWriter<File>,
    last_flush: Instant,
    pub error: Option<String>,
}

impl EventsJsonl {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self { out: BufWriter::new(File::create(path)?), last_flush: Instant::now(), error: None })
    }
}

impl Reporter for EventsJsonl {
    fn on_event(&mut self, event: &RunEvent) {
        if self.error.is_some() || matches!(event.kind, RunEventKind::Sample(_)) {
            return;
        }
        let result = serde_json::to_writer(&mut self.out, event)
            .map_err(std::io::Error::other)
            .and_then(|_| self.out.write_all(b"\n"))
            .and_then(|_| {
                let urgent = matches!(event.kind, RunEventKind::CaseFinished { .. } | RunEventKind::SafeState { .. });
                if urgent || self.last_flush.elapsed() >= Duration::from_secs(1) {
                    self.last_flush = Instant::now();
                    self.out.flush()
                } else {
                    Ok(())
                }
            });
        if let Err(e) = result {
            self.error = Some(e.to_string());
        }
    }

    fn finish(&mut self) {
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e.to_string());
        }
    }
}
