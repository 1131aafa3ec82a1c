//! Runs one plan case on an open bench: the steps in order, with the sampler, the STATUS poll
//! and the pump's events running beside them, all stamped by the one clock and flowing as one
//! event stream to the timeline and the reporters.
//!
//! Whatever happens — pass, fail, a bench error, an interrupt, a lost link — the case ends by
//! putting the bench in its safe state (valve open, pump stopped), and every sample recorded up
//! to then has gone to the reporters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;

use crate::bench::{Bench, BenchError};
use crate::clock::RigTime;
use crate::link::{LinkError, PumpNotice};
use crate::plan::{Action, Condition, Endpoint, Expect, ExpectedOutcome, Plan, Probe, StepKind, Unit, ValveCommand};
use crate::protocol::{BolusReply, ErrCode, Response};

use super::evaluate::{EvalContext, describe, evaluate};
use super::event::{Reporter, RunEvent, RunEventKind, StatusTaken, hand_out_all};
use super::sampler::{LazyHandle, SampleSink, Sampler};
use super::timeline::Timeline;
use crate::judgement::{CheckOutcome, Decision, Verdict};

/// What a case produced.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    pub verdict: Verdict,
    /// Why the case stopped early, if it did.
    pub reason: Option<String>,
    pub checks: Vec<CheckOutcome>,
    pub bench_time: RigTime,
    pub samples: usize,
}

/// How a case is run.
#[derive(Debug, Clone, Copy)]
pub struct CaseOptions {
    /// Virtual time (the in-process twin): sample from a task, not a thread.
    pub virtual_time: bool,
    /// A person can answer prompts.
    pub interactive: bool,
}

/// Why the step sequence stopped before its end.
enum Stop {
    /// The pump did not do what a step needed: a finding.
    Finding(String),
    /// The bench or the rig failed.
    Bench(String),
    /// SIGINT/SIGTERM.
    Interrupted(String),
}

impl From<BenchError> for Stop {
    fn from(e: BenchError) -> Stop {
        Stop::Bench(e.to_string())
    }
}

/// What a wait ended on.
enum Waited {
    Reached,
    TimedOut,
}

struct Executor<'a> {
    bench: &'a mut Bench,
    plan: &'a Plan,
    options: CaseOptions,
    events_tx: UnboundedSender<RunEvent>,
    events: UnboundedReceiver<RunEvent>,
    /// The sampler's readings (samples, air, failed reads), apart from the other events: under
    /// virtual time the executor takes them when something else wakes it (a STATUS poll, a
    /// frame, its own deadline), not once per sample, unless what it waits for is in the flow.
    /// A fault that stops the sampler comes on `events`, and wakes it.
    readings_tx: UnboundedSender<RunEvent>,
    readings: UnboundedReceiver<RunEvent>,
    reporters: &'a mut [Box<dyn Reporter + Send>],
    timeline: Timeline,
    checks: Vec<CheckOutcome>,
    eval: EvalContext,
    valve_state: Arc<AtomicBool>,
    /// The step being run is followed by a `repeat_seq` probe: its pump command goes out as
    /// command-then-repeat, so the two frames are adjacent on the wire (the pump caches only the
    /// previous request, and the STATUS poll shares the line).
    repeat_next: bool,
    /// For a `wait_until` on a pump event right after an action: how many of those events had
    /// been seen when the action began. What the action caused may arrive before the wait
    /// starts (over a real line, the pump's event can beat the bench bus's answer to the INJECT
    /// that caused it); counting, not comparing times, also holds under virtual time, where
    /// the action and an older event can share an instant.
    seen_before_action: Option<usize>,
    /// The first and the repeated answer, for the probe.
    repeat_answers: Option<(Response, Response)>,
    interrupt: watch::Receiver<Option<String>>,
    samples: usize,
    link_lost: Option<String>,
    /// The first check the bench's data could not support (air in the line under it).
    unjudged: Option<String>,
    /// The link's notices and frame trace, read by the executor itself.
    notices: Option<UnboundedReceiver<PumpNotice>>,
    frames: Option<UnboundedReceiver<crate::link::FrameRecord>>,
    reorder: Reorder,
    /// What one drain of the sources took, before it is merged (see `drain_with`).
    arrivals: Vec<(u8, RunEvent)>,
    /// The events one release hands the reporters (kept, like `arrivals`).
    ready: Vec<RunEvent>,
    /// The injections in effect, and when each timed one is to be undone.
    injected: super::injections::InEffect,
    /// The STATUS poll got no usable answer: the pump stopped answering.
    pump_silent: Option<String>,
    /// The sampler stopped on a sensor fault (stuck, reads failing): why, naming the sensor.
    sampler_dead: Option<String>,
    /// A lazy sampler (the in-process twin): its readings due by now are taken before any are
    /// looked at.
    lazy: Option<LazyHandle>,
    /// The flow sensor, its serial number and its bus, in words.
    sensor_name: String,
    /// Which BOOTs the plan caused, and whether the others were resets.
    resets: super::resets::ResetWatch,
    /// A reset the plan did not cause: the pump reset itself.
    unplanned_boot: Option<String>,
}

