//! `result.yaml`: the normalized result of a case — verdicts and key measurements rounded to
//! each check's resolution, nothing machine- or time-specific. It is what insta snapshots in
//! `cargo test` and what `rig approve` promotes to a baseline; `rig run --baseline` compares
//! a new run's with the approved one.
//!
//! Two lists follow the checks when they are not empty, and are never compared with a baseline:
//! `evidence_caveats` (why the run is not valid as evidence: an expired calibration or an
//! identity mismatch it was allowed to go on with) and `baseline_drift` (the findings of the
//! comparison with the approved baseline, when the run was given one).

use serde::{Deserialize, Serialize};

use crate::judgement::{CheckOutcome, Verdict};
use crate::plan::Unit;

use super::record::CaseRecord;

/// The normalized result of one plan case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub plan: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    pub checks: Vec<CheckResult>,
    /// Why this run is not valid as evidence (not compared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence_caveats: Vec<String>,
    /// Drift from the approved baseline, `<check>: <what>` (not compared).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub baseline_drift: Vec<String>,
}

/// One check, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: String,
    pub verdict: Verdict,
    /// The measured value rounded to the unit's resolution (`None`: not measured, or a pump
    /// answer judged by an expectation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub unit: Unit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertainty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// The drift from a baseline this check allows (declared, or the nominal's tolerance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifies: Vec<String>,
}

/// The resolution values of a unit are rounded to in results.
pub fn resolution(unit: Unit) -> f64 {
    match unit {
        Unit::Seconds | Unit::MicrolitresPerHour | Unit::Kilopascal => 0.1,
        Unit::Microlitres | Unit::Percent => 0.01,
        Unit::Count => 1.0,
    }
}

fn round(v: f64, unit: Unit) -> f64 {
    let r = resolution(unit);
    let x = (v / r).round() * r;
    // Print as written (0.1 steps, not 0.30000000000000004), and never `-0`.
    let digits = if r >= 1.0 { 0 } else { (-r.log10()).ceil() as usize };
    let x: f64 = format!("{x:.digits$}").parse().unwrap_or(x);
    if x == 0.0 { 0.0 } else { x }
}

impl CheckResult {
    fn of(c: &CheckOutcome) -> CheckResult {
        let r = |v: Option<f64>| v.map(|x| round(x, c.unit));
        CheckResult {
            id: c.id.clone(),
            verdict: c.verdict,
            value: r(c.value),
            unit: c.unit,
            uncertainty: r(c.uncertainty),
            low: r(c.low),
            high: r(c.high),
            drift: r(c.drift),
            verifies: c.verifies.clone(),
        }
    }
}

impl CaseResult {
    pub fn of(record: &CaseRecord) -> CaseResult {
        CaseResult {
            plan: record.plan.id.clone(),
            version: record.plan.version.clone(),
            case: record.plan.case.clone(),
            verdict: record.verdict,
            stopped: record.reason.clone(),
            checks: record.checks.iter().map(CheckResult::of).collect(),
            evidence_caveats: record.evidence_caveats(),
            baseline_drift: record
                .baseline
                .iter()
                .flat_map(|b| b.findings.iter())
                .map(|d| format!("{}: {}", d.check, d.what))
                .collect(),
        }
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# result not serializable: {e}\n"))
    }

    /// The file name of this case's approved baseline in a baseline folder.
    pub fn baseline_name(&self) -> String {
        let safe = |s: &str| {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
                .collect::<String>()
        };
        match &self.case {
            Some(c) => format!("{}_{}.result.yaml", safe(&self.plan), safe(c)),
            None => format!("{}.result.yaml", safe(&self.plan)),
        }
    }
}

/// A difference from the approved baseline that is a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub check: String,
    pub what: String,
}

