//! Approved baselines: a case's `result.yaml` promoted by `rig approve` together with where it
//! came from (the source bundle and its manifest's SHA-256, who approved it and when, on which
//! bench and instruments, which firmware, which rig), and the comparison of a new run with one.
//!
//! A baseline file is `<plan>[_<case>].result.yaml` in the baseline folder:
//!
//! ```yaml
//! format: 1
//! approval: { source_bundle: …, source_manifest_sha256: …, approver: …, … }
//! result: { plan: …, version: …, verdict: PASS, checks: [ … ] }
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::record::{CaseRecord, IdentityCheck, RigBuild};
use super::result::{CaseResult, Drift, compare};
use crate::input_file::{self, Cap, InputFileError, Links};
use crate::protocol::PumpIdentity;

/// The version of the baseline file's layout.
pub const BASELINE_FORMAT: u32 = 1;

/// The largest baseline file read (one is a few kB).
const BASELINE_CAP: Cap =
    Cap { bytes: 4 * 1024 * 1024, what: "a baseline file", why: "a case's baseline is a few kilobytes" };

/// The largest result.yaml read for an approval (one is a few kB).
const RESULT_CAP: Cap =
    Cap { bytes: 4 * 1024 * 1024, what: "a result.yaml", why: "a case's result is a few kilobytes" };

/// One approved baseline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovedBaseline {
    pub format: u32,
    pub approval: Approval,
    /// The run's result as approved (drift findings of that run left out).
    pub result: CaseResult,
}

/// Where an approved baseline came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The run folder approved, as given to `rig approve`.
    pub source_bundle: String,
    /// SHA-256 of that bundle's `MANIFEST.sha256` (which lists every file's SHA-256).
    pub source_manifest_sha256: String,
    /// The key id whose signature of the manifest was verified, when `--key` was given.
    pub source_signed_by: Option<String>,
    pub approver: String,
    /// Where the approver's name came from (as for the operator).
    pub approver_source: String,
    /// UTC, RFC 3339.
    pub approved_utc: String,
    pub bench: ApprovedBench,
    /// The instruments of the run, with what each reported.
    pub instruments: Vec<ApprovedInstrument>,
    /// The pump's `ID` in the run.
    pub pump: Option<PumpIdentity>,
    /// The rig that made the run.
    pub rig: RigBuild,
    /// The rig that approved it (`<version> <commit>`).
    pub approved_by_rig: String,
    /// Set when the run was not a plain verified PASS and was approved with `--force`.
    pub forced: Option<Forced>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovedBench {
    pub name: String,
    pub kind: String,
    pub faults: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovedInstrument {
    pub role: String,
    pub model: String,
    /// As the bench file declares it.
    pub serial_number: String,
    /// As the instrument reported it.
    pub reported_serial_number: Option<String>,
    pub identity: IdentityCheck,
}

/// An approval given although the run was not a plain verified PASS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forced {
    /// The approver's reason (`--reason`).
    pub reason: String,
    /// What would have refused it.
    pub overriding: Vec<String>,
}

/// How a run compared with its approved baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineOutcome {
    /// Same verdicts; every value within what its check allows.
    Matches,
    /// Findings, even if every limit still passes.
    Drifted,
    /// No approved result for this case in the baseline folder.
    Missing,
    /// There is one, but it cannot be read as an approved baseline.
    Unreadable,
}

/// The comparison of a case with its approved baseline, as `record.json` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// The baseline folder (`--baseline`).
    pub folder: String,
    /// The approved file compared against.
    pub file: String,
    /// SHA-256 of that file's bytes, as read.
    pub sha256: Option<String>,
    pub outcome: BaselineOutcome,
    /// Why it could not be read, for `unreadable`.
    pub detail: Option<String>,
    /// The baseline's provenance.
    pub approval: Option<Approval>,
    /// Each drift beyond what its check allows: a finding.
    pub findings: Vec<Drift>,
    /// Differences of provenance that are not findings but limit the comparison (another bench
    /// kind, another firmware build, a forced approval).
    pub notes: Vec<String>,
}

impl BaselineComparison {
    pub fn drifted(&self) -> bool {
        self.outcome == BaselineOutcome::Drifted
    }
}