/// Runs `plan` on `bench`. `interrupt` carries the signal's name once the run must stop.
pub async fn run_case(
    bench: &mut Bench,
    plan: &Plan,
    eval: EvalContext,
    options: CaseOptions,
    reporters: &mut [Box<dyn Reporter + Send>],
    interrupt: watch::Receiver<Option<String>>,
) -> CaseReport {
    let (events_tx, events) = mpsc::unbounded_channel();
    let (readings_tx, readings) = mpsc::unbounded_channel();
    let mut ex = Executor {
        bench,
        plan,
        options,
        events_tx,
        events,
        readings_tx,
        readings,
        reporters,
        timeline: Timeline::new(),
        checks: Vec::new(),
        eval,
        valve_state: Arc::new(AtomicBool::new(false)),
        repeat_next: false,
        seen_before_action: None,
        repeat_answers: None,
        interrupt,
        samples: 0,
        link_lost: None,
        unjudged: None,
        notices: None,
        frames: None,
        reorder: Reorder::new(if options.virtual_time { Duration::ZERO } else { REORDER_HORIZON }),
        arrivals: Vec::new(),
        ready: Vec::new(),
        injected: Default::default(),
        pump_silent: None,
        sampler_dead: None,
        lazy: None,
        sensor_name: "flow sensor".into(),
        resets: Default::default(),
        unplanned_boot: None,
    };
    ex.emit(RunEventKind::CaseStarted {
        plan: plan.id.clone(),
        case: plan.case.as_ref().map(|c| c.name.clone()),
        steps: plan.steps.len(),
    });
    // Events and frames flow from the start, so the record shows what start-up did in order.
    ex.take_link_streams();
    let prepared = ex.prepare().await;
    let (sampler, pollers) = match &prepared {
        Ok(_) => ex.start_observers().await,
        Err(_) => (Err("not started".to_string()), Vec::new()),
    };
    let stopped = match (prepared, sampler.as_ref()) {
        (Err(stop), _) => Err(stop),
        (Ok(left_over), Ok(_)) => ex.run_steps(&left_over).await,
        (Ok(_), Err(e)) => Err(Stop::Bench(e.clone())),
    };
    // A BOOT not yet judged by the pump's clock gets a STATUS (if the link still answers).
    if !matches!(stopped, Err(Stop::Interrupted(_))) {
        ex.judge_pending_boot().await;
    }
    // Injections undone (a corrupting line would keep STOP out), then the safe state, then
    // collect what the observers still hold.
    ex.undo_all_injections().await;
    let safe = ex.bench.make_safe().await;
    for p in pollers {
        p.abort();
    }
    ex.lazy = None;
    if let Ok(sampler) = sampler {
        if let Some(super::sampler::Stopped { mut sensor, stats }) = sampler.stop().await {
            let _ = sensor.stop_continuous();
            ex.bench.return_sensor(sensor);
            ex.emit(RunEventKind::SamplerStats(Box::new(stats)));
        }
    }
    ex.drain();
    // A reset the plan did not cause is a finding about the firmware, whatever came after it
    // (an interrupt aside): later errors may be its consequences.
    // A sensor fault found after the last step still ends the case ERROR: the checks before it
    // may rest on readings it had already spoiled (a stuck sensor is known only after a while).
    let stopped = match (stopped, ex.sampler_dead.clone()) {
        (Ok(()), Some(why)) => Err(Stop::Bench(why)),
        (stopped, _) => stopped,
    };
    let stopped = match (stopped, ex.unplanned_boot.clone()) {
        (Err(Stop::Interrupted(why)), _) => Err(Stop::Interrupted(why)),
        (Err(Stop::Finding(why)), Some(boot)) if why != boot => Err(Stop::Finding(format!("{boot}; then: {why}"))),
        (Err(Stop::Bench(why)), Some(boot)) => Err(Stop::Finding(format!("{boot}; then: {why}"))),
        (Ok(()), Some(boot)) => Err(Stop::Finding(boot)),
        (stopped, _) => stopped,
    };
    ex.emit(RunEventKind::SafeState { pump_stopped: safe.pump_stopped.clone(), valve_open: safe.valve_open.clone() });
    let (verdict, reason) = match stopped {
        Ok(()) if ex.checks.iter().any(|c| c.verdict == Verdict::Fail) => {
            (Verdict::Fail, ex.unjudged.as_ref().map(|u| format!("a check could not be judged: {u}")))
        }
        Ok(()) if ex.unjudged.is_some() => (Verdict::Error, ex.unjudged.clone()),
        Ok(()) if ex.checks.iter().any(|c| c.verdict == Verdict::Inconclusive) => (Verdict::Inconclusive, None),
        Ok(()) => (Verdict::Pass, None),
        Err(Stop::Finding(why)) => (Verdict::Fail, Some(why)),
        Err(Stop::Bench(why)) => (Verdict::Error, Some(why)),
        Err(Stop::Interrupted(why)) => (Verdict::Aborted, Some(why)),
    };
    let (verdict, reason) = if safe.is_safe() || verdict == Verdict::Aborted {
        (verdict, reason)
    } else {
        // A bench that could not be made safe is the rig's failure whatever the pump did.
        let failed = |what: &str, r: &Result<(), String>| r.as_ref().err().map(|e| format!("{what} failed ({e})"));
        let parts: Vec<String> =
            [failed("pump STOP", &safe.pump_stopped), failed("opening the valve", &safe.valve_open)]
                .into_iter()
                .flatten()
                .collect();
        let why = format!("the bench could not be made safe: {}", parts.join("; "));
        (Verdict::Error, Some(reason.map_or(why.clone(), |r| format!("{r}; {why}"))))
    };
    ex.emit(RunEventKind::CaseFinished { verdict, reason: reason.clone() });
    ex.flush_reorder();
    for r in ex.reporters.iter_mut() {
        r.finish();
    }
    CaseReport { verdict, reason, checks: ex.checks, bench_time: ex.bench.clock().now(), samples: ex.samples }
}

