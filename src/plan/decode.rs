//! From the located YAML tree of one case to a [`Plan`]: every key known, every value of the
//! right kind and unit. Errors accumulate (a plan with five mistakes shows five diagnostics);
//! what needs the whole plan (marks in order, ids, capabilities, timing) is gathered as
//! [`Facts`] for [`super::validate`].

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use super::ast::*;
use super::diag::{Diagnostic, Loc, closest, did_you_mean, one_of};
use super::requirements;
use super::units::{self, Dimension, QuantityError};
use super::yaml::{Node, NodeKind};
use crate::protocol::{AlarmCode, BootReason, DenyReason, ErrCode, PumpState, Request};

/// Top-level keys of a plan file.
pub const PLAN_KEYS: &[&str] = &[
    "id",
    "title",
    "version",
    "covers",
    "requires",
    "sample_period",
    "status_period",
    "max_duration",
    "cases",
    "setup",
    "steps",
];

/// Step kinds: actions first, then the others.
pub const ACTION_KINDS: &[&str] = &[
    "start",
    "stop",
    "fill",
    "program",
    "limit",
    "alarm_config",
    "bolus_config",
    "bolus",
    "ack",
    "valve",
    "prompt",
    "probe",
    "inject",
];
pub const STEP_KINDS: &[&str] = &[
    "start",
    "stop",
    "fill",
    "program",
    "limit",
    "alarm_config",
    "bolus_config",
    "bolus",
    "ack",
    "valve",
    "prompt",
    "probe",
    "inject",
    "wait",
    "wait_until",
    "mark",
    "check",
];
/// Steps that may be written as a bare word.
const BARE_STEPS: &[&str] = &["start", "stop", "bolus"];

pub const CONDITION_KEYS: &[&str] = &["alarm", "cleared", "state", "boot", "denied", "flow_below", "flow_above"];
pub const MEASURE_KEYS: &[&str] = &[
    "time_to",
    "volume",
    "flow_mean",
    "boluses",
    "bolus_spacing_min",
    "max_window_volume",
    "pump_status",
    "occurrences",
    "min_window_volume",
    "trumpet",
    "flow_error",
    "flow_stop_to",
    "pump_change",
    "evseq_gaps",
];
pub const LIMIT_KEYS: &[&str] = &["min", "max", "nominal", "tolerance", "drift"];
pub const EXPECT_KEYS: &[&str] = &["id", "accepted", "refused", "verifies"];
pub const INJECTIONS: &[&str] = &["motor_stall", "clear_motor_stall", "watchdog_reset", "corrupt_next_response"];
pub const PUMP_FIELDS: &[&str] = &["reservoir_ul", "delivered_ul", "pressure_kpa", "basal_ul_h"];
/// Names an interval endpoint may take besides a mark.
pub const RESERVED_MARKS: &[&str] = &["start", "now"];

pub const DEFAULT_SAMPLE_PERIOD: Duration = Duration::from_secs(1);
pub const DEFAULT_STATUS_PERIOD: Duration = Duration::from_secs(10);

/// Where a mark is set or used, by step index (setup steps first).
#[derive(Debug, Clone)]
pub struct MarkAt {
    pub name: String,
    pub loc: Loc,
    pub step: usize,
}

/// Something that takes bench time, for the timing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingKind {
    /// `wait:` — counts toward the least total time of the steps.
    Wait,
    /// A `wait_until:` timeout; `flow` when the condition is on flow samples.
    Timeout { flow: bool },
    /// The time between the first and last of repeated bolus requests (counts toward the total).
    Repeat,
    /// A repeat interval (`every:`).
    Every,
    /// A motor stall's duration.
    Stall,
    /// A rolling window's length.
    Window,
}

#[derive(Debug, Clone)]
pub struct Timing {
    pub kind: TimingKind,
    pub duration: Duration,
    pub loc: Loc,
}

/// What validation needs beyond the plan: where things were written.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub id: Option<(String, Loc)>,
    pub requires: Vec<(Capability, Loc)>,
    /// The `requires` key (or the file start when it is missing).
    pub requires_loc: Loc,
    pub requires_given: bool,
    pub covers_given: bool,
    pub covers: Vec<(String, Loc)>,
    pub covers_loc: Loc,
    /// Every `verifies:` id of checks and expectations.
    pub verifies: Vec<(String, Loc)>,
    /// Capabilities steps need, where, and a phrase for the message.
    pub uses: Vec<(Capability, Loc, String)>,
    pub marks: Vec<MarkAt>,
    pub mark_refs: Vec<MarkAt>,
    /// Check and expectation ids.
    pub ids: Vec<(String, Loc)>,
    pub timings: Vec<Timing>,
    pub sample_period_loc: Option<Loc>,
    pub status_period_loc: Option<Loc>,
    pub max_duration_loc: Option<Loc>,
    /// The periods and bound as decoded (`None` when written wrongly).
    pub sample_period: Option<Duration>,
    pub status_period: Option<Duration>,
    pub max_duration: Option<Duration>,
}

/// Collects diagnostics; when a value came from a `${param}`, says which case gave it.
pub struct Diags {
    pub list: Vec<Diagnostic>,
    pub case: Option<String>,
}

