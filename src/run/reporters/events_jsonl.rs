//! `events.jsonl`: every event but the samples — each frame to and from the pump, each bench
//! action, pump event, status, mark and check — one JSON object a line, with its time, flushed
//! at least once a wall-clock second and at once for the safe state and the case's end.

use std::io::Write;
use std::path::Path;

use super::stream_file::{SharedHash, StreamFile, leave_hash};
use crate::run::event::{Reporter, RunEvent, RunEventKind};

pub struct EventsJsonl {
    file: StreamFile,
    hash_out: SharedHash,
}

impl EventsJsonl {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self { file: StreamFile::create(path)?, hash_out: SharedHash::default() })
    }

    /// Where the finished file's hash is put when the reporter finishes (left empty after a
    /// write error, or if it never finishes).
    pub fn hash(&self) -> SharedHash {
        self.hash_out.clone()
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<&str> {
        self.file.error()
    }
}

impl Reporter for EventsJsonl {
    fn on_event(&mut self, event: &RunEvent) {
        if matches!(event.kind, RunEventKind::Sample(_)) {
            return;
        }
        let urgent = matches!(event.kind, RunEventKind::CaseFinished { .. } | RunEventKind::SafeState { .. });
        self.file.write(urgent, |out| {
            serde_json::to_writer(&mut *out, event).map_err(std::io::Error::other)?;
            out.write_all(b"\n")
        });
    }

    fn finish(&mut self) {
        leave_hash(&self.hash_out, self.file.finish());
    }
}
