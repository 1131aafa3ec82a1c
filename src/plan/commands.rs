//! `rig check` and `rig schema` as library functions (the binary wires them to the command
//! line): check validates plan files and says, per case, whether the bench can run it.

use std::io::Write;
use std::path::PathBuf;

use super::applicability::not_applicable_given;
use super::diag::sort_and_dedup;
use super::load::{LoadOutcome, load_plans};
use super::uncertainty::undecidable_checks;
use crate::bench::BenchFile;

pub use super::schema::schema_json;

/// Where plans are when `rig check` is given no path.
pub const DEFAULT_PLAN_DIR: &str = "test-plans";

/// Exit codes: every plan valid (some may not be applicable), or not.
pub const EXIT_OK: u8 = 0;
pub const EXIT_INVALID: u8 = 2;

/// Validates the plan files and directories in `paths` (none: `test-plans`): every
/// diagnostic to `err`; per case `ok` or `not applicable: <reason>` on `bench` to `out`, then
/// a summary line. Returns 0 when every file is valid, 2 otherwise.
pub fn check_command(
    paths: &[PathBuf],
    bench: &BenchFile,
    interactive: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let default = [PathBuf::from(DEFAULT_PLAN_DIR)];
    let paths = if paths.is_empty() { &default[..] } else { paths };
    let outcome = load_plans(paths);

    let diagnostics = outcome.render_diagnostics();
    if !diagnostics.is_empty() {
        let _ = writeln!(err, "{diagnostics}");
    }
    let warnings = undecidable_on(&outcome, bench);
    if !warnings.is_empty() {
        let _ = writeln!(err, "{warnings}");
    }

    let (caps, note) = bench.capabilities_for_plans(interactive);
    if let Some(note) = note {
        let _ = writeln!(err, "note: {note}");
    }
    let (mut cases, mut applicable, mut not_applicable) = (0, 0, 0);
    let width = outcome.plans.iter().flat_map(|f| f.cases.iter()).map(|p| p.run_name().len()).max().unwrap_or(0);
    for file in &outcome.plans {
        for plan in &file.cases {
            cases += 1;
            let name = plan.run_name();
            let path = file.path.display();
            match not_applicable_given(plan, &caps, &bench.name, &bench.connection) {
                None => {
                    applicable += 1;
                    let _ = writeln!(out, "ok              {name:<width$}  {path}");
                }
                Some(why) => {
                    not_applicable += 1;
                    let _ = writeln!(out, "not applicable  {name:<width$}  {path}: {why}");
                }
            }
        }
    }
    let invalid: Vec<_> = outcome.files.iter().filter(|f| !f.diagnostics.is_empty()).collect();
    for f in &invalid {
        let n = f.diagnostics.len();
        let _ = writeln!(out, "invalid         {} ({n} error{})", f.path.display(), if n == 1 { "" } else { "s" });
    }
    let files = outcome.plans.len() + invalid.len();
    let _ = writeln!(
        out,
        "{files} plan file{}: {} valid ({cases} case{}: {applicable} ok, {not_applicable} not applicable on bench `{}`), {} invalid",
        if files == 1 { "" } else { "s" },
        outcome.plans.len(),
        if cases == 1 { "" } else { "s" },
        bench.name,
        invalid.len(),
    );
    if outcome.is_ok() {
        EXIT_OK
    } else {
        let errors = outcome.error_count();
        let _ = writeln!(
            err,
            "error: {errors} error{} in {} plan file{}; fix them before running",
            if errors == 1 { "" } else { "s" },
            invalid.len(),
            if invalid.len() == 1 { "" } else { "s" }
        );
        EXIT_INVALID
    }
}

/// The warnings, rendered, for checks that `bench` can only find INCONCLUSIVE (its flow
/// sensor's stated uncertainty is wider than their limits), once per check over the cases.
fn undecidable_on(outcome: &LoadOutcome, bench: &BenchFile) -> String {
    let mut out = String::new();
    for file in &outcome.plans {
        let mut warnings: Vec<_> = file
            .cases
            .iter()
            .flat_map(|plan| undecidable_checks(plan, bench.flow_sensor.accuracy, &bench.name))
            .map(|d| d.at_path(&file.path))
            .collect();
        sort_and_dedup(&mut warnings);
        let source = outcome.files.iter().find(|f| f.path == file.path).and_then(|f| f.source.as_deref());
        for w in &warnings {
            out.push_str(if out.is_empty() { "" } else { "\n" });
            out.push_str(&w.render(source));
        }
    }
    out
}
