//! `samples.csv`: every sample, streamed to disk as it is recorded and flushed at least once a
//! wall-clock second, so memory stays flat on a week-long run and a killed run keeps everything
//! up to its last second. Pump state and pressure are the last `STATUS` read.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::protocol::PumpState;
use crate::run::event::{Reporter, RunEvent, RunEventKind};

pub struct SamplesCsv {
    out: BufWriter<File>,
    last_flush: Instant,
    pump_state: Option<PumpState>,
    pressure_kpa: Option<f64>,
    /// The first write error; later events are not written (the run goes on, the summary says so).
    pub error: Option<String>,
}

pub const HEADER: &str = "time_s,flow_ul_h,volume_ul,valve_closed,pump_state,pressure_kpa";

impl SamplesCsv {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(out, "{HEADER}")?;
        out.flush()?;
        Ok(Self { out, last_flush: Instant::now(), pump_state: None, pressure_kpa: None, error: None })
    }

    fn write(&mut self, line: std::fmt::Arguments<'_>) {
        if self.error.is_some() {
            return;
        }
        let result = self.out.write_fmt(line).and_then(|_| {
            if self.last_flush.elapsed() >= Duration::from_secs(1) {
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
}

impl Reporter for SamplesCsv {
    fn on_event(&mut self, event: &RunEvent) {
        match &event.kind {
            RunEventKind::PumpStatus(s) => {
                self.pump_state = Some(s.state);
                self.pressure_kpa = Some(s.pressure_kpa);
            }
            RunEventKind::Sample(s) => {
                let state = self.pump_state.map(|s| s.as_str()).unwrap_or("");
                let pressure = self.pressure_kpa.map(|p| format!("{p:.3}")).unwrap_or_default();
                self.write(format_args!(
                    "{:.3},{:.3},{:.4},{},{state},{pressure}\n",
                    s.at.as_secs_f64(),
                    s.flow_ul_h,
                    s.volume_ul,
                    u8::from(s.valve_closed)
                ));
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e.to_string());
        }
    }
}
