//! One black-box scenario per SRS check. Each takes a twin configuration and returns
//! `Ok(())` when the firmware met the requirement, or `Err("SRS-XXX-NNN: what went wrong")`.
//! `tests/twin_srs.rs` runs them on the nominal firmware (must pass); `tests/twin_defects.rs`
//! runs the same ones on each seeded defect (must fail, naming the requirement).
//!
//! Limits come from SRS.md; stroke 0.25 µL, basal interval 0.25 µL / rate, as the SRS says.

use std::time::Duration;

use rig::protocol::{AlarmCode, BolusReply, BootReason, DenyReason, ErrCode, EventKind, Priority, PumpState};
use rig::sim::{Injection, TwinConfig};

use super::*;

const STROKE_UL: f64 = 0.25;

/// `FILL 20000`, a limit that admits the rate, `PROGRAM`, `START`.
fn start_therapy(b: &mut Bench, basal_ul_h: f64) -> Result<(), String> {
    b.ok("FILL volume_ul=20000")?;
    if basal_ul_h * 24.0 > 1200.0 {
        b.ok(&format!("LIMIT max_24h_ul={}", basal_ul_h * 24.0))?;
    }
    b.ok(&format!("PROGRAM basal_ul_h={basal_ul_h}"))?;
    b.ok("START")?;
    Ok(())
}

fn granted(r: BolusReply, what: &str) -> Result<u32, String> {
    match r {
        BolusReply::Granted { id } => Ok(id),
        BolusReply::Denied { reason } => Err(format!("setup: {what} was refused ({reason})")),
    }
}

/// Integrated sensor volume at `t` (the last reading at or before it).
fn sensor_volume_at(b: &Bench, t: Duration) -> f64 {
    let series = b.sensor.as_ref().map(|s| s.series.as_slice()).unwrap_or_default();
    let i = series.partition_point(|&(at, _)| at <= t);
    if i == 0 { 0.0 } else { series[i - 1].1 }
}

// ----- Delivery ------------------------------------------------------------------------------

/// SRS-DEL-001: rates outside 2.0–1000.0 µL/h are refused with `ERR RANGE` and leave the
/// program unchanged; rates inside are taken.
pub fn del_001(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("LIMIT max_24h_ul=24000")?;
    let mut programmed = b.status()?.basal_ul_h;
    for (value, in_range) in [
        ("1.999", false),
        ("2", true),
        ("1.5", false),
        ("0", false),
        ("-10", false),
        ("37.125", true),
        ("1000.001", false),
        ("5000", false),
        ("1000", true),
        ("0.5", false),
    ] {
        let code = b.err_code(&format!("PROGRAM basal_ul_h={value}"))?;
        let basal = b.status()?.basal_ul_h;
        if in_range {
            check(code.is_none(), || format!("SRS-DEL-001: PROGRAM basal_ul_h={value} refused with {code:?}"))?;
            programmed = basal;
        } else {
            check(code == Some(ErrCode::Range), || {
                format!("SRS-DEL-001: PROGRAM basal_ul_h={value} answered {code:?}, not ERR RANGE")
            })?;
            check(basal == programmed, || {
                format!(
                    "SRS-DEL-001: refused PROGRAM basal_ul_h={value} changed the basal from {programmed} to {basal}"
                )
            })?;
        }
    }
    Ok(())
}

/// SRS-DEL-001 (read back): a refused command leaves the program unchanged, as `SETTINGS`
/// shows it — every setting, not only the basal rate `STATUS` shows. `PROGRAM` outside
/// 2.0–1000.0 and `BOLUS_CONFIG` with one value out of its range (the others in theirs).
pub fn del_001_refused_commands_leave_settings(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("LIMIT max_24h_ul=24000")?;
    b.ok("PROGRAM basal_ul_h=20")?;
    b.ok("BOLUS_CONFIG dose_ul=40 lockout_s=1800 max_per_24h=6")?;
    let programmed = b.settings()?;
    for refused in [
        "PROGRAM basal_ul_h=1.5",
        "PROGRAM basal_ul_h=1000.5",
        "BOLUS_CONFIG dose_ul=10 lockout_s=600 max_per_24h=25",
        "BOLUS_CONFIG dose_ul=10 lockout_s=86401 max_per_24h=2",
        "BOLUS_CONFIG dose_ul=0.5 lockout_s=600 max_per_24h=2",
    ] {
        let code = b.err_code(refused)?;
        check(code == Some(ErrCode::Range), || format!("setup: {refused} answered {code:?}, not ERR RANGE"))?;
        let now = b.settings()?;
        check(now == programmed, || {
            format!("SRS-DEL-001: refused `{refused}` changed the program: SETTINGS {programmed:?} became {now:?}")
        })?;
    }
    Ok(())
}

/// SRS-DEL-002: after 30 min, every 60-min window (sliding by 1 min over the second hour)
/// measured by the flow sensor is within ±10 % of the programmed basal, at 20, 100 and
/// 500 µL/h.
pub fn del_002(config: TwinConfig) -> Verdict {
    for rate in [20.0, 100.0, 500.0] {
        let mut b = Bench::new(config.clone());
        b.start_sensor()?;
        start_therapy(&mut b, rate)?;
        let start = b.now();
        b.run_for(mins(120))?;
        for offset in 30..=60 {
            let from = start + mins(offset);
            let volume = sensor_volume_at(&b, from + mins(60)) - sensor_volume_at(&b, from);
            check((volume - rate).abs() <= 0.10 * rate, || {
                format!(
                    "SRS-DEL-002: at {rate} µL/h the sensor measured {volume:.2} µL in the 60 min from \
                     {} after START, outside {rate} µL ± 10 %",
                    fmt_min(mins(offset))
                )
            })?;
        }
    }
    Ok(())
}

