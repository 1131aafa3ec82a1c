//! Small, dependency-free SVG charts for the HTML report.
//!
//! [`render`] draws time series: x is time (in whatever unit `x_label` says), the x axis spans the
//! data exactly. [`render_xy`] draws x/y curves such as the trumpet curve (x = observation window,
//! y = Ep(max) and Ep(min) in %): both axes are widened to nice tick values and every point is
//! marked. Both give a standalone `<svg xmlns=... viewBox=...>` that works inline in HTML or as a
//! file, with axes, 1-2-5 tick values, a grid, a legend, shaded [`Band`]s under the lines and
//! [`Marker`] lines on top, their labels staggered on rows so close markers stay readable. All
//! text is XML-escaped; the output is deterministic.
//!
//! A non-finite point (NaN, infinite) is a gap: the series' line is broken there rather than drawn
//! across it. Series longer than a few points per pixel are thinned with [`decimate`] (min/max per
//! bucket, so spikes stay visible).

use std::fmt::Write as _;

use super::{xml_attr, xml_text};

/// A chart. `x_range`/`y_range` fix an axis; `None` fits it to the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Size in CSS pixels (at least 240 × 160 is used).
    pub width: u32,
    pub height: u32,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
    pub markers: Vec<Marker>,
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
}

impl Default for Chart {
    fn default() -> Self {
        Self {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            width: 800,
            height: 320,
            series: Vec::new(),
            bands: Vec::new(),
            markers: Vec::new(),
            x_range: None,
            y_range: None,
        }
    }
}

/// One line. Points are drawn in the order given (sorted by x for a time series).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Any SVG/CSS colour, e.g. `#1f77b4` or `crimson`.
    pub color: String,
    pub dashed: bool,
}

/// A shaded vertical band from x = `from` to x = `to`, e.g. "valve closed".
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub label: String,
    pub color: String,
}

/// A vertical line at x = `at` with a label, e.g. a plan mark or an alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at: f64,
    pub label: String,
    pub color: String,
}

const MIN_WIDTH: u32 = 240;
const MIN_HEIGHT: u32 = 160;
/// Estimated advance of one character at the 11 px label font (generous, so labels do not collide).
const CHAR_W: f64 = 6.5;
const ROW_H: f64 = 13.0;
const LEGEND_ROW_H: f64 = 16.0;
const MAX_MARKER_ROWS: usize = 6;
const MAX_BAND_ROWS: usize = 3;
/// Labels longer than this are cut with an ellipsis on the chart; the full text is the tooltip.
const MAX_LABEL_CHARS: usize = 40;
/// Pixel coordinates are clamped to this, far outside any view, so wild values stay short numbers.
const MAX_PX: f64 = 1.0e6;
/// Above this many points per series, circles are not drawn in [`render_xy`].
const MAX_DOTS: usize = 500;
/// A white outline behind label text, so labels stay readable over lines and other labels' markers.
const HALO: &str = " stroke=\"white\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"";
/// Placeholder for the clip-path id; `<` never survives escaping, so no user text can contain it.
const CLIP_PLACEHOLDER: &str = "<clip>";

/// Renders a time-series chart: the x axis spans the data (or `x_range`) exactly.
pub fn render(chart: &Chart) -> String {
    render_chart(chart, XAxis::Exact)
}

/// Renders an x/y chart (e.g. the trumpet curve): like [`render`], but the x axis too is widened
/// to nice tick values, and each point is marked with a dot.
pub fn render_xy(chart: &Chart) -> String {
    render_chart(chart, XAxis::Nice)
}

/// Thins `points` to at most `max_points` (at least 2): the first and last points are kept, and
/// the points between are cut into buckets of consecutive points, each of which keeps its lowest
/// and highest y (in their original order), so spikes and extremes survive. A bucket holding a
/// non-finite point also keeps the first such point, so a gap stays a gap.
pub fn decimate(points: &[(f64, f64)], max_points: usize) -> Vec<(f64, f64)> {
    let max_points = max_points.max(2);
    let n = points.len();
    if n <= max_points {
        return points.to_vec();
    }
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let per_bucket = if points.iter().all(finite) { 2 } else { 3 };
    let buckets = (max_points - 2) / per_bucket;
    let mut out = Vec::with_capacity(max_points);
    out.push(points[0]);
    let interior = n - 2;
    for k in 0..buckets {
        let start = 1 + (k as u64 * interior as u64 / buckets as u64) as usize;
        let end = 1 + ((k as u64 + 1) * interior as u64 / buckets as u64) as usize;
        let mut lo: Option<usize> = None;
        let mut hi: Option<usize> = None;
        let mut gap: Option<usize> = None;
        for (i, p) in points.iter().enumerate().take(end).skip(start) {
            if !finite(p) {
                gap.get_or_insert(i);
                continue;
            }
            if lo.is_none_or(|j| p.1 < points[j].1) {
                lo = Some(i);
            }
            if hi.is_none_or(|j| p.1 > points[j].1) {
                hi = Some(i);
            }
        }
        let mut keep: Vec<usize> = [lo, hi, gap].into_iter().flatten().collect();
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|i| points[i]));
    }
    out.push(points[n - 1]);
    out
}

