//! The plan format as a JSON Schema (draft 2020-12), for editors: yaml-language-server completes
//! keys, shows the descriptions and flags unknown keys and malformed quantities while a plan is
//! written. The loader remains the judge (marks in order, units per measure, capabilities are
//! beyond a schema); the schema never refuses a plan the loader accepts.

use serde_json::{Map, Value, json};

use super::decode::kinds::STEP_KINDS;
use super::requirements::REQUIREMENTS;
use super::units::Dimension;
use crate::plan::Capability;
use crate::protocol::{AlarmCode, BootReason, DenyReason, ErrCode, PumpState};

/// A whole-value `${param}` reference.
const PARAM: &str = r"^\$\{[a-z_][a-z0-9_]*\}$";
/// A name: plan id, mark, check id, case name.
const NAME: &str = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$";

fn words<T: Copy>(all: &[T], f: impl Fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|x| f(*x)).collect()
}

fn param() -> Value {
    json!({ "$ref": "#/$defs/param" })
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{name}") })
}

/// A quantity of `dim`, or a `${param}`.
fn quantity(dim: Dimension, description: &str) -> Value {
    json!({
        "type": "string",
        "pattern": format!("{}|{PARAM}", dim.pattern()),
        "description": format!("{description} {}.", capitalise(&dim.how())),
        "examples": [dim.example()],
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// A closed vocabulary, or a `${param}`.
fn vocabulary(words: &[&str], description: &str) -> Value {
    json!({ "anyOf": [{ "enum": words }, param()], "description": description })
}

/// An object with exactly these properties (none other), `required` among them.
fn object(description: &str, properties: Value, required: &[&str]) -> Value {
    let mut o = json!({
        "type": "object",
        "description": description,
        "additionalProperties": false,
        "properties": properties,
    });
    if let Some(map) = o.as_object_mut().filter(|_| !required.is_empty()) {
        map.insert("required".to_owned(), json!(required));
    }
    o
}

fn merge(a: Value, b: Value) -> Value {
    let mut out = Map::new();
    for v in [a, b] {
        if let Value::Object(m) = v {
            out.extend(m);
        }
    }
    Value::Object(out)
}

fn condition_properties() -> Value {
    let alarms = words(AlarmCode::ALL, AlarmCode::as_str);
    let states = words(PumpState::ALL, PumpState::as_str);
    let boots = words(BootReason::ALL, BootReason::as_str);
    let mut denied = words(DenyReason::ALL, DenyReason::as_str);
    denied.push("any");
    json!({
        "alarm": vocabulary(&alarms, "An ALARM event with this code."),
        "boot": vocabulary(&boots, "A BOOT event with this reason."),
        "denied": vocabulary(&denied, "A DENIED event with this reason (`any`: every reason)."),
        "cleared": vocabulary(&alarms, "A CLEAR event of this alarm code."),
        "state": vocabulary(&states, "A STATE event with this state."),
        "flow_below": quantity(Dimension::Flow, "A flow sample below this."),
        "flow_above": quantity(Dimension::Flow, "A flow sample above this."),
    })
}

fn interval_properties() -> Value {
    json!({
        "from": { "type": "string", "pattern": NAME, "description": "`start` (the case's t = 0) or a mark set by an earlier step." },
        "to": { "type": "string", "pattern": NAME, "description": "`now` (when the check is made, the default) or a mark set by an earlier step." },
    })
}

fn with_expect(properties: Value) -> Value {
    merge(properties, json!({ "expect": r("expect") }))
}

/// One step kind: `{ kind: value }` and nothing else.
fn step(kind: &str, value: Value) -> Value {
    let mut properties = Map::new();
    properties.insert(kind.to_string(), value);
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": [kind],
        "properties": properties,
    })
}

/// The schema of each step kind's value and each measure's, named as in the tables of
/// [`crate::plan::decode::kinds`], which list them.
pub mod fragments {
    use serde_json::{Value, json};

    use super::{
        NAME, PARAM, condition_properties, interval_properties, merge, object, quantity, r, vocabulary, with_expect,
        words,
    };
    use crate::plan::SettingField;
    use crate::plan::decode::PUMP_FIELDS;
    use crate::plan::decode::inject::BARE_INJECTIONS;
    use crate::plan::decode::kinds::MEASURES;
    use crate::plan::units::Dimension;
    use crate::protocol::{AlarmCode, DenyReason};

    fn only_expect() -> Value {
        json!({
            "anyOf": [
                { "type": "null" },
                object("With an expectation of the pump's answer.", json!({ "expect": r("expect") }), &["expect"]),
            ]
        })
    }

    pub fn start() -> Value {
        merge(json!({ "description": "START: therapy on." }), only_expect())
    }

    pub fn stop() -> Value {
        merge(json!({ "description": "STOP: therapy off, on purpose." }), only_expect())
    }

    pub fn fill() -> Value {
        json!({ "description": "FILL: the reservoir now holds this volume.", "anyOf": [
            quantity(Dimension::Volume, "The volume in the reservoir."),
            object("FILL with an expectation.", with_expect(json!({ "volume": quantity(Dimension::Volume, "The volume in the reservoir.") })), &["volume"]),
        ]})
    }

    pub fn program() -> Value {
        json!({ "description": "PROGRAM: the basal rate.", "anyOf": [
            quantity(Dimension::Flow, "The basal rate."),
            object("PROGRAM with an expectation.", with_expect(json!({ "basal": quantity(Dimension::Flow, "The basal rate.") })), &["basal"]),
        ]})
    }

    pub fn limit() -> Value {
        json!({ "description": "LIMIT: the most volume delivered in any rolling 24 h.", "anyOf": [
            quantity(Dimension::Volume, "The 24 h limit."),
            object("LIMIT with an expectation.", with_expect(json!({ "max_24h": quantity(Dimension::Volume, "The 24 h limit.") })), &["max_24h"]),
        ]})
    }

    pub fn alarm_config() -> Value {
        object(
            "ALARM_CONFIG: alarm thresholds.",
            with_expect(json!({
                "low_reservoir": quantity(Dimension::Volume, "RESERVOIR_LOW threshold."),
                "occlusion": quantity(Dimension::Pressure, "OCCLUSION threshold."),
            })),
            &["low_reservoir", "occlusion"],
        )
    }

    pub fn bolus_config() -> Value {
        object(
            "BOLUS_CONFIG: the patient bolus.",
            with_expect(json!({
                "dose": quantity(Dimension::Volume, "The bolus dose."),
                "lockout": quantity(Dimension::Duration, "Least time between the starts of granted boluses (whole seconds)."),
                "max_per_24h": r("count"),
            })),
            &["dose", "lockout", "max_per_24h"],
        )
    }

    pub fn bolus() -> Value {
        json!({ "description": "A patient bolus request: once, or repeated.", "anyOf": [
            { "type": "null" },
            object(
                "Once with an expectation (`expect`), or repeated (`every` with `count` or `for`).",
                json!({
                    "every": quantity(Dimension::Duration, "Time between requests; the first is made at once."),
                    "count": r("count"),
                    "for": quantity(Dimension::Duration, "Requests for this long: floor(for / every) requests."),
                    "expect": r("expect"),
                }),
                &[],
            ),
        ]})
    }

    pub fn ack() -> Value {
        let alarms = words(AlarmCode::ALL, AlarmCode::as_str);
        json!({ "description": "ACK: acknowledge an alarm.", "anyOf": [
            vocabulary(&alarms, "The alarm code."),
            object("ACK with an expectation.", with_expect(json!({ "alarm": vocabulary(&alarms, "The alarm code.") })), &["alarm"]),
        ]})
    }

    pub fn valve() -> Value {
        json!({ "enum": ["close", "open"], "description": "Close (energise: block the line) or open the occlusion valve." })
    }

    pub fn prompt() -> Value {
        json!({ "type": "string", "minLength": 1, "description": "Ask the operator to do something and wait for confirmation (needs `operator`)." })
    }

    pub fn probe() -> Value {
        json!({ "description": "A link-level probe (SRS-COM).", "anyOf": [
            { "const": "repeat_seq", "description": "Repeat the previous request with its seq." },
            object(
                "`bad_crc: <request>` or `repeat_seq: true`, with an optional expectation.",
                with_expect(json!({
                    "bad_crc": { "type": "string", "description": "A request as on the wire, without seq, sent with a corrupted CRC, e.g. `STOP`." },
                    "repeat_seq": { "const": true, "description": "Repeat the previous request with its seq." },
                })),
                &[],
            ),
        ]})
    }

    pub fn inject() -> Value {
        json!({ "description": "A bench injection: an INJECT request of a software bench (ICD part 2); a real bench has none.", "anyOf": [
            { "enum": BARE_INJECTIONS },
            object("A motor stall for a time.", json!({ "motor_stall": quantity(Dimension::Duration, "How long the motor stalls.") }), &["motor_stall"]),
            object("INJECT CORRUPT: each frame on the service port damaged with this probability.", json!({
                "link": { "const": "corrupt" },
                "permille": { "anyOf": [{ "type": "integer", "minimum": 0, "maximum": 1000 }, r("param")], "description": "Per mille of frames damaged, 0 (stop) to 1000." },
            }), &["link", "permille"]),
            object("INJECT SILENCE: the service port passes nothing for a time.", json!({
                "link": { "const": "silence" },
                "for": quantity(Dimension::Duration, "How long, in whole milliseconds, at most 10 min."),
            }), &["link", "for"]),
            object("INJECT SENSOR NACK: the flow sensor NACKs its next transactions.", json!({
                "sensor": { "const": "nack" },
                "count": r("count"),
            }), &["sensor", "count"]),
            object("INJECT SENSOR AIR / STUCK: until `on: false`, or for a time.", json!({
                "sensor": { "enum": ["air", "stuck"] },
                "on": { "type": "boolean", "description": "`false` ends the fault (default `true`)." },
                "for": quantity(Dimension::Duration, "How long, at most 24 h (then it ends)."),
            }), &["sensor"]),
        ]})
    }

    pub fn wait() -> Value {
        quantity(Dimension::Duration, "Let bench time pass.")
    }

    pub fn wait_until() -> Value {
        object(
            "Wait for a condition, at most `timeout`.",
            merge(
                condition_properties(),
                json!({
                    "timeout": quantity(Dimension::Duration, "The longest wait."),
                    "already_active": { "const": "ok", "description": "With `alarm`: an alarm already active when the wait begins ends it at once (without: the case ends ERROR)." },
                }),
            ),
            &["timeout"],
        )
    }

    pub fn mark() -> Value {
        json!({ "type": "string", "pattern": NAME, "not": { "enum": ["start", "now"] }, "description": "Name this instant on the timeline." })
    }

    pub fn check() -> Value {
        let limit = json!({
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": format!("^[0-9]+(\\.[0-9]+)? [^ ]+$|^[0-9]+$|{PARAM}") },
                { "enum": ["on", "off"], "description": "For `setting: therapy`: 1 and 0." },
            ],
        });
        let mut properties = json!({
            "id": { "type": "string", "pattern": NAME, "description": "Unique in the plan and stable across versions: results and baselines key on it." },
            "title": { "type": "string", "description": "What the check shows, in a line (default: the measure and its limits)." },
            "verifies": r("verifies"),
            "min": merge(json!({ "description": "Lowest acceptable value, in the measure's unit (a count is a bare number)." }), limit.clone()),
            "max": merge(json!({ "description": "Highest acceptable value, in the measure's unit." }), limit.clone()),
            "nominal": merge(json!({ "description": "Nominal value, with `tolerance`." }), limit.clone()),
            "tolerance": merge(json!({ "description": "Tolerance around `nominal`: a percentage (`10 %`) or a value in the measure's unit." }), limit.clone()),
            "drift": merge(json!({ "description": "How far the value may move from the approved baseline's before `rig run --baseline` reports it (in the measure's unit)." }), limit),
        });
        if let Value::Object(p) = &mut properties {
            p.extend(MEASURES.iter().map(|m| (m.name.to_string(), (m.schema)())));
        }
        let one_measure: Vec<Value> = MEASURES.iter().map(|m| json!({ "required": [m.name] })).collect();
        json!({
            "type": "object",
            "description": "Judge a measured quantity against limits.",
            "additionalProperties": false,
            "required": ["id"],
            "properties": properties,
            "allOf": [
                { "oneOf": one_measure },
                { "anyOf": [{ "required": ["min"] }, { "required": ["max"] }, { "required": ["nominal", "tolerance"] }] },
            ],
        })
    }

    fn interval(description: &str) -> Value {
        object(description, interval_properties(), &["from"])
    }

    fn denied() -> Vec<&'static str> {
        let mut denied = words(DenyReason::ALL, DenyReason::as_str);
        denied.push("any");
        denied
    }

    pub fn time_to() -> Value {
        object(
            "Time from a mark to the first occurrence of a condition after it (a duration).",
            merge(
                condition_properties(),
                json!({ "from": { "type": "string", "pattern": NAME, "description": "The mark to time from." } }),
            ),
            &["from"],
        )
    }

    pub fn volume() -> Value {
        interval("Volume through the flow sensor over the interval.")
    }

    pub fn flow_mean() -> Value {
        interval("Mean flow over the interval.")
    }

    pub fn boluses() -> Value {
        object(
            "Granted or denied bolus requests in the interval (a count).",
            merge(
                interval_properties(),
                json!({
                    "granted": { "const": true, "description": "Count granted requests." },
                    "denied": vocabulary(&denied(), "Count requests denied for this reason (`any`: every refusal)."),
                }),
            ),
            &["from"],
        )
    }

    pub fn bolus_spacing_min() -> Value {
        interval("Shortest time between the starts of consecutive granted boluses (a duration).")
    }

    pub fn max_window_volume() -> Value {
        object(
            "Largest volume through the sensor in any window of this length within the interval.",
            merge(interval_properties(), json!({ "window": quantity(Dimension::Duration, "The window's length.") })),
            &["window", "from"],
        )
    }

    pub fn pump_status() -> Value {
        object(
            "A value of the pump's last STATUS at or before a mark (or now).",
            json!({
                "field": { "enum": PUMP_FIELDS, "description": "The STATUS field." },
                "at": { "type": "string", "pattern": NAME, "description": "A mark, or `now` (the default)." },
            }),
            &["field"],
        )
    }

    pub fn occurrences() -> Value {
        object(
            "How many times a condition occurred in the interval (a count).",
            merge(condition_properties(), interval_properties()),
            &["from"],
        )
    }

    pub fn min_window_volume() -> Value {
        object(
            "Smallest volume through the sensor in any window of this length within the interval.",
            merge(interval_properties(), json!({ "window": quantity(Dimension::Duration, "The window's length.") })),
            &["window", "from"],
        )
    }

    pub fn trumpet() -> Value {
        object(
            "One point of the trumpet curve (IEC 60601-2-24 method, S = 0.5 min): the largest deviation (%, magnitude) from `rate` of the mean flow in any window of this length within the interval.",
            merge(
                interval_properties(),
                json!({
                    "window": quantity(Dimension::Duration, "The observation window P: a whole number of half minutes, e.g. `2 min`, `31 min`."),
                    "rate": quantity(Dimension::Flow, "The programmed rate r."),
                }),
            ),
            &["window", "rate", "from"],
        )
    }

    pub fn flow_error() -> Value {
        object(
            "Deviation (%, magnitude) of the mean flow over the interval from `rate`: the overall error A.",
            merge(interval_properties(), json!({ "rate": quantity(Dimension::Flow, "The programmed rate.") })),
            &["rate", "from"],
        )
    }

    pub fn flow_stop_to() -> Value {
        object(
            "Time from when the flow sensor saw delivery stop (after the mark) to the first occurrence of a condition (a duration).",
            merge(
                condition_properties(),
                json!({ "after": { "type": "string", "pattern": NAME, "description": "A mark set while the flow still ran." } }),
            ),
            &["after"],
        )
    }

    pub fn pump_change() -> Value {
        object(
            "Change of a STATUS field from the first STATUS at or after `from` to the last at or before `to`.",
            merge(
                interval_properties(),
                json!({ "field": { "enum": PUMP_FIELDS, "description": "The STATUS field." } }),
            ),
            &["field", "from"],
        )
    }

    pub fn setting() -> Value {
        let fields: Vec<&str> = SettingField::ALL.iter().map(|f| f.name()).collect();
        let field =
            json!({ "enum": fields, "description": "The SETTINGS field (ICD key); `therapy` is 1 = on, 0 = off." });
        json!({ "description": "A programmed setting as the pump's SETTINGS reports it, read at a mark or at the check.", "anyOf": [
            field.clone(),
            object("The setting read at a mark.", json!({
                "field": field,
                "at": { "type": "string", "pattern": NAME, "description": "A mark, or `now` (the default)." },
            }), &["field"]),
        ]})
    }

    pub fn evseq_gaps() -> Value {
        interval("Gaps in the pump's event numbering (evseq) among the events received (a count).")
    }
}