/// SRS-DEL-003: `STOP` during a basal-plus-bolus delivery stops it within one stroke (pump count
/// and sensor), raises no alarm; `START` resumes.
pub fn del_003(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("BOLUS_CONFIG dose_ul=100 lockout_s=0 max_per_24h=24")?;
    b.start_sensor()?;
    start_therapy(&mut b, 100.0)?;
    b.run_for(mins(10))?;
    granted(b.bolus()?, "the bolus")?;
    b.run_for(secs(30))?;
    let from = b.events.len();
    let at_stop = b.delivered_ul()?;
    b.ok("STOP")?;
    b.run_for(mins(5))?;
    b.reset_sensor_volume();
    b.run_for(mins(5))?;
    let after = b.delivered_ul()? - at_stop;
    check(after <= STROKE_UL, || format!("SRS-DEL-003: the pump delivered {after} µL in the 10 min after STOP"))?;
    let measured = b.sensor_volume_ul();
    check(measured <= 1.0, || {
        format!("SRS-DEL-003: the sensor measured {measured:.2} µL flowing 5 to 10 min after STOP")
    })?;
    let alarms: Vec<_> =
        b.events_since(from).filter(|e| matches!(e.kind, EventKind::Alarm { .. })).map(|e| e.to_string()).collect();
    check(alarms.is_empty(), || format!("SRS-DEL-003: STOP raised {alarms:?}"))?;
    let active = b.alarms()?;
    check(active.is_empty(), || format!("SRS-DEL-003: alarms active after STOP: {active:?}"))?;
    b.ok("START")?;
    let resumed_from = b.delivered_ul()?;
    b.run_for(mins(10))?;
    let resumed = b.delivered_ul()? - resumed_from;
    check(resumed >= 15.0, || format!("SRS-DEL-003: only {resumed} µL delivered in 10 min after START at 100 µL/h"))
}

// ----- Occlusion -------------------------------------------------------------------------------

/// Runs at 500 µL/h for `settle`, closes the valve, and waits up to `limit` for `OCCLUSION`.
/// Returns the bench, the time the valve closed and the alarm's time (pump clock).
fn occlude(
    config: TwinConfig,
    settle: Duration,
    limit: Duration,
) -> Result<(Bench, Duration, Option<Duration>), String> {
    let mut b = Bench::new(config);
    b.start_sensor()?;
    start_therapy(&mut b, 500.0)?;
    b.run_for(settle)?;
    b.close_valve()?;
    let closed = b.now();
    let alarm = b.wait_for(limit, is_alarm(AlarmCode::Occlusion))?;
    Ok((b, closed, alarm.map(|r| pump_time(&r.event))))
}

/// SRS-OCC-001: when the pressure exceeds the threshold, `OCCLUSION` (HIGH) is raised and
/// delivery stops within one stroke.
pub fn occ_001(config: TwinConfig) -> Verdict {
    let (mut b, _, alarm) = occlude(config, mins(10), mins(60))?;
    let status = b.status()?;
    check(alarm.is_some(), || {
        format!("SRS-OCC-001: no OCCLUSION after 60 min occluded ({} kPa)", status.pressure_kpa)
    })?;
    check(status.state == PumpState::Alarm, || format!("SRS-OCC-001: state {} with OCCLUSION active", status.state))?;
    let priority = b.events.iter().find_map(|r| match r.event.kind {
        EventKind::Alarm { code: AlarmCode::Occlusion, priority } => Some(priority),
        _ => None,
    });
    check(priority == Some(Priority::High), || format!("SRS-OCC-001: OCCLUSION raised with priority {priority:?}"))?;
    let at_alarm = status.delivered_ul;
    b.run_for(mins(10))?;
    let later = b.status()?;
    let after = later.delivered_ul - at_alarm;
    check(after <= STROKE_UL, || {
        format!(
            "SRS-OCC-001: {after} µL delivered in the 10 min after OCCLUSION (pressure {} → {} kPa)",
            status.pressure_kpa, later.pressure_kpa
        )
    })
}

/// SRS-OCC-002: on the reference line at 500 µL/h and 200 kPa, `OCCLUSION` within 20 min of a
/// complete downstream occlusion (valve closed after 30 min of stable flow).
pub fn occ_002(config: TwinConfig) -> Verdict {
    let (_, closed, alarm) = occlude(config, mins(30), mins(40))?;
    let Some(alarm) = alarm else {
        return Err("SRS-OCC-002: OCCLUSION not raised within 40 min of the occlusion".into());
    };
    let delay = alarm.saturating_sub(closed);
    check(delay <= mins(20), || {
        format!("SRS-OCC-002: OCCLUSION raised {} after the occlusion (limit 20 min)", fmt_min(delay))
    })
}

/// SRS-OCC-003: the unintended bolus collected by the sensor after reopening the line (delivery
/// suspended by the alarm) is at most 150 µL.
pub fn occ_003(config: TwinConfig) -> Verdict {
    let (mut b, _, alarm) = occlude(config, mins(30), mins(60))?;
    if alarm.is_none() {
        return Err("setup: no OCCLUSION within 60 min, nothing to release".into());
    }
    b.reset_sensor_volume();
    b.open_valve()?;
    b.run_for(mins(5))?;
    let bolus = b.sensor_volume_ul();
    check(bolus >= 20.0, || format!("setup: only {bolus:.1} µL released: the line was not pressurised"))?;
    check(bolus <= 150.0, || {
        format!("SRS-OCC-003: unintended bolus of {bolus:.1} µL measured after release (limit 150 µL)")
    })
}

/// SRS-OCC-004: `ACK code=OCCLUSION` is refused while the pressure (as `STATUS` reports it) is
/// at or above half the threshold and accepted below; once the last HIGH alarm is cleared,
/// delivery resumes without `START`.
pub fn occ_004(config: TwinConfig) -> Verdict {
    let (mut b, _, alarm) = occlude(config, mins(5), mins(60))?;
    if alarm.is_none() {
        return Err("setup: no OCCLUSION within 60 min".into());
    }
    let p = b.status()?.pressure_kpa;
    let code = b.err_code("ACK code=OCCLUSION")?;
    check(code == Some(ErrCode::State), || {
        format!(
            "SRS-OCC-004: ACK code=OCCLUSION answered {code:?} at {p} kPa with the line still closed (threshold 200)"
        )
    })?;
    // Occluded long enough for THERAPY_INTERRUPTED too: both HIGH alarms must go.
    b.run_for(mins(6))?;
    b.open_valve()?;
    let mut acked = false;
    for _ in 0..90 {
        let p = b.status()?.pressure_kpa;
        let code = b.err_code("ACK code=OCCLUSION")?;
        if p >= 100.0 {
            check(code == Some(ErrCode::State), || {
                format!("SRS-OCC-004: ACK code=OCCLUSION answered {code:?} at {p:.1} kPa (half the threshold is 100)")
            })?;
        } else {
            check(code.is_none(), || format!("SRS-OCC-004: ACK code=OCCLUSION refused ({code:?}) at {p:.1} kPa"))?;
            acked = true;
            break;
        }
        b.run_for(secs(2))?;
    }
    check(acked, || "SRS-OCC-004: pressure never fell below 100 kPa after release".into())?;
    for code in b.alarms()? {
        if code.priority() == Priority::High {
            b.ok(&format!("ACK code={code}"))?;
        }
    }
    let state = b.status()?.state;
    check(state == PumpState::Running, || format!("SRS-OCC-004: state {state} after the HIGH alarms were cleared"))?;
    let from = b.delivered_ul()?;
    b.run_for(mins(5))?;
    let resumed = b.delivered_ul()? - from;
    check(resumed >= 37.5, || format!("SRS-OCC-004: {resumed} µL in 5 min at 500 µL/h after the alarms cleared"))
}

