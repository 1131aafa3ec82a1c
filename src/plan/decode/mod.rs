//! From the located YAML tree of one case to a [`Plan`]: every key known, every value of the
//! right kind and unit. Errors accumulate (a plan with five mistakes shows five diagnostics);
//! what needs the whole plan (marks in order, ids, capabilities, timing) is gathered as
//! [`Facts`] for [`super::validate`].
//!
//! By concept: [`read`] (the primitives: a mapping, a scalar, a quantity, a name), this file
//! (the plan's top-level keys), [`kinds`] (the table of step kinds and measures), `steps`
//! (actions, waits, marks), `expect` (what the pump must answer), `conditions` (conditions and
//! intervals), `checks` (measures and limits) and `describe` (labels and default titles).

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use super::ast::*;
use super::diag::{Diagnostic, Loc, closest, did_you_mean, one_of};
use super::requirements;
use super::units::{self, Dimension, QuantityError};
use super::yaml::{Node, NodeKind};
use crate::protocol::{AlarmCode, BootReason, DenyReason, ErrCode, PumpState, Request};

mod checks;
mod conditions;
mod describe;
mod expect;
pub mod inject;
pub mod kinds;
pub mod read;
mod steps;

pub use describe::{describe_condition, describe_measure};
pub use read::{Diags, MapView, duration, map, name, quantity, required, scalar, word};
use read::{alarm_codes, count, srs_ids, text_of, unit_words};
use steps::StepCtx;

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

pub const CONDITION_KEYS: &[&str] = &["alarm", "cleared", "state", "boot", "denied", "flow_below", "flow_above"];
pub const LIMIT_KEYS: &[&str] = &["min", "max", "nominal", "tolerance", "drift"];
pub const EXPECT_KEYS: &[&str] = &["id", "accepted", "refused", "verifies"];
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
    /// How long a link silence or a sensor fault lasts.
    Injected,
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
    // Missing keys are reported together above: from here on, only what is present is read.
    let top = MapView { owner: first_key, owner_name: "the plan".to_string(), allowed: Vec::new(), ..top };

    let id = top.get("id").and_then(|n| name(d, n, "plan id").map(|id| (id, n.loc())));
    facts.id = id.clone();
    let title = top.get("title").and_then(|n| scalar(d, n, "`title`", "a one-line title")).map(str::to_string);
    let version = top.get("version").and_then(|n| {
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
    let covers = top.get("covers").map(|n| srs_ids(d, n, "covers")).unwrap_or_default();
    facts.covers = covers.clone();

    if let Some(k) = top.key("requires") {
        facts.requires_loc = k.loc();
        facts.requires_given = true;
    }
    let caps: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
    let mut requires = BTreeSet::new();
    if let Some(n) = top.get("requires") {
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
