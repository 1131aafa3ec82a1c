//! `samples.csv`: every sample, streamed to disk as it is recorded and flushed at least once a
//! wall-clock second, so memory stays flat on a week-long run and a killed run keeps everything
//! up to its last second. Pump state and pressure are the last `STATUS` read. `time_s` is when
//! the sensor read started (the instant its value belongs to); `read_ms` is how long the read
//! took, to the microsecond (the last column, so readers that find columns by name or take the
//! first ones are unaffected).

use std::io::Write;
use std::path::Path;

use super::stream_file::{StreamFile, write_fixed};
use crate::protocol::PumpState;
use crate::run::event::{Reporter, RunEvent, RunEventKind};

pub struct SamplesCsv {
    file: StreamFile,
    pump_state: Option<PumpState>,
    pressure_kpa: Option<f64>,
}

pub const HEADER: &str = "time_s,flow_ul_h,volume_ul,valve_closed,pump_state,pressure_kpa,read_ms";

impl SamplesCsv {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut file = StreamFile::create(path)?;
        file.write(true, |out| writeln!(out, "{HEADER}"));
        Ok(Self { file, pump_state: None, pressure_kpa: None })
    }

    /// The first write error, if any.
    pub fn error(&self) -> Option<&str> {
        self.file.error()
    }
}

impl Reporter for SamplesCsv {
    fn on_event(&mut self, event: &RunEvent) {
        match &event.kind {
            RunEventKind::PumpStatus { status: s, .. } => {
                self.pump_state = Some(s.state);
                self.pressure_kpa = Some(s.pressure_kpa);
            }
            RunEventKind::Sample(s) => {
                let state = self.pump_state.map(|s| s.as_str()).unwrap_or("");
                let pressure = self.pressure_kpa;
                self.file.write(false, |out| {
                    write_fixed(out, s.at.as_secs_f64(), 3)?;
                    out.write_all(b",")?;
                    write_fixed(out, s.flow_ul_h, 3)?;
                    out.write_all(b",")?;
                    write_fixed(out, s.volume_ul, 4)?;
                    write!(out, ",{},{state},", u8::from(s.valve_closed))?;
                    if let Some(p) = pressure {
                        write_fixed(out, p, 3)?;
                    }
                    out.write_all(b",")?;
                    write_fixed(out, s.done_at.since(s.at).as_secs_f64() * 1e3, 3)?;
                    out.write_all(b"\n")
                });
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.file.flush();
    }
}
