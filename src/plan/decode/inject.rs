//! Injections (`inject:`), one per `INJECT` request of a software bench (ICD part 2, "Fault
//! injection"), with their durations and counts bounded.

use super::steps::{StepOut, action_step};
use super::*;

/// The injections written as a bare word.
pub const BARE_INJECTIONS: &[&str] = &["motor_stall", "clear_motor_stall", "watchdog_reset"];
/// The keys an injection's mapping may hold.
pub const INJECT_KEYS: &[&str] = &["motor_stall", "link", "sensor", "permille", "for", "count", "on"];
/// What `link:` and `sensor:` take.
pub const LINK_FAULTS: &[&str] = &["corrupt", "silence"];
pub const SENSOR_FAULTS: &[&str] = &["nack", "air", "stuck"];

/// The longest link silence: a pulled cable for longer is a lost link, which the rig
/// reports as a bench error, not a test of the pump.
pub const MAX_SILENCE: Duration = Duration::from_secs(600);
/// The longest air-in-line or stuck-sensor episode.
pub const MAX_SENSOR_FAULT: Duration = Duration::from_secs(24 * 3600);
/// The most transactions a sensor NACKs in one injection.
pub const MAX_SENSOR_NACKS: u32 = 1000;

impl StepCtx<'_> {
    pub(super) fn inject(&mut self, _kind: &'static str, at: Loc, value: Option<&Node>) -> StepOut {
        let v = value?;
        let injection = match &v.kind {
            NodeKind::Scalar(s) => match s.as_str() {
                "motor_stall" => Injection::MotorStall { duration: None },
                "clear_motor_stall" => Injection::ClearMotorStall,
                "watchdog_reset" => Injection::WatchdogReset,
                other => {
                    let hint = match other {
                        "corrupt_next_response" | "corrupt" => {
                            Some("write `inject: { link: corrupt, permille: N }` (0 stops it)".to_string())
                        }
                        "silence" => Some("write `inject: { link: silence, for: 30 s }`".to_string()),
                        "air" | "stuck" | "nack" => Some(format!("write `inject: {{ sensor: {other} }}`")),
                        _ => did_you_mean(other, BARE_INJECTIONS.iter().copied()),
                    };
                    self.d.at(
                        v,
                        Diagnostic::new(v.loc(), format!("unknown injection `{other}`"))
                            .expected(format!(
                                "{}, or a mapping with `motor_stall`, `link` or `sensor`",
                                one_of(BARE_INJECTIONS.iter().copied())
                            ))
                            .maybe_hint(hint),
                    );
                    return None;
                }
            },
            _ => {
                let m = map(self.d, v, at, "`inject`", INJECT_KEYS)?;
                self.injection(&m, at)?
            }
        };
        let cap = injection.capability();
        self.uses(cap, at, format!("`inject` needs the bench to {}", crate::plan::applicability::ability(cap)));
        Some(action_step(Action::Inject(injection), injection_label(injection), None))
    }

    /// `{ motor_stall: D }`, `{ link: ..., ... }` or `{ sensor: ..., ... }`.
    fn injection(&mut self, m: &MapView<'_>, at: Loc) -> Option<Injection> {
        let kinds = ["motor_stall", "link", "sensor"];
        let kind = match m.present(&kinds).as_slice() {
            [k] => *k,
            [] => {
                self.d.push(
                    Diagnostic::new(at, "`inject` needs `motor_stall`, `link` or `sensor`").expected(
                        "`{ motor_stall: 5 min }`, `{ link: corrupt, permille: N }`, `{ link: silence, for: D }` or `{ sensor: air }`",
                    ),
                );
                return None;
            }
            [_, second, ..] => {
                self.d.push(
                    Diagnostic::new(m.key(second).map_or(at, |k| k.loc()), "an `inject` does one thing")
                        .expected(one_of(kinds))
                        .hint("write one inject step per injection"),
                );
                return None;
            }
        };
        let n = m.get(kind)?;
        let fault = match kind {
            "motor_stall" => "motor_stall",
            "link" => word_of(self.d, n, "link fault", LINK_FAULTS)?,
            _ => word_of(self.d, n, "sensor fault", SENSOR_FAULTS)?,
        };
        // The keys each injection takes besides its own.
        let takes: &[&str] = match (kind, fault) {
            ("motor_stall", _) => &[],
            (_, "corrupt") => &["permille"],
            (_, "silence") => &["for"],
            (_, "nack") => &["count"],
            _ => &["on", "for"],
        };
        let mut ok = true;
        for extra in ["permille", "for", "count", "on"].into_iter().filter(|k| m.has(k) && !takes.contains(k)) {
            let what = if kind == "motor_stall" { "`motor_stall`".to_string() } else { format!("`{kind}: {fault}`") };
            self.d.push(
                Diagnostic::new(m.key(extra).map_or(at, |k| k.loc()), format!("{what} takes no `{extra}`")).expected(
                    if takes.is_empty() {
                        "nothing else: `{ motor_stall: <duration> }`".to_string()
                    } else {
                        one_of(takes.iter().copied())
                    },
                ),
            );
            ok = false;
        }
        let injection = match (kind, fault) {
            ("motor_stall", _) => {
                let d = duration(self.d, n, "`motor_stall`")?;
                self.facts.timings.push(Timing { kind: TimingKind::Stall, duration: d, loc: n.loc() });
                Injection::MotorStall { duration: Some(d) }
            }
            (_, "corrupt") => {
                let p = required(self.d, m, "permille", "the share of frames damaged, in ‰: 0 (stop) to 1000")?;
                let permille = count(self.d, p, "`permille`")?;
                let Ok(permille) =
                    u16::try_from(permille).map_err(|_| ()).and_then(|p| if p <= 1000 { Ok(p) } else { Err(()) })
                else {
                    self.d.at(
                        p,
                        Diagnostic::new(p.loc(), format!("`permille: {permille}` is more than every frame"))
                            .expected("0 (stop corrupting) to 1000 (every frame)"),
                    );
                    return None;
                };
                Injection::LinkCorrupt { permille }
            }
            (_, "silence") => {
                let f = required(self.d, m, "for", "how long the port is silent, e.g. `30 s`")?;
                let d = self.bounded(f, "a link silence", MAX_SILENCE)?;
                if d.subsec_nanos() % 1_000_000 != 0 {
                    self.d.at(
                        f,
                        Diagnostic::new(
                            f.loc(),
                            format!("`for: {}` is not a whole number of milliseconds", text_of(Some(f))),
                        )
                        .expected("whole milliseconds (`INJECT SILENCE <ms>`)"),
                    );
                    return None;
                }
                self.facts.timings.push(Timing { kind: TimingKind::Injected, duration: d, loc: f.loc() });
                Injection::LinkSilence { duration: d }
            }
            (_, "nack") => {
                let c = required(self.d, m, "count", "how many transactions the sensor NACKs, e.g. `3`")?;
                let n = count(self.d, c, "`count`")?;
                if n == 0 || n > MAX_SENSOR_NACKS {
                    self.d.at(
                        c,
                        Diagnostic::new(c.loc(), format!("`count: {n}` is outside 1 to {MAX_SENSOR_NACKS}"))
                            .expected(format!("1 to {MAX_SENSOR_NACKS} transactions"))
                            .hint("the sampler reads once per `sample_period`: a few NACKs test its retries, many are a dead sensor"),
                    );
                    return None;
                }
                Injection::SensorNack { count: n }
            }
            (_, air_or_stuck) => {
                let on = match m.get("on") {
                    None => Some(true),
                    Some(o) if o.as_str() == Some("true") => Some(true),
                    Some(o) if o.as_str() == Some("false") => Some(false),
                    Some(o) => {
                        self.d.at(
                            o,
                            Diagnostic::new(
                                o.loc(),
                                format!("`on` takes `true` or `false`, not `{}`", text_of(Some(o))),
                            )
                            .expected("`on: false` to end it (it starts without `on`)"),
                        );
                        None
                    }
                };
                let duration = match m.get("for") {
                    None => Some(None),
                    Some(f) => self.bounded(f, "a sensor fault", MAX_SENSOR_FAULT).map(Some),
                };
                let (on, duration) = (on?, duration?);
                if let (false, Some(k)) = (on, m.key("for")) {
                    self.d.push(
                        Diagnostic::new(k.loc(), "`on: false` ends the fault at once: it takes no `for`").expected(
                            "`{ sensor: ..., for: D }` (on, then off after D) or `{ sensor: ..., on: false }`",
                        ),
                    );
                    return None;
                }
                if let (Some(d), Some(f)) = (duration, m.get("for")) {
                    self.facts.timings.push(Timing { kind: TimingKind::Injected, duration: d, loc: f.loc() });
                }
                if air_or_stuck == "air" {
                    Injection::SensorAir { on, duration }
                } else {
                    Injection::SensorStuck { on, duration }
                }
            }
        };
        ok.then_some(injection)
    }

    /// A duration above 0 and at most `max`.
    fn bounded(&mut self, n: &Node, what: &str, max: Duration) -> Option<Duration> {
        let d = duration(self.d, n, "`for`")?;
        if d > max {
            self.d.at(
                n,
                Diagnostic::new(n.loc(), format!("`for: {}` is too long for {what}", text_of(Some(n))))
                    .expected(format!("at most {}", units::format_duration(max))),
            );
            return None;
        }
        Some(d)
    }
}

