//! `samples.csv`, the bundle's file of every flow sample: its columns, one row type
//! ([`SampleRow`]) with one writer ([`SampleRow::push_line`], used by the run's `SamplesCsv`
//! reporter) and one reader ([`SamplesReader`], used by the report). Whatever reads the file
//! reads what was written, and a line that does not parse is an error naming it, never skipped.
//! `time_s` is when the sensor read started (the instant its value belongs to); `read_ms` is how
//! long the read took, to the microsecond (the last column).

use std::io::{self, BufRead, Write};
use std::path::Path;

use crate::protocol::PumpState;

/// The header line, without its newline: the columns of [`SampleRow`], in order.
pub const HEADER: &str = "time_s,flow_ul_h,volume_ul,valve_closed,pump_state,pressure_kpa,reservoir_ul,read_ms";
const COLUMNS: usize = 8;

/// One line of `samples.csv`: one flow-sensor sample and what the pump last said in `STATUS`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRow {
    /// Seconds from the case's start on the rig's clock (3 decimals).
    pub time_s: f64,
    /// Flow through the sensor, µL/h (3 decimals).
    pub flow_ul_h: f64,
    /// Volume through the sensor since the case started, µL (4 decimals).
    pub volume_ul: f64,
    pub valve_closed: bool,
    /// The pump's state, pressure (kPa) and reservoir (µL) as its last `STATUS` reported them;
    /// empty before the first one.
    pub pump_state: Option<PumpState>,
    pub pressure_kpa: Option<f64>,
    pub reservoir_ul: Option<f64>,
    /// How long the sensor read took, ms (3 decimals: microseconds).
    pub read_ms: f64,
}

impl SampleRow {
    /// Appends the row and its newline to `line` (fixed decimals by integer arithmetic: a long
    /// run writes millions of them; the caller writes the line at once), and returns the row as written: each number
    /// as the file now holds it, bit for bit what [`SampleRow::parse`] reads back from the line.
    pub fn push_line(&self, line: &mut Vec<u8>) -> SampleRow {
        let time_s = push_fixed(line, self.time_s, 3);
        line.push(b',');
        let flow_ul_h = push_fixed(line, self.flow_ul_h, 3);
        line.push(b',');
        let volume_ul = push_fixed(line, self.volume_ul, 4);
        line.extend_from_slice(if self.valve_closed { b",1," } else { b",0," });
        line.extend_from_slice(self.pump_state.map_or("", PumpState::as_str).as_bytes());
        line.push(b',');
        let pressure_kpa = self.pressure_kpa.map(|p| push_fixed(line, p, 3));
        line.push(b',');
        let reservoir_ul = self.reservoir_ul.map(|r| push_fixed(line, r, 3));
        line.push(b',');
        let read_ms = push_fixed(line, self.read_ms, 3);
        line.push(b'\n');
        SampleRow { time_s, flow_ul_h, volume_ul, pressure_kpa, reservoir_ul, read_ms, ..*self }
    }

    /// Parses one line (without its newline). The error says which column is wrong and why.
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut fields = [""; COLUMNS];
        let mut count = 0;
        for field in line.split(',') {
            if let Some(slot) = fields.get_mut(count) {
                *slot = field;
            }
            count += 1;
        }
        if count != COLUMNS {
            return Err(format!("{count} fields, the header has {COLUMNS}"));
        }
        let [time, flow, volume, valve, state, pressure, reservoir, read_ms] = fields;
        // `NaN` is what the writer writes for a non-finite reading: a gap, not an error.
        let number = |name: &str, field: &str| -> Result<f64, String> {
            parse_number(field).ok_or_else(|| format!("{name} {field:?} is not a number"))
        };
        let optional = |name: &str, field: &str| -> Result<Option<f64>, String> {
            if field.is_empty() { Ok(None) } else { number(name, field).map(Some) }
        };
        let time_s = number("time_s", time)?;
        if !time_s.is_finite() {
            return Err(format!("time_s {time:?} is not a time"));
        }
        let valve_closed = match valve {
            "0" => false,
            "1" => true,
            other => return Err(format!("valve_closed {other:?} is neither 0 nor 1")),
        };
        let pump_state = if state.is_empty() {
            None
        } else {
            Some(state.parse::<PumpState>().map_err(|e| format!("pump_state: {e}"))?)
        };
        Ok(Self {
            time_s,
            flow_ul_h: number("flow_ul_h", flow)?,
            volume_ul: number("volume_ul", volume)?,
            valve_closed,
            pump_state,
            pressure_kpa: optional("pressure_kpa", pressure)?,
            reservoir_ul: optional("reservoir_ul", reservoir)?,
            read_ms: number("read_ms", read_ms)?,
        })
    }
}

