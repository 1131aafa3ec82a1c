//! `cases:`: one run of the plan per row, with `${param}` in any scalar value replaced by the
//! row's value before the plan is decoded. Each case is then decoded and validated on its
//! own, so a value that is wrong in one case only is reported with that case's name.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::ast::Case;
use super::decode::{Diags, MapView, map, name, required};
use super::diag::{Diagnostic, Loc, did_you_mean, one_of};
use super::yaml::{Node, NodeKind};

/// The `cases:` table as read.
#[derive(Debug, Default)]
pub struct Cases {
    /// Whether the plan has a `cases:` key.
    pub declared: bool,
    /// The rows that are usable, in order.
    pub rows: Vec<Case>,
    /// The value nodes of each usable row, by parameter (a list value stays a list).
    pub values: Vec<BTreeMap<String, Node>>,
    /// Parameters whose value is a list in some row: they can only stand for a whole value.
    pub lists: BTreeSet<String>,
    /// Every parameter some row gives, with where it is first given.
    pub params: Vec<(String, Loc)>,
    /// Whether every row was usable.
    pub complete: bool,
}

/// The most cases a plan may declare. Each case is a run on the bench (minutes to days): a
/// thousand is already a campaign, and a table past it is a mistake (a generated file), refused
/// before anything is expanded.
pub const MAX_CASES: usize = 1000;

fn is_param_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Reads the top-level `cases:` of a plan tree.
pub fn read_cases(root: &Node, d: &mut Diags) -> Cases {
    // The table is not substituted: a `${...}` in it is a mistake to report, not a placeholder.
    let literal = std::mem::replace(&mut d.literal, true);
    let cases = read_cases_table(root, d);
    d.literal = literal;
    cases
}

fn read_cases_table(root: &Node, d: &mut Diags) -> Cases {
    let NodeKind::Map(entries) = &root.kind else { return Cases::default() };
    let Some((key, table)) = entries.iter().find(|(k, _)| k.as_str() == Some("cases")) else {
        return Cases { complete: true, ..Cases::default() };
    };
    let mut out = Cases { declared: true, complete: true, ..Cases::default() };
    let NodeKind::Seq(rows) = &table.kind else {
        d.at(
            table,
            Diagnostic::new(
                if table.kind == NodeKind::Null { key.loc() } else { table.loc() },
                format!("`cases` needs a list of cases, found {}", table.describe()),
            )
            .expected("a list of mappings, e.g. `- { name: fast, rate: 500 uL/h }`"),
        );
        out.complete = false;
        return out;
    };
    if rows.is_empty() {
        d.push(Diagnostic::new(key.loc(), "`cases` is empty").hint("add a row per case, or remove `cases`"));
        out.complete = false;
        return out;
    }
    if rows.len() > MAX_CASES {
        d.push(
            Diagnostic::new(key.loc(), format!("`cases` has {} rows; a plan has at most {MAX_CASES}", rows.len()))
                .hint("each case is a run on the bench: split the table into several plans"),
        );
        out.complete = false;
        return out;
    }
    // Every key any row uses is a parameter (besides `name`).
    for row in rows {
        if let NodeKind::Map(entries) = &row.kind {
            for (k, _) in entries {
                let Some(p) = k.as_str() else { continue };
                if p != "name" && !out.params.iter().any(|(q, _)| q == p) {
                    out.params.push((p.to_string(), k.loc()));
                }
            }
        }
    }
    for (p, loc) in &out.params {
        if !is_param_name(p) {
            d.push(
                Diagnostic::new(*loc, format!("`{p}` is not a valid parameter name"))
                    .expected("lower case letters, digits and `_`, starting with a letter, e.g. `rate`"),
            );
            out.complete = false;
        }
    }
    let mut allowed: Vec<&str> = vec!["name"];
    allowed.extend(out.params.iter().map(|(p, _)| p.as_str()));
    let mut names: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let Some(m) = map(d, row, row.loc(), "a case", &allowed) else {
            out.complete = false;
            continue;
        };
        let row_loc = m.entries.first().map_or(row.loc(), |(k, _)| k.loc());
        let m = MapView { owner: row_loc, ..m };
        let mut ok = true;
        let case_name = required(d, &m, "name", "the case's name, e.g. `500uLh`").and_then(|n| {
            let v = name(d, n, "case name")?;
            if let Some(line) = names.get(&v) {
                d.at(
                    n,
                    Diagnostic::new(n.loc(), format!("case name `{v}` is used twice"))
                        .hint(format!("it is first used at line {line}; each case needs its own name")),
                );
                return None;
            }
            names.insert(v.clone(), n.pos.line);
            Some(v)
        });
        let mut params = BTreeMap::new();
        let mut values = BTreeMap::new();
        for (p, _) in &out.params {
            match m.get(p) {
                None => {
                    let who = case_name.as_deref().map_or("a case".to_string(), |n| format!("case `{n}`"));
                    d.push(
                        Diagnostic::new(row_loc, format!("{who} has no `{p}`"))
                            .expected(format!(
                                "every case gives every parameter: {}",
                                one_of(out.params.iter().map(|(p, _)| p.as_str()))
                            ))
                            .hint(format!("add `{p}: ...` to this case")),
                    );
                    ok = false;
                }
                Some(v) => match &v.kind {
                    NodeKind::Scalar(s) if s.contains("${") => {
                        d.push(
                            Diagnostic::new(v.loc(), "a case value cannot refer to a parameter")
                                .expected("the value itself, e.g. `500 uL/h`"),
                        );
                        ok = false;
                    }
                    NodeKind::Scalar(s) => {
                        params.insert(p.clone(), s.clone());
                        values.insert(p.clone(), v.clone());
                    }
                    NodeKind::Seq(items) if items.iter().all(|i| matches!(i.kind, NodeKind::Scalar(_))) => {
                        let texts: Vec<&str> = items.iter().filter_map(Node::as_str).collect();
                        params.insert(p.clone(), format!("[{}]", texts.join(", ")));
                        values.insert(p.clone(), v.clone());
                        out.lists.insert(p.clone());
                    }
                    _ => {
                        d.push(
                            Diagnostic::new(
                                v.loc(),
                                format!("`{p}` needs a single value or a list of values, found {}", v.describe()),
                            )
                            .expected("a single value, e.g. `500 uL/h`, or a list, e.g. `[SRS-OCC-002]`"),
                        );
                        ok = false;
                    }
                },
            }
        }
        match (case_name, ok) {
            (Some(name), true) => {
                out.rows.push(Case { name, params });
                out.values.push(values);
            }
            _ => out.complete = false,
        }
    }
    out
}