// ----- Dose limits ---------------------------------------------------------------------------

/// SRS-DOS-001 (lockout): refused 599 s after the last granted bolus started, granted at 600 s.
pub fn dos_001_lockout(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("BOLUS_CONFIG dose_ul=10 lockout_s=600 max_per_24h=24")?;
    start_therapy(&mut b, 10.0)?;
    b.run_for(mins(1))?;
    granted(b.bolus()?, "the first bolus")?;
    b.run_for(secs(599))?;
    let r = b.bolus()?;
    check(r == BolusReply::Denied { reason: DenyReason::Lockout }, || {
        format!("SRS-DOS-001: bolus answered {r:?} 599 s after the last granted one (lockout 600 s)")
    })?;
    b.run_for(secs(1))?;
    let r = b.bolus()?;
    check(matches!(r, BolusReply::Granted { .. }), || {
        format!("SRS-DOS-001: bolus answered {r:?} 600 s after the last granted one (lockout 600 s)")
    })
}

/// SRS-DOS-001 (boluses per 24 h): with max 3, the 4th within 24 h is refused; exactly 24 h
/// after the first, one is granted again.
pub fn dos_001_max_per_24h(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.sample = secs(10);
    b.ok("BOLUS_CONFIG dose_ul=1 lockout_s=0 max_per_24h=3")?;
    start_therapy(&mut b, 10.0)?;
    b.run_for(mins(1))?;
    let first = b.now();
    for k in 0..3 {
        granted(b.bolus()?, &format!("bolus {}", k + 1))?;
        b.run_for(mins(10))?;
    }
    let r = b.bolus()?;
    check(r == BolusReply::Denied { reason: DenyReason::MaxPer24h }, || {
        format!("SRS-DOS-001: a 4th bolus within 24 h answered {r:?} (max_per_24h 3)")
    })?;
    b.run_until(first + hours(24) - secs(1))?;
    let r = b.bolus()?;
    check(r == BolusReply::Denied { reason: DenyReason::MaxPer24h }, || {
        format!("SRS-DOS-001: bolus answered {r:?} 1 s before the first of 3 left the 24 h window")
    })?;
    b.run_for(secs(1))?;
    let r = b.bolus()?;
    check(matches!(r, BolusReply::Granted { .. }), || {
        format!("SRS-DOS-001: bolus answered {r:?} with only 2 granted in the preceding 24 h")
    })
}

/// Runs at 5 µL/h with `LIMIT 200` and 40 µL boluses until `STATUS` shows `delivered_ul`, then
/// requests three boluses at the same instant; returns the three replies.
fn daily_limit_at(config: TwinConfig, delivered_ul: f64) -> Result<[BolusReply; 3], String> {
    let mut b = Bench::new(config);
    b.sample = mins(1);
    b.ok("FILL volume_ul=20000")?;
    b.ok("PROGRAM basal_ul_h=5")?;
    b.ok("LIMIT max_24h_ul=200")?;
    b.ok("BOLUS_CONFIG dose_ul=40 lockout_s=0 max_per_24h=24")?;
    b.ok("START")?;
    // 80 µL at 5 µL/h is 16 h: get close minute by minute, then watch second by second.
    let mut polls = 0;
    while b.delivered_ul()? < delivered_ul - 1.0 {
        b.run_for(mins(1))?;
        polls += 1;
        if polls > 48 * 60 {
            return Err(format!("setup: delivered_ul never reached {delivered_ul}"));
        }
    }
    b.sample = secs(1);
    while b.delivered_ul()? < delivered_ul {
        b.run_for(secs(1))?;
    }
    let d = b.delivered_ul()?;
    if d != delivered_ul {
        return Err(format!("setup: delivered_ul jumped to {d}, wanted {delivered_ul}"));
    }
    Ok([b.bolus()?, b.bolus()?, b.bolus()?])
}

/// SRS-DOS-001 (24 h volume, at the boundary): delivered + pending + dose ≤ max is granted,
/// 0.25 µL more is refused. 80 µL delivered, two 40 µL boluses pending, a third 40 µL:
/// exactly 200 = max_24h_ul → granted; with 80.25 µL delivered → DAILY_LIMIT.
pub fn dos_001_daily_limit_boundary(config: TwinConfig) -> Verdict {
    let [r1, r2, r3] = daily_limit_at(config.clone(), 80.0)?;
    granted(r1, "the first bolus")?;
    granted(r2, "the second bolus")?;
    check(matches!(r3, BolusReply::Granted { .. }), || {
        format!("SRS-DOS-001: 80 delivered + 80 pending + 40 dose = 200 µL = max_24h_ul, yet {r3:?}")
    })?;
    let [r1, r2, r3] = daily_limit_at(config, 80.25)?;
    granted(r1, "the first bolus")?;
    granted(r2, "the second bolus")?;
    check(r3 == BolusReply::Denied { reason: DenyReason::DailyLimit }, || {
        format!("SRS-DOS-001: 80.25 delivered + 80 pending + 40 dose = 200.25 µL > max_24h_ul 200, yet {r3:?}")
    })
}

