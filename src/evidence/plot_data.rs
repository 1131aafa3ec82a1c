//! The samples of a case thinned for the report's figure ([`PlotData`]), built row by row by
//! [`PlotBuilder`]: from the rows as the run writes them to `samples.csv` (the run's own
//! report, without reading 10 MB back), or from the file by [`read_plot_data`] (when the run's
//! copy is not to be trusted: the file had a write error, or the case task died). Both give the
//! same points for the same file: the run's rows are taken as written (each number at the
//! decimals the file holds, see [`SampleRow::as_written`](super::samples_csv::SampleRow)), and
//! [`Thinner`] thins a stream the same way however long it turns out to be.

use std::io::{BufReader, Read};
use std::path::Path;

use super::samples_csv::{SampleRow, SamplesError, SamplesReader};
use super::thin::Thinner;

/// The samples of a case, thinned for plotting. Times are seconds from the case's start.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotData {
    /// Measured flow, µL/h. A non-finite value (written as `NaN`) is a gap.
    pub flow: Vec<(f64, f64)>,
    /// Measured cumulative volume, µL.
    pub volume: Vec<(f64, f64)>,
    /// The pressure the pump last reported, kPa (absent before its first `STATUS`).
    pub pressure: Vec<(f64, f64)>,
    /// The reservoir the pump last reported, µL (absent before its first `STATUS`).
    pub reservoir: Vec<(f64, f64)>,
    /// How many sample rows the file held (before thinning).
    pub samples: usize,
    /// The file's last line, when it was cut short (a killed run) and so not plotted.
    pub torn_line: Option<usize>,
}

/// Thins rows of `samples.csv`, in file order, into [`PlotData`] in memory bounded by
/// `max_points` per series.
#[derive(Debug, Clone)]
pub struct PlotBuilder {
    flow: Thinner,
    volume: Thinner,
    pressure: Thinner,
    reservoir: Thinner,
    samples: usize,
}

impl PlotBuilder {
    /// At most `max_points` points per series (at least 5; see [`Thinner`]).
    pub fn new(max_points: usize) -> Self {
        let t = Thinner::new(max_points);
        Self { flow: t.clone(), volume: t.clone(), pressure: t.clone(), reservoir: t, samples: 0 }
    }

    /// Adds the file's next row.
    pub fn push(&mut self, s: &SampleRow) {
        let row = self.samples;
        self.flow.push(row, (s.time_s, s.flow_ul_h));
        self.volume.push(row, (s.time_s, s.volume_ul));
        if let Some(p) = s.pressure_kpa {
            self.pressure.push(row, (s.time_s, p));
        }
        if let Some(r) = s.reservoir_ul {
            self.reservoir.push(row, (s.time_s, r));
        }
        self.samples += 1;
    }

    pub fn finish(self) -> PlotData {
        PlotData {
            flow: self.flow.finish(),
            volume: self.volume.finish(),
            pressure: self.pressure.finish(),
            reservoir: self.reservoir.finish(),
            samples: self.samples,
            torn_line: None,
        }
    }
}

/// Reads `samples.csv` (with [`SamplesReader`], the one reader of the file) for plotting,
/// keeping at most `max_points` points per series (at least 5; see [`Thinner`]).
///
/// The file is streamed once, thinning each series on the fly, so memory is bounded by
/// `max_points`, not by the file; no more is read than the file held when it was opened, so a
/// file still growing cannot keep the reader going. A line that does not parse is an error
/// naming it; a last line cut short is left out and named in [`PlotData::torn_line`].
pub fn read_plot_data(samples_csv: &Path, max_points: usize) -> Result<PlotData, SamplesError> {
    let file = std::fs::File::open(samples_csv)?;
    let len = file.metadata()?.len();
    let mut reader = SamplesReader::new(BufReader::with_capacity(64 * 1024, file.take(len)))?;
    let mut plot = PlotBuilder::new(max_points);
    while let Some(s) = reader.next_row()? {
        plot.push(&s);
    }
    Ok(PlotData { torn_line: reader.torn_line(), ..plot.finish() })
}