/// `{ kind: value }` for each step kind of the table allowed in `setup` (`true`) or `steps`.
fn steps(setup: bool) -> Vec<Value> {
    let bare: Vec<&str> = STEP_KINDS.iter().filter(|k| k.bare).map(|k| k.name).collect();
    let mut all = vec![json!({ "enum": bare, "description": "An action without arguments." })];
    all.extend(STEP_KINDS.iter().filter(|k| k.in_setup || !setup).map(|k| step(k.name, (k.schema)())));
    all
}

/// The JSON Schema of plan files, pretty-printed, with a final newline.
pub fn schema_json() -> String {
    let capabilities: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
    let srs: Vec<&str> = REQUIREMENTS.iter().map(|r| r.id).collect();
    let mut refusals: Vec<&str> = words(ErrCode::ALL, ErrCode::as_str);
    refusals.extend(words(DenyReason::ALL, DenyReason::as_str));
    refusals.push("any");
    let bare_actions = steps(true);
    let all_steps = steps(false);
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "rig test plan",
        "description": "A test plan of the rig (docs/plan-language.md). Generated by `rig schema`; do not edit.",
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "title", "version", "covers", "requires", "steps"],
        "properties": {
            "id": { "type": "string", "pattern": NAME, "description": "The plan's id, unique across the plan set, e.g. OCC-TIME-TO-ALARM." },
            "title": { "type": "string", "description": "A one-line title." },
            "version": { "type": "string", "pattern": "^[0-9]+\\.[0-9]+\\.[0-9]+$", "description": "The plan's version, MAJOR.MINOR.PATCH." },
            "covers": { "type": "array", "items": { "enum": srs }, "uniqueItems": true, "description": "The SRS requirements the plan covers; each is verified by some check." },
            "requires": { "type": "array", "items": { "enum": capabilities }, "uniqueItems": true, "description": "What the bench must provide; a bench without it reports the plan not applicable." },
            "sample_period": quantity(Dimension::Duration, "Flow sensor read period, 10 ms to 1 h (default 1 s)."),
            "status_period": quantity(Dimension::Duration, "Pump STATUS poll period, at least sample_period (default 10 s)."),
            "max_duration": quantity(Dimension::Duration, "A bound on each case's bench time: the run is aborted past it."),
            "cases": {
                "type": "array",
                "minItems": 1,
                "description": "One run per row: `${param}` in a value takes the row's value.",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": { "name": { "type": "string", "pattern": NAME, "description": "The case's name: runs are named `ID[name]`." } },
                    "propertyNames": { "pattern": "^[a-z_][a-z0-9_]*$" },
                    "additionalProperties": { "anyOf": [{ "type": ["string", "number"] }, { "type": "array", "items": { "type": "string" } }] },
                },
            },
            "setup": { "type": "array", "items": { "anyOf": bare_actions }, "description": "Actions run first, in order, to configure the pump and bench." },
            "steps": { "type": "array", "minItems": 1, "items": { "anyOf": all_steps }, "description": "The test: actions, waits, marks and checks, in order." },
        },
        "$defs": {
            "param": { "type": "string", "pattern": PARAM, "description": "A case parameter, `${name}`." },
            "count": { "anyOf": [{ "type": "integer", "minimum": 0 }, { "type": "string", "pattern": format!("^[0-9]+$|{PARAM}") }], "description": "A whole number without a unit." },
            "verifies": {
                "anyOf": [{ "type": "array", "items": { "enum": srs }, "uniqueItems": true }, param()],
                "description": "The SRS requirements this check verifies (each listed in `covers`).",
            },
            "expect": {
                "type": "object",
                "description": "What the pump must answer, judged like a check.",
                "additionalProperties": false,
                "required": ["id"],
                "properties": {
                    "id": { "type": "string", "pattern": NAME, "description": "Check id, unique in the plan." },
                    "accepted": { "const": true, "description": "The pump accepts (a bolus: granted)." },
                    "refused": vocabulary(&refusals, "The pump refuses with this error code (a bolus: this reason); `any` for any refusal."),
                    "verifies": r("verifies"),
                },
                "oneOf": [{ "required": ["accepted"] }, { "required": ["refused"] }],
            },
        },
    });
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_json_with_every_step_kind() {
        let v: Value = serde_json::from_str(&schema_json()).unwrap();
        let steps = v["properties"]["steps"]["items"]["anyOf"].as_array().unwrap();
        let kinds: Vec<&str> =
            steps.iter().filter_map(|s| s["required"].as_array()).filter_map(|r| r[0].as_str()).collect();
        let table: Vec<&str> = STEP_KINDS.iter().map(|k| k.name).collect();
        assert_eq!(kinds, table);
    }
}