/// SRS-DOS-001 (24 h volume, rolling): fill the 24 h budget with boluses late in the first day;
/// just after the 24 h mark, the rolling window is still nearly full, so a bolus must be refused
/// exactly when `STATUS`-derived rolling volume + dose exceeds the limit.
pub fn dos_001_daily_limit_rolling(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.sample = mins(1);
    b.ok("FILL volume_ul=20000")?;
    b.ok("PROGRAM basal_ul_h=20")?;
    b.ok("BOLUS_CONFIG dose_ul=50 lockout_s=0 max_per_24h=24")?;
    b.ok("START")?;
    b.run_for(mins(1))?;
    let reference = b.now();
    let delivered_at_reference = b.delivered_ul()?;
    b.run_until(hours(22))?;
    b.sample = secs(1);
    let mut boluses = 0;
    loop {
        match b.bolus()? {
            BolusReply::Granted { id } => {
                boluses += 1;
                let end = b.wait_for(mins(10), |k| matches!(k, EventKind::BolusEnd { id: i, .. } if *i == id))?;
                if end.is_none() {
                    return Err(format!("setup: bolus {id} did not end"));
                }
            }
            BolusReply::Denied { reason: DenyReason::DailyLimit } => break,
            BolusReply::Denied { reason } => {
                return Err(format!("setup: bolus refused for {reason}"));
            }
        }
        if boluses > 30 {
            return Err("setup: the daily limit was never reached".into());
        }
    }
    b.run_until(reference + hours(24))?;
    let rolling = b.delivered_ul()? - delivered_at_reference;
    let r = b.bolus()?;
    let expected_grant = rolling + 50.0 <= 1200.0;
    check(matches!(r, BolusReply::Granted { .. }) == expected_grant, || {
        format!("SRS-DOS-001: {rolling} µL delivered in the preceding 24 h + 50 µL dose vs max_24h_ul 1200, yet {r:?}")
    })
}

/// SRS-DOS-001 (running): refused with `STOPPED` before `START` and after `STOP`.
pub fn dos_001_requires_running(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("FILL volume_ul=20000")?;
    let r = b.bolus()?;
    check(r == BolusReply::Denied { reason: DenyReason::Stopped }, || {
        format!("SRS-DOS-001: bolus before START: {r:?}")
    })?;
    b.ok("START")?;
    b.ok("STOP")?;
    let r = b.bolus()?;
    check(r == BolusReply::Denied { reason: DenyReason::Stopped }, || format!("SRS-DOS-001: bolus after STOP: {r:?}"))
}

/// SRS-DOS-002: a refusal delivers nothing, answers its reason and emits `DENIED`; a refusal
/// for the 24 h limit raises `DOSE_LIMIT` (LOW), which clears itself 60 s later.
pub fn dos_002(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("BOLUS_CONFIG dose_ul=50 lockout_s=3600 max_per_24h=1")?;
    start_therapy(&mut b, 10.0)?;
    b.run_for(mins(1))?;
    let id = granted(b.bolus()?, "the first bolus")?;
    b.wait_for(mins(10), |k| matches!(k, EventKind::BolusEnd { id: i, .. } if *i == id))?;
    // What the basal alone delivers in 10 min, as a baseline.
    let before = b.delivered_ul()?;
    b.run_for(mins(10))?;
    let basal_10_min = b.delivered_ul()? - before;
    // The next request is refused (lockout; or, should the lockout fail, the 24 h count).
    let from = b.events.len();
    let before = b.delivered_ul()?;
    let r = b.bolus()?;
    let BolusReply::Denied { reason } = r else {
        return Err(format!("setup: expected a refusal within the lockout, got {r:?}"));
    };
    let denied = b.events_since(from).any(|e| e.kind == EventKind::Denied { reason });
    check(denied, || format!("SRS-DOS-002: refusal for {reason} without a DENIED reason={reason} event"))?;
    b.run_for(mins(10))?;
    let extra = b.delivered_ul()? - before;
    check(extra <= basal_10_min + STROKE_UL, || {
        format!(
            "SRS-DOS-002: {extra} µL delivered in the 10 min after a refused bolus (basal alone: {basal_10_min} µL)"
        )
    })?;
    // A refusal for the 24 h limit: 500 µL cannot fit in 300.
    b.ok("LIMIT max_24h_ul=300")?;
    b.ok("BOLUS_CONFIG dose_ul=500 lockout_s=0 max_per_24h=24")?;
    let from = b.events.len();
    let refused_at = b.now();
    let r = b.bolus()?;
    check(r == BolusReply::Denied { reason: DenyReason::DailyLimit }, || {
        format!("setup: expected DAILY_LIMIT, got {r:?}")
    })?;
    let denied = b.events_since(from).any(|e| e.kind == EventKind::Denied { reason: DenyReason::DailyLimit });
    check(denied, || "SRS-DOS-002: refusal for DAILY_LIMIT without a DENIED reason=DAILY_LIMIT event".into())?;
    let raised = b
        .events_since(from)
        .any(|e| e.kind == EventKind::Alarm { code: AlarmCode::DoseLimit, priority: Priority::Low });
    check(raised, || "SRS-DOS-002: refusal for the 24 h limit raised no DOSE_LIMIT (LOW)".into())?;
    b.run_for(secs(30))?;
    let active = b.alarms()?;
    check(active.contains(&AlarmCode::DoseLimit), || {
        format!("SRS-DOS-002: 30 s after the refusal, alarms={active:?}")
    })?;
    let cleared = b.wait_for(mins(2), is_clear(AlarmCode::DoseLimit))?;
    let Some(cleared) = cleared else {
        return Err("SRS-DOS-002: DOSE_LIMIT still active 2.5 min after the refusal".into());
    };
    let held = pump_time(&cleared.event).saturating_sub(refused_at);
    check(held >= secs(59) && held <= secs(61), || format!("SRS-DOS-002: DOSE_LIMIT held {held:?}, not 60 s"))
}

/// SRS-DOS-003: `PROGRAM` and `LIMIT` refuse any setting in which basal × 24 h > max_24h_ul,
/// and a refused setting changes nothing.
pub fn dos_003(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    // Default limit 1200 µL: 50 µL/h is exactly 1200 µL a day.
    let code = b.err_code("PROGRAM basal_ul_h=50.001")?;
    check(code == Some(ErrCode::Range), || {
        format!("SRS-DOS-003: PROGRAM 50.001 µL/h with LIMIT 1200 answered {code:?}")
    })?;
    b.ok("PROGRAM basal_ul_h=50")?;
    let code = b.err_code("LIMIT max_24h_ul=1199")?;
    check(code == Some(ErrCode::Range), || {
        format!("SRS-DOS-003: LIMIT 1199 µL with basal 50 µL/h (1200 µL a day) answered {code:?}")
    })?;
    // The refused limit was not applied: 50 µL/h is still accepted.
    let code = b.err_code("PROGRAM basal_ul_h=50")?;
    check(code.is_none(), || format!("SRS-DOS-003: after a refused LIMIT, PROGRAM 50 answered {code:?}"))?;
    b.ok("PROGRAM basal_ul_h=10")?;
    b.ok("LIMIT max_24h_ul=240")?;
    let code = b.err_code("PROGRAM basal_ul_h=10.001")?;
    check(code == Some(ErrCode::Range), || {
        format!("SRS-DOS-003: PROGRAM 10.001 µL/h with LIMIT 240 answered {code:?}")
    })?;
    let basal = b.status()?.basal_ul_h;
    check(basal == 10.0, || format!("SRS-DOS-003: refused PROGRAM changed the basal to {basal}"))
}