/// Why `samples.csv` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SamplesError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Line `line` (the header is line 1) is not a row of this file.
    #[error("line {line}: {what}")]
    Malformed { line: usize, what: String },
}

/// Reads `samples.csv` row by row, in constant memory.
///
/// The header must be [`HEADER`]. A line that does not parse is an error naming its number. The
/// one exception is a last line without its newline that does not parse: a run killed in the
/// middle of writing it. That line ends the rows, and [`SamplesReader::torn_line`] names it, so
/// a reader can say it was left out.
pub struct SamplesReader<R> {
    input: R,
    line: Vec<u8>,
    line_no: usize,
    torn: Option<usize>,
}

impl SamplesReader<io::BufReader<std::fs::File>> {
    pub fn open(path: &Path) -> Result<Self, SamplesError> {
        Self::new(io::BufReader::with_capacity(64 * 1024, std::fs::File::open(path)?))
    }
}

impl<R: BufRead> SamplesReader<R> {
    /// Reads and checks the header. An empty file (a case that failed before its first sample
    /// was written) has no rows.
    pub fn new(mut input: R) -> Result<Self, SamplesError> {
        let mut line = Vec::new();
        let n = input.read_until(b'\n', &mut line)?;
        if n > 0 {
            let header = std::str::from_utf8(&line).map(|h| h.trim_end_matches(['\n', '\r']));
            if header != Ok(HEADER) {
                let what = match header {
                    Ok(h) => format!("the header is {h:?}, not {HEADER:?}"),
                    Err(_) => "the header is not UTF-8".to_string(),
                };
                return Err(SamplesError::Malformed { line: 1, what });
            }
        }
        Ok(Self { input, line, line_no: 1, torn: None })
    }

    /// The next row, or `None` at the end of the file (or of its last complete line).
    pub fn next_row(&mut self) -> Result<Option<SampleRow>, SamplesError> {
        if self.torn.is_some() {
            return Ok(None);
        }
        self.line.clear();
        if self.input.read_until(b'\n', &mut self.line)? == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        let complete = self.line.last() == Some(&b'\n');
        let parsed = std::str::from_utf8(&self.line)
            .map_err(|_| "it is not UTF-8".to_string())
            .and_then(|text| SampleRow::parse(text.trim_end_matches(['\n', '\r'])));
        match parsed {
            Ok(row) => Ok(Some(row)),
            Err(_) if !complete => {
                self.torn = Some(self.line_no);
                Ok(None)
            }
            Err(what) => Err(SamplesError::Malformed { line: self.line_no, what }),
        }
    }

    /// The number of the last line, when it was cut short (no newline, does not parse).
    pub fn torn_line(&self) -> Option<usize> {
        self.torn
    }
}

/// A number as `str::parse::<f64>` reads it. What the writer writes (`-?digits.digits`, at most
/// 15 significant digits) is read by exact integer arithmetic and one division by a power of
/// ten, which IEEE rounding makes the correctly rounded value, the same bits `parse` gives
/// (Clinger's fast path); anything else goes to `parse`.
fn parse_number(field: &str) -> Option<f64> {
    const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];
    let (negative, digits) = match field.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, field),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !int.is_empty() && int.len() + frac.len() <= 15 && frac.len() < POW10.len() && plain(int) && plain(frac) {
        let mantissa = int.bytes().chain(frac.bytes()).fold(0u64, |m, b| m * 10 + u64::from(b - b'0'));
        let value = mantissa as f64 / POW10.get(frac.len()).copied().unwrap_or(1.0);
        return Some(if negative { -value } else { value });
    }
    field.parse::<f64>().ok()
}

