//! Diagnostics: what is wrong with a plan, where, what was expected and how to fix it, rendered
//! like rustc's so the eye goes straight to the offending token:
//!
//! ```text
//! error: unknown key `timout`
//!   --> test-plans/occlusion.yaml:23:9
//!    |
//! 23 |       timout: 40 min
//!    |       ^^^^^^
//!    = expected: one of `alarm`, `cleared`, `state`, `flow_below`, `flow_above`, `timeout`
//!    = hint: did you mean `timeout`?
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::ast::Pos;

/// A place in a plan file: where a token starts and how many characters it spans on its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    pub pos: Pos,
    pub width: usize,
}

impl Loc {
    pub fn new(line: usize, column: usize, width: usize) -> Self {
        Self { pos: Pos { line, column }, width }
    }

    /// No position: the diagnostic is about the whole file.
    pub const FILE: Loc = Loc { pos: Pos { line: 0, column: 0 }, width: 0 };
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Severity {
    /// The plan cannot run: nothing moves.
    #[default]
    Error,
    /// The plan can run, but something in it will not give the answer its author expects.
    Warning,
}

/// One error (or warning) in a plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The plan file, as the user named it (set by the loader).
    pub path: PathBuf,
    /// Where the offending token starts; line 0 when the error is about the whole file.
    pub pos: Pos,
    /// How many characters to underline (at least one is drawn).
    pub width: usize,
    pub message: String,
    /// What the language allows here.
    pub expected: Option<String>,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(at: Loc, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            path: PathBuf::new(),
            pos: at.pos,
            width: at.width,
            message: message.into(),
            expected: None,
            hint: None,
        }
    }

    /// The same diagnostic as a warning.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the hint only if there is one.
    pub fn maybe_hint(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    pub fn at_path(mut self, path: &Path) -> Self {
        self.path = path.to_path_buf();
        self
    }

    pub fn loc(&self) -> Loc {
        Loc { pos: self.pos, width: self.width }
    }

    /// The diagnostic as rustc would print it; `source` is the file's text, for the snippet.
    /// Whatever the file holds, the output is printable and bounded: control characters are
    /// escaped, a long source line is cut to a window around the column, a long message is cut.
    pub fn render(&self, source: Option<&str>) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}: {}", printable(&self.message, MAX_MESSAGE_CHARS));
        let (line, column) = (self.pos.line, self.pos.column);
        let gutter = if line == 0 { 2 } else { line.to_string().len() };
        let pad = " ".repeat(gutter);
        if line == 0 {
            let _ = writeln!(out, "{pad}--> {}", printable(&self.path.display().to_string(), MAX_MESSAGE_CHARS));
        } else {
            let _ = writeln!(
                out,
                "{pad}--> {}:{line}:{column}",
                printable(&self.path.display().to_string(), MAX_MESSAGE_CHARS)
            );
            if let Some(text) = source.and_then(|s| s.lines().nth(line - 1)) {
                let (snippet, lead, carets) = snippet(text, column, self.width);
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{line} | {snippet}");
                let _ = writeln!(out, "{pad} | {lead}{carets}");
            }
        }
        if let Some(e) = &self.expected {
            let _ = writeln!(out, "{pad} = expected: {}", printable(e, MAX_MESSAGE_CHARS));
        }
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "{pad} = hint: {}", printable(h, MAX_MESSAGE_CHARS));
        }
        out
    }
}

pub use crate::excerpt::{MAX_MESSAGE_CHARS, printable, snippet};

/// Diagnostics in file order (whole-file ones first), without duplicates: a plan with `cases:`
/// is decoded once per case, and a mistake that does not depend on the case is reported once.
pub fn sort_and_dedup(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| (&a.path, a.pos, &a.message).cmp(&(&b.path, b.pos, &b.message)));
    diags.dedup();
}

/// Levenshtein distance between two strings (by characters).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // Row by row: `previous[j]` is the distance between a's prefix so far and b's first j.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for ((&cb, &diagonal), &above) in b.iter().zip(&previous).zip(previous.iter().skip(1)) {
            let left = row.last().copied().unwrap_or(i + 1);
            row.push(if ca == cb { diagonal } else { 1 + diagonal.min(above).min(left) });
        }
        previous = row;
    }
    previous.last().copied().unwrap_or(0)
}