/// SRS-DOS-003 (read back): a `LIMIT` refused because the basal alone would exceed it leaves
/// `max_24h_ul` as it was, as `SETTINGS` shows.
pub fn dos_003_refused_limit_read_back(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("LIMIT max_24h_ul=2400")?;
    b.ok("PROGRAM basal_ul_h=50")?;
    let before = b.settings()?;
    for limit in ["1199.75", "1000", "48"] {
        let code = b.err_code(&format!("LIMIT max_24h_ul={limit}"))?;
        check(code == Some(ErrCode::Range), || {
            format!("SRS-DOS-003: LIMIT {limit} µL with basal 50 µL/h (1200 µL a day) answered {code:?}")
        })?;
        let after = b.settings()?;
        check(after.max_24h_ul == before.max_24h_ul, || {
            format!(
                "SRS-DOS-003: the refused LIMIT {limit} left max_24h_ul={} (was {}): the pump now holds a basal \
                 of 50 µL/h against a limit below its 1200 µL a day",
                after.max_24h_ul, before.max_24h_ul
            )
        })?;
        check(after == before, || format!("SRS-DOS-003: a refused LIMIT changed SETTINGS {before:?} to {after:?}"))?;
    }
    Ok(())
}

/// SRS-DOS-004: over 40 h at 20 µL/h with a 50 µL bolus requested every 15 min from hour 12
/// on (so boluses crowd both sides of the 24 h mark), no rolling 24 h window holds more than
/// max_24h_ul = 1200 µL: by the pump's own count, and by the sensor within its ±5 %.
pub fn dos_004(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.sample = secs(10);
    b.ok("FILL volume_ul=40000")?;
    b.ok("PROGRAM basal_ul_h=20")?;
    b.ok("BOLUS_CONFIG dose_ul=50 lockout_s=600 max_per_24h=24")?;
    b.start_sensor()?;
    b.ok("START")?;
    let tick = mins(5);
    let mut samples = Vec::new(); // (time, pump delivered, sensor volume)
    let mut refusals = 0;
    for i in 0..=(40 * 12) {
        let t = b.now();
        samples.push((t, b.delivered_ul()?, b.sensor_volume_ul()));
        if i % 3 == 0 && t >= hours(12) && t < hours(38) {
            if let BolusReply::Denied { reason: DenyReason::DailyLimit } = b.bolus()? {
                refusals += 1;
            }
        }
        b.run_for(tick)?;
    }
    let per_day = (hours(24).as_secs() / tick.as_secs()) as usize;
    // The fullest 24 h window by each count, with the hour it ends.
    let (mut pump_worst, mut sensor_worst) = ((0.0f64, 0.0), (0.0f64, 0.0));
    for i in per_day..samples.len() {
        let (t, pump, sensor) = samples[i];
        let (_, pump_before, sensor_before) = samples[i - per_day];
        let hour = t.as_secs_f64() / 3600.0;
        if pump - pump_before > pump_worst.0 {
            pump_worst = (pump - pump_before, hour);
        }
        if sensor - sensor_before > sensor_worst.0 {
            sensor_worst = (sensor - sensor_before, hour);
        }
    }
    let fullest = pump_worst.0;
    check(pump_worst.0 <= 1200.0 + 1e-6, || {
        format!(
            "SRS-DOS-004: the pump's own count shows {} µL in the 24 h ending at {:.2} h",
            pump_worst.0, pump_worst.1
        )
    })?;
    check(sensor_worst.0 <= 1200.0 * 1.05, || {
        format!(
            "SRS-DOS-004: the sensor measured {:.1} µL in the 24 h ending at {:.2} h (limit 1200 µL + 5 %)",
            sensor_worst.0, sensor_worst.1
        )
    })?;
    check(fullest >= 1150.0 && refusals > 0, || {
        format!("setup: the scenario never pressed on the limit (fullest window {fullest} µL, {refusals} refusals)")
    })
}

/// SRS-DOS-005: a 50 µL bolus delivers 50 µL ± 10 % (pump's END report and the sensor, net of
/// basal), at 1000 µL/h ± 10 %.
pub fn dos_005(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("BOLUS_CONFIG dose_ul=50 lockout_s=3600 max_per_24h=4")?;
    b.start_sensor()?;
    start_therapy(&mut b, 10.0)?;
    b.run_for(mins(10))?;
    b.reset_sensor_volume();
    let t0 = b.now();
    let from = b.events.len();
    let id = granted(b.bolus()?, "the bolus")?;
    let start = b.events_since(from).find(|e| e.kind == EventKind::BolusStart { id }).map(pump_time);
    let Some(start) = start else {
        return Err(format!("SRS-DOS-005: no BOLUS id={id} phase=START event"));
    };
    let end = b.wait_for(mins(20), |k| matches!(k, EventKind::BolusEnd { id: i, .. } if *i == id))?;
    let Some(end) = end else {
        return Err(format!("SRS-DOS-005: bolus {id} not finished 20 min after START"));
    };
    let EventKind::BolusEnd { delivered_ul, .. } = end.event.kind else { unreachable!("matched above") };
    check((delivered_ul - 50.0).abs() <= 5.0, || {
        format!("SRS-DOS-005: bolus reported {delivered_ul} µL, not 50 ± 10 %")
    })?;
    let duration_h = pump_time(&end.event).saturating_sub(start).as_secs_f64() / 3600.0;
    let rate = delivered_ul / duration_h;
    check((rate - 1000.0).abs() <= 100.0, || {
        format!("SRS-DOS-005: bolus delivered at {rate:.0} µL/h, not 1000 ± 10 %")
    })?;
    b.run_for(mins(5))?;
    let basal = 10.0 * b.now().saturating_sub(t0).as_secs_f64() / 3600.0;
    let net = b.sensor_volume_ul() - basal;
    check((net - 50.0).abs() <= 50.0 * 0.15, || {
        format!("SRS-DOS-005: the sensor measured {net:.1} µL above basal for a 50 µL bolus (±10 %, +5 % sensor)")
    })
}

