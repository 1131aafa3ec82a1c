//! `samples.csv`: every sample, streamed to disk as it is recorded and flushed at least once a
//! wall-clock second, so memory stays flat on a week-long run and a killed run keeps everything
//! up to its last second. Pump state, pressure and reservoir are the last `STATUS` read. The
//! file's format, its writer and its reader are the evidence's
//! ([`crate::evidence::samples_csv`]). The rows are thinned for the report's figure as they are
//! written, as written ([`PlotBuilder`]): the report needs no second pass over the file. That
//! copy is handed over ([`SamplesCsv::plot`]) only when every row reached the file; after a
//! write error the report reads what the file holds instead.

use std::io::{self, Write};
use std::path::Path;

use std::sync::{Arc, Mutex};

use super::stream_file::{SharedHash, StreamFile, leave_hash};
use crate::evidence::plot_data::{PlotBuilder, PlotData};
pub use crate::evidence::samples_csv::{HEADER, SampleRow, SamplesError, SamplesReader};
use crate::protocol::StatusReport;
use crate::run::event::{Reporter, RunEvent, RunEventKind, Sample};

/// Where [`SamplesCsv`] leaves its thinned copy of the rows when it finishes.
pub type SharedPlot = Arc<Mutex<Option<PlotData>>>;

/// The reporter that writes `samples.csv`.
pub struct SamplesCsv {
    file: StreamFile,
    status: Option<StatusReport>,
    /// The line being written (one buffer for every row).
    line: Vec<u8>,
    /// The rows thinned as written; taken when the reporter finishes.
    plot: Option<PlotBuilder>,
    plot_out: SharedPlot,
    hash_out: SharedHash,
}

impl SamplesCsv {
    /// Creates the file; its rows are thinned to at most `plot_points` a series for the report.
    pub fn create(path: &Path, plot_points: usize) -> io::Result<Self> {
        let mut file = StreamFile::create(path)?;
        file.write(true, |out| writeln!(out, "{HEADER}"));
        Ok(Self {
            file,
            status: None,
            line: Vec::with_capacity(96),
            plot: Some(PlotBuilder::new(plot_points)),
            plot_out: SharedPlot::default(),
            hash_out: SharedHash::default(),
        })
    }

    /// Where the rows, thinned as written, are put when the reporter finishes with every row on
    /// disk (left empty after a write error, or if it never finishes).
    pub fn plot(&self) -> SharedPlot {
        self.plot_out.clone()
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

impl Reporter for SamplesCsv {
    fn on_event(&mut self, event: &RunEvent) {
        match &event.kind {
            RunEventKind::PumpStatus { status, .. } => self.status = Some(status.as_ref().clone()),
            RunEventKind::Sample(s) => {
                self.line.clear();
                let written = row_of(s, self.status.as_ref()).push_line(&mut self.line);
                let line = &self.line;
                self.file.write(false, |out| out.write_all(line));
                if let Some(plot) = &mut self.plot {
                    plot.push(&written);
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        leave_hash(&self.hash_out, self.file.finish());
        if let Some(plot) = self.plot.take()
            && self.file.error().is_none()
        {
            *self.plot_out.lock().unwrap_or_else(|p| p.into_inner()) = Some(plot.finish());
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::RigTime;
    use crate::evidence::plot_data::read_plot_data;
    use crate::protocol::PumpState;
    use crate::run::event::StatusTaken;

    fn sample(i: u32) -> RunEvent {
        let at = RigTime::from_secs_f64(f64::from(i) * 0.1);
        // Values that round at the file's decimals, a spike, a dip and a gap.
        let flow = match i {
            7_777 => 4_000.123_456,
            12_345 => -300.000_49,
            20_000 => f64::NAN,
            _ => 500.0 + f64::from(i % 17) / 7.0,
        };
        let s = Sample {
            at,
            done_at: RigTime::from_secs_f64(f64::from(i) * 0.1 + 0.000_173_4),
            flow_ul_h: flow,
            volume_ul: f64::from(i) * 0.013_888_9,
            temperature_c: 25.0,
            valve_closed: i % 1_000 < 10,
        };
        RunEvent { at, kind: RunEventKind::Sample(s) }
    }

    fn status(i: u32) -> RunEvent {
        let at = RigTime::from_secs_f64(f64::from(i) * 0.1 + 0.05);
        let status = StatusReport {
            state: PumpState::Running,
            reservoir_ul: 40_000.0 - f64::from(i) / 3.0,
            delivered_ul: 0.0,
            basal_ul_h: 500.0,
            pressure_kpa: 20.0 + f64::from(i % 29) / 9.0,
            pump_ms: u64::from(i) * 100,
            alarms: Vec::new(),
        };
        RunEvent {
            at,
            kind: RunEventKind::PumpStatus { status: Box::new(status), taken: StatusTaken::Poll, asked_at: at },
        }
    }

    /// The run's report plots its rows as written, without reading the file back: that must be
    /// the very plot a reader of the file gets, point for point.
    #[test]
    fn the_rows_thinned_as_written_are_the_plot_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        for (rows, max) in [(30_000u32, 2000), (30_000, 50), (1_500, 2000), (0, 2000)] {
            let path = path.with_extension(format!("{rows}-{max}.csv"));
            let mut csv = SamplesCsv::create(&path, max).unwrap();
            let plot = csv.plot();
            for i in 0..rows {
                // Pressure and reservoir start with the first STATUS, 50 rows in.
                if i >= 50 && i % 10 == 0 {
                    csv.on_event(&status(i));
                }
                csv.on_event(&sample(i));
            }
            assert_eq!(*plot.lock().unwrap(), None, "handed over only when finished");
            csv.finish();
            let written = plot.lock().unwrap().take().expect("every row reached the file");
            let read = read_plot_data(&path, max).unwrap();
            // NaN is not equal to itself: compare the bits.
            let bits = |d: &PlotData| {
                [&d.flow, &d.volume, &d.pressure, &d.reservoir]
                    .map(|s| s.iter().map(|p| (p.0.to_bits(), p.1.to_bits())).collect::<Vec<_>>())
            };
            assert_eq!(bits(&written), bits(&read), "{rows} rows, {max} points");
            assert_eq!((written.samples, written.torn_line), (read.samples, read.torn_line));
            assert_eq!(written.samples, rows as usize);
            if rows > 20_000 {
                assert!(written.flow.iter().any(|p| p.1 == 4_000.123), "{max}: the spike, as written");
                assert!(written.flow.iter().any(|p| p.1.is_nan()), "{max}: the gap");
            }
        }
    }
}
