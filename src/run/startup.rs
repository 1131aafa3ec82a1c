//! Bringing the bench to a known state before a case's first step, and recording what was found.
//!
//! A case must not inherit what an earlier run left behind: a run that was killed (SIGKILL, power
//! lost on the Pi but not on the pump) leaves the pump delivering, maybe against a closed valve,
//! with its alarms latched. Start-up therefore, in order:
//! 1. reads `STATUS` as found (what was left), then sends `STOP` and drives the valve open;
//! 2. lets the line relax: while the pump's pressure is above [`RELAXED_KPA`] and still falling,
//!    it waits (at most [`relax_bound`]), so no trapped volume is released into the case;
//! 3. acknowledges every alarm left active (an alarm whose condition persists answers `ERR
//!    STATE` and stays, which is recorded);
//! 4. takes the pump's state before the first step as evidence: `ID`, `STATUS`, `ALARMS`,
//!    `SETTINGS`.
//!
//! What is left over after this is remembered: once the plan's `setup:` has run (which may remove
//! a condition, e.g. `fill:` an empty reservoir), the alarms left over are acknowledged again, and
//! a HIGH alarm still active then refuses the case (ERROR): its steps would otherwise be judged on
//! a pump in a state the plan did not put it in.

use std::time::Duration;

use crate::bench::Bench;
use crate::clock::RigTime;
pub use crate::evidence::record::pump_snapshot::PumpSnapshot;
pub use crate::evidence::record::start_up::{Acknowledged, Relaxation, StartUp};
use crate::link::{LinkError, PumpLink};
use crate::protocol::{AlarmCode, PumpState, StatusReport};

/// A line at or below this pressure holds no volume worth speaking of (0.5 µL/kPa × 5 kPa =
/// 2.5 µL on the reference line, a hundredth of a bolus).
pub const RELAXED_KPA: f64 = 5.0;

/// How often the pump's pressure is read while the line relaxes.
const RELAX_POLL: Duration = Duration::from_secs(1);

/// A pressure that fell by less than this over [`PLATEAU_SPAN`] has stopped falling: the line
/// has relaxed as far as it will (a pressure transducer's offset, a partial blockage).
const PLATEAU_KPA: f64 = 0.5;
const PLATEAU_SPAN: Duration = Duration::from_secs(10);

/// The longest the rig waits for the line to relax: ten time constants of the bench's test line
/// (R·C from the bench file; 300 s on the reference line), and at least a minute.
pub fn relax_bound(tau: Duration) -> Duration {
    (tau * 10).max(Duration::from_secs(60))
}

/// Why start-up could not hand over a bench in a known state.
#[derive(Debug, Clone, PartialEq)]
pub struct StartUpFailed(pub String);

/// Runs start-up on `bench` (see the module docs). `first_request` describes the session's
/// throw-away first answer (from [`Bench::open`]).
pub async fn start_up(bench: &mut Bench, tau: Duration) -> Result<StartUp, StartUpFailed> {
    let link = bench.link().clone();
    let first_request = bench.session_start().to_string();
    let found = status(&link, "the pump's state as found").await?;
    let stop = match link.stop().await {
        Ok(()) => "ok".to_string(),
        Err(e) => return Err(StartUpFailed(format!("STOP before the case was not accepted: {e}"))),
    };
    let valve_open = match bench.make_valve_safe() {
        Ok(()) => "ok".to_string(),
        Err(e) => return Err(StartUpFailed(format!("the valve could not be opened before the case: {e}"))),
    };
    let relaxation = relax(bench, &link, tau).await?;
    let after = status(&link, "the pump's state after STOP").await?;
    if after.state == PumpState::Running {
        return Err(StartUpFailed(format!(
            "the pump still reports RUNNING after STOP (delivered {} µL since boot): a case cannot start on a pump that does not stop",
            after.delivered_ul
        )));
    }
    let mut acknowledged = Vec::new();
    for code in &after.alarms {
        let answer = match link.ack(*code).await {
            Ok(()) => "ok".to_string(),
            Err(e) if e.is_pump_refusal() => format!("refused: {e}"),
            Err(e) => return Err(StartUpFailed(format!("ACK code={code} before the case: {e}"))),
        };
        acknowledged.push(Acknowledged { code: *code, answer });
    }
    let left_over = if acknowledged.is_empty() { Vec::new() } else { alarms(&link).await? };
    Ok(StartUp { first_request, found, stop, valve_open, relaxation, acknowledged, left_over })
}

