//! The decoder's primitives: a mapping with its allowed keys, a required key, a scalar, a word
//! of a closed vocabulary, a quantity, a duration, a count, a name, a list of SRS ids. Each
//! reports what is wrong at the token and returns `None`.

use super::*;

/// Collects diagnostics; when a value came from a `${param}`, says which case gave it.
pub struct Diags {
    pub list: Vec<Diagnostic>,
    pub case: Option<String>,
    /// Reading what no case substitutes (the `cases:` table itself): a `${...}` there is text
    /// like any other, and a value holding one is reported like any other.
    pub literal: bool,
}

impl Diags {
    pub fn new(case: Option<String>) -> Self {
        Self { list: Vec::new(), case, literal: false }
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    /// A diagnostic about `node`'s value. Nothing more is said about a value already reported
    /// (an alias) or one whose `${...}` no case resolves (reported by the cases' checks).
    pub fn at(&mut self, node: &Node, mut d: Diagnostic) {
        if node.reported || (!self.literal && node.as_str().is_some_and(|s| s.contains("${"))) {
            return;
        }
        if let (Some(template), Some(case)) = (&node.template, &self.case) {
            d.message = format!("{} (case `{case}`, from `{template}`)", d.message);
        }
        self.list.push(d);
    }

    pub(super) fn quantity(&mut self, node: &Node, e: QuantityError) {
        self.at(node, Diagnostic::new(node.loc(), e.message).expected(e.expected).maybe_hint(e.hint));
    }
}

/// A mapping's entries, with the key that introduced it (for "missing key" errors).
pub struct MapView<'n> {
    pub owner: Loc,
    pub owner_name: String,
    pub entries: &'n [(Node, Node)],
    /// The keys the mapping may hold.
    pub allowed: Vec<String>,
}

impl<'n> MapView<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    pub fn key(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(k, _)| k)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys present among `keys`.
    pub fn present<'k>(&self, keys: &[&'k str]) -> Vec<&'k str> {
        keys.iter().copied().filter(|k| self.has(k)).collect()
    }
}

/// `node` as a mapping whose keys are among `allowed`; unknown keys are reported (and
/// skipped). `what` names the mapping in messages, e.g. "`check`".
pub fn map<'n>(d: &mut Diags, node: &'n Node, owner: Loc, what: &str, allowed: &[&str]) -> Option<MapView<'n>> {
    let NodeKind::Map(entries) = &node.kind else {
        d.at(
            node,
            Diagnostic::new(
                if node.kind == NodeKind::Null { owner } else { node.loc() },
                format!("{what} needs a mapping of keys, found {}", node.describe()),
            )
            .expected(format!("keys {}", one_of(allowed.iter().copied()))),
        );
        return None;
    };
    for (k, _) in entries {
        let name = k.as_str().unwrap_or_default();
        if !allowed.contains(&name) {
            d.push(
                Diagnostic::new(k.loc(), format!("unknown key `{name}` in {what}"))
                    .expected(one_of(allowed.iter().copied()))
                    .maybe_hint(did_you_mean(name, allowed.iter().copied())),
            );
        }
    }
    Some(MapView {
        owner,
        owner_name: what.to_string(),
        entries,
        allowed: allowed.iter().map(|k| k.to_string()).collect(),
    })
}

/// A required key's value; reports it missing at the owner.
pub fn required<'n>(d: &mut Diags, m: &MapView<'n>, key: &str, expected: &str) -> Option<&'n Node> {
    let v = m.get(key);
    // A misspelt key (`timout`) is reported as unknown, with the right spelling: enough.
    let misspelt =
        m.entries.iter().filter_map(|(k, _)| k.as_str()).any(|k| {
            !m.allowed.iter().any(|a| a == k) && closest(k, m.allowed.iter().map(String::as_str)) == Some(key)
        });
    if v.is_none() && !misspelt {
        d.push(
            Diagnostic::new(m.owner, format!("{} is missing `{key}`", m.owner_name))
                .expected(format!("`{key}`: {expected}")),
        );
    }
    v
}

/// A scalar's text; an empty value, a list or a mapping is reported.
pub fn scalar<'n>(d: &mut Diags, node: &'n Node, what: &str, expected: &str) -> Option<&'n str> {
    match &node.kind {
        NodeKind::Scalar(s) => Some(s),
        other => {
            let message = if matches!(other, NodeKind::Null) {
                format!("{what} needs a value")
            } else {
                format!("{what} needs a single value, found {}", node.describe())
            };
            d.at(node, Diagnostic::new(node.loc(), message).expected(expected));
            None
        }
    }
}