impl Executor<'_> {
    /// Takes the link's notices and frame trace: the executor reads them itself, so a frame the
    /// link traced before completing a request is on the timeline before anything the executor
    /// does after that completion.
    fn take_link_streams(&mut self) {
        if let Some(streams) = self.bench.take_link_streams() {
            self.notices = Some(streams.notices);
            self.frames = Some(streams.frames);
        }
    }

    /// Start-up (see [`super::startup`]): the bench brought to a known state and the pump's
    /// state before the first step recorded. Returns the alarms left over, to be acknowledged
    /// again once `setup:` has run.
    async fn prepare(&mut self) -> Result<Vec<crate::protocol::AlarmCode>, Stop> {
        let tau = self.bench.test_line().time_constant();
        let found = super::startup::start_up(self.bench, tau).await.map_err(|f| Stop::Bench(f.0))?;
        let left_over = found.left_over.clone();
        self.emit(RunEventKind::StartUp(Box::new(found)));
        // The firmware under test, for the evidence: a pump that does not say who it is is not run.
        let snapshot = super::startup::snapshot(self.bench.link()).await.map_err(|f| Stop::Bench(f.0))?;
        self.emit(RunEventKind::PumpIdentified(Box::new(snapshot.id.clone())));
        self.emit(RunEventKind::PumpAtStart(Box::new(snapshot)));
        Ok(left_over)
    }

    /// Starts the sampler and the STATUS poll.
    async fn start_observers(&mut self) -> (Result<Sampler, String>, Vec<tokio::task::JoinHandle<()>>) {
        let mut tasks = Vec::new();
        let (link, tx, clock, period) =
            (self.bench.link().clone(), self.events_tx.clone(), self.bench.clock(), self.plan.status_period);
        tasks.push(tokio::spawn(async move {
            let mut k: u32 = 0;
            let mut failures_in_a_row: u32 = 0;
            loop {
                let asked_at = clock.now();
                let (at, kind) = match link.status().await {
                    Ok(status) => {
                        failures_in_a_row = 0;
                        (
                            clock.now(),
                            RunEventKind::PumpStatus { status: Box::new(status), taken: StatusTaken::Poll, asked_at },
                        )
                    }
                    // The link's task has ended: the executor learns it from the link's notices
                    // (see `drain_with`), however the task ended.
                    Err(LinkError::Disconnected { .. }) => break,
                    Err(e) => {
                        failures_in_a_row += 1;
                        (clock.now(), status_failure(e, failures_in_a_row))
                    }
                };
                let lost = matches!(kind, RunEventKind::PumpSilent { .. });
                if tx.send(RunEvent { at, kind }).is_err() || lost {
                    break;
                }
                k += 1;
                clock.sleep_until(RigTime::ZERO + period * k).await;
            }
        }));
        let sampler = match self.bench.take_sensor() {
            Some(mut sensor) => {
                self.sensor_name = sensor_name(&sensor, self.bench.sensor_identity().serial_number);
                let started = if sensor.is_measuring() { Ok(()) } else { sensor.start_continuous() };
                match started {
                    Ok(()) => {
                        let sink = SampleSink { readings: self.readings_tx.clone(), faults: self.events_tx.clone() };
                        let (name, period, valve) =
                            (self.sensor_name.clone(), self.plan.sample_period, self.valve_state.clone());
                        match self.bench.twin().filter(|_| self.options.virtual_time) {
                            Some(twin) => Ok(Sampler::on_twin(sensor, name, twin.clone(), period, valve, sink)),
                            None => Sampler::spawn_named(
                                sensor,
                                name,
                                self.bench.clock(),
                                period,
                                valve,
                                sink,
                                self.options.virtual_time,
                            )
                            .map_err(|e| format!("cannot start the sampler thread: {e}")),
                        }
                    }
                    Err(e) => {
                        let why = e.to_string();
                        self.bench.return_sensor(sensor);
                        Err(why)
                    }
                }
            }
            None => Err("the flow sensor is not available".into()),
        };
        self.lazy = sampler.as_ref().ok().and_then(Sampler::lazy_handle);
        (sampler, tasks)
    }

    async fn run_steps(&mut self, left_over: &[crate::protocol::AlarmCode]) -> Result<(), Stop> {
        let started = self.bench.clock().now();
        self.drain();
        self.resets.start_watching();
        for (index, step) in self.plan.steps.iter().enumerate() {
            self.check_interrupt()?;
            if index == self.plan.setup_len {
                // What the pump had latched before the case, once setup may have removed its
                // condition (a `fill:` of an empty reservoir): acknowledged, or the case refused.
                let acknowledged = super::startup::clear_left_over(self.bench.link(), left_over)
                    .await
                    .map_err(|f| Stop::Bench(f.0))?;
                if !acknowledged.is_empty() {
                    self.emit(RunEventKind::LeftOverCleared { acknowledged });
                }
            }
            if let Some(max) = self.plan.max_duration {
                if self.bench.clock().now().since(started) > max {
                    return Err(Stop::Bench(format!("the case exceeded its max_duration of {} s", max.as_secs())));
                }
            }
            self.repeat_next = matches!(
                self.plan.steps.get(index + 1).map(|s| &s.kind),
                Some(StepKind::Action { action: Action::Probe(Probe::RepeatSeq), .. })
            );
            self.emit(RunEventKind::StepStarted { index, label: step.label.clone() });
            let seen_before_action = self.seen_before_action.take();
            match &step.kind {
                StepKind::Action { action, expect } => {
                    if let Some(StepKind::WaitUntil { condition, .. }) = self.plan.steps.get(index + 1).map(|s| &s.kind)
                        && is_pump_event(condition)
                    {
                        self.drain();
                        self.seen_before_action = Some(self.timeline.count(condition));
                    }
                    self.act(action, expect.as_ref()).await?
                }
                StepKind::Wait(d) => {
                    let until = self.bench.clock().now() + *d;
                    self.wait(Some(until), false, |_, _| false).await?;
                }
                StepKind::WaitUntil { condition, timeout, already_active_ok } => {
                    let now = self.bench.clock().now();
                    let condition = *condition;
                    self.drain();
                    // A pump event counts if it came after the wait began or, right after an
                    // action, after the action began: its effect may have come first.
                    let before = seen_before_action.unwrap_or_else(|| self.timeline.count(&condition));
                    let caused_by_the_action = self.timeline.count(&condition) > before;
                    if let Condition::Alarm(code) = condition
                        && !caused_by_the_action
                        && self.refuse_if_already_active(code, *already_active_ok).await?
                    {
                        // Already active, and the step allows it: the wait ends at once.
                        self.emit(RunEventKind::StepFinished { index });
                        continue;
                    }
                    let done = move |tl: &Timeline, _: RigTime| {
                        if is_pump_event(&condition) {
                            tl.count(&condition) > before
                        } else {
                            tl.first_after(&condition, now).is_some()
                        }
                    };
                    let waited = self.wait(Some(now + *timeout), !is_pump_event(&condition), done).await?;
                    if let Waited::TimedOut = waited {
                        let what = format!("waited {} s for {}: timed out", timeout.as_secs(), describe(&condition));
                        self.emit(RunEventKind::BenchAction { what, outcome: "continuing".into() });
                    }
                }
                StepKind::Mark(name) => {
                    self.emit(RunEventKind::Mark { name: name.clone() });
                    // Checks that read the pump `at:` this mark use this STATUS, not a poll
                    // that may be up to `status_period` old.
                    self.read_status(StatusTaken::Mark(name.clone())).await?;
                    if settings_read_at(self.plan, name) {
                        self.read_settings(StatusTaken::Mark(name.clone())).await?;
                    }
                }
                StepKind::Check(check) => {
                    // Judge on data up to this instant: let the sample taken now arrive first
                    // (at most two sample periods; a dead sensor is reported by the health check).
                    let now = self.bench.clock().now();
                    let settle = now + self.plan.sample_period * 2;
                    self.wait(Some(settle), true, move |tl, _| tl.last_sample_at().is_some_and(|t| t >= now)).await?;
                    if reads_pump_now(&check.measure) {
                        self.read_status(StatusTaken::Check(check.id.clone())).await?;
                    }
                    if matches!(check.measure, crate::plan::Measure::Setting { at: None, .. }) {
                        self.read_settings(StatusTaken::Check(check.id.clone())).await?;
                    }
                    let outcome = evaluate(check, &self.timeline, now, &self.eval);
                    // Only a bench problem under the data (air in the line) makes a check ERROR.
                    // The case goes on: checks on other data (the pump's events, flow away from
                    // the air) are still evidence, and a FAIL among them is a finding.
                    if outcome.verdict == Verdict::Error && self.unjudged.is_none() {
                        self.unjudged =
                            Some(format!("{}: {} (check `{}`)", self.sensor_name, outcome.detail, check.id));
                    }
                    self.record_check(outcome);
                }
            }
            self.emit(RunEventKind::StepFinished { index });
        }
        Ok(())
    }

    /// Makes the injections' undo requests that have fallen due (a stall `for:` 5 min ends).
    async fn undo_due_injections(&mut self) -> Result<(), Stop> {
        while let Some(undo) = self.injected.take_due(self.bench.clock().now()) {
            self.bench.inject(undo).await?;
            self.emit(RunEventKind::BenchAction {
                what: format!("INJECT {undo}"),
                outcome: "accepted (its time was up)".into(),
            });
        }
        Ok(())
    }

    /// At the end of the case: undoes every injection still in effect, so that the safe state
    /// gets through (a line corrupting frames) and the next case starts on a sound bench.
    async fn undo_all_injections(&mut self) {
        for undo in self.injected.take_all() {
            let outcome = match self.bench.inject(undo).await {
                Ok(()) => "accepted (the case is over)".to_string(),
                Err(e) => format!("FAILED: {e}"),
            };
            self.emit(RunEventKind::BenchAction { what: format!("INJECT {undo}"), outcome });
        }
    }

    /// Reads SETTINGS now, for checks of the programmed settings at a mark or now.
    async fn read_settings(&mut self, taken: StatusTaken) -> Result<(), Stop> {
        match self.bench.link().settings().await {
            Ok(settings) => {
                self.emit(RunEventKind::PumpSettings { settings, taken });
                Ok(())
            }
            Err(e) => Err(Stop::Bench(format!("SETTINGS: {e}"))),
        }
    }

    /// A `wait_until` on an alarm waits for it to be raised after the wait begins. One already
    /// active then would end the wait at once and let later checks pass on what happened
    /// before: the case ends ERROR, unless the step says `already_active: ok` (then `true`: the
    /// alarm is active and the wait ends at once).
    async fn refuse_if_already_active(&mut self, code: crate::protocol::AlarmCode, ok: bool) -> Result<bool, Stop> {
        let active =
            self.bench.link().alarms().await.map_err(|e| Stop::Bench(format!("ALARMS before the wait: {e}")))?;
        if !active.contains(&code) {
            return Ok(false);
        }
        if ok {
            let what = format!("{code} was already active when the wait began (the step allows it)");
            self.emit(RunEventKind::BenchAction { what, outcome: "continuing".into() });
            return Ok(true);
        }
        Err(Stop::Bench(format!(
            "{code} was already active when the wait began: the wait would end at once and later checks would judge what happened before it; raise it after the wait begins, or write `already_active: ok` on the step"
        )))
    }

    /// Reads STATUS now and puts it on the timeline, tagged with what it was read for. A pump
    /// that does not answer it stops the case: checks never fall back on older data.
    async fn read_status(&mut self, taken: StatusTaken) -> Result<(), Stop> {
        let what = match &taken {
            StatusTaken::Mark(m) => format!("STATUS at mark `{m}`"),
            StatusTaken::Check(c) => format!("STATUS for check `{c}`"),
            StatusTaken::Poll => "STATUS".to_string(),
        };
        let asked_at = self.bench.clock().now();
        match self.bench.link().status().await {
            Ok(status) => {
                self.emit(RunEventKind::PumpStatus { status: Box::new(status), taken, asked_at });
                Ok(())
            }
            Err(e) => Err(Stop::Bench(format!("{what}: {e}"))),
        }
    }

    /// Lets time pass until `until` (or forever), forwarding events, until `done` holds.
    /// Waits until `done` holds or `until` passes, taking every event meanwhile. `on_flow`: what
    /// `done` looks at is in the samples, so each reading must wake the wait; otherwise, under
    /// virtual time, readings are taken when something else wakes it (in real time every reading
    /// wakes it anyway, so the reporters write each sample as it comes).
    async fn wait(
        &mut self,
        until: Option<RigTime>,
        on_flow: bool,
        done: impl Fn(&Timeline, RigTime) -> bool,
    ) -> Result<Waited, Stop> {
        let clock = self.bench.clock();
        let every_reading = on_flow || !self.options.virtual_time;
        // A lazy sampler takes each reading as it falls due while the wait looks at the flow.
        let _each_reading = self.lazy.as_ref().filter(|_| on_flow).map(LazyHandle::each_reading);
        // One timer for the whole wait, moved only when the next deadline moves: a timer per
        // wake-up was most of what a virtual-time run cost.
        let mut armed: Option<RigTime> = None;
        let sleep = tokio::time::sleep_until(clock.instant(RigTime::ZERO));
        tokio::pin!(sleep);
        loop {
            self.check_health()?;
            if done(&self.timeline, clock.now()) {
                return Ok(Waited::Reached);
            }
            if until.is_some_and(|u| clock.now() >= u) {
                return Ok(Waited::TimedOut);
            }
            self.undo_due_injections().await?;
            let wake = match (until, self.injected.next_due()) {
                (Some(u), Some(d)) => Some(u.min(d)),
                (u, d) => u.or(d),
            };
            match wake {
                Some(w) if armed != Some(w) => sleep.as_mut().reset(clock.instant(w)),
                _ => {}
            }
            armed = wake;
            let first = tokio::select! {
                biased;
                _ = self.interrupt.changed() => {
                    self.check_interrupt()?;
                    None
                }
                Some(e) = recv_opt(&mut self.frames) => Some(Arrival::Frame(e)),
                // `None` too: the link's end, taken by the drain.
                n = recv_opt(&mut self.notices) => n.map(Arrival::Notice),
                Some(e) = self.readings.recv(), if every_reading => Some(Arrival::Reading(e)),
                Some(e) = self.events.recv() => Some(Arrival::Event(e)),
                _ = &mut sleep, if armed.is_some() => None,
            };
            // Whatever else has arrived meanwhile joins it before the reporters see any of it.
            self.drain_with(first);
        }
    }

    fn check_interrupt(&self) -> Result<(), Stop> {
        match self.interrupt.borrow().as_ref() {
            Some(signal) => Err(Stop::Interrupted(format!("interrupted by {signal}"))),
            None => Ok(()),
        }
    }

    fn check_health(&self) -> Result<(), Stop> {
        self.check_interrupt()?;
        if let Some(why) = &self.link_lost {
            return Err(Stop::Bench(format!("pump on {}: serial link lost: {why}", self.bench.link().device())));
        }
        if let Some(why) = &self.pump_silent {
            return Err(Stop::Bench(why.clone()));
        }
        if let Some(why) = &self.sampler_dead {
            return Err(Stop::Bench(why.clone()));
        }
        if let Some(why) = &self.unplanned_boot {
            return Err(Stop::Finding(why.clone()));
        }
        Ok(())
    }

    async fn act(&mut self, action: &Action, expect: Option<&Expect>) -> Result<(), Stop> {
        let link = self.bench.link().clone();
        use crate::protocol::Command;
        let observed: Observed = match action {
            Action::Start => self.command(Command::Start).await?,
            Action::Stop => self.command(Command::Stop).await?,
            Action::Fill { volume_ul } => self.command(Command::Fill { volume_ul: *volume_ul }).await?,
            Action::Program { basal_ul_h } => self.command(Command::Program { basal_ul_h: *basal_ul_h }).await?,
            Action::BolusConfig { dose_ul, lockout, max_per_24h } => {
                let lockout_s = u32::try_from(lockout.as_secs()).unwrap_or(u32::MAX);
                self.command(Command::BolusConfig { dose_ul: *dose_ul, lockout_s, max_per_24h: *max_per_24h }).await?
            }
            Action::Limit { max_24h_ul } => self.command(Command::Limit { max_24h_ul: *max_24h_ul }).await?,
            Action::AlarmConfig { low_reservoir_ul, occlusion_kpa } => {
                let (low_reservoir_ul, occlusion_kpa) = (*low_reservoir_ul, *occlusion_kpa);
                self.command(Command::AlarmConfig { low_reservoir_ul, occlusion_kpa }).await?
            }
            Action::Ack { alarm } => self.command(Command::Ack { code: *alarm }).await?,
            Action::Valve(command) => {
                let result = match command {
                    ValveCommand::Close => self.bench.close_valve(),
                    ValveCommand::Open => self.bench.open_valve(),
                };
                result.map_err(|e| Stop::Bench(e.to_string()))?;
                self.valve_state.store(*command == ValveCommand::Close, Ordering::Relaxed);
                Observed::Accepted
            }
            Action::Bolus { repeat: None } => self.command(Command::Bolus).await?,
            Action::Bolus { repeat: Some(r) } => {
                let start = self.bench.clock().now();
                let mut last = Observed::Accepted;
                for i in 0..r.count {
                    self.wait(Some(start + r.every * i), false, |_, _| false).await?;
                    last = self.command(Command::Bolus).await?;
                }
                // A repeated request is judged by the checks over its replies, not by the last one.
                if expect.is_some() { last } else { Observed::Accepted }
            }
            Action::Prompt { text } => {
                // What the operator was asked to do may reset the pump (a battery swap).
                let answered = self.prompt(text).await;
                self.expect_boot();
                answered?
            }
            Action::Probe(Probe::BadCrc { command }) => {
                let r = link.probe_bad_crc(command.clone()).await.map_err(link_stop)?;
                self.observe_response(&r)
            }
            Action::Probe(Probe::RepeatSeq) => match self.repeat_answers.take() {
                Some((first, repeated)) if first == repeated => Observed::Accepted,
                Some((first, repeated)) => {
                    Observed::Different(format!("answered {:?}, previously {:?}", repeated.payload(), first.payload()))
                }
                None => {
                    return Err(Stop::Bench(
                        "a repeat_seq probe must follow a step that sends the pump a request".into(),
                    ));
                }
            },
            Action::Inject(injection) => {
                let requests = super::injections::requests(*injection);
                if requests.now == crate::bus::codec::Inject::Watchdog {
                    self.expect_boot();
                }
                self.bench.inject(requests.now).await?;
                self.injected.made(self.bench.clock().now(), requests.now, requests.undo_after);
                Observed::Accepted
            }
        };
        self.emit(RunEventKind::BenchAction { what: action_text(action), outcome: observed.describe() });
        match expect {
            Some(e) => {
                let outcome = judge(e, &observed);
                self.record_check(outcome);
                Ok(())
            }
            None => match observed {
                Observed::Accepted | Observed::Granted => Ok(()),
                other => Err(Stop::Finding(format!(
                    "`{}`: the pump {} (the plan expected it to be accepted)",
                    action_text(action),
                    other.describe()
                ))),
            },
        }
    }

    /// Sends a pump command and says what the pump answered. A refusal is an answer (judged by
    /// the step's expectation); a link failure stops the case as a bench error. The answer is
    /// kept for a following `repeat_seq` probe.
    async fn command(&mut self, command: crate::protocol::Command) -> Result<Observed, Stop> {
        let is_bolus = command == crate::protocol::Command::Bolus;
        let text = command.to_string();
        let (response, attempts) = if self.repeat_next {
            let (first, repeated) = self.bench.link().command_then_repeat(command).await.map_err(link_stop)?;
            self.repeat_answers = Some((first.clone(), repeated));
            (first, 1)
        } else {
            self.bench.link().submit(crate::protocol::session::Submission::Command(command)).await.map_err(link_stop)?
        };
        match &response.outcome {
            Ok(fields) if is_bolus => {
                let reply = BolusReply::from_fields(fields).map_err(|e| {
                    Stop::Bench(format!("pump answered BOLUS with {:?}, which breaks the ICD: {e}", response.payload()))
                })?;
                self.emit(RunEventKind::Bolus { reply });
                Ok(match reply {
                    BolusReply::Granted { .. } => Observed::Granted,
                    BolusReply::Denied { reason } => Observed::Denied(reason),
                })
            }
            Ok(_) => Ok(Observed::Accepted),
            // ERR CRC to every attempt: the line damages frames; that is the bench's problem.
            Err(e) if e.code == ErrCode::Crc => Err(link_stop(LinkError::CrcRejected {
                device: self.bench.link().device().to_string(),
                command: text,
                attempts,
            })),
            Err(e) => Ok(Observed::Refused(e.code)),
        }
    }

    fn observe_response(&mut self, r: &Response) -> Observed {
        match &r.outcome {
            Ok(_) => Observed::Accepted,
            Err(e) => Observed::Refused(e.code),
        }
    }

    async fn prompt(&mut self, text: &str) -> Result<Observed, Stop> {
        if !self.options.interactive {
            return Err(Stop::Bench("the plan asks the operator, but this run is not interactive".into()));
        }
        crate::say_err!("\n  OPERATOR: {text}\n  (press Enter when done)");
        let answered = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| ())
        });
        tokio::select! {
            r = answered => match r {
                Ok(Ok(())) => Ok(Observed::Accepted),
                _ => Err(Stop::Bench("no answer from the operator (standard input closed)".into())),
            },
            _ = self.interrupt.changed() => Err(self.check_interrupt().err().unwrap_or(Stop::Interrupted("interrupted".into()))),
        }
    }

    fn record_check(&mut self, outcome: CheckOutcome) {
        self.checks.push(outcome.clone());
        self.emit(RunEventKind::Check(Box::new(outcome)));
    }

    /// Forwards events that are already waiting, so the executor's own events follow them.
    fn drain(&mut self) {
        self.drain_with(None);
    }

    /// Takes everything that has arrived (`first` is what woke the executor) onto the timeline
    /// in the order it happened. Each source delivers in its own order, but the sources race
    /// one another: what the link traced, the pump's events, the sampler's readings and the
    /// STATUS poll are merged by their stamps (stably, so each source keeps its order for
    /// equal stamps), not taken channel by channel.
    fn drain_with(&mut self, first: Option<Arrival>) {
        // Tagged with their source, so equal stamps keep a fixed order of sources (frames,
        // notices, readings, the rest) and, stably, each source's own order.
        if let Some(lazy) = &self.lazy {
            lazy.catch_up();
        }
        // The buffer is the executor's, kept between drains: a drain per wake-up allocated one.
        let mut batch = std::mem::take(&mut self.arrivals);
        batch.extend(first.map(Arrival::tagged));
        while let Some(f) = self.frames.as_mut().and_then(|r| r.try_recv().ok()) {
            batch.push(Arrival::Frame(f).tagged());
        }
        while let Some(received) = self.notices.as_mut().map(|r| r.try_recv()) {
            match received {
                Ok(n) => batch.push(Arrival::Notice(n).tagged()),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    // The link's task has ended and all it said is taken. One that ended by
                    // itself said why (its `LinkLost`, in this batch or before); one cut off (a
                    // panic in it) said nothing, and the case must not go on without its pump.
                    self.notices = None;
                    let lost = |e: &RunEvent| matches!(e.kind, RunEventKind::LinkLost { .. });
                    if self.link_lost.is_none() && !batch.iter().any(|(_, e)| lost(e)) {
                        let reason = "the link's task ended without saying why".to_string();
                        let at = self.bench.clock().now();
                        batch.push((1, RunEvent { at, kind: RunEventKind::LinkLost { reason } }));
                    }
                }
            }
        }
        while let Ok(e) = self.readings.try_recv() {
            batch.push(Arrival::Reading(e).tagged());
        }
        while let Ok(e) = self.events.try_recv() {
            batch.push(Arrival::Event(e).tagged());
        }
        batch.sort_by_key(|(source, e)| (e.at, *source));
        for (_, e) in batch.drain(..) {
            self.forward(e);
        }
        self.arrivals = batch;
        self.release();
    }

    fn emit(&mut self, kind: RunEventKind) {
        self.drain();
        let event = RunEvent { at: self.bench.clock().now(), kind };
        self.deliver(event);
        self.release();
    }

    fn forward(&mut self, event: RunEvent) {
        match &event.kind {
            RunEventKind::Sample(_) => self.samples += 1,
            RunEventKind::SensorFault { why, .. } => self.sampler_dead = Some(why.clone()),
            RunEventKind::LinkLost { reason } => self.link_lost = Some(reason.clone()),
            RunEventKind::PumpSilent { why } => self.pump_silent = Some(why.clone()),
            _ => {}
        }
        self.deliver(event);
    }

    /// The plan is about to cause a reset: a BOOT arriving within
    /// [`super::resets::EXPECTED_BOOT_WITHIN`] from now is its result.
    fn expect_boot(&mut self) {
        self.resets.expect(self.bench.clock().now());
    }

    /// Feeds the reset watch; a BOOT it could not judge yet is judged by the next STATUS.
    fn watch_resets(&mut self, event: &RunEvent) -> Option<RunEvent> {
        use super::resets::Resolved;
        let resolved = match &event.kind {
            RunEventKind::PumpEvent { event: e } => {
                if let crate::protocol::EventKind::Boot { reason } = e.kind {
                    self.resets.boot(event.at, reason);
                }
                None
            }
            RunEventKind::PumpStatus { status, asked_at, .. } => {
                self.resets.status(*asked_at, event.at, status.pump_ms)
            }
            RunEventKind::PumpAtStart(snapshot) => self.resets.status(event.at, event.at, snapshot.status.pump_ms),
            _ => None,
        };
        match resolved? {
            Resolved::Reset(why) => {
                self.unplanned_boot.get_or_insert(why);
                None
            }
            Resolved::NotAReset(what) => Some(RunEvent { at: event.at, kind: RunEventKind::Anomaly { what } }),
        }
    }

    /// At the end of the steps, a BOOT still waiting for a STATUS gets one.
    async fn judge_pending_boot(&mut self) {
        if self.resets.is_pending() {
            self.bench.clock().sleep_until(self.bench.clock().now() + Duration::from_millis(1)).await;
            let _ = self.read_status(StatusTaken::Poll).await;
        }
    }

    /// The timeline takes each event at once (waits and checks need it); the reporters take the
    /// events in time order, after [`Reorder`], once the sources have been drained.
    fn deliver(&mut self, event: RunEvent) {
        self.timeline.record(&event);
        let anomaly = self.watch_resets(&event);
        self.reorder.push(event);
        if let Some(anomaly) = anomaly {
            self.timeline.record(&anomaly);
            self.reorder.push(anomaly);
        }
    }

    /// Hands the reporters the events old enough to be in order, all at once (the reporters'
    /// thread takes them with one hand-over instead of one per event).
    fn release(&mut self) {
        let now = self.bench.clock().now();
        while let Some(e) = self.reorder.pop_ready(now) {
            self.ready.push(e);
        }
        if !self.ready.is_empty() {
            hand_out_all(self.reporters, &mut self.ready);
        }
    }

    /// Hands the reporters every event still held back (at the end of the case).
    fn flush_reorder(&mut self) {
        while let Some(e) = self.reorder.pop() {
            self.ready.push(e);
        }
        hand_out_all(self.reporters, &mut self.ready);
    }
}

