//! Small, dependency-free SVG charts for the HTML report.
//!
//! - [`render_timeline`] draws a case against time: stacked [`Panel`]s (flow, volume,
//!   pressure, …) sharing one time axis, shaded [`Band`]s (the valve closed) across them,
//!   [`Marker`] lines (plan marks) through everything with their labels above, and event
//!   [`Lane`]s under the time axis (one per alarm code: spans from raised to cleared).
//! - [`render_xy`] draws x/y curves such as the trumpet curve: both axes widened to nice tick
//!   values, every point marked.
//!
//! Both give a standalone `<svg xmlns=... viewBox=...>` that works inline in HTML or as a file.
//! Every `<text>` carries its own position, anchor, size and weight, and its box is
//! [`text_box`] from the same width estimate ([`text_width`], the advance widths of Arial, which
//! Liberation Sans and Helvetica share) the layout uses to keep labels apart and inside the
//! view: labels never overlap each other or leave the SVG (a test checks every shipped plan's
//! report). A label that finds no free place is left out rather than drawn over another; the
//! report lists every event in a table anyway. All text is XML-escaped; the output is
//! deterministic.
//!
//! A non-finite point (NaN, infinite) is a gap: the series' line is broken there. Long series
//! are thinned with [`super::thin::thin`] (min/max per bucket, so spikes stay visible). Points
//! outside a panel's y range are clipped at its edge; a [`Note`] can say what was cut.

use std::fmt::Write as _;

use super::thin::thin;
use super::{xml_attr, xml_text};

/// The font every chart's text is set in: Arial's metrics, which [`text_width`] assumes.
pub const FONT_FAMILY: &str = "Liberation Sans, Arial, Helvetica, sans-serif";
/// Font size of labels, ticks and legends, px.
pub const LABEL_FONT: f64 = 11.0;
const HEADER_FONT: f64 = 12.0;
const TITLE_FONT: f64 = 13.0;

/// One line. Points are drawn in the order given (sorted by x for a time series).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Any SVG/CSS colour, e.g. `#1f77b4` or `crimson`.
    pub color: String,
    pub dashed: bool,
}

/// A shaded vertical band from x = `from` to x = `to` across every panel, e.g. "valve closed".
/// Its label is a legend entry, not text in the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub label: String,
    pub color: String,
}

/// A vertical line at x = `at` through the panels and lanes, labelled above them (a plan mark).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at: f64,
    pub label: String,
    pub color: String,
}

/// A short text at the top of a panel at x = `at`, e.g. the peak of a clipped spike.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub at: f64,
    pub text: String,
    pub color: String,
}

/// One plot of a [`Timeline`]: its series against the shared time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// What the y axis shows, with its unit: `flow (µL/h)`. Written above the plot, with the legend.
    pub title: String,
    /// Height of the plot area, px.
    pub height: u32,
    pub series: Vec<Series>,
    /// A fixed y range (points beyond it are clipped; ticks are the round values inside it);
    /// `None` fits the axis to the data, widened to round values.
    pub y_range: Option<(f64, f64)>,
    pub notes: Vec<Note>,
}

/// A span of a lane, e.g. an alarm from raised to cleared.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneSpan {
    pub from: f64,
    pub to: f64,
    /// The tooltip.
    pub title: String,
}

/// An instant on a lane, e.g. a refused bolus request or a boot.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneTick {
    pub at: f64,
    pub color: String,
    /// The tooltip.
    pub title: String,
}

/// One row of events under the time axis, named in the left margin.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub label: String,
    pub color: String,
    pub spans: Vec<LaneSpan>,
    pub ticks: Vec<LaneTick>,
}

/// A case against time: panels over one time axis, then event lanes.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// The SVG's title (its tooltip and accessible name; not drawn).
    pub title: String,
    /// The time axis' name and unit: `time (h)`.
    pub x_label: String,
    pub width: u32,
    pub x_range: (f64, f64),
    pub panels: Vec<Panel>,
    pub bands: Vec<Band>,
    pub markers: Vec<Marker>,
    pub lanes: Vec<Lane>,
}

/// An x/y chart. `x_range`/`y_range` fix an axis; `None` fits it to the data, widened to ticks.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Size in CSS pixels (at least 240 × 160 is used).
    pub width: u32,
    pub height: u32,
    pub series: Vec<Series>,
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
            x_range: None,
            y_range: None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Text metrics and label boxes.

/// Advance widths of Arial (and Liberation Sans, Helvetica), 1/1000 em, for ' ' to '~'.
const REGULAR: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556,
    556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334,
    260, 334, 584,
];
const BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611,
    556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389,
    280, 389, 584,
];
/// Added to every estimate, for fonts a little wider than Arial.
const WIDTH_MARGIN: f64 = 1.05;
/// Ascent and descent of the font, em.
const ASCENT: f64 = 0.905;
const DESCENT: f64 = 0.212;
/// The white outline drawn behind label text (px each side), included in its box.
const HALO_PX: f64 = 1.5;
const HALO: &str = " stroke=\"white\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"";

fn advance(c: char, bold: bool) -> u16 {
    match c {
        ' '..='~' => (if bold { BOLD } else { REGULAR }).get(c as usize - 32).copied().unwrap_or(556),
        'µ' => 576,
        '±' | '≤' | '≥' | '×' => 584,
        '–' => 556,
        '·' => 278,
        '°' => 400,
        // Symbols and anything unknown: a full em, so an estimate errs on the wide side.
        _ => 1000,
    }
}

/// The estimated width of `s` set in [`FONT_FAMILY`] at `font_size` px, a little generous.
pub fn text_width(s: &str, font_size: f64, bold: bool) -> f64 {
    s.chars().map(|c| f64::from(advance(c, bold))).sum::<f64>() * font_size / 1000.0 * WIDTH_MARGIN
}

