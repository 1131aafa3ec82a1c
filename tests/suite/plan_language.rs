//! The language end to end: plan text in, the executor's AST out.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Duration;

use rig::plan::load::load_text;
use rig::plan::*;
use rig::protocol::{AlarmCode, DenyReason, ErrCode, PumpState};

const HEAD: &str = "id: P\ntitle: t\nversion: 1.0.0\ncovers: [SRS-OCC-002, SRS-WDR-005, SRS-DOS-001]\nrequires: [pump, flow_sensor, valve, motor_stall, operator]\n";

fn plans(text: &str) -> Vec<Plan> {
    let out = load_text(text);
    let rendered: Vec<String> = out.diagnostics.iter().map(|d| d.render(Some(text))).collect();
    assert!(out.diagnostics.is_empty(), "{}", rendered.join("\n"));
    out.plans.expect("decoded")
}

fn one(steps: &str) -> Plan {
    let text = format!(
        "{HEAD}steps:\n{steps}  - check: {{ id: cover-a, occurrences: {{ alarm: OCCLUSION, from: start }}, min: 0, verifies: [SRS-OCC-002, SRS-WDR-005, SRS-DOS-001] }}\n"
    );
    plans(&text).remove(0)
}

#[test]
fn actions_map_onto_the_ast_in_canonical_units() {
    let p = one(
        "  - fill: 20 mL\n  - program: 0.5 mL/h\n  - limit: 24 mL\n  - alarm_config: { low_reservoir: 2 mL, occlusion: 200 kPa }\n  - bolus_config: { dose: 50 µL, lockout: 1 h, max_per_24h: 4 }\n  - start\n  - valve: close\n  - ack: OCCLUSION\n  - inject: { motor_stall: 5 min }\n  - inject: clear_motor_stall\n  - prompt: \"Press Enter\"\n  - probe: { bad_crc: PROGRAM basal_ul_h=20 }\n  - probe: repeat_seq\n  - stop\n",
    );
    let actions: Vec<&Action> = p
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Action { action, .. } => Some(action),
            _ => None,
        })
        .collect();
    assert_eq!(actions[0], &Action::Fill { volume_ul: 20_000.0 });
    assert_eq!(actions[1], &Action::Program { basal_ul_h: 500.0 });
    assert_eq!(actions[2], &Action::Limit { max_24h_ul: 24_000.0 });
    assert_eq!(actions[3], &Action::AlarmConfig { low_reservoir_ul: 2000.0, occlusion_kpa: 200.0 });
    assert_eq!(actions[4], &Action::BolusConfig { dose_ul: 50.0, lockout: Duration::from_secs(3600), max_per_24h: 4 });
    assert_eq!(actions[5], &Action::Start);
    assert_eq!(actions[6], &Action::Valve(ValveCommand::Close));
    assert_eq!(actions[7], &Action::Ack { alarm: AlarmCode::Occlusion });
    assert_eq!(actions[8], &Action::Inject(Injection::MotorStall { duration: Some(Duration::from_secs(300)) }));
    assert_eq!(actions[9], &Action::Inject(Injection::ClearMotorStall));
    assert_eq!(actions[10], &Action::Prompt { text: "Press Enter".into() });
    assert_eq!(
        actions[11],
        &Action::Probe(Probe::BadCrc { command: rig::protocol::Command::Program { basal_ul_h: 20.0 } })
    );
    assert_eq!(actions[12], &Action::Probe(Probe::RepeatSeq));
    assert_eq!(actions[13], &Action::Stop);
    assert_eq!(p.steps[0].pos, Pos { line: 7, column: 5 });
    assert_eq!(p.steps[0].label, "fill 20 mL");
    assert_eq!(p.steps[8].label, "inject motor_stall for 5 min");
    assert_eq!(p.sample_period, Duration::from_secs(1));
    assert_eq!(p.status_period, Duration::from_secs(10));
    assert_eq!(p.max_duration, None);
}