/// Holds events back for a short horizon and releases them in time order: the sources (the
/// sampler, the STATUS poll, the link's frames and notices, the executor's own steps) stamp
/// events when they happened, and their arrival here can lag that by a read's duration.
#[derive(Debug)]
struct Reorder {
    held: std::collections::VecDeque<RunEvent>,
    horizon: Duration,
}

impl Reorder {
    fn new(horizon: Duration) -> Self {
        Self { held: std::collections::VecDeque::new(), horizon }
    }

    fn push(&mut self, event: RunEvent) {
        // Events mostly come in order: find the place from the back (stable for equal times).
        let at = self.held.iter().rposition(|e| e.at <= event.at).map_or(0, |i| i + 1);
        self.held.insert(at, event);
    }

    /// The oldest event, once it is older than the horizon.
    fn pop_ready(&mut self, now: RigTime) -> Option<RunEvent> {
        self.held.front().filter(|e| e.at + self.horizon <= now)?;
        self.held.pop_front()
    }

    fn pop(&mut self) -> Option<RunEvent> {
        self.held.pop_front()
    }
}

/// What woke the executor's wait.
enum Arrival {
    Frame(crate::link::FrameRecord),
    Notice(PumpNotice),
    Reading(RunEvent),
    Event(RunEvent),
}