/// The pump's state before the first step: `ID`, `STATUS`, `ALARMS`, `SETTINGS`.
pub async fn snapshot(link: &PumpLink) -> Result<PumpSnapshot, StartUpFailed> {
    let id = link.id().await.map_err(|e| StartUpFailed(format!("the pump did not answer ID: {e}")))?;
    let status = status(link, "the pump's state before the first step").await?;
    let alarms = alarms(link).await?;
    let settings =
        link.settings().await.map_err(|e| StartUpFailed(format!("the pump's settings before the first step: {e}")))?;
    Ok(PumpSnapshot { id, status, alarms, settings })
}

/// After `setup:`: acknowledges the alarms start-up left over that are still active; a HIGH one
/// that stays refuses the case. Returns what was acknowledged.
pub async fn clear_left_over(link: &PumpLink, left_over: &[AlarmCode]) -> Result<Vec<Acknowledged>, StartUpFailed> {
    if left_over.is_empty() {
        return Ok(Vec::new());
    }
    let active = alarms(link).await?;
    let mut acknowledged = Vec::new();
    for code in left_over.iter().filter(|c| active.contains(c)) {
        let answer = match link.ack(*code).await {
            Ok(()) => "ok".to_string(),
            Err(e) if e.is_pump_refusal() => format!("refused: {e}"),
            Err(e) => return Err(StartUpFailed(format!("ACK code={code} after setup: {e}"))),
        };
        acknowledged.push(Acknowledged { code: *code, answer });
    }
    let still = alarms(link).await?;
    let high: Vec<String> = left_over
        .iter()
        .filter(|c| still.contains(c) && c.priority() == crate::protocol::Priority::High)
        .map(ToString::to_string)
        .collect();
    if !high.is_empty() {
        return Err(StartUpFailed(format!(
            "the pump still reports {} left over from before the case, after STOP, the plan's setup and ACK: its steps would run on a pump in alarm; clear the condition on the bench and run again",
            high.join(", ")
        )));
    }
    Ok(acknowledged)
}

async fn status(link: &PumpLink, what: &str) -> Result<StatusReport, StartUpFailed> {
    link.status().await.map_err(|e| StartUpFailed(format!("{what}: {e}")))
}

async fn alarms(link: &PumpLink) -> Result<Vec<AlarmCode>, StartUpFailed> {
    link.alarms().await.map_err(|e: LinkError| StartUpFailed(format!("the pump's active alarms: {e}")))
}

/// Waits while the pump's pressure is above [`RELAXED_KPA`] and still falling, at most
/// [`relax_bound`]`(tau)`.
async fn relax(bench: &Bench, link: &PumpLink, tau: Duration) -> Result<Relaxation, StartUpFailed> {
    let clock = bench.clock();
    let started = clock.now();
    let bound = relax_bound(tau);
    let first = status(link, "the line's pressure after STOP").await?.pressure_kpa;
    // Pressures read so far, to tell a plateau from a slow fall.
    let mut history: Vec<(RigTime, f64)> = vec![(clock.now(), first)];
    let outcome = loop {
        let (now, p) = history.last().copied().unwrap_or((started, first));
        if p <= RELAXED_KPA {
            break "relaxed";
        }
        if now.since(started) >= bound {
            break "timed out";
        }
        let span_ago = history.iter().rev().find(|(t, _)| now.since(*t) >= PLATEAU_SPAN);
        if span_ago.is_some_and(|(_, earlier)| earlier - p < PLATEAU_KPA) {
            break "plateau";
        }
        clock.sleep_until(now + RELAX_POLL).await;
        let p = status(link, "the line's pressure while it relaxes").await?.pressure_kpa;
        history.push((clock.now(), p));
    };
    let (end, last) = history.last().copied().unwrap_or((started, first));
    Ok(Relaxation {
        from_kpa: first,
        to_kpa: last,
        waited_s: end.since(started).as_secs_f64(),
        outcome: outcome.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relax_bound_is_ten_time_constants_and_at_least_a_minute() {
        assert_eq!(relax_bound(Duration::from_secs(30)), Duration::from_secs(300));
        assert_eq!(relax_bound(Duration::from_secs(1)), Duration::from_secs(60));
    }
}
