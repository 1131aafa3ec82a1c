//! Builds the case's [`CaseRecord`] from the run event stream: steps and their timing, marks,
//! the pump's identity, alarms and states, valve moves, checks and the verdict. It keeps no
//! samples (those stream to `samples.csv`), so its memory does not grow with the run's length
//! beyond the steps and events of the plan.

use std::sync::{Arc, Mutex};

use crate::evidence::record::{
    AnomalyRecord, CaseRecord, LostEventsRecord, MarkRecord, PumpEventRecord, PumpStateRecord, SafeStateRecord, Span,
    StepRecord,
};
use crate::protocol::EventKind;
use crate::run::event::{Reporter, RunEvent, RunEventKind};

/// The record being built, shared with the runner, which completes and writes it once the case
/// is over (also when the case task panicked: what was recorded up to then is kept).
pub type SharedRecord = Arc<Mutex<CaseRecord>>;

pub struct RecordReporter {
    record: SharedRecord,
}

/// Valve actions as the executor reports them (`BenchAction.what`).
const VALVE_CLOSE: &str = "valve close";
const VALVE_OPEN: &str = "valve open";

impl RecordReporter {
    pub fn new(record: SharedRecord) -> Self {
        Self { record }
    }
}

impl Reporter for RecordReporter {
    fn on_event(&mut self, event: &RunEvent) {
        let mut r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        let at = event.at.as_secs_f64();
        r.bench_time_s = r.bench_time_s.max(at);
        match &event.kind {
            RunEventKind::PumpIdentified(id) => r.pump = Some(id.clone()),
            RunEventKind::StartUp(found) => r.start_up = Some(found.clone()),
            RunEventKind::PumpAtStart(snapshot) => r.pump_at_start = Some(snapshot.clone()),
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
            RunEventKind::PumpSilent { why } => r.anomalies.push(AnomalyRecord { at_s: at, what: why.clone() }),
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
                    _ => return,
                };
                r.pump_events.push(PumpEventRecord { at_s: at, kind: kind.into(), what });
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
            RunEventKind::Sample(_) => r.samples += 1,
            RunEventKind::SamplerStats(stats) => r.sampler = Some(stats.clone()),
            RunEventKind::Check(outcome) => r.checks.push(outcome.clone()),
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

fn close_span(spans: &mut [Span], at: f64) {
    if let Some(open) = spans.last_mut().filter(|s| s.to_s.is_none()) {
        open.to_s = Some(at);
    }
}