impl Diags {
    pub fn new(case: Option<String>) -> Self {
        Self { list: Vec::new(), case }
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    /// A diagnostic about `node`'s value. Nothing more is said about a value already reported
    /// (an alias) or one whose `${...}` no case resolves (reported by the cases' checks).
    pub fn at(&mut self, node: &Node, mut d: Diagnostic) {
        if node.reported || node.as_str().is_some_and(|s| s.contains("${")) {
            return;
        }
        if let (Some(template), Some(case)) = (&node.template, &self.case) {
            d.message = format!("{} (case `{case}`, from `{template}`)", d.message);
        }
        self.list.push(d);
    }

    fn quantity(&mut self, node: &Node, e: QuantityError) {
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

fn count(d: &mut Diags, node: &Node, what: &str) -> Option<u32> {
    let text = scalar(d, node, what, &Dimension::Count.how())?;
    match units::parse_count(text) {
        Ok(v) => Some(v),
        Err(e) => {
            d.quantity(node, e);
            None
        }
    }
}

fn alarm_codes() -> Vec<&'static str> {
    AlarmCode::ALL.iter().map(|c| c.as_str()).collect()
}

fn is_name(s: &str) -> bool {
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
fn srs_ids(d: &mut Diags, node: &Node, what: &str) -> Vec<(String, Loc)> {
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

/// A decoded plan (when every part of it could be decoded) and the facts validation needs
/// (as far as they could be gathered).
pub struct Decoded {
    pub plan: Option<Plan>,
    pub facts: Facts,
}

/// Top-level keys a plan must have, with what each holds.
const REQUIRED_TOP: &[(&str, &str)] = &[
    ("id", "the plan's id, unique across the plan set, e.g. `OCC-TIME-TO-ALARM`"),
    ("title", "a one-line title"),
    ("version", "the plan's version, e.g. `1.0.0`"),
    ("covers", "the SRS ids the plan covers, e.g. `[SRS-OCC-002]`"),
    ("requires", "what the bench must provide, e.g. `[pump, flow_sensor]`"),
    ("steps", "the list of steps"),
];

/// Decodes the (substituted) tree of one case.
pub fn decode(root: &Node, case: Option<Case>, d: &mut Diags) -> Decoded {
    let first_key = match &root.kind {
        NodeKind::Map(entries) => entries.first().map_or(root.loc(), |(k, _)| k.loc()),
        _ => root.loc(),
    };
    let Some(top) = map(d, root, first_key, "the plan", PLAN_KEYS) else {
        return Decoded { plan: None, facts: Facts::default() };
    };
    let file = Loc::new(1, 1, 1);
    let mut facts = Facts { requires_loc: file, covers_loc: file, ..Facts::default() };
    let missing: Vec<&(&str, &str)> = REQUIRED_TOP.iter().filter(|(k, _)| !top.has(k)).collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|(k, _)| format!("`{k}`")).collect();
        let list = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => names.join(""),
        };
        let expected: Vec<String> = missing.iter().map(|(k, what)| format!("`{k}`: {what}")).collect();
        d.push(Diagnostic::new(first_key, format!("the plan is missing {list}")).expected(expected.join("; ")).hint(
            "every plan starts with `id`, `title`, `version`, `covers` and `requires`; see docs/plan-language.md",
        ));
    }
    // Reported together above.
    let top = MapView { owner: first_key, owner_name: "the plan".to_string(), allowed: Vec::new(), ..top };
    fn present_only<'n>(_: &mut Diags, m: &MapView<'n>, key: &str, _: &str) -> Option<&'n Node> {
        m.get(key)
    }
    let required = present_only;

    let id = required(d, &top, "id", "the plan's id, unique across the plan set, e.g. `OCC-TIME-TO-ALARM`")
        .and_then(|n| name(d, n, "plan id").map(|id| (id, n.loc())));
    facts.id = id.clone();
    let title = required(d, &top, "title", "a one-line title")
        .and_then(|n| scalar(d, n, "`title`", "a one-line title"))
        .map(str::to_string);
    let version = required(d, &top, "version", "the plan's version, e.g. `1.0.0`").and_then(|n| {
        let v = scalar(d, n, "`version`", "MAJOR.MINOR.PATCH, e.g. `1.0.0`")?;
        let v = v.trim();
        let parts: Vec<&str> = v.split('.').collect();
        if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            Some(v.to_string())
        } else {
            d.at(
                n,
                Diagnostic::new(n.loc(), format!("`{v}` is not a version"))
                    .expected("MAJOR.MINOR.PATCH, e.g. `1.0.0`")
                    .hint("quote it if YAML reads it as a number: `version: \"1.0\"` is still not three parts"),
            );
            None
        }
    });
    if let Some(k) = top.key("covers") {
        facts.covers_loc = k.loc();
        facts.covers_given = true;
    }
    let covers = required(d, &top, "covers", "the SRS ids the plan covers, e.g. `[SRS-OCC-002]`")
        .map(|n| srs_ids(d, n, "covers"))
        .unwrap_or_default();
    facts.covers = covers.clone();

    if let Some(k) = top.key("requires") {
        facts.requires_loc = k.loc();
        facts.requires_given = true;
    }
    let caps: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
    let mut requires = BTreeSet::new();
    if let Some(n) = required(d, &top, "requires", "what the bench must provide, e.g. `[pump, flow_sensor]`") {
        if let NodeKind::Seq(items) = &n.kind {
            for item in items {
                let Some(text) = scalar(d, item, "a capability", &one_of(caps.iter().copied())) else { continue };
                match Capability::ALL.iter().find(|c| c.name() == text) {
                    Some(c) if requires.contains(c) => d.at(
                        item,
                        Diagnostic::new(item.loc(), format!("`{text}` is listed twice in `requires`")).hint("keep one"),
                    ),
                    Some(c) => {
                        requires.insert(*c);
                        facts.requires.push((*c, item.loc()));
                    }
                    None => d.at(
                        item,
                        Diagnostic::new(item.loc(), format!("unknown capability `{text}`"))
                            .expected(one_of(caps.iter().copied()))
                            .maybe_hint(did_you_mean(text, caps.iter().copied())),
                    ),
                }
            }
        } else {
            d.at(
                n,
                Diagnostic::new(n.loc(), format!("`requires` needs a list of capabilities, found {}", n.describe()))
                    .expected(format!("a list of {}", one_of(caps.iter().copied()))),
            );
        }
    }

    let mut period = |key: &str, default: Duration, facts_loc: &mut Option<Loc>| match top.get(key) {
        Some(n) => {
            *facts_loc = Some(n.loc());
            duration(d, n, &format!("`{key}`"))
        }
        None => Some(default),
    };
    let sample_period = period("sample_period", DEFAULT_SAMPLE_PERIOD, &mut facts.sample_period_loc);
    let status_period = period("status_period", DEFAULT_STATUS_PERIOD, &mut facts.status_period_loc);
    let max_duration = match top.get("max_duration") {
        Some(n) => {
            facts.max_duration_loc = Some(n.loc());
            duration(d, n, "`max_duration`").map(Some)
        }
        None => Some(None),
    };
    facts.sample_period = sample_period;
    facts.status_period = status_period;
    facts.max_duration = max_duration.flatten();

    let mut ctx = StepCtx { d, facts: &mut facts, index: 0 };
    let mut steps = Vec::new();
    if let Some(n) = top.get("setup") {
        steps.extend(ctx.step_list(n, "setup", true));
    }
    let setup_len = steps.len();
    if let Some(n) = top.get("steps") {
        let list = ctx.step_list(n, "steps", false);
        if list.is_empty() && matches!(&n.kind, NodeKind::Seq(items) if items.is_empty()) {
            ctx.d.push(Diagnostic::new(n.loc(), "`steps` is empty").hint("a plan does something: add steps"));
        }
        steps.extend(list);
    }

    let plan = (|| {
        Some(Plan {
            id: id?.0,
            title: title?,
            version: version?,
            covers: covers.into_iter().map(|(id, _)| id).collect(),
            requires,
            sample_period: sample_period?,
            status_period: status_period?,
            max_duration: max_duration?,
            case,
            steps,
            setup_len,
        })
    })();
    Decoded { plan, facts }
}

struct StepCtx<'a> {
    d: &'a mut Diags,
    facts: &'a mut Facts,
    /// Index of the step being decoded (setup steps first).
    index: usize,
}

/// What a decoded step gives: its kind and label.
type StepOut = Option<(StepKind, String)>;

