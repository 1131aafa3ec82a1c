//! The case's timeline as the executor keeps it to answer waits and checks: samples (compact),
//! pump statuses and events, bolus replies and marks. Pure data and queries; fed from the run
//! event stream.

use std::collections::HashMap;
use std::time::Duration;

use crate::analysis;
use crate::clock::RigTime;
use crate::plan::{Condition, Endpoint, Interval, PumpField, SettingField};
use crate::protocol::{AlarmCode, BolusReply, DenyReason, Event, EventKind, SettingsReport, StatusReport};

use super::event::{RunEvent, RunEventKind, StatusTaken};
use super::spill::{FixedRecord, SpillVec};

/// One sample, as the queries need it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    at: RigTime,
    flow_ul_h: f64,
    volume_ul: f64,
}

impl FixedRecord for Point {
    const SIZE: usize = 24;
    fn encode(&self, out: &mut [u8]) {
        let words = [self.at.as_duration().as_nanos() as u64, self.flow_ul_h.to_bits(), self.volume_ul.to_bits()];
        for (slot, word) in out.chunks_exact_mut(8).zip(words) {
            slot.copy_from_slice(&word.to_le_bytes());
        }
    }
    fn decode(b: &[u8]) -> Self {
        let word = |i: usize| u64::from_le_bytes(b.get(i..i + 8).and_then(|w| w.try_into().ok()).unwrap_or([0; 8]));
        Point {
            at: RigTime::from_duration(Duration::from_nanos(word(0))),
            flow_ul_h: f64::from_bits(word(8)),
            volume_ul: f64::from_bits(word(16)),
        }
    }
}

/// The STATUS fields the queries read, with when the answer came.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StatusRow {
    at: RigTime,
    fields: [f64; 4],
}

impl StatusRow {
    fn of(at: RigTime, s: &StatusReport) -> Self {
        StatusRow { at, fields: [s.reservoir_ul, s.delivered_ul, s.pressure_kpa, s.basal_ul_h] }
    }

    fn field(&self, f: PumpField) -> f64 {
        let [reservoir, delivered, pressure, basal] = self.fields;
        match f {
            PumpField::ReservoirUl => reservoir,
            PumpField::DeliveredUl => delivered,
            PumpField::PressureKpa => pressure,
            PumpField::BasalUlH => basal,
        }
    }
}

/// What the executor keeps of the run to answer waits and checks. Samples keep only their
/// recent tail in memory (older ones go to a temporary file, see [`SpillVec`]), so a
/// 7-day run does not grow the rig's memory; events, bolus answers and marks are few.
#[derive(Debug, Default)]
pub struct Timeline {
    points: SpillVec<Point>,
    /// Readings flagged air in line, as runs with no sample between: (first, last, readings).
    air: Vec<(RigTime, RigTime, u32)>,
    events: Vec<(RigTime, Event)>,
    /// The boot epoch (BOOTs seen before it) of each event in `events`.
    epochs: Vec<u32>,
    resyncs: Vec<(RigTime, Vec<AlarmCode>)>,
    /// Each evseq gap: when it was seen, and when the last event before it arrived (the lost
    /// events happened in between).
    gaps: Vec<(RigTime, RigTime)>,
    /// STATUS answers as ties between the pump's clock and the rig's, by boot epoch.
    ties: Vec<(u32, analysis::pump_clock::ClockTie)>,
    boots: u32,
    boluses: Vec<(RigTime, BolusReply)>,
    marks: HashMap<String, RigTime>,
    /// The STATUS taken before the first step, at each mark, and at the latest check that read
    /// the pump now: the only pump data checks use (a poll can be up to `status_period` old).
    start_status: Option<StatusRow>,
    mark_statuses: HashMap<String, StatusRow>,
    check_status: Option<(String, StatusRow)>,
    /// The same for SETTINGS.
    start_settings: Option<SettingsReport>,
    mark_settings: HashMap<String, SettingsReport>,
    check_settings: Option<(String, SettingsReport)>,
}

