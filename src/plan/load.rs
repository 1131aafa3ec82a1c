//! Loading plan files: read, hash, parse, expand the cases, decode and validate each, and
//! report every error of every file. A directory stands for its `*.yaml` and `*.yml` files,
//! in name order, not recursively (so `fixtures/plans/` does not pick up `broken/`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use crate::digest::sha256_hex;

use super::ast::PlanFile;
use super::decode::{self, Diags};
use super::diag::{Diagnostic, Loc, sort_and_dedup};
use super::{expand, validate, yaml};
use crate::input_file::{self, Cap, InputFileError, Links};

/// One file examined: its text (when it could be read) and its diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub path: PathBuf,
    pub source: Option<String>,
    /// Sorted by position; empty when the file is valid.
    pub diagnostics: Vec<Diagnostic>,
}

impl FileReport {
    /// Every diagnostic rendered with its snippet, one blank line between them.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&d.render(self.source.as_deref()));
        }
        out
    }
}

/// What loading found: the valid plan files and a report for every file.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// The valid plan files, in the order they were examined.
    pub plans: Vec<PlanFile>,
    /// Every file examined (and paths that could not be read), in order.
    pub files: Vec<FileReport>,
}

impl LoadOutcome {
    /// No diagnostics at all.
    pub fn is_ok(&self) -> bool {
        self.files.iter().all(|f| f.diagnostics.is_empty())
    }

    pub fn diagnostics(&self) -> impl Iterator<Item = &Diagnostic> {
        self.files.iter().flat_map(|f| f.diagnostics.iter())
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics().count()
    }

    /// Every diagnostic of every file, rendered, a blank line between them.
    pub fn render_diagnostics(&self) -> String {
        let mut out = String::new();
        for f in self.files.iter().filter(|f| !f.diagnostics.is_empty()) {
            let _ = write!(out, "{}{}", if out.is_empty() { "" } else { "\n" }, f.render());
        }
        out
    }
}