/// A `${name}` reference in a scalar, or why it is malformed.
enum Reference<'s> {
    Param(&'s str),
    Malformed(&'static str),
}

fn references(text: &str) -> Vec<Reference<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                out.push(if is_param_name(name) {
                    Reference::Param(name)
                } else {
                    Reference::Malformed("a parameter name")
                });
                rest = &after[end + 1..];
            }
            None => {
                out.push(Reference::Malformed("a closing `}`"));
                break;
            }
        }
    }
    out
}

/// Calls `f` on every scalar value outside `cases:`.
fn each_value<'n>(node: &'n Node, top: bool, f: &mut dyn FnMut(&'n Node, &'n str)) {
    match &node.kind {
        NodeKind::Scalar(s) => f(node, s),
        NodeKind::Seq(items) => items.iter().for_each(|i| each_value(i, false, f)),
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                if !(top && k.as_str() == Some("cases")) {
                    each_value(v, false, f);
                }
            }
        }
        NodeKind::Null => {}
    }
}

/// Reports `${...}` that no case defines, malformed ones, and parameters never used.
pub fn check_references(root: &Node, cases: &Cases, d: &mut Diags) {
    let names: Vec<&str> = cases.params.iter().map(|(p, _)| p.as_str()).collect();
    let mut used: BTreeSet<String> = BTreeSet::new();
    each_value(root, true, &mut |node, text| {
        for r in references(text) {
            match r {
                Reference::Malformed(what) => d.push(
                    Diagnostic::new(node.loc(), format!("malformed parameter reference in `{text}`: expected {what}"))
                        .expected("`${name}`, e.g. `${rate}`"),
                ),
                Reference::Param(p) if !cases.declared => d.push(
                    Diagnostic::new(
                        node.loc(),
                        format!("`${{{p}}}` refers to a case parameter, but the plan has no `cases`"),
                    )
                    .expected("a value")
                    .hint(format!("add `cases:` with a `{p}` for each case, or write the value here")),
                ),
                Reference::Param(p) if !names.contains(&p) => d.push(
                    Diagnostic::new(node.loc(), format!("`${{{p}}}` is not defined by the cases"))
                        .expected(if names.is_empty() {
                            "no parameters: the cases define none".to_string()
                        } else {
                            one_of(names.iter().copied())
                        })
                        .maybe_hint(
                            did_you_mean(p, names.iter().copied()).or_else(|| Some(format!("add `{p}` to every case"))),
                        ),
                ),
                Reference::Param(p) if cases.lists.contains(p) && text != format!("${{{p}}}") => d.push(
                    Diagnostic::new(node.loc(), format!("`${{{p}}}` is a list; it can only be a whole value"))
                        .expected(format!("`${{{p}}}` alone, e.g. `verifies: ${{{p}}}`")),
                ),
                Reference::Param(p) => {
                    used.insert(p.to_string());
                }
            }
        }
    });
    for (p, loc) in &cases.params {
        if !used.contains(p) && is_param_name(p) {
            d.push(
                Diagnostic::new(*loc, format!("parameter `{p}` is never used"))
                    .hint(format!("use it as `${{{p}}}` in a value, or remove it from the cases")),
            );
        }
    }
}