#[test]
fn expectations() {
    let p = one(
        "  - bolus: { expect: { refused: ALARM, id: a, verifies: [SRS-WDR-005] } }\n  - start: { expect: { refused: STATE, id: b } }\n  - program: { basal: 1001 uL/h, expect: { refused: any, id: c } }\n  - bolus: { expect: { accepted: true, id: d } }\n",
    );
    let expects: Vec<(&str, &ExpectedOutcome, &Vec<String>)> = p
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Action { expect: Some(e), .. } => Some((e.id.as_str(), &e.outcome, &e.verifies)),
            _ => None,
        })
        .collect();
    assert_eq!(expects[0].0, "a");
    assert_eq!(expects[0].1, &ExpectedOutcome::Refused { code: None, reason: Some(DenyReason::Alarm) });
    assert_eq!(expects[0].2, &vec!["SRS-WDR-005".to_string()]);
    assert_eq!(expects[1].1, &ExpectedOutcome::Refused { code: Some(ErrCode::State), reason: None });
    assert_eq!(expects[2].1, &ExpectedOutcome::Refused { code: None, reason: None });
    assert_eq!(expects[3].1, &ExpectedOutcome::Accepted);
    assert_eq!(p.steps[0].label, "bolus (expect refused ALARM)");
}

#[test]
fn repeats_waits_and_conditions() {
    let p = one(
        "  - bolus: { every: 30 min, for: 2 h }\n  - bolus: { every: 15 min, count: 8 }\n  - bolus: { every: 1 h, for: 150 min }\n  - wait_until: { state: ALARM, timeout: 40 min }\n  - wait_until: { flow_below: 1 uL/min, timeout: 1 min }\n  - wait_until: { cleared: OCCLUSION, timeout: 2 h }\n  - wait: 250 ms\n",
    );
    let repeat = |i: usize| match &p.steps[i].kind {
        StepKind::Action { action: Action::Bolus { repeat: Some(r) }, .. } => *r,
        other => panic!("{other:?}"),
    };
    assert_eq!(repeat(0), Repeat { every: Duration::from_secs(1800), count: 4 });
    assert_eq!(repeat(1), Repeat { every: Duration::from_secs(900), count: 8 });
    assert_eq!(repeat(2).count, 2, "for: floor(150 min / 1 h)");
    assert_eq!(p.steps[0].label, "bolus every 30 min for 2 h (4 requests)");
    assert_eq!(
        p.steps[3].kind,
        StepKind::WaitUntil {
            condition: Condition::State(PumpState::Alarm),
            timeout: Duration::from_secs(2400),
            already_active_ok: false
        }
    );
    assert_eq!(p.steps[3].label, "wait until state ALARM (timeout 40 min)");
    assert_eq!(
        p.steps[4].kind,
        StepKind::WaitUntil {
            condition: Condition::FlowBelow(60.0),
            timeout: Duration::from_secs(60),
            already_active_ok: false
        }
    );
    assert_eq!(p.steps[5].label, "wait until OCCLUSION cleared (timeout 2 h)");
    assert_eq!(p.steps[6].kind, StepKind::Wait(Duration::from_millis(250)));
}

#[test]
fn checks_measures_and_limits() {
    let p = one(
        "  - mark: a\n  - wait: 1 h\n  - mark: b\n  - check: { id: t, time_to: { alarm: OCCLUSION, from: a }, max: 20 min }\n  - check: { id: f, flow_mean: { from: a, to: b }, nominal: 500 uL/h, tolerance: 10 % }\n  - check: { id: v, volume: { from: b }, nominal: 100 uL, tolerance: 5 uL }\n  - check: { id: g, boluses: { granted: true, from: start }, min: 3 }\n  - check: { id: d, boluses: { denied: any, from: a }, max: 0 }\n  - check: { id: s, bolus_spacing_min: { from: start }, min: 1 h }\n  - check: { id: w, max_window_volume: { window: 24 h, from: start }, max: 1.2 mL }\n  - check: { id: r, pump_status: { field: reservoir_ul, at: a }, min: 2 mL }\n  - check: { id: p, pump_status: { field: pressure_kpa, at: now }, max: 100 kPa }\n",
    );
    let checks: Vec<&Check> = p.checks().collect();
    assert_eq!(
        checks[0].measure,
        Measure::TimeTo { from: "a".into(), condition: Condition::Alarm(AlarmCode::Occlusion) }
    );
    assert_eq!(checks[0].limits, Limits { min: None, max: Some(1200.0), nominal: None, drift: None });
    assert_eq!(checks[0].title, "time from `a` to alarm OCCLUSION ≤ 20 min");
    assert_eq!(
        checks[1].measure,
        Measure::FlowMean(Interval { from: Endpoint::Mark("a".into()), to: Endpoint::Mark("b".into()) })
    );
    assert_eq!(checks[1].limits.nominal, Some((500.0, Tolerance::Percent(10.0))));
    assert_eq!(checks[1].limits.bounds(), (Some(450.0), Some(550.0)));
    assert_eq!(checks[1].title, "mean flow from `a` to `b` 500 uL/h ± 10 %");
    assert_eq!(checks[2].limits.nominal, Some((100.0, Tolerance::Absolute(5.0))));
    assert_eq!(checks[2].measure, Measure::Volume(Interval { from: Endpoint::Mark("b".into()), to: Endpoint::Now }));
    assert_eq!(
        checks[3].measure,
        Measure::Boluses {
            granted: true,
            reason: None,
            interval: Interval { from: Endpoint::Start, to: Endpoint::Now }
        }
    );
    assert_eq!(checks[3].limits.min, Some(3.0));
    assert!(matches!(checks[4].measure, Measure::Boluses { granted: false, reason: None, .. }));
    assert_eq!(checks[5].limits.min, Some(3600.0));
    assert_eq!(checks[6].limits.max, Some(1200.0));
    assert_eq!(checks[7].measure, Measure::PumpValue { field: PumpField::ReservoirUl, at: Some("a".into()) });
    assert_eq!(checks[7].limits.min, Some(2000.0));
    assert_eq!(checks[8].measure, Measure::PumpValue { field: PumpField::PressureKpa, at: None });
    assert_eq!(p.steps[3].label, "check t: time from `a` to alarm OCCLUSION ≤ 20 min");
}