// ----- Withdrawal --------------------------------------------------------------------------------

/// SRS-WDR-001: with the reservoir filled 10 µL above the threshold, `RESERVOIR_LOW` (MEDIUM)
/// is raised once 10 µL are delivered and before 20 µL are.
pub fn wdr_001(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("ALARM_CONFIG low_reservoir_ul=2000 occlusion_kpa=200")?;
    b.ok("FILL volume_ul=2010")?;
    b.ok("LIMIT max_24h_ul=2400")?;
    b.ok("PROGRAM basal_ul_h=100")?;
    b.ok("START")?;
    let raised = b.wait_for(hours(2), is_alarm(AlarmCode::ReservoirLow))?;
    let status = b.status()?;
    let Some(raised) = raised else {
        return Err(format!("SRS-WDR-001: no RESERVOIR_LOW after {} µL delivered", status.delivered_ul));
    };
    check(raised.event.kind == EventKind::Alarm { code: AlarmCode::ReservoirLow, priority: Priority::Medium }, || {
        format!("SRS-WDR-001: {}", raised.event)
    })?;
    let past = status.delivered_ul - 10.0;
    check((-STROKE_UL..=10.0).contains(&past), || {
        format!(
            "SRS-WDR-001: RESERVOIR_LOW raised {past} µL past the threshold (reservoir {} µL, threshold 2000)",
            status.reservoir_ul
        )
    })
}

/// SRS-WDR-002: when the reservoir cannot supply a stroke, delivery stops and
/// `RESERVOIR_EMPTY` (HIGH) is raised.
pub fn wdr_002(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.start_sensor()?;
    b.ok("FILL volume_ul=5")?;
    b.ok("LIMIT max_24h_ul=2400")?;
    b.ok("PROGRAM basal_ul_h=100")?;
    b.ok("START")?;
    // 5 µL at 100 µL/h: 20 strokes, the 21st at 189 s cannot be supplied.
    let empty = b.wait_for(mins(10), is_alarm(AlarmCode::ReservoirEmpty))?;
    let status = b.status()?;
    let Some(empty) = empty else {
        return Err(format!(
            "SRS-WDR-002: no RESERVOIR_EMPTY 10 min after START with 5 µL (pump counts {} µL delivered)",
            status.delivered_ul
        ));
    };
    check(empty.event.kind == EventKind::Alarm { code: AlarmCode::ReservoirEmpty, priority: Priority::High }, || {
        format!("SRS-WDR-002: {}", empty.event)
    })?;
    b.run_for(mins(10))?;
    let later = b.delivered_ul()?;
    check(later <= 5.0 && later == status.delivered_ul, || {
        format!("SRS-WDR-002: delivery went on after RESERVOIR_EMPTY ({} → {later} µL)", status.delivered_ul)
    })
}

/// Runs at 100 µL/h (a stroke every 9 s) and stalls the motor; returns the bench and the stall
/// time.
fn stall_motor(config: TwinConfig) -> Result<(Bench, Duration), String> {
    let mut b = Bench::new(config);
    b.ok("BOLUS_CONFIG dose_ul=10 lockout_s=0 max_per_24h=24")?;
    start_therapy(&mut b, 100.0)?;
    b.run_for(mins(5))?;
    let t0 = b.now();
    b.inject(Injection::MotorStall { for_: None });
    Ok((b, t0))
}

/// SRS-WDR-003: `MOTOR_STALL` (HIGH) within 60 s of the first stroke that did not complete
/// (the first stroke due after the stall, at most 9 s later).
pub fn wdr_003(config: TwinConfig) -> Verdict {
    let (mut b, t0) = stall_motor(config)?;
    let raised = b.wait_for(mins(5), is_alarm(AlarmCode::MotorStall))?;
    let Some(raised) = raised else {
        return Err("SRS-WDR-003: no MOTOR_STALL within 5 min of the motor stalling".into());
    };
    let delay = pump_time(&raised.event).saturating_sub(t0);
    check(delay <= secs(9 + 60), || format!("SRS-WDR-003: MOTOR_STALL {delay:?} after the stall (first stroke ≤ 9 s)"))
}

fn expect_interruption(b: &mut Bench, first_undelivered: Duration, cause: &str) -> Verdict {
    let raised = b.wait_for(mins(20), is_alarm(AlarmCode::TherapyInterrupted))?;
    let Some(raised) = raised else {
        return Err(format!("SRS-WDR-004: no THERAPY_INTERRUPTED within 20 min of {cause}"));
    };
    let delay = pump_time(&raised.event).saturating_sub(first_undelivered);
    check(delay <= mins(10), || {
        format!("SRS-WDR-004: THERAPY_INTERRUPTED {} after the first undelivered stroke ({cause})", fmt_min(delay))
    })
}

/// SRS-WDR-004 (motor stall): `THERAPY_INTERRUPTED` within 10 min of the first stroke not
/// delivered.
pub fn wdr_004_stall(config: TwinConfig) -> Verdict {
    let (mut b, t0) = stall_motor(config)?;
    expect_interruption(&mut b, t0 + secs(9), "a motor stall")
}

/// SRS-WDR-004 (empty reservoir): 5 µL at 100 µL/h is 20 strokes; the 21st, due 189 s after
/// `START`, is the first that cannot be delivered.
pub fn wdr_004_empty(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("FILL volume_ul=5")?;
    b.ok("LIMIT max_24h_ul=2400")?;
    b.ok("PROGRAM basal_ul_h=100")?;
    b.ok("START")?;
    let first_undelivered = b.now() + secs(21 * 9);
    expect_interruption(&mut b, first_undelivered, "the reservoir emptying")
}

/// SRS-WDR-004 (occlusion): the first stroke not delivered is the one after the alarm.
pub fn wdr_004_occlusion(config: TwinConfig) -> Verdict {
    let (mut b, _, alarm) = occlude(config, mins(5), mins(60))?;
    let Some(alarm) = alarm else {
        return Err("setup: no OCCLUSION".into());
    };
    expect_interruption(&mut b, alarm, "an occlusion")
}

