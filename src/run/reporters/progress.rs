//! Live progress on a terminal: plan, case, step, bench and wall time, current flow, ETA.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::judgement::Verdict;
use crate::run::event::{Reporter, RunEvent, RunEventKind};

pub struct Progress {
    bar: ProgressBar,
    name: String,
    step: String,
    flow: Option<f64>,
    started: Instant,
}

impl Progress {
    /// `estimate` is the case's expected bench time (waits and timeouts).
    pub fn new(name: &str, estimate: Duration) -> Self {
        let bar = ProgressBar::new(estimate.as_secs().max(1));
        let style = ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(name.to_string());
        Self { bar, name: name.to_string(), step: String::new(), flow: None, started: Instant::now() }
    }

    fn refresh(&self, bench_s: f64) {
        let wall = self.started.elapsed().as_secs_f64();
        let eta = {
            let (pos, len) = (self.bar.position() as f64, self.bar.length().unwrap_or(1) as f64);
            if pos > 0.0 && wall > 0.0 { format!("{:.0}s", (len - pos).max(0.0) * wall / pos) } else { "-".into() }
        };
        let flow = self.flow.map(|f| format!("{f:.1} uL/h")).unwrap_or_else(|| "-".into());
        self.bar.set_message(format!("bench {} wall {wall:.1}s flow {flow} eta {eta} | {}", hms(bench_s), self.step));
    }
}

fn hms(s: f64) -> String {
    let s = s as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl Reporter for Progress {
    fn on_event(&mut self, event: &RunEvent) {
        let bench_s = event.at.as_secs_f64();
        match &event.kind {
            RunEventKind::StepStarted { index, label } => {
                self.step = format!("step {}: {label}", index + 1);
                self.refresh(bench_s);
            }
            RunEventKind::Sample(s) => {
                self.flow = Some(s.flow_ul_h);
                self.bar.set_position(bench_s as u64);
                self.refresh(bench_s);
            }
            RunEventKind::CaseFinished { verdict, .. } => {
                let finish = if *verdict == Verdict::Pass { "done" } else { "stopped" };
                self.bar.finish_with_message(format!("{finish}: {verdict} ({})", self.name));
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}