#[test]
fn cases_expand_into_one_plan_each() {
    let text = format!(
        "{HEAD}max_duration: 3 h\ncases:\n  - {{ name: fast, rate: 500 uL/h, limit: 20 min, ids: [SRS-OCC-002] }}\n  - {{ name: slow, rate: 100 uL/h, limit: 75 min, ids: [] }}\nsetup:\n  - limit: 24 mL\n  - program: ${{rate}}\nsteps:\n  - start\n  - mark: closed\n  - valve: close\n  - wait_until: {{ alarm: OCCLUSION, timeout: 2 h }}\n  - check: {{ id: t, title: \"within ${{limit}} at ${{rate}}\", time_to: {{ alarm: OCCLUSION, from: closed }}, max: \"${{limit}}\", verifies: \"${{ids}}\" }}\n  - bolus: {{ expect: {{ refused: ALARM, id: b, verifies: [SRS-WDR-005, SRS-DOS-001] }} }}\n"
    );
    let p = plans(&text);
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].run_name(), "P[fast]");
    assert_eq!(p[1].run_name(), "P[slow]");
    assert_eq!(p[1].case.as_ref().map(|c| c.params["rate"].as_str()), Some("100 uL/h"));
    assert_eq!(p[1].case.as_ref().map(|c| c.params["ids"].as_str()), Some("[]"));
    assert_eq!(p[0].steps[1].kind, StepKind::Action { action: Action::Program { basal_ul_h: 500.0 }, expect: None });
    assert_eq!(p[1].steps[1].kind, StepKind::Action { action: Action::Program { basal_ul_h: 100.0 }, expect: None });
    let check = |i: usize| p[i].checks().next().cloned().expect("a check");
    assert_eq!(check(0).limits.max, Some(1200.0));
    assert_eq!(check(1).limits.max, Some(4500.0));
    assert_eq!(check(0).title, "within 20 min at 500 uL/h");
    assert_eq!(check(0).verifies, vec!["SRS-OCC-002".to_string()]);
    assert!(check(1).verifies.is_empty());
}

#[test]
fn the_loader_hashes_each_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "{HEAD}steps:\n  - start\n  - check: {{ id: c, occurrences: {{ alarm: OCCLUSION, from: start }}, max: 0, verifies: [SRS-OCC-002, SRS-WDR-005, SRS-DOS-001] }}\n"
    );
    std::fs::write(dir.path().join("p.yaml"), &text).expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not a plan").expect("write");
    let out = load_plans(&[dir.path().to_path_buf()]);
    assert!(out.is_ok(), "{}", out.render_diagnostics());
    assert_eq!(out.plans.len(), 1, "only *.yaml and *.yml are plans");
    // SHA-256 of the file's bytes, lower-case hex.
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(out.plans[0].sha256, want);
    let again = load_plans(&[dir.path().join("p.yaml")]);
    assert_eq!(again.plans[0].sha256, out.plans[0].sha256);
    std::fs::write(dir.path().join("p.yaml"), format!("{text}# changed\n")).expect("write");
    let changed = load_plans(&[dir.path().join("p.yaml")]);
    assert_ne!(changed.plans[0].sha256, out.plans[0].sha256);
    let missing = load_plans(&[dir.path().join("nope.yaml")]);
    assert!(missing.render_diagnostics().contains("cannot read"), "{}", missing.render_diagnostics());
}

