//! `report.html`: one case's evidence as a single self-contained page a reviewer can open, print
//! or file — inline CSS and inline SVG charts, no scripts and nothing fetched.
//!
//! The page is built from the case's [`CaseRecord`] (everything but the samples) and a thinned
//! copy of its samples ([`PlotData`]: thinned as the run wrote them, or as [`read_plot_data`]
//! streams `samples.csv`), so a week-long run costs no more memory than a short one. In order, the page shows: a red banner when an
//! instrument's calibration had expired (the run is then not valid as evidence), a banner (and a
//! watermark on every page) when the bench was simulated, the verdict and summary, every check,
//! one figure of the case against time (flow, volume, pressure and reservoir against the
//! programmed flow and thresholds, the valve band, plan marks, and event lanes under the time
//! axis) with a table of every event, the trumpet curves the trumpet checks judged, the
//! requirements the case covers and the checks that verify them, what was tested with what
//! (pump, bench, instruments, plan, rig), the pump before the first step, the steps and the safe
//! state, and how to check the bundle's integrity.
//!
//! Numbers follow one rule: a value with an uncertainty has the uncertainty to 2 significant
//! digits and the value to the same decimal place; the rig's plain-text notation (`uL`, `<=`)
//! is set as `µL`, `≤` (record.json and result.yaml keep theirs).

use std::fmt::Write as _;