/// SRS-WDR-004 (STOP is not an interruption): no `THERAPY_INTERRUPTED` in 30 min after STOP.
pub fn wdr_004_not_after_stop(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    start_therapy(&mut b, 100.0)?;
    b.run_for(mins(5))?;
    b.ok("STOP")?;
    let raised = b.wait_for(mins(30), is_alarm(AlarmCode::TherapyInterrupted))?;
    check(raised.is_none(), || "SRS-WDR-004: THERAPY_INTERRUPTED raised after STOP".into())
}

/// SRS-WDR-005: with a HIGH alarm active (the motor stalled), `BOLUS` is refused with
/// `reason=ALARM` (and `DENIED`), `START` with `ERR STATE`; once cleared, `START` works.
pub fn wdr_005(config: TwinConfig) -> Verdict {
    let (mut b, _) = stall_motor(config)?;
    // MOTOR_STALL, or THERAPY_INTERRUPTED should stall detection fail: any HIGH alarm will do.
    let high = b.wait_for(mins(10), |k| matches!(k, EventKind::Alarm { priority: Priority::High, .. }))?;
    if high.is_none() {
        return Err("setup: no HIGH alarm after stalling the motor".into());
    }
    let from = b.events.len();
    let r = b.bolus()?;
    check(r == BolusReply::Denied { reason: DenyReason::Alarm }, || {
        format!("SRS-WDR-005: BOLUS with a HIGH alarm active answered {r:?}")
    })?;
    let denied = b.events_since(from).any(|e| e.kind == EventKind::Denied { reason: DenyReason::Alarm });
    check(denied, || "SRS-WDR-005: no DENIED reason=ALARM event".into())?;
    b.ok("STOP")?;
    let code = b.err_code("START")?;
    check(code == Some(ErrCode::State), || format!("SRS-WDR-005: START with a HIGH alarm active answered {code:?}"))?;
    b.inject(Injection::ClearMotorStall);
    for code in b.alarms()? {
        b.ok(&format!("ACK code={code}"))?;
    }
    b.ok("START").map(drop)
}

/// SRS-WDR-006: after a watchdog reset during an occlusion, the pump reports
/// `BOOT reason=WATCHDOG` (evseq 1) first and keeps its settings and its HIGH alarm.
pub fn wdr_006(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("ALARM_CONFIG low_reservoir_ul=1500 occlusion_kpa=150")?;
    b.ok("LIMIT max_24h_ul=12000")?;
    b.ok("PROGRAM basal_ul_h=437.5")?;
    b.ok("BOLUS_CONFIG dose_ul=20 lockout_s=900 max_per_24h=6")?;
    b.ok("FILL volume_ul=20000")?;
    b.ok("START")?;
    b.run_for(mins(5))?;
    b.close_valve()?;
    if b.wait_for(mins(60), is_alarm(AlarmCode::Occlusion))?.is_none() {
        return Err("setup: no OCCLUSION".into());
    }
    b.run_for(mins(1))?;
    let programmed = b.settings()?;
    let reservoir_before = b.status()?.reservoir_ul;
    let from = b.events.len();
    b.inject(Injection::WatchdogReset);
    let first = b.events.get(from).map(|r| r.event);
    let boot_ok =
        matches!(&first, Some(e) if e.evseq == 1 && e.kind == EventKind::Boot { reason: BootReason::Watchdog });
    check(boot_ok, || format!("SRS-WDR-006: first event after the reset: {first:?}"))?;
    // The programmed settings, therapy on/off among them, read back (STATUS shows only some).
    let after = b.settings()?;
    check(after == programmed, || {
        format!("SRS-WDR-006: SETTINGS before the reset {programmed:?}, after it {after:?}")
    })?;
    let status = b.status()?;
    check(status.reservoir_ul == reservoir_before, || {
        format!("SRS-WDR-006: reservoir {} µL after the reset (was {reservoir_before})", status.reservoir_ul)
    })?;
    check(status.pump_ms < 5_000, || format!("setup: pump_ms {} after a reset", status.pump_ms))?;
    check(status.basal_ul_h == 437.5, || {
        format!("SRS-WDR-006: basal {} after the reset (was 437.5)", status.basal_ul_h)
    })?;
    check(status.alarms.contains(&AlarmCode::Occlusion) && status.state == PumpState::Alarm, || {
        format!("SRS-WDR-006: after the reset state={} alarms={:?}; OCCLUSION was active", status.state, status.alarms)
    })?;
    // LIMIT 12000 survived: 500 µL/h (12000 µL a day) is accepted; the default 1200 would refuse it.
    let code = b.err_code("PROGRAM basal_ul_h=500")?;
    check(code.is_none(), || format!("SRS-WDR-006: PROGRAM 500 answered {code:?}: LIMIT 12000 lost in the reset"))?;
    // Clear the occlusion; the lockout of 900 s survived (the default is 3600 s).
    b.open_valve()?;
    b.run_for(mins(2))?;
    for code in b.alarms()? {
        b.ok(&format!("ACK code={code}"))?;
    }
    granted(b.bolus()?, "a bolus after the reset")?;
    b.run_for(secs(900))?;
    let r = b.bolus()?;
    check(matches!(r, BolusReply::Granted { .. }), || {
        format!("SRS-WDR-006: bolus 900 s after the last answered {r:?}: lockout 900 s lost in the reset")
    })
}

// ----- Communication -------------------------------------------------------------------------

/// SRS-COM-001: frames with a bad CRC are answered exactly `0 ERR CRC` and change nothing.
pub fn com_001(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    let expected = encode_frame("0 ERR CRC").map_err(|e| format!("setup: {e}"))?;
    let good = encode_frame("5 PROGRAM basal_ul_h=20").map_err(|e| format!("setup: {e}"))?;
    // Same CRC, one payload byte changed (20 → 30); and a valid payload with a wrong CRC.
    let mut corrupted = good.clone();
    corrupted[21] = b'3';
    let payload = "6 PROGRAM basal_ul_h=40";
    let crc = rig::protocol::crc16::crc16(payload.as_bytes()) ^ 0x0001;
    let wrong_crc = format!("{payload}*{crc:04X}\r\n").into_bytes();
    let start_wrong = b"7 START*0000\r\n".to_vec();
    for frame in [corrupted, wrong_crc, start_wrong] {
        b.twin.serial_receive(b.now(), &frame);
        let out = b.twin.serial_take_output();
        check(out == expected, || {
            format!(
                "SRS-COM-001: {:?} answered {:?}, not \"0 ERR CRC\"",
                String::from_utf8_lossy(&frame),
                String::from_utf8_lossy(&out)
            )
        })?;
    }
    let status = b.status()?;
    check(status.basal_ul_h == 10.0 && status.state == PumpState::Stopped, || {
        format!("SRS-COM-001: after bad-CRC frames basal={} state={}", status.basal_ul_h, status.state)
    })
}

