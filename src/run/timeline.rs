//! The case's timeline as the executor keeps it to answer waits and checks: samples (compact),
//! pump statuses and events, bolus replies and marks. Pure data and queries; fed from the run
//! event stream.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::analysis;
use crate::clock::RigTime;
use crate::plan::{Condition, Endpoint, Interval, PumpField, SettingField};
use crate::protocol::{
    AlarmCode, BolusReply, BootReason, DenyReason, Event, EventKind, Priority, PumpState, SettingsReport, StatusReport,
};

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

/// One pump event as the queries need it: when it arrived, its boot epoch (BOOTs seen before
/// it) and the event itself, in 40 bytes for the spill file.
#[derive(Debug, Clone, Copy, PartialEq)]
struct EventRow {
    arrived: RigTime,
    epoch: u32,
    event: Event,
}

/// The index of `value` in a wire enum's `ALL`, as one byte.
fn wire_index<T: PartialEq + Copy>(all: &[T], value: T) -> u8 {
    all.iter().position(|v| *v == value).and_then(|i| u8::try_from(i).ok()).unwrap_or(0)
}

/// The value at a byte written by [`wire_index`] (`encode` never writes another).
fn wire_value<T: Copy>(all: &'static [T], index: u8, fallback: T) -> T {
    all.get(usize::from(index)).copied().unwrap_or(fallback)
}

