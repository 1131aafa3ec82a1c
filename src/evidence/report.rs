//! `report.html`: one case's evidence as a single self-contained page a reviewer can open, print
//! or file — inline CSS and inline SVG charts, no scripts and nothing fetched.
//!
//! The page is built from the case's [`CaseRecord`] (everything but the samples) and a thinned
//! copy of its `samples.csv` read by [`read_plot_data`], which streams the file so a week-long
//! run costs no more memory than a short one. In order, the page shows: a red banner when an
//! instrument's calibration had expired (the run is then not valid as evidence), the verdict and
//! summary, what was tested with what (pump, bench, instruments, plan, rig), the requirements the
//! case covers and the checks that verify them, every check, the flow, volume and pressure
//! against time with the valve-closed periods, plan marks and pump alarms, the trumpet curves,
//! the steps and the safe state, and how to check the bundle's integrity.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::record::{CaseRecord, Instrument, PumpStateRecord};
use super::svg::{self, Band, Chart, Marker, Series};
use super::xml_text;
use crate::plan::Unit;
use crate::plan::requirements::requirement;
use crate::run::Verdict;
use crate::run::decision::Decision;

/// The samples of a case, thinned for plotting. Times are seconds from the case's start.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlotData {
    /// Measured flow, µL/h. A non-finite value (written as `NaN`) is a gap.
    pub flow: Vec<(f64, f64)>,
    /// Measured cumulative volume, µL.
    pub volume: Vec<(f64, f64)>,
    /// The pressure the pump last reported, kPa (absent before its first `STATUS`).
    pub pressure: Vec<(f64, f64)>,
    /// How many sample rows the file held (before thinning).
    pub samples: usize,
}

/// Reads `samples.csv` for plotting, keeping at most `max_points` points per series (at least 5).
///
/// The file is streamed twice: once to count its lines, then to parse them, thinning each series
/// on the fly into buckets of consecutive samples that keep their lowest and highest value (and
/// the first gap), so a one-sample spike survives; the first and last samples are always kept.
/// Memory is bounded by `max_points`, not by the file. Columns are found by the header's names
/// (`time_s`, `flow_ul_h` and `volume_ul` are required, `pressure_kpa` is optional).
///
/// A last line without its newline that does not parse is a run killed mid-write and is skipped.
/// Any other line that does not parse is an error naming its line number (the header is line 1).
pub fn read_plot_data(samples_csv: &Path, max_points: usize) -> io::Result<PlotData> {
    let lines = count_lines(std::fs::File::open(samples_csv)?)?;
    let rows = lines.saturating_sub(1);
    let mut reader = BufReader::new(std::fs::File::open(samples_csv)?);
    let mut line = Vec::new();
    let mut data = PlotData::default();

    // Header.
    if reader.read_until(b'\n', &mut line)? == 0 {
        return Ok(data);
    }
    let header = std::str::from_utf8(&line).map_err(|_| malformed(samples_csv, 1, "the header is not UTF-8"))?;
    let columns =
        Columns::from_header(header.trim_end_matches(['\n', '\r'])).map_err(|what| malformed(samples_csv, 1, &what))?;

    let mut flow = Thinner::new(rows, max_points);
    let mut volume = Thinner::new(rows, max_points);
    let mut pressure = Thinner::new(rows, max_points);
    // Read no more rows than the first pass counted, so a file still growing cannot grow memory.
    for row in 0..rows {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let line_no = row + 2;
        let complete = line.last() == Some(&b'\n');
        let parsed = std::str::from_utf8(&line)
            .map_err(|_| "it is not UTF-8".to_owned())
            .and_then(|text| columns.parse(text.trim_end_matches(['\n', '\r'])));
        let sample = match parsed {
            Ok(sample) => sample,
            // A killed run's last, partly written line.
            Err(_) if !complete => break,
            Err(what) => return Err(malformed(samples_csv, line_no, &what)),
        };
        flow.push(row, (sample.time_s, sample.flow_ul_h));
        volume.push(row, (sample.time_s, sample.volume_ul));
        if let Some(p) = sample.pressure_kpa {
            pressure.push(row, (sample.time_s, p));
        }
        data.samples += 1;
    }
    data.flow = flow.finish();
    data.volume = volume.finish();
    data.pressure = pressure.finish();
    Ok(data)
}

fn malformed(path: &Path, line: usize, what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: line {line}: {what}", path.display()))
}

/// Lines in `file`, counting a last line without its newline.
fn count_lines(file: impl Read) -> io::Result<usize> {
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let (mut lines, mut last) = (0, b'\n');
    loop {
        let buf = reader.fill_buf()?;
        let Some(&end) = buf.last() else { break };
        lines += buf.iter().filter(|&&b| b == b'\n').count();
        last = end;
        let n = buf.len();
        reader.consume(n);
    }
    Ok(lines + usize::from(last != b'\n'))
}

/// Where the plotted columns are in a row.
struct Columns {
    time: usize,
    flow: usize,
    volume: usize,
    pressure: Option<usize>,
    count: usize,
}

struct Row {
    time_s: f64,
    flow_ul_h: f64,
    volume_ul: f64,
    pressure_kpa: Option<f64>,
}

impl Columns {
    fn from_header(header: &str) -> Result<Self, String> {
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let find = |name: &str| names.iter().position(|&n| n == name);
        let require = |name: &str| find(name).ok_or_else(|| format!("the header {header:?} has no {name} column"));
        Ok(Self {
            time: require("time_s")?,
            flow: require("flow_ul_h")?,
            volume: require("volume_ul")?,
            pressure: find("pressure_kpa"),
            count: names.len(),
        })
    }

    fn parse(&self, line: &str) -> Result<Row, String> {
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != self.count {
            return Err(format!("{} fields, the header has {}", fields.len(), self.count));
        }
        let number = |i: usize, name: &str| -> Result<f64, String> {
            let field = fields[i].trim();
            if field.is_empty() {
                return Ok(f64::NAN); // a gap
            }
            field.parse::<f64>().map_err(|_| format!("{name} {field:?} is not a number"))
        };
        let time_s = number(self.time, "time_s")?;
        if !time_s.is_finite() {
            return Err(format!("time_s {:?} is not a time", fields[self.time]));
        }
        let pressure_kpa = match self.pressure {
            Some(i) if !fields[i].trim().is_empty() => Some(number(i, "pressure_kpa")?),
            _ => None,
        };
        Ok(Row {
            time_s,
            flow_ul_h: number(self.flow, "flow_ul_h")?,
            volume_ul: number(self.volume, "volume_ul")?,
            pressure_kpa,
        })
    }
}

/// Streaming min/max thinning of one series whose points are rows `0..rows` of the file (a series
/// may skip rows): the first and last points are kept, and the rows between are cut into buckets
/// that each keep their lowest and highest point and their first gap, in row order.
struct Thinner {
    keep_all: bool,
    rows: usize,
    buckets: usize,
    out: Vec<(f64, f64)>,
    bucket: usize,
    lo: Option<(usize, (f64, f64))>,
    hi: Option<(usize, (f64, f64))>,
    gap: Option<(usize, (f64, f64))>,
    last: Option<(usize, (f64, f64))>,
    last_kept: Option<usize>,
}

impl Thinner {
    fn new(rows: usize, max_points: usize) -> Self {
        let max_points = max_points.max(5);
        Self {
            keep_all: rows <= max_points,
            rows,
            buckets: (max_points - 2) / 3,
            out: Vec::with_capacity(max_points.min(rows)),
            bucket: 0,
            lo: None,
            hi: None,
            gap: None,
            last: None,
            last_kept: None,
        }
    }

    fn push(&mut self, row: usize, p: (f64, f64)) {
        if self.keep_all {
            self.out.push(p);
            return;
        }
        if self.last_kept.is_none() {
            self.out.push(p);
            self.last_kept = Some(row);
            return;
        }
        // Rows 1..rows-1 are the interior; clamp, in case the count was off.
        let interior = self.rows.saturating_sub(2).max(1) as u128;
        let k = ((row.saturating_sub(1) as u128 * self.buckets as u128 / interior) as usize).min(self.buckets - 1);
        if k != self.bucket {
            self.flush();
            self.bucket = k;
        }
        if !(p.0.is_finite() && p.1.is_finite()) {
            self.gap.get_or_insert((row, p));
        } else {
            if self.lo.is_none_or(|(_, q)| p.1 < q.1) {
                self.lo = Some((row, p));
            }
            if self.hi.is_none_or(|(_, q)| p.1 > q.1) {
                self.hi = Some((row, p));
            }
        }
        self.last = Some((row, p));
    }

