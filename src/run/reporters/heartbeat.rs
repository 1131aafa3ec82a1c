//! A heartbeat line for logs that are not a terminal (a CI job's log): a long real-time case
//! otherwise prints nothing until it ends, and a CI log that stays silent for hours looks
//! like a hung job.
//!
//! At most once per interval of wall time, on the next event (samples arrive every sample
//! period, STATUS polls every few seconds, so one always comes), it writes one line: the case,
//! the step, bench time, the latest flow, the pump's state and rate, and the valve.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::run::event::{Reporter, RunEvent, RunEventKind};

/// How often a heartbeat line is written, at most and (while events flow) at least.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);

/// Wall time since some fixed start: the real monotonic clock, or a fake one in tests.
pub type WallClock = Box<dyn Fn() -> Duration + Send>;

pub struct Heartbeat {
    name: String,
    out: Box<dyn Write + Send>,
    wall: WallClock,
    interval: Duration,
    last_beat: Duration,
    step: Option<(usize, usize, String)>,
    steps: usize,
    flow_ul_h: Option<f64>,
    pump: Option<String>,
    valve_closed: Option<bool>,
}

impl Heartbeat {
    /// To standard error, on the real monotonic clock, every [`HEARTBEAT_INTERVAL`].
    pub fn stderr(name: &str) -> Self {
        let start = Instant::now();
        Self::new(name, Box::new(std::io::stderr()), Box::new(move || start.elapsed()), HEARTBEAT_INTERVAL)
    }

    /// To `out`, reading wall time from `wall`; the first line comes one `interval` after now.
    pub fn new(name: &str, out: Box<dyn Write + Send>, wall: WallClock, interval: Duration) -> Self {
        let last_beat = wall();
        Heartbeat {
            name: name.to_string(),
            out,
            wall,
            interval,
            last_beat,
            step: None,
            steps: 0,
            flow_ul_h: None,
            pump: None,
            valve_closed: None,
        }
    }

    fn line(&self, event: &RunEvent) -> String {
        let s = event.at.as_secs_f64() as u64;
        let step = match &self.step {
            Some((index, of, label)) => format!("step {}/{of} {label}", index + 1),
            None => "before the first step".to_string(),
        };
        let flow = self.flow_ul_h.map_or_else(|| "-".to_string(), |f| format!("{f:.1} uL/h"));
        let pump = self.pump.as_deref().unwrap_or("-");
        let valve = match self.valve_closed {
            Some(true) => "closed",
            Some(false) => "open",
            None => "-",
        };
        format!(
            "rig: alive: {} | {step} | bench {}:{:02}:{:02} | flow {flow} | pump {pump} | valve {valve}",
            self.name,
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

impl Reporter for Heartbeat {
    fn on_event(&mut self, event: &RunEvent) {
        match &event.kind {
            RunEventKind::CaseStarted { steps, .. } => self.steps = *steps,
            RunEventKind::StepStarted { index, label } => self.step = Some((*index, self.steps, label.clone())),
            RunEventKind::Sample(s) => {
                self.flow_ul_h = Some(s.flow_ul_h);
                self.valve_closed = Some(s.valve_closed);
            }
            RunEventKind::PumpStatus { status, .. } => {
                self.pump = Some(format!("{} {:.1} uL/h", status.state, status.basal_ul_h));
            }
            _ => {}
        }
        let now = (self.wall)();
        if now.saturating_sub(self.last_beat) >= self.interval {
            self.last_beat = now;
            let line = self.line(event);
            // A log that cannot be written must not stop the case.
            let _ = writeln!(self.out, "{line}");
            let _ = self.out.flush();
        }
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::clock::RigTime;
    use crate::protocol::{PumpState, StatusReport};
    use crate::run::event::Sample;

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Log {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap().lines().map(str::to_string).collect()
        }
    }

    /// A heartbeat on a fake wall clock (seconds in `wall`), writing to a log.
    fn heartbeat() -> (Heartbeat, Log, Arc<AtomicU64>) {
        let (log, wall) = (Log::default(), Arc::new(AtomicU64::new(0)));
        let seconds = wall.clone();
        let clock: WallClock = Box::new(move || Duration::from_secs(seconds.load(Ordering::SeqCst)));
        let beat = Heartbeat::new("OCC-TIME-TO-ALARM/500uLh", Box::new(log.clone()), clock, HEARTBEAT_INTERVAL);
        (beat, log, wall)
    }

    fn at(s: u64, kind: RunEventKind) -> RunEvent {
        RunEvent { at: RigTime::from_millis(s * 1000), kind }
    }

    fn sample(s: u64, flow: f64, valve_closed: bool) -> RunEvent {
        at(
            s,
            RunEventKind::Sample(Sample {
                at: RigTime::from_millis(s * 1000),
                done_at: RigTime::from_millis(s * 1000 + 2),
                flow_ul_h: flow,
                volume_ul: 0.0,
                temperature_c: 37.0,
                valve_closed,
            }),
        )
    }

    #[test]
    fn one_line_a_minute_of_wall_time_with_step_bench_time_flow_pump_and_valve() {
        let (mut beat, log, wall) = heartbeat();
        beat.on_event(&at(0, RunEventKind::CaseStarted { plan: "OCC".into(), case: None, steps: 7 }));
        beat.on_event(&at(0, RunEventKind::StepStarted { index: 2, label: "close the valve".into() }));
        let status = StatusReport {
            state: PumpState::Running,
            reservoir_ul: 20_000.0,
            delivered_ul: 10.0,
            basal_ul_h: 500.0,
            pressure_kpa: 12.0,
            pump_ms: 1_000,
            alarms: Vec::new(),
        };
        let taken = crate::run::event::StatusTaken::Poll;
        beat.on_event(&at(
            1,
            RunEventKind::PumpStatus { status: Box::new(status), taken, asked_at: RigTime::from_millis(900) },
        ));
        // Events through the first minute: nothing yet.
        for s in 1..60 {
            wall.store(s, Ordering::SeqCst);
            beat.on_event(&sample(s, 498.04, true));
        }
        assert!(log.lines().is_empty());
        wall.store(60, Ordering::SeqCst);
        beat.on_event(&sample(754, 497.96, true));
        assert_eq!(
            log.lines(),
            vec![
                "rig: alive: OCC-TIME-TO-ALARM/500uLh | step 3/7 close the valve | bench 0:12:34 | flow 498.0 uL/h \
                 | pump RUNNING 500.0 uL/h | valve closed"
            ]
        );
        // Many events within the next minute: still one line; the next minute's event: a second.
        for s in 61..120 {
            wall.store(s, Ordering::SeqCst);
            beat.on_event(&sample(800 + s, 0.0, false));
        }
        assert_eq!(log.lines().len(), 1);
        wall.store(125, Ordering::SeqCst);
        beat.on_event(&sample(3_725, 0.0, false));
        let lines = log.lines();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].contains("| bench 1:02:05 | flow 0.0 uL/h |"), "{}", lines[1]);
        assert!(lines[1].ends_with("| valve open"), "{}", lines[1]);
    }

    #[test]
    fn before_any_step_or_sample_it_says_so_rather_than_inventing_values() {
        let (mut beat, log, wall) = heartbeat();
        wall.store(61, Ordering::SeqCst);
        beat.on_event(&at(5, RunEventKind::Mark { name: "start".into() }));
        assert_eq!(
            log.lines(),
            vec![
                "rig: alive: OCC-TIME-TO-ALARM/500uLh | before the first step | bench 0:00:05 | flow - | pump - | valve -"
            ]
        );
    }
}
