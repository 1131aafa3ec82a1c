//! The run bundle of one plan case: the files a reviewer files as evidence, written once the
//! case is over, `MANIFEST.sha256` over all of them, and last, with a signing key,
//! `MANIFEST.sha256.sig`. Every file is created new: nothing in a bundle is ever written over.

use std::io::Write as _;
use std::path::Path;

use crate::judgement::Verdict;

use super::junit::{JunitCase, JunitOutcome, JunitReport, JunitSuite};
use super::manifest::{MANIFEST_FILE, Prehashed, SIGNATURE_FILE, check_manifest, prehash, write_manifest_with};
use super::record::CaseRecord;
use super::report::{PlotData, read_plot_data, render_report};
use super::result::CaseResult;
use super::signature::{SignatureStatus, SigningKey, VerifyingKey, check_signature, sign_manifest};

pub const RECORD_FILE: &str = "record.json";
pub const SAMPLES_FILE: &str = "samples.csv";
pub const EVENTS_FILE: &str = "events.jsonl";
pub const RESULT_FILE: &str = "result.yaml";
pub const REPORT_FILE: &str = "report.html";
pub const JUNIT_FILE: &str = "junit.xml";

/// Every file of a complete bundle besides the manifest.
pub const BUNDLE_FILES: [&str; 6] = [RECORD_FILE, SAMPLES_FILE, EVENTS_FILE, RESULT_FILE, REPORT_FILE, JUNIT_FILE];

/// Most points a report plot draws (min/max decimated), whatever the run's length.
pub const PLOT_POINTS: usize = 2000;

/// Writes record.json, result.yaml, junit.xml and report.html next to the streamed
/// samples.csv and events.jsonl, then MANIFEST.sha256 over all six, then, with `key`, its
/// signature. Each file is created new: a file that exists already is an error, never replaced.
///
/// `plot` is the samples thinned for the report as the run wrote them (all on disk); without
/// it, the report reads samples.csv. `hashed` are the streamed files' hashes their writers took
/// as they wrote them ([`Prehashed::of_written`]); a streamed file without one is hashed here.
pub fn write_bundle(
    dir: &Path,
    record: &CaseRecord,
    plot: Option<PlotData>,
    hashed: &[Prehashed],
    key: Option<&SigningKey>,
) -> Result<(), String> {
    // The streamed files are complete (their reporters have finished). One whose writer left no
    // hash is hashed on the other core while the rest of the bundle is written. Either hash is
    // taken into the manifest only for the same file, unchanged.
    let unhashed: Vec<&str> =
        [SAMPLES_FILE, EVENTS_FILE].into_iter().filter(|n| !hashed.iter().any(|h| h.name() == *n)).collect();
    std::thread::scope(|scope| {
        let early = (!unhashed.is_empty()).then(|| {
            std::thread::Builder::new()
                .name("rig-bundle-hash".into())
                .spawn_scoped(scope, || unhashed.iter().filter_map(|n| prehash(dir, n)).collect::<Vec<_>>())
        });
        let written = write_files(dir, record, plot);
        let mut prehashed: Vec<Prehashed> = hashed.to_vec();
        prehashed.extend(early.and_then(Result::ok).and_then(|h| h.join().ok()).unwrap_or_default());
        written?;
        write_manifest_with(dir, &prehashed).map_err(|e| e.to_string())
    })?;
    if let Some(key) = key {
        sign_manifest(dir, key, &format!("rig evidence bundle, run {} case {}", record.run_id, record.run_name()))?;
    }
    Ok(())
}

/// record.json, result.yaml, junit.xml and report.html.
fn write_files(dir: &Path, record: &CaseRecord, plot: Option<PlotData>) -> Result<(), String> {
    // Each file is written through a buffer as it is produced, never built whole in memory first.
    let write_with = |name: &str, fill: &dyn Fn(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>| {
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|f| {
                let mut out = std::io::BufWriter::new(f);
                fill(&mut out)?;
                out.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()
            })
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let write = |name: &str, text: &str| write_with(name, &|out| out.write_all(text.as_bytes()));
    write_with(RECORD_FILE, &|out| {
        serde_json::to_writer_pretty(&mut *out, record).map_err(std::io::Error::other)?;
        out.write_all(b"\n")
    })?;
    write(RESULT_FILE, &CaseResult::of(record).to_yaml())?;
    write(JUNIT_FILE, &super::junit::render(&junit_for(record)))?;
    let plot = match plot {
        Some(plot) => plot,
        None => read_plot_data(&dir.join(SAMPLES_FILE), PLOT_POINTS)
            .map_err(|e| format!("cannot read {} for the report: {e}", dir.join(SAMPLES_FILE).display()))?,
    };
    write(REPORT_FILE, &render_report(record, &plot))
}

/// A bundle that verified: how many files match the manifest, and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    pub files: usize,
    /// The manifest's `(file name, SHA-256)` lines.
    pub listed: Vec<(String, String)>,
    /// SHA-256 of `MANIFEST.sha256`, which identifies the whole bundle.
    pub manifest_sha256: String,
    /// `Unsigned` or `NotChecked` only without a key: with one, anything but `Verified` fails.
    pub signature: SignatureStatus,
}

