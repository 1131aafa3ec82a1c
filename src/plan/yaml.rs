//! YAML with positions: plan text parsed by saphyr-parser's event API into a small tree whose
//! every key and value knows its line and column, so each diagnostic points at its token.
//!
//! Plans are plain data and are meant to be read by a reviewer as written: anchors, aliases
//! and tags are refused, duplicate keys are errors, and a file holds one document. Every
//! scalar stays text; the decoder gives it its meaning (a quantity, a code, a name).

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span};

use super::ast::Pos;
use super::diag::{Diagnostic, Loc};

/// Deeper than this is not a plan (and would make the tree's recursion a risk).
const MAX_DEPTH: usize = 32;

/// More values than this (scalars, lists and mappings, an alias counting as what it would
/// expand to) is not a plan: the largest shipped plan has a few hundred. Past it parsing stops,
/// so neither a long file nor an alias bomb costs memory out of proportion.
pub const MAX_NODES: usize = 50_000;

/// A YAML node and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    /// Characters the token spans on its first line (for the caret).
    pub width: usize,
    pub kind: NodeKind,
    /// When `${param}` substitution changed this value: its text as written.
    pub template: Option<String>,
    /// An error about this value was reported already (an alias): say no more about it.
    pub reported: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// An empty value, `~` or `null`.
    Null,
    /// Any scalar, as text (quoted or not).
    Scalar(String),
    Seq(Vec<Node>),
    /// Keys in the order written; keys are scalars and unique.
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn loc(&self) -> Loc {
        Loc { pos: self.pos, width: self.width }
    }

    /// The scalar's text.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// This node's position and flags with an empty value: a copy that does not copy what the
    /// node holds (for rebuilding a tree around new values).
    pub fn clone_shallow(&self) -> Node {
        Node {
            pos: self.pos,
            width: self.width,
            kind: NodeKind::Null,
            template: self.template.clone(),
            reported: self.reported,
        }
    }

    /// What kind of YAML value this is, for messages ("a list", "a mapping").
    pub fn describe(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "an empty value",
            NodeKind::Scalar(_) => "a single value",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
}

/// Parses a plan file's text. A syntax error ends parsing (the tree is `None`); duplicate keys,
/// anchors, aliases and tags are reported and parsing goes on, so every one of them is listed.
pub fn parse(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut builder = Builder {
        lines: &lines,
        stack: Vec::new(),
        root: None,
        diags: Vec::new(),
        documents: 0,
        nodes: 0,
        anchors: std::collections::HashMap::new(),
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => {
                if let Err(stop) = builder.event(event, span) {
                    builder.diags.push(*stop);
                    return (None, builder.diags);
                }
            }
            Some(Err(e)) => {
                builder.diags.push(syntax_error(&e, &lines));
                return (None, builder.diags);
            }
        }
    }
    let root = builder.root.take();
    if root.is_none() && builder.diags.is_empty() {
        builder.diags.push(
            Diagnostic::new(Loc::FILE, "the plan file is empty")
                .hint("start from a plan in test-plans/; docs/plan-language.md describes every key"),
        );
    }
    (root, builder.diags)
}

fn syntax_error(e: &ScanError, lines: &[&str]) -> Diagnostic {
    let m = e.marker();
    let line = m.line().max(1);
    // The scanner may report the end of input one line past the last.
    let (line, column) = match lines.last() {
        Some(last) if line > lines.len() => (lines.len(), last.chars().count() + 1),
        _ => (line, m.col() + 1),
    };
    let near = |l: usize| lines.get(l.wrapping_sub(1)).is_some_and(|t| t.contains("${"));
    let hint = if near(line) || near(line - 1) {
        "a `${param}` inside `{ }` or `[ ]` must be quoted: write `\"${name}\"`"
    } else {
        "check the indentation, and quote a value that contains `: `, `#`, `{`, `[` or starts with `*`, `&`, `!`"
    };
    Diagnostic::new(Loc::new(line, column, 1), format!("YAML syntax: {}", e.info())).hint(hint)
}