/// How a `<text>` is anchored at its x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    /// From a `text-anchor` attribute (absent: start).
    pub fn from_attribute(value: Option<&str>) -> Anchor {
        match value {
            Some("middle") => Anchor::Middle,
            Some("end") => Anchor::End,
            _ => Anchor::Start,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// The box a text occupies on the chart, its outline included.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelBox {
    pub text: String,
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl LabelBox {
    pub fn intersects(&self, other: &LabelBox) -> bool {
        self.x0 < other.x1 && other.x0 < self.x1 && self.y0 < other.y1 && other.y0 < self.y1
    }

    /// Inside `[0, width] × [0, height]`.
    pub fn inside(&self, width: f64, height: f64) -> bool {
        self.x0 >= 0.0 && self.y0 >= 0.0 && self.x1 <= width && self.y1 <= height
    }
}

/// The box of `text` drawn at baseline (`x`, `y`) with `anchor`, as every chart here draws its
/// text (with the white outline).
pub fn text_box(text: &str, x: f64, y: f64, anchor: Anchor, font_size: f64, bold: bool) -> LabelBox {
    let w = text_width(text, font_size, bold);
    let x0 = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - w / 2.0,
        Anchor::End => x - w,
    };
    LabelBox {
        text: text.to_owned(),
        x0: x0 - HALO_PX,
        y0: y - ASCENT * font_size - HALO_PX,
        x1: x0 + w + HALO_PX,
        y1: y + DESCENT * font_size + HALO_PX,
    }
}

/// One text to draw.
struct Text {
    x: f64,
    y: f64,
    anchor: Anchor,
    size: f64,
    bold: bool,
    fill: String,
    class: &'static str,
    content: String,
    /// Left out when it would overlap a label placed before it or leave the view (tick labels,
    /// notes, marker labels), rather than drawn over another.
    optional: bool,
}

impl Text {
    fn new(class: &'static str, x: f64, y: f64, anchor: Anchor, content: impl Into<String>) -> Self {
        let optional = matches!(class, "tick" | "note" | "marker");
        Self {
            x,
            y,
            anchor,
            size: LABEL_FONT,
            bold: false,
            fill: "#222".into(),
            class,
            content: content.into(),
            optional,
        }
    }

    fn bounds(&self) -> LabelBox {
        text_box(&self.content, self.x, self.y, self.anchor, self.size, self.bold)
    }

    fn size(mut self, size: f64, bold: bool) -> Self {
        self.size = size;
        self.bold = bold;
        self
    }

    fn fill(mut self, color: &str) -> Self {
        self.fill = color.to_owned();
        self
    }

    fn write(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "<text class=\"{}\" x=\"{}\" y=\"{}\" text-anchor=\"{}\" font-size=\"{}\" font-weight=\"{}\" fill=\"{}\"{HALO}>{}</text>",
            self.class,
            px(self.x),
            px(self.y),
            self.anchor.as_str(),
            px(self.size),
            if self.bold { "bold" } else { "normal" },
            xml_attr(&self.fill),
            xml_text(&self.content)
        );
    }
}

/// Writes `texts`: the required ones, then each optional one that keeps clear of those already
/// placed and of the view's edges.
fn write_texts(o: &mut String, texts: &[Text], w: f64, h: f64) {
    let mut placed: Vec<LabelBox> = Vec::with_capacity(texts.len());
    let _ = writeln!(o, "<g class=\"labels\">");
    for optional in [false, true] {
        for t in texts.iter().filter(|t| t.optional == optional) {
            let b = t.bounds();
            if optional && (!b.inside(w, h) || placed.iter().any(|p| p.intersects(&b))) {
                continue;
            }
            placed.push(b);
            t.write(o);
        }
    }
    let _ = writeln!(o, "</g>");
}

/// Labels `(left, width)` on rows so that labels of one row keep `gap` apart, using at most
/// `max_rows` rows. Returns each label's row, `None` for one that fits no row.
fn assign_rows(labels: &[(f64, f64)], max_rows: usize, gap: f64) -> Vec<Option<usize>> {
    let mut order: Vec<(usize, (f64, f64))> = labels.iter().copied().enumerate().collect();
    order.sort_by(|(_, a), (_, b)| a.0.total_cmp(&b.0));
    let mut row_end: Vec<f64> = Vec::new();
    let mut rows = vec![None; labels.len()];
    for (i, (left, width)) in order {
        let rows_used = row_end.len();
        let row = match row_end.iter_mut().enumerate().find(|(_, end)| **end + gap <= left) {
            Some((r, end)) => {
                *end = left + width;
                Some(r)
            }
            None if rows_used < max_rows => {
                row_end.push(left + width);
                Some(row_end.len() - 1)
            }
            None => None,
        };
        if let Some(slot) = rows.get_mut(i) {
            *slot = row;
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Axes.

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

/// The smallest 1-2-5 tick value at or above `v` on the step that gives `max_ticks` ticks from 0
/// to `v`: a round top for an axis from 0 (`v` itself if there is none).
pub fn nice_ceiling(v: f64, max_ticks: usize) -> f64 {
    match nice_ticks(0.0, v, max_ticks)[..] {
        [a, b, ..] if b > a && v > 0.0 => (v / (b - a) - 1e-9).ceil() * (b - a),
        _ => v,
    }
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
            return Self { lo, hi, ticks: vec![lo, hi], labels: vec![short(lo), short(hi)] };
        };
        let (a, b) = step.index_range(lo, hi, expand);
        let (lo, hi) = if expand { (step.value(a), step.value(b)) } else { (lo, hi) };
        let ticks: Vec<f64> = (a..=b).map(|i| step.value(i)).collect();
        let labels = ticks.iter().map(|&t| tick_label(t, step.decimals())).collect();
        Self { lo, hi, ticks, labels }
    }

    fn widest_label(&self) -> f64 {
        self.labels.iter().map(|l| text_width(l, LABEL_FONT, false)).fold(0.0, f64::max)
    }
}

/// An x tick label is centred on its tick, but starts at the axis' left end and ends at its right
/// end, so it clears the lowest y tick label and stays in the view.
fn x_tick_anchor(axis: &Axis, t: f64) -> Anchor {
    let eps = 1e-9 * (axis.hi - axis.lo).abs();
    if (t - axis.lo).abs() <= eps {
        Anchor::Start
    } else if (t - axis.hi).abs() <= eps {
        Anchor::End
    } else {
        Anchor::Middle
    }
}

/// A bound that is not on a tick, briefly.
fn short(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_owned() } else { s.to_owned() }
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

/// Pixel coordinates are clamped to this, far outside any view, so wild values stay short numbers.
const MAX_PX: f64 = 1.0e6;
/// Above this many points per series, circles are not drawn in [`render_xy`].
const MAX_DOTS: usize = 500;
/// Placeholder for clip-path ids; `<` never survives escaping, so no user text can contain it.
const CLIP_PLACEHOLDER: &str = "<clip>";

/// FNV-1a, for clip-path ids that are the same for the same chart and differ between charts.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn dash(dashed: bool) -> &'static str {
    if dashed { " stroke-dasharray=\"6 3\"" } else { "" }
}

fn svg_open(o: &mut String, w: f64, h: f64, title: &str) {
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
         font-family=\"{FONT_FAMILY}\" font-size=\"{}\" role=\"img\" aria-label=\"{}\">",
        px(LABEL_FONT),
        xml_attr(title),
        w = px(w),
        h = px(h)
    );
    let _ = writeln!(o, "<title>{}</title>", xml_text(title));
    let _ = writeln!(o, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
}

/// Ends the SVG and gives its clip paths ids unique to its content.
fn svg_close(mut o: String) -> String {
    o.push_str("</svg>\n");
    let id = format!("rig-chart-{:016x}", fnv1a(&o));
    o.replace(CLIP_PLACEHOLDER, &id)
}