/// Appends `value` with `decimals` fixed decimals (at most 6), by integer arithmetic: much
/// faster than `{:.N}` for the millions of numbers a long run writes, and the same digits for
/// the magnitudes a run produces (|value| < 9e12; beyond, and for non-finite values, `{:.N}`).
/// Returns the number as written: what [`parse_number`] reads from the appended text, computed
/// the way it computes it (the digits as an integer over a power of ten) where its fast path
/// applies, and otherwise by reading the text back.
fn push_fixed(out: &mut Vec<u8>, value: f64, decimals: u32) -> f64 {
    const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];
    let start = out.len();
    let read_back = |out: &[u8]| {
        std::str::from_utf8(out.get(start..).unwrap_or_default()).ok().and_then(parse_number).unwrap_or(f64::NAN)
    };
    if !value.is_finite() || value.abs() >= 9e12 {
        let _ = write!(out, "{value:.prec$}", prec = decimals as usize);
        return read_back(out);
    }
    let decimals = decimals.min(6);
    let scale = 10u64.pow(decimals);
    let scaled = (value * scale as f64).round() as i64;
    if scaled < 0 {
        out.push(b'-');
    }
    let abs = scaled.unsigned_abs();
    let before = out.len();
    push_digits(out, abs / scale, 1);
    let int_digits = out.len() - before;
    if decimals > 0 {
        out.push(b'.');
        push_digits(out, abs % scale, decimals as usize);
    }
    if int_digits + decimals as usize > 15 {
        return read_back(out);
    }
    let written = abs as f64 / POW10.get(decimals as usize).copied().unwrap_or(1.0);
    if scaled < 0 { -written } else { written }
}