/// The names in backticks of a grammar rule `name := a | b | ...` (continued on the lines below
/// that start with `|`) in docs/plan-language.md.
fn grammar_rule(doc: &str, rule: &str) -> Vec<String> {
    let mut lines = doc.lines().skip_while(|l| !l.starts_with(&format!("{rule} ")));
    let mut text = lines.next().unwrap_or_else(|| panic!("no `{rule} :=` in the grammar")).to_string();
    text.extend(lines.take_while(|l| l.trim_start().starts_with('|')).map(|l| format!(" {l}")));
    let body = text.split_once(":=").expect(":=").1;
    // `exactly one` and the like are comments after the alternatives.
    body.split('|')
        .map(|alt| alt.split_whitespace().next().unwrap_or_default().to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

/// The first column's `name` of each row of the first table under `heading`.
fn table_names(doc: &str, heading: &str) -> Vec<String> {
    doc.lines()
        .skip_while(|l| *l != heading)
        .skip(1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cell = l.trim_start_matches("| `");
            let name = cell.split('`').next().unwrap_or_default();
            name.split(':').next().unwrap_or_default().to_string()
        })
        .collect()
}

#[test]
fn the_docs_list_the_step_kinds_and_measures_of_the_table() {
    use rig::plan::decode::kinds::{MEASURES, STEP_KINDS, names};
    let doc = std::fs::read_to_string("docs/plan-language.md").expect("docs/plan-language.md");
    let actions: Vec<String> = names(true).map(String::from).collect();
    let others: Vec<String> = STEP_KINDS.iter().filter(|k| !k.in_setup).map(|k| k.name.to_string()).collect();
    let measures: Vec<String> = MEASURES.iter().map(|m| m.name.to_string()).collect();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    assert_eq!(grammar_rule(&doc, "action"), actions, "the grammar's `action :=`");
    let mut step = vec!["action".to_string()];
    step.extend(others.iter().cloned());
    assert_eq!(grammar_rule(&doc, "step"), step, "the grammar's `step :=`");
    assert_eq!(sorted(grammar_rule(&doc, "MEASURE")), sorted(measures.clone()), "the grammar's `MEASURE :=`");

    assert_eq!(table_names(&doc, "## Actions"), actions, "the table of actions");
    assert_eq!(table_names(&doc, "## Waiting and marking"), others[..3].to_vec(), "the table of waits and marks");
    assert_eq!(table_names(&doc, "## Checks"), measures, "the table of measures");

    let bare: Vec<String> = STEP_KINDS.iter().filter(|k| k.bare).map(|k| format!("`- {}`", k.name)).collect();
    assert!(doc.contains(&format!("({})", bare.join(", "))), "the docs name the bare steps {bare:?}");
}

/// `load_text` on a thread, so that a loader that does not finish fails the test instead of
/// hanging it (a hang detector, not a speed assertion: the bound is minutes).
fn load_text_within(text: String) -> rig::plan::load::TextOutcome {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load_text(&text));
    });
    rx.recv_timeout(Duration::from_secs(120)).expect("the loader must finish")
}

fn case_plan(cases: usize) -> String {
    let rows: String = (0..cases).map(|i| format!("  - {{ name: c{i}, rate: {} uL/h }}\n", 2 + i % 900)).collect();
    format!(
        "{HEAD}cases:\n{rows}steps:\n  - program: ${{rate}}\n  - check: {{ id: c, occurrences: {{ alarm: OCCLUSION, from: start }}, max: 0, verifies: [SRS-OCC-002, SRS-WDR-005, SRS-DOS-001] }}\n"
    )
}