    fn flush(&mut self) {
        let mut keep: Vec<(usize, (f64, f64))> =
            [self.lo.take(), self.hi.take(), self.gap.take()].into_iter().flatten().collect();
        keep.sort_by_key(|&(row, _)| row);
        keep.dedup_by_key(|&mut (row, _)| row);
        for (row, p) in keep {
            self.out.push(p);
            self.last_kept = Some(row);
        }
    }

    fn finish(mut self) -> Vec<(f64, f64)> {
        if !self.keep_all {
            self.flush();
            if let Some((row, p)) = self.last
                && self.last_kept.is_none_or(|k| row > k)
            {
                self.out.push(p);
            }
        }
        self.out
    }
}

// ---------------------------------------------------------------------------------------------
// The page.

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; font-size: 14px;
  line-height: 1.4; color: #1b1b1b; background: #fff; margin: 0 auto; padding: 16px 24px 32px; max-width: 1360px;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 3px; border-bottom: 2px solid #444; }
h3 { font-size: 15px; margin: 16px 0 6px; }
table { border-collapse: collapse; margin: 4px 0 10px; }
th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef0f3; font-weight: 600; }
table.kv th { width: 13em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
.banner { background: #b00020; color: #fff; font-weight: 700; font-size: 18px; padding: 12px 16px; margin: 0 0 14px;
  border: 3px solid #5c0010; }
.summary { border: 1px solid #bbb; padding: 12px 16px; background: #fafafa; }
.summary p { margin: 4px 0; }
.summary-line { font-size: 20px; font-weight: 600; }
.summary-line .mono { font-size: inherit; }
.verdict { display: inline-block; padding: 1px 8px; border-radius: 3px; font-weight: 700; color: #fff;
  white-space: nowrap; }
.verdict.big { font-size: 26px; padding: 2px 14px; margin-right: 10px; vertical-align: middle; }
.v-pass { background: #1a7f37; }
.v-inconclusive { background: #f0a500; color: #1b1b1b; }
.v-fail { background: #c62828; }
.v-error, .v-aborted { background: #6d0000; }
.reason { color: #6d0000; font-weight: 600; }
.bad { color: #b00020; font-weight: 700; }
.ok { color: #1a7f37; font-weight: 600; }
.muted { color: #666; }
.not-verified { color: #8a5a00; font-style: italic; }
figure { margin: 10px 0 18px; break-inside: avoid; page-break-inside: avoid; }
figure svg { max-width: 100%; height: auto; display: block; border: 1px solid #ddd; }
figcaption { font-size: 12.5px; color: #444; margin-top: 3px; }
.trumpet { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; break-inside: avoid; }
footer { margin-top: 32px; padding-top: 8px; border-top: 1px solid #999; font-size: 12.5px; color: #333; }
@page { size: A4; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-after: avoid; page-break-after: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
}
"#;

const FLOW_COLOR: &str = "#1f77b4";
const PROGRAMMED_COLOR: &str = "#555555";
const PRESSURE_COLOR: &str = "#9467bd";
const VALVE_COLOR: &str = "#e07000";
const MARK_COLOR: &str = "#666666";
const ALARM_COLOR: &str = "#d62728";
const CLEAR_COLOR: &str = "#2ca02c";
const BOOT_COLOR: &str = "#8c564b";
const CHART_WIDTH: u32 = 1100;
const CHART_HEIGHT: u32 = 340;
/// Runs shorter than this are plotted in minutes, longer ones in hours.
const MINUTES_BELOW_S: f64 = 3.0 * 3600.0;

/// Renders the case's report: one self-contained HTML5 page (see the module's documentation).
/// `plot` is the case's `samples.csv` as [`read_plot_data`] read it.
pub fn render_report(record: &CaseRecord, plot: &PlotData) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let run = record.run_name();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Belt and braces: even a bug here cannot make the page run a script or fetch anything.
    o.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; \
         img-src data:\">\n",
    );
    let _ = writeln!(o, "<title>{} — {} — rig report</title>", xml_text(&run), record.verdict);
    let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>");

    calibration_banner(&mut o, record);
    summary(&mut o, record, plot);
    o.push_str("<main>\n");
    identity(&mut o, record);
    pump_before_the_case(&mut o, record);
    coverage(&mut o, record);
    checks(&mut o, record);
    plots(&mut o, record, plot);
    trumpets(&mut o, record);
    steps(&mut o, record);
    sampler_timing(&mut o, record);
    o.push_str("</main>\n");
    o.push_str(
        "<footer><p>record.json, samples.csv, events.jsonl, result.yaml, junit.xml and this page are listed with \
         their SHA-256 in MANIFEST.sha256; check with <code>rig verify &lt;folder&gt;</code> or \
         <code>sha256sum -c MANIFEST.sha256</code>.</p></footer>\n</body>\n</html>\n",
    );
    o
}

fn calibration_banner(o: &mut String, record: &CaseRecord) {
    let expired = record.expired_instruments();
    if !record.bench.expired_calibration_allowed && expired.is_empty() {
        return;
    }
    let which = if expired.is_empty() {
        "an instrument was past its calibration due date (the run was told to go on anyway)".to_owned()
    } else {
        expired.iter().map(|i| instrument_due(i)).collect::<Vec<_>>().join("; ")
    };
    let _ = writeln!(
        o,
        "<div class=\"banner\" role=\"alert\">CALIBRATION EXPIRED — this run is not valid as evidence: {}</div>",
        xml_text(&which)
    );
}

fn instrument_due(i: &Instrument) -> String {
    let due = i.calibration_due.as_deref().unwrap_or("no due date recorded");
    format!("{} {}, due {due}", i.model, i.serial_number)
}

fn verdict_badge(v: Verdict, big: bool) -> String {
    let class = match v {
        Verdict::Pass => "v-pass",
        Verdict::Inconclusive => "v-inconclusive",
        Verdict::Fail => "v-fail",
        Verdict::Error => "v-error",
        Verdict::Aborted => "v-aborted",
    };
    format!("<span class=\"verdict{} {class}\">{v}</span>", if big { " big" } else { "" })
}

const VERDICTS: [Verdict; 5] = [Verdict::Pass, Verdict::Inconclusive, Verdict::Fail, Verdict::Error, Verdict::Aborted];

fn summary(o: &mut String, record: &CaseRecord, plot: &PlotData) {
    o.push_str("<header class=\"summary\">\n");
    let _ = writeln!(
        o,
        "<p class=\"summary-line\">{} <span class=\"mono\">{}</span> — {}</p>",
        verdict_badge(record.verdict, true),
        xml_text(&record.run_name()),
        xml_text(&record.plan.title)
    );
    if let Some(reason) = &record.reason {
        let _ = writeln!(o, "<p class=\"reason\">Stopped early: {}</p>", xml_text(reason));
    }
    let counts: Vec<String> = VERDICTS
        .iter()
        .filter_map(|&v| {
            let n = record.checks.iter().filter(|c| c.verdict == v).count();
            (n > 0).then(|| format!("{n} {}", verdict_badge(v, false)))
        })
        .collect();
    let _ = writeln!(
        o,
        "<p>{} check{}{}{}</p>",
        record.checks.len(),
        if record.checks.len() == 1 { "" } else { "s" },
        if counts.is_empty() { "" } else { ": " },
        counts.join(", ")
    );
    let _ = writeln!(
        o,
        "<p>Bench time {} · wall time {} · {} samples{} · bench <b>{}</b> ({})</p>",
        duration(record.bench_time_s),
        duration(record.wall_time_s),
        record.samples,
        if plot.samples != record.samples { format!(" ({} in samples.csv)", plot.samples) } else { String::new() },
        xml_text(&record.bench.name),
        xml_text(&record.bench.kind)
    );
    let _ = writeln!(
        o,
        "<p>Started <span class=\"mono\">{}</span> · ended <span class=\"mono\">{}</span> (UTC)</p>",
        xml_text(&record.started_utc),
        xml_text(&record.ended_utc)
    );
    o.push_str("</header>\n");
}

fn kv(o: &mut String, key: &str, value_html: &str) {
    let _ = writeln!(o, "<tr><th>{}</th><td>{value_html}</td></tr>", xml_text(key));
}

fn mono(s: &str) -> String {
    format!("<span class=\"mono\">{}</span>", xml_text(s))
}

fn file_and_hash(file: &str, sha256: &str) -> String {
    format!("{}<br>SHA-256 {}", mono(file), mono(sha256))
}

fn identity(o: &mut String, record: &CaseRecord) {
    o.push_str("<section id=\"identity\">\n<h2>Identity</h2>\n");

    o.push_str("<h3>Device under test</h3>\n<table class=\"kv\">\n");
    match &record.pump {
        Some(p) => {
            kv(o, "model", &xml_text(&p.model));
            kv(o, "serial", &mono(&p.serial));
            kv(o, "firmware", &mono(&p.fw));
            kv(o, "build", &mono(&p.build));
            kv(o, "protocol", &p.proto.to_string());
        }
        None => kv(o, "identity", "<span class=\"bad\">no ID answer</span>"),
    }
    o.push_str("</table>\n");

    let b = &record.bench;
    o.push_str("<h3>Bench</h3>\n<table class=\"kv\">\n");
    kv(o, "name", &xml_text(&b.name));
    kv(o, "kind", &xml_text(&b.kind));
    kv(o, "file", &file_and_hash(&b.file, &b.sha256));
    if b.faults.is_empty() {
        kv(o, "seeded faults", "none");
    } else {
        kv(o, "seeded faults", &format!("<span class=\"bad\">{}</span>", xml_text(&b.faults.join(", "))));
    }
    kv(
        o,
        "test line",
        &format!(
            "compliance {} µL/kPa, resistance {} kPa·s/µL",
            num(b.test_line.compliance_ul_per_kpa),
            num(b.test_line.resistance_kpa_s_per_ul)
        ),
    );
    if b.expired_calibration_allowed {
        kv(o, "expired calibration", "<span class=\"bad\">allowed for this run</span>");
    }
    o.push_str("</table>\n");

    o.push_str("<h3>Instruments</h3>\n");
    if record.instruments.is_empty() {
        o.push_str("<p class=\"muted\">No instruments declared.</p>\n");
    } else {
        o.push_str(
            "<table>\n<tr><th>role</th><th>model</th><th>serial</th><th>calibration due</th><th>accuracy</th></tr>\n",
        );
        for i in &record.instruments {
            let due = i.calibration_due.as_deref().map_or_else(|| "—".to_owned(), xml_text);
            let due = if i.calibration_expired { format!("<span class=\"bad\">{due} — EXPIRED</span>") } else { due };
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{due}</td><td>{}</td></tr>",
                xml_text(&i.role),
                xml_text(&i.model),
                mono(&i.serial_number),
                i.accuracy.as_deref().map_or_else(|| "—".to_owned(), xml_text)
            );
        }
        o.push_str("</table>\n");
    }

    let p = &record.plan;
    o.push_str("<h3>Plan</h3>\n<table class=\"kv\">\n");
    kv(o, "id", &mono(&p.id));
    kv(o, "title", &xml_text(&p.title));
    kv(o, "version", &xml_text(&p.version));
    let case = match &p.case {
        Some(c) => mono(c),
        None => "—".to_owned(),
    };
    kv(o, "case", &case);
    let params = if p.params.is_empty() {
        "none".to_owned()
    } else {
        p.params.iter().map(|(k, v)| mono(&format!("{k}={v}"))).collect::<Vec<_>>().join(", ")
    };
    kv(o, "parameters", &params);
    kv(o, "file", &file_and_hash(&p.file, &p.sha256));
    o.push_str("</table>\n");

    o.push_str("<h3>Rig, host and operator</h3>\n<table class=\"kv\">\n");
    kv(o, "rig version", &mono(&record.rig.version));
    kv(o, "git commit", &mono(&record.rig.git_commit));
    kv(o, "host", &xml_text(&record.host));
    kv(o, "operator", &xml_text(&record.operator));
    o.push_str("</table>\n</section>\n");
}

/// What start-up found and did, the pump's state before the first step, and the anomalies
/// recorded during the case: a pump that enters a case with an alarm latched must show it.
fn pump_before_the_case(o: &mut String, record: &CaseRecord) {
    o.push_str("<section id=\"pump-at-start\">\n<h2>The pump before the first step</h2>\n");
    match &record.pump_at_start {
        Some(p) => {
            o.push_str("<table class=\"kv\">\n");
            let s = &p.status;
            kv(o, "state", &xml_text(&s.state.to_string()));
            let alarms = if p.alarms.is_empty() {
                "none".to_string()
            } else {
                let list: Vec<String> = p.alarms.iter().map(ToString::to_string).collect();
                format!("<span class=\"bad\">{}</span>", xml_text(&list.join(", ")))
            };
            kv(o, "active alarms (ALARMS)", &alarms);
            kv(o, "reservoir", &format!("{} µL", num(s.reservoir_ul)));
            kv(o, "delivered since boot", &format!("{} µL", num(s.delivered_ul)));
            kv(o, "basal rate", &format!("{} µL/h", num(s.basal_ul_h)));
            kv(o, "outlet pressure", &format!("{} kPa", num(s.pressure_kpa)));
            kv(o, "pump clock", &format!("{} ms since boot", s.pump_ms));
            o.push_str("</table>\n");
        }
        None => o.push_str("<p class=\"bad\">Not recorded: the case did not get as far as reading the pump.</p>\n"),
    }
    if let Some(found) = &record.start_up {
        o.push_str("<h3>Start-up</h3>\n<table class=\"kv\">\n");
        kv(o, "first request", &xml_text(&found.first_request));
        let f = &found.found;
        let alarms: Vec<String> = f.alarms.iter().map(ToString::to_string).collect();
        let alarms = if alarms.is_empty() { "no alarms".to_string() } else { alarms.join(", ") };
        kv(
            o,
            "found",
            &xml_text(&format!("{}, {} µL/h, {} kPa, {alarms}", f.state, num(f.basal_ul_h), num(f.pressure_kpa))),
        );
        kv(o, "STOP", &xml_text(&found.stop));
        kv(o, "valve opened", &xml_text(&found.valve_open));
        let r = &found.relaxation;
        kv(
            o,
            "line relaxed",
            &xml_text(&format!(
                "{}: {} kPa to {} kPa in {} s",
                r.outcome,
                num(r.from_kpa),
                num(r.to_kpa),
                num(r.waited_s)
            )),
        );
        for a in found.acknowledged.iter().chain(&record.left_over_cleared) {
            kv(o, &format!("ACK {}", a.code), &xml_text(&a.answer));
        }
        o.push_str("</table>\n");
    }
    if !record.anomalies.is_empty() || !record.lost_events.is_empty() {
        o.push_str("<h3>Anomalies and lost events</h3>\n<table>\n<tr><th>bench time</th><th>what</th></tr>\n");
        let mut rows: Vec<(f64, String)> = record.anomalies.iter().map(|a| (a.at_s, a.what.clone())).collect();
        for g in &record.lost_events {
            let resynced = match &g.resynced {
                Some(active) if active.is_empty() => "ALARMS re-read: none active".to_string(),
                Some(active) => {
                    let list: Vec<String> = active.iter().map(ToString::to_string).collect();
                    format!("ALARMS re-read: {}", list.join(", "))
                }
                None => "ALARMS not re-read".to_string(),
            };
            let lost = g.received.saturating_sub(g.expected);
            let what = format!(
                "{lost} pump event(s) lost on the link (evseq {} expected, {} received); {resynced}",
                g.expected, g.received
            );
            rows.push((g.at_s, what));
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (at_s, what) in rows {
            let _ = writeln!(o, "<tr><td>{}</td><td>{}</td></tr>", clock(at_s), xml_text(&what));
        }
        o.push_str("</table>\n");
    }
    o.push_str("</section>\n");
}

fn coverage(o: &mut String, record: &CaseRecord) {
    o.push_str("<section id=\"coverage\">\n<h2>Requirement coverage</h2>\n");
    // The plan's ids, then any a check verifies that the plan does not list.
    let mut ids: Vec<(&str, bool)> = record.plan.covers.iter().map(|id| (id.as_str(), true)).collect();
    for c in &record.checks {
        for id in &c.verifies {
            if !ids.iter().any(|(i, _)| i == id) {
                ids.push((id.as_str(), false));
            }
        }
    }
    if ids.is_empty() {
        o.push_str("<p class=\"muted\">The plan names no requirements.</p>\n</section>\n");
        return;
    }
    o.push_str("<table>\n<tr><th>requirement</th><th>title</th><th>verified by (this case)</th></tr>\n");
    for (id, covered) in ids {
        let title = match requirement(id) {
            Some(r) => xml_text(r.title),
            None => "<span class=\"bad\">unknown requirement</span>".to_owned(),
        };
        let title =
            if covered { title } else { format!("{title} <span class=\"muted\">(not in the plan's covers)</span>") };
        let by: Vec<String> = record
            .checks
            .iter()
            .filter(|c| c.verifies.iter().any(|v| v == id))
            .map(|c| format!("{} {}", mono(&c.id), verdict_badge(c.verdict, false)))
            .collect();
        let by = if by.is_empty() {
            "<span class=\"not-verified\">not verified in this case</span>".to_owned()
        } else {
            by.join("<br>")
        };
        let _ = writeln!(o, "<tr class=\"coverage\"><td>{}</td><td>{title}</td><td>{by}</td></tr>", mono(id));
    }
    o.push_str("</table>\n</section>\n");
}

fn unit(u: Unit) -> &'static str {
    match u {
        Unit::Seconds => "s",
        Unit::Microlitres => "µL",
        Unit::MicrolitresPerHour => "µL/h",
        Unit::Kilopascal => "kPa",
        Unit::Count => "",
        Unit::Percent => "%",
    }
}

/// `v` with its unit, e.g. `12.5 µL`, `3` (a count).
fn with_unit(v: f64, u: Unit) -> String {
    let u = unit(u);
    if u.is_empty() { num(v) } else { format!("{}\u{a0}{u}", num(v)) }
}

fn decision_text(d: Decision) -> &'static str {
    match d {
        Decision::Pass => "pass",
        Decision::PassWithinUncertainty => "pass within uncertainty",
        Decision::FailWithinUncertainty => "fail within uncertainty",
        Decision::Fail => "fail",
        Decision::NotMeasured => "not measured",
    }
}

fn checks(o: &mut String, record: &CaseRecord) {
    o.push_str("<section id=\"checks\">\n<h2>Checks</h2>\n");
    if record.checks.is_empty() {
        o.push_str("<p class=\"muted\">This case has no checks.</p>\n</section>\n");
        return;
    }
    o.push_str(
        "<table>\n<tr><th>id</th><th>title</th><th>value</th><th>limits</th><th>decision</th><th>verdict</th>\
         <th>requirements</th><th>detail</th></tr>\n",
    );
    for c in &record.checks {
        let value = match (c.value, c.uncertainty) {
            (None, _) => "—".to_owned(),
            (Some(v), None) => with_unit(v, c.unit),
            (Some(v), Some(u)) => format!("{} ± {}", num(v), with_unit(u, c.unit)),
        };
        let limits = match (c.low, c.high) {
            (None, None) => "—".to_owned(),
            (Some(l), None) => format!("≥ {}", with_unit(l, c.unit)),
            (None, Some(h)) => format!("≤ {}", with_unit(h, c.unit)),
            (Some(l), Some(h)) => format!("{} … {}", num(l), with_unit(h, c.unit)),
        };
        let _ = writeln!(
            o,
            "<tr class=\"check\"><td>{}</td><td>{}</td><td class=\"num\">{value}</td><td class=\"num\">{limits}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            mono(&c.id),
            xml_text(&c.title),
            decision_text(c.decision),
            verdict_badge(c.verdict, false),
            c.verifies.iter().map(|v| mono(v)).collect::<Vec<_>>().join("<br>"),
            xml_text(&c.detail)
        );
    }
    o.push_str("</table>\n</section>\n");
}

/// The time axis: its unit's length in seconds and its name.
struct TimeAxis {
    scale_s: f64,
    label: &'static str,
}

impl TimeAxis {
    fn for_run(end_s: f64) -> Self {
        if end_s < MINUTES_BELOW_S {
            Self { scale_s: 60.0, label: "time (min)" }
        } else {
            Self { scale_s: 3600.0, label: "time (h)" }
        }
    }

    fn points(&self, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
        points.iter().map(|&(t, y)| (t / self.scale_s, y)).collect()
    }
}

/// The programmed basal as a step series: the basal while the pump reported RUNNING, 0 otherwise,
/// from its first reported state to `end_s`.
fn programmed_flow(states: &[PumpStateRecord], end_s: f64) -> Vec<(f64, f64)> {
    let rate = |s: &PumpStateRecord| if s.state == "RUNNING" { s.basal_ul_h } else { 0.0 };
    let mut out = Vec::with_capacity(states.len() * 2 + 1);
    for s in states {
        if let Some(&(_, prev)) = out.last() {
            out.push((s.at_s, prev));
        }
        out.push((s.at_s, rate(s)));
    }
    if let Some(&(t, v)) = out.last()
        && end_s > t
    {
        out.push((end_s, v));
    }
    out
}

/// The integral (µL) of a step series of flows (µL/h), from 0 at its first point.
fn programmed_volume(steps: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(steps.len());
    let mut volume = 0.0;
    let mut prev: Option<(f64, f64)> = None;
    for &(t, rate) in steps {
        if let Some((t0, r0)) = prev {
            volume += r0 * (t - t0) / 3600.0;
        }
        prev = Some((t, rate));
        if out.last().is_none_or(|&(lt, lv)| lt != t || lv != volume) {
            out.push((t, volume));
        }
    }
    out
}

fn plots(o: &mut String, record: &CaseRecord, plot: &PlotData) {
    o.push_str("<section id=\"plots\">\n<h2>Delivery</h2>\n");
    let last_sample =
        [&plot.flow, &plot.volume, &plot.pressure].iter().filter_map(|s| s.last().map(|p| p.0)).fold(0.0_f64, f64::max);
    let end_s = record.bench_time_s.max(last_sample);
    let axis = TimeAxis::for_run(end_s);
    let x_range = (end_s > 0.0).then_some((0.0, end_s / axis.scale_s));

    let bands: Vec<Band> = record
        .valve_closed
        .iter()
        .map(|s| Band {
            from: s.from_s / axis.scale_s,
            to: s.to_s.unwrap_or(end_s).max(s.from_s) / axis.scale_s,
            label: "valve closed".into(),
            color: VALVE_COLOR.into(),
        })
        .collect();
    let mut markers: Vec<Marker> = record
        .marks
        .iter()
        .map(|m| Marker { at: m.at_s / axis.scale_s, label: m.name.clone(), color: MARK_COLOR.into() })
        .collect();
    for e in &record.pump_events {
        let (label, color) = match e.kind.as_str() {
            "ALARM" => (e.what.clone(), ALARM_COLOR),
            "CLEAR" => (format!("cleared {}", e.what), CLEAR_COLOR),
            "BOOT" => (format!("BOOT {}", e.what), BOOT_COLOR),
            other => (format!("{other} {}", e.what), MARK_COLOR),
        };
        markers.push(Marker { at: e.at_s / axis.scale_s, label, color: color.into() });
    }
    let chart = |title: &str, y_label: &str, series: Vec<Series>| Chart {
        title: title.into(),
        x_label: axis.label.into(),
        y_label: y_label.into(),
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
        series,
        bands: bands.clone(),
        markers: markers.clone(),
        x_range,
        y_range: None,
    };
    let programmed = programmed_flow(&record.pump_states, end_s);

    let mut flow = vec![Series {
        name: "measured flow".into(),
        points: axis.points(&plot.flow),
        color: FLOW_COLOR.into(),
        dashed: false,
    }];
    let mut volume = vec![Series {
        name: "measured volume".into(),
        points: axis.points(&plot.volume),
        color: FLOW_COLOR.into(),
        dashed: false,
    }];
    if !programmed.is_empty() {
        flow.push(Series {
            name: "programmed basal".into(),
            points: axis.points(&programmed),
            color: PROGRAMMED_COLOR.into(),
            dashed: true,
        });
        volume.push(Series {
            name: "programmed volume".into(),
            points: axis.points(&programmed_volume(&programmed)),
            color: PROGRAMMED_COLOR.into(),
            dashed: true,
        });
    }
    let mut flow_chart = chart("Flow", "flow (µL/h)", flow);
    flow_chart.y_range = flow_range(&flow_chart.series);
    figure(
        o,
        &svg::render(&flow_chart),
        "Measured flow against the programmed basal (the basal while the pump reported RUNNING, 0 otherwise).",
    );
    figure(
        o,
        &svg::render(&chart("Cumulative volume", "volume (µL)", volume)),
        "Measured cumulative volume against the programmed volume (the programmed basal integrated from the \
         pump's first reported state).",
    );
    if !plot.pressure.is_empty() {
        let pressure = vec![Series {
            name: "pump-reported pressure".into(),
            points: axis.points(&plot.pressure),
            color: PRESSURE_COLOR.into(),
            dashed: false,
        }];
        figure(
            o,
            &svg::render(&chart("Pressure", "pressure (kPa)", pressure)),
            "The pressure the pump reported in its STATUS.",
        );
    } else {
        o.push_str("<p class=\"muted\">The pump reported no pressure.</p>\n");
    }
    o.push_str(
        "<p class=\"muted\">Shaded: valve closed. Grey lines: plan marks; red: pump alarms; green: alarms cleared; \
         brown: pump boots.</p>\n</section>\n",
    );
}

/// The flow axis from 0 to a nice value above the highest flow, when the data dip below 0 by no
/// more than noise (2 % of the highest flow): a few µL/h of negative noise would otherwise widen
/// the axis by a whole tick step down. `None` (fit to the data) otherwise.
fn flow_range(series: &[Series]) -> Option<(f64, f64)> {
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|y| y.is_finite());
    let (lo, hi) =
        ys.fold(None, |acc: Option<(f64, f64)>, y| Some(acc.map_or((y, y), |(l, h)| (l.min(y), h.max(y)))))?;
    if hi <= 0.0 || lo < -0.02 * hi {
        return None;
    }
    match svg::nice_ticks(0.0, hi, 6)[..] {
        [a, b, ..] if b > a => Some((0.0, (hi / (b - a)).ceil() * (b - a))),
        _ => None,
    }
}

/// Inlines an SVG chart. HTML needs no namespace declaration for inline SVG: dropping it keeps
/// the page free of any URL.
fn figure(o: &mut String, svg: &str, caption: &str) {
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    let _ = writeln!(o, "<figure>\n{svg}<figcaption>{}</figcaption>\n</figure>", xml_text(caption));
}

fn trumpets(o: &mut String, record: &CaseRecord) {
    if record.trumpet.is_empty() {
        return;
    }
    o.push_str("<section id=\"trumpet\">\n<h2>Trumpet curves</h2>\n");
    for (n, t) in record.trumpet.iter().enumerate() {
        let windows = || t.windows.iter().map(|w| w.window_s / 60.0);
        let p_range = windows()
            .fold(None, |acc: Option<(f64, f64)>, p| Some(acc.map_or((p, p), |(lo, hi)| (lo.min(p), hi.max(p)))));
        let mut series = vec![
            Series {
                name: "Ep(max)".into(),
                points: windows().zip(t.windows.iter().map(|w| w.ep_max_pct)).collect(),
                color: ALARM_COLOR.into(),
                dashed: false,
            },
            Series {
                name: "Ep(min)".into(),
                points: windows().zip(t.windows.iter().map(|w| w.ep_min_pct)).collect(),
                color: FLOW_COLOR.into(),
                dashed: false,
            },
        ];
        if let Some((lo, hi)) = p_range {
            series.push(Series {
                name: "A (overall)".into(),
                points: vec![(lo, t.overall_error_pct), (hi, t.overall_error_pct)],
                color: PROGRAMMED_COLOR.into(),
                dashed: true,
            });
        }
        let title = format!("Trumpet curve {}: {} µL/h", n + 1, num(t.rate_ul_h));
        let chart = Chart {
            title: title.clone(),
            x_label: "observation window P (min)".into(),
            y_label: "flow error (%)".into(),
            width: 720,
            height: 340,
            series,
            ..Chart::default()
        };
        let _ = writeln!(o, "<h3>{}</h3>", xml_text(&title));
        let _ = writeln!(
            o,
            "<p>Programmed flow r = {} µL/h; analysis period {} to {} min after the case's start; sample period S = \
             {} s.</p>",
            num(t.rate_ul_h),
            num(t.from_s / 60.0),
            num(t.to_s / 60.0),
            num(t.sample_period_s)
        );
        o.push_str("<div class=\"trumpet\">\n");
        figure(o, &svg::render_xy(&chart), "Ep(max) and Ep(min) against the observation window P.");
        o.push_str("<table>\n<tr><th>P (min)</th><th>m</th><th>Ep(max) (%)</th><th>Ep(min) (%)</th></tr>\n");
        for w in &t.windows {
            let _ = writeln!(
                o,
                "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                num(w.window_s / 60.0),
                w.positions,
                fixed(w.ep_max_pct, 2),
                fixed(w.ep_min_pct, 2)
            );
        }
        let _ = writeln!(
            o,
            "<tr><th colspan=\"3\">A, overall error (%)</th><td class=\"num\">{}</td></tr>\n</table>\n</div>",
            fixed(t.overall_error_pct, 2)
        );
    }
    o.push_str("</section>\n");
}

fn steps(o: &mut String, record: &CaseRecord) {
    o.push_str("<section id=\"steps\">\n<h2>Steps</h2>\n");
    if record.steps.is_empty() {
        o.push_str("<p class=\"muted\">No steps ran.</p>\n");
    } else {
        o.push_str("<table>\n<tr><th>#</th><th>step</th><th>start</th><th>duration</th></tr>\n");
        for s in &record.steps {
            let dur = match s.finished_s {
                Some(f) => duration(f - s.started_s),
                None => "<span class=\"bad\">did not finish</span>".to_owned(),
            };
            let _ = writeln!(
                o,
                "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{dur}</td></tr>",
                s.index,
                xml_text(&s.label),
                clock(s.started_s)
            );
        }
        o.push_str("</table>\n");
    }
    let safe = &record.safe_state;
    o.push_str("<h3>Safe state</h3>\n<table class=\"kv\">\n");
    kv(o, "reached", if safe.reached { "<span class=\"ok\">yes</span>" } else { "<span class=\"bad\">NO</span>" });
    let outcome = |v: &Option<String>| match v.as_deref() {
        Some("ok") => "<span class=\"ok\">ok</span>".to_owned(),
        Some(other) => format!("<span class=\"bad\">{}</span>", xml_text(other)),
        None => "<span class=\"muted\">not attempted</span>".to_owned(),
    };
    kv(o, "pump stopped", &outcome(&safe.pump_stopped));
    kv(o, "valve open", &outcome(&safe.valve_open));
    o.push_str("</table>\n</section>\n");
}

/// How the flow sampler kept its deadlines: one row of the rig's own timing, as measured.
fn sampler_timing(o: &mut String, record: &CaseRecord) {
    o.push_str("<section id=\"sampler\">\n<h2>Sampler timing</h2>\n");
    let Some(s) = &record.sampler else {
        o.push_str("<p class=\"muted\">No sampler statistics: the sampler did not run to its end.</p>\n</section>\n");
        return;
    };
    let spread = |p: &Option<crate::realtime::Percentiles>| match p {
        Some(p) => format!("{} / {} / {} ms", num(p.p50_ms), num(p.p99_ms), num(p.max_ms)),
        None => "<span class=\"muted\">not measured (virtual time)</span>".to_owned(),
    };
    let missed = if s.missed_deadlines > 0 {
        format!("<span class=\"bad\">{}</span>", s.missed_deadlines)
    } else {
        "0".to_owned()
    };
    o.push_str(
        "<table>\n<tr><th>period</th><th>scheduling</th><th>deadlines</th><th>missed</th><th>failed reads</th>\
         <th>wake-up lateness p50 / p99 / max</th><th>read p50 / p99 / max</th></tr>\n",
    );
    let _ = writeln!(
        o,
        "<tr><td class=\"num\">{} ms</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{missed}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        num(s.period_s * 1e3),
        xml_text(&s.scheduling.policy),
        s.deadlines,
        s.failed_reads,
        spread(&s.wake_lateness),
        spread(&s.read_duration)
    );
    o.push_str("</table>\n</section>\n");
}

/// About 5 significant digits, without trailing zeros: `1234.6`, `0.833`, `1200`.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let mag = v.abs();
    let decimals = if mag == 0.0 { 0 } else { (4 - mag.log10().floor() as i32).clamp(0, 6) as usize };
    trim(format!("{v:.decimals$}"))
}

fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') { s[1..].to_owned() } else { s }
}

fn trim(s: String) -> String {
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
    if s == "-0" { "0".to_owned() } else { s }
}

/// `h:mm:ss.s` from the case's start.
fn clock(s: f64) -> String {
    if !s.is_finite() {
        return format!("{s}");
    }
    let tenths = (s.max(0.0) * 10.0).round() as u64;
    let (h, rest) = (tenths / 36_000, tenths % 36_000);
    format!("{h}:{:02}:{:02}.{}", rest / 600, rest % 600 / 10, rest % 10)
}

/// A duration in words: `42.0 s`, `12 min 05 s`, `3 h 20 min 00 s`, `7 d 0 h 00 min`.
fn duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return format!("{s} s");
    }
    if s < 60.0 {
        return format!("{s:.1} s");
    }
    let total = s.round() as u64;
    let (d, h, m, sec) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60);
    match (d, h) {
        (0, 0) => format!("{m} min {sec:02} s"),
        (0, _) => format!("{h} h {m:02} min {sec:02} s"),
        _ => format!("{d} d {h} h {m:02} min"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write as _;

    use super::*;
    use crate::analysis::{TrumpetCurve, TrumpetWindow};
    use crate::evidence::record::{
        BenchIdentity, MarkRecord, PlanIdentity, PumpEventRecord, RigBuild, SafeStateRecord, Span, StepRecord,
    };
    use crate::protocol::PumpIdentity;
    use crate::run::CheckOutcome;

    /// A 3000 s occlusion case at 500 µL/h: valve closed 1800–2500 s, OCCLUSION at 2495 s.
    fn occlusion_record() -> CaseRecord {
        CaseRecord {
            format: super::super::record::RECORD_FORMAT,
            rig: RigBuild { version: "0.1.0".into(), git_commit: "v0.1.0-42-gabcdef0-dirty".into() },
            host: "bench-pc-3".into(),
            operator: "j.doe".into(),
            started_utc: "2025-05-09T07:00:00Z".into(),
            ended_utc: "2025-05-09T07:50:12Z".into(),
            bench_time_s: 3000.0,
            wall_time_s: 3012.5,
            plan: PlanIdentity {
                id: "occlusion".into(),
                title: "Occlusion <b>& \"alarm\"</b> at 500 µL/h".into(),
                version: "3".into(),
                case: Some("fast".into()),
                params: BTreeMap::from([("rate".into(), "500".into())]),
                file: "plans/occlusion.yaml".into(),
                sha256: "a".repeat(64),
                covers: vec!["SRS-OCC-002".into(), "SRS-OCC-003".into(), "SRS-OCC-004".into()],
            },
            bench: BenchIdentity {
                name: "twin-ref".into(),
                file: "benches/twin.yaml".into(),
                sha256: "b".repeat(64),
                kind: "twin".into(),
                faults: vec!["late-occlusion".into()],
                test_line: crate::bench::config::TestLineSpec::default(),
                expired_calibration_allowed: false,
            },
            instruments: vec![Instrument {
                role: "flow".into(),
                model: "Sensirion SLI-0430".into(),
                serial_number: "FS-1234".into(),
                calibration_due: Some("2026-01-31".into()),
                calibration_expired: false,
                accuracy: Some("5 % of reading".into()),
            }],
            pump: Some(PumpIdentity {
                model: "IT-200".into(),
                serial: "SN0001".into(),
                fw: "1.4.2".into(),
                build: "deadbeef".into(),
                proto: 1,
            }),
            start_up: None,
            pump_at_start: None,
            left_over_cleared: Vec::new(),
            anomalies: Vec::new(),
            lost_events: Vec::new(),
            steps: vec![
                StepRecord { index: 0, label: "program 500 uL/h".into(), started_s: 0.0, finished_s: Some(1.2) },
                StepRecord { index: 1, label: "close valve".into(), started_s: 1800.0, finished_s: Some(1800.1) },
                StepRecord { index: 2, label: "wait for OCCLUSION".into(), started_s: 1800.1, finished_s: None },
            ],
            marks: vec![
                MarkRecord { name: "steady".into(), at_s: 600.0 },
                MarkRecord { name: "occluded".into(), at_s: 1800.0 },
            ],
            pump_events: vec![
                PumpEventRecord { at_s: 2495.0, kind: "ALARM".into(), what: "OCCLUSION".into() },
                PumpEventRecord { at_s: 2700.0, kind: "CLEAR".into(), what: "OCCLUSION".into() },
            ],
            valve_closed: vec![Span { from_s: 1800.0, to_s: Some(2500.0) }],
            pump_states: vec![
                PumpStateRecord { at_s: 1.0, state: "STOPPED".into(), basal_ul_h: 500.0 },
                PumpStateRecord { at_s: 2.0, state: "RUNNING".into(), basal_ul_h: 500.0 },
                PumpStateRecord { at_s: 2495.0, state: "ALARM".into(), basal_ul_h: 500.0 },
                PumpStateRecord { at_s: 2700.0, state: "RUNNING".into(), basal_ul_h: 500.0 },
            ],
            checks: vec![
                CheckOutcome {
                    id: "time-to-alarm".into(),
                    title: "OCCLUSION within 20 min".into(),
                    value: Some(695.0),
                    unit: Unit::Seconds,
                    uncertainty: Some(1.0),
                    low: None,
                    high: Some(1200.0),
                    drift: None,
                    decision: Decision::Pass,
                    verdict: Verdict::Pass,
                    detail: "695 s after `occluded`".into(),
                    verifies: vec!["SRS-OCC-002".into()],
                },
                CheckOutcome {
                    id: "bolus-after".into(),
                    title: "Released bolus <= 150 µL".into(),
                    value: Some(171.3),
                    unit: Unit::Microlitres,
                    uncertainty: Some(8.6),
                    low: None,
                    high: Some(150.0),
                    drift: None,
                    decision: Decision::Fail,
                    verdict: Verdict::Fail,
                    detail: "171.3 µL > 150 µL & rising".into(),
                    verifies: vec!["SRS-OCC-003".into()],
                },
            ],
            samples: 3000,
            verdict: Verdict::Fail,
            reason: Some("the pump said \"<nope>\"".into()),
            safe_state: SafeStateRecord {
                reached: true,
                pump_stopped: Some("ok".into()),
                valve_open: Some("ok".into()),
            },
            trumpet: vec![TrumpetCurve {
                rate_ul_h: 500.0,
                sample_period_s: 30.0,
                from_s: 600.0,
                to_s: 1800.0,
                overall_error_pct: -0.8,
                windows: [(2.0, 19, 6.1, -5.2), (5.0, 16, 3.9, -3.1), (11.0, 10, 2.7, -2.5), (19.0, 2, 2.2, -1.8)]
                    .into_iter()
                    .map(|(p, m, hi, lo)| TrumpetWindow {
                        window_s: p * 60.0,
                        positions: m,
                        ep_max_pct: hi,
                        ep_min_pct: lo,
                    })
                    .collect(),
            }],
            sampler: None,
        }
    }

    /// A samples.csv of the occlusion case, one row a second; `tail` is appended as is.
    fn occlusion_csv(tail: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut w = std::io::BufWriter::new(f.as_file_mut());
        writeln!(w, "time_s,flow_ul_h,volume_ul,valve_closed,pump_state,pressure_kpa").unwrap();
        let mut volume = 0.0;
        for i in 1..=3000 {
            let t = f64::from(i);
            let closed = (1800.0..2500.0).contains(&t);
            let flow = if t < 2.0 {
                0.0
            } else if closed {
                500.0 * (-(t - 1800.0) / 60.0).exp()
            } else if (2500.0..2510.0).contains(&t) {
                9000.0 // the bolus released when the valve opens
            } else {
                500.0 + 20.0 * (t / 7.0).sin()
            };
            volume += flow / 3600.0;
            let pressure = if t < 1.5 {
                String::new()
            } else if closed {
                format!("{:.3}", 20.0 + (t - 1800.0) * 0.3)
            } else {
                "20.000".into()
            };
            let state = if t < 2.0 { "STOPPED" } else { "RUNNING" };
            writeln!(w, "{t:.3},{flow:.3},{volume:.4},{},{state},{pressure}", u8::from(closed)).unwrap();
        }
        w.write_all(tail.as_bytes()).unwrap();
        drop(w);
        f
    }

    /// The text of `html` between its tags, with runs of whitespace joined.
    fn visible_text(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        let mut chars = html.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '<' => {
                    in_tag = true;
                    if chars.peek() != Some(&'/') {
                        out.push(' ');
                    }
                }
                '>' => in_tag = false,
                _ if !in_tag => out.push(c),
                _ => {}
            }
        }
        let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    }

    fn body(html: &str) -> &str {
        let start = html.find("<body>").expect("a body") + "<body>".len();
        &html[start..]
    }

    fn svgs(html: &str) -> Vec<&str> {
        html.match_indices("<svg").map(|(i, _)| &html[i..i + html[i..].find("</svg>").unwrap()]).collect()
    }

    #[test]
    fn the_pump_before_the_case_and_lost_events_are_shown() {
        use crate::protocol::{AlarmCode, PumpState, StatusReport};
        let mut record = occlusion_record();
        let status = StatusReport {
            state: PumpState::Stopped,
            reservoir_ul: 1500.0,
            delivered_ul: 0.0,
            basal_ul_h: 10.0,
            pressure_kpa: 0.0,
            pump_ms: 1234,
            alarms: vec![AlarmCode::ReservoirLow],
        };
        record.pump_at_start = Some(crate::run::startup::PumpSnapshot {
            id: record.pump.clone().unwrap(),
            status,
            alarms: vec![AlarmCode::ReservoirLow],
        });
        record.lost_events.push(crate::evidence::record::LostEventsRecord {
            at_s: 720.0,
            expected: 4,
            received: 6,
            resynced: Some(vec![AlarmCode::Occlusion]),
        });
        let plot = read_plot_data(occlusion_csv("").path(), 2000).unwrap();
        let text = visible_text(&render_report(&record, &plot));
        assert!(text.contains("The pump before the first step"), "{text}");
        assert!(text.contains("active alarms (ALARMS) RESERVOIR_LOW"), "{text}");
        assert!(
            text.contains("2 pump event(s) lost on the link (evseq 4 expected, 6 received); ALARMS re-read: OCCLUSION"),
            "{text}"
        );
    }

    #[test]
    fn the_sampler_timing_is_one_row_and_a_missed_deadline_stands_out() {
        use crate::realtime::{Percentiles, Scheduling};
        let mut record = occlusion_record();
        let plot = read_plot_data(occlusion_csv("").path(), 2000).unwrap();
        let text = visible_text(&render_report(&record, &plot));
        assert!(text.contains("No sampler statistics"), "{text}");
        let p = |p50_ms, p99_ms, max_ms| Some(Percentiles { count: 6000, p50_ms, p99_ms, max_ms });
        record.sampler = Some(crate::run::sampler::SamplerStats {
            scheduling: Scheduling { realtime: true, policy: "SCHED_FIFO priority 20".into() },
            period_s: 0.01,
            deadlines: 6000,
            failed_reads: 1,
            missed_deadlines: 2,
            wake_lateness: p(0.061, 0.128, 1.473),
            read_duration: p(0.287, 0.381, 3.656),
        });
        let html = render_report(&record, &plot);
        let text = visible_text(&html);
        assert!(
            text.contains("10 ms SCHED_FIFO priority 20 6000 2 1 0.061 / 0.128 / 1.473 ms 0.287 / 0.381 / 3.656 ms"),
            "{text}"
        );
        assert!(html.contains("<span class=\"bad\">2</span>"), "missed deadlines are marked");
    }

    #[test]
    fn occlusion_report_is_self_contained_and_shows_the_occlusion() {
        let csv = occlusion_csv("");
        let plot = read_plot_data(csv.path(), 2000).unwrap();
        assert_eq!(plot.samples, 3000);
        let html = render_report(&occlusion_record(), &plot);
        // For a look at it: `RIG_REPORT_HTML=/tmp/r.html cargo test --lib evidence::report`, then
        // scripts/screenshot-report.sh /tmp/r.html /tmp/r.png.
        if let Some(path) = std::env::var_os("RIG_REPORT_HTML") {
            std::fs::write(path, &html).unwrap();
        }

        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.to_ascii_lowercase().contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://"), "no URL at all");
        assert!(!html.contains(" src=") && !html.contains("<link") && !html.contains("url(http"));
        let charts = svgs(&html);
        assert!(charts.len() >= 2, "{}", charts.len());
        // Flow, volume, pressure and the trumpet curve.
        assert_eq!(charts.len(), 4);
        // Each time plot has the valve band, the marks and the alarm on its time axis.
        for svg in &charts[..3] {
            assert!(svg.contains(">valve closed</text>"), "band label");
            assert!(svg.contains(">OCCLUSION</text>"), "alarm marker label");
            assert!(svg.contains(">occluded</text>") && svg.contains(">steady</text>"), "mark labels");
            assert!(svg.contains(">cleared OCCLUSION</text>"));
            assert!(svg.contains("time (min)"), "a 50 min run is plotted in minutes");
        }
        assert!(charts[0].contains("programmed basal") && charts[1].contains("programmed volume"));
        assert!(charts[3].contains("Ep(max)") && charts[3].contains("Ep(min)"));

        // Summary first: no banner when calibration is in date.
        assert!(!html.contains("CALIBRATION EXPIRED"));
        let text = visible_text(body(&html));
        assert!(text.starts_with("FAIL occlusion[fast] — Occlusion <b>& \"alarm\"</b> at 500 µL/h"), "{text:.200}");
        assert!(text.contains("Stopped early: the pump said \"<nope>\""));
        assert!(text.contains("2 checks: 1 PASS, 1 FAIL"), "{text:.600}");
        assert!(text.contains("Bench time 50 min 00 s · wall time 50 min 13 s"), "{text:.600}");

        // Verdicts, coloured.
        assert!(html.contains("<span class=\"verdict big v-fail\">FAIL</span>"));
        assert!(html.contains("<span class=\"verdict v-pass\">PASS</span>"));
        // Checks with value ± uncertainty, limits and decision.
        assert!(text.contains("695 ± 1 s ≤ 1200 s pass PASS SRS-OCC-002"), "{text}");
        assert!(text.contains("171.3 ± 8.6 µL ≤ 150 µL fail FAIL SRS-OCC-003 171.3 µL > 150 µL & rising"));

        // Coverage rows: every id the plan covers, its title, and what verified it.
        let rows: Vec<&str> = html.match_indices("<tr class=\"coverage\">").map(|(i, _)| &html[i..]).collect();
        assert_eq!(rows.len(), 3);
        let row = |i: usize| visible_text(&rows[i][..rows[i].find("</tr>").unwrap()]);
        assert!(row(0).starts_with("SRS-OCC-002 Complete occlusion at 500 µL/h"), "{}", row(0));
        assert!(row(0).ends_with("time-to-alarm PASS"), "{}", row(0));
        assert!(row(1).ends_with("bolus-after FAIL"), "{}", row(1));
        assert!(row(2).ends_with("not verified in this case"), "{}", row(2));

        // Identity, trumpet table, steps, safe state, footer.
        assert!(text.contains("serial SN0001 firmware 1.4.2 build deadbeef"));
        assert!(html.contains("<span class=\"bad\">late-occlusion</span>"), "seeded faults in red");
        assert!(text.contains("Sensirion SLI-0430 FS-1234 2026-01-31 5 % of reading"));
        assert!(text.contains(&format!("plans/occlusion.yaml SHA-256 {}", "a".repeat(64))));
        assert!(text.contains("rig version 0.1.0 git commit v0.1.0-42-gabcdef0-dirty host bench-pc-3 operator j.doe"));
        assert!(text.contains("2 19 6.10 -5.20"), "trumpet table");
        assert!(text.contains("A, overall error (%) -0.80"));
        assert!(text.contains("2 wait for OCCLUSION 0:30:00.1 did not finish"));
        assert!(text.contains("MANIFEST.sha256; check with rig verify <folder> or sha256sum -c MANIFEST.sha256."));
    }

    #[test]
    fn record_text_is_escaped() {
        let mut record = occlusion_record();
        record.plan.case = Some("<i>x</i>".into());
        record.operator = "O'Brien & <Co>".into();
        let html = render_report(&record, &PlotData::default());
        assert!(html.contains("Occlusion &lt;b&gt;&amp; &quot;alarm&quot;&lt;/b&gt; at 500 µL/h"));
        assert!(!html.contains("<b>&"), "raw markup from the record");
        assert!(!html.contains("<i>x</i>") && html.contains("&lt;i&gt;x&lt;/i&gt;"));
        assert!(html.contains("O&apos;Brien &amp; &lt;Co&gt;"));
        assert!(html.contains("the pump said &quot;&lt;nope&gt;&quot;"));
        assert!(html.contains("171.3 µL &gt; 150 µL &amp; rising"));
        assert!(html.contains("Released bolus &lt;= 150 µL"));
        // With no samples the time plots still render (from the record alone), minus pressure.
        assert_eq!(svgs(&html).len(), 3);
        assert!(html.contains("The pump reported no pressure."));
    }

    #[test]
    fn expired_calibration_banner_is_the_first_text_of_the_body() {
        let mut record = occlusion_record();
        record.bench.expired_calibration_allowed = true;
        record.instruments[0].calibration_expired = true;
        record.instruments[0].calibration_due = Some("2024-12-31".into());
        let html = render_report(&record, &PlotData::default());
        let text = visible_text(body(&html));
        assert!(
            text.starts_with(
                "CALIBRATION EXPIRED — this run is not valid as evidence: Sensirion SLI-0430 FS-1234, due 2024-12-31"
            ),
            "{text:.300}"
        );
        assert!(body(&html).trim_start().starts_with("<div class=\"banner\""));
        assert!(html.contains("2024-12-31 — EXPIRED"));

        // Allowed, but no instrument flagged: still the banner.
        record.instruments[0].calibration_expired = false;
        let text = visible_text(body(&render_report(&record, &PlotData::default())));
        assert!(text.starts_with("CALIBRATION EXPIRED — this run is not valid as evidence: "), "{text:.300}");
        // Flagged but not allowed (should not happen): the banner too.
        record.bench.expired_calibration_allowed = false;
        record.instruments[0].calibration_expired = true;
        let text = visible_text(body(&render_report(&record, &PlotData::default())));
        assert!(text.starts_with("CALIBRATION EXPIRED"), "{text:.300}");
    }

    #[test]
    fn other_verdicts_and_long_runs() {
        let mut record = occlusion_record();
        record.verdict = Verdict::Inconclusive;
        record.bench_time_s = 7.0 * 86_400.0;
        record.pump = None;
        record.reason = None;
        let html = render_report(&record, &PlotData::default());
        assert!(html.contains("<span class=\"verdict big v-inconclusive\">INCONCLUSIVE</span>"));
        assert!(html.contains("time (h)"), "a week is plotted in hours");
        assert!(html.contains("no ID answer"));
        assert!(!html.contains("Stopped early"));
        assert!(visible_text(&html).contains("Bench time 7 d 0 h 00 min"));
        record.verdict = Verdict::Aborted;
        assert!(render_report(&record, &PlotData::default()).contains("v-aborted\">ABORTED</span>"));
    }

    #[test]
    fn programmed_basal_is_a_step_series_and_its_integral_the_programmed_volume() {
        let states = occlusion_record().pump_states;
        let flow = programmed_flow(&states, 3000.0);
        assert_eq!(
            flow,
            [
                (1.0, 0.0),
                (2.0, 0.0),
                (2.0, 500.0),
                (2495.0, 500.0),
                (2495.0, 0.0),
                (2700.0, 0.0),
                (2700.0, 500.0),
                (3000.0, 500.0)
            ]
        );
        let volume = programmed_volume(&flow);
        let last = volume.last().unwrap();
        assert_eq!(last.0, 3000.0);
        assert!((last.1 - 500.0 * (2493.0 + 300.0) / 3600.0).abs() < 1e-9, "{last:?}");
        assert!(volume.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }

    fn write_csv(rows: impl IntoIterator<Item = String>, tail: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut w = std::io::BufWriter::new(f.as_file_mut());
        writeln!(w, "time_s,flow_ul_h,volume_ul,valve_closed,pump_state,pressure_kpa").unwrap();
        for r in rows {
            writeln!(w, "{r}").unwrap();
        }
        w.write_all(tail.as_bytes()).unwrap();
        drop(w);
        f
    }

    #[test]
    fn decimation_bounds_the_points_and_keeps_a_one_sample_spike() {
        let n = 100_000;
        let csv = write_csv(
            (0..n).map(|i| {
                let flow = if i == 31_337 {
                    4000.0
                } else if i == 77_777 {
                    -300.0
                } else {
                    500.0 + f64::from(i % 7)
                };
                let pressure = if i < 10 { String::new() } else { format!("{:.3}", 20.0 + f64::from(i % 13)) };
                format!("{:.3},{flow:.3},{:.4},0,RUNNING,{pressure}", f64::from(i), f64::from(i) * 0.14)
            }),
            "",
        );
        for max in [5, 100, 1000, 2000] {
            let plot = read_plot_data(csv.path(), max).unwrap();
            assert_eq!(plot.samples, n as usize);
            for s in [&plot.flow, &plot.volume, &plot.pressure] {
                assert!(s.len() <= max, "{max}: {}", s.len());
                assert!(s.len() >= (max - 2) / 3 * 2, "{max}: buckets used: {}", s.len());
                assert!(s.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
                assert_eq!(s.last().unwrap().0, f64::from(n - 1), "last sample kept");
            }
            assert_eq!(plot.flow[0], (0.0, 500.0), "first sample kept");
            assert_eq!(plot.pressure[0].0, 10.0, "pressure starts at the first STATUS");
            assert!(plot.flow.contains(&(31_337.0, 4000.0)), "{max}: spike lost");
            assert!(plot.flow.contains(&(77_777.0, -300.0)), "{max}: dip lost");
        }
        // Short files are kept whole.
        let csv = write_csv((0..10).map(|i| format!("{i}.000,1.000,0.0000,0,,")), "");
        let plot = read_plot_data(csv.path(), 100).unwrap();
        assert_eq!((plot.flow.len(), plot.volume.len(), plot.pressure.len(), plot.samples), (10, 10, 0, 10));
        // A NaN flow is a gap that survives thinning.
        let csv = write_csv(
            (0..5000).map(|i| {
                let flow = if i == 2500 { "NaN".to_owned() } else { "1.000".to_owned() };
                format!("{i}.000,{flow},0.0000,0,RUNNING,1.000")
            }),
            "",
        );
        let plot = read_plot_data(csv.path(), 200).unwrap();
        assert!(plot.flow.len() <= 200);
        assert!(plot.flow.iter().any(|p| p.1.is_nan()));
    }

    #[test]
    fn a_truncated_last_line_is_tolerated() {
        for tail in ["3001.000,49", "3001.000,499.1,208.", "3001.0", "30", "3001.000,499.100,208.3000,0,RUNN"] {
            let csv = occlusion_csv(tail);
            let plot = read_plot_data(csv.path(), 100_000).unwrap();
            assert_eq!(plot.samples, 3000, "{tail:?}");
            assert_eq!(plot.flow.last().unwrap().0, 3000.0);
        }
        // A last line cut after its last complete field still counts.
        let csv = occlusion_csv("3001.000,499.100,208.3000,0,RUNNING,20.0");
        assert_eq!(read_plot_data(csv.path(), 100_000).unwrap().samples, 3001);
        // A header only (killed before the first sample), or nothing at all.
        let csv = write_csv([], "");
        assert_eq!(read_plot_data(csv.path(), 100).unwrap(), PlotData::default());
        let empty = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(read_plot_data(empty.path(), 100).unwrap(), PlotData::default());
    }

    #[test]
    fn a_malformed_line_is_an_error_naming_its_line() {
        let rows = (0..100).map(|i| {
            if i == 41 {
                "41.000,oops,0.0000,0,RUNNING,1.000".to_owned()
            } else {
                format!("{i}.000,1.000,0.0000,0,RUNNING,1.000")
            }
        });
        let csv = write_csv(rows, "");
        let err = read_plot_data(csv.path(), 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let msg = err.to_string();
        assert!(msg.contains("line 43"), "{msg}");
        assert!(msg.contains("flow_ul_h \"oops\" is not a number"), "{msg}");

        // A short line in the middle is not a truncation: only the last line may be cut.
        let csv = write_csv(["1.000,1.000".to_owned(), "2.000,1.000,0.0000,0,RUNNING,1.000".to_owned()], "");
        let msg = read_plot_data(csv.path(), 10).unwrap_err().to_string();
        assert!(msg.contains("line 2: 2 fields, the header has 6"), "{msg}");
        // A complete (newline-terminated) malformed last line is an error too.
        let csv = write_csv(["1.000,1.000".to_owned()], "");
        assert!(read_plot_data(csv.path(), 10).unwrap_err().to_string().contains("line 2"));
        // A header without the columns needed.
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "t,flow").unwrap();
        let msg = read_plot_data(f.path(), 10).unwrap_err().to_string();
        assert!(msg.contains("line 1") && msg.contains("time_s"), "{msg}");
    }

    #[test]
    fn the_flow_axis_starts_at_zero_unless_flows_are_really_negative() {
        let series = |points: Vec<(f64, f64)>| {
            vec![Series { name: "f".into(), points, color: FLOW_COLOR.into(), dashed: false }]
        };
        assert_eq!(flow_range(&series(vec![(0.0, -3.0), (1.0, 480.0), (2.0, 12_100.0)])), Some((0.0, 15_000.0)));
        assert_eq!(flow_range(&series(vec![(0.0, 480.0), (1.0, 520.0)])), Some((0.0, 600.0)));
        assert_eq!(flow_range(&series(vec![(0.0, -300.0), (1.0, 500.0)])), None);
        assert_eq!(flow_range(&series(vec![(0.0, 0.0), (1.0, f64::NAN)])), None);
        assert_eq!(flow_range(&series(vec![])), None);
    }

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(num(1234.5678), "1234.6");
        assert_eq!(num(0.833), "0.833");
        assert_eq!(num(1200.0), "1200");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(-0.00001), "-0.00001");
        assert_eq!(num(-1e-7), "0");
        assert_eq!(num(86_400.0), "86400");
        assert_eq!(duration(42.04), "42.0 s");
        assert_eq!(duration(725.0), "12 min 05 s");
        assert_eq!(duration(12_000.0), "3 h 20 min 00 s");
        assert_eq!(clock(1800.1), "0:30:00.1");
        assert_eq!(clock(90_061.0), "25:01:01.0");
    }
}
