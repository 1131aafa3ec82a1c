//! Expectations: what the pump must answer to an action (`expect:`), and the ids and
//! `verifies:` lists that checks and expectations share.

use super::*;

impl StepCtx<'_> {
    pub(super) fn expect_only(&mut self, v: &Node, at: Loc, kind: &str, bolus: bool) -> Option<Option<Expect>> {
        let m = map(self.d, v, at, &format!("`{kind}`"), &["expect"])?;
        self.optional_expect(&m, bolus)
    }

    /// The mapping's `expect`, if any. `None` when it is there but wrong.
    pub(super) fn optional_expect(&mut self, m: &MapView<'_>, bolus: bool) -> Option<Option<Expect>> {
        match (m.key("expect"), m.get("expect")) {
            (Some(k), Some(v)) => self.expect(v, k.loc(), bolus).map(Some),
            _ => Some(None),
        }
    }

    pub(super) fn expect(&mut self, node: &Node, at: Loc, bolus: bool) -> Option<Expect> {
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

    pub(super) fn refusal(&mut self, n: &Node, bolus: bool) -> Option<ExpectedOutcome> {
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
    pub(super) fn check_id(&mut self, m: &MapView<'_>) -> Option<String> {
        let n = required(self.d, m, "id", "a short id, unique in the plan, e.g. `time-to-alarm`")?;
        let id = name(self.d, n, "check id")?;
        self.facts.ids.push((id.clone(), n.loc()));
        Some(id)
    }

    pub(super) fn verifies(&mut self, m: &MapView<'_>) -> Vec<String> {
        let Some(n) = m.get("verifies") else { return Vec::new() };
        let ids = srs_ids(self.d, n, "verifies");
        self.facts.verifies.extend(ids.iter().cloned());
        ids.into_iter().map(|(id, _)| id).collect()
    }
}

pub(super) fn outcome_text(o: &ExpectedOutcome) -> String {
    match o {
        ExpectedOutcome::Accepted => "accepted".to_string(),
        ExpectedOutcome::Refused { code: Some(c), .. } => format!("refused {c}"),
        ExpectedOutcome::Refused { reason: Some(r), .. } => format!("refused {r}"),
        ExpectedOutcome::Refused { .. } => "refused".to_string(),
    }
}