/// One polyline per unbroken run of finite points, thinned to a few points per pixel.
fn write_series(o: &mut String, s: &Series, clip: &str, plot_w: f64, to_px: impl Fn((f64, f64)) -> (f64, f64)) {
    let points = thin(&s.points, ((plot_w * 4.0) as usize).max(2000));
    let _ = writeln!(
        o,
        "<g class=\"series\" clip-path=\"url(#{clip})\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" \
         stroke-linejoin=\"round\" stroke-linecap=\"round\"{}><title>{}</title>",
        xml_attr(&s.color),
        dash(s.dashed),
        xml_text(&s.name)
    );
    for run in points.split(|p| !(p.0.is_finite() && p.1.is_finite())).filter(|r| !r.is_empty()) {
        let coords: Vec<String> = run
            .iter()
            .map(|&p| {
                let (x, y) = to_px(p);
                format!("{},{}", px(x), px(y))
            })
            .collect();
        let _ = writeln!(o, "<polyline points=\"{}\"/>", coords.join(" "));
    }
    let _ = writeln!(o, "</g>");
}

/// A legend: entries `(name, colour, kind)` laid out from `x_first` on rows of `row_h` from
/// baseline `y0`, wrapping to `x_wrap` before `x_max`; a name too long for a row is cut with an
/// ellipsis (its series keeps the whole name as its tooltip). Returns the texts, the swatches'
/// SVG and the rows used.
fn legend(
    entries: &[(String, String, Swatch)],
    (x_first, x_wrap, x_max): (f64, f64, f64),
    y0: f64,
    row_h: f64,
) -> (Vec<Text>, String, usize) {
    const SWATCH: f64 = 26.0;
    let (mut x, mut row) = (x_first, 0usize);
    let (mut texts, mut swatches) = (Vec::new(), String::new());
    for (name, color, kind) in entries {
        let name = fit(name, x_max - x_wrap - SWATCH);
        let entry_w = SWATCH + text_width(&name, LABEL_FONT, false);
        if x > x_wrap && x + entry_w > x_max {
            x = x_wrap;
            row += 1;
        }
        let y = y0 + row as f64 * row_h;
        match kind {
            Swatch::Line { dashed } => {
                let _ = writeln!(
                    swatches,
                    "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"2\"{}/>",
                    px(x),
                    px(x + 20.0),
                    xml_attr(color),
                    dash(*dashed),
                    y = px(y - 4.0)
                );
            }
            Swatch::Area => {
                let _ = writeln!(
                    swatches,
                    "<rect x=\"{}\" y=\"{}\" width=\"20\" height=\"9\" fill=\"{}\" fill-opacity=\"0.25\"/>",
                    px(x),
                    px(y - 8.5),
                    xml_attr(color)
                );
            }
        }
        texts.push(Text::new("legend", x + 24.0, y, Anchor::Start, name));
        x += entry_w + 14.0;
    }
    (texts, swatches, if entries.is_empty() { 0 } else { row + 1 })
}

/// `s`, cut with an ellipsis to at most `width` px at the label font.
fn fit(s: &str, width: f64) -> String {
    if text_width(s, LABEL_FONT, false) <= width {
        return s.to_owned();
    }
    let mut cut: String = s.to_owned();
    while !cut.is_empty() && text_width(&format!("{cut}…"), LABEL_FONT, false) > width {
        cut.pop();
    }
    format!("{}…", cut.trim_end())
}

#[derive(Debug, Clone, Copy)]
enum Swatch {
    Line { dashed: bool },
    Area,
}

// ---------------------------------------------------------------------------------------------
// The timeline.

const MIN_WIDTH: u32 = 320;
const MARKER_ROW_H: f64 = 16.0;
const MAX_MARKER_ROWS: usize = 3;
const HEADER_ROW_H: f64 = 17.0;
const PANEL_GAP: f64 = 10.0;
const TICK_ROW_H: f64 = 18.0;
const LANE_H: f64 = 16.0;
const NOTE_ROW_H: f64 = 16.0;
const RIGHT_MARGIN: f64 = 28.0;
const LABEL_GAP: f64 = 6.0;
/// From the y tick labels to the plot: wider than [`LABEL_GAP`], so the first x tick label
/// below clears the lowest y tick label.
const Y_TICK_GAP: f64 = 9.0;

