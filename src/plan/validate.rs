//! The rules that need the whole plan: marks set before they are used, unique names, declared
//! capabilities, traceability between `covers` and `verifies`, and timing that can be met.

use std::collections::BTreeMap;
use std::time::Duration;

use super::decode::{Diags, Facts, TimingKind};
use super::diag::{Diagnostic, did_you_mean};
use super::units::format_duration;

/// `sample_period` bounds. The SF06-LF sensors update about every millisecond; below 10 ms the
/// rig could not read, stamp and record each sample on its period grid (an I2C read and the
/// scheduler's latency take a good part of a millisecond), so a shorter period would promise
/// samples the bench does not take.
pub const MIN_SAMPLE_PERIOD: Duration = Duration::from_millis(10);
pub const MAX_SAMPLE_PERIOD: Duration = Duration::from_secs(3600);

/// Checks a decoded plan against its facts, reporting into `d`.
pub fn validate(facts: &Facts, d: &mut Diags) {
    marks(facts, d);
    ids(facts, d);
    capabilities(facts, d);
    traceability(facts, d);
    timing(facts, d);
}

fn marks(facts: &Facts, d: &mut Diags) {
    let mut first: BTreeMap<&str, &super::decode::MarkAt> = BTreeMap::new();
    for m in &facts.marks {
        match first.get(m.name.as_str()) {
            Some(earlier) => d.push(
                Diagnostic::new(m.loc, format!("mark `{}` is set twice", m.name))
                    .hint(format!("it is first set at line {}; give this one another name", earlier.loc.pos.line)),
            ),
            None => {
                first.insert(&m.name, m);
            }
        }
    }
    for r in &facts.mark_refs {
        match first.get(r.name.as_str()) {
            Some(def) if def.step < r.step => {}
            Some(def) => d.push(
                Diagnostic::new(r.loc, format!("mark `{}` is used before it is set", r.name))
                    .expected("a mark set by an earlier `mark:` step")
                    .hint(format!(
                        "`{}` is set later, at line {}; a check can only look back",
                        r.name, def.loc.pos.line
                    )),
            ),
            None => {
                let names = first.keys().copied().chain(["start", "now"]);
                let hint = did_you_mean(&r.name, names)
                    .unwrap_or_else(|| format!("add `- mark: {}` at the instant it names", r.name));
                d.push(
                    Diagnostic::new(r.loc, format!("mark `{}` is not set anywhere", r.name))
                        .expected(expected_marks(facts, r.step))
                        .hint(hint),
                );
            }
        }
    }
}

fn expected_marks(facts: &Facts, step: usize) -> String {
    let mut names: Vec<String> = vec!["`start`".to_string(), "`now`".to_string()];
    names.extend(facts.marks.iter().filter(|m| m.step < step).map(|m| format!("`{}`", m.name)));
    format!("one of {}", names.join(", "))
}

fn ids(facts: &Facts, d: &mut Diags) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, loc) in &facts.ids {
        match seen.get(id.as_str()) {
            Some(line) => d.push(Diagnostic::new(*loc, format!("check id `{id}` is used twice")).hint(format!(
                "it is first used at line {line}; ids are unique in a plan (results and baselines key on them)"
            ))),
            None => {
                seen.insert(id, loc.pos.line);
            }
        }
    }
}

fn capabilities(facts: &Facts, d: &mut Diags) {
    if !facts.requires_given {
        return; // reported as missing already
    }
    for (cap, loc, why) in &facts.uses {
        if !facts.requires.iter().any(|(c, _)| c == cap) {
            d.push(
                Diagnostic::new(*loc, format!("{why}, but `requires` does not list `{cap}`"))
                    .expected(format!("`{cap}` in `requires` (line {})", facts.requires_loc.pos.line))
                    .hint(format!("add `{cap}` to `requires`: a bench without it must not start this plan")),
            );
        }
    }
}

fn traceability(facts: &Facts, d: &mut Diags) {
    if !facts.covers_given {
        return; // reported as missing already
    }
    for (id, loc) in &facts.verifies {
        if !facts.covers.iter().any(|(c, _)| c == id) {
            d.push(
                Diagnostic::new(*loc, format!("`{id}` is verified here but not listed in `covers`"))
                    .expected(format!(
                        "the plan's `covers` (line {}) to list every id its checks verify",
                        facts.covers_loc.pos.line
                    ))
                    .hint(format!("add `{id}` to `covers`")),
            );
        }
    }
}

/// Every id a plan covers is verified by some check or expectation, in at least one of its
/// cases (a case may verify less: a low-rate engineering case, say).
pub fn covered_and_verified(cases: &[Facts], d: &mut Diags) {
    let Some(first) = cases.first() else { return };
    if !first.covers_given {
        return;
    }
    for (id, loc) in &first.covers {
        if !cases.iter().flat_map(|f| f.verifies.iter()).any(|(v, _)| v == id) {
            d.push(
                Diagnostic::new(*loc, format!("the plan covers `{id}` but no check verifies it"))
                    .expected(format!("a check or `expect` with `verifies: [{id}]`"))
                    .hint("add it to the `verifies` of the check that shows it, or remove it from `covers`"),
            );
        }
    }
}