/// Compares a run's result with the approved one: a changed verdict, a check added or gone, or
/// a value that moved by more than the check allows (its declared drift, else its uncertainty,
/// else not at all beyond rounding). `evidence_caveats` and `baseline_drift` are not compared.
pub fn compare(run: &CaseResult, approved: &CaseResult) -> Vec<Drift> {
    let mut findings = Vec::new();
    let mut push = |check: &str, what: String| findings.push(Drift { check: check.to_string(), what });
    if run.verdict != approved.verdict {
        push("(case)", format!("verdict {} (approved: {})", run.verdict, approved.verdict));
    }
    for a in &approved.checks {
        let Some(c) = run.checks.iter().find(|c| c.id == a.id) else {
            push(&a.id, "no longer in the run".into());
            continue;
        };
        if c.verdict != a.verdict {
            push(&c.id, format!("verdict {} (approved: {})", c.verdict, a.verdict));
        }
        match (c.value, a.value) {
            (Some(v), Some(b)) => {
                let allowed = c.drift.or(c.uncertainty).unwrap_or(0.0).max(resolution(c.unit) / 2.0);
                if (v - b).abs() > allowed + 1e-9 {
                    let sym = c.unit.symbol();
                    push(
                        &c.id,
                        format!("{v} {sym} drifted from the approved {b} {sym} by more than {allowed} {sym}")
                            .replace("  ", " "),
                    );
                }
            }
            (None, Some(b)) => push(&c.id, format!("not measured (approved: {b})")),
            (Some(v), None) => push(&c.id, format!("measured {v} (approved: not measured)")),
            (None, None) => {}
        }
    }
    for c in run.checks.iter().filter(|c| !approved.checks.iter().any(|a| a.id == c.id)) {
        push(&c.id, "new: not in the approved baseline".into());
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(id: &str, value: Option<f64>, unit: Unit, drift: Option<f64>, uncertainty: Option<f64>) -> CheckResult {
        CheckResult {
            id: id.into(),
            verdict: Verdict::Pass,
            value,
            unit,
            uncertainty,
            low: None,
            high: Some(1200.0),
            drift,
            verifies: vec![],
        }
    }

    fn result(checks: Vec<CheckResult>) -> CaseResult {
        CaseResult {
            plan: "P".into(),
            version: "1.0.0".into(),
            case: None,
            verdict: Verdict::Pass,
            stopped: None,
            checks,
            evidence_caveats: vec![],
            baseline_drift: vec![],
        }
    }

    #[test]
    fn values_round_to_the_units_resolution() {
        assert_eq!(round(695.04, Unit::Seconds), 695.0);
        assert_eq!(round(0.30000000000000004, Unit::Seconds), 0.3);
        assert_eq!(round(46.4091, Unit::Microlitres), 46.41);
        assert_eq!(round(-0.001, Unit::Microlitres), 0.0);
        assert_eq!(round(3.0, Unit::Count), 3.0);
    }

    #[test]
    fn drift_within_what_the_check_allows_is_no_finding() {
        let approved = result(vec![check("a", Some(100.0), Unit::Seconds, Some(5.0), None)]);
        assert!(compare(&result(vec![check("a", Some(104.0), Unit::Seconds, Some(5.0), None)]), &approved).is_empty());
        let moved = compare(&result(vec![check("a", Some(106.0), Unit::Seconds, Some(5.0), None)]), &approved);
        assert_eq!(moved.len(), 1, "{moved:?}");
        assert!(moved[0].what.contains("drifted"), "{moved:?}");
    }

    #[test]
    fn without_a_declared_drift_the_uncertainty_then_exactness_applies() {
        let approved = result(vec![check("v", Some(50.0), Unit::Microlitres, None, Some(2.5))]);
        assert!(
            compare(&result(vec![check("v", Some(52.0), Unit::Microlitres, None, Some(2.5))]), &approved).is_empty()
        );
        assert_eq!(
            compare(&result(vec![check("v", Some(53.0), Unit::Microlitres, None, Some(2.5))]), &approved).len(),
            1
        );
        let count = result(vec![check("n", Some(4.0), Unit::Count, None, None)]);
        assert_eq!(compare(&result(vec![check("n", Some(5.0), Unit::Count, None, None)]), &count).len(), 1);
    }

    #[test]
    fn verdict_changes_and_missing_or_new_checks_are_findings() {
        let approved = result(vec![check("a", Some(1.0), Unit::Count, None, None)]);
        let mut failed = check("a", Some(1.0), Unit::Count, None, None);
        failed.verdict = Verdict::Fail;
        assert_eq!(compare(&result(vec![failed]), &approved).len(), 1);
        let other = compare(&result(vec![check("b", Some(1.0), Unit::Count, None, None)]), &approved);
        assert_eq!(other.len(), 2, "{other:?}");
    }

    #[test]
    fn the_yaml_round_trips() {
        let r = result(vec![check("a", Some(1.5), Unit::Seconds, None, Some(1.0))]);
        let back: CaseResult = serde_yaml::from_str(&r.to_yaml()).unwrap();
        assert_eq!(back, r);
    }
}