/// Renders a [`Timeline`].
pub fn render_timeline(fig: &Timeline) -> String {
    let w = f64::from(fig.width.max(MIN_WIDTH));
    let (x_lo, x_hi) = widen(valid_range(Some(fig.x_range)).unwrap_or((0.0, 1.0)));
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();

    // Y axes, then the left margin that fits their tick labels, the lane names and the axis name.
    let y_axes: Vec<Axis> = fig
        .panels
        .iter()
        .map(|p| {
            let h = f64::from(p.height.max(40));
            let max_ticks = (h / 24.0).clamp(3.0, 8.0) as usize;
            match valid_range(p.y_range) {
                Some((lo, hi)) => Axis::new(lo, hi, max_ticks, false),
                None => {
                    let visible = p.series.iter().flat_map(|s| s.points.iter().filter(finite));
                    let (lo, hi) = widen(
                        extent(visible.filter(|q| (x_lo..=x_hi).contains(&q.0)).map(|q| q.1)).unwrap_or((0.0, 1.0)),
                    );
                    Axis::new(lo, hi, max_ticks, true)
                }
            }
        })
        .collect();
    let margin_texts =
        y_axes.iter().map(Axis::widest_label).chain(fig.lanes.iter().map(|l| text_width(&l.label, LABEL_FONT, false)));
    let left = (8.0 + margin_texts.fold(0.0, f64::max) + Y_TICK_GAP).ceil();
    let plot_w = (w - left - RIGHT_MARGIN).max(60.0);
    let plot_right = left + plot_w;
    let sx = |x: f64| left + (x - x_lo) / (x_hi - x_lo) * plot_w;
    let x_visible = |x: f64| x.is_finite() && x >= x_lo && x <= x_hi;
    let widest_x = text_width(&format!("{:.1}", x_hi.abs().max(x_lo.abs())), LABEL_FONT, false);
    let x_axis = Axis::new(x_lo, x_hi, (plot_w / (widest_x + 30.0)).clamp(2.0, 14.0) as usize, false);

    let mut texts: Vec<Text> = Vec::new();
    let mut body = String::new(); // lines and shapes, drawn under all text

    // Marker labels, on rows above the first panel; one that fits no row is left out.
    let markers: Vec<&Marker> = fig.markers.iter().filter(|m| x_visible(m.at)).collect();
    let marker_boxes: Vec<(f64, f64)> = markers
        .iter()
        .map(|m| {
            let lw = text_width(&m.label, LABEL_FONT, false) + 2.0 * HALO_PX;
            ((sx(m.at) - lw / 2.0).clamp(1.0, (w - lw - 1.0).max(1.0)), lw)
        })
        .collect();
    let marker_rows = assign_rows(&marker_boxes, MAX_MARKER_ROWS, LABEL_GAP);
    let n_marker_rows = marker_rows.iter().flatten().map(|r| r + 1).max().unwrap_or(0);
    let mut y = 4.0 + n_marker_rows as f64 * MARKER_ROW_H;
    for ((m, row), (bx, bw)) in markers.iter().zip(&marker_rows).zip(marker_boxes.iter().copied()) {
        if let Some(row) = *row {
            let baseline = y - 4.0 - row as f64 * MARKER_ROW_H;
            texts.push(Text::new("marker", bx + bw / 2.0, baseline, Anchor::Middle, m.label.clone()).fill(&m.color));
        }
    }
    let figure_top = y;

    // Panels: a header (title and legend), then the plot.
    let mut clip_defs = String::new();
    let mut plot_rects: Vec<(f64, f64)> = Vec::new(); // (top, bottom) of each plot
    let band_legend: Vec<(String, String, Swatch)> = {
        let mut seen: Vec<(String, String, Swatch)> = Vec::new();
        for b in &fig.bands {
            if !seen.iter().any(|(l, _, _)| *l == b.label) {
                seen.push((b.label.clone(), b.color.clone(), Swatch::Area));
            }
        }
        seen
    };
    for (i, (panel, y_axis)) in fig.panels.iter().zip(&y_axes).enumerate() {
        let title_w = text_width(&panel.title, HEADER_FONT, true);
        let mut entries: Vec<(String, String, Swatch)> =
            panel.series.iter().map(|s| (s.name.clone(), s.color.clone(), Swatch::Line { dashed: s.dashed })).collect();
        if i == 0 {
            entries.extend(band_legend.iter().cloned());
        }
        let baseline = y + 13.0;
        texts
            .push(Text::new("panel-title", left, baseline, Anchor::Start, panel.title.clone()).size(HEADER_FONT, true));
        let (legend_texts, swatches, rows) =
            legend(&entries, (left + title_w + 18.0, left, plot_right), baseline, HEADER_ROW_H);
        texts.extend(legend_texts);
        body.push_str(&swatches);
        let top = y + rows.max(1) as f64 * HEADER_ROW_H + 4.0;
        let plot_h = f64::from(panel.height.max(40));
        let bottom = top + plot_h;
        plot_rects.push((top, bottom));
        let clip = format!("{CLIP_PLACEHOLDER}-{i}");
        let _ = writeln!(
            clip_defs,
            "<clipPath id=\"{clip}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath>",
            px(left),
            px(top),
            px(plot_w),
            px(plot_h)
        );
        let sy = |v: f64| bottom - (v - y_axis.lo) / (y_axis.hi - y_axis.lo) * plot_h;

        // Bands, grid, frame, series.
        for b in &fig.bands {
            let (a, z) = if b.from <= b.to { (b.from, b.to) } else { (b.to, b.from) };
            let (a, z) = (a.max(x_lo), z.min(x_hi));
            if a.is_finite() && z.is_finite() && a <= z {
                let _ = writeln!(
                    body,
                    "<rect class=\"band\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" fill-opacity=\"0.18\"><title>{}</title></rect>",
                    px(sx(a)),
                    px(top),
                    px((sx(z) - sx(a)).max(1.0)),
                    px(plot_h),
                    xml_attr(&b.color),
                    xml_text(&b.label)
                );
            }
        }
        let _ = writeln!(body, "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">");
        for &t in &y_axis.ticks {
            let _ = writeln!(
                body,
                "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
                px(left),
                px(plot_right),
                y = px(sy(t))
            );
        }
        for &t in &x_axis.ticks {
            let _ =
                writeln!(body, "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>", px(top), px(bottom), x = px(sx(t)));
        }
        let _ = writeln!(body, "</g>");
        for (&t, label) in y_axis.ticks.iter().zip(&y_axis.labels) {
            texts.push(Text::new("tick", left - Y_TICK_GAP, sy(t) + 4.0, Anchor::End, label.clone()));
        }
        let _ = writeln!(
            body,
            "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#666\"/>",
            px(left),
            px(top),
            px(plot_w),
            px(plot_h)
        );
        for s in &panel.series {
            write_series(&mut body, s, &clip, plot_w, |(x, v)| (sx(x), sy(v)));
        }

        // Notes at the top of the plot, on rows that keep them apart.
        let notes: Vec<(&Note, f64, f64)> = panel
            .notes
            .iter()
            .filter(|n| x_visible(n.at))
            .map(|n| {
                let tw = text_width(&n.text, LABEL_FONT, false);
                (n, (sx(n.at) + 3.0).clamp(left + 3.0, (plot_right - tw - 3.0).max(left + 3.0)), tw)
            })
            .collect();
        let max_rows = ((plot_h / 2.0) / NOTE_ROW_H).floor().max(1.0) as usize;
        let rows = assign_rows(&notes.iter().map(|(_, x, tw)| (*x, *tw)).collect::<Vec<_>>(), max_rows, LABEL_GAP);
        for ((note, x, _), row) in notes.iter().zip(rows) {
            if let Some(r) = row {
                let baseline = top + 13.0 + r as f64 * NOTE_ROW_H;
                texts.push(Text::new("note", *x, baseline, Anchor::Start, note.text.clone()).fill(&note.color));
            }
        }
        y = bottom + PANEL_GAP;
    }
    let panels_bottom = plot_rects.last().map_or(figure_top, |r| r.1);

    // The time axis: tick labels under the last panel, its name in the left margin.
    let tick_baseline = panels_bottom + 14.0;
    for (&t, label) in x_axis.ticks.iter().zip(&x_axis.labels) {
        texts.push(Text::new("tick", sx(t), tick_baseline, x_tick_anchor(&x_axis, t), label.clone()));
    }
    let mut axis_bottom = panels_bottom + TICK_ROW_H;
    if !fig.x_label.is_empty() {
        texts.push(Text::new(
            "x-label",
            left + plot_w / 2.0,
            tick_baseline + 16.0,
            Anchor::Middle,
            fig.x_label.clone(),
        ));
        axis_bottom += 16.0;
    }

    // Event lanes under the time axis, over the time grid.
    let lanes_top = axis_bottom + 2.0;
    let lanes_bottom = lanes_top + fig.lanes.len() as f64 * LANE_H;
    if !fig.lanes.is_empty() {
        let _ = writeln!(body, "<g class=\"grid\" stroke=\"#eeeeee\" stroke-width=\"1\">");
        for &t in &x_axis.ticks {
            let _ = writeln!(
                body,
                "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>",
                px(lanes_top),
                px(lanes_bottom),
                x = px(sx(t))
            );
        }
        let _ = writeln!(body, "</g>");
    }
    for (i, lane) in fig.lanes.iter().enumerate() {
        let top = lanes_top + i as f64 * LANE_H;
        let mid = top + LANE_H / 2.0;
        let _ = writeln!(
            body,
            "<g class=\"lane\"><title>{}</title><line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#ddd\"/>",
            xml_text(&lane.label),
            px(left),
            px(plot_right),
            y = px(mid)
        );
        for s in &lane.spans {
            let (a, z) = if s.from <= s.to { (s.from, s.to) } else { (s.to, s.from) };
            let (a, z) = (a.max(x_lo), z.min(x_hi));
            if a.is_finite() && z.is_finite() && a <= z {
                let _ = writeln!(
                    body,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"10\" fill=\"{}\"><title>{}</title></rect>",
                    px(sx(a)),
                    px(mid - 5.0),
                    px((sx(z) - sx(a)).max(2.0)),
                    xml_attr(&lane.color),
                    xml_text(&s.title)
                );
            }
        }
        for t in lane.ticks.iter().filter(|t| x_visible(t.at)) {
            let _ = writeln!(
                body,
                "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\"><title>{}</title></line>",
                px(mid - 6.0),
                px(mid + 6.0),
                xml_attr(&t.color),
                xml_text(&t.title),
                x = px(sx(t.at))
            );
        }
        let _ = writeln!(body, "</g>");
        texts.push(
            Text::new("lane-label", left - LABEL_GAP, mid + 4.0, Anchor::End, lane.label.clone()).fill(&lane.color),
        );
    }
    let h = lanes_bottom.max(axis_bottom) + 6.0;

    // Marker lines, through the panels and the lanes.
    let mut marker_lines = String::new();
    for m in &markers {
        let _ = writeln!(
            marker_lines,
            "<line class=\"marker\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1\" \
             stroke-dasharray=\"4 2\"><title>{}</title></line>",
            px(figure_top - 2.0),
            px(lanes_bottom.max(panels_bottom)),
            xml_attr(&m.color),
            xml_text(&m.label),
            x = px(sx(m.at))
        );
    }

    let mut o = String::with_capacity(body.len() + 4096);
    svg_open(&mut o, w, h, &fig.title);
    let _ = writeln!(o, "<defs>{clip_defs}</defs>");
    o.push_str(&body);
    o.push_str(&marker_lines);
    write_texts(&mut o, &texts, w, h);
    svg_close(o)
}

// ---------------------------------------------------------------------------------------------
// x/y charts.

/// Renders an x/y chart (e.g. the trumpet curve): both axes widened to nice tick values (unless
/// fixed), each point marked with a dot.
pub fn render_xy(chart: &Chart) -> String {
    let w = f64::from(chart.width.max(240));
    let h = f64::from(chart.height.max(160));
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let points = || chart.series.iter().flat_map(|s| s.points.iter().filter(finite));
    let x_given = valid_range(chart.x_range);
    let (x_lo, x_hi) = widen(x_given.or_else(|| extent(points().map(|p| p.0))).unwrap_or((0.0, 1.0)));
    let y_given = valid_range(chart.y_range);
    let (y_lo, y_hi) = widen(y_given.or_else(|| extent(points().map(|p| p.1))).unwrap_or((0.0, 1.0)));

    let mut texts: Vec<Text> = Vec::new();
    let mut body = String::new();
    let mut top = 6.0;
    if !chart.title.is_empty() {
        texts.push(Text::new("title", w / 2.0, top + 13.0, Anchor::Middle, chart.title.clone()).size(TITLE_FONT, true));
        top += 20.0;
    }
    let entries: Vec<(String, String, Swatch)> =
        chart.series.iter().map(|s| (s.name.clone(), s.color.clone(), Swatch::Line { dashed: s.dashed })).collect();
    let y_axis_guess = Axis::new(y_lo, y_hi, 6, y_given.is_none());
    let left = (8.0 + y_axis_guess.widest_label() + Y_TICK_GAP).ceil();
    let (legend_texts, swatches, rows) = legend(&entries, (left, left, w - 12.0), top + 12.0, 16.0);
    texts.extend(legend_texts);
    body.push_str(&swatches);
    top += rows as f64 * 16.0;
    if !chart.y_label.is_empty() {
        texts.push(Text::new("y-label", left, top + 13.0, Anchor::Start, chart.y_label.clone()));
        top += 18.0;
    }
    top += 6.0;
    let bottom_margin = if chart.x_label.is_empty() { 24.0 } else { 40.0 };
    let plot_h = (h - top - bottom_margin).max(40.0);
    let y_axis = Axis::new(y_lo, y_hi, (plot_h / 32.0).clamp(2.0, 10.0) as usize, y_given.is_none());
    let left = left.max((8.0 + y_axis.widest_label() + Y_TICK_GAP).ceil());
    let plot_w = (w - left - RIGHT_MARGIN).max(40.0);
    let x_axis = Axis::new(x_lo, x_hi, (plot_w / 70.0).clamp(2.0, 12.0) as usize, x_given.is_none());
    let plot_bottom = top + plot_h;
    let plot_right = left + plot_w;
    let h = plot_bottom + bottom_margin;
    let sx = |x: f64| left + (x - x_axis.lo) / (x_axis.hi - x_axis.lo) * plot_w;
    let sy = |y: f64| plot_bottom - (y - y_axis.lo) / (y_axis.hi - y_axis.lo) * plot_h;

    let _ = writeln!(body, "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">");
    for &t in &y_axis.ticks {
        let _ = writeln!(
            body,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>",
            px(left),
            px(plot_right),
            y = px(sy(t))
        );
    }
    for &t in &x_axis.ticks {
        let _ = writeln!(
            body,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>",
            px(top),
            px(plot_bottom),
            x = px(sx(t))
        );
    }
    let _ = writeln!(body, "</g>");
    for (&t, label) in y_axis.ticks.iter().zip(&y_axis.labels) {
        texts.push(Text::new("tick", left - Y_TICK_GAP, sy(t) + 4.0, Anchor::End, label.clone()));
    }
    for (&t, label) in x_axis.ticks.iter().zip(&x_axis.labels) {
        texts.push(Text::new("tick", sx(t), plot_bottom + 15.0, x_tick_anchor(&x_axis, t), label.clone()));
    }
    if !chart.x_label.is_empty() {
        texts.push(Text::new(
            "x-label",
            left + plot_w / 2.0,
            plot_bottom + 32.0,
            Anchor::Middle,
            chart.x_label.clone(),
        ));
    }
    let _ = writeln!(
        body,
        "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#666\"/>",
        px(left),
        px(top),
        px(plot_w),
        px(plot_h)
    );
    let clip = CLIP_PLACEHOLDER.to_owned();
    for s in &chart.series {
        write_series(&mut body, s, &clip, plot_w, |(x, y)| (sx(x), sy(y)));
        let dots: Vec<&(f64, f64)> = s.points.iter().filter(finite).collect();
        if dots.len() <= MAX_DOTS {
            let _ = writeln!(body, "<g class=\"dots\" clip-path=\"url(#{clip})\" fill=\"{}\">", xml_attr(&s.color));
            for &&(x, y) in &dots {
                let _ = writeln!(body, "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\"/>", px(sx(x)), px(sy(y)));
            }
            let _ = writeln!(body, "</g>");
        }
    }

    let mut o = String::with_capacity(body.len() + 2048);
    svg_open(&mut o, w, h, &chart.title);
    let _ = writeln!(
        o,
        "<defs><clipPath id=\"{clip}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath></defs>",
        px(left - 3.0),
        px(top - 3.0),
        px(plot_w + 6.0),
        px(plot_h + 6.0)
    );
    o.push_str(&body);
    write_texts(&mut o, &texts, w, h);
    svg_close(o)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use roxmltree::{Document, Node};

    const NASTY: &str = "<&>\"' \u{1}x";
    const NASTY_PARSED: &str = "<&>\"' \u{fffd}x";

    /// Every `<text>` of an SVG as the box [`text_box`] gives it, read back from the output.
    pub(crate) fn boxes_of(svg: &str) -> (Vec<LabelBox>, f64, f64) {
        let doc = Document::parse(svg).expect("well-formed SVG");
        let root = doc.root_element();
        let view: Vec<f64> =
            root.attribute("viewBox").unwrap().split(' ').map(|v| v.parse().unwrap()).collect::<Vec<_>>();
        let boxes = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|t| {
                let num = |a: &str| t.attribute(a).unwrap().parse::<f64>().unwrap();
                assert!(t.attribute("transform").is_none(), "rotated text");
                text_box(
                    t.text().unwrap_or(""),
                    num("x"),
                    num("y"),
                    Anchor::from_attribute(t.attribute("text-anchor")),
                    num("font-size"),
                    t.attribute("font-weight") == Some("bold"),
                )
            })
            .collect();
        (boxes, view[2], view[3])
    }

    /// Panics naming the first two labels that overlap, or one that leaves the view.
    pub(crate) fn assert_labels_clear(svg: &str, what: &str) {
        let (boxes, w, h) = boxes_of(svg);
        for (i, a) in boxes.iter().enumerate() {
            assert!(a.inside(w, h), "{what}: label {:?} leaves the {w}×{h} view: {a:?}", a.text);
            for b in &boxes[i + 1..] {
                assert!(!a.intersects(b), "{what}: labels {:?} and {:?} overlap: {a:?} {b:?}", a.text, b.text);
            }
        }
    }

    fn series(name: &str, points: Vec<(f64, f64)>, color: &str, dashed: bool) -> Series {
        Series { name: name.into(), points, color: color.into(), dashed }
    }

    fn timeline() -> Timeline {
        Timeline {
            title: "Occlusion test: flow & pressure".into(),
            x_label: "time (min)".into(),
            width: 1100,
            x_range: (0.0, 600.0),
            panels: vec![
                Panel {
                    title: "flow (µL/h)".into(),
                    height: 140,
                    series: vec![
                        series(
                            "measured",
                            (0..=600).map(|i| (f64::from(i), 10.0 + (f64::from(i) / 30.0).sin())).collect(),
                            "#1f77b4",
                            false,
                        ),
                        series("programmed", vec![(0.0, 10.0), (600.0, 10.0)], "#888", true),
                    ],
                    y_range: Some((0.0, 20.0)),
                    notes: vec![Note { at: 599.0, text: "▲ peak 10 000 µL/h".into(), color: "#1f77b4".into() }],
                },
                Panel {
                    title: "pressure (kPa)".into(),
                    height: 100,
                    series: vec![series("pressure", vec![(0.0, 5.0), (300.0, 210.0), (600.0, 5.0)], "#9467bd", false)],
                    y_range: None,
                    notes: vec![],
                },
            ],
            bands: vec![Band { from: 120.0, to: 300.0, label: "valve closed".into(), color: "#e07000".into() }],
            markers: vec![
                Marker { at: 0.0, label: "start of the case".into(), color: "#333".into() },
                Marker { at: 125.0, label: "occluded".into(), color: "#333".into() },
                Marker { at: 126.0, label: "alarmed".into(), color: "#333".into() },
                Marker { at: 127.0, label: "released".into(), color: "#333".into() },
                Marker { at: 128.0, label: "one too many".into(), color: "#333".into() },
                Marker { at: 600.0, label: "end".into(), color: "#333".into() },
            ],
            lanes: vec![
                Lane {
                    label: "THERAPY_INTERRUPTED".into(),
                    color: "#c62828".into(),
                    spans: vec![LaneSpan { from: 200.0, to: 400.0, title: "raised 200, cleared 400".into() }],
                    ticks: vec![],
                },
                Lane {
                    label: "bolus".into(),
                    color: "#2ca02c".into(),
                    spans: vec![],
                    ticks: vec![LaneTick { at: 50.0, color: "#777".into(), title: "refused".into() }],
                },
            ],
        }
    }

    fn elements<'a, 'i>(doc: &'a Document<'i>, tag: &str) -> Vec<Node<'a, 'i>> {
        doc.descendants().filter(|n| n.has_tag_name(tag)).collect()
    }

    fn with_class<'a, 'i>(doc: &'a Document<'i>, class: &str) -> Vec<Node<'a, 'i>> {
        doc.descendants().filter(|n| n.attribute("class") == Some(class)).collect()
    }

    fn texts_of_class<'a>(doc: &'a Document, class: &str) -> Vec<&'a str> {
        with_class(doc, class).iter().filter_map(|n| n.text()).collect()
    }

    #[test]
    fn the_width_estimate_is_arials() {
        // Figures measured in Debian's Chromium (SVG getComputedTextLength, this FONT_FAMILY,
        // which resolves to Liberation Sans there).
        for (text, size, bold, measured) in [
            ("THERAPY_INTERRUPTED cleared 12:34", 11.0, false, 206.02),
            ("0123456789", 11.0, false, 61.19),
            ("flow (µL/h)", 12.0, true, 60.23),
            ("flow (µL/h)", 11.0, false, 51.58),
            ("▲ clipped: peak 9000 µL/h at 41.683 min", 11.0, false, 200.70),
            ("±≤≥—…·°×–", 11.0, false, 60.11),
            ("Trumpet curve 1: 500 µL/h", 13.0, true, 160.66),
            ("low-reservoir threshold 19000 µL", 11.0, false, 160.42),
            ("WWWWW mmmm iiii", 11.0, true, 109.38),
        ] {
            let estimate = text_width(text, size, bold);
            assert!(estimate >= measured && estimate <= measured * 1.08, "{text}: {estimate} vs {measured}");
        }
        // Its box spans the font's ascent and descent (Chromium: 10 px up, 2 px down at 11 px).
        let b = text_box("x", 0.0, 50.0, Anchor::Start, 11.0, false);
        assert!(b.y0 <= 40.0 && b.y1 >= 52.0, "{b:?}");
        let b = text_box("abc", 100.0, 50.0, Anchor::Middle, 10.0, false);
        assert!((b.x0 + b.x1) / 2.0 - 100.0 < 1e-9 && b.y0 < 50.0 - 9.0 && b.y1 > 52.0);
        let a = text_box("abc", 100.0, 50.0, Anchor::End, 10.0, false);
        assert!(a.x1 > 100.0 && a.x1 < 102.0);
        assert!(a.intersects(&b) && !a.intersects(&text_box("abc", 100.0, 80.0, Anchor::End, 10.0, false)));
    }

    #[test]
    fn a_timeline_is_a_standalone_svg_with_one_polyline_per_series() {
        let svg = render_timeline(&timeline());
        let doc = Document::parse(&svg).expect("well-formed XML");
        let root = doc.root_element();
        assert!(root.has_tag_name(("http://www.w3.org/2000/svg", "svg")));
        assert!(root.attribute("viewBox").unwrap().starts_with("0 0 1100 "));
        let series = with_class(&doc, "series");
        assert_eq!(series.len(), 3);
        assert_eq!(elements(&doc, "polyline").len(), 3);
        assert_eq!(series[1].attribute("stroke-dasharray"), Some("6 3"));
        // Each panel clips its own series.
        let clips: Vec<&str> = elements(&doc, "clipPath").iter().map(|c| c.attribute("id").unwrap()).collect();
        assert_eq!(clips.len(), 2);
        assert_eq!(series[0].attribute("clip-path"), Some(format!("url(#{})", clips[0]).as_str()));
        assert_eq!(series[2].attribute("clip-path"), Some(format!("url(#{})", clips[1]).as_str()));
        assert_eq!(texts_of_class(&doc, "panel-title"), ["flow (µL/h)", "pressure (kPa)"]);
        assert_eq!(texts_of_class(&doc, "legend"), ["measured", "programmed", "valve closed", "pressure"]);
        assert_eq!(texts_of_class(&doc, "lane-label"), ["THERAPY_INTERRUPTED", "bolus"]);
        assert_eq!(texts_of_class(&doc, "x-label"), ["time (min)"]);
        assert_eq!(texts_of_class(&doc, "note"), ["▲ peak 10 000 µL/h"]);
        // The time axis spans the data exactly: the first point at the plot's left edge.
        let frame = with_class(&doc, "frame")[0];
        let left: f64 = frame.attribute("x").unwrap().parse().unwrap();
        let first = series[0].children().find(|n| n.has_tag_name("polyline")).unwrap().attribute("points").unwrap();
        let x0: f64 = first.split(',').next().unwrap().parse().unwrap();
        assert!((x0 - left).abs() < 0.11, "{x0} vs {left}");
        // Bands lie under the series; marker lines over them; every label over everything.
        let order: Vec<&str> = root.children().filter_map(|n| n.attribute("class")).collect();
        let first_of = |c: &str| order.iter().position(|&o| o == c).unwrap();
        let last_of = |c: &str| order.iter().rposition(|&o| o == c).unwrap();
        assert!(first_of("band") < first_of("series") && last_of("series") < first_of("marker"), "{order:?}");
        assert_eq!(order.last(), Some(&"labels"));
    }

    #[test]
    fn labels_never_overlap_nor_leave_the_view() {
        let fig = timeline();
        let svg = render_timeline(&fig);
        assert_labels_clear(&svg, "timeline");
        let doc = Document::parse(&svg).unwrap();
        // Four marks within 3 min of 600 fit on three rows; the fourth is left out, its line kept.
        let labels = texts_of_class(&doc, "marker");
        assert_eq!(labels.len(), 5, "{labels:?}");
        assert_eq!(with_class(&doc, "marker").iter().filter(|n| n.has_tag_name("line")).count(), 6);
        // Marks at the very edges are labelled inside the view.
        assert!(labels.contains(&"start of the case") && labels.contains(&"end"));

        // Many close labels, long names and a narrow chart.
        let mut crowded = fig.clone();
        crowded.width = 400;
        crowded.markers =
            (0..40).map(|i| Marker { at: f64::from(i), label: format!("mark {i}"), color: "#333".into() }).collect();
        crowded.panels[0].notes =
            (0..20).map(|i| Note { at: f64::from(i * 30), text: format!("note {i}"), color: "red".into() }).collect();
        crowded.panels[0].series[0].name = "a long series name that needs a row of its own".into();
        assert_labels_clear(&render_timeline(&crowded), "crowded timeline");
    }

    #[test]
    fn lanes_draw_spans_and_ticks_under_the_time_axis() {
        let svg = render_timeline(&timeline());
        let doc = Document::parse(&svg).unwrap();
        let lanes = with_class(&doc, "lane");
        assert_eq!(lanes.len(), 2);
        let span = lanes[0].children().find(|n| n.has_tag_name("rect")).unwrap();
        assert_eq!(span.children().find(|n| n.has_tag_name("title")).unwrap().text(), Some("raised 200, cleared 400"));
        let tick = lanes[1].children().filter(|n| n.has_tag_name("line")).nth(1).unwrap();
        assert_eq!(tick.attribute("stroke"), Some("#777"));
        // Below the last panel and its tick labels.
        let frames = with_class(&doc, "frame");
        let frame_bottom = |f: &Node| {
            f.attribute("y").unwrap().parse::<f64>().unwrap() + f.attribute("height").unwrap().parse::<f64>().unwrap()
        };
        let last_bottom = frame_bottom(frames.last().unwrap());
        let span_y: f64 = span.attribute("y").unwrap().parse().unwrap();
        let tick_y = with_class(&doc, "tick")
            .iter()
            .map(|t| t.attribute("y").unwrap().parse::<f64>().unwrap())
            .fold(0.0, f64::max);
        assert!(span_y > tick_y && tick_y > last_bottom, "{span_y} {tick_y} {last_bottom}");
    }

    #[test]
    fn fixed_ranges_clip_and_gaps_break_the_line() {
        let mut fig = timeline();
        fig.panels[0].series[0].points = vec![(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN), (3.0, 2.0), (4.0, 500.0)];
        fig.markers = vec![Marker { at: 999.0, label: "outside".into(), color: "red".into() }];
        let svg = render_timeline(&fig);
        let doc = Document::parse(&svg).unwrap();
        assert_eq!(with_class(&doc, "series")[0].children().filter(|n| n.has_tag_name("polyline")).count(), 2);
        assert!(with_class(&doc, "marker").is_empty(), "a marker outside the x range is not drawn");
        let left: f64 = with_class(&doc, "frame")[0].attribute("x").unwrap().parse().unwrap();
        let y_ticks: Vec<&str> = with_class(&doc, "tick")
            .iter()
            .filter(|n| n.attribute("x").unwrap().parse::<f64>().unwrap() < left)
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(y_ticks, ["0", "5", "10", "15", "20", "0", "100", "200", "300"], "the fixed range, not the data");
    }

    #[test]
    fn all_text_is_escaped() {
        let mut fig = timeline();
        fig.title = NASTY.into();
        fig.x_label = NASTY.into();
        fig.panels[0].title = NASTY.into();
        fig.panels[0].series[0].name = NASTY.into();
        fig.panels[0].series[0].color = "red\" onload=\"alert(1)".into();
        fig.bands[0].label = NASTY.into();
        fig.markers[1].label = NASTY.into();
        fig.lanes[0].label = NASTY.into();
        fig.lanes[0].spans[0].title = NASTY.into();
        let chart = Chart {
            title: NASTY.into(),
            x_label: NASTY.into(),
            y_label: NASTY.into(),
            series: vec![series(NASTY, vec![(0.0, 1.0), (1.0, 2.0)], "red\" onload=\"alert(1)", false)],
            ..Chart::default()
        };
        for svg in [render_timeline(&fig), render_xy(&chart)] {
            assert!(!svg.contains('\u{1}'));
            let doc = Document::parse(&svg).expect("escaped output is well-formed");
            assert!(doc.descendants().all(|n| n.attribute("onload").is_none()));
            assert_eq!(with_class(&doc, "series")[0].attribute("stroke"), Some("red\" onload=\"alert(1)"));
            assert_eq!(elements(&doc, "title")[0].text(), Some(NASTY_PARSED));
            assert!(doc.descendants().filter(|n| n.has_tag_name("text")).any(|t| t.text() == Some(NASTY_PARSED)));
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
                series(
                    "Ep(max)",
                    windows.iter().zip([6.1, 3.9, 2.7, 2.2, 1.9]).map(|(&x, y)| (x, y)).collect(),
                    "#d62728",
                    false,
                ),
                series(
                    "Ep(min)",
                    windows.iter().zip([-5.2, -3.1, -2.5, -1.8, -1.6]).map(|(&x, y)| (x, y)).collect(),
                    "#1f77b4",
                    false,
                ),
            ],
            ..Chart::default()
        };
        let svg = render_xy(&chart);
        assert_labels_clear(&svg, "trumpet");
        let doc = Document::parse(&svg).unwrap();
        assert_eq!(elements(&doc, "polyline").len(), 2);
        assert_eq!(elements(&doc, "circle").len(), 10);
        let ticks = texts_of_class(&doc, "tick");
        assert!(ticks.contains(&"-10") && ticks.contains(&"0") && ticks.contains(&"10"), "{ticks:?}");
        // The x tick labels: the first starts at the axis' left end, the last ends at its right end.
        let frame = with_class(&doc, "frame")[0];
        let num = |n: Node, a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
        let bottom = num(frame, "y") + num(frame, "height");
        let x_ticks: Vec<Node> = with_class(&doc, "tick").into_iter().filter(|n| num(*n, "y") > bottom + 8.0).collect();
        let xs: Vec<f64> = x_ticks.iter().map(|n| n.text().unwrap().parse().unwrap()).collect();
        assert_eq!(xs.first(), Some(&0.0), "{xs:?}");
        assert_eq!(x_ticks[0].attribute("text-anchor"), Some("start"));
        assert!(*xs.last().unwrap() >= 31.0, "{xs:?}");
    }

    #[test]
    fn empty_and_degenerate_charts_still_render() {
        let one = series("one", vec![(5.0, 5.0)], "blue", false);
        for c in [
            Chart::default(),
            Chart { width: 1, height: 1, ..Chart::default() },
            Chart { series: vec![one.clone()], ..Chart::default() },
        ] {
            let svg = render_xy(&c);
            Document::parse(&svg).unwrap();
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
        let mut fig = timeline();
        fig.width = 1;
        fig.x_range = (f64::NAN, 3.0);
        fig.panels[0].series = vec![one];
        fig.panels[0].y_range = None;
        fig.panels[1].series.clear();
        for fig in [fig, Timeline { panels: vec![], lanes: vec![], markers: vec![], ..timeline() }] {
            let svg = render_timeline(&fig);
            Document::parse(&svg).unwrap();
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
    }

    #[test]
    fn nice_ticks_use_1_2_5_steps() {
        assert_eq!(nice_ticks(0.0, 1.0, 6), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(0.0, 1.0, 11), [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
        assert_eq!(nice_ticks(0.0, 86_400.0, 6), [0.0, 20_000.0, 40_000.0, 60_000.0, 80_000.0]);
        assert_eq!(nice_ticks(-100.0, 50.0, 6), [-100.0, -50.0, 0.0, 50.0]);
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
        let axis = Axis::new(-5.2, 6.1, 6, true);
        assert_eq!((axis.lo, axis.hi), (-10.0, 10.0));
        assert_eq!(axis.labels, ["-10", "-5", "0", "5", "10"]);
        assert_eq!(nice_ceiling(12_100.0, 6), 15_000.0);
        assert_eq!(nice_ceiling(520.0, 6), 600.0);
        assert_eq!(nice_ceiling(600.0, 6), 600.0);
    }

    #[test]
    fn label_rows_stagger_close_labels_and_leave_out_what_does_not_fit() {
        assert_eq!(assign_rows(&[(100.0, 60.0), (104.0, 60.0), (108.0, 60.0)], 6, 6.0), [Some(0), Some(1), Some(2)]);
        assert_eq!(assign_rows(&[(0.0, 60.0), (200.0, 60.0)], 6, 6.0), [Some(0), Some(0)]);
        let boxes: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 60.0)).collect();
        let rows = assign_rows(&boxes, 3, 6.0);
        assert_eq!(rows.iter().filter(|r| r.is_some()).count(), 3);
        assert!(rows.iter().flatten().all(|&r| r < 3));
    }

    #[test]
    fn output_is_deterministic_and_clip_ids_differ_between_charts() {
        let a = render_timeline(&timeline());
        assert_eq!(a, render_timeline(&timeline()));
        let mut other = timeline();
        other.title = "another".into();
        let b = render_timeline(&other);
        let id = |s: &str| {
            let doc = Document::parse(s).unwrap();
            elements(&doc, "clipPath")[0].attribute("id").unwrap().to_owned()
        };
        assert_ne!(id(&a), id(&b));
    }
}