impl StepCtx<'_> {
    fn step_list(&mut self, node: &Node, section: &str, setup: bool) -> Vec<Step> {
        let NodeKind::Seq(items) = &node.kind else {
            self.d.at(
                node,
                Diagnostic::new(node.loc(), format!("`{section}` needs a list of steps, found {}", node.describe()))
                    .expected("a list, one `- step` per line")
                    .hint("start each step with `- `"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            if let Some(step) = self.step(item, section, setup) {
                out.push(step);
            }
            self.index += 1;
        }
        out
    }

    fn uses(&mut self, cap: Capability, loc: Loc, what: impl Into<String>) {
        self.facts.uses.push((cap, loc, what.into()));
    }

    fn step(&mut self, item: &Node, section: &str, setup: bool) -> Option<Step> {
        let allowed: &[&str] = if setup { ACTION_KINDS } else { STEP_KINDS };
        let (key, value): (&Node, Option<&Node>) = match &item.kind {
            NodeKind::Scalar(_) => (item, None),
            NodeKind::Map(entries) if entries.len() == 1 => (&entries[0].0, Some(&entries[0].1)),
            NodeKind::Map(entries) if !entries.is_empty() => {
                let names: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_str()).collect();
                let first = names[0];
                let hint = if allowed.contains(&first) {
                    {
                        let rest: Vec<String> = names[1..].iter().map(|n| format!("`{n}`")).collect();
                        let (verb, it) = if rest.len() == 1 { ("belongs", "it") } else { ("belong", "them") };
                        format!("if {} {verb} to `{first}`, indent {it} under `{first}:`", rest.join(", "))
                    }
                } else {
                    "start each step with its own `- `".to_string()
                };
                self.d.push(
                    Diagnostic::new(entries[0].0.loc(), format!("a step has one kind, this one has {}", names.len()))
                        .expected(format!(
                            "one of {}",
                            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        ))
                        .hint(hint),
                );
                return None;
            }
            _ => {
                self.d.at(
                    item,
                    Diagnostic::new(
                        item.loc(),
                        format!("a step in `{section}` needs a kind, found {}", item.describe()),
                    )
                    .expected(one_of(allowed.iter().copied())),
                );
                return None;
            }
        };
        let kind = key.as_str().unwrap_or_default();
        if !allowed.contains(&kind) {
            let (message, hint) = if setup && STEP_KINDS.contains(&kind) {
                (
                    format!("`{kind}` is not allowed in `setup`"),
                    Some(
                        "`setup` holds only actions that configure the pump and bench; move it to `steps`".to_string(),
                    ),
                )
            } else {
                (format!("unknown step `{kind}`"), did_you_mean(kind, allowed.iter().copied()))
            };
            self.d.at(
                key,
                Diagnostic::new(key.loc(), message).expected(one_of(allowed.iter().copied())).maybe_hint(hint),
            );
            return None;
        }
        // `- start` and `- start:` are the same; other kinds need their value.
        let value = value.filter(|v| v.kind != NodeKind::Null);
        if value.is_none() && !BARE_STEPS.contains(&kind) {
            self.d.push(
                Diagnostic::new(key.loc(), format!("`{kind}` needs a value"))
                    .expected(format!("e.g. `- {}`", example_step(kind))),
            );
            return None;
        }
        let at = key.loc();
        let (kind, label) = self.step_kind(kind, at, value)?;
        Some(Step { pos: item.pos, label, kind })
    }

    fn step_kind(&mut self, kind: &str, at: Loc, value: Option<&Node>) -> StepOut {
        let pump = |s: &mut Self| s.uses(Capability::Pump, at, format!("`{kind}` talks to the pump"));
        match kind {
            "start" | "stop" => {
                pump(self);
                let expect = match value {
                    Some(v) => self.expect_only(v, at, kind, false)?,
                    None => None,
                };
                let action = if kind == "start" { Action::Start } else { Action::Stop };
                Some(action_step(action, kind.to_string(), expect))
            }
            "fill" | "program" | "limit" => {
                pump(self);
                let v = value?;
                let (inner, dim) = match kind {
                    "fill" => ("volume", Dimension::Volume),
                    "program" => ("basal", Dimension::Flow),
                    _ => ("max_24h", Dimension::Volume),
                };
                let (qnode, expect) = match &v.kind {
                    NodeKind::Map(_) => {
                        let m = map(self.d, v, at, &format!("`{kind}`"), &[inner, "expect"])?;
                        let q = required(self.d, &m, inner, &dim.how());
                        let expect = self.optional_expect(&m, false);
                        (q, expect)
                    }
                    _ => (Some(v), Some(None)),
                };
                let qnode = qnode?;
                let q = quantity(self.d, qnode, &format!("`{kind}`"), dim)?;
                let text = qnode.as_str().unwrap_or_default();
                let action = match kind {
                    "fill" => Action::Fill { volume_ul: q },
                    "program" => Action::Program { basal_ul_h: q },
                    _ => Action::Limit { max_24h_ul: q },
                };
                Some(action_step(action, format!("{kind} {text}"), expect?))
            }
            "alarm_config" => {
                pump(self);
                let m = map(self.d, value?, at, "`alarm_config`", &["low_reservoir", "occlusion", "expect"])?;
                let low = required(self.d, &m, "low_reservoir", &Dimension::Volume.how())
                    .and_then(|n| quantity(self.d, n, "`low_reservoir`", Dimension::Volume));
                let occ = required(self.d, &m, "occlusion", &Dimension::Pressure.how())
                    .and_then(|n| quantity(self.d, n, "`occlusion`", Dimension::Pressure));
                let expect = self.optional_expect(&m, false);
                let label = format!(
                    "alarm_config low_reservoir {}, occlusion {}",
                    text_of(m.get("low_reservoir")),
                    text_of(m.get("occlusion"))
                );
                Some(action_step(Action::AlarmConfig { low_reservoir_ul: low?, occlusion_kpa: occ? }, label, expect?))
            }
            "bolus_config" => {
                pump(self);
                let m = map(self.d, value?, at, "`bolus_config`", &["dose", "lockout", "max_per_24h", "expect"])?;
                let dose = required(self.d, &m, "dose", &Dimension::Volume.how())
                    .and_then(|n| quantity(self.d, n, "`dose`", Dimension::Volume));
                let lockout = required(self.d, &m, "lockout", &Dimension::Duration.how()).and_then(|n| {
                    let l = duration(self.d, n, "`lockout`")?;
                    if l.subsec_nanos() != 0 {
                        self.d.at(
                            n,
                            Diagnostic::new(n.loc(), format!("`lockout` must be whole seconds, not {l:?}"))
                                .expected("a whole number of seconds (BOLUS_CONFIG lockout_s)"),
                        );
                        return None;
                    }
                    Some(l)
                });
                let max = required(self.d, &m, "max_per_24h", &Dimension::Count.how())
                    .and_then(|n| count(self.d, n, "`max_per_24h`"));
                let expect = self.optional_expect(&m, false);
                let label = format!(
                    "bolus_config dose {}, lockout {}, max {} per 24 h",
                    text_of(m.get("dose")),
                    text_of(m.get("lockout")),
                    text_of(m.get("max_per_24h"))
                );
                Some(action_step(
                    Action::BolusConfig { dose_ul: dose?, lockout: lockout?, max_per_24h: max? },
                    label,
                    expect?,
                ))
            }
            "bolus" => {
                pump(self);
                let Some(v) = value else {
                    return Some(action_step(Action::Bolus { repeat: None }, "bolus".to_string(), None));
                };
                let m = map(self.d, v, at, "`bolus`", &["every", "count", "for", "expect"])?;
                if !m.has("every") {
                    for k in m.present(&["count", "for"]) {
                        self.d.push(
                            Diagnostic::new(m.key(k).map_or(at, |n| n.loc()), format!("`{k}` needs `every`"))
                                .expected("`every: <duration>` with `count: N` or `for: <duration>`"),
                        );
                    }
                    let expect = self.optional_expect(&m, true)?;
                    let label = match &expect {
                        Some(e) => format!("bolus (expect {})", outcome_text(&e.outcome)),
                        None => "bolus".to_string(),
                    };
                    return Some((StepKind::Action { action: Action::Bolus { repeat: None }, expect }, label));
                }
                if let Some(k) = m.key("expect") {
                    self.d.push(
                        Diagnostic::new(k.loc(), "`expect` cannot judge repeated bolus requests")
                            .hint("judge them with checks: `boluses: { granted: true, ... }`, `bolus_spacing_min`"),
                    );
                }
                let every_node = m.get("every")?;
                let every = duration(self.d, every_node, "`every`");
                if let Some(e) = every {
                    self.facts.timings.push(Timing { kind: TimingKind::Every, duration: e, loc: every_node.loc() });
                }
                let repeat = match m.present(&["count", "for"]).as_slice() {
                    ["count"] => {
                        let n = m.get("count")?;
                        let c = count(self.d, n, "`count`")?;
                        if c == 0 {
                            self.d.at(n, Diagnostic::new(n.loc(), "`count: 0` requests nothing").expected("1 or more"));
                            return None;
                        }
                        (c, format!("× {c}"))
                    }
                    ["for"] => {
                        let n = m.get("for")?;
                        let span = duration(self.d, n, "`for`")?;
                        let every = every?;
                        if every.is_zero() {
                            return None;
                        }
                        let c = (span.as_secs_f64() / every.as_secs_f64() + 1e-9).floor();
                        if c < 1.0 {
                            self.d.at(
                                n,
                                Diagnostic::new(
                                    n.loc(),
                                    format!(
                                        "`for: {}` is shorter than `every: {}`: no request",
                                        text_of(Some(n)),
                                        text_of(Some(every_node))
                                    ),
                                )
                                .expected("a duration of at least `every`"),
                            );
                            return None;
                        }
                        let Ok(c) = u32::try_from(c as u64) else {
                            self.d.at(
                                n,
                                Diagnostic::new(n.loc(), "too many requests").expected("fewer than 2^32 requests"),
                            );
                            return None;
                        };
                        (c, format!("for {}", text_of(Some(n))))
                    }
                    [] => {
                        self.d.push(
                            Diagnostic::new(at, "`bolus` with `every` needs `count` or `for`")
                                .expected("`count: N` (requests) or `for: <duration>`"),
                        );
                        return None;
                    }
                    _ => {
                        self.d.push(
                            Diagnostic::new(m.key("for").map_or(at, |k| k.loc()), "`count` and `for` both given")
                                .expected("one of `count`, `for`"),
                        );
                        return None;
                    }
                };
                let every = every?;
                if every.is_zero() {
                    self.d.at(
                        every_node,
                        Diagnostic::new(every_node.loc(), "`every: 0` repeats without pause")
                            .expected("a duration above 0"),
                    );
                    return None;
                }
                let (count, how) = repeat;
                self.facts.timings.push(Timing {
                    kind: TimingKind::Repeat,
                    duration: every.saturating_mul(count - 1),
                    loc: at,
                });
                Some(action_step(
                    Action::Bolus { repeat: Some(Repeat { every, count }) },
                    format!("bolus every {} {how} ({count} requests)", text_of(Some(every_node))),
                    None,
                ))
            }
            "ack" => {
                pump(self);
                let v = value?;
                let (code_node, expect) = match &v.kind {
                    NodeKind::Map(_) => {
                        let m = map(self.d, v, at, "`ack`", &["alarm", "expect"])?;
                        (required(self.d, &m, "alarm", "an alarm code"), self.optional_expect(&m, false))
                    }
                    _ => (Some(v), Some(None)),
                };
                let alarm: AlarmCode = word(self.d, code_node?, "alarm code", &alarm_codes())?;
                let expect = expect?;
                let label = match &expect {
                    Some(e) => format!("ack {alarm} (expect {})", outcome_text(&e.outcome)),
                    None => format!("ack {alarm}"),
                };
                Some((StepKind::Action { action: Action::Ack { alarm }, expect }, label))
            }
            "valve" => {
                let v = value?;
                self.uses(Capability::Valve, at, "`valve` works the occlusion valve");
                let command = match scalar(self.d, v, "`valve`", "`close` or `open`")? {
                    "close" => ValveCommand::Close,
                    "open" => ValveCommand::Open,
                    other => {
                        self.d.at(
                            v,
                            Diagnostic::new(v.loc(), format!("unknown valve command `{other}`"))
                                .expected("`close` (energise: block the line) or `open`")
                                .maybe_hint(did_you_mean(other, ["close", "open"])),
                        );
                        return None;
                    }
                };
                let word = if command == ValveCommand::Close { "close" } else { "open" };
                Some(action_step(Action::Valve(command), format!("valve {word}"), None))
            }
            "prompt" => {
                let v = value?;
                self.uses(Capability::Operator, at, "`prompt` needs someone at the bench");
                let text = scalar(self.d, v, "`prompt`", "the instruction to the operator, in quotes")?;
                if text.trim().is_empty() {
                    self.d.at(
                        v,
                        Diagnostic::new(v.loc(), "`prompt` is empty").expected("the instruction to the operator"),
                    );
                    return None;
                }
                Some(action_step(Action::Prompt { text: text.to_string() }, format!("prompt: {text}"), None))
            }
            "probe" => {
                let v = value?;
                pump(self);
                let (probe, expect) = match &v.kind {
                    NodeKind::Scalar(s) if s == "repeat_seq" => (Some(Probe::RepeatSeq), Some(None)),
                    NodeKind::Scalar(s) => {
                        let hint = if s.starts_with("bad_crc") {
                            Some("write `probe: { bad_crc: STOP }`".to_string())
                        } else {
                            did_you_mean(s, ["repeat_seq"])
                        };
                        self.d.at(
                            v,
                            Diagnostic::new(v.loc(), format!("unknown probe `{s}`"))
                                .expected("`repeat_seq`, or `{ bad_crc: <request>, expect: ... }`")
                                .maybe_hint(hint),
                        );
                        return None;
                    }
                    _ => {
                        let m = map(self.d, v, at, "`probe`", &["bad_crc", "repeat_seq", "expect"])?;
                        let expect = self.optional_expect(&m, false);
                        let probe = match m.present(&["bad_crc", "repeat_seq"]).as_slice() {
                            ["bad_crc"] => {
                                m.get("bad_crc").and_then(|n| self.request(n)).map(|command| Probe::BadCrc { command })
                            }
                            ["repeat_seq"] => {
                                let n = m.get("repeat_seq")?;
                                if n.as_str() != Some("true") {
                                    self.d.at(
                                        n,
                                        Diagnostic::new(n.loc(), "`repeat_seq` takes `true`")
                                            .expected("`repeat_seq: true`"),
                                    );
                                    None
                                } else {
                                    Some(Probe::RepeatSeq)
                                }
                            }
                            [] => {
                                self.d.push(
                                    Diagnostic::new(at, "`probe` needs `bad_crc` or `repeat_seq`")
                                        .expected("`bad_crc: <request>` or `repeat_seq: true`"),
                                );
                                None
                            }
                            _ => {
                                self.d.push(
                                    Diagnostic::new(
                                        at,
                                        "a `probe` does one thing: `bad_crc` and `repeat_seq` both given",
                                    )
                                    .expected("one of `bad_crc`, `repeat_seq`")
                                    .hint("write two probe steps"),
                                );
                                None
                            }
                        };
                        (probe, expect)
                    }
                };
                let (probe, expect) = (probe?, expect?);
                let mut label = match &probe {
                    Probe::BadCrc { command } => format!("probe: `{command}` with a bad CRC"),
                    Probe::RepeatSeq => "probe: repeat the previous request's seq".to_string(),
                };
                if let Some(e) = &expect {
                    label.push_str(&format!(" (expect {})", outcome_text(&e.outcome)));
                }
                Some((StepKind::Action { action: Action::Probe(probe), expect }, label))
            }
            "inject" => {
                let v = value?;
                let injection = match &v.kind {
                    NodeKind::Scalar(s) => match s.as_str() {
                        "motor_stall" => Injection::MotorStall { duration: None },
                        "clear_motor_stall" => Injection::ClearMotorStall,
                        "watchdog_reset" => Injection::WatchdogReset,
                        "corrupt_next_response" => Injection::CorruptNextResponse,
                        other => {
                            self.d.at(
                                v,
                                Diagnostic::new(v.loc(), format!("unknown injection `{other}`"))
                                    .expected(one_of(INJECTIONS.iter().copied()))
                                    .maybe_hint(did_you_mean(other, INJECTIONS.iter().copied())),
                            );
                            return None;
                        }
                    },
                    _ => {
                        let m = map(self.d, v, at, "`inject`", &["motor_stall"])?;
                        let n = required(self.d, &m, "motor_stall", "how long the motor stalls, e.g. `5 min`")?;
                        let d = duration(self.d, n, "`motor_stall`")?;
                        self.facts.timings.push(Timing { kind: TimingKind::Stall, duration: d, loc: n.loc() });
                        Injection::MotorStall { duration: Some(d) }
                    }
                };
                let cap = injection.capability();
                self.uses(cap, at, format!("`inject` needs the bench to {}", super::applicability::ability(cap)));
                let label = match injection {
                    Injection::MotorStall { duration: Some(d) } => {
                        format!("inject motor_stall for {}", units::format_duration(d))
                    }
                    Injection::MotorStall { duration: None } => "inject motor_stall".to_string(),
                    Injection::ClearMotorStall => "inject clear_motor_stall".to_string(),
                    Injection::WatchdogReset => "inject watchdog_reset".to_string(),
                    Injection::CorruptNextResponse => "inject corrupt_next_response".to_string(),
                };
                Some(action_step(Action::Inject(injection), label, None))
            }
            "wait" => {
                let v = value?;
                let w = duration(self.d, v, "`wait`")?;
                self.facts.timings.push(Timing { kind: TimingKind::Wait, duration: w, loc: v.loc() });
                Some((StepKind::Wait(w), format!("wait {}", text_of(Some(v)))))
            }
            "wait_until" => {
                let v = value?;
                let mut keys = CONDITION_KEYS.to_vec();
                keys.push("timeout");
                let m = map(self.d, v, at, "`wait_until`", &keys)?;
                let cond = self.condition(&m, at);
                let timeout_node = required(self.d, &m, "timeout", "the longest wait, e.g. `40 min`");
                let timeout = timeout_node.and_then(|n| duration(self.d, n, "`timeout`"));
                let (condition, text) = cond?;
                let timeout_node = timeout_node?;
                let timeout = timeout?;
                let flow = matches!(condition, Condition::FlowAbove(_) | Condition::FlowBelow(_));
                self.facts.timings.push(Timing {
                    kind: TimingKind::Timeout { flow },
                    duration: timeout,
                    loc: timeout_node.loc(),
                });
                Some((
                    StepKind::WaitUntil { condition, timeout },
                    format!("wait until {text} (timeout {})", text_of(Some(timeout_node))),
                ))
            }
            "mark" => {
                let v = value?;
                let name = name(self.d, v, "mark name")?;
                if RESERVED_MARKS.contains(&name.as_str()) {
                    self.d.at(
                        v,
                        Diagnostic::new(v.loc(), format!("`{name}` is a reserved name"))
                            .expected("a mark name other than `start` and `now`")
                            .hint("`start` is the start of the case and `now` the instant a check is made; they need no mark"),
                    );
                    return None;
                }
                self.facts.marks.push(MarkAt { name: name.clone(), loc: v.loc(), step: self.index });
                Some((StepKind::Mark(name.clone()), format!("mark {name}")))
            }
            "check" => {
                let v = value?;
                let check = self.check(v, at)?;
                let label = format!("check {}: {}", check.id, check.title);
                Some((StepKind::Check(check), label))
            }
            _ => None,
        }
    }

    /// `start: { expect: ... }` / `stop: ...`: a mapping with only `expect`.
    fn expect_only(&mut self, v: &Node, at: Loc, kind: &str, bolus: bool) -> Option<Option<Expect>> {
        let m = map(self.d, v, at, &format!("`{kind}`"), &["expect"])?;
        self.optional_expect(&m, bolus)
    }

    /// The mapping's `expect`, if any. `None` when it is there but wrong.
    fn optional_expect(&mut self, m: &MapView<'_>, bolus: bool) -> Option<Option<Expect>> {
        match (m.key("expect"), m.get("expect")) {
            (Some(k), Some(v)) => self.expect(v, k.loc(), bolus).map(Some),
            _ => Some(None),
        }
    }

    fn expect(&mut self, node: &Node, at: Loc, bolus: bool) -> Option<Expect> {
        let m = map(self.d, node, at, "`expect`", EXPECT_KEYS)?;
        let id = self.check_id(&m);
        let verifies = self.verifies(&m);
        let outcome = match m.present(&["accepted", "refused"]).as_slice() {
            ["accepted"] => {
                let n = m.get("accepted")?;
                if n.as_str() == Some("true") {
                    Some(ExpectedOutcome::Accepted)
                } else {
                    self.d.at(
                        n,
                        Diagnostic::new(n.loc(), format!("`accepted` takes `true`, not `{}`", text_of(Some(n))))
                            .expected("`accepted: true`, or `refused: <code>` / `refused: any`"),
                    );
                    None
                }
            }
            ["refused"] => self.refusal(m.get("refused")?, bolus),
            [] => {
                self.d.push(
                    Diagnostic::new(at, "`expect` needs `accepted` or `refused`")
                        .expected("`accepted: true` or `refused: <code>` (`any` for any refusal)"),
                );
                None
            }
            _ => {
                self.d.push(
                    Diagnostic::new(m.key("refused").map_or(at, |k| k.loc()), "`accepted` and `refused` both given")
                        .expected("one of `accepted`, `refused`"),
                );
                None
            }
        };
        Some(Expect { id: id?, outcome: outcome?, verifies })
    }

    fn refusal(&mut self, n: &Node, bolus: bool) -> Option<ExpectedOutcome> {
        let reasons: Vec<&str> = DenyReason::ALL.iter().map(|r| r.as_str()).collect();
        let codes: Vec<&str> = ErrCode::ALL.iter().map(|c| c.as_str()).collect();
        let (mine, other): (&[&str], &[&str]) = if bolus { (&reasons, &codes) } else { (&codes, &reasons) };
        let mut expected: Vec<&str> = mine.to_vec();
        expected.push("any");
        let text = scalar(self.d, n, "`refused`", &one_of(expected.iter().copied()))?;
        if text == "any" {
            return Some(ExpectedOutcome::Refused { code: None, reason: None });
        }
        if bolus {
            if let Ok(reason) = text.parse::<DenyReason>() {
                return Some(ExpectedOutcome::Refused { code: None, reason: Some(reason) });
            }
        } else if let Ok(code) = text.parse::<ErrCode>() {
            return Some(ExpectedOutcome::Refused { code: Some(code), reason: None });
        }
        let (message, hint) = if other.contains(&text) {
            if bolus {
                (
                    format!("`{text}` is an error code; a bolus request is refused with a reason"),
                    Some("a bolus is answered `granted=0 reason=R`: use a reason".to_string()),
                )
            } else {
                (
                    format!("`{text}` is a bolus refusal reason; this command is refused with an error code"),
                    Some("commands other than `bolus` are answered `ERR <code>`".to_string()),
                )
            }
        } else {
            let what = if bolus { "bolus refusal reason" } else { "error code" };
            (format!("unknown {what} `{text}`"), did_you_mean(text, expected.iter().copied()))
        };
        self.d.at(n, Diagnostic::new(n.loc(), message).expected(one_of(expected.iter().copied())).maybe_hint(hint));
        None
    }

    /// A check or expectation id (required), recorded for the uniqueness rule.
    fn check_id(&mut self, m: &MapView<'_>) -> Option<String> {
        let n = required(self.d, m, "id", "a short id, unique in the plan, e.g. `time-to-alarm`")?;
        let id = name(self.d, n, "check id")?;
        self.facts.ids.push((id.clone(), n.loc()));
        Some(id)
    }

    fn verifies(&mut self, m: &MapView<'_>) -> Vec<String> {
        let Some(n) = m.get("verifies") else { return Vec::new() };
        let ids = srs_ids(self.d, n, "verifies");
        self.facts.verifies.extend(ids.iter().cloned());
        ids.into_iter().map(|(id, _)| id).collect()
    }

    /// A request as written on the wire, without its seq (e.g. `STOP`, `PROGRAM basal_ul_h=20`).
    fn request(&mut self, n: &Node) -> Option<crate::protocol::Command> {
        let text = scalar(self.d, n, "`bad_crc`", "a request as on the wire, e.g. `STOP` or `PROGRAM basal_ul_h=20`")?;
        match Request::parse(&format!("1 {text}")) {
            Ok(r) => Some(r.command),
            Err((_, e)) => {
                self.d.at(
                    n,
                    Diagnostic::new(n.loc(), format!("`{text}` is not a valid request: {e}"))
                        .expected("a request as on the wire, without seq, e.g. `STOP` or `PROGRAM basal_ul_h=20`")
                        .hint("commands are upper case; arguments are `key=value` as in ICD.md"),
                );
                None
            }
        }
    }

    /// The one condition key of `m` (`alarm`, `cleared`, `state`, `flow_below`, `flow_above`).
    fn condition(&mut self, m: &MapView<'_>, at: Loc) -> Option<(Condition, String)> {
        let present = m.present(CONDITION_KEYS);
        let key = match present.as_slice() {
            [k] => *k,
            [] => {
                self.d.push(
                    Diagnostic::new(at, format!("{} needs a condition", m.owner_name))
                        .expected(one_of(CONDITION_KEYS.iter().copied())),
                );
                return None;
            }
            [_, second, ..] => {
                self.d.push(
                    Diagnostic::new(
                        m.key(second).map_or(at, |k| k.loc()),
                        format!("{} takes one condition", m.owner_name),
                    )
                    .expected(format!(
                        "one of {}",
                        present.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    )),
                );
                return None;
            }
        };
        let n = m.get(key)?;
        let key_loc = m.key(key).map_or(at, |k| k.loc());
        match key {
            "alarm" | "cleared" => {
                self.uses(Capability::Pump, key_loc, "alarms come from the pump");
                let code: AlarmCode = word(self.d, n, "alarm code", &alarm_codes())?;
                if key == "alarm" {
                    Some((Condition::Alarm(code), format!("alarm {code}")))
                } else {
                    Some((Condition::Cleared(code), format!("{code} cleared")))
                }
            }
            "state" => {
                self.uses(Capability::Pump, key_loc, "states come from the pump");
                let states: Vec<&str> = PumpState::ALL.iter().map(|s| s.as_str()).collect();
                let state: PumpState = word(self.d, n, "pump state", &states)?;
                Some((Condition::State(state), format!("state {state}")))
            }
            "boot" => {
                self.uses(Capability::Pump, key_loc, "BOOT events come from the pump");
                let reasons: Vec<&str> = BootReason::ALL.iter().map(|s| s.as_str()).collect();
                let reason: BootReason = word(self.d, n, "boot reason", &reasons)?;
                Some((Condition::Boot(reason), format!("BOOT {reason}")))
            }
            "denied" => {
                self.uses(Capability::Pump, key_loc, "DENIED events come from the pump");
                let mut reasons: Vec<&str> = DenyReason::ALL.iter().map(|r| r.as_str()).collect();
                reasons.push("any");
                if n.as_str() == Some("any") {
                    return Some((Condition::Denied(None), "DENIED (any reason)".to_string()));
                }
                let reason: DenyReason = word(self.d, n, "bolus refusal reason", &reasons)?;
                Some((Condition::Denied(Some(reason)), format!("DENIED {reason}")))
            }
            _ => {
                self.uses(Capability::FlowSensor, key_loc, format!("`{key}` reads the flow sensor"));
                let q = quantity(self.d, n, &format!("`{key}`"), Dimension::Flow)?;
                let text = text_of(Some(n));
                if key == "flow_below" {
                    Some((Condition::FlowBelow(q), format!("flow below {text}")))
                } else {
                    Some((Condition::FlowAbove(q), format!("flow above {text}")))
                }
            }
        }
    }

    fn endpoint(&mut self, n: &Node, is_from: bool) -> Option<Endpoint> {
        let text = name(self.d, n, "mark name")?;
        match text.as_str() {
            "start" if is_from => Some(Endpoint::Start),
            "now" if !is_from => Some(Endpoint::Now),
            "start" | "now" => {
                let (key, other) = if is_from { ("from", "to") } else { ("to", "from") };
                self.d.at(
                    n,
                    Diagnostic::new(n.loc(), format!("`{key}: {text}` makes an empty interval"))
                        .expected(format!("`{key}`: {}", if is_from { "`start` or a mark" } else { "`now` or a mark" }))
                        .hint(format!("`{text}` belongs in `{other}`")),
                );
                None
            }
            _ => {
                self.facts.mark_refs.push(MarkAt { name: text.clone(), loc: n.loc(), step: self.index });
                Some(Endpoint::Mark(text))
            }
        }
    }

    /// `{ from, to }` of a measure (`to` defaults to `now`).
    fn interval(&mut self, m: &MapView<'_>) -> Option<Interval> {
        let from = required(self.d, m, "from", "`start` or a mark").and_then(|n| self.endpoint(n, true));
        let to = match m.get("to") {
            Some(n) => self.endpoint(n, false),
            None => Some(Endpoint::Now),
        };
        let (from, to) = (from?, to?);
        if let (Endpoint::Mark(a), Endpoint::Mark(b)) = (&from, &to)
            && a == b
        {
            let n = m.get("to")?;
            self.d.at(
                n,
                Diagnostic::new(n.loc(), format!("`from` and `to` are both `{a}`: an empty interval"))
                    .expected("two different instants"),
            );
            return None;
        }
        Some(Interval { from, to })
    }

    /// A STATUS field: `field: delivered_ul`.
    fn pump_field(&mut self, m: &MapView<'_>) -> Option<PumpField> {
        let n = required(self.d, m, "field", &one_of(PUMP_FIELDS.iter().copied()))?;
        let text = scalar(self.d, n, "`field`", &one_of(PUMP_FIELDS.iter().copied()))?;
        Some(match text {
            "reservoir_ul" => PumpField::ReservoirUl,
            "delivered_ul" => PumpField::DeliveredUl,
            "pressure_kpa" => PumpField::PressureKpa,
            "basal_ul_h" => PumpField::BasalUlH,
            other => {
                self.d.at(
                    n,
                    Diagnostic::new(n.loc(), format!("unknown STATUS field `{other}`"))
                        .expected(one_of(PUMP_FIELDS.iter().copied()))
                        .maybe_hint(did_you_mean(other, PUMP_FIELDS.iter().copied())),
                );
                return None;
            }
        })
    }

    /// The programmed rate an accuracy measure compares with: `rate: 100 uL/h`.
    fn rate(&mut self, m: &MapView<'_>, _at: Loc) -> Option<f64> {
        let n = required(self.d, m, "rate", "the programmed rate to compare with, e.g. `100 uL/h`")?;
        let q = quantity(self.d, n, "`rate`", Dimension::Flow)?;
        if q <= 0.0 {
            self.d
                .at(n, Diagnostic::new(n.loc(), "`rate` must be above zero").expected("a flow rate, e.g. `100 uL/h`"));
            return None;
        }
        Some(q)
    }

    fn check(&mut self, node: &Node, at: Loc) -> Option<Check> {
        let mut keys = vec!["id", "title", "verifies"];
        keys.extend_from_slice(MEASURE_KEYS);
        keys.extend_from_slice(LIMIT_KEYS);
        let m = map(self.d, node, at, "`check`", &keys)?;
        let id = self.check_id(&m);
        let verifies = self.verifies(&m);
        let title = m.get("title").and_then(|n| scalar(self.d, n, "`title`", "a one-line title")).map(str::to_string);
        let measure = match m.present(MEASURE_KEYS).as_slice() {
            [k] => {
                let key = m.key(k)?;
                self.measure(k, m.get(k)?, key.loc())
            }
            [] => {
                self.d.push(
                    Diagnostic::new(at, "`check` needs something to measure")
                        .expected(one_of(MEASURE_KEYS.iter().copied())),
                );
                None
            }
            [_, second, ..] => {
                self.d.push(
                    Diagnostic::new(m.key(second).map_or(at, |k| k.loc()), "a check measures one thing")
                        .expected(one_of(MEASURE_KEYS.iter().copied()))
                        .hint("write one check per measure"),
                );
                None
            }
        };
        let limits = self.limits(&m, at, measure.as_ref());
        let measure = measure?;
        let limits = limits?;
        let title = title.unwrap_or_else(|| format!("{} {}", describe_measure(&measure), describe_limits(&m)));
        Some(Check { id: id?, title, measure, limits, verifies })
    }

    fn measure(&mut self, key: &str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
        let flow = |s: &mut Self| s.uses(Capability::FlowSensor, at, format!("`{key}` reads the flow sensor"));
        match key {
            "time_to" => {
                let mut keys = CONDITION_KEYS.to_vec();
                keys.push("from");
                let m = map(self.d, v, at, &what, &keys)?;
                let cond = self.condition(&m, at);
                let from = required(self.d, &m, "from", "the mark to time from").and_then(|n| {
                    let e = self.endpoint(n, true)?;
                    match e {
                        Endpoint::Mark(name) => Some(name),
                        _ => {
                            self.d.at(
                                n,
                                Diagnostic::new(n.loc(), "`time_to` is timed from a mark")
                                    .expected("the name of a `mark:` step")
                                    .hint("add `- mark: <name>` where the timing starts"),
                            );
                            None
                        }
                    }
                });
                Some(Measure::TimeTo { from: from?, condition: cond?.0 })
            }
            "volume" | "flow_mean" | "bolus_spacing_min" => {
                if key != "bolus_spacing_min" {
                    flow(self);
                } else {
                    self.uses(Capability::Pump, at, "bolus events come from the pump");
                }
                let m = map(self.d, v, at, &what, &["from", "to"])?;
                let i = self.interval(&m)?;
                Some(match key {
                    "volume" => Measure::Volume(i),
                    "flow_mean" => Measure::FlowMean(i),
                    _ => Measure::BolusSpacingMin(i),
                })
            }
            "max_window_volume" | "min_window_volume" | "trumpet" => {
                flow(self);
                let keys: &[&str] =
                    if key == "trumpet" { &["window", "rate", "from", "to"] } else { &["window", "from", "to"] };
                let m = map(self.d, v, at, &what, keys)?;
                let window = required(self.d, &m, "window", "the window's length, e.g. `24 h`").and_then(|n| {
                    let w = duration(self.d, n, "`window`")?;
                    let half_minutes = w.as_secs_f64() / 30.0;
                    if key == "trumpet" && (half_minutes.fract() != 0.0 || half_minutes < 1.0) {
                        self.d.at(
                            n,
                            Diagnostic::new(
                                n.loc(),
                                format!(
                                    "a trumpet window of {} is not a whole number of half minutes",
                                    text_of(Some(n))
                                ),
                            )
                            .expected("a duration in whole half minutes (the method's sample period S = 0.5 min)")
                            .hint("the standard's windows are `2 min`, `5 min`, `11 min`, `19 min` and `31 min`"),
                        );
                        return None;
                    }
                    self.facts.timings.push(Timing { kind: TimingKind::Window, duration: w, loc: n.loc() });
                    Some(w)
                });
                let rate = if key == "trumpet" { self.rate(&m, at).map(Some) } else { Some(None) };
                let i = self.interval(&m);
                let (window, interval) = (window?, i?);
                Some(match (key, rate?) {
                    ("max_window_volume", _) => Measure::MaxWindowVolume { window, interval },
                    ("min_window_volume", _) => Measure::MinWindowVolume { window, interval },
                    (_, Some(rate)) => Measure::Trumpet { window, rate, interval },
                    _ => return None,
                })
            }
            "flow_error" => {
                flow(self);
                let m = map(self.d, v, at, &what, &["rate", "from", "to"])?;
                let rate = self.rate(&m, at);
                let i = self.interval(&m);
                Some(Measure::FlowError { rate: rate?, interval: i? })
            }
            "flow_stop_to" => {
                flow(self);
                let mut keys = CONDITION_KEYS.to_vec();
                keys.push("after");
                let m = map(self.d, v, at, &what, &keys)?;
                let cond = self.condition(&m, at);
                let after =
                    required(self.d, &m, "after", "the mark after which delivery stops").and_then(|n| {
                        match self.endpoint(n, true)? {
                            Endpoint::Mark(name) => Some(name),
                            _ => {
                                self.d.at(
                                    n,
                                    Diagnostic::new(n.loc(), "`flow_stop_to` looks for the stop after a mark")
                                        .expected("the name of a `mark:` step set while the flow still runs")
                                        .hint("add `- mark: <name>` before the cause of the stop"),
                                );
                                None
                            }
                        }
                    });
                Some(Measure::FlowStopTo { after: after?, condition: cond?.0 })
            }
            "pump_change" => {
                self.uses(Capability::Pump, at, "`pump_change` reads the pump's STATUS");
                let m = map(self.d, v, at, &what, &["field", "from", "to"])?;
                let field = self.pump_field(&m);
                let i = self.interval(&m);
                Some(Measure::PumpChange { field: field?, interval: i? })
            }
            "evseq_gaps" => {
                self.uses(Capability::Pump, at, "events come from the pump");
                let m = map(self.d, v, at, &what, &["from", "to"])?;
                let i = self.interval(&m)?;
                Some(Measure::EvseqGaps(i))
            }
            "boluses" => {
                self.uses(Capability::Pump, at, "bolus answers come from the pump");
                let m = map(self.d, v, at, &what, &["granted", "denied", "from", "to"])?;
                let which = match m.present(&["granted", "denied"]).as_slice() {
                    ["granted"] => {
                        let n = m.get("granted")?;
                        if n.as_str() == Some("true") {
                            Some((true, None))
                        } else {
                            self.d.at(
                                n,
                                Diagnostic::new(n.loc(), format!("`granted` takes `true`, not `{}`", text_of(Some(n))))
                                    .expected("`granted: true`, or `denied: <reason>` / `denied: any`"),
                            );
                            None
                        }
                    }
                    ["denied"] => {
                        let n = m.get("denied")?;
                        let mut reasons: Vec<&str> = DenyReason::ALL.iter().map(|r| r.as_str()).collect();
                        reasons.push("any");
                        if n.as_str() == Some("any") {
                            Some((false, None))
                        } else {
                            word::<DenyReason>(self.d, n, "bolus refusal reason", &reasons).map(|r| (false, Some(r)))
                        }
                    }
                    [] => {
                        self.d.push(
                            Diagnostic::new(at, "`boluses` needs `granted` or `denied`")
                                .expected("`granted: true` or `denied: <reason>` (`any` for every refusal)"),
                        );
                        None
                    }
                    _ => {
                        self.d.push(
                            Diagnostic::new(
                                m.key("denied").map_or(at, |k| k.loc()),
                                "`granted` and `denied` both given",
                            )
                            .expected("one of `granted`, `denied`")
                            .hint("count them in two checks"),
                        );
                        None
                    }
                };
                let i = self.interval(&m);
                let (granted, reason) = which?;
                Some(Measure::Boluses { granted, reason, interval: i? })
            }
            "pump_status" => {
                self.uses(Capability::Pump, at, "`pump_status` reads the pump's STATUS");
                let m = map(self.d, v, at, &what, &["field", "at"])?;
                let field = self.pump_field(&m);
                let at_mark = match m.get("at") {
                    None => Some(None),
                    Some(n) => match self.endpoint(n, false)? {
                        Endpoint::Now => Some(None),
                        Endpoint::Mark(name) => Some(Some(name)),
                        Endpoint::Start => None,
                    },
                };
                Some(Measure::PumpValue { field: field?, at: at_mark? })
            }
            "occurrences" => {
                let mut keys = CONDITION_KEYS.to_vec();
                keys.extend(["from", "to"]);
                let m = map(self.d, v, at, &what, &keys)?;
                let cond = self.condition(&m, at);
                let i = self.interval(&m);
                Some(Measure::Occurrences { condition: cond?.0, interval: i? })
            }
            _ => None,
        }
    }

    /// `min`, `max`, `nominal` ± `tolerance`, in the measure's dimension. With the measure
    /// unknown (it had errors), only the presence rules are checked.
    fn limits(&mut self, m: &MapView<'_>, at: Loc, measure: Option<&Measure>) -> Option<Limits> {
        let present = m.present(LIMIT_KEYS);
        if !present.iter().any(|k| matches!(*k, "min" | "max" | "nominal")) {
            let example = measure
                .map_or("`max: <value>`".to_string(), |m| format!("`max: {}`", Dimension::of_unit(m.unit()).example()));
            self.d.push(
                Diagnostic::new(at, "`check` has no limit")
                    .expected("`min`, `max`, or `nominal` with `tolerance` (in the measure's unit)")
                    .hint(format!("a check without a limit judges nothing; add e.g. {example}")),
            );
            return None;
        }
        if m.has("nominal") != m.has("tolerance") {
            let (has, lacks) = if m.has("nominal") { ("nominal", "tolerance") } else { ("tolerance", "nominal") };
            self.d
                .push(Diagnostic::new(m.key(has).map_or(at, |k| k.loc()), format!("`{has}` needs `{lacks}`")).expected(
                "`nominal: <value>` with `tolerance: <percent or value>`, e.g. `nominal: 500 uL/h, tolerance: 10 %`",
            ));
            return None;
        }
        let measure = measure?;
        let dim = Dimension::of_unit(measure.unit());
        let measure_name = MEASURE_KEYS.iter().find(|k| m.has(k)).copied().unwrap_or("the measure");
        let value = |s: &mut Self, key: &str| -> Option<Option<f64>> {
            let Some(n) = m.get(key) else { return Some(None) };
            let text = scalar(s.d, n, &format!("`{key}`"), &dim.how())?;
            if dim != Dimension::Count
                && let Some(other) = units::dimension_of(text).filter(|o| *o != dim && *o != Dimension::Percent)
            {
                s.d.at(
                    n,
                    Diagnostic::new(
                        n.loc(),
                        format!("`{key}: {text}` is {}, but `{measure_name}` measures {}", other.name(), dim.name()),
                    )
                    .expected(dim.how())
                    .hint(format!("a limit is in the measure's unit ({})", unit_words(dim))),
                );
                return None;
            }
            match units::parse(text, dim) {
                Ok(v) => Some(Some(v)),
                Err(e) => {
                    s.d.quantity(n, e);
                    None
                }
            }
        };
        let min = value(self, "min");
        let max = value(self, "max");
        let nominal = value(self, "nominal");
        let drift = value(self, "drift");
        let tolerance = match m.get("tolerance") {
            None => Some(None),
            Some(n) => {
                let text = scalar(self.d, n, "`tolerance`", "a percentage or a value in the measure's unit")?;
                if let Some(other) = units::dimension_of(text)
                    .filter(|o| *o != dim && *o != Dimension::Percent && dim != Dimension::Count)
                {
                    self.d.at(
                        n,
                        Diagnostic::new(
                            n.loc(),
                            format!(
                                "`tolerance: {text}` is {}, but `{measure_name}` measures {}",
                                other.name(),
                                dim.name()
                            ),
                        )
                        .expected(format!("a percentage (e.g. `10 %`) or {}", dim.how()))
                        .hint(format!("a tolerance is a percentage or in the measure's unit ({})", unit_words(dim))),
                    );
                    return None;
                }
                if text.ends_with('%') {
                    units::parse(text, Dimension::Percent)
                        .map(|p| Some(Tolerance::Percent(p)))
                        .map_err(|e| self.d.quantity(n, e))
                        .ok()
                } else {
                    match units::parse(text, dim) {
                        Ok(v) => Some(Some(Tolerance::Absolute(v))),
                        Err(mut e) => {
                            e.expected = format!("a percentage (e.g. `10 %`) or {}", dim.how());
                            self.d.quantity(n, e);
                            None
                        }
                    }
                }
            }
        };
        let (min, max, nominal, tolerance, drift) = (min?, max?, nominal?, tolerance?, drift?);
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            let n = m.get("max")?;
            self.d.at(
                n,
                Diagnostic::new(
                    n.loc(),
                    format!("`max` ({}) is below `min` ({})", text_of(Some(n)), text_of(m.get("min"))),
                )
                .expected("`min` ≤ `max`"),
            );
            return None;
        }
        Some(Limits { min, max, nominal: nominal.zip(tolerance), drift })
    }
}