fn timing(facts: &Facts, d: &mut Diags) {
    let (Some(sample), Some(status)) = (facts.sample_period, facts.status_period) else {
        return; // a period was written wrongly: reported already
    };
    if let Some(loc) = facts.sample_period_loc
        && !(MIN_SAMPLE_PERIOD..=MAX_SAMPLE_PERIOD).contains(&sample)
    {
        let hint = if sample < MIN_SAMPLE_PERIOD {
            "the sensor updates every ~1 ms, but the rig cannot read, stamp and record a sample more often than every 10 ms"
        } else {
            "the flow is read at least hourly: a longer period would leave the volume between samples unmeasured"
        };
        d.push(
            Diagnostic::new(loc, format!("`sample_period: {}` is outside 10 ms – 1 h", format_duration(sample)))
                .expected("a flow sensor read period from `10 ms` to `1 h`, e.g. `1 s`")
                .hint(hint),
        );
    }
    if status < sample {
        let loc = facts.status_period_loc.or(facts.sample_period_loc).unwrap_or_default();
        d.push(
            Diagnostic::new(
                loc,
                format!(
                    "`status_period` ({}) is shorter than `sample_period` ({})",
                    format_duration(status),
                    format_duration(sample)
                ),
            )
            .expected("`status_period` ≥ `sample_period`")
            .hint("the pump is polled no faster than the flow sensor is read"),
        );
    }
    if status.is_zero()
        && let Some(loc) = facts.status_period_loc
    {
        d.push(Diagnostic::new(loc, "`status_period` is 0").expected("a poll period above 0, e.g. `10 s`"));
    }
    let mut least_total = Duration::ZERO;
    for t in &facts.timings {
        let what = match t.kind {
            TimingKind::Wait => "`wait`",
            TimingKind::Timeout { .. } => "`timeout`",
            TimingKind::Repeat => "the repeated requests",
            TimingKind::Every => "`every`",
            TimingKind::Stall => "the motor stall",
            TimingKind::Injected => "the injected fault",
            TimingKind::Window => "`window`",
        };
        if t.duration.is_zero() && t.kind != TimingKind::Repeat {
            d.push(Diagnostic::new(t.loc, format!("{what} is 0")).expected("a duration above 0").hint(match t.kind {
                TimingKind::Timeout { .. } => "a wait that cannot wait never sees its condition",
                _ => "remove it, or give it a duration",
            }));
            continue;
        }
        if let TimingKind::Timeout { flow: true } = t.kind
            && t.duration < sample
        {
            d.push(
                Diagnostic::new(
                    t.loc,
                    format!(
                        "`timeout: {}` is shorter than `sample_period` ({})",
                        format_duration(t.duration),
                        format_duration(sample)
                    ),
                )
                .expected(format!("at least one sample period ({})", format_duration(sample)))
                .hint("a flow condition is seen on a sample: the wait would end before the first one"),
            );
        }
        if matches!(t.kind, TimingKind::Wait | TimingKind::Repeat) {
            least_total = least_total.saturating_add(t.duration);
        }
        if let (Some(max), Some(max_loc)) = (facts.max_duration, facts.max_duration_loc)
            && t.duration > max
            && !matches!(t.kind, TimingKind::Window | TimingKind::Every)
        {
            let message = match t.kind {
                TimingKind::Repeat => format!(
                    "the repeated requests span {}, longer than `max_duration` ({})",
                    format_duration(t.duration),
                    format_duration(max)
                ),
                _ => format!(
                    "{what} ({}) is longer than `max_duration` ({})",
                    format_duration(t.duration),
                    format_duration(max)
                ),
            };
            d.push(
                Diagnostic::new(t.loc, message)
                    .expected(format!("at most `max_duration` (line {})", max_loc.pos.line))
                    .hint("raise `max_duration` or shorten this"),
            );
        }
    }
    if let (Some(max), Some(loc)) = (facts.max_duration, facts.max_duration_loc) {
        if max.is_zero() {
            d.push(Diagnostic::new(loc, "`max_duration` is 0").expected("a bound on bench time above 0, e.g. `3 h`"));
        } else if least_total > max && !facts.timings.iter().any(|t| t.duration > max) {
            d.push(
                Diagnostic::new(
                    loc,
                    format!(
                        "the steps take at least {} (waits and repeated requests), more than `max_duration` ({})",
                        format_duration(least_total),
                        format_duration(max)
                    ),
                )
                .expected(format!("`max_duration` of at least {}", format_duration(least_total)))
                .hint("the run would always be aborted; raise `max_duration`"),
            );
        }
    }
}
