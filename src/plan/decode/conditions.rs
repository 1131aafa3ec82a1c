//! Conditions (`alarm:`, `state:`, `flow_below:`, ...) and intervals (`from`, `to`).

use super::*;

impl StepCtx<'_> {
    pub(super) fn condition(&mut self, m: &MapView<'_>, at: Loc) -> Option<(Condition, String)> {
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

    pub(super) fn endpoint(&mut self, n: &Node, is_from: bool) -> Option<Endpoint> {
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
    pub(super) fn interval(&mut self, m: &MapView<'_>) -> Option<Interval> {
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
}