/// The plan's tree for one case: every `${param}` outside `cases:` replaced by the case's
/// value, and the `cases:` table itself left out (its value made empty: the decoder does not
/// read it), so expanding N cases costs N trees, not N tables of N rows.
pub fn substitute_case(root: &Node, values: &BTreeMap<String, Node>) -> Node {
    let NodeKind::Map(entries) = &root.kind else { return substitute(root, values) };
    let entries = entries
        .iter()
        .map(|(k, v)| {
            if k.as_str() == Some("cases") {
                (k.clone(), Node { kind: NodeKind::Null, ..v.clone_shallow() })
            } else {
                (k.clone(), substitute(v, values))
            }
        })
        .collect();
    Node { kind: NodeKind::Map(entries), ..root.clone_shallow() }
}

/// The tree with every `${param}` replaced by the case's value; a changed value keeps the
/// position of the `${...}` it replaces and remembers its text as written. A value that is
/// exactly `${param}` takes the parameter's value whole, so a list parameter gives a list.
pub fn substitute(node: &Node, values: &BTreeMap<String, Node>) -> Node {
    let kind = match &node.kind {
        NodeKind::Scalar(s) if s.contains("${") => {
            let whole = s.strip_prefix("${").and_then(|r| r.strip_suffix('}')).and_then(|p| values.get(p));
            if let Some(v) = whole {
                return Node { kind: v.kind.clone(), template: Some(s.clone()), ..node.clone_shallow() };
            }
            let mut text = s.clone();
            for (p, v) in values {
                if let Some(value) = v.as_str() {
                    text = text.replace(&format!("${{{p}}}"), value);
                }
            }
            return Node { kind: NodeKind::Scalar(text), template: Some(s.clone()), ..node.clone_shallow() };
        }
        NodeKind::Seq(items) => NodeKind::Seq(items.iter().map(|i| substitute(i, values)).collect()),
        NodeKind::Map(entries) => {
            NodeKind::Map(entries.iter().map(|(k, v)| (k.clone(), substitute(v, values))).collect())
        }
        other => other.clone(),
    };
    Node { kind, ..node.clone_shallow() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::yaml::parse;

    fn read(text: &str) -> (Cases, Vec<Diagnostic>, Node) {
        let (root, diags) = parse(text);
        assert!(diags.is_empty(), "{diags:?}");
        let root = root.unwrap();
        let mut d = Diags::new(None);
        let cases = read_cases(&root, &mut d);
        check_references(&root, &cases, &mut d);
        (cases, d.list, root)
    }

    #[test]
    fn rows_become_cases_and_values_are_substituted() {
        let (cases, diags, root) = read(
            "cases:\n  - { name: fast, rate: 500 uL/h, limit: 20 min }\n  - { name: slow, rate: 100 uL/h, limit: 75 min }\nsteps:\n  - program: ${rate}\n  - prompt: \"at ${rate}, within ${limit}\"\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert!(cases.complete && cases.declared);
        assert_eq!(cases.rows.len(), 2);
        assert_eq!(cases.rows[1].name, "slow");
        assert_eq!(cases.rows[1].params["limit"], "75 min");
        let slow = substitute(&root, &cases.values[1]);
        let NodeKind::Map(top) = &slow.kind else { panic!() };
        let NodeKind::Seq(steps) = &top[1].1.kind else { panic!() };
        let NodeKind::Map(program) = &steps[0].kind else { panic!() };
        assert_eq!(program[0].1.as_str(), Some("100 uL/h"));
        assert_eq!(program[0].1.template.as_deref(), Some("${rate}"));
        assert_eq!(program[0].1.pos.line, 5);
        let NodeKind::Map(prompt) = &steps[1].kind else { panic!() };
        assert_eq!(prompt[0].1.as_str(), Some("at 100 uL/h, within 75 min"));
    }

    #[test]
    fn table_errors() {
        let (cases, diags, _) = read(
            "cases:\n  - { name: a, rate: 1 uL/h, limit: 1 s }\n  - { name: a, rate: 2 uL/h }\n  - { rate: 3 uL/h, limit: 2 s }\nsteps: [ { program: \"${rate}\" }, { wait: \"${limit}\" } ]\n",
        );
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert!(messages.contains(&"case name `a` is used twice"), "{messages:?}");
        assert!(messages.contains(&"a case has no `limit`"), "{messages:?}");
        assert!(messages.contains(&"a case is missing `name`"), "{messages:?}");
        assert_eq!(cases.rows.len(), 1);
        assert!(!cases.complete);
    }

    #[test]
    fn undefined_unused_and_malformed_references() {
        let (_, diags, _) = read(
            "cases:\n  - { name: a, rate: 1 uL/h, spare: x }\nsteps:\n  - program: ${rat}\n  - wait: ${rate\n  - mark: ${Bad}\n",
        );
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert!(messages.contains(&"`${rat}` is not defined by the cases"), "{messages:?}");
        assert_eq!(diags[0].hint.as_deref(), Some("did you mean `rate`?"));
        assert!(messages.iter().any(|m| m.starts_with("malformed parameter reference in `${rate`")), "{messages:?}");
        assert!(messages.iter().any(|m| m.starts_with("malformed parameter reference in `${Bad}`")), "{messages:?}");
        assert!(messages.contains(&"parameter `rate` is never used"), "{messages:?}");
        assert!(messages.contains(&"parameter `spare` is never used"), "{messages:?}");
    }

    #[test]
    fn list_parameters_stand_for_whole_values() {
        let (cases, diags, root) = read(
            "cases:\n  - { name: a, ids: [SRS-OCC-001, SRS-OCC-002] }\n  - { name: b, ids: [] }\nverifies: ${ids}\nx: \"see ${ids}\"\n",
        );
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].message, "`${ids}` is a list; it can only be a whole value");
        assert_eq!(cases.rows[0].params["ids"], "[SRS-OCC-001, SRS-OCC-002]");
        let a = substitute(&root, &cases.values[0]);
        let NodeKind::Map(top) = &a.kind else { panic!() };
        let NodeKind::Seq(ids) = &top[1].1.kind else { panic!("{:?}", top[1].1) };
        assert_eq!(ids.len(), 2);
        assert_eq!(top[1].1.pos.line, 4);
        let b = substitute(&root, &cases.values[1]);
        let NodeKind::Map(top) = &b.kind else { panic!() };
        assert_eq!(top[1].1.kind, NodeKind::Seq(vec![]));
    }

    #[test]
    fn a_reference_without_cases() {
        let (cases, diags, _) = read("steps:\n  - program: ${rate}\n");
        assert!(!cases.declared);
        assert_eq!(diags[0].message, "`${rate}` refers to a case parameter, but the plan has no `cases`");
    }

    #[test]
    fn a_case_tree_leaves_the_table_out() {
        let (cases, diags, root) = read(
            "cases:\n  - { name: a, rate: 1 uL/h }\n  - { name: b, rate: 2 uL/h }\nsteps:\n  - program: ${rate}\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let b = substitute_case(&root, &cases.values[1]);
        let NodeKind::Map(top) = &b.kind else { panic!() };
        assert_eq!(top[0].0.as_str(), Some("cases"));
        assert_eq!(top[0].1.kind, NodeKind::Null, "the table is not copied into each case");
        let NodeKind::Seq(steps) = &top[1].1.kind else { panic!() };
        let NodeKind::Map(program) = &steps[0].kind else { panic!() };
        assert_eq!(program[0].1.as_str(), Some("2 uL/h"));
    }

    #[test]
    fn too_many_cases_are_refused_before_expanding() {
        let rows: String = (0..MAX_CASES + 1).map(|i| format!("  - {{ name: c{i}, rate: 1 uL/h }}\n")).collect();
        let (cases, diags, _) = read(&format!("cases:\n{rows}steps:\n  - program: ${{rate}}\n"));
        assert!(cases.rows.is_empty());
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert!(messages.contains(&"`cases` has 1001 rows; a plan has at most 1000"), "{messages:?}");
    }
}