/// Checks a bundle: the manifest matches every file byte for byte, every bundle file is there,
/// and the signature is good. With `key`, a missing or bad signature is a problem; without,
/// an unsigned bundle verifies its hashes (and says it is unsigned) and a signature is reported
/// by its key id, not checked.
pub fn verify_bundle(dir: &Path, key: Option<&VerifyingKey>) -> Result<VerifiedBundle, Vec<String>> {
    let check = check_manifest(dir);
    let mut problems: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
    if check.manifest.is_some() {
        for name in BUNDLE_FILES {
            let listed = check.listed.iter().any(|(n, _)| n == name);
            if !listed && !problems.iter().any(|p| p.starts_with(name)) {
                problems.push(format!("{name}: not in the manifest: the bundle is incomplete"));
            }
        }
    }
    let manifest = check.manifest.unwrap_or_default();
    let signature = if check.problems.iter().any(|p| matches!(p, super::manifest::ManifestProblem::NoManifest)) {
        SignatureStatus::Unsigned
    } else {
        check_signature(dir, &manifest, key)
    };
    match (&signature, key) {
        (SignatureStatus::Bad(why), _) => problems.push(why.clone()),
        (SignatureStatus::Unsigned, Some(k)) => problems.push(format!(
            "{SIGNATURE_FILE}: missing: the bundle is unsigned, so it cannot be checked with key {} ({})",
            k.key_id,
            k.path.display()
        )),
        _ => {}
    }
    if problems.is_empty() {
        let manifest_sha256 = crate::digest::sha256_hex(&manifest);
        Ok(VerifiedBundle { files: check.listed.len(), listed: check.listed, manifest_sha256, signature })
    } else {
        Err(problems)
    }
}

/// What `rig verify` prints after `ok`: the files checked and the signature.
pub fn describe_verified(v: &VerifiedBundle) -> String {
    let signature = match &v.signature {
        SignatureStatus::Unsigned => "unsigned".to_string(),
        SignatureStatus::NotChecked { key_id } => format!("signed by {key_id}, not checked (no --key)"),
        SignatureStatus::Verified { key_id, .. } => format!("signature by {key_id} verified"),
        SignatureStatus::Bad(why) => format!("bad signature: {why}"),
    };
    format!("{} files match {MANIFEST_FILE}; {signature}", v.files)
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
    if let Some(baseline) = &record.baseline {
        for d in &baseline.findings {
            cases.push(JunitCase {
                name: format!("baseline drift: {}", d.check),
                classname: name.clone(),
                time_s: 0.0,
                outcome: JunitOutcome::Failed {
                    message: format!("drift from the approved baseline: {}", d.what),
                    text: format!("{}: {} (approved baseline {})", d.check, d.what, baseline.file),
                },
                properties: vec![],
                system_out: None,
            });
        }
    }
    let caveats = record.evidence_caveats();
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
    properties.push(("operator".into(), format!("{} ({})", record.operator, record.operator_source)));
    for i in &record.instruments {
        let reported = i.reported.as_ref().map_or_else(|| "not reported".to_string(), |r| r.serial_number.clone());
        properties.push((
            format!("instrument.{}", i.role.replace(' ', "_")),
            format!(
                "{} serial {} (bench file), {reported} (reported): {}",
                i.model,
                i.serial_number,
                i.identity.describe()
            ),
        ));
    }
    properties.extend(caveats.iter().map(|c| ("evidence.not_valid".to_string(), c.clone())));
    if let Some(b) = &record.baseline {
        properties.push(("baseline.file".into(), b.file.clone()));
        if let Some(sha) = &b.sha256 {
            properties.push(("baseline.sha256".into(), sha.clone()));
        }
        let outcome = serde_json::to_value(b.outcome).ok().and_then(|v| v.as_str().map(str::to_owned));
        properties.push(("baseline.outcome".into(), outcome.unwrap_or_default()));
        properties.extend(b.notes.iter().map(|n| ("baseline.note".to_string(), n.clone())));
    }
    properties.push((
        "signing.key_id".into(),
        record.signing.as_ref().map_or_else(|| "unsigned".to_string(), |s| s.key_id.clone()),
    ));
    let system_out = (!caveats.is_empty()).then(|| {
        format!("NOT VALID AS EVIDENCE:\n{}", caveats.iter().map(|c| format!("- {c}")).collect::<Vec<_>>().join("\n"))
    });
    JunitReport {
        name: format!("rig: {name}"),
        suites: vec![JunitSuite {
            name,
            timestamp: record.started_utc.clone(),
            time_s: record.wall_time_s,
            hostname: record.host.clone(),
            properties,
            cases,
            system_out,
        }],
    }
}