/// Tick values in `[lo, hi]` on a 1-2-5 step (…, 0.1, 0.2, 0.5, 1, 2, 5, 10, …), the finest step
/// giving at most `max_ticks` (at least 2) ticks. Empty if a bound is not finite; `[lo]` if
/// `lo == hi`.
pub fn nice_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if !(lo.is_finite() && hi.is_finite()) {
        return Vec::new();
    }
    if lo == hi {
        return vec![lo];
    }
    match choose_step(lo, hi, max_ticks, false) {
        Some(step) => {
            let (a, b) = step.index_range(lo, hi, false);
            (a..=b).map(|i| step.value(i)).collect()
        }
        None => vec![lo, hi],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum XAxis {
    /// The axis spans the data exactly (time series).
    Exact,
    /// The axis is widened to the enclosing nice ticks (x/y curves).
    Nice,
}

/// A 1-2-5 step: `m × 10^e`, with `m` ∈ {1, 2, 5}.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    m: i64,
    e: i32,
}

impl Step {
    /// `i × step`, computed so that decimal ticks come out as the nearest double (0.6, not
    /// 0.6000000000000001).
    fn value(self, i: i64) -> f64 {
        let n = (i * self.m) as f64;
        if self.e >= 0 { n * 10f64.powi(self.e) } else { n / 10f64.powi(-self.e) }
    }

    fn decimals(self) -> usize {
        if self.e < 0 { self.e.unsigned_abs() as usize } else { 0 }
    }

    /// Indices of the ticks inside `[lo, hi]`, or (`expand`) of the ticks enclosing it.
    fn index_range(self, lo: f64, hi: f64, expand: bool) -> (i64, i64) {
        let size = self.value(1);
        let (a, b) = (lo / size, hi / size);
        const EPS: f64 = 1e-9;
        if expand {
            ((a + EPS).floor() as i64, (b - EPS).ceil() as i64)
        } else {
            ((a - EPS).ceil() as i64, (b + EPS).floor() as i64)
        }
    }
}

fn choose_step(lo: f64, hi: f64, max_ticks: usize, expand: bool) -> Option<Step> {
    let max = max_ticks.max(2) as i64;
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return None;
    }
    let e0 = (span / max as f64).log10().floor() as i32 - 1;
    for e in e0..=e0 + 4 {
        if !(-300..=300).contains(&e) {
            continue;
        }
        for m in [1, 2, 5] {
            let step = Step { m, e };
            let size = step.value(1);
            // Beyond this the tick indices lose integer precision: no nice ticks to be had.
            if lo.abs().max(hi.abs()) / size > 1e15 {
                return None;
            }
            let (a, b) = step.index_range(lo, hi, expand);
            if b >= a && b - a < max {
                return Some(step);
            }
        }
    }
    None
}

fn tick_label(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    // No "-0" / "-0.0".
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') { s[1..].to_owned() } else { s }
}

/// One axis: its span, ticks and tick labels.
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    labels: Vec<String>,
}

impl Axis {
    fn new(lo: f64, hi: f64, max_ticks: usize, expand: bool) -> Self {
        let Some(step) = choose_step(lo, hi, max_ticks, expand) else {
            return Self { lo, hi, ticks: vec![lo, hi], labels: vec![format!("{lo}"), format!("{hi}")] };
        };
        let (a, b) = step.index_range(lo, hi, expand);
        let (lo, hi) = if expand { (step.value(a), step.value(b)) } else { (lo, hi) };
        let ticks: Vec<f64> = (a..=b).map(|i| step.value(i)).collect();
        let labels = ticks.iter().map(|&t| tick_label(t, step.decimals())).collect();
        Self { lo, hi, ticks, labels }
    }
}

/// A usable `(lo, hi)` from an optional range: finite and `lo < hi` (swapped if reversed).
fn valid_range(range: Option<(f64, f64)>) -> Option<(f64, f64)> {
    let (a, b) = range?;
    (a.is_finite() && b.is_finite() && a != b).then_some(if a < b { (a, b) } else { (b, a) })
}

