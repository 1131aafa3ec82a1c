//! The run bundle of one plan case: the files a reviewer files as evidence, written once the
//! case is over, and `MANIFEST.sha256` over all of them last.

use std::path::Path;

use crate::run::Verdict;

use super::junit::{JunitCase, JunitOutcome, JunitReport, JunitSuite};
use super::manifest::{ManifestProblem, verify_manifest, write_manifest};
use super::record::CaseRecord;
use super::report::{read_plot_data, render_report};
use super::result::CaseResult;

pub const RECORD_FILE: &str = "record.json";
pub const SAMPLES_FILE: &str = "samples.csv";
pub const EVENTS_FILE: &str = "events.jsonl";
pub const RESULT_FILE: &str = "result.yaml";
pub const REPORT_FILE: &str = "report.html";
pub const JUNIT_FILE: &str = "junit.xml";

/// Every file of a complete bundle besides the manifest.
pub const BUNDLE_FILES: [&str; 6] = [RECORD_FILE, SAMPLES_FILE, EVENTS_FILE, RESULT_FILE, REPORT_FILE, JUNIT_FILE];

/// Most points a report plot draws (min/max decimated), whatever the run's length.
const PLOT_POINTS: usize = 2000;

/// Writes record.json, result.yaml, junit.xml and report.html next to the streamed
/// samples.csv and events.jsonl, then MANIFEST.sha256 over all six.
pub fn write_bundle(dir: &Path, record: &CaseRecord) -> Result<(), String> {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
    };
    let json = serde_json::to_string_pretty(record).map_err(|e| format!("cannot serialize the record: {e}"))?;
    write(RECORD_FILE, &(json + "\n"))?;
    write(RESULT_FILE, &CaseResult::of(record).to_yaml())?;
    write(JUNIT_FILE, &super::junit::render(&junit_for(record)))?;
    let plot = read_plot_data(&dir.join(SAMPLES_FILE), PLOT_POINTS)
        .map_err(|e| format!("cannot read {} for the report: {e}", dir.join(SAMPLES_FILE).display()))?;
    write(REPORT_FILE, &render_report(record, &plot))?;
    write_manifest(dir).map_err(|e| e.to_string())?;
    Ok(())
}

/// Checks a bundle: the manifest matches every file byte for byte, and every bundle file is there.
pub fn verify_bundle(dir: &Path) -> Result<usize, Vec<String>> {
    let mut problems: Vec<String> = Vec::new();
    let verified = match verify_manifest(dir) {
        Ok(n) => n,
        Err(found) => {
            problems.extend(found.iter().map(ManifestProblem::to_string));
            0
        }
    };
    for name in BUNDLE_FILES {
        let listed = std::fs::read_to_string(dir.join(super::manifest::MANIFEST_FILE))
            .map(|m| m.lines().any(|l| l.ends_with(&format!("  {name}"))))
            .unwrap_or(false);
        if !listed && !problems.iter().any(|p| p.starts_with(name)) {
            problems.push(format!("{name}: not in the manifest: the bundle is incomplete"));
        }
    }
    if problems.is_empty() { Ok(verified) } else { Err(problems) }
}

/// The case as JUnit: one testsuite, one testcase per check (requirement ids as properties),
/// and a testcase for the case itself when it stopped early.
pub fn junit_for(record: &CaseRecord) -> JunitReport {
    let name = record.run_name();
    let mut cases: Vec<JunitCase> = record
        .checks
        .iter()
        .map(|c| {
            let outcome = match c.verdict {
                Verdict::Pass => JunitOutcome::Passed,
                Verdict::Inconclusive => JunitOutcome::Failed {
                    message: format!("INCONCLUSIVE: {}", c.detail),
                    text: "within the measurement's uncertainty of a limit: the bench cannot confirm it".into(),
                },
                Verdict::Fail => JunitOutcome::Failed { message: c.detail.clone(), text: c.title.clone() },
                Verdict::Error | Verdict::Aborted => {
                    JunitOutcome::Error { message: c.detail.clone(), text: c.title.clone() }
                }
            };
            let mut properties: Vec<(String, String)> =
                c.verifies.iter().map(|id| ("requirement".to_string(), id.clone())).collect();
            properties.push(("verdict".into(), c.verdict.to_string()));
            if let Some(v) = c.value {
                properties.push(("value".into(), format!("{v} {}", c.unit.symbol()).trim_end().to_string()));
            }
            if let Some(u) = c.uncertainty {
                properties.push(("uncertainty".into(), format!("{u} {}", c.unit.symbol()).trim_end().to_string()));
            }
            JunitCase {
                name: format!("{}: {}", c.id, c.title),
                classname: name.clone(),
                time_s: 0.0,
                outcome,
                properties,
                system_out: None,
            }
        })
        .collect();
    if !matches!(record.verdict, Verdict::Pass | Verdict::Fail | Verdict::Inconclusive) || record.reason.is_some() {
        let why = record.reason.clone().unwrap_or_else(|| record.verdict.to_string());
        let outcome = match record.verdict {
            Verdict::Error | Verdict::Aborted => {
                JunitOutcome::Error { message: format!("{}: {why}", record.verdict), text: why.clone() }
            }
            _ => JunitOutcome::Failed { message: format!("stopped: {why}"), text: why.clone() },
        };
        cases.push(JunitCase {
            name: "case".into(),
            classname: name.clone(),
            time_s: record.bench_time_s,
            outcome,
            properties: vec![],
            system_out: None,
        });
    }
    let mut properties = vec![
        ("plan.version".to_string(), record.plan.version.clone()),
        ("plan.sha256".to_string(), record.plan.sha256.clone()),
        ("bench".to_string(), record.bench.name.clone()),
        ("rig.version".to_string(), record.rig.version.clone()),
        ("rig.git_commit".to_string(), record.rig.git_commit.clone()),
        ("verdict".to_string(), record.verdict.to_string()),
    ];
    if let Some(p) = &record.pump {
        properties.push(("pump".into(), format!("{} {} fw {} build {}", p.model, p.serial, p.fw, p.build)));
    }
    properties.extend(record.bench.faults.iter().map(|f| ("seeded_fault".to_string(), f.clone())));
    JunitReport {
        name: format!("rig: {name}"),
        suites: vec![JunitSuite {
            name,
            timestamp: record.started_utc.clone(),
            time_s: record.wall_time_s,
            hostname: record.host.clone(),
            properties,
            cases,
            system_out: None,
        }],
    }
}