use super::history::{self, clock};
pub use super::plot_data::{PlotData, read_plot_data};
use super::record::{CaseRecord, IdentityCheck, Instrument, UnlistedPumpEvents};
use super::svg::{self, Band, Chart, Lane, LaneSpan, LaneTick, Marker, Note, Panel, Series, Timeline};
use super::xml_text;
use crate::analysis::TrumpetCurve;
use crate::judgement::{CheckOutcome, Decision, TrumpetMeasurement, Verdict};
use crate::plan::Unit;
use crate::plan::requirements::requirement;
use crate::protocol::{AlarmCode, Priority};

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
.sim-banner { background: #4a148c; border-color: #24094a; letter-spacing: 0.02em; }
.sim-banner .sim-what { font-weight: 400; font-size: 14px; letter-spacing: 0; }
.sim-watermark { position: fixed; top: 45%; left: 0; right: 0; text-align: center; transform: rotate(-24deg);
  font-size: 96px; font-weight: 800; color: #4a148c; opacity: 0.07; pointer-events: none; z-index: 10;
  white-space: nowrap; }
table.events td { padding: 1px 8px; }
/* Check ids and requirement ids break at their hyphens, never inside a word: a narrow (printed)
   table must not squeeze them to a letter a line. */
table.checks .mono, tr.coverage .mono { overflow-wrap: normal; }
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
  body { max-width: none; padding: 0; font-size: 10px; }
  code, .mono { font-size: 9.5px; }
  th, td { padding: 2px 5px; }
  h2 { break-after: avoid; page-break-after: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
}
"#;

const FLOW_COLOR: &str = "#1f77b4";
const PROGRAMMED_COLOR: &str = "#555555";
const PRESSURE_COLOR: &str = "#9467bd";
const RESERVOIR_COLOR: &str = "#17becf";
const THRESHOLD_COLOR: &str = "#b00020";
const LIMIT_COLOR: &str = "#b00020";
const VALVE_COLOR: &str = "#e07000";
const MARK_COLOR: &str = "#555555";
const ALARM_COLOR: &str = "#d62728";
const HIGH_COLOR: &str = "#c62828";
const MEDIUM_COLOR: &str = "#b8860b";
const LOW_COLOR: &str = "#2a7fa8";
const BOLUS_COLOR: &str = "#2ca02c";
const REFUSED_COLOR: &str = "#6b6b6b";
const BOOT_COLOR: &str = "#8c564b";
const CHART_WIDTH: u32 = 1100;
/// Runs shorter than this are plotted in seconds, up to the next in minutes, longer ones in hours.
const SECONDS_BELOW_S: f64 = 180.0;
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
    let simulated = if is_simulated(record) { "SIMULATED BENCH — " } else { "" };
    let _ = writeln!(o, "<title>{simulated}{} — {} — rig report</title>", xml_text(&run), record.verdict);
    let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>");

    identity_banner(&mut o, record);
    calibration_banner(&mut o, record);
    drift_banner(&mut o, record);
    simulated_bench_banner(&mut o, record);
    summary(&mut o, record, plot);
    o.push_str("<main>\n");
    checks(&mut o, record);
    baseline_section(&mut o, record);
    plots(&mut o, record, plot);
    trumpets(&mut o, record);
    coverage(&mut o, record);
    identity(&mut o, record);
    provenance(&mut o, record);
    pump_before_the_case(&mut o, record);
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

/// A red first-line banner when an instrument reported another identity than the bench file
/// and the run was allowed to go on (`--allow-identity-mismatch`).
fn identity_banner(o: &mut String, record: &CaseRecord) {
    let mismatched: Vec<&Instrument> =
        record.instruments.iter().filter(|i| i.identity == IdentityCheck::Mismatch).collect();
    if !record.bench.identity_mismatch_allowed && mismatched.is_empty() {
        return;
    }
    let which = if mismatched.is_empty() {
        "an instrument reported another identity than the bench file (the run was told to go on anyway)".to_owned()
    } else {
        mismatched
            .iter()
            .map(|i| {
                let reported = i.reported.as_ref().map_or("nothing", |r| r.serial_number.as_str());
                format!("{} {} reports serial {reported}, bench file says {}", i.role, i.model, i.serial_number)
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let _ = writeln!(
        o,
        "<div class=\"banner\" role=\"alert\">IDENTITY NOT CONFIRMED — this run is not valid as evidence: {}</div>",
        xml_text(&which)
    );
}

/// A banner when the case drifted from its approved baseline, though its verdict may be PASS.
fn drift_banner(o: &mut String, record: &CaseRecord) {
    let Some(b) = record.baseline.as_ref().filter(|b| b.drifted()) else { return };
    let _ = writeln!(
        o,
        "<div class=\"banner\" role=\"alert\">DRIFT FROM THE APPROVED BASELINE — {} finding{}: {}</div>",
        b.findings.len(),
        if b.findings.len() == 1 { "" } else { "s" },
        xml_text(&b.findings.iter().map(|d| format!("{}: {}", d.check, d.what)).collect::<Vec<_>>().join("; "))
    );
}

/// Who and what made this bundle, and how far the rig confirmed it: run id, operator and where
/// the name came from, the executable's hash and target, each instrument's identity as the
/// bench file declares it and as the instrument reported it, and the signing key.
fn provenance(o: &mut String, record: &CaseRecord) {
    o.push_str("<section id=\"provenance\">\n<h2>Provenance</h2>\n<table class=\"kv\">\n");
    kv(o, "run id", &mono(&record.run_id));
    kv(
        o,
        "operator",
        &format!("{} <span class=\"muted\">({})</span>", xml_text(&record.operator), xml_text(&record.operator_source)),
    );
    kv(o, "executable SHA-256", &mono(&record.rig.executable_sha256));
    kv(o, "target", &mono(&record.rig.target));
    match &record.signing {
        Some(s) => kv(
            o,
            "signature",
            &format!(
                "{} signed with key {} (public key {}); check with <code>rig verify --key KEY.pub</code> or \
                 <code>minisign -Vm MANIFEST.sha256 -x MANIFEST.sha256.sig -p KEY.pub</code>",
                mono(&s.signature_file),
                mono(&s.key_id),
                mono(&s.public_key)
            ),
        ),
        None => kv(
            o,
            "signature",
            "<span class=\"bad\">unsigned</span>: MANIFEST.sha256 detects accidents, not a recomputed manifest",
        ),
    }
    o.push_str("</table>\n<h3>Instrument identity</h3>\n<table>\n");
    o.push_str("<tr><th>role</th><th>bench file says</th><th>instrument reported</th><th>identity</th></tr>\n");
    for i in &record.instruments {
        let reported = i.reported.as_ref().map_or_else(
            || "—".to_owned(),
            |r| format!("serial {} product {}", mono(&r.serial_number), mono(&r.product_number)),
        );
        let class = match i.identity {
            IdentityCheck::Confirmed => "ok",
            IdentityCheck::Mismatch | IdentityCheck::NotRead => "bad",
            IdentityCheck::DeclaredOnly => "not-verified",
        };
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{reported}</td><td class=\"{class}\">{}</td></tr>",
            xml_text(&i.role),
            mono(&i.serial_number),
            xml_text(i.identity.describe())
        );
    }
    o.push_str("</table>\n</section>\n");
}

/// The comparison with the approved baseline: which file (and its SHA-256 and provenance), the
/// outcome, a row per drift finding, and the notes on a baseline from another bench or build.
fn baseline_section(o: &mut String, record: &CaseRecord) {
    use super::baseline::BaselineOutcome;
    let Some(b) = &record.baseline else { return };
    o.push_str("<section id=\"baseline\">\n<h2>Baseline</h2>\n<table class=\"kv\">\n");
    kv(o, "approved file", &file_and_hash(&b.file, b.sha256.as_deref().unwrap_or("—")));
    let outcome = match b.outcome {
        BaselineOutcome::Matches => "<span class=\"ok\">matches</span>".to_owned(),
        BaselineOutcome::Drifted => "<span class=\"bad\">DRIFTED</span>".to_owned(),
        BaselineOutcome::Missing => "none approved yet".to_owned(),
        BaselineOutcome::Unreadable => {
            format!(
                "<span class=\"bad\">not compared</span>: {}",
                xml_text(b.detail.as_deref().unwrap_or("unreadable"))
            )
        }
    };
    kv(o, "outcome", &outcome);
    if let Some(a) = &b.approval {
        kv(
            o,
            "approved",
            &format!(
                "by {} ({}) at {} from {} (manifest SHA-256 {}), bench {} ({}), rig {} {}",
                xml_text(&a.approver),
                xml_text(&a.approver_source),
                mono(&a.approved_utc),
                mono(&a.source_bundle),
                mono(&a.source_manifest_sha256),
                xml_text(&a.bench.name),
                xml_text(&a.bench.kind),
                mono(&a.rig.version),
                mono(&a.rig.git_commit)
            ),
        );
    }
    for note in &b.notes {
        kv(o, "note", &format!("<span class=\"bad\">{}</span>", xml_text(note)));
    }
    o.push_str("</table>\n");
    if !b.findings.is_empty() {
        o.push_str("<table>\n<tr><th>check</th><th>drift</th></tr>\n");
        for d in &b.findings {
            let _ = writeln!(o, "<tr><td>{}</td><td class=\"bad\">{}</td></tr>", mono(&d.check), xml_text(&d.what));
        }
        o.push_str("</table>\n");
    }
    o.push_str("</section>\n");
}

/// A software bench: the twin in this process, or as its own process. Anything not declared a
/// hardware bench is treated as one.
fn is_simulated(record: &CaseRecord) -> bool {
    record.bench.kind != "hardware"
}

/// On a software bench, a banner first on the page and a watermark on every screen and printed
/// page: what ran was a model of the pump, not a device.
fn simulated_bench_banner(o: &mut String, record: &CaseRecord) {
    if !is_simulated(record) {
        return;
    }
    let what = match record.bench.kind.as_str() {
        "twin" => "the digital twin, in the rig's process".to_owned(),
        "sim-process" => "the digital twin, as its own process (rig sim)".to_owned(),
        other => format!("a bench of kind {other}, not declared hardware"),
    };
    let _ = writeln!(
        o,
        "<div class=\"banner sim-banner\" role=\"alert\">SIMULATED BENCH — not evidence about a device \
         <span class=\"sim-what\">(this case ran on {})</span></div>\n\
         <div class=\"sim-watermark\" aria-hidden=\"true\">SIMULATED BENCH</div>",
        xml_text(&what)
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
        "<p>Bench time {} · wall time {} · {}{}{} · bench <b>{}</b> ({})</p>",
        duration(record.bench_time_s),
        duration(record.wall_time_s),
        count(record.samples, "sample", "samples"),
        if plot.samples != record.samples { format!(" ({} in samples.csv)", plot.samples) } else { String::new() },
        plot.torn_line.map_or(String::new(), |l| format!(
            " <span class=\"bad\">(samples.csv line {l} was cut short and is not plotted)</span>"
        )),
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

/// `1 sample`, `2 samples`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
                i.accuracy.as_deref().map_or_else(|| "—".to_owned(), |a| xml_text(&typeset(a)))
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
            let c = &p.settings;
            kv(
                o,
                "programmed (SETTINGS)",
                &xml_text(&format!(
                    "basal {} µL/h, bolus {} µL, lockout {} s, at most {} per 24 h, limit {} µL per 24 h, low reservoir {} µL, occlusion {} kPa, therapy {}",
                    num(c.basal_ul_h),
                    num(c.dose_ul),
                    c.lockout_s,
                    c.max_per_24h,
                    num(c.max_24h_ul),
                    num(c.low_reservoir_ul),
                    num(c.occlusion_kpa),
                    if c.therapy_on { "on" } else { "off" }
                )),
            );
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
        o.push_str("<h3>Anomalies and lost events</h3>\n");
        if let Some(slow) = &record.slow_answers {
            let _ = writeln!(
                o,
                "<p class=\"bad\">{} answer(s) from the pump later than the ICD's {} ms; the worst {} ms, to <code>{}</code> at {}.</p>",
                slow.count,
                slow.allowed_ms,
                num(slow.worst_ms),
                xml_text(&slow.worst_command),
                clock(slow.worst_at_s)
            );
        }
        o.push_str("<table>\n<tr><th>bench time</th><th>what</th></tr>\n");
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
        "<table class=\"checks\">\n<tr><th>id</th><th>title</th><th>value</th><th>limits</th><th>decision</th><th>verdict</th>\
         <th>requirements</th><th>observed</th></tr>\n",
    );
    for c in &record.checks {
        let value = match c.value {
            None => "—".to_owned(),
            Some(v) => measured(v, c.uncertainty, c.unit),
        };
        let limits = match (c.low, c.high) {
            (None, None) => "—".to_owned(),
            (Some(l), None) => format!("≥ {}", with_unit(l, c.unit)),
            (None, Some(h)) => format!("≤ {}", with_unit(h, c.unit)),
            (Some(l), Some(h)) if l == h => format!("= {}", with_unit(l, c.unit)),
            (Some(l), Some(h)) => format!("{} … {}", num(l), with_unit(h, c.unit)),
        };
        // A measured check's detail restates its value, limits and decision, all in the row
        // already; what is left to say is what the pump answered, or why nothing was measured.
        let observed = if c.value.is_some() { String::new() } else { xml_text(&typeset(&c.detail)) };
        let _ = writeln!(
            o,
            "<tr class=\"check\"><td>{}</td><td>{}</td><td class=\"num\">{value}</td><td class=\"num\">{limits}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{observed}</td></tr>",
            mono(&c.id),
            xml_text(&typeset(&c.title)),
            decision_text(c.decision),
            verdict_badge(c.verdict, false),
            c.verifies.iter().map(|v| mono(v)).collect::<Vec<_>>().join("<br>"),
        );
    }
    o.push_str(
        "</table>\n<p class=\"muted\">value ± the bound of its measurement error (from the instrument's stated \
         accuracy or the measure's resolution), the bound to 2 significant digits and the value to the same \
         decimal place; values without ± are exact (counts, the pump's answers, the rig's clock).</p>\n</section>\n",
    );
}

/// `value ± uncertainty unit`: the uncertainty to 2 significant digits and the value to the same
/// decimal place (`101.6 ± 5.1 µL`, `16 ± 19 s`), or an exact value as [`num`] writes it.
fn measured(value: f64, uncertainty: Option<f64>, u: Unit) -> String {
    let Some(uncertainty) = uncertainty.filter(|x| x.is_finite() && *x > 0.0 && value.is_finite()) else {
        return with_unit(value, u);
    };
    let place = |x: f64| 1 - x.log10().floor() as i32; // decimals for 2 significant digits
    let mut decimals = place(uncertainty);
    // 9.96 rounds to 10.0: two significant digits are then one decimal fewer.
    if round_to(uncertainty, decimals) >= 10f64.powi(2 - decimals) {
        decimals -= 1;
    }
    let u_text = at_place(uncertainty, decimals);
    let v_text = at_place(value, decimals);
    let sym = unit(u);
    if sym.is_empty() { format!("{v_text} ± {u_text}") } else { format!("{v_text} ± {u_text}\u{a0}{sym}") }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// `x` rounded to `decimals` places (negative: to tens, hundreds, …), written with as many.
fn at_place(x: f64, decimals: i32) -> String {
    let s = if decimals >= 0 {
        format!("{x:.prec$}", prec = decimals as usize)
    } else {
        format!("{:.0}", round_to(x, decimals))
    };
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') { s[1..].to_owned() } else { s }
}

/// The rig's plain-text notation set as the report writes it: `uL` as `µL`, `<=` as `≤`, `>=`
/// as `≥` (record.json and result.yaml keep theirs).
fn typeset(text: &str) -> String {
    let text = text.replace("<=", "≤").replace(">=", "≥");
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let word_start = prev.is_none_or(|p| !p.is_alphanumeric());
        if c == 'u' && word_start && chars.peek() == Some(&'L') {
            let mut ahead = chars.clone();
            ahead.next();
            if ahead.peek().is_none_or(|n| !n.is_alphanumeric()) {
                chars.next();
                out.push_str("µL");
                prev = Some('L');
                continue;
            }
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// The time axis: its unit's length in seconds and its name.
struct TimeAxis {
    scale_s: f64,
    unit: &'static str,
    label: &'static str,
}

impl TimeAxis {
    fn for_run(end_s: f64) -> Self {
        if end_s < SECONDS_BELOW_S {
            Self { scale_s: 1.0, unit: "s", label: "time (s)" }
        } else if end_s < MINUTES_BELOW_S {
            Self { scale_s: 60.0, unit: "min", label: "time (min)" }
        } else {
            Self { scale_s: 3600.0, unit: "h", label: "time (h)" }
        }
    }

    fn points(&self, points: &[(f64, f64)]) -> Vec<(f64, f64)> {
        points.iter().map(|&(t, y)| (t / self.scale_s, y)).collect()
    }

    /// `t_s` in the axis' unit, as its ticks read: `41.5 min`, `37.25 h`.
    fn at(&self, t_s: f64) -> String {
        format!("{}\u{a0}{}", num(t_s / self.scale_s), self.unit)
    }
}

/// Everything the record says happened over the case, derived once for the figure and the
/// events table.
struct CaseHistory {
    end_s: f64,
    settings: history::Settings,
    alarms: Vec<history::AlarmSpan>,
    boluses: Vec<history::ProgrammedBolus>,
    programmed_flow: Vec<(f64, f64)>,
}

impl CaseHistory {
    fn of(record: &CaseRecord, plot: &PlotData) -> Self {
        let last_sample = [&plot.flow, &plot.volume, &plot.pressure, &plot.reservoir]
            .iter()
            .filter_map(|s| s.last().map(|p| p.0))
            .fold(0.0_f64, f64::max);
        let end_s = record.bench_time_s.max(last_sample);
        // The pump's own SETTINGS, read at start-up before the first step; only a record without
        // one (an older format, a pump that never answered) falls back on the ICD's defaults.
        let read = record.pump_at_start.as_ref().map(|p| history::SettingsReading {
            at_s: 0.0,
            dose_ul: p.settings.dose_ul,
            low_reservoir_ul: p.settings.low_reservoir_ul,
            occlusion_kpa: p.settings.occlusion_kpa,
            source: "the pump's SETTINGS at start-up, before the first step".to_owned(),
        });
        let settings = history::settings(read.as_ref(), &record.pump_commands);
        let boluses = history::programmed_boluses(&record.boluses, &record.pump_states, &settings);
        let programmed_flow = history::programmed_flow(&record.pump_states, &boluses, end_s);
        let alarms = history::listed_alarm_spans(&record.pump_events, record.pump_events_unlisted.as_ref());
        Self { end_s, alarms, settings, boluses, programmed_flow }
    }
}

fn plots(o: &mut String, record: &CaseRecord, plot: &PlotData) {
    o.push_str("<section id=\"plots\">\n<h2>Delivery and events</h2>\n");
    let h = CaseHistory::of(record, plot);
    let axis = TimeAxis::for_run(h.end_s);
    let end = h.end_s.max(1e-9) / axis.scale_s;
    let mut captions: Vec<String> = Vec::new();

    // Flow: scaled to the programmed flow; a spike far above it is clipped and its peak labelled.
    let programmed = axis.points(&h.programmed_flow);
    let flow_points = axis.points(&plot.flow);
    let (flow_range, flow_notes) = flow_scale(&flow_points, &programmed, &axis);
    let mut flow = vec![series("measured flow", flow_points, FLOW_COLOR, false)];
    let mut volume = vec![series("measured volume", axis.points(&plot.volume), FLOW_COLOR, false)];
    if !programmed.is_empty() {
        let programmed_volume = axis.points(&history::programmed_volume(&h.programmed_flow));
        flow.push(series("programmed", programmed, PROGRAMMED_COLOR, true));
        volume.push(series("programmed", programmed_volume, PROGRAMMED_COLOR, true));
        captions.push(format!(
            "Programmed flow: the basal while the pump reported RUNNING (0 otherwise), plus {} µL/h (SRS-DOS-005) \
             from each granted bolus's START until its dose is in; programmed volume: its integral ({} granted \
             bolus{} included).",
            num(history::BOLUS_RATE_UL_H),
            h.boluses.len(),
            if h.boluses.len() == 1 { "" } else { "es" }
        ));
    }
    let mut panels = vec![
        Panel { title: "flow (µL/h)".into(), height: 150, series: flow, y_range: flow_range, notes: flow_notes },
        Panel {
            title: "volume (µL)".into(),
            height: 130,
            y_range: from_zero(volume.iter().flat_map(|s| s.points.iter())),
            series: volume,
            notes: vec![],
        },
    ];
    if !plot.pressure.is_empty() {
        let (threshold, caption, in_view) =
            threshold_series("occlusion threshold", &h.settings.occlusion_kpa, "kPa", &h, &axis);
        captions.push(caption);
        let data = axis.points(&plot.pressure);
        let range = from_zero(data.iter().chain(&in_view));
        panels.push(Panel {
            title: "pressure (kPa)".into(),
            height: 120,
            series: vec![series("pump-reported pressure", data, PRESSURE_COLOR, false), threshold],
            y_range: range,
            notes: vec![],
        });
    }
    if !plot.reservoir.is_empty() {
        let (threshold, caption, in_view) =
            threshold_series("low-reservoir threshold", &h.settings.low_reservoir_ul, "µL", &h, &axis);
        captions.push(caption);
        let data = axis.points(&plot.reservoir);
        let range = from_zero(data.iter().chain(&in_view));
        panels.push(Panel {
            title: "reservoir (µL)".into(),
            height: 110,
            series: vec![series("pump-reported reservoir", data, RESERVOIR_COLOR, false), threshold],
            y_range: range,
            notes: vec![],
        });
    }
    if plot.pressure.is_empty() && plot.reservoir.is_empty() {
        captions.push("The pump reported no STATUS: no pressure or reservoir to plot.".into());
    }

    let figure_data = Timeline {
        title: format!("{}: delivery and events", record.run_name()),
        x_label: axis.label.into(),
        width: CHART_WIDTH,
        x_range: (0.0, end),
        panels,
        bands: record
            .valve_closed
            .iter()
            .map(|s| Band {
                from: s.from_s / axis.scale_s,
                to: s.to_s.unwrap_or(h.end_s).max(s.from_s) / axis.scale_s,
                label: "valve closed".into(),
                color: VALVE_COLOR.into(),
            })
            .collect(),
        markers: record
            .marks
            .iter()
            .map(|m| Marker { at: m.at_s / axis.scale_s, label: m.name.clone(), color: MARK_COLOR.into() })
            .collect(),
        lanes: lanes(record, &h, &axis),
    };
    figure(o, &svg::render_timeline(&figure_data), &captions.join(" "));
    o.push_str(
        "<p class=\"muted\">Dashed vertical lines: the plan's marks. Lanes under the time axis: the valve, boluses \
         (spans from START to END; ticks: refused requests), and each alarm from raised to cleared; every one is \
         in the table below. Hover a span or a line for its times.</p>\n",
    );
    events_table(o, record, &h);
    o.push_str("</section>\n");
}

fn series(name: &str, points: Vec<(f64, f64)>, color: &str, dashed: bool) -> Series {
    Series { name: name.into(), points, color: color.into(), dashed }
}

/// Headroom above the highest value of a plot, so its line stays off the frame.
const HEADROOM: f64 = 1.06;

/// The least span of a y axis from 0, in its unit (1 µL, 1 kPa, 1 µL/h): readings that never
/// leave 0 by more than the file's last decimals are not magnified into a curve.
const LEAST_SPAN: f64 = 1.0;

/// A y range from 0 (or the lowest value, if below 0) to a little above the highest, at least
/// [`LEAST_SPAN`].
fn from_zero<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> Option<(f64, f64)> {
    let (lo, hi) = points
        .map(|p| p.1)
        .filter(|y| y.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, y| Some(acc.map_or((y, y), |(l, h)| (l.min(y), h.max(y)))))?;
    Some((lo.min(0.0) * HEADROOM, (hi * HEADROOM).max(LEAST_SPAN)))
}

/// The flow axis: from 0 (a few µL/h of negative noise does not widen it) to a little above the
/// programmed and the measured flow, unless the measured flow rises far above both the
/// programmed flow and its own usual level (an occlusion released): then the axis ends at the
/// higher of 1.5 × the highest programmed flow and the 95th percentile of the measured one (a
/// pulsatile pump's strokes stay in view), the spike is clipped and a note gives its peak.
fn flow_scale(measured: &[(f64, f64)], programmed: &[(f64, f64)], axis: &TimeAxis) -> (Option<(f64, f64)>, Vec<Note>) {
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    // The first of equal highest points: where the spike began.
    let peak = measured.iter().filter(finite).copied().reduce(|a, b| if b.1 > a.1 { b } else { a });
    let low = measured.iter().filter(finite).map(|p| p.1).fold(f64::INFINITY, f64::min);
    let top_programmed = programmed.iter().filter(finite).map(|p| p.1).fold(0.0_f64, f64::max);
    let Some((peak_at, peak)) = peak else { return (from_zero(programmed.iter()), vec![]) };
    let lo = if low < -0.02 * peak.max(top_programmed) { low * HEADROOM } else { 0.0 };
    let mut levels: Vec<f64> = measured.iter().filter(finite).map(|p| p.1).collect();
    levels.sort_by(f64::total_cmp);
    let usual = levels.get(levels.len() * 95 / 100).copied().unwrap_or(peak);
    let cap = (1.5 * top_programmed).max(usual * HEADROOM);
    if top_programmed > 0.0 && peak > cap {
        let note = Note {
            at: peak_at,
            text: format!("▲ clipped: peak {} µL/h at {}", num(peak), axis.at(peak_at * axis.scale_s)),
            color: FLOW_COLOR.into(),
        };
        return (Some((lo, cap)), vec![note]);
    }
    let hi = peak.max(top_programmed);
    (Some((lo, (hi * HEADROOM).max(LEAST_SPAN))), vec![])
}

/// A programmed threshold as a dashed step series, named with its value when one value holds
/// over the plot, a caption sentence saying where each value came from, and the values in force
/// for a visible part of the plot (for its y range).
fn threshold_series(
    name: &str,
    values: &[history::SettingValue],
    unit: &str,
    h: &CaseHistory,
    axis: &TimeAxis,
) -> (Series, String, Vec<(f64, f64)>) {
    let steps = axis.points(&history::setting_steps(values, h.end_s));
    // Values in force for a visible part of the plot (a default replaced in the set-up is not).
    let visible: Vec<&history::SettingValue> = values
        .iter()
        .enumerate()
        .filter(|(i, v)| {
            let until = values.get(i + 1).map_or(h.end_s, |n| n.since_s);
            until - v.since_s > 0.002 * h.end_s.max(1.0)
        })
        .map(|(_, v)| v)
        .collect();
    let label = match visible[..] {
        [one] => format!("{name} {}\u{a0}{unit}", num(one.value)),
        _ => format!("{name} (programmed)"),
    };
    let sources: Vec<String> = values.iter().map(|v| format!("{} {unit} from {}", num(v.value), v.source)).collect();
    let mut caption = String::new();
    let _ = write!(caption, "The {name}: {}.", sources.join("; then "));
    // The y range takes in the values visible on the plot only.
    let in_view = visible.iter().map(|v| (0.0, v.value)).collect();
    (series(&label, steps, THRESHOLD_COLOR, true), caption, in_view)
}

const VALVE_LANE: &str = "valve closed";
const BOLUS_LANE: &str = "bolus";
const BOOT_LANE: &str = "boot";
const UNLISTED_LANE: &str = "not listed";
/// Where an alarm span's end is, when it is among the pump events the record does not list.
const UNLISTED: &str = "among the pump events not listed (events.jsonl)";
const UNLISTED_OR_BEFORE: &str = "among the pump events not listed (events.jsonl), or before the case";

/// The pump events the record does not list, in words: how many, when, of which kinds.
fn unlisted_text(u: &UnlistedPumpEvents) -> String {
    let kinds: Vec<String> = u.by_kind.iter().map(|(kind, n)| format!("{kind}: {}", thousands(*n))).collect();
    format!(
        "{} more pump events from {} to {} are in events.jsonl, not listed here ({})",
        thousands(u.count),
        clock(u.from_s),
        clock(u.to_s),
        kinds.join(", ")
    )
}

/// A count with thin spaces between its thousands: 199 600.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

fn alarm_color(code: &str) -> &'static str {
    match code.parse::<AlarmCode>().map(AlarmCode::priority) {
        Ok(Priority::High) => HIGH_COLOR,
        Ok(Priority::Medium) => MEDIUM_COLOR,
        Ok(Priority::Low) => LOW_COLOR,
        Err(_) => MARK_COLOR,
    }
}

/// The event lanes: valve, boluses, one per alarm code, boots.
fn lanes(record: &CaseRecord, h: &CaseHistory, axis: &TimeAxis) -> Vec<Lane> {
    let x = |t: f64| t / axis.scale_s;
    let unlisted = record.pump_events_unlisted.as_ref();
    let mut lanes = Vec::new();
    if !record.valve_closed.is_empty() {
        lanes.push(Lane {
            label: VALVE_LANE.into(),
            color: VALVE_COLOR.into(),
            spans: record
                .valve_closed
                .iter()
                .map(|s| LaneSpan {
                    from: x(s.from_s),
                    to: x(s.to_s.unwrap_or(h.end_s)),
                    title: format!("valve closed {} – {}", clock(s.from_s), s.to_s.map_or("the end".into(), clock)),
                })
                .collect(),
            ticks: vec![],
        });
    }
    if !record.boluses.is_empty() {
        let mut spans = Vec::new();
        let mut ticks = Vec::new();
        for b in &record.boluses {
            match (b.granted, b.started_s) {
                (true, Some(start)) => spans.push(LaneSpan {
                    from: x(start),
                    to: x(b.ended_s.unwrap_or(h.end_s)),
                    title: format!(
                        "bolus {}: START {}, END {}",
                        b.id.map_or("?".into(), |id| id.to_string()),
                        clock(start),
                        b.ended_s.map_or("not reported".into(), clock)
                    ),
                }),
                (true, None) => ticks.push(LaneTick {
                    at: x(b.requested_s.unwrap_or(0.0)),
                    color: BOLUS_COLOR.into(),
                    title: "granted, no START reported".into(),
                }),
                (false, _) => ticks.push(LaneTick {
                    at: x(b.requested_s.unwrap_or(0.0)),
                    color: REFUSED_COLOR.into(),
                    title: format!(
                        "refused ({}) at {}",
                        b.refused.as_deref().unwrap_or("?"),
                        b.requested_s.map_or("?".into(), clock)
                    ),
                }),
            }
        }
        lanes.push(Lane { label: BOLUS_LANE.into(), color: BOLUS_COLOR.into(), spans, ticks });
    }
    for code in history::alarm_codes(&h.alarms) {
        let spans = h
            .alarms
            .iter()
            .filter(|s| s.code == code)
            .map(|s| {
                // A span into the unlisted events is drawn to (or from) their edge.
                let (gap_from, gap_to) = unlisted.map_or((h.end_s, 0.0), |u| (u.from_s, u.to_s));
                let (raised, cleared) = match (s.raised_s, s.cleared_s, s.beyond_listing) {
                    (_, None, true) => (None, Some(gap_from)),
                    (None, _, true) => (Some(gap_to), None),
                    _ => (None, None),
                };
                LaneSpan {
                    from: x(s.raised_s.or(raised).unwrap_or(0.0)),
                    to: x(s.cleared_s.or(cleared).unwrap_or(h.end_s)),
                    title: format!(
                        "{code}: raised {}, cleared {}",
                        s.raised_s.map_or(
                            if s.beyond_listing { UNLISTED_OR_BEFORE } else { "before the case" }.into(),
                            clock
                        ),
                        s.cleared_s.map_or(
                            if s.beyond_listing { UNLISTED } else { "never (active at the end)" }.into(),
                            clock
                        )
                    ),
                }
            })
            .collect();
        lanes.push(Lane { color: alarm_color(&code).into(), label: code, spans, ticks: vec![] });
    }
    if let Some(u) = unlisted {
        lanes.push(Lane {
            label: UNLISTED_LANE.into(),
            color: MARK_COLOR.into(),
            spans: vec![LaneSpan { from: x(u.from_s), to: x(u.to_s), title: unlisted_text(u) }],
            ticks: vec![],
        });
    }
    let boots: Vec<LaneTick> = record
        .pump_events
        .iter()
        .filter(|e| e.kind == "BOOT")
        .map(|e| LaneTick {
            at: x(e.at_s),
            color: BOOT_COLOR.into(),
            title: format!("BOOT {} at {}", e.what, clock(e.at_s)),
        })
        .collect();
    if !boots.is_empty() {
        lanes.push(Lane { label: BOOT_LANE.into(), color: BOOT_COLOR.into(), spans: vec![], ticks: boots });
    }
    lanes
}

/// One row of the events table.
struct EventRow {
    from_s: Option<f64>,
    to_s: Option<f64>,
    /// The span runs past the end of the record.
    open_end: bool,
    /// The span runs into the pump events the record does not list.
    beyond_listing: bool,
    lane: String,
    color: &'static str,
    what: String,
}

/// Every mark, valve span, bolus (refusals in runs of one reason), alarm and boot, in order.
fn events_table(o: &mut String, record: &CaseRecord, h: &CaseHistory) {
    let mut rows: Vec<EventRow> = Vec::new();
    let point = |at: f64, lane: &str, color: &'static str, what: String| EventRow {
        from_s: Some(at),
        to_s: None,
        open_end: false,
        beyond_listing: false,
        lane: lane.into(),
        color,
        what,
    };
    for m in &record.marks {
        rows.push(point(m.at_s, "mark", MARK_COLOR, format!("mark <span class=\"mono\">{}</span>", xml_text(&m.name))));
    }
    for s in &record.valve_closed {
        rows.push(EventRow {
            from_s: Some(s.from_s),
            to_s: s.to_s,
            open_end: s.to_s.is_none(),
            beyond_listing: false,
            lane: VALVE_LANE.into(),
            color: VALVE_COLOR,
            what: "valve closed (energised)".into(),
        });
    }
    let mut refusals: Vec<(&str, f64, f64, usize)> = Vec::new(); // reason, first, last, count
    for b in &record.boluses {
        if !b.granted {
            let reason = b.refused.as_deref().unwrap_or("?");
            let at = b.requested_s.unwrap_or(0.0);
            match refusals.last_mut() {
                Some((r, _, last, n)) if *r == reason => (*last, *n) = (at, *n + 1),
                _ => refusals.push((reason, at, at, 1)),
            }
            continue;
        }
        flush_refusals(&mut rows, &mut refusals);
        let id = b.id.map_or("?".into(), |id| id.to_string());
        let mut what = format!("bolus {id} granted");
        if let Some(r) = b.requested_s {
            let _ = write!(what, " at {}", clock(r));
        }
        match b.delivered_ul {
            Some(d) => {
                let _ = write!(what, "; the pump's END says {}\u{a0}µL delivered", num(d));
            }
            None if b.started_s.is_none() => what.push_str("; no START reported"),
            None => what.push_str("; no END reported"),
        }
        rows.push(EventRow {
            from_s: b.started_s.or(b.requested_s),
            to_s: b.ended_s,
            open_end: b.started_s.is_some() && b.ended_s.is_none(),
            beyond_listing: false,
            lane: BOLUS_LANE.into(),
            color: BOLUS_COLOR,
            what,
        });
    }
    flush_refusals(&mut rows, &mut refusals);
    for s in &h.alarms {
        let priority = s.code.parse::<AlarmCode>().map(|c| c.priority().to_string()).unwrap_or_default();
        rows.push(EventRow {
            from_s: s.raised_s,
            to_s: s.cleared_s,
            open_end: s.cleared_s.is_none() && !s.beyond_listing,
            beyond_listing: s.beyond_listing,
            lane: s.code.clone(),
            color: alarm_color(&s.code),
            what: format!("{priority} alarm").trim_start().to_string(),
        });
    }
    for e in record.pump_events.iter().filter(|e| e.kind == "BOOT") {
        rows.push(point(e.at_s, BOOT_LANE, BOOT_COLOR, format!("BOOT reason={}", xml_text(&e.what))));
    }
    let unlisted = record.pump_events_unlisted.as_ref();
    if let Some(u) = unlisted {
        rows.push(EventRow {
            to_s: Some(u.to_s),
            ..point(u.from_s, UNLISTED_LANE, MARK_COLOR, xml_text(&unlisted_text(u)))
        });
    }
    // A span raised among the unlisted events sorts where they end.
    let gap_to = unlisted.map_or(f64::NEG_INFINITY, |u| u.to_s);
    let key = |r: &EventRow| r.from_s.unwrap_or(if r.beyond_listing { gap_to } else { f64::NEG_INFINITY });
    rows.sort_by(|a, b| key(a).total_cmp(&key(b)));

    o.push_str("<h3>Events</h3>\n");
    if rows.is_empty() {
        o.push_str("<p class=\"muted\">No marks, valve moves, boluses, alarms or boots.</p>\n");
        return;
    }
    o.push_str("<table class=\"events\">\n<tr><th>from</th><th>to</th><th>for</th><th>lane</th><th>what</th></tr>\n");
    for r in &rows {
        let before = if r.beyond_listing { UNLISTED_OR_BEFORE } else { "before the case" };
        let from = r.from_s.map_or(before.into(), clock);
        let (to, span) = match (r.from_s, r.to_s) {
            (_, None) if r.open_end => ("<span class=\"bad\">active at the end</span>".to_owned(), String::new()),
            (_, None) if r.beyond_listing => (UNLISTED.to_owned(), String::new()),
            (_, None) => (String::new(), String::new()),
            (Some(a), Some(b)) => (clock(b), duration(b - a)),
            (None, Some(b)) => (clock(b), String::new()),
        };
        let _ = writeln!(
            o,
            "<tr class=\"event\"><td class=\"num\">{from}</td><td class=\"num\">{to}</td><td class=\"num\">{span}</td>\
             <td><span style=\"color:{}\">■</span> {}</td><td>{}</td></tr>",
            r.color,
            xml_text(&r.lane),
            r.what
        );
    }
    o.push_str("</table>\n<p class=\"muted\">Times from the case's start (h:mm:ss.s).</p>\n");
}

/// Adds the pending runs of refused bolus requests as rows.
fn flush_refusals(rows: &mut Vec<EventRow>, refusals: &mut Vec<(&str, f64, f64, usize)>) {
    for (reason, first, last, n) in refusals.drain(..) {
        let what = if n == 1 {
            format!("bolus request refused, reason {}", xml_text(reason))
        } else {
            format!("{n} bolus requests refused, reason {}", xml_text(reason))
        };
        rows.push(EventRow {
            from_s: Some(first),
            to_s: (n > 1).then_some(last),
            open_end: false,
            beyond_listing: false,
            lane: BOLUS_LANE.into(),
            color: REFUSED_COLOR,
            what,
        });
    }
}

/// Inlines an SVG chart. HTML needs no namespace declaration for inline SVG: dropping it keeps
/// the page free of any URL.
fn figure(o: &mut String, svg: &str, caption: &str) {
    let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
    let _ = writeln!(o, "<figure>\n{svg}<figcaption>{}</figcaption>\n</figure>", xml_text(caption));
}

/// One trumpet curve and the checks judged on it (checks over the same interval and rate carry
/// the same curve).
struct TrumpetGroup<'a> {
    curve: &'a TrumpetCurve,
    checks: Vec<&'a CheckOutcome>,
}

fn trumpets(o: &mut String, record: &CaseRecord) {
    let mut groups: Vec<TrumpetGroup> = Vec::new();
    for c in &record.checks {
        let Some(TrumpetMeasurement { curve, .. }) = &c.trumpet else { continue };
        match groups.iter_mut().find(|g| g.curve == curve) {
            Some(g) => g.checks.push(c),
            None => groups.push(TrumpetGroup { curve, checks: vec![c] }),
        }
    }
    if groups.is_empty() {
        return;
    }
    o.push_str("<section id=\"trumpet\">\n<h2>Trumpet curves</h2>\n");
    o.push_str(
        "<p class=\"muted\">Each curve is the one its checks computed and were judged on (record.json keeps it with \
         the check).</p>\n",
    );
    for (n, g) in groups.iter().enumerate() {
        let t = g.curve;
        let windows = || t.windows.iter().map(|w| w.window_s / 60.0);
        let p_range = windows()
            .fold(None, |acc: Option<(f64, f64)>, p| Some(acc.map_or((p, p), |(lo, hi)| (lo.min(p), hi.max(p)))));
        let mut series_list = vec![
            series("Ep(max)", windows().zip(t.windows.iter().map(|w| w.ep_max_pct)).collect(), ALARM_COLOR, false),
            series("Ep(min)", windows().zip(t.windows.iter().map(|w| w.ep_min_pct)).collect(), FLOW_COLOR, false),
        ];
        if let Some((lo, hi)) = p_range {
            series_list.push(series(
                "A (overall)",
                vec![(lo, t.overall_error_pct), (hi, t.overall_error_pct)],
                PROGRAMMED_COLOR,
                true,
            ));
        }
        // The limits the checks held their windows to, as ± lines over those windows.
        let mut limits: Vec<(f64, Vec<f64>)> = Vec::new();
        for c in &g.checks {
            let (Some(limit), Some(window)) = (c.high, judged_window(c)) else { continue };
            match limits.iter_mut().find(|(l, _)| *l == limit) {
                Some((_, ws)) => ws.push(window),
                None => limits.push((limit, vec![window])),
            }
        }
        for (limit, ws) in &limits {
            let (a, b) = ws.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &w| (a.min(w), b.max(w)));
            series_list.push(series(
                &format!("limit ±{} % (checked windows)", num(*limit)),
                vec![(a, *limit), (b, *limit), (f64::NAN, f64::NAN), (a, -limit), (b, -limit)],
                LIMIT_COLOR,
                true,
            ));
        }
        // Symmetric about 0, with room above the limit lines.
        let extreme = t
            .windows
            .iter()
            .flat_map(|w| [w.ep_max_pct.abs(), w.ep_min_pct.abs()])
            .chain([t.overall_error_pct.abs()])
            .chain(limits.iter().map(|(l, _)| l.abs()))
            .filter(|v| v.is_finite())
            .fold(1.0_f64, f64::max);
        let title = format!("Trumpet curve {}: {} µL/h", n + 1, num(t.rate_ul_h));
        let chart = Chart {
            y_range: Some((-extreme * 1.15, extreme * 1.15)),
            title: title.clone(),
            x_label: "observation window P (min)".into(),
            y_label: "flow error (%)".into(),
            width: 720,
            height: 340,
            series: series_list,
            x_range: None,
        };
        let _ = writeln!(o, "<h3>{}</h3>", xml_text(&title));
        let _ = writeln!(
            o,
            "<p>Programmed flow r = {} µL/h; analysis period {} to {} after the case's start; sample period S = {} \
             s.</p>",
            num(t.rate_ul_h),
            clock(t.from_s),
            clock(t.to_s),
            num(t.sample_period_s)
        );
        o.push_str("<div class=\"trumpet\">\n");
        figure(o, &svg::render_xy(&chart), "Ep(max) and Ep(min) against the observation window P.");
        o.push_str(
            "<table>\n<tr><th>P (min)</th><th>m</th><th>Ep(max) (%)</th><th>Ep(min) (%)</th><th>judged by</th></tr>\n",
        );
        for w in &t.windows {
            let judged: Vec<String> = g
                .checks
                .iter()
                .filter(|c| judged_window(c) == Some(w.window_s / 60.0))
                .map(|c| format!("{} {}", mono(&c.id), verdict_badge(c.verdict, false)))
                .collect();
            let _ = writeln!(
                o,
                "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td>{}</td></tr>",
                num(w.window_s / 60.0),
                w.positions,
                fixed(w.ep_max_pct, 2),
                fixed(w.ep_min_pct, 2),
                if judged.is_empty() {
                    "<span class=\"muted\">reported, not judged</span>".to_owned()
                } else {
                    judged.join("<br>")
                }
            );
        }
        let _ = writeln!(
            o,
            "<tr><th colspan=\"3\">A, overall error (%)</th><td class=\"num\">{}</td><td></td></tr>\n</table>\n</div>",
            fixed(t.overall_error_pct, 2)
        );
    }
    o.push_str("</section>\n");
}

/// The observation window (min) a trumpet check judged.
fn judged_window(c: &CheckOutcome) -> Option<f64> {
    c.trumpet.as_ref().map(|t| t.judged_window_s / 60.0)
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
                xml_text(&typeset(&s.label)),
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
    // Whether a page fault could have held the sampler: memory locked or not, where it asked.
    let memory = match &s.scheduling.memory {
        Some(m) if m.locked => format!("<br>memory {}", xml_text(&m.detail)),
        Some(m) => format!("<br><span class=\"bad\">memory {}</span>", xml_text(&m.detail)),
        None => String::new(),
    };
    o.push_str(
        "<table>\n<tr><th>period</th><th>scheduling</th><th>deadlines</th><th>missed</th><th>failed reads</th>\
         <th>wake-up lateness p50 / p99 / max</th><th>read p50 / p99 / max</th></tr>\n",
    );
    let _ = writeln!(
        o,
        "<tr><td class=\"num\">{} ms</td><td>{}{memory}</td><td class=\"num\">{}</td><td class=\"num\">{missed}</td>\
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
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::io::Write as _;

    use super::*;
    use crate::analysis::{TrumpetCurve, TrumpetWindow};
    use crate::evidence::record::{
        BenchIdentity, BolusRecord, MarkRecord, PlanIdentity, PumpCommandRecord, PumpEventRecord, PumpStateRecord,
        RigBuild, SafeStateRecord, Span, StepRecord,
    };
    use crate::evidence::samples_csv::HEADER;
    use crate::protocol::PumpIdentity;

    /// A 3000 s occlusion case at 500 µL/h: valve closed 1800–2500 s, OCCLUSION at 2495 s.
    pub(crate) fn occlusion_record() -> CaseRecord {
        CaseRecord {
            format: super::super::record::RECORD_FORMAT,
            run_id: "4f9a02c1".into(),
            rig: RigBuild {
                version: "0.1.0".into(),
                git_commit: "v0.1.0-42-gabcdef0-dirty".into(),
                executable_sha256: "c".repeat(64),
                target: "aarch64-unknown-linux-gnu".into(),
            },
            host: "bench-pc-3".into(),
            operator: "j.doe".into(),
            operator_source: "--operator".into(),
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
                identity_mismatch_allowed: false,
            },
            instruments: vec![Instrument {
                role: "flow".into(),
                model: "Sensirion SLI-0430".into(),
                serial_number: "FS-1234".into(),
                reported: Some(crate::evidence::record::ReportedIdentity {
                    product_number: "0x07030102".into(),
                    serial_number: "FS-1234".into(),
                }),
                identity: IdentityCheck::Confirmed,
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
            slow_answers: None,
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
            pump_events_unlisted: None,
            pump_events: vec![
                PumpEventRecord { at_s: 0.0, kind: "BOOT".into(), what: "POWER_ON".into() },
                PumpEventRecord { at_s: 2495.0, kind: "ALARM".into(), what: "OCCLUSION".into() },
                PumpEventRecord { at_s: 2800.0, kind: "ALARM".into(), what: "THERAPY_INTERRUPTED".into() },
                PumpEventRecord { at_s: 2700.0, kind: "CLEAR".into(), what: "OCCLUSION".into() },
            ],
            valve_closed: vec![Span { from_s: 1800.0, to_s: Some(2500.0) }],
            pump_commands: vec![
                PumpCommandRecord {
                    at_s: 0.5,
                    command: "ALARM_CONFIG low_reservoir_ul=19000 occlusion_kpa=150".into(),
                    outcome: "accepted".into(),
                },
                PumpCommandRecord { at_s: 0.6, command: "PROGRAM basal_ul_h=500".into(), outcome: "accepted".into() },
            ],
            boluses: vec![
                BolusRecord {
                    requested_s: Some(300.0),
                    granted: true,
                    id: Some(1),
                    refused: None,
                    started_s: Some(300.1),
                    ended_s: Some(480.1),
                    delivered_ul: Some(50.0),
                },
                BolusRecord {
                    requested_s: Some(2600.0),
                    granted: false,
                    id: None,
                    refused: Some("ALARM".into()),
                    started_s: None,
                    ended_s: None,
                    delivered_ul: None,
                },
                BolusRecord {
                    requested_s: Some(2610.0),
                    granted: false,
                    id: None,
                    refused: Some("ALARM".into()),
                    started_s: None,
                    ended_s: None,
                    delivered_ul: None,
                },
            ],
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
                    trumpet: None,
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
                    trumpet: None,
                },
                CheckOutcome {
                    id: "bolus-refused".into(),
                    title: "pump answer: denied with reason ALARM".into(),
                    value: None,
                    unit: Unit::Count,
                    uncertainty: None,
                    low: None,
                    high: None,
                    drift: None,
                    decision: Decision::Pass,
                    verdict: Verdict::Pass,
                    detail: "the pump denied it (reason ALARM); expected <= 1 uL".into(),
                    verifies: vec!["SRS-WDR-005".into()],
                    trumpet: None,
                },
                CheckOutcome {
                    id: "trumpet-19min".into(),
                    title: "19 min windows within 15 %".into(),
                    value: Some(2.2),
                    unit: Unit::Percent,
                    uncertainty: Some(0.25),
                    low: None,
                    high: Some(15.0),
                    drift: None,
                    decision: Decision::Pass,
                    verdict: Verdict::Pass,
                    detail: "2.2 ± 0.250 % within <= 15 %".into(),
                    verifies: vec![],
                    trumpet: Some(TrumpetMeasurement { judged_window_s: 19.0 * 60.0, curve: trumpet_curve() }),
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
            baseline: None,
            signing: None,
            sampler: None,
        }
    }

    fn trumpet_curve() -> TrumpetCurve {
        TrumpetCurve {
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
        }
    }

    /// A samples.csv of the occlusion case, one row a second; `tail` is appended as is.
    pub(crate) fn occlusion_csv(tail: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut w = std::io::BufWriter::new(f.as_file_mut());
        writeln!(w, "{HEADER}").unwrap();
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
            let (state, pressure, reservoir) = if t < 1.5 {
                (String::new(), String::new(), String::new())
            } else {
                let p = if closed { 20.0 + (t - 1800.0) * 0.3 } else { 20.0 };
                let state = if t < 2.0 { "STOPPED" } else { "RUNNING" };
                (state.to_owned(), format!("{p:.3}"), format!("{:.3}", 20_000.0 - volume))
            };
            writeln!(w, "{t:.3},{flow:.3},{volume:.4},{},{state},{pressure},{reservoir},0.150", u8::from(closed))
                .unwrap();
        }
        w.write_all(tail.as_bytes()).unwrap();
        drop(w);
        f
    }

    /// The text of `html` between its tags, with runs of whitespace joined.
    pub(crate) fn visible_text(html: &str) -> String {
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
        html.match_indices("<svg")
            .map(|(i, _)| &html[i..i + html[i..].find("</svg>").unwrap() + "</svg>".len()])
            .collect()
    }

    /// The SVGs of a page and the texts of their `<text>` elements of `class`.
    fn texts_of(svg: &str, class: &str) -> Vec<String> {
        let doc = roxmltree::Document::parse(svg).unwrap();
        doc.descendants()
            .filter(|n| n.has_tag_name("text") && n.attribute("class") == Some(class))
            .filter_map(|n| n.text().map(str::to_owned))
            .collect()
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
        record.pump_at_start = Some(crate::evidence::record::pump_snapshot::PumpSnapshot {
            id: record.pump.clone().unwrap(),
            status,
            alarms: vec![AlarmCode::ReservoirLow],
            settings: crate::protocol::SettingsReport {
                basal_ul_h: 10.0,
                dose_ul: 50.0,
                lockout_s: 3600,
                max_per_24h: 4,
                max_24h_ul: 1200.0,
                low_reservoir_ul: 2000.0,
                occlusion_kpa: 200.0,
                therapy_on: false,
            },
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
        assert!(text.contains("programmed (SETTINGS) basal 10 µL/h, bolus 50 µL, lockout 3600 s, at most 4 per 24 h, limit 1200 µL per 24 h, low reservoir 2000 µL, occlusion 200 kPa, therapy off"), "{text}");
        assert!(
            text.contains("2 pump event(s) lost on the link (evseq 4 expected, 6 received); ALARMS re-read: OCCLUSION"),
            "{text}"
        );
    }

    #[test]
    fn slow_answers_show_their_count_and_the_worst_latency() {
        let mut record = occlusion_record();
        let plot = read_plot_data(occlusion_csv("").path(), 2000).unwrap();
        assert!(!visible_text(&render_report(&record, &plot)).contains("later than the ICD"));
        let mut slow = None;
        crate::evidence::record::SlowAnswers::add(&mut slow, 61.0, "12 STATUS", 401.2, 50);
        crate::evidence::record::SlowAnswers::add(&mut slow, 75.5, "13 PROGRAM basal_ul_h=500", 612.75, 50);
        crate::evidence::record::SlowAnswers::add(&mut slow, 80.0, "14 STATUS", 70.0, 50);
        record.slow_answers = slow;
        record.anomalies.push(crate::evidence::record::AnomalyRecord {
            at_s: 61.0,
            what: "the pump answered `12 STATUS` 401.2 ms after the request's write started; the ICD allows 50 ms"
                .into(),
        });
        let text = visible_text(&render_report(&record, &plot));
        assert!(
            text.contains("3 answer(s) from the pump later than the ICD's 50 ms; the worst 612.75 ms, to 13 PROGRAM basal_ul_h=500 at"),
            "{text}"
        );
        assert!(text.contains("answered `12 STATUS` 401.2 ms"), "each is listed: {text}");
    }

    #[test]
    fn the_sampler_timing_is_one_row_and_a_missed_deadline_stands_out() {
        use crate::realtime::{MemoryLock, Percentiles, Scheduling};
        let mut record = occlusion_record();
        let plot = read_plot_data(occlusion_csv("").path(), 2000).unwrap();
        let text = visible_text(&render_report(&record, &plot));
        assert!(text.contains("No sampler statistics"), "{text}");
        let p = |p50_ms, p99_ms, max_ms| Some(Percentiles { count: 6000, p50_ms, p99_ms, max_ms });
        record.sampler = Some(crate::evidence::record::sampler_stats::SamplerStats {
            scheduling: Scheduling {
                realtime: true,
                policy: "SCHED_FIFO priority 20".into(),
                memory: Some(MemoryLock { locked: true, detail: "locked (mlockall MCL_CURRENT|MCL_FUTURE)".into() }),
            },
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
            text.contains(
                "10 ms SCHED_FIFO priority 20 memory locked (mlockall MCL_CURRENT|MCL_FUTURE) 6000 2 1 0.061 / 0.128 / 1.473 ms 0.287 / 0.381 / 3.656 ms"
            ),
            "{text}"
        );
        assert!(html.contains("<span class=\"bad\">2</span>"), "missed deadlines are marked");
        let sampler = record.sampler.as_mut().unwrap();
        sampler.scheduling.memory = Some(MemoryLock { locked: false, detail: "not locked: RLIMIT_MEMLOCK".into() });
        let html = render_report(&record, &plot);
        assert!(
            html.contains("<span class=\"bad\">memory not locked: RLIMIT_MEMLOCK</span>"),
            "an unlocked memory is marked"
        );
    }

    #[test]
    fn occlusion_report_is_self_contained_and_shows_the_occlusion() {
        let csv = occlusion_csv("");
        let plot = read_plot_data(csv.path(), 2000).unwrap();
        assert_eq!((plot.samples, plot.torn_line), (3000, None));
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
        // The case against time, and the trumpet curve.
        let charts = svgs(&html);
        assert_eq!(charts.len(), 2);
        let timeline = charts[0];
        crate::evidence::svg::tests::assert_labels_clear(timeline, "occlusion timeline");
        crate::evidence::svg::tests::assert_labels_clear(charts[1], "trumpet");
        assert_eq!(
            texts_of(timeline, "panel-title"),
            ["flow (µL/h)", "volume (µL)", "pressure (kPa)", "reservoir (µL)"]
        );
        assert_eq!(texts_of(timeline, "marker"), ["steady", "occluded"]);
        assert_eq!(
            texts_of(timeline, "lane-label"),
            ["valve closed", "bolus", "OCCLUSION", "THERAPY_INTERRUPTED", "boot"]
        );
        assert!(timeline.contains("time (min)"), "a 50 min run is plotted in minutes");
        // The 9000 µL/h release is clipped at 1.5 × the programmed flow and its peak labelled.
        assert_eq!(texts_of(timeline, "note"), ["▲ clipped: peak 9000 µL/h at 41.667\u{a0}min"]);
        let legend = texts_of(timeline, "legend");
        for entry in ["measured flow", "programmed", "valve closed", "occlusion threshold 150\u{a0}kPa"] {
            assert!(legend.iter().any(|l| l == entry), "{entry}: {legend:?}");
        }
        assert!(legend.iter().any(|l| l == "low-reservoir threshold 19000\u{a0}µL"), "{legend:?}");
        // The programmed flow peaks at 1500 µL/h (the bolus on top of the basal): the axis ends
        // at 1.5 × that.
        let ticks = texts_of(timeline, "tick");
        assert_eq!(ticks[..4], ["0", "500", "1000", "1500"], "{ticks:?}");
        assert!(!ticks.iter().any(|t| t == "2500" || t == "9000"), "{ticks:?}");
        let text = visible_text(body(&html));
        assert!(text.contains("The occlusion threshold: 200 kPa from the ICD's defaults after boot (assumed"));
        assert!(text.contains("then 150 kPa from ALARM_CONFIG at 0:00:00.5."), "{text}");
        assert!(text.contains("(1 granted bolus included)"), "{text}");

        // The simulated bench says so first (no expired calibration here), and in the title.
        assert!(!html.contains("CALIBRATION EXPIRED"));
        assert!(html.contains("<title>SIMULATED BENCH — occlusion[fast] — FAIL — rig report</title>"));
        assert!(text.starts_with("SIMULATED BENCH — not evidence about a device (this case ran on the digital twin"));
        assert!(html.contains("class=\"sim-watermark\""));
        let text = text[text.find("FAIL occlusion").unwrap()..].to_owned();
        assert!(text.starts_with("FAIL occlusion[fast] — Occlusion <b>& \"alarm\"</b> at 500 µL/h"), "{text:.200}");
        assert!(text.contains("Stopped early: the pump said \"<nope>\""));
        assert!(text.contains("4 checks: 3 PASS, 1 FAIL"), "{text:.600}");
        assert!(text.contains("Bench time 50 min 00 s · wall time 50 min 13 s · 3000 samples"), "{text:.600}");

        // Verdicts, coloured.
        assert!(html.contains("<span class=\"verdict big v-fail\">FAIL</span>"));
        assert!(html.contains("<span class=\"verdict v-pass\">PASS</span>"));
        // Checks: value ± uncertainty by one rounding rule, limits, decision; the detail only
        // where nothing was measured, in the report's notation.
        assert!(text.contains("time-to-alarm OCCLUSION within 20 min 695.0 ± 1.0 s ≤ 1200 s pass PASS SRS-OCC-002 "));
        assert!(text.contains("bolus-after Released bolus ≤ 150 µL 171.3 ± 8.6 µL ≤ 150 µL fail FAIL SRS-OCC-003 "));
        assert!(!text.contains("& rising"), "a measured check's detail restates its row");
        assert!(text.contains("the pump denied it (reason ALARM); expected ≤ 1 µL"), "{text}");
        assert!(text.contains("2.20 ± 0.25 % ≤ 15 %"), "{text}");

        // The events table: every mark, valve span, bolus, refusal run, alarm and boot, in order.
        let rows: Vec<String> = html
            .match_indices("<tr class=\"event\">")
            .map(|(i, _)| visible_text(&html[i..i + html[i..].find("</tr>").unwrap()]))
            .collect();
        assert_eq!(
            rows,
            [
                "0:00:00.0 ■ boot BOOT reason=POWER_ON",
                "0:05:00.1 0:08:00.1 3 min 00 s ■ bolus bolus 1 granted at 0:05:00.0; the pump's END says 50 µL delivered",
                "0:10:00.0 ■ mark mark steady",
                "0:30:00.0 ■ mark mark occluded",
                "0:30:00.0 0:41:40.0 11 min 40 s ■ valve closed valve closed (energised)",
                "0:41:35.0 0:45:00.0 3 min 25 s ■ OCCLUSION HIGH alarm",
                "0:43:20.0 0:43:30.0 10.0 s ■ bolus 2 bolus requests refused, reason ALARM",
                "0:46:40.0 active at the end ■ THERAPY_INTERRUPTED HIGH alarm",
            ]
        );

        // Coverage rows: every id the plan covers, its title, and what verified it.
        let rows: Vec<&str> = html.match_indices("<tr class=\"coverage\">").map(|(i, _)| &html[i..]).collect();
        assert_eq!(rows.len(), 4);
        let row = |i: usize| visible_text(&rows[i][..rows[i].find("</tr>").unwrap()]);
        assert!(row(0).starts_with("SRS-OCC-002 Complete occlusion at 500 µL/h"), "{}", row(0));
        assert!(row(0).ends_with("time-to-alarm PASS"), "{}", row(0));
        assert!(row(1).ends_with("bolus-after FAIL"), "{}", row(1));
        assert!(row(2).ends_with("not verified in this case"), "{}", row(2));

        // The trumpet curve is the check's, its judged window named in the table.
        assert!(text.contains("Trumpet curve 1: 500 µL/h"));
        assert!(text.contains("2 19 6.10 -5.20 reported, not judged"), "{text}");
        assert!(text.contains("19 2 2.20 -1.80 trumpet-19min PASS"), "{text}");
        assert!(text.contains("A, overall error (%) -0.80"));
        assert!(texts_of(charts[1], "legend").contains(&"limit ±15 % (checked windows)".to_owned()));

        // Identity, steps, safe state, footer.
        assert!(text.contains("serial SN0001 firmware 1.4.2 build deadbeef"));
        assert!(html.contains("<span class=\"bad\">late-occlusion</span>"), "seeded faults in red");
        assert!(text.contains("Sensirion SLI-0430 FS-1234 2026-01-31 5 % of reading"));
        assert!(text.contains(&format!("plans/occlusion.yaml SHA-256 {}", "a".repeat(64))));
        assert!(text.contains("rig version 0.1.0 git commit v0.1.0-42-gabcdef0-dirty host bench-pc-3 operator j.doe"));
        assert!(text.contains("0 program 500 µL/h 0:00:00.0"), "step labels in the report's notation");
        assert!(text.contains("2 wait for OCCLUSION 0:30:00.1 did not finish"));
        assert!(text.contains("MANIFEST.sha256; check with rig verify <folder> or sha256sum -c MANIFEST.sha256."));
    }

    #[test]
    fn a_hardware_bench_carries_no_simulation_banner() {
        let mut record = occlusion_record();
        record.bench.kind = "hardware".into();
        let html = render_report(&record, &PlotData::default());
        assert!(!html.contains("SIMULATED"), "a device's report");
        assert!(visible_text(body(&html)).starts_with("FAIL occlusion[fast]"));
        for kind in ["sim-process", "something-new"] {
            record.bench.kind = kind.into();
            let html = render_report(&record, &PlotData::default());
            assert!(visible_text(body(&html)).starts_with("SIMULATED BENCH — not evidence about a device"), "{kind}");
            assert!(html.contains("<title>SIMULATED BENCH — "), "{kind}");
        }
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
        assert!(html.contains("Released bolus ≤ 150 µL"));
        // With no samples the case still plots from the record alone, minus pressure and reservoir.
        let charts = svgs(&html);
        assert_eq!(charts.len(), 2);
        assert_eq!(texts_of(charts[0], "panel-title"), ["flow (µL/h)", "volume (µL)"]);
        assert!(html.contains("The pump reported no STATUS: no pressure or reservoir to plot."));
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
    fn an_allowed_identity_mismatch_is_the_first_text_of_the_body() {
        let mut record = occlusion_record();
        record.bench.identity_mismatch_allowed = true;
        record.instruments[0].identity = IdentityCheck::Mismatch;
        record.instruments[0].reported.as_mut().unwrap().serial_number = "539230209".into();
        let html = render_report(&record, &PlotData::default());
        let text = visible_text(body(&html));
        assert!(
            text.starts_with(
                "IDENTITY NOT CONFIRMED — this run is not valid as evidence: flow Sensirion SLI-0430 reports serial \
                 539230209, bench file says FS-1234"
            ),
            "{text:.300}"
        );
        assert!(text.contains("MISMATCH: the instrument reported another serial number"), "{text:.3000}");
    }

    #[test]
    fn drift_from_the_baseline_is_a_banner_and_a_row_per_finding() {
        use crate::evidence::baseline::{BaselineComparison, BaselineOutcome};
        use crate::evidence::result::Drift;
        let mut record = occlusion_record();
        record.verdict = Verdict::Pass;
        record.baseline = Some(BaselineComparison {
            folder: "baselines".into(),
            file: "baselines/occlusion_fast.result.yaml".into(),
            sha256: Some("d".repeat(64)),
            outcome: BaselineOutcome::Drifted,
            detail: None,
            approval: None,
            findings: vec![Drift {
                check: "time-to-alarm".into(),
                what: "695 s drifted from the approved 395 s".into(),
            }],
            notes: vec!["approved on a twin bench (digital-twin), this run is on a sim-process bench (x)".into()],
        });
        let html = render_report(&record, &PlotData::default());
        let text = visible_text(body(&html));
        assert!(
            text.starts_with("DRIFT FROM THE APPROVED BASELINE — 1 finding: time-to-alarm: 695 s drifted"),
            "{text:.300}"
        );
        assert!(html.contains("<td class=\"bad\">695 s drifted from the approved 395 s</td>"), "{html}");
        assert!(text.contains("approved on a twin bench"), "{text:.3000}");
        assert!(text.contains(&"d".repeat(64)));
    }

    #[test]
    fn other_verdicts_and_long_runs() {
        let mut record = occlusion_record();
        record.verdict = Verdict::Inconclusive;
        record.bench_time_s = 7.0 * 86_400.0;
        record.pump = None;
        record.reason = None;
        record.samples = 1;
        let html = render_report(&record, &PlotData::default());
        assert!(html.contains("<span class=\"verdict big v-inconclusive\">INCONCLUSIVE</span>"));
        assert!(html.contains("time (h)"), "a week is plotted in hours");
        assert!(html.contains("no ID answer"));
        assert!(!html.contains("Stopped early"));
        let text = visible_text(&html);
        assert!(text.contains("Bench time 7 d 0 h 00 min"));
        assert!(text.contains(" · 1 sample (0 in samples.csv) · "), "{text}");
        record.verdict = Verdict::Aborted;
        assert!(render_report(&record, &PlotData::default()).contains("v-aborted\">ABORTED</span>"));
    }

    fn write_csv(rows: impl IntoIterator<Item = String>, tail: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut w = std::io::BufWriter::new(f.as_file_mut());
        writeln!(w, "{HEADER}").unwrap();
        for r in rows {
            writeln!(w, "{r}").unwrap();
        }
        w.write_all(tail.as_bytes()).unwrap();
        drop(w);
        f
    }

    #[test]
    fn thinning_bounds_the_points_and_keeps_a_one_sample_spike() {
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
                let status = if i < 10 {
                    ",,".to_owned()
                } else {
                    format!("RUNNING,{:.3},{:.3}", 20.0 + f64::from(i % 13), 1000.0 - f64::from(i % 11))
                };
                format!("{:.3},{flow:.3},{:.4},0,{status},0.150", f64::from(i), f64::from(i) * 0.14)
            }),
            "",
        );
        for max in [5, 100, 1000, 2000] {
            let plot = read_plot_data(csv.path(), max).unwrap();
            assert_eq!(plot.samples, n as usize);
            for s in [&plot.flow, &plot.volume, &plot.pressure, &plot.reservoir] {
                assert!(s.len() <= max, "{max}: {}", s.len());
                // At least half of the (max - 2) / 3 buckets in use, each with two points.
                assert!(s.len() >= (max - 2) / 3, "{max}: buckets used: {}", s.len());
                assert!(s.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
                assert_eq!(s.last().unwrap().0, f64::from(n - 1), "last sample kept");
            }
            assert_eq!(plot.flow[0], (0.0, 500.0), "first sample kept");
            assert_eq!(plot.pressure[0].0, 10.0, "pressure starts at the first STATUS");
            assert!(plot.flow.contains(&(31_337.0, 4000.0)), "{max}: spike lost");
            assert!(plot.flow.contains(&(77_777.0, -300.0)), "{max}: dip lost");
        }
        // Short files are kept whole.
        let csv = write_csv((0..10).map(|i| format!("{i}.000,1.000,0.0000,0,,,,0.150")), "");
        let plot = read_plot_data(csv.path(), 100).unwrap();
        assert_eq!((plot.flow.len(), plot.volume.len(), plot.pressure.len(), plot.samples), (10, 10, 0, 10));
        // A NaN flow is a gap that survives thinning.
        let csv = write_csv(
            (0..5000).map(|i| {
                let flow = if i == 2500 { "NaN".to_owned() } else { "1.000".to_owned() };
                format!("{i}.000,{flow},0.0000,0,RUNNING,1.000,2.000,0.150")
            }),
            "",
        );
        let plot = read_plot_data(csv.path(), 200).unwrap();
        assert!(plot.flow.len() <= 200);
        assert!(plot.flow.iter().any(|p| p.1.is_nan()));
    }

    #[test]
    fn a_torn_last_line_is_left_out_and_said_so() {
        let csv = occlusion_csv("3001.000,499.100,208.3000,0,RUNN");
        let plot = read_plot_data(csv.path(), 100_000).unwrap();
        assert_eq!((plot.samples, plot.torn_line), (3000, Some(3002)));
        assert_eq!(plot.flow.last().unwrap().0, 3000.0);
        let mut record = occlusion_record();
        record.samples = 3001;
        let text = visible_text(&render_report(&record, &plot));
        assert!(
            text.contains(
                "3001 samples (3000 in samples.csv) (samples.csv line 3002 was cut short and is not plotted)"
            )
        );
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
                "41.000,oops,0.0000,0,RUNNING,1.000,2.000,0.150".to_owned()
            } else {
                format!("{i}.000,1.000,0.0000,0,RUNNING,1.000,2.000,0.150")
            }
        });
        let csv = write_csv(rows, "");
        let msg = read_plot_data(csv.path(), 10).unwrap_err().to_string();
        assert_eq!(msg, "line 43: flow_ul_h \"oops\" is not a number");
        // A short line in the middle is not a truncation: only the last line may be cut.
        let csv =
            write_csv(["1.000,1.000".to_owned(), "2.000,1.000,0.0000,0,RUNNING,1.000,2.000,0.150".to_owned()], "");
        assert_eq!(read_plot_data(csv.path(), 10).unwrap_err().to_string(), "line 2: 2 fields, the header has 8");
        // The bundle's writer names the file (bundle.rs), and the case then ends in ERROR.
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "t,flow").unwrap();
        let msg = read_plot_data(f.path(), 10).unwrap_err().to_string();
        assert!(msg.starts_with("line 1: the header is \"t,flow\""), "{msg}");
    }

    #[test]
    fn the_flow_axis_follows_the_programmed_flow_and_clips_a_spike() {
        let axis = TimeAxis::for_run(600.0);
        let programmed = [(0.0, 500.0), (10.0, 500.0)];
        // A minute of flow at about 500 µL/h, -3 µL/h of noise at the start, one peak at 2 s.
        let measured = |peak: f64| {
            let mut m: Vec<(f64, f64)> = (0..60).map(|i| (f64::from(i), 480.0 + f64::from(i % 26))).collect();
            m[0].1 = -3.0;
            m[2].1 = peak;
            m
        };
        let range = |m: &[(f64, f64)], p: &[(f64, f64)]| flow_scale(m, p, &axis).0.map(|(a, b)| (a.round(), b.round()));
        // Up to 1.5 × the programmed flow: a little above the highest, from 0 (the -3 µL/h of
        // noise aside).
        assert_eq!(range(&measured(520.0), &programmed), Some((0.0, 551.0)));
        assert_eq!(range(&measured(700.0), &programmed), Some((0.0, 742.0)));
        assert_eq!(range(&measured(300.0), &programmed), Some((0.0, 535.0)), "505 µL/h the highest");
        // A pulsatile pump's strokes twice the programmed flow are not a spike.
        let pulses: Vec<(f64, f64)> =
            (0..100).map(|i| (f64::from(i), if i % 3 == 0 { 1000.0 } else { 300.0 })).collect();
        assert_eq!(range(&pulses, &programmed), Some((0.0, 1060.0)));
        // Far above: clipped at 1.5 × the programmed flow, its peak in a note.
        let (r, notes) = flow_scale(&measured(12_100.0), &programmed, &axis);
        assert_eq!(r, Some((0.0, 750.0)));
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].text, "▲ clipped: peak 12100 µL/h at 2\u{a0}min");
        // Really negative flows widen the axis down; with nothing programmed, the data set it.
        assert_eq!(range(&[(0.0, -300.0), (1.0, 500.0)], &programmed), Some((-318.0, 530.0)));
        assert_eq!(range(&[(0.0, 3.0), (1.0, 12_100.0)], &[]), Some((0.0, 12_826.0)));
        assert_eq!(flow_scale(&[(0.0, 0.0), (1.0, f64::NAN)], &[], &axis).0, Some((0.0, 1.0)), "at least 1 µL/h");
        assert_eq!(flow_scale(&[], &[], &axis), (None, vec![]));
    }

    #[test]
    fn values_are_rounded_to_their_uncertainty() {
        assert_eq!(measured(101.559, Some(5.0779), Unit::Microlitres), "101.6 ± 5.1\u{a0}µL");
        assert_eq!(measured(16.2, Some(19.0), Unit::Seconds), "16 ± 19\u{a0}s");
        assert_eq!(measured(301.206, Some(19.0), Unit::Seconds), "301 ± 19\u{a0}s");
        assert_eq!(measured(0.034, Some(0.167), Unit::Microlitres), "0.03 ± 0.17\u{a0}µL");
        assert_eq!(measured(695.0, Some(1.0), Unit::Seconds), "695.0 ± 1.0\u{a0}s");
        assert_eq!(measured(1234.0, Some(190.0), Unit::Microlitres), "1230 ± 190\u{a0}µL");
        assert_eq!(measured(50.0, Some(9.96), Unit::Microlitres), "50 ± 10\u{a0}µL");
        assert_eq!(measured(-0.01, Some(0.25), Unit::Microlitres), "-0.01 ± 0.25\u{a0}µL");
        assert_eq!(measured(-0.001, Some(0.25), Unit::Microlitres), "0.00 ± 0.25\u{a0}µL");
        assert_eq!(measured(3.0, Some(0.5), Unit::Count), "3.00 ± 0.50");
        // Exact values (no uncertainty, or none worth the name) as they are.
        assert_eq!(measured(689.4, None, Unit::Seconds), "689.4\u{a0}s");
        assert_eq!(measured(48.0, None, Unit::Count), "48");
        assert_eq!(measured(48.0, Some(0.0), Unit::Count), "48");
    }

    #[test]
    fn the_rigs_notation_is_typeset() {
        assert_eq!(typeset("6.19 ± 0.310 uL within <= 15 uL"), "6.19 ± 0.310 µL within ≤ 15 µL");
        assert_eq!(typeset("flow below 5 uL/h; >= 1"), "flow below 5 µL/h; ≥ 1");
        assert_eq!(typeset("program 20 uL/h"), "program 20 µL/h");
        assert_eq!(typeset("uLtra fluid muL (uL)"), "uLtra fluid muL (µL)");
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
        assert_eq!(count(1, "sample", "samples"), "1 sample");
        assert_eq!(count(0, "sample", "samples"), "0 samples");
    }
}
