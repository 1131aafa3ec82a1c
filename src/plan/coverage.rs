//! Requirements coverage: which plans, checks and expectations verify each SRS requirement,
//! read from the plans themselves (their `verifies:` lists), never written by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::ast::{Plan, StepKind};
use super::requirements::REQUIREMENTS;

/// One check (or expectation) verifying a requirement, in one plan (over all its cases).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Verifier {
    pub plan: String,
    pub check: String,
}

/// SRS id → the checks that verify it, for every requirement of SRS.md (empty: not covered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub by_requirement: BTreeMap<String, BTreeSet<Verifier>>,
}

impl Coverage {
    /// Coverage of the given plan cases (cases of one plan collapse into the plan).
    pub fn of<'a>(plans: impl IntoIterator<Item = &'a Plan>) -> Coverage {
        let mut by_requirement: BTreeMap<String, BTreeSet<Verifier>> =
            REQUIREMENTS.iter().map(|r| (r.id.to_string(), BTreeSet::new())).collect();
        for plan in plans {
            for step in &plan.steps {
                let (check, verifies) = match &step.kind {
                    StepKind::Check(c) => (&c.id, &c.verifies),
                    StepKind::Action { expect: Some(e), .. } => (&e.id, &e.verifies),
                    _ => continue,
                };
                for id in verifies {
                    by_requirement
                        .entry(id.clone())
                        .or_default()
                        .insert(Verifier { plan: plan.id.clone(), check: check.clone() });
                }
            }
        }
        Coverage { by_requirement }
    }

    /// Requirements no check verifies.
    pub fn uncovered(&self) -> Vec<&str> {
        self.by_requirement.iter().filter(|(_, v)| v.is_empty()).map(|(id, _)| id.as_str()).collect()
    }

    /// The table as Markdown: requirement, its title, the plans and the checks that verify it.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| requirement | title | plans | checks |\n|---|---|---|---|\n");
        for r in REQUIREMENTS.iter() {
            let verifiers = self.by_requirement.get(r.id).cloned().unwrap_or_default();
            let plans: BTreeSet<&str> = verifiers.iter().map(|v| v.plan.as_str()).collect();
            let checks: Vec<String> = verifiers.iter().map(|v| format!("`{}/{}`", v.plan, v.check)).collect();
            let plans = if plans.is_empty() {
                "**not covered**".to_string()
            } else {
                plans.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
            };
            let _ = writeln!(out, "| {} | {} | {} | {} |", r.id, r.title, plans, checks.join(", "));
        }
        out
    }
}

/// `docs/coverage.md`: the coverage table of the plans in `test-plans/`, as `rig coverage`
/// prints it (a test keeps the file in sync with the plans).
pub fn coverage_doc(coverage: &Coverage) -> String {
    let mut out = String::from(
        "# Requirements coverage\n\n\
         Generated from the plans in `test-plans/` by `rig coverage > docs/coverage.md`; a test fails when \
         it is stale. Each requirement of `../shared/SRS.md` with the plans and the checks (or \
         expectations) that name it in `verifies:`. Every run's report carries the same table for the \
         plans it ran.\n\n",
    );
    out.push_str(&coverage.to_markdown());
    let uncovered = coverage.uncovered();
    if uncovered.is_empty() {
        out.push_str("\nEvery requirement is covered.\n");
    } else {
        out.push_str(&format!("\n**Not covered:** {}.\n", uncovered.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_plans_cover_nothing_and_list_every_requirement() {
        let c = Coverage::of([]);
        assert_eq!(c.uncovered().len(), REQUIREMENTS.len());
        let md = c.to_markdown();
        assert_eq!(md.lines().count(), REQUIREMENTS.len() + 2);
        assert!(md.contains("| SRS-COM-003 |"));
        assert!(md.contains("**not covered**"));
    }
}