fn action_step(action: Action, label: String, expect: Option<Expect>) -> (StepKind, String) {
    let label = match &expect {
        Some(e) => format!("{label} (expect {})", outcome_text(&e.outcome)),
        None => label,
    };
    (StepKind::Action { action, expect }, label)
}

fn outcome_text(o: &ExpectedOutcome) -> String {
    match o {
        ExpectedOutcome::Accepted => "accepted".to_string(),
        ExpectedOutcome::Refused { code: Some(c), .. } => format!("refused {c}"),
        ExpectedOutcome::Refused { reason: Some(r), .. } => format!("refused {r}"),
        ExpectedOutcome::Refused { .. } => "refused".to_string(),
    }
}

fn text_of(n: Option<&Node>) -> String {
    n.and_then(Node::as_str).unwrap_or("?").to_string()
}

fn unit_words(dim: Dimension) -> String {
    match dim {
        Dimension::Duration => "a duration".to_string(),
        Dimension::Count => "a bare count".to_string(),
        other => format!("{}, canonical unit {}", other.name(), other.canonical_symbol()),
    }
}

fn example_step(kind: &str) -> &'static str {
    match kind {
        "fill" => "fill: 20 mL",
        "program" => "program: 500 uL/h",
        "limit" => "limit: 1200 uL",
        "alarm_config" => "alarm_config: { low_reservoir: 2 mL, occlusion: 200 kPa }",
        "bolus_config" => "bolus_config: { dose: 50 uL, lockout: 1 h, max_per_24h: 4 }",
        "ack" => "ack: OCCLUSION",
        "valve" => "valve: close",
        "prompt" => "prompt: \"Empty the collecting vessel, then press Enter\"",
        "probe" => "probe: { bad_crc: STOP }",
        "inject" => "inject: motor_stall",
        "wait" => "wait: 30 min",
        "wait_until" => "wait_until: { alarm: OCCLUSION, timeout: 40 min }",
        "mark" => "mark: occluded",
        "check" => "check: { id: released, volume: { from: released }, max: 150 uL }",
        _ => "start",
    }
}

