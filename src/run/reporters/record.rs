//! Builds the case's [`CaseRecord`] from the run event stream: steps and their timing, marks,
//! the pump's identity, alarms and states, valve moves, checks and the verdict. It keeps no
//! samples (those stream to `samples.csv`), so its memory does not grow with the run's length
//! beyond the steps and events of the plan.

use std::sync::{Arc, Mutex};

use crate::evidence::record::{
    AnomalyRecord, BolusRecord, CaseRecord, LostEventsRecord, MarkRecord, PumpCommandRecord, PumpEventRecord,
    PumpStateRecord, SafeStateRecord, SlowAnswers, Span, StepRecord, UnlistedPumpEvents,
};
use crate::protocol::{BolusReply, Command, EventKind, Request};
use crate::run::event::{Reporter, RunEvent, RunEventKind};

/// The record being built, shared with the runner, which completes and writes it once the case
/// is over (also when the case task panicked: what was recorded up to then is kept).
pub type SharedRecord = Arc<Mutex<CaseRecord>>;

pub struct RecordReporter {
    record: SharedRecord,
    /// Readings flagged air in line since the last sample: only the first of a run is an anomaly.
    in_air: bool,
}

/// Slow answers listed one by one among the anomalies; the rest are only counted
/// (`slow_answers`), so that a pump slow on every poll of a week-long run does not swell the
/// record. Every one is in `events.jsonl`.
pub const SLOW_ANSWERS_LISTED: u64 = 100;

/// Valve actions as the executor reports them (`BenchAction.what`).
const VALVE_CLOSE: &str = "valve close";
const VALVE_OPEN: &str = "valve open";

impl RecordReporter {
    pub fn new(record: SharedRecord) -> Self {
        Self { record, in_air: false }
    }
}