/// The candidate closest to `word`, if it is close enough to be what was meant: a different
/// case, or a few characters off (about one in three).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for c in candidates {
        let d = edit_distance(&lower, &c.to_lowercase());
        match best {
            Some((bd, bc)) if d == bd && bc != c => tie = true,
            Some((bd, _)) if d >= bd => {}
            _ => {
                best = Some((d, c));
                tie = false;
            }
        }
    }
    let (d, c) = best?;
    if tie {
        return None; // `SRS-OCC-005`: 001 to 004 are all as close; a guess would mislead
    }
    let allowed = (word.chars().count().max(c.chars().count()) / 3).max(1);
    (d <= allowed && c != word).then_some(c)
}

/// `did you mean `x`?` when a candidate is close.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// "one of `a`, `b`, `c`" (or "`a`" alone).
pub fn one_of<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| format!("`{i}`")).collect();
    match items.as_slice() {
        [one] => one.clone(),
        _ => format!("one of {}", items.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let d = Diagnostic::new(Loc::new(23, 7, 6), "unknown key `timout`")
            .expected(one_of(["alarm", "timeout"]))
            .hint("did you mean `timeout`?")
            .at_path(Path::new("test-plans/occlusion.yaml"));
        let mut source = "\n".repeat(22);
        source.push_str("      timout: 40 min\n");
        assert_eq!(
            d.render(Some(&source)),
            "error: unknown key `timout`\n  --> test-plans/occlusion.yaml:23:7\n   |\n23 |       timout: 40 min\n   |       ^^^^^^\n   = expected: one of `alarm`, `timeout`\n   = hint: did you mean `timeout`?\n"
        );
    }

    #[test]
    fn whole_file_errors_have_no_snippet() {
        let d = Diagnostic::new(Loc::FILE, "cannot read").at_path(Path::new("x.yaml"));
        assert_eq!(d.render(Some("a: 1")), "error: cannot read\n  --> x.yaml\n");
    }

    #[test]
    fn carets_stay_on_the_line() {
        let d = Diagnostic::new(Loc::new(1, 4, 50), "x").at_path(Path::new("p"));
        assert!(d.render(Some("ab: cd")).contains("1 | ab: cd\n  |    ^^^\n"), "{}", d.render(Some("ab: cd")));
        let d = Diagnostic::new(Loc::new(1, 1, 0), "x").at_path(Path::new("p"));
        assert!(d.render(Some("ab")).contains("  | ^\n"));
    }

    #[test]
    fn near_misses() {
        assert_eq!(edit_distance("timout", "timeout"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("timout", ["alarm", "timeout"]), Some("timeout"));
        assert_eq!(closest("occlusion", ["OCCLUSION", "DOSE_LIMIT"]), Some("OCCLUSION"));
        assert_eq!(closest("xyz", ["alarm", "timeout"]), None);
        assert_eq!(closest("timeout", ["timeout"]), None);
        assert_eq!(closest("SRS-OCC-005", ["SRS-OCC-001", "SRS-OCC-002"]), None, "a tie is no suggestion");
    }

    #[test]
    fn a_long_line_is_cut_around_the_column_and_control_characters_are_escaped() {
        let line = format!("{}\0bad{}", "[".repeat(100_000), "x".repeat(100_000));
        let d = Diagnostic::new(Loc::new(1, 100_001, 4), format!("unknown key `\0{}`", "y".repeat(10_000)))
            .at_path(Path::new("p"));
        let out = d.render(Some(&line));
        assert!(out.len() < 2000, "{} bytes", out.len());
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("error: unknown key `\\0yyy") && lines[0].ends_with('…'), "{}", lines[0]);
        let (snippet, carets) = (lines[3], lines[4]);
        assert!(snippet.starts_with("1 | …[[[") && snippet.ends_with("xxx…"), "{snippet}");
        // The carets sit under the escaped NUL and the three letters after it.
        let chars = |s: &str, i: usize| s[..i].chars().count();
        let under = chars(snippet, snippet.find("\\0bad").unwrap());
        assert_eq!(chars(carets, carets.find('^').unwrap()), under);
        assert_eq!(carets.matches('^').count(), "\\0bad".len());
    }

    #[test]
    fn bidirectional_controls_are_shown_not_obeyed() {
        assert_eq!(printable("a\u{202e}b\x1b", 10), "a\\u{202e}b\\u{1b}");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