/// Compares the case `record` describes with its approved baseline in `folder`. The file is read
/// once: what is hashed is what is compared.
pub fn compare_with_baseline(record: &CaseRecord, folder: &Path) -> BaselineComparison {
    let run = CaseResult::of(record);
    let path = folder.join(run.baseline_name());
    let mut comparison = BaselineComparison {
        folder: folder.display().to_string(),
        file: path.display().to_string(),
        sha256: None,
        outcome: BaselineOutcome::Unreadable,
        detail: None,
        approval: None,
        findings: Vec::new(),
        notes: Vec::new(),
    };
    let bytes = match input_file::read(&path, BASELINE_CAP, Links::Refuse) {
        Ok(b) => b,
        Err(InputFileError::NotFound) => {
            comparison.outcome = BaselineOutcome::Missing;
            return comparison;
        }
        Err(e) => {
            comparison.detail = Some(format!("cannot read {}: {e}", path.display()));
            return comparison;
        }
    };
    comparison.sha256 = Some(crate::digest::sha256_hex(&bytes));
    let approved = std::str::from_utf8(&bytes)
        .map_err(|_| "not UTF-8 text".to_string())
        .and_then(|text| serde_yaml::from_str::<ApprovedBaseline>(text).map_err(|e| e.to_string()));
    let approved = match approved {
        Ok(a) if a.format == BASELINE_FORMAT => a,
        Ok(a) => {
            comparison.detail = Some(format!(
                "{}: baseline format {} (this rig reads {BASELINE_FORMAT}); approve the case again",
                path.display(),
                a.format
            ));
            return comparison;
        }
        Err(e) => {
            comparison.detail = Some(format!(
                "{}: not an approved baseline ({e}); a baseline is written by `rig approve`, with its provenance",
                path.display()
            ));
            return comparison;
        }
    };
    comparison.findings = compare(&run, &approved.result);
    comparison.notes = provenance_notes(record, &approved.approval);
    comparison.outcome =
        if comparison.findings.is_empty() { BaselineOutcome::Matches } else { BaselineOutcome::Drifted };
    comparison.approval = Some(approved.approval);
    comparison
}

/// What differs between the run and the baseline's source run that a reader of the comparison
/// must know: the bench kind (a twin baseline is no reference for real hardware, nor the other
/// way round), the bench, the pump's model, firmware and build, and a forced approval.
fn provenance_notes(record: &CaseRecord, approval: &Approval) -> Vec<String> {
    let mut notes = Vec::new();
    if approval.bench.kind != record.bench.kind {
        notes.push(format!(
            "approved on a {} bench ({}), this run is on a {} bench ({})",
            approval.bench.kind, approval.bench.name, record.bench.kind, record.bench.name
        ));
    } else if approval.bench.name != record.bench.name {
        notes.push(format!("approved on bench {}, this run is on bench {}", approval.bench.name, record.bench.name));
    }
    if approval.bench.faults != record.bench.faults {
        notes.push(format!(
            "approved with seeded faults [{}], this run with [{}]",
            approval.bench.faults.join(", "),
            record.bench.faults.join(", ")
        ));
    }
    let firmware = |p: &Option<PumpIdentity>| {
        p.as_ref().map_or_else(|| "no pump ID".to_string(), |p| format!("{} fw {} build {}", p.model, p.fw, p.build))
    };
    let (then, now) = (firmware(&approval.pump), firmware(&record.pump));
    if then != now {
        notes.push(format!("approved on {then}, this run on {now}"));
    }
    if let Some(forced) = &approval.forced {
        notes.push(format!(
            "the baseline was approved with --force ({}): {}",
            forced.overriding.join("; "),
            forced.reason
        ));
    }
    notes
}

/// What `rig approve` is told besides the run folder.
#[derive(Debug, Clone)]
pub struct ApproveOptions<'a> {
    pub baseline: &'a Path,
    /// The public key the bundle must be signed with; `None`: not checked (an unsigned bundle
    /// is then approved on its hashes alone, and the approval says it was not checked).
    pub key: Option<&'a super::signature::VerifyingKey>,
    pub approver: &'a super::person::Person,
    /// `--force --reason`: approve although the run is not a plain PASS.
    pub forced_reason: Option<&'a str>,
}

/// What an approval did.
#[derive(Debug, Clone, PartialEq)]
pub struct Approved {
    pub file: std::path::PathBuf,
    pub replaced: bool,
    pub forced: Option<Forced>,
}

/// The largest record.json read for an approval.
const RECORD_CAP: Cap =
    Cap { bytes: 256 * 1024 * 1024, what: "a record.json", why: "far more than the longest case records" };

/// Why a run is not a plain verified PASS that may be a baseline as it is.
pub fn approval_objections(record: &CaseRecord, result: &CaseResult) -> Vec<String> {
    let mut objections = Vec::new();
    if record.verdict != crate::judgement::Verdict::Pass || result.verdict != crate::judgement::Verdict::Pass {
        objections.push(format!("verdict {}", record.verdict));
    }
    if result.checks.is_empty() {
        objections.push("no checks were made".into());
    }
    if let Some(reason) = &record.reason {
        objections.push(format!("the case stopped early: {reason}"));
    }
    objections.extend(record.evidence_caveats());
    for i in record.instruments.iter().filter(|i| i.identity == IdentityCheck::NotRead) {
        objections.push(format!("the identity of the {} was not read", i.role));
    }
    if !record.bench.faults.is_empty() {
        objections.push(format!("seeded firmware faults: {}", record.bench.faults.join(", ")));
    }
    objections
}

