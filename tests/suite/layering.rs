//! The module graph under `src/` has no cycles: every top-level module uses only the modules
//! below it in the layer list of `docs/architecture.md` ("Layers"), written there once.
//!
//! A use is any `crate::<module>` path outside comments and string literals, including each
//! name of a `use crate::{a, b::c}` group (and `$crate::` in macros). Doc links are comments:
//! they are not dependencies, and are not checked here.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, lowest first, from `docs/architecture.md`: the first word of each line of the
/// first fenced block after the `## Layers` heading.
fn declared_layers(doc: &str) -> Vec<String> {
    let after = doc.split_once("\n## Layers\n").map(|(_, rest)| rest).expect("docs/architecture.md has `## Layers`");
    let block = after.split_once("```").map(|(_, rest)| rest).expect("a fenced block under `## Layers`");
    let block = block.split_once('\n').map(|(_, rest)| rest).unwrap_or(block);
    let block = block.split_once("```").map(|(inside, _)| inside).expect("the layer block is closed");
    block.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_owned).collect()
}

/// The top-level modules `src/lib.rs` declares.
fn declared_modules(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// `text` with comments and the contents of string and character literals blanked (line breaks
/// kept, so positions keep their line numbers).
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(i + k).copied();
        match (c[i], at(1)) {
            ('/', Some('/')) => {
                while i < c.len() && c[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                let mut depth = 0;
                loop {
                    match (c.get(i).copied(), c.get(i + 1).copied()) {
                        (Some('/'), Some('*')) => {
                            depth += 1;
                            out.push_str("  ");
                            i += 2;
                        }
                        (Some('*'), Some('/')) => {
                            depth -= 1;
                            out.push_str("  ");
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        (Some(ch), _) => {
                            out.push(blank(ch));
                            i += 1;
                        }
                        (None, _) => break,
                    }
                }
            }
            ('r', Some('"' | '#')) if starts_raw_string(&c, i) => {
                // A raw string: r"…", r#"…"#, …
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) != Some(&'"') {
                    out.push(c[i]);
                    i += 1;
                    continue;
                }
                out.extend(std::iter::repeat_n(' ', j + 1 - i));
                i = j + 1;
                while i < c.len() {
                    if c[i] == '"' && (0..hashes).all(|k| c.get(i + 1 + k) == Some(&'#')) {
                        out.extend(std::iter::repeat_n(' ', hashes + 1));
                        i += hashes + 1;
                        break;
                    }
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
            ('"', _) => {
                out.push(' ');
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        out.push(' ');
                        i += 1;
                    }
                    if let Some(&ch) = c.get(i) {
                        out.push(blank(ch));
                    }
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            ('\'', Some('\\')) => {
                // An escaped character literal: '\n', '\'', '\u{..}'.
                out.push_str("  ");
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            ('\'', Some(_)) if at(2) == Some('\'') => {
                out.push_str("   ");
                i += 3;
            }
            (ch, _) => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// `c[i]` is the `r` of a raw string (`r"`, `r#"`, `br"`), not the end of an identifier.
fn starts_raw_string(c: &[char], i: usize) -> bool {
    let before = |k: usize| i.checked_sub(k).and_then(|j| c.get(j)).copied();
    match before(1) {
        None => true,
        Some('b') => before(2).is_none_or(|ch| !is_ident(ch)),
        Some(ch) => !is_ident(ch),
    }
}

fn is_ident(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// Every module named after `crate::` in `code` (already [`code_only`]), with its line.
fn crate_uses(code: &str) -> Vec<(usize, String)> {
    let c: Vec<char> = code.chars().collect();
    let line_of = |i: usize| c[..i].iter().filter(|&&ch| ch == '\n').count() + 1;
    let skip_space = |mut j: usize| {
        while c.get(j).is_some_and(|ch| ch.is_whitespace()) {
            j += 1;
        }
        j
    };
    let ident_at = |j: usize| -> String { c[j..].iter().take_while(|&&ch| is_ident(ch)).collect() };
    let mut uses = Vec::new();
    let word: Vec<char> = "crate".chars().collect();
    let mut i = 0;
    while i + word.len() <= c.len() {
        let starts_word = i == 0 || !is_ident(c[i - 1]);
        if !(starts_word && c[i..i + word.len()] == word[..]) {
            i += 1;
            continue;
        }
        let mut j = skip_space(i + word.len());
        if !(c.get(j) == Some(&':') && c.get(j + 1) == Some(&':')) {
            i += word.len();
            continue;
        }
        j = skip_space(j + 2);
        if c.get(j) == Some(&'{') {
            // A group: the first name of each top-level item.
            let mut depth = 0;
            let mut expect_name = true;
            while j < c.len() {
                match c[j] {
                    '{' => {
                        depth += 1;
                        if depth == 1 {
                            expect_name = true;
                        }
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => expect_name = true,
                    ch if depth == 1 && expect_name && is_ident(ch) => {
                        let name = ident_at(j);
                        uses.push((line_of(j), name.clone()));
                        expect_name = false;
                        j += name.chars().count();
                        continue;
                    }
                    _ => {}
                }
                j += 1;
            }
        } else {
            let name = ident_at(j);
            if !name.is_empty() {
                uses.push((line_of(j), name));
            }
        }
        i = j.max(i + 1);
    }
    uses
}

/// The top-level module a file under `src/` belongs to: `src/run/executor.rs` is `run`,
/// `src/clock.rs` is `clock`, `src/main.rs` is `main.rs`; `src/lib.rs` (the root) is none.
fn owner(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" => None,
        "main.rs" => Some("main.rs".to_owned()),
        dir if rel.components().count() > 1 => Some(dir.to_owned()),
        file => Some(file.trim_end_matches(".rs").to_owned()),
    }
}

/// Each use in `text` (from the module `own`) of a module at or above its own layer but not
/// itself: `file:line: ...`, as a person fixes it.
fn upward_uses(layers: &[String], own: &str, file: &str, text: &str) -> Vec<String> {
    let rank = |m: &str| layers.iter().position(|l| l == m);
    let Some(own_rank) = rank(own) else {
        return vec![format!("{file}: module `{own}` is not in the layer list of docs/architecture.md")];
    };
    crate_uses(&code_only(text))
        .into_iter()
        .filter(|(_, used)| used != own)
        .filter_map(|(line, used)| {
            let used_rank = rank(&used)?;
            (used_rank > own_rank).then(|| {
                format!(
                    "{file}:{line}: `{own}` uses `crate::{used}`, which is above it in docs/architecture.md's layers: \
                     move what it needs down (or below `{own}`), or fix the layer list if the design changed"
                )
            })
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn layers() -> Vec<String> {
    declared_layers(&std::fs::read_to_string(root().join("docs/architecture.md")).unwrap())
}

#[test]
fn the_layer_list_names_every_module_once_and_main_last() {
    let layers = layers();
    let listed: BTreeSet<String> = layers.iter().filter(|l| *l != "main.rs").cloned().collect();
    assert_eq!(listed.len() + 1, layers.len(), "each module once, and main.rs: {layers:?}");
    assert_eq!(layers.last().map(String::as_str), Some("main.rs"), "the binary is the top layer");
    let declared = declared_modules(&std::fs::read_to_string(root().join("src/lib.rs")).unwrap());
    assert_eq!(listed, declared, "docs/architecture.md's layers against src/lib.rs's modules");
}

#[test]
fn no_module_uses_one_above_it() {
    let layers = layers();
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 50, "found the sources: {}", files.len());
    let mut found = Vec::new();
    for file in &files {
        let Some(own) = owner(&src, file) else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        found.extend(upward_uses(&layers, &own, &name, &text));
    }
    assert!(found.is_empty(), "{} upward use(s):\n{}", found.len(), found.join("\n"));
}

/// The scanner itself, on sources written for it: what it must see and what it must not.
mod scanner {
    use super::*;

    fn layers() -> Vec<String> {
        ["clock", "protocol", "plan", "run", "main.rs"].map(str::to_owned).to_vec()
    }

    #[test]
    fn an_upward_path_a_group_and_a_macro_path_are_each_caught() {
        let text = "use crate::clock::RigTime;\n\
                    fn f(x: crate::plan::Unit) {}\n\
                    use crate::{\n    clock,\n    run::{Verdict, CheckOutcome},\n};\n\
                    macro_rules! m { () => { $crate::plan::x() } }\n";
        let found = upward_uses(&layers(), "protocol", "src/protocol/x.rs", text);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("src/protocol/x.rs:2: `protocol` uses `crate::plan`"), "{}", found[0]);
        assert!(found[1].starts_with("src/protocol/x.rs:5: `protocol` uses `crate::run`"), "{}", found[1]);
        assert!(found[2].starts_with("src/protocol/x.rs:7: `protocol` uses `crate::plan`"), "{}", found[2]);
    }

    #[test]
    fn comments_strings_and_downward_uses_are_not_dependencies() {
        let text = "//! See [`crate::run::Verdict`].\n\
                    /* crate::run::x /* nested crate::plan */ still crate::run */\n\
                    const A: &str = \"crate::run::executor\";\n\
                    const B: &str = r#\"crate::plan \"quoted\" \"#;\n\
                    const C: char = '\"'; const D: char = '\\''; fn g<'a>(x: &'a str) {}\n\
                    use crate::clock::RigClock; // crate::run\n\
                    use crate::protocol::Frame;\n\
                    crate::say_err!(\"x\");\n";
        assert_eq!(upward_uses(&layers(), "protocol", "src/protocol/x.rs", text), Vec::<String>::new());
        assert_eq!(
            crate_uses(&code_only(text)),
            [(6, "clock".to_owned()), (7, "protocol".to_owned()), (8, "say_err".to_owned())]
        );
    }

    #[test]
    fn a_module_missing_from_the_list_is_named() {
        let found = upward_uses(&layers(), "judgement", "src/judgement/mod.rs", "");
        assert_eq!(
            found,
            ["src/judgement/mod.rs: module `judgement` is not in the layer list of docs/architecture.md"]
        );
    }

    #[test]
    fn the_layer_block_is_read_from_its_heading() {
        let doc = "# A\n\n## Layers\n\nLowest first.\n\n```\nclock      the one clock\nprotocol   ICD part 1\n\nmain.rs\n```\n\n## Next\n```\nnot a layer\n```\n";
        assert_eq!(declared_layers(doc), ["clock", "protocol", "main.rs"]);
    }
}