/// Loads plan files and directories of plan files (`*.yaml`, `*.yml`, not recursive).
pub fn load_plans(paths: &[PathBuf]) -> LoadOutcome {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut outcome = LoadOutcome::default();
    for path in paths {
        if path.is_dir() {
            match plan_files_in(path) {
                Ok(found) if found.is_empty() => outcome.files.push(FileReport {
                    path: path.clone(),
                    source: None,
                    diagnostics: vec![
                        Diagnostic::new(Loc::FILE, "no plan files (`*.yaml`, `*.yml`) in this directory").at_path(path),
                    ],
                }),
                Ok(found) => files.extend(found),
                Err(e) => outcome.files.push(unreadable(path, &InputFileError::from_io(e))),
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut loaded: Vec<LoadedFile> = Vec::new();
    for path in files {
        if loaded.iter().any(|f| f.report.path == path) {
            continue; // named twice (a file and its directory): load it once
        }
        match read_plan_file(&path) {
            Ok(bytes) => loaded.push(load_bytes(&path, &bytes)),
            Err(e) => outcome.files.push(unreadable(&path, &e)),
        }
    }
    // Plan ids are unique across the files of one invocation.
    let mut seen: Vec<(String, PathBuf, Loc)> = Vec::new();
    for file in &mut loaded {
        let Some((id, loc)) = file.id.clone() else { continue };
        let earlier = seen.iter().find(|(other, _, _)| *other == id).map(|(_, path, at)| (path.clone(), *at));
        seen.push((id.clone(), file.report.path.clone(), loc));
        if let Some((first_path, at)) = earlier {
            let LoadedFile { report, plan, .. } = file;
            report.diagnostics.push(
                Diagnostic::new(loc, format!("plan id `{id}` is already used"))
                    .expected("a plan id unique across the plan set")
                    .hint(format!(
                        "`{}:{}:{}` has the same id; rename one",
                        first_path.display(),
                        at.pos.line,
                        at.pos.column
                    ))
                    .at_path(&report.path),
            );
            sort_and_dedup(&mut report.diagnostics);
            *plan = None;
        }
    }
    for f in loaded {
        if let Some(p) = f.plan {
            outcome.plans.push(p);
        }
        outcome.files.push(f.report);
    }
    outcome
}

/// The `*.yaml` and `*.yml` entries of `dir` that are not directories, in name order. An
/// entry named like a plan that is not a regular file (a FIFO, a dangling link) is kept, so
/// that reading it reports what it is instead of skipping it silently.
fn plan_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str());
        if !path.is_dir() && matches!(ext, Some("yaml" | "yml")) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// The largest plan file read: a plan is written by hand and is a few kilobytes; a file past
/// this is not one (and would cost memory out of proportion while it is checked).
pub const PLAN_FILE_CAP: Cap =
    Cap { bytes: 4 * 1024 * 1024, what: "a plan file", why: "a plan is written by hand and is a few kilobytes" };

/// The whole-file diagnostic for a plan file that could not be read: what it is instead, and
/// what to check.
fn unreadable(path: &Path, e: &InputFileError) -> FileReport {
    let hint = match e {
        InputFileError::NotFound => "check the path; `rig check` with no path checks `test-plans/`".to_string(),
        InputFileError::NotRegular(_) => {
            "give the path of a plan file (`*.yaml`) or of a directory of them".to_string()
        }
        e => e.hint(),
    };
    FileReport {
        path: path.to_path_buf(),
        source: None,
        diagnostics: vec![Diagnostic::new(Loc::FILE, format!("cannot read: {e}")).hint(hint).at_path(path)],
    }
}

/// Reads a plan file: a regular file of at most [`PLAN_FILE_CAP`] (see [`crate::input_file`]:
/// a FIFO, a device or a symbolic-link loop is named, never waited on or read).
pub fn read_plan_file(path: &Path) -> Result<Vec<u8>, InputFileError> {
    input_file::read(path, PLAN_FILE_CAP, Links::Follow)
}

/// One plan file loaded.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub report: FileReport,
    /// The plan file, when it is valid.
    pub plan: Option<PlanFile>,
    /// Its id and where it is written (for the uniqueness rule across files).
    pub id: Option<(String, Loc)>,
}

/// Loads one plan file from its bytes.
pub fn load_bytes(path: &Path, bytes: &[u8]) -> LoadedFile {
    let sha256 = sha256_hex(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(e) => {
            let line = bytes.iter().take(e.valid_up_to()).filter(|&&b| b == b'\n').count() + 1;
            let diag = Diagnostic::new(Loc::new(line, 1, 1), "the file is not UTF-8 text")
                .hint("save the plan as UTF-8")
                .at_path(path);
            let report = FileReport { path: path.to_path_buf(), source: None, diagnostics: vec![diag] };
            return LoadedFile { report, plan: None, id: None };
        }
    };
    let TextOutcome { plans, id, mut diagnostics } = load_text(&text);
    for d in &mut diagnostics {
        d.path = path.to_path_buf();
    }
    let plan = match plans {
        Some(cases) if diagnostics.is_empty() => Some(PlanFile { path: path.to_path_buf(), sha256, cases }),
        _ => None,
    };
    LoadedFile { report: FileReport { path: path.to_path_buf(), source: Some(text), diagnostics }, plan, id }
}

/// What a plan's text gives.
#[derive(Debug, Clone)]
pub struct TextOutcome {
    /// The plan of each case, when the plan could be decoded at all.
    pub plans: Option<Vec<super::ast::Plan>>,
    /// The plan's id and where it is written.
    pub id: Option<(String, Loc)>,
    /// Every diagnostic, sorted, without a path.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses, expands and validates a plan's text.
pub fn load_text(text: &str) -> TextOutcome {
    let (root, mut diagnostics) = yaml::parse(text);
    let Some(root) = root else { return TextOutcome { plans: None, id: None, diagnostics } };
    let mut d = Diags::new(None);
    let cases = expand::read_cases(&root, &mut d);
    expand::check_references(&root, &cases, &mut d);
    diagnostics.append(&mut d.list);

    let mut plans = Vec::new();
    let mut id = None;
    let empty = std::collections::BTreeMap::new();
    let runs: Vec<(Option<super::ast::Case>, &std::collections::BTreeMap<String, yaml::Node>)> = if cases.declared {
        cases.rows.iter().cloned().map(Some).zip(cases.values.iter()).collect()
    } else {
        vec![(None, &empty)]
    };
    let mut all_facts = Vec::new();
    // With `cases:` but no usable row, there is nothing to decode: the table's errors say why.
    for (case, values) in runs {
        let mut d = Diags::new(case.as_ref().map(|c| c.name.clone()));
        let tree = if case.is_some() { expand::substitute_case(&root, values) } else { root.clone() };
        let decoded = decode::decode(&tree, case, &mut d);
        validate::validate(&decoded.facts, &mut d);
        id = id.or(decoded.facts.id.clone());
        plans.extend(decoded.plan);
        all_facts.push(decoded.facts);
        diagnostics.append(&mut d.list);
    }
    let mut d = Diags::new(None);
    validate::covered_and_verified(&all_facts, &mut d);
    diagnostics.append(&mut d.list);
    if plans.is_empty() && diagnostics.is_empty() {
        // Never a plan file that silently comes to nothing: whatever stopped it says so here.
        diagnostics.push(
            Diagnostic::new(root.loc(), "this plan gives no case to run, and nothing else said why")
                .hint("check `cases:` and the values its rows give; please report this plan to the rig's maintainers"),
        );
    }
    sort_and_dedup(&mut diagnostics);
    let plans = (!plans.is_empty()).then_some(plans);
    TextOutcome { plans, id, diagnostics }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "id: P\ntitle: t\nversion: 1.0.0\ncovers: [SRS-OCC-002]\nrequires: [pump]\n";

    /// A `${...}` in the `cases:` table is not a placeholder (nothing substitutes the table):
    /// it is reported where it stands. Found by the random plan-shaped property test, which saw
    /// `cases: ${rate}` give neither a plan nor a diagnostic (`rig check` said "0 plan files").
    #[test]
    fn a_placeholder_in_the_cases_table_is_an_error_where_it_stands() {
        for (table, line, message) in [
            ("cases: ${rate}\n", 6, "`cases` needs a list of cases, found a single value"),
            ("cases:\n  - ${row}\n", 7, "a case needs a mapping of keys, found a single value"),
        ] {
            let outcome = load_text(&format!("{HEAD}{table}"));
            assert!(outcome.plans.is_none(), "{table:?}");
            let [d] = &outcome.diagnostics[..] else { panic!("{table:?}: {:?}", outcome.diagnostics) };
            assert_eq!((d.loc().pos.line, d.message.as_str()), (line, message), "{table:?}");
        }
    }
}