/// Promotes the run in `dir` to the approved baseline of its case, with its provenance. Only a
/// bundle that verifies (with `key`, signed by it) is approved; one that is not a plain PASS
/// (see [`approval_objections`]) only with a forced reason, which the baseline records.
pub fn approve(dir: &Path, options: &ApproveOptions<'_>) -> Result<Approved, String> {
    use super::bundle::{RECORD_FILE, RESULT_FILE, verify_bundle};
    let verified = verify_bundle(dir, options.key)
        .map_err(|problems| format!("{} does not verify; not approved:\n  {}", dir.display(), problems.join("\n  ")))?;
    // Read what was verified: each file's bytes hashed again against the manifest's listing, so
    // nothing changed between the check and the read.
    let read = |name: &str, cap: Cap| -> Result<String, String> {
        let path = dir.join(name);
        let bytes = input_file::read(&path, cap, Links::Refuse).map_err(|e| e.describe(&path))?;
        let actual = crate::digest::sha256_hex(&bytes);
        if !verified.listed.iter().any(|(n, h)| n == name && *h == actual) {
            return Err(format!("{}: changed while it was being approved; not approved", path.display()));
        }
        String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))
    };
    let record: CaseRecord = serde_json::from_str(&read(RECORD_FILE, RECORD_CAP)?).map_err(|e| {
        format!(
            "{}: not a record this rig reads ({e}); record format {} expected",
            dir.join(RECORD_FILE).display(),
            super::record::RECORD_FORMAT
        )
    })?;
    let mut result: CaseResult = serde_yaml::from_str(&read(RESULT_FILE, RESULT_CAP)?)
        .map_err(|e| format!("{}: {e}", dir.join(RESULT_FILE).display()))?;
    let objections = approval_objections(&record, &result);
    let forced = match (objections.is_empty(), options.forced_reason) {
        (true, _) => None,
        (false, Some(reason)) => Some(Forced { reason: reason.to_string(), overriding: objections }),
        (false, None) => {
            return Err(format!(
                "{} is not a plain PASS; not approved:\n  {}\n  = approve it anyway only with --force --reason TEXT \
                 (the baseline records both)",
                dir.display(),
                objections.join("\n  ")
            ));
        }
    };
    // The approved result is the run's own; the drift it showed against an older baseline is
    // that run's business, not part of the new reference.
    result.baseline_drift.clear();
    let signed_by = match &verified.signature {
        super::signature::SignatureStatus::Verified { key_id, .. } => Some(key_id.clone()),
        _ => None,
    };
    let approval = Approval {
        source_bundle: dir.display().to_string(),
        source_manifest_sha256: verified.manifest_sha256.clone(),
        source_signed_by: signed_by,
        approver: options.approver.name.clone(),
        approver_source: options.approver.source.clone(),
        approved_utc: crate::civil_time::utc_now(),
        bench: ApprovedBench {
            name: record.bench.name.clone(),
            kind: record.bench.kind.clone(),
            faults: record.bench.faults.clone(),
        },
        instruments: record
            .instruments
            .iter()
            .map(|i| ApprovedInstrument {
                role: i.role.clone(),
                model: i.model.clone(),
                serial_number: i.serial_number.clone(),
                reported_serial_number: i.reported.as_ref().map(|r| r.serial_number.clone()),
                identity: i.identity,
            })
            .collect(),
        pump: record.pump.clone(),
        rig: record.rig.clone(),
        approved_by_rig: format!("{} {}", env!("CARGO_PKG_VERSION"), env!("RIG_GIT_COMMIT")),
        forced: forced.clone(),
    };
    let file = options.baseline.join(result.baseline_name());
    let text = serde_yaml::to_string(&ApprovedBaseline { format: BASELINE_FORMAT, approval, result })
        .map_err(|e| format!("cannot write the baseline: {e}"))?;
    std::fs::create_dir_all(options.baseline)
        .map_err(|e| format!("cannot create the baseline folder {}: {e}", options.baseline.display()))?;
    let replaced = file.exists();
    // Written aside and renamed into place: a reader sees the old baseline or the new, whole.
    let tmp = tempfile::NamedTempFile::new_in(options.baseline)
        .map_err(|e| format!("cannot write in {}: {e}", options.baseline.display()))?;
    std::fs::write(tmp.path(), text).map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
    tmp.persist(&file).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(Approved { file, replaced, forced })
}