fn extent(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Opens a degenerate range (all values equal) around its value.
fn widen((lo, hi): (f64, f64)) -> (f64, f64) {
    if lo < hi {
        (lo, hi)
    } else {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    }
}

/// A coordinate rounded to 0.1 px, without a trailing `.0`.
fn px(v: f64) -> String {
    let v = if v.is_finite() { v.clamp(-MAX_PX, MAX_PX) } else { 0.0 };
    let s = format!("{v:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s);
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
}

fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

/// `s`, cut to [`MAX_LABEL_CHARS`] with an ellipsis.
fn shorten(s: &str) -> String {
    if s.chars().count() <= MAX_LABEL_CHARS {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(MAX_LABEL_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

/// Places labels `(left, width)` on rows so that labels of one row do not overlap, using at most
/// `max_rows` rows (past that, the row whose last label ends first is shared). Returns each
/// label's row and the number of rows used.
fn assign_rows(labels: &[(f64, f64)], max_rows: usize) -> (Vec<usize>, usize) {
    const GAP: f64 = 6.0;
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| labels[a].0.total_cmp(&labels[b].0));
    let mut row_end: Vec<f64> = Vec::new();
    let mut rows = vec![0; labels.len()];
    for i in order {
        let (left, width) = labels[i];
        let row = match row_end.iter().position(|&end| end + GAP <= left) {
            Some(r) => r,
            None if row_end.len() < max_rows.max(1) => {
                row_end.push(f64::NEG_INFINITY);
                row_end.len() - 1
            }
            None => (0..row_end.len()).min_by(|&a, &b| row_end[a].total_cmp(&row_end[b])).unwrap_or(0),
        };
        row_end[row] = row_end[row].max(left + width);
        rows[i] = row;
    }
    (rows, row_end.len())
}

/// FNV-1a, for a clip-path id that is the same for the same chart and differs between charts.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn dash(dashed: bool) -> &'static str {
    if dashed { " stroke-dasharray=\"6 3\"" } else { "" }
}

fn render_chart(chart: &Chart, mode: XAxis) -> String {
    let w = f64::from(chart.width.max(MIN_WIDTH));
    let h = f64::from(chart.height.max(MIN_HEIGHT));
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();

    // Ranges. The x extent covers series, bands and markers; the y extent only visible points.
    let x_given = valid_range(chart.x_range);
    let (x_lo, x_hi) = widen(
        x_given
            .or_else(|| {
                let series_x = chart.series.iter().flat_map(|s| s.points.iter().filter(finite).map(|p| p.0));
                let bands_x = chart.bands.iter().flat_map(|b| [b.from, b.to]);
                extent(series_x.chain(bands_x).chain(chart.markers.iter().map(|m| m.at)))
            })
            .unwrap_or((0.0, 1.0)),
    );
    let y_given = valid_range(chart.y_range);
    let (y_lo, y_hi) = widen(
        y_given
            .or_else(|| {
                let visible = chart.series.iter().flat_map(|s| s.points.iter().filter(finite));
                extent(visible.filter(|p| (x_lo..=x_hi).contains(&p.0)).map(|p| p.1))
            })
            .unwrap_or((0.0, 1.0)),
    );
    let y_axis = Axis::new(y_lo, y_hi, ((h - 90.0) / 36.0).clamp(2.0, 10.0) as usize, y_given.is_none());

    // Horizontal layout.
    let y_tick_w = y_axis.labels.iter().map(|l| text_width(l)).fold(0.0, f64::max);
    let left = 8.0 + if chart.y_label.is_empty() { 0.0 } else { 18.0 } + y_tick_w + 8.0;
    let right = 24.0;
    let plot_w = (w - left - right).max(40.0);
    let x_axis =
        Axis::new(x_lo, x_hi, (plot_w / 80.0).clamp(2.0, 12.0) as usize, mode == XAxis::Nice && x_given.is_none());
    let sx = |x: f64| left + (x - x_axis.lo) / (x_axis.hi - x_axis.lo) * plot_w;
    let x_visible = |x: f64| x.is_finite() && x >= x_axis.lo && x <= x_axis.hi;

    // Legend entries, wrapped onto rows.
    let mut legend = Vec::new(); // (x, row, series index)
    let (mut lx, mut lrow) = (left, 0usize);
    for (i, s) in chart.series.iter().enumerate() {
        let entry_w = 28.0 + text_width(&shorten(&s.name));
        if lx > left && lx + entry_w > w - right {
            lx = left;
            lrow += 1;
        }
        legend.push((lx, lrow, i));
        lx += entry_w + 14.0;
    }
    let legend_rows = if legend.is_empty() { 0 } else { lrow + 1 };

    // Marker labels, staggered on rows above the plot.
    let markers: Vec<(&Marker, f64, String)> =
        chart.markers.iter().filter(|m| x_visible(m.at)).map(|m| (m, sx(m.at), shorten(&m.label))).collect();
    let marker_boxes: Vec<(f64, f64)> = markers
        .iter()
        .map(|(_, x, label)| {
            let lw = text_width(label) + 4.0;
            ((x - lw / 2.0).clamp(0.0, (w - lw).max(0.0)), lw)
        })
        .collect();
    let (marker_rows, n_marker_rows) = assign_rows(&marker_boxes, MAX_MARKER_ROWS);

    // Vertical layout.
    let title_h = if chart.title.is_empty() { 0.0 } else { 22.0 };
    let legend_top = 6.0 + title_h;
    let top = legend_top + legend_rows as f64 * LEGEND_ROW_H + n_marker_rows as f64 * ROW_H + 8.0;
    let bottom = if chart.x_label.is_empty() { 26.0 } else { 42.0 };
    let plot_h = (h - top - bottom).max(40.0);
    let h = top + plot_h + bottom;
    let plot_bottom = top + plot_h;
    let plot_right = left + plot_w;
    let sy = |y: f64| plot_bottom - (y - y_axis.lo) / (y_axis.hi - y_axis.lo) * plot_h;
    let clip = format!(" clip-path=\"url(#{CLIP_PLACEHOLDER})\"");

    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
         font-family=\"sans-serif\" font-size=\"11\" role=\"img\" aria-label=\"{}\">",
        xml_attr(&chart.title),
        w = px(w),
        h = px(h)
    );
    let _ = writeln!(o, "<title>{}</title>", xml_text(&chart.title));
    let _ = writeln!(
        o,
        "<defs><clipPath id=\"{CLIP_PLACEHOLDER}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath></defs>",
        px(left),
        px(top),
        px(plot_w),
        px(plot_h)
    );
    let _ = writeln!(o, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    if !chart.title.is_empty() {
        let _ = writeln!(
            o,
            "<text class=\"title\" x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{}</text>",
            px(w / 2.0),
            xml_text(&chart.title)
        );
    }

    // Bands, under everything else in the plot.
    let bands: Vec<(&Band, f64, f64)> = chart
        .bands
        .iter()
        .filter_map(|b| {
            let (a, z) = if b.from <= b.to { (b.from, b.to) } else { (b.to, b.from) };
            let (a, z) = (a.max(x_axis.lo), z.min(x_axis.hi));
            (a.is_finite() && z.is_finite() && a <= z).then(|| (b, sx(a), sx(z)))
        })
        .collect();
    let band_boxes: Vec<(f64, f64)> = bands
        .iter()
        .map(|(b, x0, _)| {
            let lw = text_width(&shorten(&b.label)) + 4.0;
            ((x0 + 2.0).min(plot_right - lw).max(left), lw)
        })
        .collect();
    let (band_rows, _) = assign_rows(&band_boxes, MAX_BAND_ROWS);
    let _ = writeln!(o, "<g class=\"bands\">");
    for (i, (band, x0, x1)) in bands.iter().enumerate() {
        let _ = writeln!(
            o,
            "<g class=\"band\"><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"0.18\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"{}\"{HALO}>{}</text></g>",
            xml_text(&band.label),
            px(*x0),
            px(top),
            px((x1 - x0).max(1.0)),
            px(plot_h),
            xml_attr(&band.color),
            px(band_boxes[i].0 + 2.0),
            px(top + 12.0 + band_rows[i] as f64 * ROW_H),
            xml_attr(&band.color),
            xml_text(&shorten(&band.label))
        );
    }
    let _ = writeln!(o, "</g>");

    // Grid, ticks and tick labels.
    let _ = writeln!(o, "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">");
    for &t in &y_axis.ticks {
        let _ =
            writeln!(o, "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>", px(left), px(plot_right), y = px(sy(t)));
    }
    for &t in &x_axis.ticks {
        let _ =
            writeln!(o, "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>", px(top), px(plot_bottom), x = px(sx(t)));
    }
    let _ = writeln!(o, "</g>");
    let _ = writeln!(o, "<g class=\"ticks\" fill=\"#333\">");
    for (&t, label) in y_axis.ticks.iter().zip(&y_axis.labels) {
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            px(left - 6.0),
            px(sy(t) + 4.0),
            xml_text(label)
        );
    }
    for (&t, label) in x_axis.ticks.iter().zip(&x_axis.labels) {
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            px(sx(t)),
            px(plot_bottom + 15.0),
            xml_text(label)
        );
    }
    let _ = writeln!(o, "</g>");
    let _ = writeln!(
        o,
        "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#666\"/>",
        px(left),
        px(top),
        px(plot_w),
        px(plot_h)
    );

    // Series: one polyline per unbroken run of finite points.
    let max_points = ((plot_w * 4.0) as usize).max(2000);
    for s in &chart.series {
        let points = decimate(&s.points, max_points);
        let _ = writeln!(
            o,
            "<g class=\"series\"{clip} fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" stroke-linejoin=\"round\" stroke-linecap=\"round\"{}>\
             <title>{}</title>",
            xml_attr(&s.color),
            dash(s.dashed),
            xml_text(&s.name)
        );
        for run in points.split(|p| !(p.0.is_finite() && p.1.is_finite())).filter(|r| !r.is_empty()) {
            let coords: Vec<String> = run.iter().map(|&(x, y)| format!("{},{}", px(sx(x)), px(sy(y)))).collect();
            let _ = writeln!(o, "<polyline points=\"{}\"/>", coords.join(" "));
        }
        if mode == XAxis::Nice && points.len() <= MAX_DOTS {
            for &(x, y) in points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()) {
                let _ = writeln!(
                    o,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{}\" stroke=\"none\"/>",
                    px(sx(x)),
                    px(sy(y)),
                    xml_attr(&s.color)
                );
            }
        }
        let _ = writeln!(o, "</g>");
    }

    // Markers, on top: the line runs from the plot bottom up to its label's row.
    let label_base = |row: usize| top - 6.0 - row as f64 * ROW_H;
    let _ = writeln!(o, "<g class=\"markers\">");
    for (i, (marker, x, label)) in markers.iter().enumerate() {
        let y_label = label_base(marker_rows[i]);
        let (bx, bw) = marker_boxes[i];
        let _ = writeln!(
            o,
            "<g class=\"marker\"><title>{}</title><line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1\" \
             stroke-dasharray=\"4 2\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\"{HALO}>{}</text></g>",
            xml_text(&marker.label),
            px(plot_bottom),
            px(y_label + 3.0),
            xml_attr(&marker.color),
            px(bx + bw / 2.0),
            px(y_label),
            xml_attr(&marker.color),
            xml_text(label),
            x = px(*x)
        );
    }
    let _ = writeln!(o, "</g>");

    // Legend.
    let _ = writeln!(o, "<g class=\"legend\">");
    for &(x, row, i) in &legend {
        let s = &chart.series[i];
        let y = legend_top + 12.0 + row as f64 * LEGEND_ROW_H;
        let _ = writeln!(
            o,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"2\"{}/><text x=\"{}\" y=\"{}\">{}</text>",
            px(x),
            px(x + 22.0),
            xml_attr(&s.color),
            dash(s.dashed),
            px(x + 26.0),
            px(y + 4.0),
            xml_text(&shorten(&s.name)),
            y = px(y - 0.5)
        );
    }
    let _ = writeln!(o, "</g>");

    // Axis labels.
    if !chart.x_label.is_empty() {
        let _ = writeln!(
            o,
            "<text class=\"x-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            px(left + plot_w / 2.0),
            px(plot_bottom + 33.0),
            xml_text(&chart.x_label)
        );
    }
    if !chart.y_label.is_empty() {
        let (x, y) = (px(20.0), px(top + plot_h / 2.0));
        let _ = writeln!(
            o,
            "<text class=\"y-label\" x=\"{x}\" y=\"{y}\" text-anchor=\"middle\" transform=\"rotate(-90 {x} {y})\">{}</text>",
            xml_text(&chart.y_label)
        );
    }
    o.push_str("</svg>\n");

    let id = format!("rig-chart-{:016x}", fnv1a(&o));
    o.replace(CLIP_PLACEHOLDER, &id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roxmltree::{Document, Node};

    const NASTY: &str = "<&>\"' \u{1}x";
    const NASTY_PARSED: &str = "<&>\"' \u{fffd}x";

    fn chart() -> Chart {
        Chart {
            title: "Occlusion test: flow & pressure".into(),
            x_label: "time (s)".into(),
            y_label: "flow (µL/h)".into(),
            width: 800,
            height: 320,
            series: vec![
                Series {
                    name: "measured".into(),
                    points: (0..=600).map(|i| (f64::from(i), 10.0 + (f64::from(i) / 30.0).sin())).collect(),
                    color: "#1f77b4".into(),
                    dashed: false,
                },
                Series {
                    name: "programmed".into(),
                    points: vec![(0.0, 10.0), (600.0, 10.0)],
                    color: "#888".into(),
                    dashed: true,
                },
            ],
            bands: vec![Band { from: 120.0, to: 300.0, label: "valve closed".into(), color: "#d62728".into() }],
            markers: vec![
                Marker { at: 125.0, label: "mark: occlusion".into(), color: "#333".into() },
                Marker { at: 128.0, label: "alarm OCCLUSION".into(), color: "#d62728".into() },
                Marker { at: 130.0, label: "alarm cleared".into(), color: "#2ca02c".into() },
            ],
            x_range: None,
            y_range: None,
        }
    }

    fn elements<'a, 'i>(doc: &'a Document<'i>, tag: &str) -> Vec<Node<'a, 'i>> {
        doc.descendants().filter(|n| n.has_tag_name(tag)).collect()
    }

    fn with_class<'a, 'i>(doc: &'a Document<'i>, class: &str) -> Vec<Node<'a, 'i>> {
        doc.descendants().filter(|n| n.attribute("class") == Some(class)).collect()
    }

    /// The text of the `<text>` children of `node`.
    fn texts<'a>(node: Node<'a, '_>) -> Vec<&'a str> {
        node.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect()
    }

    fn coords(polyline: Node) -> Vec<(f64, f64)> {
        polyline
            .attribute("points")
            .unwrap()
            .split(' ')
            .map(|pair| {
                let (x, y) = pair.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn output_is_a_standalone_svg_with_one_polyline_per_series() {
        let svg = render(&chart());
        let doc = Document::parse(&svg).expect("well-formed XML");
        let root = doc.root_element();
        assert!(root.has_tag_name(("http://www.w3.org/2000/svg", "svg")));
        assert_eq!(root.attribute("viewBox"), Some("0 0 800 320"));
        let series = with_class(&doc, "series");
        assert_eq!(series.len(), 2);
        for g in &series {
            assert_eq!(g.children().filter(|n| n.has_tag_name("polyline")).count(), 1);
        }
        assert_eq!(elements(&doc, "polyline").len(), 2);
        assert_eq!(series[1].attribute("stroke-dasharray"), Some("6 3"));
        assert_eq!(series[0].attribute("stroke-dasharray"), None);
        // Coordinates rounded to 0.1 px, inside the viewBox.
        let points = series[0].children().find(|n| n.has_tag_name("polyline")).unwrap().attribute("points").unwrap();
        for number in points.split([' ', ',']) {
            let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
            assert!(decimals <= 1, "{number}");
            let v: f64 = number.parse().unwrap();
            assert!((0.0..=800.0).contains(&v), "{v}");
        }
        // The clip path the series refer to exists.
        let clip_id = elements(&doc, "clipPath")[0].attribute("id").unwrap();
        assert!(clip_id.starts_with("rig-chart-"));
        assert_eq!(series[0].attribute("clip-path"), Some(format!("url(#{clip_id})").as_str()));
        // Title, axis labels and legend.
        assert_eq!(elements(&doc, "title")[0].text(), Some("Occlusion test: flow & pressure"));
        assert_eq!(texts(with_class(&doc, "x-label")[0]), ["time (s)"]);
        assert_eq!(texts(with_class(&doc, "y-label")[0]), ["flow (µL/h)"]);
        assert_eq!(texts(with_class(&doc, "legend")[0]), ["measured", "programmed"]);
        // The time axis spans the data exactly: first point at the plot's left edge.
        let frame = with_class(&doc, "frame")[0];
        let left: f64 = frame.attribute("x").unwrap().parse().unwrap();
        let first = coords(series[0].children().find(|n| n.has_tag_name("polyline")).unwrap())[0];
        assert!((first.0 - left).abs() < 0.11, "{first:?} vs {left}");
    }

    #[test]
    fn bands_are_under_the_lines_and_markers_are_labelled_without_collisions() {
        let svg = render(&chart());
        let doc = Document::parse(&svg).unwrap();
        let order: Vec<&str> = doc.root_element().children().filter_map(|n| n.attribute("class")).collect();
        let pos = |c: &str| order.iter().position(|&o| o == c).unwrap();
        assert!(pos("bands") < pos("series"), "{order:?}");
        assert!(pos("series") < pos("markers"), "{order:?}");

        let band = with_class(&doc, "band");
        assert_eq!(band.len(), 1);
        assert_eq!(texts(band[0]), ["valve closed"]);

        let markers = with_class(&doc, "marker");
        assert_eq!(markers.len(), 3);
        // Markers 3 and 5 s apart on a 600 s axis are a few px apart: their labels must be on
        // different rows (different y) or not overlap horizontally.
        let boxes: Vec<(f64, f64, f64)> = markers
            .iter()
            .map(|m| {
                let t = m.children().find(|n| n.has_tag_name("text")).unwrap();
                let x: f64 = t.attribute("x").unwrap().parse().unwrap();
                let y: f64 = t.attribute("y").unwrap().parse().unwrap();
                (x, y, text_width(t.text().unwrap()))
            })
            .collect();
        for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                let (a, b) = (boxes[i], boxes[j]);
                let overlap_x = (a.0 - b.0).abs() < (a.2 + b.2) / 2.0;
                assert!(!(overlap_x && a.1 == b.1), "labels {i} and {j} collide: {a:?} {b:?}");
            }
        }
        // Every marker label is above the plot.
        let top: f64 = with_class(&doc, "frame")[0].attribute("y").unwrap().parse().unwrap();
        assert!(boxes.iter().all(|b| b.1 < top));
    }

    #[test]
    fn all_text_is_escaped() {
        let mut c = chart();
        c.title = NASTY.into();
        c.x_label = NASTY.into();
        c.y_label = NASTY.into();
        c.series[0].name = NASTY.into();
        c.series[0].color = "red\" onload=\"alert(1)".into();
        c.bands[0].label = NASTY.into();
        c.markers[0].label = NASTY.into();
        for svg in [render(&c), render_xy(&c)] {
            assert!(!svg.contains('\u{1}'));
            let doc = Document::parse(&svg).expect("escaped output is well-formed");
            assert_eq!(doc.root_element().attribute("onload"), None);
            assert!(doc.descendants().all(|n| n.attribute("onload").is_none()));
            assert_eq!(with_class(&doc, "series")[0].attribute("stroke"), Some("red\" onload=\"alert(1)"));
            assert_eq!(elements(&doc, "title")[0].text(), Some(NASTY_PARSED));
            assert_eq!(texts(with_class(&doc, "title")[0]), [NASTY_PARSED]);
            assert_eq!(texts(with_class(&doc, "x-label")[0]), [NASTY_PARSED]);
            assert_eq!(texts(with_class(&doc, "y-label")[0]), [NASTY_PARSED]);
            assert_eq!(texts(with_class(&doc, "legend")[0])[0], NASTY_PARSED);
            assert_eq!(texts(with_class(&doc, "band")[0]), [NASTY_PARSED]);
            assert!(with_class(&doc, "marker").iter().any(|m| texts(*m) == [NASTY_PARSED]));
        }
    }

    #[test]
    fn trumpet_curve_renders_with_nice_x_axis_and_dots() {
        let windows = [2.0, 5.0, 11.0, 19.0, 31.0];
        let chart = Chart {
            title: "Trumpet curve".into(),
            x_label: "observation window (min)".into(),
            y_label: "error (%)".into(),
            series: vec![
                Series {
                    name: "Ep(max)".into(),
                    points: windows.iter().zip([6.1, 3.9, 2.7, 2.2, 1.9]).map(|(&x, y)| (x, y)).collect(),
                    color: "#d62728".into(),
                    dashed: false,
                },
                Series {
                    name: "Ep(min)".into(),
                    points: windows.iter().zip([-5.2, -3.1, -2.5, -1.8, -1.6]).map(|(&x, y)| (x, y)).collect(),
                    color: "#1f77b4".into(),
                    dashed: false,
                },
            ],
            ..Chart::default()
        };
        let svg = render_xy(&chart);
        let doc = Document::parse(&svg).unwrap();
        assert_eq!(elements(&doc, "polyline").len(), 2);
        assert_eq!(elements(&doc, "circle").len(), 10);
        let ticks = texts(with_class(&doc, "ticks")[0]);
        // y widened to nice values around -5.2..6.1; x widened to start at 0.
        assert!(ticks.contains(&"-6") || ticks.contains(&"-10"), "{ticks:?}");
        assert!(ticks.contains(&"0"), "{ticks:?}");
        let xs: Vec<f64> = with_class(&doc, "ticks")[0]
            .children()
            .filter(|n| n.attribute("text-anchor") == Some("middle"))
            .map(|n| n.text().unwrap().parse().unwrap())
            .collect();
        assert_eq!(xs.first(), Some(&0.0), "{xs:?}");
        assert!(*xs.last().unwrap() >= 31.0, "{xs:?}");
    }

    #[test]
    fn gaps_break_the_line_and_fixed_ranges_are_respected() {
        let c = Chart {
            series: vec![Series {
                name: "flow".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN), (3.0, 2.0), (4.0, 500.0)],
                color: "black".into(),
                dashed: false,
            }],
            markers: vec![Marker { at: 99.0, label: "outside".into(), color: "red".into() }],
            x_range: Some((0.0, 4.0)),
            y_range: Some((0.0, 3.0)),
            ..Chart::default()
        };
        let svg = render(&c);
        let doc = Document::parse(&svg).unwrap();
        assert_eq!(elements(&doc, "polyline").len(), 2, "NaN splits the series in two runs");
        assert!(with_class(&doc, "marker").is_empty(), "a marker outside the x range is not drawn");
        let ticks = texts(with_class(&doc, "ticks")[0]);
        assert!(ticks.contains(&"3") && !ticks.contains(&"500"), "{ticks:?}");
    }

    #[test]
    fn empty_and_degenerate_charts_still_render() {
        for c in [
            Chart::default(),
            Chart { width: 1, height: 1, ..Chart::default() },
            Chart {
                series: vec![Series {
                    name: "one".into(),
                    points: vec![(5.0, 5.0)],
                    color: "blue".into(),
                    dashed: false,
                }],
                ..Chart::default()
            },
        ] {
            for svg in [render(&c), render_xy(&c)] {
                Document::parse(&svg).unwrap();
                assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            }
        }
    }

    #[test]
    fn decimate_keeps_extremes_first_and_last_and_bounds_the_count() {
        let mut points: Vec<(f64, f64)> = (0..100_000).map(|i| (f64::from(i), (f64::from(i) * 0.01).sin())).collect();
        points[31_337].1 = 42.0; // one-sample spike
        points[77_777].1 = -17.0; // one-sample dip
        for max in [2, 3, 10, 101, 1000, 4000] {
            let d = decimate(&points, max);
            assert!(d.len() <= max, "{max}: {}", d.len());
            assert_eq!(d.first(), points.first());
            assert_eq!(d.last(), points.last());
            assert!(d.windows(2).all(|w| w[0].0 < w[1].0), "order kept");
            if max >= 6 {
                assert!(d.contains(&(31_337.0, 42.0)), "{max}: spike lost");
                assert!(d.contains(&(77_777.0, -17.0)), "{max}: dip lost");
            }
        }
        let d = decimate(&points, 1000);
        assert!(d.len() >= 990, "buckets are used: {}", d.len());
        // Short input is returned unchanged.
        assert_eq!(decimate(&points[..5], 10), points[..5].to_vec());
        assert_eq!(decimate(&[], 10), vec![]);
        // A gap survives decimation.
        points[50_000].1 = f64::NAN;
        let d = decimate(&points, 1000);
        assert!(d.len() <= 1000);
        assert!(d.iter().any(|p| p.1.is_nan()), "gap lost");
    }

    #[test]
    fn nice_ticks_use_1_2_5_steps() {
        assert_eq!(nice_ticks(0.0, 1.0, 6), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(0.0, 1.0, 11), [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
        assert_eq!(nice_ticks(0.0, 86_400.0, 6), [0.0, 20_000.0, 40_000.0, 60_000.0, 80_000.0]);
        assert_eq!(
            nice_ticks(0.0, 86_400.0, 10),
            [0.0, 10_000.0, 20_000.0, 30_000.0, 40_000.0, 50_000.0, 60_000.0, 70_000.0, 80_000.0]
        );
        assert_eq!(nice_ticks(-100.0, 50.0, 6), [-100.0, -50.0, 0.0, 50.0]);
        assert_eq!(nice_ticks(-100.0, 50.0, 8), [-100.0, -80.0, -60.0, -40.0, -20.0, 0.0, 20.0, 40.0]);
        assert_eq!(nice_ticks(50.0, -100.0, 6), [-100.0, -50.0, 0.0, 50.0], "reversed bounds");
        assert_eq!(nice_ticks(0.001, 0.0042, 5), [0.001, 0.002, 0.003, 0.004]);
        assert_eq!(nice_ticks(3.0, 3.0, 5), [3.0]);
        assert!(nice_ticks(0.0, f64::NAN, 5).is_empty());
        for (lo, hi) in [(0.0, 1.0), (0.0, 86_400.0), (-100.0, 50.0), (-0.37, 12.9), (1e-6, 3e-6), (1e9, 1e9 + 7.0)] {
            for max in 2..12 {
                let t = nice_ticks(lo, hi, max);
                assert!(!t.is_empty() && t.len() <= max, "{lo}..{hi} max {max}: {t:?}");
                assert!(t.iter().all(|&v| v >= lo - 1e-9 * hi.abs().max(1.0) && v <= hi + 1e-9 * hi.abs().max(1.0)));
            }
        }
        assert_eq!(tick_label(-0.0, 1), "0.0");
        assert_eq!(tick_label(0.6000000000000001, 1), "0.6");
        // A widened axis encloses the data on tick values.
        let axis = Axis::new(-5.2, 6.1, 6, true);
        assert_eq!((axis.lo, axis.hi), (-10.0, 10.0));
        assert_eq!(axis.labels, ["-10", "-5", "0", "5", "10"]);
    }

    #[test]
    fn marker_label_rows_stagger_close_labels() {
        // Three 60 px labels whose centres are 4 px apart: three rows.
        let (rows, n) = assign_rows(&[(100.0, 60.0), (104.0, 60.0), (108.0, 60.0)], 6);
        assert_eq!((rows, n), (vec![0, 1, 2], 3));
        // Far apart labels share the first row.
        let (rows, n) = assign_rows(&[(0.0, 60.0), (200.0, 60.0)], 6);
        assert_eq!((rows, n), (vec![0, 0], 1));
        // More close labels than rows: rows are reused, never exceeded.
        let boxes: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 60.0)).collect();
        let (rows, n) = assign_rows(&boxes, 3);
        assert_eq!(n, 3);
        assert!(rows.iter().all(|&r| r < 3));
    }

    #[test]
    fn output_is_deterministic_and_clip_ids_differ_between_charts() {
        let a = render(&chart());
        assert_eq!(a, render(&chart()));
        let mut other = chart();
        other.title = "another".into();
        let b = render(&other);
        let id = |s: &str| {
            let doc = Document::parse(s).unwrap();
            elements(&doc, "clipPath")[0].attribute("id").unwrap().to_owned()
        };
        assert_ne!(id(&a), id(&b));
    }
}