#[test]
fn a_thousand_cases_expand_and_a_hundred_thousand_are_refused() {
    let out = load_text_within(case_plan(1000));
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics.first());
    assert_eq!(out.plans.map(|p| p.len()), Some(1000));
    let out = load_text_within(case_plan(100_000));
    assert!(out.plans.is_none());
    let messages: Vec<&str> = out.diagnostics.iter().map(|d| d.message.as_str()).collect();
    // Refused by the size of its table (over the node limit of the YAML tree, or the case limit).
    assert!(
        messages.iter().any(|m| m.contains("a plan has at most") || m.contains("more than 50000 values")),
        "{:?}",
        &messages[..messages.len().min(3)]
    );
    let rows = case_plan(1001);
    let out = load_text_within(rows);
    assert!(out.diagnostics.iter().any(|d| d.message == "`cases` has 1001 rows; a plan has at most 1000"));
}

#[test]
fn count_and_for_share_one_limit_on_repeated_requests() {
    let errors = |step: &str| -> Vec<String> {
        let text = format!("{HEAD}steps:\n  - {step}\n");
        load_text(&text).diagnostics.into_iter().map(|d| d.message).collect()
    };
    let by_count = errors("bolus: { every: 1 s, count: 1000000000 }");
    assert!(
        by_count.iter().any(|m| m == "`1000000000` makes 1000000000 requests; a repeated bolus makes at most 100000"),
        "{by_count:?}"
    );
    let by_for = errors("bolus: { every: 1 s, for: 1000000000 s }");
    assert!(
        by_for.iter().any(|m| m == "`1000000000 s` makes 1000000000 requests; a repeated bolus makes at most 100000"),
        "{by_for:?}"
    );
    let ok = errors("bolus: { every: 1 s, count: 100000 }");
    assert!(!ok.iter().any(|m| m.contains("requests;")), "{ok:?}");
}

#[test]
fn a_sample_period_down_to_10_ms_is_allowed() {
    let text = format!(
        "{HEAD}sample_period: 10 ms\nstatus_period: 10 ms\nsteps:\n  - start\n  - check: {{ id: c, occurrences: {{ alarm: OCCLUSION, from: start }}, max: 0, verifies: [SRS-OCC-002, SRS-WDR-005, SRS-DOS-001] }}\n"
    );
    assert_eq!(plans(&text)[0].sample_period, Duration::from_millis(10));
}

#[test]
fn settings_outside_the_icd_ranges_are_errors_unless_the_refusal_is_expected() {
    let errors = |step: &str| -> Vec<String> {
        let text = format!("{HEAD}steps:\n  - {step}\n");
        load_text(&text).diagnostics.into_iter().map(|d| d.message).collect()
    };
    let out = errors("bolus_config: { dose: 50 uL, lockout: 25 h, max_per_24h: 4 }");
    assert!(
        out.contains(&"`25 h` (90000 s) is outside the pump's range for `BOLUS_CONFIG lockout_s`".to_string()),
        "{out:?}"
    );
    for (step, ok) in [
        ("fill: 40 mL", true),
        ("fill: 40.001 mL", false),
        ("program: 2 uL/h", true),
        ("program: 1.999 uL/h", false),
        ("limit: 48 uL", true),
        ("limit: 24.0001 mL", false),
        ("bolus_config: { dose: 1 uL, lockout: 0 s, max_per_24h: 0 }", true),
        ("bolus_config: { dose: 500.001 uL, lockout: 0 s, max_per_24h: 0 }", false),
        ("alarm_config: { low_reservoir: 0.5 mL, occlusion: 50 kPa }", true),
        ("alarm_config: { low_reservoir: 5001 uL, occlusion: 50 kPa }", false),
        ("program: { basal: 1000.5 uL/h, expect: { refused: RANGE, id: r } }", true),
        ("limit: { max_24h: 30 mL, expect: { refused: any, id: r } }", true),
        ("limit: { max_24h: 30 mL, expect: { accepted: true, id: r } }", false),
    ] {
        let out = errors(step);
        let flagged = out.iter().any(|m| m.contains("outside the pump's range"));
        assert_eq!(flagged, !ok, "{step}: {out:?}");
    }
}

