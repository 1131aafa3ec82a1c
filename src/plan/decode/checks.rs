//! Checks: one measure (decoded by its row of [`super::kinds::MEASURES`]) and its limits.

use super::*;

impl StepCtx<'_> {
    pub(super) fn pump_field(&mut self, m: &MapView<'_>) -> Option<PumpField> {
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
    pub(super) fn rate(&mut self, m: &MapView<'_>, _at: Loc) -> Option<f64> {
        let n = required(self.d, m, "rate", "the programmed rate to compare with, e.g. `100 uL/h`")?;
        let q = quantity(self.d, n, "`rate`", Dimension::Flow)?;
        if q <= 0.0 {
            self.d
                .at(n, Diagnostic::new(n.loc(), "`rate` must be above zero").expected("a flow rate, e.g. `100 uL/h`"));
            return None;
        }
        Some(q)
    }

    pub(super) fn check(&mut self, node: &Node, at: Loc) -> Option<Check> {
        let mut keys = vec!["id", "title", "verifies"];
        let measures = kinds::measure_names();
        keys.extend_from_slice(&measures);
        keys.extend_from_slice(LIMIT_KEYS);
        let m = map(self.d, node, at, "`check`", &keys)?;
        let id = self.check_id(&m);
        let verifies = self.verifies(&m);
        let title = m.get("title").and_then(|n| scalar(self.d, n, "`title`", "a one-line title")).map(str::to_string);
        let measure = match m.present(&measures).as_slice() {
            [k] => {
                let key = m.key(k)?;
                let def = kinds::measure(k)?;
                (def.decode)(self, def.name, m.get(k)?, key.loc())
            }
            [] => {
                self.d.push(
                    Diagnostic::new(at, "`check` needs something to measure")
                        .expected(one_of(measures.iter().copied())),
                );
                None
            }
            [_, second, ..] => {
                self.d.push(
                    Diagnostic::new(m.key(second).map_or(at, |k| k.loc()), "a check measures one thing")
                        .expected(one_of(measures.iter().copied()))
                        .hint("write one check per measure"),
                );
                None
            }
        };
        let limits = self.limits(&m, at, measure.as_ref());
        let measure = measure?;
        let limits = limits?;
        let title =
            title.unwrap_or_else(|| format!("{} {}", describe_measure(&measure), describe::describe_limits(&m)));
        Some(Check { id: id?, title, measure, limits, verifies })
    }

    /// Records that measure `key` reads the flow sensor.
    pub(super) fn flow_sensor(&mut self, key: &str, at: Loc) {
        self.uses(Capability::FlowSensor, at, format!("`{key}` reads the flow sensor"));
    }

    pub(super) fn time_to(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
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

    pub(super) fn interval_measure(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
        if key != "bolus_spacing_min" {
            self.flow_sensor(key, at);
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

    pub(super) fn window_measure(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
        self.flow_sensor(key, at);
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
                        format!("a trumpet window of {} is not a whole number of half minutes", text_of(Some(n))),
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

    pub(super) fn flow_error(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
        self.flow_sensor(key, at);
        let m = map(self.d, v, at, &what, &["rate", "from", "to"])?;
        let rate = self.rate(&m, at);
        let i = self.interval(&m);
        Some(Measure::FlowError { rate: rate?, interval: i? })
    }

    pub(super) fn flow_stop_to(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
        self.flow_sensor(key, at);
        let mut keys = CONDITION_KEYS.to_vec();
        keys.push("after");
        let m = map(self.d, v, at, &what, &keys)?;
        let cond = self.condition(&m, at);
        let after = required(self.d, &m, "after", "the mark after which delivery stops").and_then(|n| {
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

    pub(super) fn pump_change(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
        self.uses(Capability::Pump, at, "`pump_change` reads the pump's STATUS");
        let m = map(self.d, v, at, &what, &["field", "from", "to"])?;
        let field = self.pump_field(&m);
        let i = self.interval(&m);
        Some(Measure::PumpChange { field: field?, interval: i? })
    }

    pub(super) fn evseq_gaps(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
        self.uses(Capability::Pump, at, "events come from the pump");
        let m = map(self.d, v, at, &what, &["from", "to"])?;
        let i = self.interval(&m)?;
        Some(Measure::EvseqGaps(i))
    }

    pub(super) fn boluses(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
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
                    Diagnostic::new(m.key("denied").map_or(at, |k| k.loc()), "`granted` and `denied` both given")
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

    /// `setting: basal_ul_h` (read at the check) or `setting: { field: basal_ul_h, at: mark }`.
    pub(super) fn setting_measure(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        self.uses(Capability::Pump, at, "`setting` reads the pump's SETTINGS");
        let fields: Vec<&str> = SettingField::ALL.iter().map(|f| f.name()).collect();
        let word = |s: &mut Self, n: &Node| -> Option<SettingField> {
            let text = scalar(s.d, n, "`setting`", &one_of(fields.iter().copied()))?;
            let found = SettingField::ALL.iter().copied().find(|f| f.name() == text);
            if found.is_none() {
                s.d.at(
                    n,
                    Diagnostic::new(n.loc(), format!("unknown SETTINGS field `{text}`"))
                        .expected(one_of(fields.iter().copied()))
                        .maybe_hint(did_you_mean(text, fields.iter().copied())),
                );
            }
            found
        };
        if let NodeKind::Scalar(_) = v.kind {
            return Some(Measure::Setting { field: word(self, v)?, at: None });
        }
        let m = map(self.d, v, at, &format!("`{key}`"), &["field", "at"])?;
        let field = required(self.d, &m, "field", &one_of(fields.iter().copied())).and_then(|n| word(self, n));
        let at_mark = match m.get("at") {
            None => Some(None),
            Some(n) => match self.endpoint(n, false)? {
                Endpoint::Now => Some(None),
                Endpoint::Mark(name) => Some(Some(name)),
                Endpoint::Start => None,
            },
        };
        Some(Measure::Setting { field: field?, at: at_mark? })
    }

    pub(super) fn pump_status(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
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

    pub(super) fn occurrences(&mut self, key: &'static str, v: &Node, at: Loc) -> Option<Measure> {
        let what = format!("`{key}`");
        let mut keys = CONDITION_KEYS.to_vec();
        keys.extend(["from", "to"]);
        let m = map(self.d, v, at, &what, &keys)?;
        let cond = self.condition(&m, at);
        let i = self.interval(&m);
        Some(Measure::Occurrences { condition: cond?.0, interval: i? })
    }

    /// `min`, `max`, `nominal` ± `tolerance`, in the measure's dimension. With the measure
    /// unknown (it had errors), only the presence rules are checked.
    pub(super) fn limits(&mut self, m: &MapView<'_>, at: Loc, measure: Option<&Measure>) -> Option<Limits> {
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
        let measure_name = kinds::MEASURES.iter().map(|k| k.name).find(|k| m.has(k)).unwrap_or("the measure");
        let therapy = matches!(measure, Measure::Setting { field: SettingField::Therapy, .. });
        let value = |s: &mut Self, key: &str| -> Option<Option<f64>> {
            let Some(n) = m.get(key) else { return Some(None) };
            let text = scalar(s.d, n, &format!("`{key}`"), &dim.how())?;
            // `therapy` is a count, 1 = on, 0 = off; its limits may say so in words.
            match text {
                "on" if therapy => return Some(Some(1.0)),
                "off" if therapy => return Some(Some(0.0)),
                _ => {}
            }
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