/// A node under construction.
enum Open {
    Seq { pos: Pos, items: Vec<Node> },
    Map { pos: Pos, entries: Vec<(Node, Node)>, key: Option<Node> },
}

/// An open collection's anchor and the node count when it opened, to size what an alias of
/// it would expand to.
struct Opened {
    anchor: usize,
    nodes_before: usize,
}

struct Builder<'t> {
    lines: &'t [&'t str],
    stack: Vec<(Open, Opened)>,
    root: Option<Node>,
    diags: Vec<Diagnostic>,
    documents: usize,
    /// Values so far, an alias counting as the nodes of what it names.
    nodes: usize,
    /// Anchor id → how many nodes its value holds.
    anchors: std::collections::HashMap<usize, usize>,
}

impl Builder<'_> {
    fn loc(&self, span: Span) -> Loc {
        let (start, end) = (span.start, span.end);
        let text = self.lines.get(start.line().saturating_sub(1)).copied().unwrap_or_default();
        let stop = if end.line() == start.line() { end.col() } else { usize::MAX };
        // The scanner's span of a double-quoted scalar takes in the blank after it.
        let token: String = text.chars().skip(start.col()).take(stop.saturating_sub(start.col())).collect();
        let width = token.trim_end().chars().count();
        Loc::new(start.line(), start.col() + 1, width.max(1))
    }

    fn refuse_anchor(&mut self, anchor: usize, at: Loc) {
        if anchor != 0 {
            self.diags.push(
                Diagnostic::new(at, "anchors (`&name`) are not allowed in a plan")
                    .hint("write the value out in full: a plan is read as written, by reviewers too"),
            );
        }
    }

    fn refuse_tag(&mut self, tag: bool, at: Loc) {
        if tag {
            self.diags.push(
                Diagnostic::new(at, "YAML tags (`!name`, `!!str`) are not allowed in a plan")
                    .hint("remove the tag; quote the value if it must stay text"),
            );
        }
    }

    /// Counts `n` more values; past [`MAX_NODES`] parsing stops.
    fn count(&mut self, n: usize, at: Loc) -> Result<(), Box<Diagnostic>> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(Box::new(
                Diagnostic::new(
                    at,
                    format!(
                        "the plan holds more than {MAX_NODES} values (scalars, lists and mappings, aliases expanded)"
                    ),
                )
                .hint("a plan holds a few hundred; check that this is a plan file"),
            ));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Box<Diagnostic>> {
        let at = self.loc(span);
        match &event {
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) => self.count(1, at)?,
            Event::Alias(id) => self.count(self.anchors.get(id).copied().unwrap_or(1), at)?,
            _ => {}
        }
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Box::new(
                        Diagnostic::new(at, "a plan file holds one YAML document")
                            .hint("put each plan in its own file; remove the `---`"),
                    ));
                }
            }
            Event::Alias(_) => {
                self.diags.push(
                    Diagnostic::new(at, "aliases (`*name`) are not allowed in a plan")
                        .hint("write the value out in full: a plan is read as written, by reviewers too"),
                );
                let kind = NodeKind::Scalar(String::new());
                self.add(Node { pos: at.pos, width: at.width, kind, template: None, reported: true })?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 {
                    self.anchors.insert(anchor, 1);
                }
                self.refuse_anchor(anchor, at);
                self.refuse_tag(tag.is_some(), at);
                let null = style == ScalarStyle::Plain && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                let kind = if null { NodeKind::Null } else { NodeKind::Scalar(value.into_owned()) };
                self.add(Node { pos: at.pos, width: at.width, kind, template: None, reported: false })?;
            }
            Event::SequenceStart(anchor, tag) => {
                self.refuse_anchor(anchor, at);
                self.refuse_tag(tag.is_some(), at);
                self.open(Open::Seq { pos: at.pos, items: Vec::new() }, anchor, at)?;
            }
            Event::MappingStart(anchor, tag) => {
                self.refuse_anchor(anchor, at);
                self.refuse_tag(tag.is_some(), at);
                self.open(Open::Map { pos: at.pos, entries: Vec::new(), key: None }, anchor, at)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let popped = self.stack.pop();
                if let Some((_, opened)) = &popped
                    && opened.anchor != 0
                {
                    self.anchors.insert(opened.anchor, self.nodes - opened.nodes_before);
                }
                let node = match popped.map(|(open, _)| open) {
                    Some(Open::Seq { pos, items }) => {
                        Node { pos, width: 1, kind: NodeKind::Seq(items), template: None, reported: false }
                    }
                    Some(Open::Map { pos, entries, .. }) => {
                        Node { pos, width: 1, kind: NodeKind::Map(entries), template: None, reported: false }
                    }
                    None => {
                        return Err(Box::new(Diagnostic::new(at, "YAML syntax: unbalanced end of a list or mapping")));
                    }
                };
                self.add(node)?;
            }
        }
        Ok(())
    }

    fn open(&mut self, open: Open, anchor: usize, at: Loc) -> Result<(), Box<Diagnostic>> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Box::new(
                Diagnostic::new(at, format!("lists and mappings nested more than {MAX_DEPTH} deep"))
                    .hint("a plan is at most a few levels deep; check the indentation"),
            ));
        }
        if let Some((Open::Map { key: None, .. }, _)) = self.stack.last() {
            self.diags.push(
                Diagnostic::new(at, "a key must be a single word, not a list or mapping")
                    .hint("check the indentation and the `-` of list items"),
            );
        }
        // The collection's own node is counted already.
        self.stack.push((open, Opened { anchor, nodes_before: self.nodes.saturating_sub(1) }));
        Ok(())
    }

    /// Adds a finished node to the node being built (or makes it the document).
    fn add(&mut self, node: Node) -> Result<(), Box<Diagnostic>> {
        match self.stack.last_mut().map(|(open, _)| open) {
            None => {
                if self.root.is_some() {
                    return Err(Box::new(Diagnostic::new(node.loc(), "a plan file holds one YAML document")));
                }
                self.root = Some(node);
            }
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, .. }) => match key.take() {
                None => {
                    // A complex key was reported when it opened; keep a placeholder so the
                    // value that follows still pairs with something.
                    *key = Some(node);
                }
                Some(k) => {
                    if matches!(k.kind, NodeKind::Seq(_) | NodeKind::Map(_)) {
                        return Ok(());
                    }
                    let name = k.as_str().unwrap_or_default().to_string();
                    if let Some((first, _)) =
                        entries.iter().find(|(e, _)| e.as_str().unwrap_or_default() == name.as_str())
                    {
                        let first = first.pos;
                        self.diags.push(
                            Diagnostic::new(k.loc(), format!("duplicate key `{name}`"))
                                .hint(format!("`{name}` is already set at line {}; keep one", first.line)),
                        );
                    } else {
                        entries.push((k, node));
                    }
                }
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Node {
        let (node, diags) = parse(text);
        assert!(diags.is_empty(), "{diags:?}");
        node.unwrap()
    }

    fn map(node: &Node) -> &[(Node, Node)] {
        match &node.kind {
            NodeKind::Map(e) => e,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn keys_and_values_are_located_1_based() {
        let root = ok("id: X\nsteps:\n  - wait: 30 min\n  - { mark: \"a b\" }\n");
        let entries = map(&root);
        assert_eq!((entries[0].0.pos, entries[0].0.width), (Pos { line: 1, column: 1 }, 2));
        assert_eq!((entries[0].1.pos, entries[0].1.width), (Pos { line: 1, column: 5 }, 1));
        let NodeKind::Seq(steps) = &entries[1].1.kind else { panic!() };
        let wait = &map(&steps[0])[0];
        assert_eq!(wait.0.pos, Pos { line: 3, column: 5 });
        assert_eq!((wait.1.pos, wait.1.width), (Pos { line: 3, column: 11 }, 6));
        assert_eq!(wait.1.as_str(), Some("30 min"));
        let mark = &map(&steps[1])[0];
        assert_eq!(mark.0.pos, Pos { line: 4, column: 7 });
        assert_eq!(mark.1.as_str(), Some("a b"));
        assert_eq!(mark.1.pos, Pos { line: 4, column: 13 });
        assert_eq!(mark.1.width, 5, "a quoted scalar's caret covers its quotes");
    }

    #[test]
    fn nulls() {
        let root = ok("a:\nb: ~\nc: null\nd: ''\n");
        let e = map(&root);
        assert_eq!(e[0].1.kind, NodeKind::Null);
        assert_eq!(e[1].1.kind, NodeKind::Null);
        assert_eq!(e[2].1.kind, NodeKind::Null);
        assert_eq!(e[3].1.kind, NodeKind::Scalar(String::new()));
    }

    #[test]
    fn duplicate_keys_are_reported_and_parsing_goes_on() {
        let (root, diags) = parse("a: 1\nb: 2\na: 3\nb: 4\n");
        assert_eq!(diags.len(), 2);
        assert_eq!(diags[0].message, "duplicate key `a`");
        assert_eq!(diags[0].pos, Pos { line: 3, column: 1 });
        assert_eq!(map(&root.unwrap())[0].1.as_str(), Some("1"));
    }

    #[test]
    fn anchors_aliases_and_tags_are_refused() {
        let (_, diags) = parse("a: &x 1\nb: *x\nc: !!str 5\n");
        let messages: Vec<_> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("anchors"));
        assert!(messages[1].starts_with("aliases"));
        assert!(messages[2].starts_with("YAML tags"));
        assert_eq!(diags[1].pos, Pos { line: 2, column: 4 });
    }

    #[test]
    fn syntax_errors_are_located() {
        let (root, diags) = parse("a: 1\n b: 2\n");
        assert!(root.is_none());
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.starts_with("YAML syntax: "), "{}", diags[0].message);
        assert_eq!(diags[0].pos.line, 2);
        let (_, diags) = parse("a: [1, 2\n");
        assert_eq!(diags.len(), 1);
        assert!(diags[0].pos.line >= 1);
    }

    #[test]
    fn one_document_only_and_not_empty() {
        let (_, diags) = parse("a: 1\n---\nb: 2\n");
        assert!(diags[0].message.contains("one YAML document"), "{diags:?}");
        let (_, diags) = parse("# nothing\n");
        assert_eq!(diags[0].message, "the plan file is empty");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let text = "[".repeat(10_000);
        let (root, diags) = parse(&text);
        assert!(root.is_none());
        assert_eq!(diags.len(), 1);
        let text = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let (_, diags) = parse(&text);
        assert!(diags[0].message.contains("nested"), "{diags:?}");
    }

    #[test]
    fn complex_keys_are_refused() {
        let (_, diags) = parse("? [a, b]\n: 1\nc: 2\n");
        assert!(diags.iter().any(|d| d.message.contains("key must be a single word")), "{diags:?}");
    }

    #[test]
    fn an_alias_bomb_is_refused_by_its_expanded_size() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for (name, prev) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d"), ("f", "e"), ("g", "f"), ("h", "g")] {
            let refs = vec![format!("*{prev}"); 9].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let (root, diags) = parse(&text);
        assert!(root.is_none());
        let last = diags.last().expect("a diagnostic");
        assert!(last.message.contains(&format!("more than {MAX_NODES} values")), "{diags:?}");
        assert!(diags.len() < 100, "parsing stops at the limit: {}", diags.len());
    }

    #[test]
    fn a_huge_flat_list_is_refused() {
        let text = format!("steps:\n{}", "  - start\n".repeat(MAX_NODES + 10));
        let (root, diags) = parse(&text);
        assert!(root.is_none());
        assert_eq!(diags.len(), 1, "{:?}", diags.first());
        assert!(diags[0].message.contains("more than"), "{}", diags[0].message);
        assert_eq!(diags[0].pos.line, MAX_NODES - 1, "it points where the limit was passed");
    }
}