#[test]
fn injections_map_onto_the_icd_requests() {
    let text = format!(
        "id: P\ntitle: t\nversion: 1.0.0\ncovers: []\nrequires: [pump, motor_stall, watchdog_reset, frame_corruption, link_silence, sensor_nack, sensor_air, sensor_stuck]\nsteps:\n{}",
        [
            "motor_stall",
            "{ motor_stall: 5 min }",
            "clear_motor_stall",
            "watchdog_reset",
            "{ link: corrupt, permille: 50 }",
            "{ link: corrupt, permille: 0 }",
            "{ link: silence, for: 30 s }",
            "{ sensor: nack, count: 3 }",
            "{ sensor: air }",
            "{ sensor: air, for: 2 min }",
            "{ sensor: air, on: false }",
            "{ sensor: stuck, on: true }",
        ]
        .iter()
        .map(|i| format!("  - inject: {i}\n"))
        .collect::<String>()
    );
    let p = plans(&text).remove(0);
    let got: Vec<(Injection, &str)> = p
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Action { action: Action::Inject(i), .. } => Some((*i, s.label.as_str())),
            _ => None,
        })
        .collect();
    let secs = Duration::from_secs;
    assert_eq!(
        got,
        vec![
            (Injection::MotorStall { duration: None }, "inject motor_stall"),
            (Injection::MotorStall { duration: Some(secs(300)) }, "inject motor_stall for 5 min"),
            (Injection::ClearMotorStall, "inject clear_motor_stall"),
            (Injection::WatchdogReset, "inject watchdog_reset"),
            (Injection::LinkCorrupt { permille: 50 }, "inject link corrupt 50 ‰ of frames"),
            (Injection::LinkCorrupt { permille: 0 }, "inject link corrupt off"),
            (Injection::LinkSilence { duration: secs(30) }, "inject link silence for 30 s"),
            (Injection::SensorNack { count: 3 }, "inject sensor nack × 3"),
            (Injection::SensorAir { on: true, duration: None }, "inject sensor air"),
            (Injection::SensorAir { on: true, duration: Some(secs(120)) }, "inject sensor air for 2 min"),
            (Injection::SensorAir { on: false, duration: None }, "inject sensor air off"),
            (Injection::SensorStuck { on: true, duration: None }, "inject sensor stuck"),
        ]
    );
    let names: Vec<Option<&str>> = Capability::ALL.iter().map(|c| c.inject_name()).collect();
    assert_eq!(
        names,
        [
            None,
            None,
            None,
            Some("STALL"),
            Some("WATCHDOG"),
            Some("CORRUPT"),
            Some("SILENCE"),
            Some("SENSOR_NACK"),
            Some("SENSOR_AIR"),
            Some("SENSOR_STUCK"),
            None
        ]
    );
}

#[test]
fn wait_until_an_alarm_may_accept_one_already_active() {
    let p = one(
        "  - wait_until: { alarm: RESERVOIR_LOW, timeout: 10 min, already_active: ok }\n  - wait_until: { alarm: OCCLUSION, timeout: 10 min }\n",
    );
    assert_eq!(
        p.steps[0].kind,
        StepKind::WaitUntil {
            condition: Condition::Alarm(AlarmCode::ReservoirLow),
            timeout: Duration::from_secs(600),
            already_active_ok: true
        }
    );
    assert_eq!(p.steps[0].label, "wait until alarm RESERVOIR_LOW, or already active (timeout 10 min)");
    assert!(matches!(p.steps[1].kind, StepKind::WaitUntil { already_active_ok: false, .. }));
}

#[test]
fn setting_measures_read_settings_at_a_mark_or_at_the_check() {
    let p = one(
        "  - mark: a\n  - check: { id: s1, setting: basal_ul_h, nominal: 100 uL/h, tolerance: 0 uL/h }\n  - check: { id: s2, setting: { field: lockout_s, at: a }, min: 1 h }\n  - check: { id: s3, setting: therapy, min: on }\n  - check: { id: s4, setting: { field: therapy, at: now }, max: off }\n",
    );
    let checks: Vec<&Check> = p.checks().collect();
    assert_eq!(checks[0].measure, Measure::Setting { field: SettingField::BasalUlH, at: None });
    assert_eq!(checks[0].measure.unit(), Unit::MicrolitresPerHour);
    assert_eq!(checks[1].measure, Measure::Setting { field: SettingField::LockoutS, at: Some("a".into()) });
    assert_eq!(checks[1].limits.min, Some(3600.0));
    assert_eq!(checks[2].measure, Measure::Setting { field: SettingField::Therapy, at: None });
    assert_eq!((checks[2].limits.min, checks[2].measure.unit()), (Some(1.0), Unit::Count));
    assert_eq!(checks[3].limits.max, Some(0.0));
    assert_eq!(checks[1].title, "setting lockout_s at `a` ≥ 1 h");
}
