//! The reports of every shipped plan, run once on the in-process twin:
//!
//! - as a reviewer's browser lays them out, no chart label overlaps another or leaves its chart:
//!   each `<text>` of each SVG in each `report.html` is read back and boxed with the width
//!   estimate the layout itself uses (`rig::evidence::svg::text_box`), so a layout change that
//!   lets labels collide fails here without a browser (CI also screenshots two reports in
//!   headless Chromium);
//! - a trumpet check's outcome carries the curve it judged, record.json keeps it, the report
//!   draws that curve, and result.yaml stays without it.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::OnceLock;

use rig::bench::{EMBEDDED_TWIN, load_or_default};
use rig::evidence::svg::{Anchor, LabelBox, text_box};
use rig::run::runner::CaseOutcome;
use rig::run::{EmergencyStop, RunOptions, run_plans};

/// Every `<text>` of `svg` as its box, and the SVG's viewBox size.
fn label_boxes(svg: &str) -> (Vec<LabelBox>, f64, f64) {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not well-formed ({e}): {svg:.300}"));
    let view: Vec<f64> =
        doc.root_element().attribute("viewBox").unwrap().split(' ').map(|v| v.parse().unwrap()).collect();
    let boxes = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|t| {
            assert!(t.attribute("transform").is_none(), "rotated text {:?}", t.text());
            let number = |a: &str| -> f64 {
                t.attribute(a).unwrap_or_else(|| panic!("text {:?} has no {a}", t.text())).parse().unwrap()
            };
            text_box(
                t.text().unwrap_or(""),
                number("x"),
                number("y"),
                Anchor::from_attribute(t.attribute("text-anchor")),
                number("font-size"),
                t.attribute("font-weight") == Some("bold"),
            )
        })
        .collect();
    (boxes, view[2], view[3])
}

/// Every plan case of test-plans/ run on the nominal twin: (case name, bundle folder).
fn shipped_bundles() -> &'static [(String, PathBuf)] {
    static RUN: OnceLock<(tempfile::TempDir, Vec<(String, PathBuf)>)> = OnceLock::new();
    &RUN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let loaded = rig::plan::load_plans(&[root.join("test-plans")]);
        assert!(loaded.is_ok(), "{}", loaded.render_diagnostics());
        let bench = load_or_default(None, EMBEDDED_TWIN, "rig/sim.yaml").unwrap();
        let out = tempfile::tempdir().unwrap();
        let options = RunOptions::new(bench, out.path().to_path_buf());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        let summary = runtime.block_on(async {
            let (_tx, interrupt) = tokio::sync::watch::channel(None);
            run_plans(&loaded.plans, &options, interrupt, &EmergencyStop::default()).await
        });
        let bundles = summary
            .cases
            .iter()
            .map(|case| match &case.outcome {
                CaseOutcome::Ran { dir, .. } => (case.name.clone(), dir.clone()),
                other => panic!("{} did not run: {other:?}", case.name),
            })
            .collect();
        (out, bundles)
    })
    .1
}

#[test]
fn no_label_overlaps_another_or_leaves_its_chart_in_any_shipped_report() {
    let (mut reports, mut charts, mut labels) = (0, 0, 0);
    for (name, dir) in shipped_bundles() {
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        let svgs: Vec<&str> = html
            .match_indices("<svg")
            .map(|(i, _)| &html[i..i + html[i..].find("</svg>").expect("a closed svg") + "</svg>".len()])
            .collect();
        assert!(!svgs.is_empty(), "{name}: no chart");
        for (n, svg) in svgs.iter().enumerate() {
            let (boxes, w, h) = label_boxes(svg);
            for (i, a) in boxes.iter().enumerate() {
                assert!(a.inside(w, h), "{name} chart {n}: {:?} leaves the {w}×{h} view: {a:?}", a.text);
                for b in &boxes[i + 1..] {
                    assert!(!a.intersects(b), "{name} chart {n}: {:?} overlaps {:?}: {a:?} {b:?}", a.text, b.text);
                }
            }
            labels += boxes.len();
        }
        charts += svgs.len();
        reports += 1;
    }
    assert!(reports >= 12, "every plan case of test-plans/");
    assert!(charts >= reports && labels > 30 * reports, "{charts} charts, {labels} labels");
}

#[test]
fn the_report_draws_the_trumpet_curve_its_checks_judged() {
    let mut trumpet_checks = 0;
    for (name, dir) in shipped_bundles() {
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
        let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
        let result = std::fs::read_to_string(dir.join("result.yaml")).unwrap();
        assert!(
            !result.contains("ep_max") && !result.contains("windows") && !result.contains("curve"),
            "{name}: result.yaml stays normalized"
        );
        for check in record["checks"].as_array().unwrap() {
            let Some(t) = check.get("trumpet") else { continue };
            trumpet_checks += 1;
            let id = check["id"].as_str().unwrap();
            let windows: Vec<f64> = t["curve"]["windows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["window_s"].as_f64().unwrap() / 60.0)
                .collect();
            assert_eq!(windows, [2.0, 5.0, 11.0, 19.0, 31.0], "{name} {id}: every standard window of the hour");
            let judged = t["judged_window_s"].as_f64().unwrap();
            let w = t["curve"]["windows"].as_array().unwrap().iter().find(|w| w["window_s"] == judged).unwrap();
            let (hi, lo) = (w["ep_max_pct"].as_f64().unwrap(), w["ep_min_pct"].as_f64().unwrap());
            assert_eq!(
                check["value"].as_f64().unwrap(),
                hi.abs().max(lo.abs()),
                "{name} {id}: the value is the judged window's"
            );
            // The report's table row for the judged window: its figures, and the check's id.
            let row = format!(
                "<td class=\"num\">{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td><span class=\"mono\">{id}</span>",
                w["positions"], hi, lo
            );
            assert!(html.contains(&row), "{name}: the report lacks {row}");
        }
    }
    assert_eq!(trumpet_checks, 4, "two trumpet checks in each DELIVERY-ACCURACY case");
}