impl Reporter for RecordReporter {
    fn on_event(&mut self, event: &RunEvent) {
        let mut r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        let at = event.at.as_secs_f64();
        r.bench_time_s = r.bench_time_s.max(at);
        match &event.kind {
            RunEventKind::PumpIdentified(id) => r.pump = Some((**id).clone()),
            RunEventKind::StartUp(found) => r.start_up = Some((**found).clone()),
            RunEventKind::PumpAtStart(snapshot) => r.pump_at_start = Some((**snapshot).clone()),
            RunEventKind::LeftOverCleared { acknowledged } => r.left_over_cleared.extend(acknowledged.iter().cloned()),
            RunEventKind::EventGap { expected, received } => r.lost_events.push(LostEventsRecord {
                at_s: at,
                expected: *expected,
                received: *received,
                resynced: None,
            }),
            RunEventKind::AlarmsResynced { active } => {
                if let Some(gap) = r.lost_events.iter_mut().rev().find(|g| g.resynced.is_none()) {
                    gap.resynced = Some(active.clone());
                }
            }
            RunEventKind::Anomaly { what } => r.anomalies.push(AnomalyRecord { at_s: at, what: what.clone() }),
            RunEventKind::SlowAnswer { command, latency_ms, allowed_ms } => {
                SlowAnswers::add(&mut r.slow_answers, at, command, *latency_ms, *allowed_ms);
                let count = r.slow_answers.as_ref().map_or(0, |s| s.count);
                if count <= SLOW_ANSWERS_LISTED {
                    let mut what = event.kind.anomaly_text().unwrap_or_default();
                    if count == SLOW_ANSWERS_LISTED {
                        what.push_str("; further slow answers are only counted (`slow_answers`)");
                    }
                    r.anomalies.push(AnomalyRecord { at_s: at, what });
                }
            }
            RunEventKind::SampleFailed { .. } | RunEventKind::SensorFault { .. } => {
                let what = event.kind.anomaly_text().unwrap_or_default();
                r.anomalies.push(AnomalyRecord { at_s: at, what });
            }
            RunEventKind::AirInLine(reading) => {
                if !self.in_air {
                    let what = format!(
                        "flow sensor flagged air in line (frame {}, flags 0x{:04x}); readings flagged so are not counted as flow until the next clean one",
                        reading.raw, reading.flags
                    );
                    r.anomalies.push(AnomalyRecord { at_s: at, what });
                }
                self.in_air = true;
            }
            RunEventKind::PumpSilent { why } => r.anomalies.push(AnomalyRecord { at_s: at, what: why.clone() }),
            RunEventKind::LinkLost { reason } => {
                r.anomalies.push(AnomalyRecord { at_s: at, what: format!("serial link lost: {reason}") })
            }
            RunEventKind::StepStarted { index, label } => {
                r.steps.push(StepRecord { index: *index, label: label.clone(), started_s: at, finished_s: None })
            }
            RunEventKind::StepFinished { index } => {
                if let Some(s) = r.steps.iter_mut().rev().find(|s| s.index == *index) {
                    s.finished_s = Some(at);
                }
            }
            RunEventKind::Mark { name } => r.marks.push(MarkRecord { name: name.clone(), at_s: at }),
            RunEventKind::PumpEvent { event } => {
                let (kind, what) = match &event.kind {
                    EventKind::Alarm { code, .. } => ("ALARM", code.to_string()),
                    EventKind::Clear { code } => ("CLEAR", code.to_string()),
                    EventKind::Boot { reason } => ("BOOT", reason.to_string()),
                    EventKind::BolusStart { id } => {
                        if let Some(b) = bolus(&mut r.boluses, *id, |b| b.started_s.is_none()) {
                            b.started_s = Some(at);
                        }
                        return;
                    }
                    EventKind::BolusEnd { id, delivered_ul } => {
                        if let Some(b) = bolus(&mut r.boluses, *id, |b| b.ended_s.is_none()) {
                            (b.ended_s, b.delivered_ul) = (Some(at), Some(*delivered_ul));
                        }
                        return;
                    }
                    _ => return,
                };
                let r = &mut *r;
                let event = PumpEventRecord { at_s: at, kind: kind.into(), what };
                UnlistedPumpEvents::push(&mut r.pump_events, &mut r.pump_events_unlisted, event);
            }
            RunEventKind::PumpStatus { status: s, .. } => {
                let state = s.state.to_string();
                let changed = r.pump_states.last().is_none_or(|p| p.state != state || p.basal_ul_h != s.basal_ul_h);
                if changed {
                    r.pump_states.push(PumpStateRecord { at_s: at, state, basal_ul_h: s.basal_ul_h });
                }
            }
            RunEventKind::BenchAction { what, outcome } if what.starts_with(VALVE_CLOSE) && outcome == "accepted" => {
                r.valve_closed.push(Span { from_s: at, to_s: None })
            }
            RunEventKind::BenchAction { what, outcome } if what.starts_with(VALVE_OPEN) && outcome == "accepted" => {
                close_span(&mut r.valve_closed, at)
            }
            RunEventKind::Bolus { reply: BolusReply::Granted { id } } => {
                // The pump may report the bolus starting before its answer to the request arrives.
                if let Some(b) = bolus(&mut r.boluses, *id, |b| b.requested_s.is_none()) {
                    b.requested_s = Some(at);
                }
            }
            RunEventKind::Bolus { reply: BolusReply::Denied { reason } } => r.boluses.push(BolusRecord {
                requested_s: Some(at),
                granted: false,
                id: None,
                refused: Some(reason.to_string()),
                started_s: None,
                ended_s: None,
                delivered_ul: None,
            }),
            RunEventKind::BenchAction { what, outcome } if is_pump_command(what) => {
                r.pump_commands.push(PumpCommandRecord { at_s: at, command: what.clone(), outcome: outcome.clone() })
            }
            RunEventKind::Sample(_) => {
                r.samples += 1;
                self.in_air = false;
            }
            RunEventKind::SamplerStats(stats) => r.sampler = Some((**stats).clone()),
            RunEventKind::Check(outcome) => r.checks.push((**outcome).clone()),
            RunEventKind::SafeState { pump_stopped, valve_open } => {
                if pump_stopped.is_ok() && valve_open.is_ok() {
                    close_span(&mut r.valve_closed, at);
                }
                r.safe_state = SafeStateRecord {
                    reached: pump_stopped.is_ok() && valve_open.is_ok(),
                    pump_stopped: Some(pump_stopped.clone().map_or_else(|e| e, |()| "ok".into())),
                    valve_open: Some(valve_open.clone().map_or_else(|e| e, |()| "ok".into())),
                };
            }
            RunEventKind::CaseFinished { verdict, reason } => {
                r.verdict = *verdict;
                r.reason = reason.clone();
            }
            _ => {}
        }
    }
}