impl Arrival {
    /// The run event, with its source's rank among equal stamps.
    fn tagged(self) -> (u8, RunEvent) {
        match self {
            Arrival::Frame(f) => (0, RunEvent { at: f.at, kind: RunEventKind::frame(f) }),
            Arrival::Notice(n) => (1, RunEvent { at: n.at(), kind: notice_event(n) }),
            Arrival::Reading(e) => (2, e),
            Arrival::Event(e) => (3, e),
        }
    }
}

/// How long events wait for earlier-stamped ones still on their way, in real time: a sensor read
/// or a frame is stamped when it began and arrives when it ended (a few ms). Under the virtual
/// clock everything is stamped with the instant it arrived, so nothing need wait.
const REORDER_HORIZON: Duration = Duration::from_millis(50);

async fn recv_opt<T>(rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A link notice as a run event.
fn notice_event(n: PumpNotice) -> RunEventKind {
    match n {
        PumpNotice::Event { event, .. } => RunEventKind::PumpEvent { event },
        PumpNotice::EventGap { expected, received, .. } => RunEventKind::EventGap { expected, received },
        PumpNotice::AlarmsResynced { active, .. } => RunEventKind::AlarmsResynced { active },
        PumpNotice::SlowAnswer { command, latency, .. } => RunEventKind::SlowAnswer {
            command,
            latency_ms: latency.as_secs_f64() * 1e3,
            allowed_ms: u64::try_from(crate::link::ICD_ANSWER_WITHIN.as_millis()).unwrap_or(u64::MAX),
        },
        PumpNotice::LinkLost { reason, .. } => RunEventKind::LinkLost { reason },
    }
}

/// The flow sensor in words for a bench error: model, serial number (as the sensor reported
/// it when the bench opened), address and bus.
fn sensor_name(
    sensor: &crate::drivers::flow_sensor::FlowSensor<crate::bench::instruments::BenchI2c>,
    serial: u64,
) -> String {
    use crate::bench::instruments::BenchI2c;
    let bus = match sensor.bus() {
        BenchI2c::Twin(_) => "the in-process twin's I2C bus".to_string(),
        BenchI2c::Bus(bus) => format!("the bench bus {}", bus.path().display()),
        BenchI2c::Linux(_) => "the Linux I2C device the bench file names (`i2c:`)".to_string(),
    };
    format!("flow sensor {} serial {serial} at 0x{:02X} on {bus}", sensor.model(), sensor.address())
}

/// Consecutive failed STATUS polls (malformed answers, refusals) after which the pump is taken to
/// have stopped answering STATUS. A poll that got no answer at all (every retry timed out) is
/// enough on its own.
const MAX_STATUS_FAILURES: u32 = 3;

/// The event for a failed STATUS poll: an anomaly, or the end of the case when the pump has
/// stopped answering.
fn status_failure(e: LinkError, in_a_row: u32) -> RunEventKind {
    match e {
        LinkError::Timeout { .. } => {
            RunEventKind::PumpSilent { why: format!("the pump stopped answering STATUS: {e}") }
        }
        _ if in_a_row >= MAX_STATUS_FAILURES => {
            RunEventKind::PumpSilent { why: format!("STATUS failed {in_a_row} times in a row, the last: {e}") }
        }
        _ => RunEventKind::Anomaly { what: format!("STATUS poll failed ({in_a_row} in a row): {e}") },
    }
}

/// Whether a check reads the programmed settings at `mark` (SETTINGS is read there).
fn settings_read_at(plan: &Plan, mark: &str) -> bool {
    plan.checks().any(|c| matches!(&c.measure, crate::plan::Measure::Setting { at: Some(m), .. } if m == mark))
}

/// Whether a check reads the pump as it is now (a STATUS is taken for it).
fn reads_pump_now(measure: &crate::plan::Measure) -> bool {
    use crate::plan::Measure;
    match measure {
        Measure::PumpValue { at: None, .. } => true,
        Measure::PumpChange { interval, .. } => interval.from == Endpoint::Now || interval.to == Endpoint::Now,
        _ => false,
    }
}

/// What the pump (or the bench) answered to an action.
#[derive(Debug, Clone, PartialEq)]
enum Observed {
    Accepted,
    Refused(ErrCode),
    Granted,
    Denied(crate::protocol::DenyReason),
    /// A repeated request answered otherwise than from the cache.
    Different(String),
}

impl Observed {
    fn describe(&self) -> String {
        match self {
            Observed::Accepted => "accepted".into(),
            Observed::Refused(code) => format!("refused it (ERR {code})"),
            Observed::Granted => "granted it".into(),
            Observed::Denied(reason) => format!("denied it (reason {reason})"),
            Observed::Different(why) => format!("did not answer from its cache: {why}"),
        }
    }
}

fn link_stop(e: LinkError) -> Stop {
    Stop::Bench(e.to_string())
}

/// Judges an action's answer against its expectation.
fn judge(expect: &Expect, observed: &Observed) -> CheckOutcome {
    let passed = match (&expect.outcome, observed) {
        (ExpectedOutcome::Accepted, Observed::Accepted | Observed::Granted) => true,
        (ExpectedOutcome::Refused { code, reason }, Observed::Refused(got)) => {
            reason.is_none() && code.is_none_or(|c| c == *got)
        }
        (ExpectedOutcome::Refused { code, reason }, Observed::Denied(got)) => {
            code.is_none() && reason.is_none_or(|r| r == *got)
        }
        _ => false,
    };
    let wanted = match &expect.outcome {
        ExpectedOutcome::Accepted => "accepted".to_string(),
        ExpectedOutcome::Refused { code: Some(c), .. } => format!("refused with ERR {c}"),
        ExpectedOutcome::Refused { reason: Some(r), .. } => format!("denied with reason {r}"),
        ExpectedOutcome::Refused { .. } => "refused".to_string(),
    };
    CheckOutcome {
        id: expect.id.clone(),
        title: format!("pump answer: {wanted}"),
        value: None,
        unit: Unit::Count,
        uncertainty: None,
        low: None,
        high: None,
        drift: None,
        decision: if passed { Decision::Pass } else { Decision::Fail },
        verdict: if passed { Verdict::Pass } else { Verdict::Fail },
        detail: format!("the pump {}; expected {wanted}", observed.describe()),
        verifies: expect.verifies.clone(),
        trumpet: None,
    }
}

fn action_text(action: &Action) -> String {
    match action {
        Action::Start => "START".into(),
        Action::Stop => "STOP".into(),
        Action::Valve(ValveCommand::Close) => "valve close (energise)".into(),
        Action::Valve(ValveCommand::Open) => "valve open (de-energise)".into(),
        Action::Fill { volume_ul } => format!("FILL volume_ul={volume_ul}"),
        Action::Program { basal_ul_h } => format!("PROGRAM basal_ul_h={basal_ul_h}"),
        Action::BolusConfig { dose_ul, lockout, max_per_24h } => {
            format!("BOLUS_CONFIG dose_ul={dose_ul} lockout_s={} max_per_24h={max_per_24h}", lockout.as_secs())
        }
        Action::Limit { max_24h_ul } => format!("LIMIT max_24h_ul={max_24h_ul}"),
        Action::AlarmConfig { low_reservoir_ul, occlusion_kpa } => {
            format!("ALARM_CONFIG low_reservoir_ul={low_reservoir_ul} occlusion_kpa={occlusion_kpa}")
        }
        Action::Bolus { repeat: None } => "BOLUS".into(),
        Action::Bolus { repeat: Some(r) } => format!("BOLUS every {} s, {} times", r.every.as_secs(), r.count),
        Action::Ack { alarm } => format!("ACK code={alarm}"),
        Action::Prompt { text } => format!("operator prompt: {text}"),
        Action::Probe(Probe::BadCrc { command }) => format!("probe: `{command}` with a bad CRC"),
        Action::Probe(Probe::RepeatSeq) => "probe: previous request repeated with its seq".into(),
        Action::Inject(i) => {
            let r = super::injections::requests(*i);
            match r.undo_after {
                Some((after, undo)) => {
                    format!("INJECT {} (then {undo} after {})", r.now, crate::plan::units::format_duration(after))
                }
                None => format!("INJECT {}", r.now),
            }
        }
    }
}

/// How long a wait may take at most, for progress estimates.
pub fn estimated_duration(plan: &Plan) -> Duration {
    plan.steps
        .iter()
        .map(|s| match &s.kind {
            StepKind::Wait(d) => *d,
            StepKind::WaitUntil { timeout, .. } => *timeout,
            StepKind::Action { action: Action::Bolus { repeat: Some(r) }, .. } => r.every * r.count.saturating_sub(1),
            _ => Duration::ZERO,
        })
        .sum()
}

/// A condition met by an event from the pump (not by a flow sample the rig took).
fn is_pump_event(condition: &Condition) -> bool {
    !matches!(condition, Condition::FlowBelow(_) | Condition::FlowAbove(_))
}
