//! `samples.csv`: every sample, streamed to disk as it is recorded and flushed at least once a
//! wall-clock second, so memory stays flat on a week-long run and a killed run keeps everything
//! up to its last second. Pump state, pressure and reservoir are the last `STATUS` read. The
//! file's format, its writer and its reader are the evidence's
//! ([`crate::evidence::samples_csv`]).

use std::io::{self, Write};
use std::path::Path;

use super::stream_file::StreamFile;
pub use crate::evidence::samples_csv::{HEADER, SampleRow, SamplesError, SamplesReader};
use crate::protocol::StatusReport;
use crate::run::event::{Reporter, RunEvent, RunEventKind, Sample};

/// The reporter that writes `samples.csv`.
pub struct SamplesCsv {
    file: StreamFile,
    status: Option<StatusReport>,
}

impl SamplesCsv {
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut file = StreamFile::create(path)?;
        file.write(true, |out| writeln!(out, "{HEADER}"));
        Ok(Self { file, status: None })
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<&str> {
        self.file.error()
    }
}

impl Reporter for SamplesCsv {
    fn on_event(&mut self, event: &RunEvent) {
        match &event.kind {
            RunEventKind::PumpStatus { status, .. } => self.status = Some(status.clone()),
            RunEventKind::Sample(s) => {
                let row = row_of(s, self.status.as_ref());
                self.file.write(false, |out| row.write(out));
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.file.flush();
    }
}

/// The row of `sample`, with what the pump's last `STATUS` said.
fn row_of(sample: &Sample, status: Option<&StatusReport>) -> SampleRow {
    SampleRow {
        time_s: sample.at.as_secs_f64(),
        flow_ul_h: sample.flow_ul_h,
        volume_ul: sample.volume_ul,
        valve_closed: sample.valve_closed,
        pump_state: status.map(|s| s.state),
        pressure_kpa: status.map(|s| s.pressure_kpa),
        reservoir_ul: status.map(|s| s.reservoir_ul),
        read_ms: sample.done_at.since(sample.at).as_secs_f64() * 1e3,
    }
}