/// Appends `n` in decimal, zero-padded to `width` digits.
fn push_digits(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = tmp.len();
    while n > 0 && i > 0 {
        i -= 1;
        if let Some(d) = tmp.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
    }
    let start = i.min(tmp.len().saturating_sub(width));
    out.extend_from_slice(tmp.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(text: &str) -> Result<(Vec<SampleRow>, Option<usize>), SamplesError> {
        let mut reader = SamplesReader::new(text.as_bytes())?;
        let mut rows = Vec::new();
        while let Some(row) = reader.next_row()? {
            rows.push(row);
        }
        Ok((rows, reader.torn_line()))
    }

    fn row(t: f64) -> SampleRow {
        SampleRow {
            time_s: t,
            flow_ul_h: 499.1234,
            volume_ul: 12.345_67,
            valve_closed: t > 1.0,
            pump_state: Some(PumpState::Running),
            pressure_kpa: Some(20.5),
            reservoir_ul: Some(19_950.25),
            read_ms: 1.25,
        }
    }

    fn file_of(rows: &[SampleRow]) -> String {
        let mut out = format!("{HEADER}\n").into_bytes();
        for r in rows {
            r.push_line(&mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rows_read_back_as_written() {
        let mut before_status = row(0.0);
        (before_status.pump_state, before_status.pressure_kpa, before_status.reservoir_ul) = (None, None, None);
        let written = [before_status, row(1.0), row(2.5)];
        let text = file_of(&written);
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                HEADER,
                "0.000,499.123,12.3457,0,,,,1.250",
                "1.000,499.123,12.3457,0,RUNNING,20.500,19950.250,1.250",
                "2.500,499.123,12.3457,1,RUNNING,20.500,19950.250,1.250"
            ]
        );
        let (read, torn) = rows_of(&text).unwrap();
        assert_eq!(torn, None);
        // As written, to the file's decimals.
        let rounded = |r: SampleRow| SampleRow { flow_ul_h: 499.123, volume_ul: 12.3457, ..r };
        let expected: Vec<SampleRow> = written.iter().copied().map(rounded).collect();
        assert_eq!(read, expected);
        // A non-finite reading is written as NaN and read back as a gap.
        let gap = SampleRow { flow_ul_h: f64::NAN, ..row(3.0) };
        let (read, _) = rows_of(&file_of(&[gap])).unwrap();
        assert!(read[0].flow_ul_h.is_nan());
    }

    #[test]
    fn a_malformed_line_is_an_error_naming_it() {
        let good = file_of(&[row(0.0), row(1.0)]);
        let cases = [
            ("1.000,oops,0.0000,0,RUNNING,1.000,2.000,0.100\n", "line 4: flow_ul_h \"oops\" is not a number"),
            ("1.000,1.000\n", "line 4: 2 fields, the header has 8"),
            ("1.000,1.000,0.0000,2,RUNNING,1.000,2.000,0.100\n", "line 4: valve_closed \"2\" is neither 0 nor 1"),
            ("NaN,1.000,0.0000,0,RUNNING,1.000,2.000,0.100\n", "line 4: time_s \"NaN\" is not a time"),
            ("1.000,1.000,0.0000,0,SLEEPING,1.000,2.000,0.100\n", "line 4: pump_state: \"SLEEPING\" is not a valid"),
            ("1.000,1.000,0.0000,0,RUNNING,x,2.000,0.100\n", "line 4: pressure_kpa \"x\" is not a number"),
            ("1.000,1.000,0.0000,0,RUNNING,1.000,2.000,slow\n", "line 4: read_ms \"slow\" is not a number"),
        ];
        for (bad, expected) in cases {
            let text = format!("{good}{bad}{}", file_of(&[row(2.0)]).lines().nth(1).unwrap());
            let err = rows_of(&text).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{bad:?}: {err}");
        }
        // A complete (newline-terminated) malformed last line is an error too.
        assert!(rows_of(&format!("{good}1.000,1.000\n")).unwrap_err().to_string().starts_with("line 4: "));
        // A header that is not this file's.
        let err = rows_of("time_s,flow_ul_h,volume_ul\n0,1,2\n").unwrap_err().to_string();
        assert!(err.starts_with("line 1: the header is \"time_s,flow_ul_h,volume_ul\""), "{err}");
    }

    #[test]
    fn a_torn_last_line_ends_the_rows_and_is_named() {
        let good = file_of(&[row(0.0), row(1.0)]);
        for tail in ["3001.000,49", "3001.0", "30", "3001.000,499.100,208.3000,0,RUNN"] {
            let (rows, torn) = rows_of(&format!("{good}{tail}")).unwrap();
            assert_eq!((rows.len(), torn), (2, Some(4)), "{tail:?}");
        }
        // A last line cut after a complete field still parses and counts.
        let (rows, torn) = rows_of(&format!("{good}3.000,1.000,0.0000,0,RUNNING,20.000,1.500,0.1")).unwrap();
        assert_eq!((rows.len(), torn), (3, None));
        // A header only (killed before the first sample), or nothing at all.
        assert_eq!(rows_of(&format!("{HEADER}\n")).unwrap().0, []);
        assert_eq!(rows_of("").unwrap().0, []);
    }

    fn fixed(v: f64, d: u32) -> String {
        let mut out = Vec::new();
        push_fixed(&mut out, v, d);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn same_digits_as_std_formatting() {
        for (v, d) in
            [(0.0, 3), (1.5, 3), (-0.25, 4), (93601.0, 3), (1222.87149, 4), (0.0004, 3), (-0.0004, 3), (12.3456789, 6)]
        {
            let expected = format!("{v:.prec$}", prec = d as usize);
            // std prints "-0.000" for tiny negatives; the rig writes "0.000".
            let expected = if expected.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
                expected.trim_start_matches('-').to_string()
            } else {
                expected
            };
            assert_eq!(fixed(v, d), expected, "{v} with {d} decimals");
        }
        assert_eq!(fixed(f64::NAN, 3), "NaN");
    }

    /// A row is its fields, each as [`push_fixed`] writes it (whose digits are std's, above),
    /// for values of every magnitude and across the integer path's edges.
    #[test]
    fn the_buffered_row_writes_what_the_field_writer_writes() {
        let values = [
            0.0,
            -0.0,
            0.0004,
            -0.0004,
            -0.0005,
            0.9995,
            1.0,
            -1.5,
            12.3456789,
            499.12349,
            93_601.0,
            1e9 + 0.123,
            8.999e12,
            -8.999e12,
            9e12,
            1e15,
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
        ];
        let mut rows = 0;
        for (i, &v) in values.iter().enumerate() {
            let w = values[(i * 7 + 3) % values.len()];
            for (state, pressure, reservoir) in [
                (None, None, None),
                (Some(PumpState::Running), Some(v), Some(w)),
                (Some(PumpState::Alarm), Some(w), None),
            ] {
                let r = SampleRow {
                    time_s: v.abs(),
                    flow_ul_h: w,
                    volume_ul: v,
                    valve_closed: i % 2 == 0,
                    pump_state: state,
                    pressure_kpa: pressure,
                    reservoir_ul: reservoir,
                    read_ms: w.abs(),
                };
                let mut fast = Vec::new();
                r.push_line(&mut fast);
                let field = |x: Option<f64>, d| x.map(|x| fixed(x, d)).unwrap_or_default();
                let slow = format!(
                    "{},{},{},{},{},{},{},{}\n",
                    fixed(r.time_s, 3),
                    fixed(r.flow_ul_h, 3),
                    fixed(r.volume_ul, 4),
                    u8::from(r.valve_closed),
                    r.pump_state.map_or("", PumpState::as_str),
                    field(r.pressure_kpa, 3),
                    field(r.reservoir_ul, 3),
                    fixed(r.read_ms, 3),
                );
                assert_eq!(String::from_utf8(fast).unwrap(), slow, "{r:?}");
                rows += 1;
            }
        }
        assert_eq!(rows, values.len() * 3);
    }

    /// What [`SampleRow::push_line`] says it wrote is what the line reads back as, bit for bit
    /// (the run's report plots the rows as written instead of reading the file back): on the
    /// integer path's edges and on any value.
    #[test]
    fn a_row_as_written_is_the_row_read_back() {
        use proptest::prelude::*;
        fn check(r: SampleRow) -> Result<(), TestCaseError> {
            let mut line = Vec::new();
            let written = r.push_line(&mut line);
            let text = std::str::from_utf8(&line).unwrap().trim_end_matches('\n');
            let read = SampleRow::parse(text).map_err(TestCaseError::fail)?;
            let bits = |r: &SampleRow| {
                [Some(r.time_s), Some(r.flow_ul_h), Some(r.volume_ul), r.pressure_kpa, r.reservoir_ul, Some(r.read_ms)]
                    .map(|x| x.map(f64::to_bits))
            };
            prop_assert_eq!(bits(&written), bits(&read), "{}", text);
            prop_assert_eq!((written.valve_closed, written.pump_state), (read.valve_closed, read.pump_state));
            Ok(())
        }
        let edges: [f64; 12] = [
            0.0,
            -0.0,
            0.0004,
            -0.0005,
            0.9995,
            123.45649,
            99_999_999_999.999_4,
            8.999e12,
            -8.999e12,
            9e12,
            1e15,
            1e300,
        ];
        for &v in &edges {
            let r = SampleRow {
                time_s: v.abs(),
                flow_ul_h: v,
                volume_ul: v,
                valve_closed: true,
                pump_state: Some(PumpState::Running),
                pressure_kpa: Some(v),
                reservoir_ul: Some(-v),
                read_ms: v.abs(),
            };
            check(r).unwrap();
        }
        let magnitude = prop_oneof![
            -1e3..1e3f64,
            -1e9..1e9f64,
            -1e13..1e13f64,
            any::<f64>().prop_filter("finite", |v| v.is_finite())
        ];
        let config = ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() };
        proptest!(config, |(t in 0.0..1e9f64, flow in magnitude.clone(), volume in magnitude.clone(), p in proptest::option::of(magnitude.clone()), read in 0.0..1e4f64)| {
            check(SampleRow {
                time_s: t,
                flow_ul_h: flow,
                volume_ul: volume,
                valve_closed: false,
                pump_state: p.map(|_| PumpState::Alarm),
                pressure_kpa: p,
                reservoir_ul: p.map(|x| x / 3.0),
                read_ms: read,
            })?;
        });
    }

    /// The fast reading of a number gives the bits `parse` gives, on what the writer writes and
    /// on what it does not.
    #[test]
    fn numbers_read_as_std_parses_them() {
        let mut fields: Vec<String> = [
            "0",
            "-0",
            "0.000",
            "-0.000",
            "1.5",
            "0.1",
            "0.3",
            "93601.000",
            "-12.3457",
            "999999999999.999",
            "123456789012345",
            "1234567890123456",
            "0.0000001",
            "1e3",
            "NaN",
            "inf",
            "+1.0",
            ".5",
            "5.",
            "1.2.3",
            "",
            "-",
            "0x10",
            "١",
        ]
        .map(String::from)
        .to_vec();
        // Every value the writer writes for a spread of magnitudes and both decimal counts.
        let mut x = 0.000_123_f64;
        while x < 9e11 {
            for d in [3, 4] {
                fields.push(fixed(x, d));
                fields.push(fixed(-x * 1.37, d));
            }
            x *= 1.618;
        }
        for f in &fields {
            let std = f.parse::<f64>().ok();
            let fast = parse_number(f);
            assert_eq!(fast.map(f64::to_bits), std.map(f64::to_bits), "{f:?}: {fast:?} against {std:?}");
        }
    }
}