/// A word of a closed vocabulary (`AlarmCode`, `PumpState`, ...).
pub fn word<T: FromStr>(d: &mut Diags, node: &Node, what: &str, all: &[&str]) -> Option<T> {
    let text = scalar(d, node, what, &one_of(all.iter().copied()))?;
    match text.parse::<T>() {
        Ok(v) => Some(v),
        Err(_) => {
            d.at(
                node,
                Diagnostic::new(node.loc(), format!("unknown {what} `{text}`"))
                    .expected(one_of(all.iter().copied()))
                    .maybe_hint(did_you_mean(text, all.iter().copied())),
            );
            None
        }
    }
}

pub fn quantity(d: &mut Diags, node: &Node, what: &str, dim: Dimension) -> Option<f64> {
    let text = scalar(d, node, what, &dim.how())?;
    match units::parse(text, dim) {
        Ok(v) => Some(v),
        Err(e) => {
            d.quantity(node, e);
            None
        }
    }
}

pub fn duration(d: &mut Diags, node: &Node, what: &str) -> Option<Duration> {
    let text = scalar(d, node, what, &Dimension::Duration.how())?;
    match units::parse_duration(text) {
        Ok(v) => Some(v),
        Err(e) => {
            d.quantity(node, e);
            None
        }
    }
}

pub(super) fn count(d: &mut Diags, node: &Node, what: &str) -> Option<u32> {
    let text = scalar(d, node, what, &Dimension::Count.how())?;
    match units::parse_count(text) {
        Ok(v) => Some(v),
        Err(e) => {
            d.quantity(node, e);
            None
        }
    }
}

pub(super) fn alarm_codes() -> Vec<&'static str> {
    AlarmCode::ALL.iter().map(|c| c.as_str()).collect()
}

pub(super) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// An identifier: a letter or digit, then letters, digits, `-`, `_`, `.`.
pub fn name(d: &mut Diags, node: &Node, what: &str) -> Option<String> {
    let example = match what {
        "plan id" => "OCC-TIME-TO-ALARM",
        "mark name" => "occluded",
        "case name" => "500uLh",
        _ => "time-to-alarm",
    };
    let expected = format!("a {what}: a letter or digit, then letters, digits, `-`, `_` or `.`, e.g. `{example}`");
    let text = scalar(d, node, &format!("a {what}"), &expected)?;
    if !is_name(text) {
        d.at(node, Diagnostic::new(node.loc(), format!("`{text}` is not a valid {what}")).expected(expected));
        return None;
    }
    Some(text.to_string())
}

/// A list of SRS ids (`covers:`, `verifies:`).
pub(super) fn srs_ids(d: &mut Diags, node: &Node, what: &str) -> Vec<(String, Loc)> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => {
            d.at(
                node,
                Diagnostic::new(
                    node.loc(),
                    format!("`{what}` needs a list of requirement ids, found {}", node.describe()),
                )
                .expected("a list of SRS ids, e.g. `[SRS-OCC-002]`"),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<(String, Loc)> = Vec::new();
    for item in items {
        let Some(text) = scalar(d, item, "a requirement id", "an SRS id, e.g. `SRS-OCC-002`") else { continue };
        if requirements::requirement(text).is_none() {
            d.at(
                item,
                Diagnostic::new(item.loc(), format!("`{text}` is not a requirement of SRS.md"))
                    .expected("an id of SRS.md: SRS-DEL-001..003, SRS-OCC-001..004, SRS-DOS-001..005, SRS-WDR-001..006, SRS-COM-001..003")
                    .maybe_hint(did_you_mean(text, requirements::ids())),
            );
            continue;
        }
        if out.iter().any(|(id, _)| id == text) {
            d.at(item, Diagnostic::new(item.loc(), format!("`{text}` is listed twice in `{what}`")).hint("keep one"));
            continue;
        }
        out.push((text.to_string(), item.loc()));
    }
    out
}

pub(super) fn text_of(n: Option<&Node>) -> String {
    n.and_then(Node::as_str).unwrap_or("?").to_string()
}

pub(super) fn unit_words(dim: Dimension) -> String {
    match dim {
        Dimension::Duration => "a duration".to_string(),
        Dimension::Count => "a bare count".to_string(),
        other => format!("{}, canonical unit {}", other.name(), other.canonical_symbol()),
    }
}