/// The latest granted bolus `id` for which `open` holds (the record of the event about to be
/// filled in), or a new one: ids start again after a reset, and a pump may report a bolus whose
/// request the record did not see.
fn bolus(boluses: &mut Vec<BolusRecord>, id: u32, open: impl Fn(&BolusRecord) -> bool) -> Option<&mut BolusRecord> {
    let wanted = |b: &BolusRecord| b.id == Some(id) && open(b);
    if !boluses.iter().any(wanted) {
        boluses.push(BolusRecord {
            requested_s: None,
            granted: true,
            id: Some(id),
            refused: None,
            started_s: None,
            ended_s: None,
            delivered_ul: None,
        });
    }
    boluses.iter_mut().rev().find(|b| wanted(b))
}

/// A bench action that is a pump command as the ICD writes it, bolus requests aside (those are
/// recorded with their answers in `boluses`).
fn is_pump_command(what: &str) -> bool {
    Request::parse(&format!("1 {what}")).is_ok_and(|r| r.command != Command::Bolus)
}

fn close_span(spans: &mut [Span], at: f64) {
    if let Some(open) = spans.last_mut().filter(|s| s.to_s.is_none()) {
        open.to_s = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::RigTime;
    use crate::protocol::{DenyReason, Event};

    fn feed(events: Vec<(f64, RunEventKind)>) -> CaseRecord {
        let mut start = crate::evidence::report::tests::occlusion_record();
        (start.boluses, start.pump_commands) = (Vec::new(), Vec::new());
        let record: SharedRecord = Arc::new(Mutex::new(start));
        let mut reporter = RecordReporter::new(record.clone());
        for (at, kind) in events {
            reporter.on_event(&RunEvent { at: RigTime::from_secs_f64(at), kind });
        }
        record.lock().unwrap().clone()
    }

    fn pump(kind: EventKind) -> RunEventKind {
        RunEventKind::PumpEvent { event: Event { evseq: 1, pump_ms: 0, kind } }
    }

    fn action(what: &str, outcome: &str) -> RunEventKind {
        RunEventKind::BenchAction { what: what.into(), outcome: outcome.into() }
    }

    #[test]
    fn boluses_are_recorded_from_request_to_end() {
        let r = feed(vec![
            (10.0, RunEventKind::Bolus { reply: BolusReply::Granted { id: 1 } }),
            (10.1, pump(EventKind::BolusStart { id: 1 })),
            (190.1, pump(EventKind::BolusEnd { id: 1, delivered_ul: 50.0 })),
            (200.0, RunEventKind::Bolus { reply: BolusReply::Denied { reason: DenyReason::Lockout } }),
            // The pump's START event may come before its answer to the request.
            (300.0, pump(EventKind::BolusStart { id: 2 })),
            (300.01, RunEventKind::Bolus { reply: BolusReply::Granted { id: 2 } }),
            // After a reset the pump counts ids from 1 again: a new bolus, not the first one.
            (400.0, RunEventKind::Bolus { reply: BolusReply::Granted { id: 1 } }),
            (400.1, pump(EventKind::BolusStart { id: 1 })),
        ]);
        let b = &r.boluses;
        assert_eq!(b.len(), 4, "{b:#?}");
        assert_eq!(
            b[0],
            BolusRecord {
                requested_s: Some(10.0),
                granted: true,
                id: Some(1),
                refused: None,
                started_s: Some(10.1),
                ended_s: Some(190.1),
                delivered_ul: Some(50.0),
            }
        );
        assert_eq!((b[1].granted, b[1].refused.as_deref(), b[1].requested_s), (false, Some("LOCKOUT"), Some(200.0)));
        assert_eq!((b[2].id, b[2].requested_s, b[2].started_s), (Some(2), Some(300.01), Some(300.0)));
        assert_eq!(
            (b[3].id, b[3].requested_s, b[3].started_s, b[3].ended_s),
            (Some(1), Some(400.0), Some(400.1), None)
        );
    }

    #[test]
    fn sensor_faults_and_slow_answers_are_anomalies_with_their_evidence() {
        use crate::run::event::FlaggedReading;
        let air = |raw: &str| {
            RunEventKind::AirInLine(FlaggedReading {
                done_at: RigTime::ZERO,
                flow_ul_h: 812.5,
                temperature_c: 23.0,
                flags: 1,
                raw: raw.into(),
            })
        };
        let slow = |command: &str, latency_ms| RunEventKind::SlowAnswer {
            command: command.into(),
            latency_ms,
            allowed_ms: 50,
        };
        let r = feed(vec![
            (1.0, RunEventKind::SampleFailed { reason: "no acknowledge".into(), in_a_row: 1 }),
            (2.0, air("03cfe311f820000191")),
            (3.0, air("03d0ad11f820000191")),
            (4.0, slow("7 STATUS", 401.0)),
            (5.0, slow("8 STATUS", 403.5)),
            (6.0, RunEventKind::SensorFault { why: "flow sensor X: stuck".into(), raw: Some("00".into()) }),
        ]);
        let what: Vec<&str> = r.anomalies.iter().map(|a| a.what.as_str()).collect();
        assert_eq!(what.len(), 5, "one anomaly per run of air readings: {what:#?}");
        assert!(what[0].contains("1 in a row") && what[0].contains("no acknowledge"), "{}", what[0]);
        assert!(what[1].contains("air in line (frame 03cfe311f820000191, flags 0x0001)"), "{}", what[1]);
        assert!(what[2].contains("`7 STATUS` 401.0 ms") && what[2].contains("allows 50 ms"), "{}", what[2]);
        assert_eq!(what[4], "flow sensor X: stuck");
        let s = r.slow_answers.expect("counted");
        assert_eq!((s.count, s.worst_ms, s.worst_command.as_str(), s.worst_at_s), (2, 403.5, "8 STATUS", 5.0));
    }

    #[test]
    fn pump_commands_are_recorded_with_their_answers_and_nothing_else() {
        let r = feed(vec![
            (0.1, action("ALARM_CONFIG low_reservoir_ul=500 occlusion_kpa=200", "accepted")),
            (0.2, action("PROGRAM basal_ul_h=5000", "refused it (ERR RANGE)")),
            (0.3, action("valve close (energise)", "accepted")),
            (0.4, action("BOLUS", "granted it")),
            (0.5, action("BOLUS every 900 s, 48 times", "accepted")),
            (0.6, action("ACK code=OCCLUSION", "refused it (ERR STATE)")),
        ]);
        let commands: Vec<(&str, &str)> =
            r.pump_commands.iter().map(|c| (c.command.as_str(), c.outcome.as_str())).collect();
        assert_eq!(
            commands,
            [
                ("ALARM_CONFIG low_reservoir_ul=500 occlusion_kpa=200", "accepted"),
                ("PROGRAM basal_ul_h=5000", "refused it (ERR RANGE)"),
                ("ACK code=OCCLUSION", "refused it (ERR STATE)"),
            ]
        );
        assert_eq!(r.pump_commands[0].at_s, 0.1);
        assert!(r.valve_closed.iter().any(|s| s.from_s == 0.3), "the valve is recorded as before");
    }

    /// A pump that raised and cleared an alarm 100 000 times: the record lists a bounded number
    /// of its events and counts the rest by kind, the report stays under 1 MiB and says where the
    /// others are, and events.jsonl has every one.
    #[test]
    fn an_event_storm_leaves_the_record_and_the_report_bounded_and_events_jsonl_whole() {
        use crate::evidence::bundle::{EVENTS_FILE, REPORT_FILE, SAMPLES_FILE, write_bundle};
        use crate::evidence::record::PUMP_EVENTS_LISTED;
        use crate::evidence::report::tests::{occlusion_csv, occlusion_record, visible_text};
        use crate::evidence::report::thousands;
        use crate::protocol::AlarmCode;
        use crate::protocol::{Event, EventKind, Priority};
        use crate::run::reporters::EventsJsonl;
        const N: u32 = 100_000;
        const REPORT_BOUND: u64 = 1 << 20;
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(occlusion_csv("").path(), dir.path().join(SAMPLES_FILE)).unwrap();
        let mut start = occlusion_record();
        start.pump_events.clear();
        let shared = std::sync::Arc::new(std::sync::Mutex::new(start));
        let mut record = RecordReporter::new(shared.clone());
        let mut jsonl = EventsJsonl::create(&dir.path().join(EVENTS_FILE)).unwrap();
        for k in 0..N {
            let kind = match k % 2 {
                0 => EventKind::Alarm { code: AlarmCode::DoseLimit, priority: Priority::Low },
                _ => EventKind::Clear { code: AlarmCode::DoseLimit },
            };
            let event = RunEvent {
                at: crate::clock::RigTime::from_secs_f64(100.0 + f64::from(k) * 0.02),
                kind: RunEventKind::PumpEvent { event: Event { evseq: k + 1, pump_ms: u64::from(k) * 20, kind } },
            };
            record.on_event(&event);
            jsonl.on_event(&event);
            let listed = shared.lock().unwrap().pump_events.len();
            assert!(listed < 3 * PUMP_EVENTS_LISTED, "{listed} events listed after {k}");
        }
        jsonl.finish();
        let r = shared.lock().unwrap().clone();
        let unlisted = r.pump_events_unlisted.clone().expect("most events are counted, not listed");
        assert_eq!(r.pump_events.len() as u64 + unlisted.count, u64::from(N), "every event listed or counted");
        assert_eq!(unlisted.after_listed, PUMP_EVENTS_LISTED);
        assert_eq!(unlisted.by_kind.values().sum::<u64>(), unlisted.count);
        assert_eq!(unlisted.by_kind.get("ALARM DOSE_LIMIT"), unlisted.by_kind.get("CLEAR DOSE_LIMIT"));
        assert_eq!(r.pump_events.first().map(|e| e.at_s), Some(100.0), "the first event is listed");
        let last = r.pump_events.last().unwrap();
        assert!((last.at_s - (100.0 + f64::from(N - 1) * 0.02)).abs() < 1e-6 && last.kind == "CLEAR", "{last:?}");

        write_bundle(dir.path(), &r, None, &[], None).unwrap();
        let size = std::fs::metadata(dir.path().join(REPORT_FILE)).unwrap().len();
        assert!(size < REPORT_BOUND, "report.html is {size} bytes");
        let text = visible_text(&std::fs::read_to_string(dir.path().join(REPORT_FILE)).unwrap());
        // The thin spaces between thousands read as spaces in the visible text.
        let more = format!("{} more pump events from", thousands(unlisted.count)).replace('\u{2009}', " ");
        assert!(text.contains(&more) && text.contains("are in events.jsonl"), "{more:?} not in the report");
        assert!(!text.contains("active at the end"), "the last DOSE_LIMIT was cleared");
        let lines = std::fs::read_to_string(dir.path().join(EVENTS_FILE)).unwrap();
        let pump_events = lines.lines().filter(|l| l.contains("\"kind\":\"pump_event\"")).count();
        assert_eq!(pump_events, N as usize, "events.jsonl keeps every event");
    }
}