/// One occurrence of a condition on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Occurrence {
    /// When the rig saw it (an event's arrival, a sample's time).
    pub arrived: RigTime,
    /// When it happened, as well as the rig can tell.
    pub at: RigTime,
    /// How far `at` may be off, s; `None` where no bound is known beyond `at` ≤ `arrived`.
    pub uncertainty_s: Option<f64>,
}

/// Readings flagged air in line under a span of samples (see [`Timeline::air_in_line`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AirInLine {
    /// When the first of them was read.
    pub first: RigTime,
    pub readings: u32,
}

/// The rolling window of the dose limits, s.
const DAY_S: f64 = 86_400.0;

/// Why a quantity could not be measured.
pub type Unmeasurable = String;

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in one run event.
    pub fn record(&mut self, e: &RunEvent) {
        match &e.kind {
            RunEventKind::Sample(s) => {
                self.points.push(Point { at: s.at, flow_ul_h: s.flow_ul_h, volume_ul: s.volume_ul })
            }
            RunEventKind::AirInLine(_) => {
                let since_sample = |last: RigTime| self.points.last().is_none_or(|p| p.at < last);
                match self.air.last_mut() {
                    Some((_, last, n)) if since_sample(*last) => (*last, *n) = (e.at, *n + 1),
                    _ => self.air.push((e.at, e.at, 1)),
                }
            }
            RunEventKind::PumpAtStart(snapshot) => {
                self.start_status = Some(StatusRow::of(e.at, &snapshot.status));
                self.start_settings = Some(snapshot.settings.clone());
            }
            RunEventKind::PumpSettings { settings, taken } => match taken {
                StatusTaken::Poll => {}
                StatusTaken::Mark(name) => {
                    self.mark_settings.insert(name.clone(), settings.clone());
                }
                StatusTaken::Check(id) => self.check_settings = Some((id.clone(), settings.clone())),
            },
            RunEventKind::PumpStatus { status, taken, asked_at } => {
                let tie = analysis::pump_clock::ClockTie {
                    asked_s: asked_at.as_secs_f64(),
                    answered_s: e.at.as_secs_f64(),
                    pump_ms: status.pump_ms,
                };
                self.ties.push((self.boots, tie));
                let row = StatusRow::of(e.at, status);
                match taken {
                    StatusTaken::Poll => {}
                    StatusTaken::Mark(name) => {
                        self.mark_statuses.insert(name.clone(), row);
                    }
                    StatusTaken::Check(id) => self.check_status = Some((id.clone(), row)),
                }
            }
            RunEventKind::PumpEvent { event } => {
                if matches!(event.kind, EventKind::Boot { .. }) {
                    self.boots += 1;
                }
                self.events.push((e.at, event.clone()));
                self.epochs.push(self.boots);
            }
            RunEventKind::EventGap { .. } => {
                // The gap shows on the event that follows it, which is recorded next.
                let before = self.events.last().map_or(RigTime::ZERO, |(t, _)| *t);
                self.gaps.push((e.at, before));
            }
            RunEventKind::AlarmsResynced { active } => self.resyncs.push((e.at, active.clone())),
            RunEventKind::Bolus { reply } => self.boluses.push((e.at, *reply)),
            RunEventKind::Mark { name } => {
                self.marks.insert(name.clone(), e.at);
            }
            _ => {}
        }
    }

    /// When the latest sample was taken.
    pub fn last_sample_at(&self) -> Option<RigTime> {
        self.points.last().map(|p| p.at)
    }

    pub fn mark(&self, name: &str) -> Option<RigTime> {
        self.marks.get(name).copied()
    }

    /// Resolves an interval against the marks; `now` is the evaluation time.
    pub fn resolve(&self, interval: &Interval, now: RigTime) -> Result<(RigTime, RigTime), Unmeasurable> {
        let at = |e: &Endpoint| match e {
            Endpoint::Start => Ok(RigTime::ZERO),
            Endpoint::Now => Ok(now),
            Endpoint::Mark(m) => self.mark(m).ok_or_else(|| format!("mark `{m}` was never reached")),
        };
        let (from, to) = (at(&interval.from)?, at(&interval.to)?);
        if to < from {
            return Err(format!("the interval ends ({to}) before it starts ({from})"));
        }
        Ok((from, to))
    }

    /// Volume through the sensor up to `t`, interpolated between samples (0 before the first).
    pub fn volume_at(&self, t: RigTime) -> f64 {
        let i = self.points.partition_point(|p| p.at <= t);
        match (i.checked_sub(1).and_then(|j| self.points.get(j)), self.points.get(i)) {
            (None, _) => 0.0,
            (Some(a), None) => a.volume_ul,
            (Some(a), Some(b)) => {
                let span = b.at.since(a.at).as_secs_f64();
                let part = if span > 0.0 { t.since(a.at).as_secs_f64() / span } else { 0.0 };
                a.volume_ul + (b.volume_ul - a.volume_ul) * part
            }
        }
    }

    /// Readings flagged air in line among those the volume between `from` and `to` rests on:
    /// from the last sample at or before `from` to the first at or after `to` (a sample's flow is
    /// the mean since the previous read, so air read between two samples leaves the volume
    /// between them unknown). The first such reading and how many there are.
    pub fn air_in_line(&self, from: RigTime, to: RigTime) -> Option<AirInLine> {
        let before = self.points.partition_point(|p| p.at <= from);
        let lo = before.checked_sub(1).and_then(|i| self.points.get(i)).map(|p| p.at);
        let hi = self.points.get(self.points.partition_point(|p| p.at < to)).map_or(to, |p| p.at.max(to));
        // A run of air readings never straddles a sample: it either lies in (lo, hi] or not.
        let under = |&&(first, last, _): &&(RigTime, RigTime, u32)| lo.is_none_or(|lo| last > lo) && first <= hi;
        let mut runs = self.air.iter().filter(under);
        let &(first, _, readings) = runs.next()?;
        Some(AirInLine { first, readings: readings + runs.map(|r| r.2).sum::<u32>() })
    }

    fn require_samples(&self, from: RigTime, to: RigTime) -> Result<(), Unmeasurable> {
        let covered = self.points.first().is_some_and(|p| p.at <= from.max(p.at))
            && self.points.last().is_some_and(|p| p.at >= to);
        if self.points.is_empty() || !covered {
            return Err(format!("no flow samples cover {from} to {to}"));
        }
        Ok(())
    }

    /// Volume through the sensor between `from` and `to`, µL.
    pub fn volume(&self, from: RigTime, to: RigTime) -> Result<f64, Unmeasurable> {
        self.require_samples(from, to)?;
        Ok(self.volume_at(to) - self.volume_at(from))
    }

    /// Mean flow between `from` and `to`, µL/h.
    pub fn flow_mean(&self, from: RigTime, to: RigTime) -> Result<f64, Unmeasurable> {
        let hours = to.since(from).as_secs_f64() / 3600.0;
        if hours <= 0.0 {
            return Err("the interval is empty".into());
        }
        Ok(self.volume(from, to)? / hours)
    }

    /// The largest volume through the sensor in any window of length `window` inside
    /// `[from, to]`, µL. Windows end at each sample (and at `to`).
    pub fn max_window_volume(&self, window: Duration, from: RigTime, to: RigTime) -> Result<f64, Unmeasurable> {
        let points = self.analysis_points(from, to)?;
        analysis::max_window_volume(&points, window.as_secs_f64(), from.as_secs_f64(), to.as_secs_f64()).map(|(v, _)| v)
    }

    /// When `condition` was first seen at or after `after` (events and re-reads after a gap by
    /// their arrival, samples by their time): what a wait goes by.
    pub fn first_after(&self, condition: &Condition, after: RigTime) -> Option<RigTime> {
        self.first_occurrence_after(condition, after).map(|o| o.arrived)
    }

    /// The first occurrence of `condition` seen at or after `after`, with when it happened as
    /// well as it can be told: a pump event at its `pump_ms` mapped onto the rig's clock (see
    /// [`analysis::pump_clock`]), an alarm known only from the re-read after lost events
    /// somewhere in the span they were lost in, a sample at its time.
    pub fn first_occurrence_after(&self, condition: &Condition, after: RigTime) -> Option<Occurrence> {
        let flow = |pred: &dyn Fn(f64) -> bool| {
            let i = self.points.partition_point(|p| p.at < after);
            self.points.iter_range(i, self.points.len()).find(|p| pred(p.flow_ul_h)).map(|p| Occurrence {
                arrived: p.at,
                at: p.at,
                uncertainty_s: None,
            })
        };
        match *condition {
            Condition::FlowBelow(x) => flow(&|q| q < x),
            Condition::FlowAbove(x) => flow(&|q| q > x),
            _ => self.occurrences_of(condition).into_iter().find(|o| o.arrived >= after),
        }
    }

    /// How many pump events meeting `condition` have been seen so far (an alarm known only from
    /// the re-read after lost events included). Flow conditions count none: samples are not
    /// kept whole in memory.
    pub fn count(&self, condition: &Condition) -> usize {
        self.occurrences_of(condition).len()
    }

    /// How often `condition` was seen in `[from, to]`.
    pub fn occurrences(&self, condition: &Condition, from: RigTime, to: RigTime) -> usize {
        match *condition {
            Condition::FlowBelow(x) => {
                self.points.iter().filter(|p| p.at >= from && p.at <= to && p.flow_ul_h < x).count()
            }
            Condition::FlowAbove(x) => {
                self.points.iter().filter(|p| p.at >= from && p.at <= to && p.flow_ul_h > x).count()
            }
            _ => self.occurrences_of(condition).into_iter().filter(|o| o.arrived >= from && o.arrived <= to).count(),
        }
    }

    /// Every occurrence of an event condition, in order of arrival.
    fn occurrences_of(&self, condition: &Condition) -> Vec<Occurrence> {
        let matches = |e: &Event| match *condition {
            Condition::Alarm(code) => matches!(e.kind, EventKind::Alarm { code: c, .. } if c == code),
            Condition::Cleared(code) => matches!(e.kind, EventKind::Clear { code: c } if c == code),
            Condition::State(state) => matches!(e.kind, EventKind::State { state: s } if s == state),
            Condition::Boot(reason) => matches!(e.kind, EventKind::Boot { reason: r } if r == reason),
            Condition::Denied(reason) => {
                matches!(e.kind, EventKind::Denied { reason: r } if reason.is_none_or(|want| want == r))
            }
            Condition::FlowBelow(_) | Condition::FlowAbove(_) => false,
        };
        let mut found: Vec<Occurrence> = self
            .events
            .iter()
            .zip(&self.epochs)
            .filter(|((_, e), _)| matches(e))
            .map(|((arrived, e), epoch)| self.placed(*arrived, e.pump_ms, *epoch))
            .collect();
        if let Condition::Alarm(code) = *condition {
            found.extend(self.raised_while_events_were_lost(code));
            found.sort_by_key(|o| o.arrived);
        }
        found
    }

    /// A pump event that arrived at `arrived`, placed at its `pump_ms` on the rig's clock; at its
    /// arrival, with no bound on how much earlier it happened, where the clocks cannot be tied.
    fn placed(&self, arrived: RigTime, pump_ms: u64, epoch: u32) -> Occurrence {
        let ties: Vec<analysis::pump_clock::ClockTie> =
            self.ties.iter().filter(|(e, _)| *e == epoch).map(|(_, t)| *t).collect();
        match analysis::pump_clock::map_event(&ties, pump_ms, arrived.as_secs_f64()) {
            Some(m) => Occurrence { arrived, at: RigTime::from_secs_f64(m.at_s), uncertainty_s: Some(m.uncertainty_s) },
            None => Occurrence { arrived, at: arrived, uncertainty_s: None },
        }
    }

    /// `code` raised while events were lost: absent from what the events and re-reads had shown
    /// active, present in the `ALARMS` re-read after a gap. It was raised somewhere between the
    /// last event before the gap and the event that revealed it.
    fn raised_while_events_were_lost(&self, code: AlarmCode) -> Vec<Occurrence> {
        let mut found = Vec::new();
        for (at, active) in &self.resyncs {
            if !active.contains(&code) || self.known_active_before(code, *at) {
                continue;
            }
            // The gap that led to this re-read; failing one, everything since the last event.
            let last_event = || self.events.iter().rev().find(|(e, _)| e <= at).map_or(RigTime::ZERO, |(e, _)| *e);
            let (gap_at, before) =
                self.gaps.iter().rev().find(|(g, _)| g <= at).copied().unwrap_or_else(|| (*at, last_event()));
            let (lo, hi) = (before.as_secs_f64(), gap_at.as_secs_f64());
            found.push(Occurrence {
                arrived: *at,
                at: RigTime::from_secs_f64((lo + hi) / 2.0),
                uncertainty_s: Some((hi - lo) / 2.0),
            });
        }
        found
    }

    /// Whether the events and re-reads that arrived before `t` leave `code` active.
    fn known_active_before(&self, code: AlarmCode, t: RigTime) -> bool {
        let last_event = self
            .events
            .iter()
            .filter(|(at, e)| {
                *at < t
                    && matches!(e.kind, EventKind::Alarm { code: c, .. } | EventKind::Clear { code: c } if c == code)
            })
            .map(|(at, e)| (*at, matches!(e.kind, EventKind::Alarm { .. })))
            .next_back();
        let last_resync =
            self.resyncs.iter().filter(|(at, _)| *at < t).map(|(at, a)| (*at, a.contains(&code))).next_back();
        match (last_event, last_resync) {
            (Some((te, active)), Some((tr, resynced))) => {
                if te >= tr {
                    active
                } else {
                    resynced
                }
            }
            (Some((_, active)), None) | (None, Some((_, active))) => active,
            (None, None) => false,
        }
    }

    /// The samples covering `[from, to]` (with one either side, for interpolation), as the
    /// analyses take them. Errors when the samples do not cover the interval.
    pub fn analysis_points(&self, from: RigTime, to: RigTime) -> Result<Vec<analysis::Point>, Unmeasurable> {
        self.require_samples(from, to)?;
        let first = self.points.partition_point(|p| p.at < from).saturating_sub(1);
        let last = (self.points.partition_point(|p| p.at <= to) + 1).min(self.points.len());
        // Volumes count from the start of the case: before the first sample, none has passed.
        let origin = (first == 0 && self.points.first().is_some_and(|p| p.at > RigTime::ZERO))
            .then_some(analysis::Point { t_s: 0.0, volume_ul: 0.0 });
        Ok(origin
            .into_iter()
            .chain(
                self.points
                    .iter_range(first, last)
                    .map(|p| analysis::Point { t_s: p.at.as_secs_f64(), volume_ul: p.volume_ul }),
            )
            .collect())
    }

    /// Change of a STATUS field between the STATUS taken at two endpoints (see
    /// [`Timeline::pump_value_at`]).
    pub fn pump_change(&self, field: PumpField, interval: &Interval, check: &str) -> Result<f64, Unmeasurable> {
        let from = self.status_at(&interval.from, check)?;
        let to = self.status_at(&interval.to, check)?;
        Ok(to.field(field) - from.field(field))
    }

    /// Gaps in the pump's `evseq` among the events received in `[from, to]` (`evseq` starts at 1
    /// at each `BOOT`).
    pub fn evseq_gaps(&self, from: RigTime, to: RigTime) -> usize {
        let seqs: Vec<(u32, bool)> = self
            .events
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, e)| (e.evseq, matches!(e.kind, EventKind::Boot { .. })))
            .collect();
        analysis::evseq_gaps(&seqs).len()
    }

    /// Bolus requests answered in `[from, to]`: granted ones, or denied ones (with `reason`).
    pub fn bolus_count(&self, granted: bool, reason: Option<DenyReason>, from: RigTime, to: RigTime) -> usize {
        let requests: Vec<analysis::BolusRequest> = self
            .boluses
            .iter()
            .map(|(t, r)| analysis::BolusRequest {
                t_s: t.as_secs_f64(),
                granted: matches!(r, BolusReply::Granted { .. }),
                reason: match r {
                    BolusReply::Denied { reason } => Some(reason.to_string()),
                    BolusReply::Granted { .. } => None,
                },
            })
            .collect();
        let account = analysis::account(&requests, from.as_secs_f64(), to.as_secs_f64(), DAY_S);
        match (granted, reason) {
            (true, _) => account.granted,
            (false, Some(r)) => account.denied.get(r.as_str()).copied().unwrap_or(0),
            (false, None) => account.denied.values().sum(),
        }
    }

    /// Shortest time between consecutive `BOLUS phase=START` events in `[from, to]`, seconds.
    pub fn bolus_spacing_min(&self, from: RigTime, to: RigTime) -> Result<f64, Unmeasurable> {
        // Timed from the pump's own `BOLUS phase=START` events: the SRS counts the lockout from
        // the start of the last granted bolus.
        let starts: Vec<analysis::BolusRequest> = self
            .events
            .iter()
            .filter(|(_, e)| matches!(e.kind, EventKind::BolusStart { .. }))
            .map(|(t, _)| analysis::BolusRequest { t_s: t.as_secs_f64(), granted: true, reason: None })
            .collect();
        analysis::account(&starts, from.as_secs_f64(), to.as_secs_f64(), DAY_S)
            .min_spacing_s
            .ok_or_else(|| format!("fewer than two boluses started between {from} and {to}"))
    }

    /// A STATUS field as the pump reported it at an endpoint: the STATUS taken before the first
    /// step (`start`), at the mark, or for this check (`now`). Never an older poll.
    pub fn pump_value_at(&self, field: PumpField, at: &Endpoint, check: &str) -> Result<f64, Unmeasurable> {
        Ok(self.status_at(at, check)?.field(field))
    }

    /// A programmed setting as `SETTINGS` answered before the first step (`start`), at the mark,
    /// or for this check (`now`).
    pub fn setting_at(&self, field: SettingField, at: &Endpoint, check: &str) -> Result<f64, Unmeasurable> {
        let settings = match at {
            Endpoint::Start => {
                self.start_settings.as_ref().ok_or_else(|| "no SETTINGS was read before the first step".to_string())
            }
            Endpoint::Mark(m) => self.mark_settings.get(m).ok_or_else(|| match self.marks.contains_key(m) {
                true => format!("no SETTINGS was read at mark `{m}`"),
                false => format!("mark `{m}` was never reached"),
            }),
            Endpoint::Now => match &self.check_settings {
                Some((id, s)) if id == check => Ok(s),
                _ => Err(format!("no SETTINGS was read for check `{check}`")),
            },
        }?;
        Ok(settings.value(field))
    }

    fn status_at(&self, at: &Endpoint, check: &str) -> Result<StatusRow, Unmeasurable> {
        match at {
            Endpoint::Start => self.start_status.ok_or_else(|| "no STATUS was read before the first step".to_string()),
            Endpoint::Mark(m) => self.mark_statuses.get(m).copied().ok_or_else(|| match self.marks.contains_key(m) {
                true => format!("no STATUS was read at mark `{m}`"),
                false => format!("mark `{m}` was never reached"),
            }),
            Endpoint::Now => match &self.check_status {
                Some((id, row)) if id == check => Ok(*row),
                _ => Err(format!("no STATUS was read for check `{check}`")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::event::Sample;

    fn t(s: f64) -> RigTime {
        RigTime::from_secs_f64(s)
    }

    /// Samples every second at a constant 3600 µL/h: 1 µL per second.
    fn steady(seconds: u32) -> Timeline {
        let mut tl = Timeline::new();
        for k in 1..=seconds {
            let s = Sample {
                at: t(f64::from(k)),
                done_at: t(f64::from(k)),
                flow_ul_h: 3600.0,
                volume_ul: f64::from(k),
                temperature_c: 23.0,
                valve_closed: false,
            };
            tl.record(&RunEvent { at: s.at, kind: RunEventKind::Sample(s) });
        }
        tl
    }

    #[test]
    fn air_in_line_is_found_under_the_samples_an_interval_rests_on_and_nowhere_else() {
        let mut tl = Timeline::new();
        let sample = |tl: &mut Timeline, at: f64| {
            let s = Sample {
                at: t(at),
                done_at: t(at),
                flow_ul_h: 3600.0,
                volume_ul: at,
                temperature_c: 23.0,
                valve_closed: false,
            };
            tl.record(&RunEvent { at: s.at, kind: RunEventKind::Sample(s) });
        };
        let air = |tl: &mut Timeline, at: f64| {
            let r = crate::run::event::FlaggedReading {
                done_at: t(at),
                flow_ul_h: 900.0,
                temperature_c: 23.0,
                flags: 1,
                raw: "02d0xx".into(),
            };
            tl.record(&RunEvent { at: t(at), kind: RunEventKind::AirInLine(r) });
        };
        (1..=10).for_each(|k| sample(&mut tl, f64::from(k)));
        air(&mut tl, 11.0);
        air(&mut tl, 12.0);
        (13..=20).for_each(|k| sample(&mut tl, f64::from(k)));
        air(&mut tl, 21.0);
        sample(&mut tl, 22.0);
        assert_eq!(tl.air_in_line(t(2.0), t(8.0)), None);
        assert_eq!(tl.air_in_line(t(9.0), t(15.0)), Some(AirInLine { first: t(11.0), readings: 2 }));
        // From 12.5 s the volume rests on the samples at 10 s and 13 s, with the air between.
        assert_eq!(tl.air_in_line(t(12.5), t(14.0)), Some(AirInLine { first: t(11.0), readings: 2 }));
        assert_eq!(tl.air_in_line(t(13.0), t(20.0)), None, "a sample's interval ends at it");
        assert_eq!(tl.air_in_line(t(20.5), t(20.5)), Some(AirInLine { first: t(21.0), readings: 1 }));
        assert_eq!(tl.air_in_line(t(0.0), t(22.0)), Some(AirInLine { first: t(11.0), readings: 3 }));
    }

    #[test]
    fn volume_and_mean_flow_by_hand() {
        let tl = steady(100);
        assert!((tl.volume(t(10.0), t(40.0)).unwrap() - 30.0).abs() < 1e-9);
        assert!((tl.volume(t(10.5), t(11.0)).unwrap() - 0.5).abs() < 1e-9, "interpolated");
        assert!((tl.flow_mean(t(10.0), t(70.0)).unwrap() - 3600.0).abs() < 1e-9);
        assert!(tl.volume(t(10.0), t(200.0)).is_err(), "no samples beyond 100 s");
    }

    #[test]
    fn max_window_volume_finds_the_burst() {
        let mut tl = Timeline::new();
        // 1 µL/s, except 50 µL extra delivered between 30 s and 31 s.
        let mut v = 0.0;
        for k in 1..=100 {
            v += if k == 31 { 51.0 } else { 1.0 };
            let s = Sample {
                at: t(f64::from(k)),
                done_at: t(f64::from(k)),
                flow_ul_h: 0.0,
                volume_ul: v,
                temperature_c: 0.0,
                valve_closed: false,
            };
            tl.record(&RunEvent { at: s.at, kind: RunEventKind::Sample(s) });
        }
        let best = tl.max_window_volume(Duration::from_secs(10), t(1.0), t(100.0)).unwrap();
        assert!((best - 60.0).abs() < 1e-9, "{best}");
        assert!(tl.max_window_volume(Duration::from_secs(200), t(1.0), t(100.0)).is_err());
    }

    #[test]
    fn conditions_from_events_and_resyncs() {
        let mut tl = steady(10);
        let alarm = Event {
            evseq: 4,
            pump_ms: 0,
            kind: EventKind::Alarm { code: AlarmCode::Occlusion, priority: crate::protocol::Priority::High },
        };
        tl.record(&RunEvent { at: t(5.0), kind: RunEventKind::PumpEvent { event: alarm } });
        tl.record(&RunEvent { at: t(8.0), kind: RunEventKind::AlarmsResynced { active: vec![AlarmCode::MotorStall] } });
        assert_eq!(tl.first_after(&Condition::Alarm(AlarmCode::Occlusion), t(1.0)), Some(t(5.0)));
        assert_eq!(tl.first_after(&Condition::Alarm(AlarmCode::Occlusion), t(6.0)), None);
        assert_eq!(tl.first_after(&Condition::Alarm(AlarmCode::MotorStall), t(0.0)), Some(t(8.0)));
        assert_eq!(tl.first_after(&Condition::FlowBelow(100.0), t(0.0)), None);
        assert_eq!(tl.occurrences(&Condition::FlowAbove(100.0), t(2.0), t(4.0)), 3);
    }
}
