//! Steps: the `setup:` and `steps:` lists, each item decoded by its kind's entry in
//! [`super::kinds::STEP_KINDS`].

use super::kinds::{self, StepKindDef};
use super::*;
use crate::plan::settings::{self, SettingRange};

/// Decodes steps, recording into `facts` what validation needs.
pub(super) struct StepCtx<'a> {
    pub(super) d: &'a mut Diags,
    pub(super) facts: &'a mut Facts,
    /// Index of the step being decoded (setup steps first).
    pub(super) index: usize,
}

/// What a decoded step gives: its kind and label.
pub(super) type StepOut = Option<(StepKind, String)>;

impl StepCtx<'_> {
    pub(super) fn step_list(&mut self, node: &Node, section: &str, setup: bool) -> Vec<Step> {
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

    pub(super) fn uses(&mut self, cap: Capability, loc: Loc, what: impl Into<String>) {
        self.facts.uses.push((cap, loc, what.into()));
    }

    pub(super) fn step(&mut self, item: &Node, section: &str, setup: bool) -> Option<Step> {
        let allowed: Vec<&str> = kinds::names(setup).collect();
        let entries = match &item.kind {
            NodeKind::Map(entries) => entries.as_slice(),
            _ => &[],
        };
        let (key, value): (&Node, Option<&Node>) = match (&item.kind, entries) {
            (NodeKind::Scalar(_), _) => (item, None),
            (NodeKind::Map(_), [(key, value)]) => (key, Some(value)),
            (NodeKind::Map(_), [(first_key, _), _, ..]) => {
                let names: Vec<&str> = entries.iter().filter_map(|(k, _)| k.as_str()).collect();
                let hint = match names.split_first() {
                    Some((first, rest)) if allowed.contains(first) => {
                        let rest: Vec<String> = rest.iter().map(|n| format!("`{n}`")).collect();
                        let (verb, it) = if rest.len() == 1 { ("belongs", "it") } else { ("belong", "them") };
                        format!("if {} {verb} to `{first}`, indent {it} under `{first}:`", rest.join(", "))
                    }
                    _ => "start each step with its own `- `".to_string(),
                };
                self.d.push(
                    Diagnostic::new(first_key.loc(), format!("a step has one kind, this one has {}", names.len()))
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
        let def = kinds::step_kind(kind).filter(|k| k.in_setup || !setup);
        let Some(def) = def else {
            let (message, hint) = if setup && kinds::step_kind(kind).is_some() {
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
        };
        // `- start` and `- start:` are the same; other kinds need their value.
        let value = value.filter(|v| v.kind != NodeKind::Null);
        if value.is_none() && !def.bare {
            self.d.push(
                Diagnostic::new(key.loc(), format!("`{kind}` needs a value"))
                    .expected(format!("e.g. `- {}`", def.example)),
            );
            return None;
        }
        let (kind, label) = self.decode_kind(def, key.loc(), value)?;
        Some(Step { pos: item.pos, label, kind })
    }
    pub(super) fn decode_kind(&mut self, def: &'static StepKindDef, at: Loc, value: Option<&Node>) -> StepOut {
        (def.decode)(self, def.name, at, value)
    }

    /// `m`'s `key`, decoded as `value`: checked against the ICD's range as [`Self::setting`].
    fn setting_at(
        &mut self,
        m: &MapView<'_>,
        key: &str,
        value: f64,
        range: &SettingRange,
        refused: bool,
    ) -> Option<f64> {
        let n = m.get(key)?;
        self.setting(n, value, range, refused)
    }

    /// A setting's value as the pump will be sent it: inside the ICD's range unless the step
    /// expects the pump to refuse it (how plans test the range), and with no more decimals
    /// than the wire carries (else the pump would be sent, and the record would say, another
    /// value than the plan's).
    fn setting(&mut self, n: &Node, value: f64, range: &SettingRange, refused: bool) -> Option<f64> {
        let text = n.as_str().unwrap_or_default();
        let wire = format!("{} {}", range.command, range.key);
        let unit = range.dimension.canonical_symbol();
        // The value in the ICD's unit, when the plan wrote another.
        let canonical = |v: String| {
            let v = if unit.is_empty() { v } else { format!("{v} {unit}") };
            if v == text { String::new() } else { format!(" ({v})") }
        };
        if range.dimension != Dimension::Count
            && range.dimension != Dimension::Duration
            && units::decimals_beyond(text, settings::WIRE_DECIMALS)
        {
            self.d.at(
                n,
                Diagnostic::new(
                    n.loc(),
                    format!(
                        "`{text}`{} has more decimals than `{wire}` carries on the wire",
                        canonical(value.to_string())
                    ),
                )
                .expected(format!("a value to 0.001 {unit} (the ICD's values have at most 3 decimals)"))
                .hint("the pump would be sent a rounded value, and the record would not be what the plan says"),
            );
            return None;
        }
        if !refused && !range.contains(value) {
            self.d.at(
                n,
                Diagnostic::new(
                    n.loc(),
                    format!(
                        "`{text}`{} is outside the pump's range for `{wire}`",
                        canonical(format!("{value:.3}").trim_end_matches('0').trim_end_matches('.').to_string())
                    ),
                )
                .expected(format!("{} (ICD.md, {})", range.describe(), range.command))
                .hint("the pump answers ERR RANGE; to test that it does, add `expect: { refused: RANGE, id: ... }`"),
            );
            return None;
        }
        Some(value)
    }

    /// Records that `kind` talks to the pump.
    pub(super) fn pump(&mut self, kind: &str, at: Loc) {
        self.uses(Capability::Pump, at, format!("`{kind}` talks to the pump"));
    }

    pub(super) fn start_stop(&mut self, kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        self.pump(kind, at);
        let expect = match value {
            Some(v) => self.expect_only(v, at, kind, false)?,
            None => None,
        };
        let action = if kind == "start" { Action::Start } else { Action::Stop };
        Some(action_step(action, kind.to_string(), expect))
    }

    pub(super) fn quantity_action(&mut self, kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        self.pump(kind, at);
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
        let range = match kind {
            "fill" => settings::FILL_VOLUME,
            "program" => settings::PROGRAM_BASAL,
            _ => settings::LIMIT_MAX_24H,
        };
        let expect = expect?;
        self.setting(qnode, q, &range, expects_refusal(&expect))?;
        let action = match kind {
            "fill" => Action::Fill { volume_ul: q },
            "program" => Action::Program { basal_ul_h: q },
            _ => Action::Limit { max_24h_ul: q },
        };
        Some(action_step(action, format!("{kind} {text}"), expect))
    }

    pub(super) fn alarm_config(&mut self, kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        self.pump(kind, at);
        let m = map(self.d, value?, at, "`alarm_config`", &["low_reservoir", "occlusion", "expect"])?;
        let low = required(self.d, &m, "low_reservoir", &Dimension::Volume.how())
            .and_then(|n| quantity(self.d, n, "`low_reservoir`", Dimension::Volume));
        let occ = required(self.d, &m, "occlusion", &Dimension::Pressure.how())
            .and_then(|n| quantity(self.d, n, "`occlusion`", Dimension::Pressure));
        let expect = self.optional_expect(&m, false)?;
        let refused = expects_refusal(&expect);
        let low = low.and_then(|v| self.setting_at(&m, "low_reservoir", v, &settings::ALARM_LOW_RESERVOIR, refused));
        let occ = occ.and_then(|v| self.setting_at(&m, "occlusion", v, &settings::ALARM_OCCLUSION, refused));
        let label = format!(
            "alarm_config low_reservoir {}, occlusion {}",
            text_of(m.get("low_reservoir")),
            text_of(m.get("occlusion"))
        );
        Some(action_step(Action::AlarmConfig { low_reservoir_ul: low?, occlusion_kpa: occ? }, label, expect))
    }

    pub(super) fn bolus_config(&mut self, kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        self.pump(kind, at);
        let m = map(self.d, value?, at, "`bolus_config`", &["dose", "lockout", "max_per_24h", "expect"])?;
        let dose = required(self.d, &m, "dose", &Dimension::Volume.how())
            .and_then(|n| quantity(self.d, n, "`dose`", Dimension::Volume));
        let lockout = required(self.d, &m, "lockout", &Dimension::Duration.how()).and_then(|n| {
            let l = duration(self.d, n, "`lockout`")?;
            if l.subsec_nanos() != 0 {
                self.d.at(
                    n,
                    Diagnostic::new(
                        n.loc(),
                        format!("`lockout` must be whole seconds, not {}", units::format_duration(l)),
                    )
                    .expected("a whole number of seconds (BOLUS_CONFIG lockout_s)"),
                );
                return None;
            }
            Some(l)
        });
        let max = required(self.d, &m, "max_per_24h", &Dimension::Count.how())
            .and_then(|n| count(self.d, n, "`max_per_24h`"));
        let expect = self.optional_expect(&m, false)?;
        let refused = expects_refusal(&expect);
        let dose = dose.and_then(|v| self.setting_at(&m, "dose", v, &settings::BOLUS_DOSE, refused));
        let lockout = lockout.and_then(|l| {
            self.setting_at(&m, "lockout", l.as_secs_f64(), &settings::BOLUS_LOCKOUT, refused).map(|_| l)
        });
        let max = max
            .and_then(|c| self.setting_at(&m, "max_per_24h", f64::from(c), &settings::BOLUS_MAX, refused).map(|_| c));
        let label = format!(
            "bolus_config dose {}, lockout {}, max {} per 24 h",
            text_of(m.get("dose")),
            text_of(m.get("lockout")),
            text_of(m.get("max_per_24h"))
        );
        Some(action_step(Action::BolusConfig { dose_ul: dose?, lockout: lockout?, max_per_24h: max? }, label, expect))
    }

    pub(super) fn bolus(&mut self, kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        self.pump(kind, at);
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
                Some(e) => format!("bolus (expect {})", expect::outcome_text(&e.outcome)),
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
                if c > MAX_REPEATED_REQUESTS {
                    self.d.at(n, too_many_requests(n, u64::from(c)));
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
                let c = span.as_nanos() / every.as_nanos();
                if c < 1 {
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
                let c = match u32::try_from(c) {
                    Ok(c) if c <= MAX_REPEATED_REQUESTS => c,
                    _ => {
                        self.d.at(n, too_many_requests(n, u64::try_from(c).unwrap_or(u64::MAX)));
                        return None;
                    }
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
                Diagnostic::new(every_node.loc(), "`every: 0` repeats without pause").expected("a duration above 0"),
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

    pub(super) fn ack(&mut self, kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        self.pump(kind, at);
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
            Some(e) => format!("ack {alarm} (expect {})", expect::outcome_text(&e.outcome)),
            None => format!("ack {alarm}"),
        };
        Some((StepKind::Action { action: Action::Ack { alarm }, expect }, label))
    }

    pub(super) fn valve(&mut self, _kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
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

    pub(super) fn prompt(&mut self, _kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        let v = value?;
        self.uses(Capability::Operator, at, "`prompt` needs someone at the bench");
        let text = scalar(self.d, v, "`prompt`", "the instruction to the operator, in quotes")?;
        if text.trim().is_empty() {
            self.d.at(v, Diagnostic::new(v.loc(), "`prompt` is empty").expected("the instruction to the operator"));
            return None;
        }
        Some(action_step(Action::Prompt { text: text.to_string() }, format!("prompt: {text}"), None))
    }

    pub(super) fn probe(&mut self, kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        let v = value?;
        self.pump(kind, at);
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
                                Diagnostic::new(n.loc(), "`repeat_seq` takes `true`").expected("`repeat_seq: true`"),
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
                            Diagnostic::new(at, "a `probe` does one thing: `bad_crc` and `repeat_seq` both given")
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
            label.push_str(&format!(" (expect {})", expect::outcome_text(&e.outcome)));
        }
        Some((StepKind::Action { action: Action::Probe(probe), expect }, label))
    }

    pub(super) fn wait(&mut self, _kind: &'static str, _at: Loc, value: Option<&Node>) -> StepOut {
        let v = value?;
        let w = duration(self.d, v, "`wait`")?;
        self.facts.timings.push(Timing { kind: TimingKind::Wait, duration: w, loc: v.loc() });
        Some((StepKind::Wait(w), format!("wait {}", text_of(Some(v)))))
    }

    pub(super) fn wait_until(&mut self, _kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        let v = value?;
        let mut keys = CONDITION_KEYS.to_vec();
        keys.extend(["timeout", "already_active"]);
        let m = map(self.d, v, at, "`wait_until`", &keys)?;
        let cond = self.condition(&m, at);
        let already_active_ok = match m.get("already_active") {
            None => Some(false),
            Some(n) if n.as_str() == Some("ok") => Some(true),
            Some(n) => {
                self.d.at(
                    n,
                    Diagnostic::new(n.loc(), format!("`already_active` takes `ok`, not `{}`", text_of(Some(n))))
                        .expected("`already_active: ok`, or no `already_active`")
                        .hint("without it, an alarm already active when the wait begins ends the case ERROR"),
                );
                None
            }
        };
        let timeout_node = required(self.d, &m, "timeout", "the longest wait, e.g. `40 min`");
        let timeout = timeout_node.and_then(|n| duration(self.d, n, "`timeout`"));
        let (condition, text) = cond?;
        let already_active_ok = already_active_ok?;
        if already_active_ok && !matches!(condition, Condition::Alarm(_)) {
            let k = m.key("already_active").map_or(at, |k| k.loc());
            self.d.push(
                Diagnostic::new(k, format!("`already_active` is for a wait on an alarm, not on {text}"))
                    .expected("`already_active: ok` with `alarm: CODE`")
                    .hint(
                        "an alarm latches and may be active before the wait; events and flow samples are only ever new",
                    ),
            );
            return None;
        }
        let timeout_node = timeout_node?;
        let timeout = timeout?;
        let flow = matches!(condition, Condition::FlowAbove(_) | Condition::FlowBelow(_));
        self.facts.timings.push(Timing {
            kind: TimingKind::Timeout { flow },
            duration: timeout,
            loc: timeout_node.loc(),
        });
        let also = if already_active_ok { ", or already active" } else { "" };
        Some((
            StepKind::WaitUntil { condition, timeout, already_active_ok },
            format!("wait until {text}{also} (timeout {})", text_of(Some(timeout_node))),
        ))
    }

    pub(super) fn mark(&mut self, _kind: &'static str, _at: Loc, value: Option<&Node>) -> StepOut {
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

    pub(super) fn check_step(&mut self, _kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        let v = value?;
        let check = self.check(v, at)?;
        let label = format!("check {}: {}", check.id, check.title);
        Some((StepKind::Check(check), label))
    }

    pub(super) fn request(&mut self, n: &Node) -> Option<crate::protocol::Command> {
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
}

/// The most requests one repeated `bolus` step makes, however it is written (`count:` or
/// `for:`): a request a second for a day. More is a typo, and would flood the pump's port.
pub const MAX_REPEATED_REQUESTS: u32 = 100_000;

fn too_many_requests(n: &Node, requests: u64) -> Diagnostic {
    Diagnostic::new(
        n.loc(),
        format!(
            "`{}` makes {requests} requests; a repeated bolus makes at most {MAX_REPEATED_REQUESTS}",
            text_of(Some(n))
        ),
    )
    .expected(format!("`count` or `for` / `every` of at most {MAX_REPEATED_REQUESTS} requests"))
    .hint("space the requests out with `every`, or split the step")
}

/// Whether an action expects the pump to refuse it.
fn expects_refusal(expect: &Option<Expect>) -> bool {
    matches!(expect, Some(Expect { outcome: ExpectedOutcome::Refused { .. }, .. }))
}

pub(super) fn action_step(action: Action, label: String, expect: Option<Expect>) -> (StepKind, String) {
    let label = match &expect {
        Some(e) => format!("{label} (expect {})", expect::outcome_text(&e.outcome)),
        None => label,
    };
    (StepKind::Action { action, expect }, label)
}
