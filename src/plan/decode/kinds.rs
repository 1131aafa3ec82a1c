//! The one table of step kinds and the one table of measures: what each is called, where it
//! may be written, how it is decoded and what the JSON Schema says about it. The decoder, the
//! schema (`rig schema`) and the lists in docs/plan-language.md all come from here (a test
//! holds the docs to it), so a new kind is one row.

use serde_json::Value;

use super::steps::{StepCtx, StepOut};
use super::*;
use crate::plan::schema::fragments as schema;

/// Decodes one step of a kind: its key's location and its value (`None`: written bare).
pub(super) type DecodeStep = for<'a, 'b, 'n> fn(&'b mut StepCtx<'a>, &'static str, Loc, Option<&'n Node>) -> StepOut;

/// Decodes one measure: its key, its value and its key's location.
pub(super) type DecodeMeasure = for<'a, 'b, 'n> fn(&'b mut StepCtx<'a>, &'static str, &'n Node, Loc) -> Option<Measure>;

/// A step kind of the language.
pub struct StepKindDef {
    /// The step's key, e.g. `wait_until`.
    pub name: &'static str,
    /// An action, allowed in `setup` as in `steps`; waits, marks and checks are `steps` only.
    pub in_setup: bool,
    /// May be written as a bare word (`- start`).
    pub bare: bool,
    /// A step of this kind as written, for "needs a value" errors.
    pub example: &'static str,
    pub(super) decode: DecodeStep,
    /// The JSON Schema of the step's value.
    pub schema: fn() -> Value,
}

/// Every step kind, actions first, in the order the docs and the schema list them.
pub static STEP_KINDS: &[StepKindDef] = &[
    StepKindDef {
        name: "start",
        in_setup: true,
        bare: true,
        example: "start",
        decode: |cx, kind, at, value| cx.start_stop(kind, at, value),
        schema: schema::start,
    },
    StepKindDef {
        name: "stop",
        in_setup: true,
        bare: true,
        example: "stop",
        decode: |cx, kind, at, value| cx.start_stop(kind, at, value),
        schema: schema::stop,
    },
    StepKindDef {
        name: "fill",
        in_setup: true,
        bare: false,
        example: "fill: 20 mL",
        decode: |cx, kind, at, value| cx.quantity_action(kind, at, value),
        schema: schema::fill,
    },
    StepKindDef {
        name: "program",
        in_setup: true,
        bare: false,
        example: "program: 500 uL/h",
        decode: |cx, kind, at, value| cx.quantity_action(kind, at, value),
        schema: schema::program,
    },
    StepKindDef {
        name: "limit",
        in_setup: true,
        bare: false,
        example: "limit: 1200 uL",
        decode: |cx, kind, at, value| cx.quantity_action(kind, at, value),
        schema: schema::limit,
    },
    StepKindDef {
        name: "alarm_config",
        in_setup: true,
        bare: false,
        example: "alarm_config: { low_reservoir: 2 mL, occlusion: 200 kPa }",
        decode: |cx, kind, at, value| cx.alarm_config(kind, at, value),
        schema: schema::alarm_config,
    },
    StepKindDef {
        name: "bolus_config",
        in_setup: true,
        bare: false,
        example: "bolus_config: { dose: 50 uL, lockout: 1 h, max_per_24h: 4 }",
        decode: |cx, kind, at, value| cx.bolus_config(kind, at, value),
        schema: schema::bolus_config,
    },
    StepKindDef {
        name: "bolus",
        in_setup: true,
        bare: true,
        example: "bolus",
        decode: |cx, kind, at, value| cx.bolus(kind, at, value),
        schema: schema::bolus,
    },
    StepKindDef {
        name: "ack",
        in_setup: true,
        bare: false,
        example: "ack: OCCLUSION",
        decode: |cx, kind, at, value| cx.ack(kind, at, value),
        schema: schema::ack,
    },
    StepKindDef {
        name: "valve",
        in_setup: true,
        bare: false,
        example: "valve: close",
        decode: |cx, kind, at, value| cx.valve(kind, at, value),
        schema: schema::valve,
    },
    StepKindDef {
        name: "prompt",
        in_setup: true,
        bare: false,
        example: "prompt: \"Empty the collecting vessel, then press Enter\"",
        decode: |cx, kind, at, value| cx.prompt(kind, at, value),
        schema: schema::prompt,
    },
    StepKindDef {
        name: "probe",
        in_setup: true,
        bare: false,
        example: "probe: { bad_crc: STOP }",
        decode: |cx, kind, at, value| cx.probe(kind, at, value),
        schema: schema::probe,
    },
    StepKindDef {
        name: "inject",
        in_setup: true,
        bare: false,
        example: "inject: motor_stall",
        decode: |cx, kind, at, value| cx.inject(kind, at, value),
        schema: schema::inject,
    },
    StepKindDef {
        name: "wait",
        in_setup: false,
        bare: false,
        example: "wait: 30 min",
        decode: |cx, kind, at, value| cx.wait(kind, at, value),
        schema: schema::wait,
    },
    StepKindDef {
        name: "wait_until",
        in_setup: false,
        bare: false,
        example: "wait_until: { alarm: OCCLUSION, timeout: 40 min }",
        decode: |cx, kind, at, value| cx.wait_until(kind, at, value),
        schema: schema::wait_until,
    },
    StepKindDef {
        name: "mark",
        in_setup: false,
        bare: false,
        example: "mark: occluded",
        decode: |cx, kind, at, value| cx.mark(kind, at, value),
        schema: schema::mark,
    },
    StepKindDef {
        name: "check",
        in_setup: false,
        bare: false,
        example: "check: { id: released, volume: { from: released }, max: 150 uL }",
        decode: |cx, kind, at, value| cx.check_step(kind, at, value),
        schema: schema::check,
    },
];