/// SRS-COM-002: a request repeating the previous seq gets the cached response and is not
/// executed again, even if its command differs.
pub fn com_002(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("BOLUS_CONFIG dose_ul=10 lockout_s=0 max_per_24h=24")?;
    start_therapy(&mut b, 10.0)?;
    b.run_for(mins(1))?;
    let from = b.events.len();
    let first = b.req_with_seq(40, "BOLUS")?;
    let retry = b.req_with_seq(40, "BOLUS")?;
    check(retry == first, || {
        format!("SRS-COM-002: retry answered {:?}, first {:?}", retry.payload(), first.payload())
    })?;
    let started = b.events_since(from).filter(|e| matches!(e.kind, EventKind::BolusStart { .. })).count();
    check(started == 1, || format!("SRS-COM-002: a retried BOLUS started {started} boluses"))?;
    b.req_with_seq(41, "STOP")?;
    let r = b.req_with_seq(41, "START")?;
    check(r.payload() == "41 OK", || format!("SRS-COM-002: repeated seq 41 answered {:?}", r.payload()))?;
    let state = b.status()?.state;
    check(state == PumpState::Stopped, || {
        format!("SRS-COM-002: a request repeating seq 41 was executed (state {state})")
    })?;
    b.req_with_seq(50, "START")?;
    let state = b.status()?.state;
    check(state == PumpState::Running, || format!("setup: START with a new seq left the pump {state}"))
}

/// SRS-COM-003: alarms are raised and cleared (`DOSE_LIMIT` by a refusal and by itself,
/// `MOTOR_STALL` and `THERAPY_INTERRUPTED` by a stall and by `ACK`); after each change,
/// replaying the ALARM/CLEAR events gives exactly what `ALARMS` says; and `evseq` runs 1, 2,
/// 3, … without a gap.
pub fn com_003(config: TwinConfig) -> Verdict {
    let mut b = Bench::new(config);
    b.ok("LIMIT max_24h_ul=300")?;
    b.ok("BOLUS_CONFIG dose_ul=500 lockout_s=0 max_per_24h=24")?;
    start_therapy(&mut b, 10.0)?;
    let replayed = |b: &Bench| {
        let mut active = Vec::new();
        for r in &b.events {
            match r.event.kind {
                EventKind::Alarm { code, .. } if !active.contains(&code) => active.push(code),
                EventKind::Clear { code } => active.retain(|&c| c != code),
                _ => {}
            }
        }
        active.sort();
        active
    };
    let checkpoint = |b: &mut Bench, when: &str| -> Verdict {
        let mut polled = b.alarms()?;
        polled.sort();
        let from_events = replayed(b);
        check(polled == from_events, || {
            format!("SRS-COM-003: {when}: ALARMS says {polled:?}, events say {from_events:?}")
        })
    };
    b.bolus()?; // refused for the 24 h limit: DOSE_LIMIT
    checkpoint(&mut b, "after the refusal")?;
    b.run_for(mins(2))?;
    checkpoint(&mut b, "after DOSE_LIMIT cleared itself")?;
    // At 10 µL/h the first stroke to fail comes within 90 s; THERAPY_INTERRUPTED 5 min later.
    b.inject(Injection::MotorStall { for_: Some(mins(9)) });
    b.run_for(mins(10))?;
    checkpoint(&mut b, "after the stall")?;
    for code in b.alarms()? {
        b.ok(&format!("ACK code={code}"))?;
    }
    checkpoint(&mut b, "after ACK")?;
    // The checkpoints follow every raise and clear, so an alarm without its event shows there.
    // The scenario must have had something to report:
    let raised = b.events.iter().filter(|r| matches!(r.event.kind, EventKind::Alarm { .. })).count();
    let cleared = b.events.iter().filter(|r| matches!(r.event.kind, EventKind::Clear { .. })).count();
    check(raised >= 2 && cleared >= 2, || format!("setup: only {raised} ALARM and {cleared} CLEAR events"))?;
    for (i, r) in b.events.iter().enumerate() {
        let expected = i as u32 + 1;
        check(r.event.evseq == expected, || {
            format!("SRS-COM-003: event {} has evseq {}, expected {expected}", r.event, r.event.evseq)
        })?;
    }
    check(b.stray.is_empty(), || format!("setup: frames breaking the ICD: {:?}", b.stray))
}

/// A scenario and the requirement it checks.
pub type Scenario = fn(TwinConfig) -> Verdict;

/// Every scenario, with the requirement it checks.
pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        ("SRS-DEL-001", del_001),
        ("SRS-DEL-001", del_001_refused_commands_leave_settings),
        ("SRS-DEL-002", del_002),
        ("SRS-DEL-003", del_003),
        ("SRS-OCC-001", occ_001),
        ("SRS-OCC-002", occ_002),
        ("SRS-OCC-003", occ_003),
        ("SRS-OCC-004", occ_004),
        ("SRS-DOS-001", dos_001_lockout),
        ("SRS-DOS-001", dos_001_max_per_24h),
        ("SRS-DOS-001", dos_001_daily_limit_boundary),
        ("SRS-DOS-001", dos_001_daily_limit_rolling),
        ("SRS-DOS-001", dos_001_requires_running),
        ("SRS-DOS-002", dos_002),
        ("SRS-DOS-003", dos_003),
        ("SRS-DOS-003", dos_003_refused_limit_read_back),
        ("SRS-DOS-004", dos_004),
        ("SRS-DOS-005", dos_005),
        ("SRS-WDR-001", wdr_001),
        ("SRS-WDR-002", wdr_002),
        ("SRS-WDR-003", wdr_003),
        ("SRS-WDR-004", wdr_004_stall),
        ("SRS-WDR-004", wdr_004_empty),
        ("SRS-WDR-004", wdr_004_occlusion),
        ("SRS-WDR-004", wdr_004_not_after_stop),
        ("SRS-WDR-005", wdr_005),
        ("SRS-WDR-006", wdr_006),
        ("SRS-COM-001", com_001),
        ("SRS-COM-002", com_002),
        ("SRS-COM-003", com_003),
    ]
}