/// A closed vocabulary word, with "did you mean".
fn word_of<'n>(d: &mut Diags, n: &'n Node, what: &str, all: &[&str]) -> Option<&'n str> {
    let text = scalar(d, n, &format!("a {what}"), &one_of(all.iter().copied()))?;
    if all.contains(&text) {
        return Some(text);
    }
    d.at(
        n,
        Diagnostic::new(n.loc(), format!("unknown {what} `{text}`"))
            .expected(one_of(all.iter().copied()))
            .maybe_hint(did_you_mean(text, all.iter().copied())),
    );
    None
}

/// A step label: `inject link silence for 30 s`.
pub(super) fn injection_label(i: Injection) -> String {
    let f = units::format_duration;
    match i {
        Injection::MotorStall { duration: Some(d) } => format!("inject motor_stall for {}", f(d)),
        Injection::MotorStall { duration: None } => "inject motor_stall".to_string(),
        Injection::ClearMotorStall => "inject clear_motor_stall".to_string(),
        Injection::WatchdogReset => "inject watchdog_reset".to_string(),
        Injection::LinkCorrupt { permille: 0 } => "inject link corrupt off".to_string(),
        Injection::LinkCorrupt { permille } => format!("inject link corrupt {permille} ‰ of frames"),
        Injection::LinkSilence { duration } => format!("inject link silence for {}", f(duration)),
        Injection::SensorNack { count } => format!("inject sensor nack × {count}"),
        Injection::SensorAir { on, duration } => sensor_label("air", on, duration),
        Injection::SensorStuck { on, duration } => sensor_label("stuck", on, duration),
    }
}

fn sensor_label(fault: &str, on: bool, duration: Option<Duration>) -> String {
    match (on, duration) {
        (false, _) => format!("inject sensor {fault} off"),
        (true, Some(d)) => format!("inject sensor {fault} for {}", units::format_duration(d)),
        (true, None) => format!("inject sensor {fault}"),
    }
}