/// The step kind called `name`.
pub fn step_kind(name: &str) -> Option<&'static StepKindDef> {
    STEP_KINDS.iter().find(|k| k.name == name)
}

/// The names of the step kinds allowed in `setup` (`true`) or in `steps`, in table order.
pub fn names(setup: bool) -> impl Iterator<Item = &'static str> {
    STEP_KINDS.iter().filter(move |k| k.in_setup || !setup).map(|k| k.name)
}

/// A measure of the language: what a check judges.
pub struct MeasureDef {
    /// The measure's key in a check, e.g. `flow_mean`.
    pub name: &'static str,
    pub(super) decode: DecodeMeasure,
    /// The JSON Schema of the measure's value.
    pub schema: fn() -> Value,
}

/// Every measure, in the order the docs and the schema list them.
pub static MEASURES: &[MeasureDef] = &[
    MeasureDef { name: "time_to", decode: |cx, key, value, at| cx.time_to(key, value, at), schema: schema::time_to },
    MeasureDef {
        name: "volume",
        decode: |cx, key, value, at| cx.interval_measure(key, value, at),
        schema: schema::volume,
    },
    MeasureDef {
        name: "flow_mean",
        decode: |cx, key, value, at| cx.interval_measure(key, value, at),
        schema: schema::flow_mean,
    },
    MeasureDef { name: "boluses", decode: |cx, key, value, at| cx.boluses(key, value, at), schema: schema::boluses },
    MeasureDef {
        name: "bolus_spacing_min",
        decode: |cx, key, value, at| cx.interval_measure(key, value, at),
        schema: schema::bolus_spacing_min,
    },
    MeasureDef {
        name: "max_window_volume",
        decode: |cx, key, value, at| cx.window_measure(key, value, at),
        schema: schema::max_window_volume,
    },
    MeasureDef {
        name: "pump_status",
        decode: |cx, key, value, at| cx.pump_status(key, value, at),
        schema: schema::pump_status,
    },
    MeasureDef {
        name: "occurrences",
        decode: |cx, key, value, at| cx.occurrences(key, value, at),
        schema: schema::occurrences,
    },
    MeasureDef {
        name: "min_window_volume",
        decode: |cx, key, value, at| cx.window_measure(key, value, at),
        schema: schema::min_window_volume,
    },
    MeasureDef {
        name: "trumpet",
        decode: |cx, key, value, at| cx.window_measure(key, value, at),
        schema: schema::trumpet,
    },
    MeasureDef {
        name: "flow_error",
        decode: |cx, key, value, at| cx.flow_error(key, value, at),
        schema: schema::flow_error,
    },
    MeasureDef {
        name: "flow_stop_to",
        decode: |cx, key, value, at| cx.flow_stop_to(key, value, at),
        schema: schema::flow_stop_to,
    },
    MeasureDef {
        name: "pump_change",
        decode: |cx, key, value, at| cx.pump_change(key, value, at),
        schema: schema::pump_change,
    },
    MeasureDef {
        name: "evseq_gaps",
        decode: |cx, key, value, at| cx.evseq_gaps(key, value, at),
        schema: schema::evseq_gaps,
    },
    MeasureDef {
        name: "setting",
        decode: |cx, key, value, at| cx.setting_measure(key, value, at),
        schema: schema::setting,
    },
];

/// The measure called `name`.
pub fn measure(name: &str) -> Option<&'static MeasureDef> {
    MEASURES.iter().find(|m| m.name == name)
}

/// The measures' names, in table order.
pub fn measure_names() -> Vec<&'static str> {
    MEASURES.iter().map(|m| m.name).collect()
}