impl FixedRecord for EventRow {
    const SIZE: usize = 40;
    fn encode(&self, out: &mut [u8]) {
        out.fill(0);
        let (tag, a, b, id, delivered) = match self.event.kind {
            EventKind::Boot { reason } => (0u8, wire_index(BootReason::ALL, reason), 0, 0, 0.0),
            EventKind::State { state } => (1, wire_index(PumpState::ALL, state), 0, 0, 0.0),
            EventKind::Alarm { code, priority } => {
                (2, wire_index(AlarmCode::ALL, code), wire_index(Priority::ALL, priority), 0, 0.0)
            }
            EventKind::Clear { code } => (3, wire_index(AlarmCode::ALL, code), 0, 0, 0.0),
            EventKind::BolusStart { id } => (4, 0, 0, id, 0.0),
            EventKind::BolusEnd { id, delivered_ul } => (5, 0, 0, id, delivered_ul),
            EventKind::Denied { reason } => (6, wire_index(DenyReason::ALL, reason), 0, 0, 0.0),
        };
        let mut put = |at: usize, bytes: &[u8]| {
            if let Some(slot) = out.get_mut(at..at + bytes.len()) {
                slot.copy_from_slice(bytes);
            }
        };
        put(0, &(self.arrived.as_duration().as_nanos() as u64).to_le_bytes());
        put(8, &self.event.pump_ms.to_le_bytes());
        put(16, &self.event.evseq.to_le_bytes());
        put(20, &self.epoch.to_le_bytes());
        put(24, &[tag, a, b]);
        put(28, &id.to_le_bytes());
        put(32, &f64::to_bits(delivered).to_le_bytes());
    }
    fn decode(b: &[u8]) -> Self {
        let u64_at = |i: usize| u64::from_le_bytes(b.get(i..i + 8).and_then(|w| w.try_into().ok()).unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_le_bytes(b.get(i..i + 4).and_then(|w| w.try_into().ok()).unwrap_or([0; 4]));
        let byte = |i: usize| b.get(i).copied().unwrap_or(0);
        let code = || wire_value(AlarmCode::ALL, byte(25), AlarmCode::Occlusion);
        let kind = match byte(24) {
            0 => EventKind::Boot { reason: wire_value(BootReason::ALL, byte(25), BootReason::PowerOn) },
            1 => EventKind::State { state: wire_value(PumpState::ALL, byte(25), PumpState::Stopped) },
            2 => EventKind::Alarm { code: code(), priority: wire_value(Priority::ALL, byte(26), Priority::High) },
            3 => EventKind::Clear { code: code() },
            4 => EventKind::BolusStart { id: u32_at(28) },
            5 => EventKind::BolusEnd { id: u32_at(28), delivered_ul: f64::from_bits(u64_at(32)) },
            _ => EventKind::Denied { reason: wire_value(DenyReason::ALL, byte(25), DenyReason::Alarm) },
        };
        EventRow {
            arrived: RigTime::from_duration(Duration::from_nanos(u64_at(0))),
            epoch: u32_at(20),
            event: Event { evseq: u32_at(16), pump_ms: u64_at(8), kind },
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

/// What the executor keeps of the run to answer waits and checks. Samples and pump events keep
/// only their recent tail in memory (older ones go to a temporary file, see [`SpillVec`]), so
/// neither a 7-day run nor a pump that sends thousands of events a second grows the rig's
/// memory, while every one stays there for the checks; bolus answers and marks are few.
#[derive(Debug, Default)]
pub struct Timeline {
    points: SpillVec<Point>,
    /// Readings flagged air in line, as runs with no sample between: (first, last, readings).
    air: Vec<(RigTime, RigTime, u32)>,
    /// Every pump event, in order of arrival.
    events: SpillVec<EventRow>,
    /// How many events of each kind (with its code or reason) arrived: what waits count.
    event_counts: BTreeMap<EventKey, usize>,
    /// Each alarm as the events and the `ALARMS` re-reads so far leave it: active or not.
    known_active: BTreeMap<AlarmCode, bool>,
    /// Alarms raised while events were lost, as the re-read after a gap revealed them.
    raised_while_lost: Vec<(AlarmCode, Occurrence)>,
    /// The latest evseq gap: when it was seen, and when the last event before it arrived (the
    /// lost events happened in between).
    last_gap: Option<(RigTime, RigTime)>,
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

/// What [`Timeline::count`] counts events by: their kind and code or reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EventKey {
    Alarm(AlarmCode),
    Clear(AlarmCode),
    State(PumpState),
    Boot(BootReason),
    Denied(DenyReason),
}

impl EventKey {
    fn of(kind: &EventKind) -> Option<Self> {
        match *kind {
            EventKind::Alarm { code, .. } => Some(EventKey::Alarm(code)),
            EventKind::Clear { code } => Some(EventKey::Clear(code)),
            EventKind::State { state } => Some(EventKey::State(state)),
            EventKind::Boot { reason } => Some(EventKey::Boot(reason)),
            EventKind::Denied { reason } => Some(EventKey::Denied(reason)),
            EventKind::BolusStart { .. } | EventKind::BolusEnd { .. } => None,
        }
    }
}

/// Whether a pump event meets an event condition (flow conditions: never).
fn event_meets(condition: &Condition, e: &Event) -> bool {
    match *condition {
        Condition::Alarm(code) => matches!(e.kind, EventKind::Alarm { code: c, .. } if c == code),
        Condition::Cleared(code) => matches!(e.kind, EventKind::Clear { code: c } if c == code),
        Condition::State(state) => matches!(e.kind, EventKind::State { state: s } if s == state),
        Condition::Boot(reason) => matches!(e.kind, EventKind::Boot { reason: r } if r == reason),
        Condition::Denied(reason) => {
            matches!(e.kind, EventKind::Denied { reason: r } if reason.is_none_or(|want| want == r))
        }
        Condition::FlowBelow(_) | Condition::FlowAbove(_) => false,
    }
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

    /// A timeline that keeps between `records` and twice as many samples, and as many pump
    /// events, in memory (the default: 16 384).
    pub fn with_memory(records: usize) -> Self {
        Timeline { points: SpillVec::with_tail(records), events: SpillVec::with_tail(records), ..Self::default() }
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
                match event.kind {
                    EventKind::Alarm { code, .. } => _ = self.known_active.insert(code, true),
                    EventKind::Clear { code } => _ = self.known_active.insert(code, false),
                    _ => {}
                }
                if let Some(key) = EventKey::of(&event.kind) {
                    *self.event_counts.entry(key).or_default() += 1;
                }
                self.events.push(EventRow { arrived: e.at, epoch: self.boots, event: *event });
            }
            RunEventKind::EventGap { .. } => {
                // The gap shows on the event that follows it, which is recorded next.
                let before = self.events.last().map_or(RigTime::ZERO, |r| r.arrived);
                self.last_gap = Some((e.at, before));
            }
            RunEventKind::AlarmsResynced { active } => self.resynced(e.at, active),
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
            _ => {
                let first = self.events.partition_point(|r| r.arrived < after);
                let event = self
                    .events
                    .iter_range(first, self.events.len())
                    .find(|r| event_meets(condition, &r.event))
                    .map(|r| self.placed(r.arrived, r.event.pump_ms, r.epoch));
                let lost = self.lost_raises(condition).find(|o| o.arrived >= after);
                match (event, lost) {
                    (Some(e), Some(l)) => Some(if l.arrived < e.arrived { l } else { e }),
                    (e, l) => e.or(l),
                }
            }
        }
    }

    /// How many pump events meeting `condition` have been seen so far (an alarm known only from
    /// the re-read after lost events included). Flow conditions count none: samples are not
    /// kept whole in memory. Kept as counts, so a wait asks it after every event at no cost.
    pub fn count(&self, condition: &Condition) -> usize {
        let of = |key: EventKey| self.event_counts.get(&key).copied().unwrap_or(0);
        let events = match *condition {
            Condition::Alarm(code) => of(EventKey::Alarm(code)),
            Condition::Cleared(code) => of(EventKey::Clear(code)),
            Condition::State(state) => of(EventKey::State(state)),
            Condition::Boot(reason) => of(EventKey::Boot(reason)),
            Condition::Denied(Some(reason)) => of(EventKey::Denied(reason)),
            Condition::Denied(None) => DenyReason::ALL.iter().map(|r| of(EventKey::Denied(*r))).sum(),
            Condition::FlowBelow(_) | Condition::FlowAbove(_) => 0,
        };
        events + self.lost_raises(condition).count()
    }

    /// How often `condition` was seen in `[from, to]`: every event in that span is read, from
    /// the spill file where it is no longer in memory.
    pub fn occurrences(&self, condition: &Condition, from: RigTime, to: RigTime) -> usize {
        match *condition {
            Condition::FlowBelow(x) => {
                self.points.iter().filter(|p| p.at >= from && p.at <= to && p.flow_ul_h < x).count()
            }
            Condition::FlowAbove(x) => {
                self.points.iter().filter(|p| p.at >= from && p.at <= to && p.flow_ul_h > x).count()
            }
            _ => {
                let in_span = |t: RigTime| t >= from && t <= to;
                self.events_arrived(from, to).filter(|r| event_meets(condition, &r.event)).count()
                    + self.lost_raises(condition).filter(|o| in_span(o.arrived)).count()
            }
        }
    }

    /// The events that arrived in `[from, to]`, in order.
    fn events_arrived(&self, from: RigTime, to: RigTime) -> impl Iterator<Item = EventRow> + '_ {
        let first = self.events.partition_point(|r| r.arrived < from);
        let end = self.events.partition_point(|r| r.arrived <= to);
        self.events.iter_range(first, end)
    }

    /// Alarms meeting `condition` known only from a re-read after lost events, in order.
    fn lost_raises<'a>(&'a self, condition: &'a Condition) -> impl Iterator<Item = Occurrence> + 'a {
        self.raised_while_lost
            .iter()
            .filter(move |(code, _)| matches!(*condition, Condition::Alarm(c) if c == *code))
            .map(|(_, o)| *o)
    }

    /// Events in memory (the rest are in the spill file): what a chatty pump must not grow.
    pub fn events_in_memory(&self) -> usize {
        self.events.in_memory()
    }

    /// Pump events recorded, in memory or spilled.
    pub fn events_recorded(&self) -> usize {
        self.events.len()
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

    /// An `ALARMS` re-read at `at`: each code in `active` that the events and re-reads before it
    /// had not left active was raised while events were lost, somewhere between the last event
    /// before the gap that led to this re-read (failing one, the last event) and the gap itself.
    fn resynced(&mut self, at: RigTime, active: &[AlarmCode]) {
        let (gap_at, before) = self.last_gap.filter(|(g, _)| *g <= at).unwrap_or_else(|| {
            let last_event = self.events.last().map_or(RigTime::ZERO, |r| r.arrived.min(at));
            (at, last_event)
        });
        let (lo, hi) = (before.as_secs_f64(), gap_at.as_secs_f64());
        for code in active {
            if !self.known_active.get(code).copied().unwrap_or(false) {
                let found = Occurrence {
                    arrived: at,
                    at: RigTime::from_secs_f64((lo + hi) / 2.0),
                    uncertainty_s: Some((hi - lo) / 2.0),
                };
                self.raised_while_lost.push((*code, found));
            }
        }
        for code in AlarmCode::ALL {
            self.known_active.insert(*code, active.contains(code));
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
        let seqs =
            self.events_arrived(from, to).map(|r| (r.event.evseq, matches!(r.event.kind, EventKind::Boot { .. })));
        analysis::evseq_gap_count(seqs)
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
            .filter(|r| matches!(r.event.kind, EventKind::BolusStart { .. }))
            .map(|r| analysis::BolusRequest { t_s: r.arrived.as_secs_f64(), granted: true, reason: None })
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

    fn event(evseq: u32, pump_ms: u64, kind: EventKind) -> RunEventKind {
        RunEventKind::PumpEvent { event: Event { evseq, pump_ms, kind } }
    }

    #[test]
    fn every_kind_of_event_reads_back_from_the_spill_file_as_it_was() {
        let mut kinds = vec![EventKind::BolusStart { id: 7 }, EventKind::BolusEnd { id: 7, delivered_ul: 49.75 }];
        kinds.extend(BootReason::ALL.iter().map(|&reason| EventKind::Boot { reason }));
        kinds.extend(PumpState::ALL.iter().map(|&state| EventKind::State { state }));
        kinds.extend(DenyReason::ALL.iter().map(|&reason| EventKind::Denied { reason }));
        for &code in AlarmCode::ALL {
            kinds.push(EventKind::Clear { code });
            kinds.extend(Priority::ALL.iter().map(|&priority| EventKind::Alarm { code, priority }));
        }
        let mut bytes = [0u8; EventRow::SIZE];
        for (i, kind) in kinds.into_iter().enumerate() {
            let row = EventRow {
                arrived: RigTime::from_duration(Duration::from_nanos(1_234_567_891 + i as u64)),
                epoch: 3,
                event: Event { evseq: 65_000 + i as u32, pump_ms: u64::MAX - i as u64, kind },
            };
            row.encode(&mut bytes);
            assert_eq!(EventRow::decode(&bytes), row);
        }
    }

    /// A storm of ALARM/CLEAR pairs, a gap in evseq and a reset: far more events than the
    /// timeline keeps in memory, and the checks that count them still count every one.
    #[test]
    fn a_storm_of_events_stays_bounded_in_memory_and_is_counted_exactly() {
        let mut tl = Timeline::with_memory(100);
        let (raise, clear) = (
            EventKind::Alarm { code: AlarmCode::DoseLimit, priority: Priority::Low },
            EventKind::Clear { code: AlarmCode::DoseLimit },
        );
        let mut evseq = 0;
        for k in 0..20_000u32 {
            // 5 ms apart; evseq skips 10_001 (one lost event); a watchdog reset at 15 000.
            let at = t(1.0 + f64::from(k) * 0.005);
            evseq = match k {
                10_000 => evseq + 2,
                15_000 => 1,
                _ => evseq + 1,
            };
            let kind = match k {
                15_000 => EventKind::Boot { reason: BootReason::Watchdog },
                _ if k % 2 == 0 => raise,
                _ => clear,
            };
            tl.record(&RunEvent { at, kind: event(evseq, u64::from(k) * 5, kind) });
            assert!(tl.events_in_memory() < 200, "{} events in memory after {k}", tl.events_in_memory());
        }
        assert_eq!(tl.events_recorded(), 20_000);
        let alarm = Condition::Alarm(AlarmCode::DoseLimit);
        // 10 000 even k, less the boot at 15 000.
        assert_eq!(tl.count(&alarm), 9_999);
        assert_eq!(tl.count(&Condition::Cleared(AlarmCode::DoseLimit)), 10_000);
        assert_eq!(tl.count(&Condition::Boot(BootReason::Watchdog)), 1);
        assert_eq!(tl.occurrences(&alarm, RigTime::ZERO, t(1000.0)), 9_999);
        // k = 100..=199 arrive in [1.5 s, 1.995 s]: 50 raises, all long since spilled.
        assert_eq!(tl.occurrences(&alarm, t(1.5), t(1.995)), 50);
        assert_eq!(tl.evseq_gaps(RigTime::ZERO, t(1000.0)), 1, "the lost event; the BOOT's 1 is no gap");
        assert_eq!(tl.evseq_gaps(RigTime::ZERO, t(50.0)), 0, "before the lost event");
        let first = tl.first_after(&Condition::Cleared(AlarmCode::DoseLimit), t(2.0)).unwrap();
        assert_eq!(first, t(1.0 + 201.0 * 0.005), "the first CLEAR at or after 2 s, read from the spill file");
    }

    #[test]
    fn an_alarm_raised_while_events_were_lost_is_counted_once_at_its_re_read() {
        let mut tl = Timeline::with_memory(4);
        let stall = Condition::Alarm(AlarmCode::MotorStall);
        for k in 1..=20u32 {
            tl.record(&RunEvent {
                at: t(f64::from(k)),
                kind: event(k, 0, EventKind::State { state: PumpState::Running }),
            });
        }
        tl.record(&RunEvent { at: t(30.0), kind: RunEventKind::EventGap { expected: 21, received: 23 } });
        tl.record(&RunEvent { at: t(30.0), kind: event(23, 0, EventKind::State { state: PumpState::Alarm }) });
        let resync = RunEventKind::AlarmsResynced { active: vec![AlarmCode::MotorStall] };
        tl.record(&RunEvent { at: t(30.5), kind: resync.clone() });
        assert_eq!(tl.count(&stall), 1);
        let found = tl.first_occurrence_after(&stall, t(0.0)).unwrap();
        assert_eq!(found.arrived, t(30.5));
        assert!((found.at.as_secs_f64() - 25.0).abs() < 1e-9, "between the last event (20 s) and the gap (30 s)");
        // A second re-read that still shows it active is not a new raise.
        tl.record(&RunEvent { at: t(40.0), kind: resync });
        assert_eq!(tl.count(&stall), 1);
        assert_eq!(tl.occurrences(&stall, t(30.0), t(31.0)), 1);
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