fn describe_endpoint(e: &Endpoint) -> String {
    match e {
        Endpoint::Start => "start".to_string(),
        Endpoint::Now => "now".to_string(),
        Endpoint::Mark(m) => format!("`{m}`"),
    }
}

fn describe_interval(i: &Interval) -> String {
    format!("from {} to {}", describe_endpoint(&i.from), describe_endpoint(&i.to))
}

pub fn describe_condition(c: &Condition) -> String {
    match c {
        Condition::Alarm(a) => format!("alarm {a}"),
        Condition::Cleared(a) => format!("{a} cleared"),
        Condition::State(s) => format!("state {s}"),
        Condition::FlowBelow(q) => format!("flow below {}", units::format_value(*q, Dimension::Flow)),
        Condition::FlowAbove(q) => format!("flow above {}", units::format_value(*q, Dimension::Flow)),
        Condition::Boot(r) => format!("BOOT {r}"),
        Condition::Denied(Some(r)) => format!("DENIED {r}"),
        Condition::Denied(None) => "DENIED (any reason)".to_string(),
    }
}

/// A measure in words, for a check's default title.
pub fn describe_measure(m: &Measure) -> String {
    match m {
        Measure::TimeTo { from, condition } => format!("time from `{from}` to {}", describe_condition(condition)),
        Measure::Volume(i) => format!("volume {}", describe_interval(i)),
        Measure::FlowMean(i) => format!("mean flow {}", describe_interval(i)),
        Measure::Boluses { granted: true, interval, .. } => format!("granted boluses {}", describe_interval(interval)),
        Measure::Boluses { granted: false, reason: Some(r), interval } => {
            format!("boluses denied {r} {}", describe_interval(interval))
        }
        Measure::Boluses { granted: false, reason: None, interval } => {
            format!("denied boluses {}", describe_interval(interval))
        }
        Measure::BolusSpacingMin(i) => format!("shortest spacing of granted boluses {}", describe_interval(i)),
        Measure::MaxWindowVolume { window, interval } => {
            format!("largest volume in any {} window {}", units::format_duration(*window), describe_interval(interval))
        }
        Measure::PumpValue { field, at: Some(mark) } => format!("pump {} at `{mark}`", field_name(*field)),
        Measure::PumpValue { field, at: None } => format!("pump {} now", field_name(*field)),
        Measure::Occurrences { condition, interval } => {
            format!("occurrences of {} {}", describe_condition(condition), describe_interval(interval))
        }
        Measure::MinWindowVolume { window, interval } => {
            format!("smallest volume in any {} window {}", units::format_duration(*window), describe_interval(interval))
        }
        Measure::Trumpet { window, rate, interval } => format!(
            "largest flow error against {} in any {} window {}",
            units::format_value(*rate, Dimension::Flow),
            units::format_duration(*window),
            describe_interval(interval)
        ),
        Measure::FlowError { rate, interval } => {
            format!(
                "mean flow error against {} {}",
                units::format_value(*rate, Dimension::Flow),
                describe_interval(interval)
            )
        }
        Measure::FlowStopTo { after, condition } => {
            format!("time from the flow stopping after `{after}` to {}", describe_condition(condition))
        }
        Measure::PumpChange { field, interval } => {
            format!("change of pump {} {}", field_name(*field), describe_interval(interval))
        }
        Measure::EvseqGaps(i) => format!("gaps in evseq {}", describe_interval(i)),
    }
}

fn field_name(f: PumpField) -> &'static str {
    match f {
        PumpField::ReservoirUl => "reservoir_ul",
        PumpField::DeliveredUl => "delivered_ul",
        PumpField::PressureKpa => "pressure_kpa",
        PumpField::BasalUlH => "basal_ul_h",
    }
}

/// The limits as written: `≤ 20 min`, `≥ 3`, `between 1 and 3`, `500 uL/h ± 10 %`.
fn describe_limits(m: &MapView<'_>) -> String {
    let t = |k: &str| m.get(k).and_then(Node::as_str).map(str::to_string);
    let mut parts = Vec::new();
    match (t("min"), t("max")) {
        (Some(lo), Some(hi)) => parts.push(format!("between {lo} and {hi}")),
        (Some(lo), None) => parts.push(format!("≥ {lo}")),
        (None, Some(hi)) => parts.push(format!("≤ {hi}")),
        (None, None) => {}
    }
    if let (Some(n), Some(tol)) = (t("nominal"), t("tolerance")) {
        parts.push(format!("{n} ± {tol}"));
    }
    parts.join(", ")
}
