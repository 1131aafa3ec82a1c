//! The nominal twin meets every requirement of SRS.md, shown black-box: the tests drive it only
//! through ICD frames, raw sensor I2C bytes and the valve line, as the rig does. Each test is
//! named after the SRS id it covers; the scenarios live in `twin_common/scenarios.rs` because
//! `twin_defects.rs` runs the very same ones against each seeded defect and expects them to fail.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::twin_common;

use std::time::Duration;

use rig::protocol::{AlarmCode, BolusReply, BootReason, DenyReason, EventKind, PumpIdentity, PumpState, encode_frame};
use rig::sim::{Injection, TwinConfig};
use twin_common::scenarios;
use twin_common::*;

/// Every requirement of SRS.md has a scenario, and every scenario runs here below.
#[test]
fn every_srs_requirement_has_a_scenario() {
    let covered: std::collections::BTreeSet<&str> = scenarios::all().iter().map(|(r, _)| *r).collect();
    let srs: std::collections::BTreeSet<String> = ["DEL", "OCC", "DOS", "WDR", "COM"]
        .iter()
        .zip([3, 4, 5, 6, 3])
        .flat_map(|(family, n)| (1..=n).map(move |i| format!("SRS-{family}-{i:03}")))
        .collect();
    assert_eq!(covered.iter().map(|s| s.to_string()).collect::<std::collections::BTreeSet<_>>(), srs);
}

fn pass(verdict: Verdict) {
    if let Err(e) = verdict {
        panic!("{e}");
    }
}

#[test]
fn srs_del_001_basal_range() {
    pass(scenarios::del_001(nominal()));
}

#[test]
fn srs_del_002_hourly_volume_within_10_pct_at_20_100_500_ul_h() {
    pass(scenarios::del_002(nominal()));
}

#[test]
fn srs_del_003_stop_within_one_stroke_no_alarm_start_resumes() {
    pass(scenarios::del_003(nominal()));
}

#[test]
fn srs_occ_001_occlusion_alarm_stops_delivery() {
    pass(scenarios::occ_001(nominal()));
}

#[test]
fn srs_occ_002_occlusion_within_20_min_at_500_ul_h() {
    pass(scenarios::occ_002(nominal()));
}

#[test]
fn srs_occ_003_unintended_bolus_at_most_150_ul() {
    pass(scenarios::occ_003(nominal()));
}

#[test]
fn srs_occ_004_ack_below_half_threshold_then_resume() {
    pass(scenarios::occ_004(nominal()));
}

#[test]
fn srs_dos_001_lockout() {
    pass(scenarios::dos_001_lockout(nominal()));
}

#[test]
fn srs_dos_001_max_per_24h_rolling() {
    pass(scenarios::dos_001_max_per_24h(nominal()));
}

#[test]
fn srs_dos_001_daily_volume_exact_boundary() {
    pass(scenarios::dos_001_daily_limit_boundary(nominal()));
}

#[test]
fn srs_dos_001_daily_volume_rolling_across_24_h() {
    pass(scenarios::dos_001_daily_limit_rolling(nominal()));
}

#[test]
fn srs_dos_001_requires_therapy_running() {
    pass(scenarios::dos_001_requires_running(nominal()));
}

#[test]
fn srs_dos_002_refusal_reason_denied_event_dose_limit_60_s() {
    pass(scenarios::dos_002(nominal()));
}

#[test]
fn srs_dos_003_program_and_limit_refuse_basal_over_limit() {
    pass(scenarios::dos_003(nominal()));
}

#[test]
fn srs_dos_004_no_rolling_24_h_window_over_limit_in_40_h() {
    pass(scenarios::dos_004(nominal()));
}

#[test]
fn srs_dos_005_bolus_dose_and_rate() {
    pass(scenarios::dos_005(nominal()));
}

#[test]
fn srs_wdr_001_reservoir_low_within_10_ul() {
    pass(scenarios::wdr_001(nominal()));
}

#[test]
fn srs_wdr_002_reservoir_empty_stops_delivery() {
    pass(scenarios::wdr_002(nominal()));
}

#[test]
fn srs_wdr_003_motor_stall_within_60_s() {
    pass(scenarios::wdr_003(nominal()));
}

#[test]
fn srs_wdr_004_therapy_interrupted_after_stall() {
    pass(scenarios::wdr_004_stall(nominal()));
}

#[test]
fn srs_wdr_004_therapy_interrupted_after_empty_reservoir() {
    pass(scenarios::wdr_004_empty(nominal()));
}

#[test]
fn srs_wdr_004_therapy_interrupted_after_occlusion() {
    pass(scenarios::wdr_004_occlusion(nominal()));
}

#[test]
fn srs_wdr_004_not_raised_after_stop() {
    pass(scenarios::wdr_004_not_after_stop(nominal()));
}

#[test]
fn srs_wdr_005_high_alarm_refuses_bolus_and_start() {
    pass(scenarios::wdr_005(nominal()));
}

#[test]
fn srs_wdr_006_watchdog_keeps_settings_and_high_alarms() {
    pass(scenarios::wdr_006(nominal()));
}

#[test]
fn srs_com_001_bad_crc_answered_and_ignored() {
    pass(scenarios::com_001(nominal()));
}

#[test]
fn srs_com_002_retry_answered_from_cache() {
    pass(scenarios::com_002(nominal()));
}

#[test]
fn srs_com_003_alarm_events_with_contiguous_evseq() {
    pass(scenarios::com_003(nominal()));
}

// ----- ICD behaviour the requirements rest on ----------------------------------------------------

#[test]
fn icd_power_on_boot_event_and_example_exchange() {
    let mut twin = rig::sim::Twin::new(nominal());
    assert_eq!(twin.serial_take_output(), encode_frame("! 1 0 BOOT reason=POWER_ON").unwrap());
    let t = secs(120);
    twin.serial_receive(t, &encode_frame("7 PROGRAM basal_ul_h=500").unwrap());
    // 500 µL/h needs a limit of at least 12000 µL (SRS-DOS-003).
    assert_eq!(twin.serial_take_output(), encode_frame("7 ERR RANGE detail=basal_ul_h").unwrap());
    twin.serial_receive(t, &encode_frame("8 LIMIT max_24h_ul=12000").unwrap());
    twin.serial_receive(t, &encode_frame("9 PROGRAM basal_ul_h=500").unwrap());
    twin.serial_receive(t, &encode_frame("10 FILL volume_ul=20000").unwrap());
    twin.serial_receive(t + Duration::from_millis(345), &encode_frame("11 START").unwrap());
    let mut expected = Vec::new();
    for payload in ["8 OK", "9 OK", "10 OK", "! 2 120345 STATE state=RUNNING", "11 OK"] {
        expected.extend(encode_frame(payload).unwrap());
    }
    assert_eq!(twin.serial_take_output(), expected);
    twin.serial_receive(t + secs(1), &encode_frame("12 BOLUS").unwrap());
    let out = String::from_utf8(twin.serial_take_output()).unwrap();
    assert!(out.starts_with("! 3 121000 BOLUS id=1 phase=START*"), "{out}");
    assert!(out.contains("12 OK granted=1 id=1*"), "{out}");
    twin.serial_receive(t + secs(2), &encode_frame("13 BOLUS").unwrap());
    let out = String::from_utf8(twin.serial_take_output()).unwrap();
    assert!(
        out.contains("! 4 122000 DENIED reason=LOCKOUT*") && out.contains("13 OK granted=0 reason=LOCKOUT*"),
        "{out}"
    );
}

#[test]
fn icd_defaults_after_boot_and_id() {
    let mut b = Bench::new(nominal());
    let s = b.status().unwrap();
    assert_eq!(s.state, rig::protocol::PumpState::Stopped);
    assert_eq!((s.basal_ul_h, s.reservoir_ul, s.delivered_ul), (10.0, 0.0, 0.0));
    assert!(s.alarms.is_empty());
    let id = PumpIdentity::from_fields(&b.ok("ID").unwrap()).unwrap();
    assert_eq!((id.model.as_str(), id.serial.as_str(), id.proto), ("IT-1", "SIM-0001", 1));
    assert_eq!(id, rig::sim::config::nominal_identity());
}

#[test]
fn icd_syntax_unknown_and_overlong_lines() {
    let mut b = Bench::new(nominal());
    let out = |b: &mut Bench, bytes: &[u8]| {
        b.twin.serial_receive(b.now(), bytes);
        String::from_utf8(b.twin.serial_take_output()).unwrap()
    };
    assert_eq!(
        out(&mut b, &encode_frame("5 FLY").unwrap()),
        String::from_utf8(encode_frame("5 ERR UNKNOWN").unwrap()).unwrap()
    );
    assert_eq!(
        out(&mut b, &encode_frame("6 PROGRAM basal_ul_h=fast").unwrap()),
        String::from_utf8(encode_frame("6 ERR SYNTAX").unwrap()).unwrap()
    );
    assert_eq!(
        out(&mut b, &encode_frame("x STATUS").unwrap()),
        String::from_utf8(encode_frame("0 ERR SYNTAX").unwrap()).unwrap()
    );
    let mut long = vec![b'A'; 300];
    long.extend_from_slice(b"\r\n");
    assert_eq!(out(&mut b, &long), "", "an over-long line is discarded without an answer");
    // A frame fed byte by byte is answered once complete.
    let frame = encode_frame("7 ALARMS").unwrap();
    for &byte in &frame[..frame.len() - 1] {
        assert_eq!(out(&mut b, &[byte]), "");
    }
    assert_eq!(
        out(&mut b, &frame[frame.len() - 1..]),
        String::from_utf8(encode_frame("7 OK active=none").unwrap()).unwrap()
    );
}

#[test]
fn icd_corrupted_response_is_recovered_by_a_retry() {
    let mut b = Bench::new(nominal());
    b.ok("FILL volume_ul=20000").unwrap();
    b.inject(Injection::CorruptNextResponse);
    let frame = encode_frame("20 START").unwrap();
    let responses = b.send_raw(&frame);
    assert!(responses.is_empty(), "the corrupted response is dropped by the decoder");
    assert_eq!(b.stray.len(), 1, "{:?}", b.stray);
    // The rig retries with the same seq: cached answer, START not executed twice.
    let responses = b.send_raw(&frame);
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0].payload(), "20 OK");
    let running = b.events.iter().filter(|r| matches!(r.event.kind, EventKind::State { .. })).count();
    assert_eq!(running, 1);
}

#[test]
fn watchdog_reset_restarts_pump_clock_and_keeps_therapy_on() {
    let mut b = Bench::new(nominal());
    b.ok("FILL volume_ul=20000").unwrap();
    b.ok("START").unwrap();
    b.run_for(mins(30)).unwrap();
    assert!(b.delivered_ul().unwrap() > 4.0);
    let from = b.events.len();
    b.inject(Injection::WatchdogReset);
    let after: Vec<_> = b.events_since(from).map(|e| (e.evseq, e.pump_ms, e.kind)).collect();
    // ICD: "BOOT is the first event, and no STATE event is implied: a host reads STATUS".
    assert_eq!(after, vec![(1, 0, EventKind::Boot { reason: BootReason::Watchdog })]);
    assert_eq!(b.status().unwrap().state, rig::protocol::PumpState::Running);
    assert!(b.settings().unwrap().therapy_on);
    let s = b.status().unwrap();
    assert_eq!((s.delivered_ul, s.pump_ms, s.reservoir_ul < 20_000.0), (0.0, 0, true));
    b.run_for(mins(30)).unwrap();
    assert!(b.delivered_ul().unwrap() >= 4.75, "delivery went on after the reset");
}

#[test]
fn same_seed_same_bytes_different_seed_different_noise() {
    let run = |seed: u64| {
        let mut b = Bench::new(TwinConfig { seed, ..nominal() });
        b.start_sensor().unwrap();
        b.ok("FILL volume_ul=20000").unwrap();
        b.ok("START").unwrap();
        let mut bytes = Vec::new();
        for k in 1..=600u64 {
            b.twin.advance_to(Duration::from_millis(500 * k));
            let mut buf = [0u8; 9];
            b.twin.i2c_read(Duration::from_millis(500 * k), SENSOR_ADDR, &mut buf).unwrap();
            bytes.extend_from_slice(&buf);
        }
        bytes.extend(b.twin.serial_take_output());
        bytes
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn bench_bus_edges_nack_and_unknown_lines() {
    let mut twin = rig::sim::Twin::new(nominal());
    let t = secs(1);
    assert!(twin.i2c_write(t, 0x09, &[0x36, 0x08]).is_err(), "no device at 0x09");
    let mut buf = [0u8; 9];
    assert!(twin.i2c_read(t, SENSOR_ADDR, &mut buf).is_err(), "not measuring yet");
    twin.i2c_write(t, SENSOR_ADDR, &[0x36, 0x08]).unwrap();
    assert!(twin.i2c_read(t + Duration::from_millis(5), SENSOR_ADDR, &mut buf).is_err(), "within 12 ms");
    assert!(twin.i2c_read(t + Duration::from_millis(12), SENSOR_ADDR, &mut buf).is_ok());
    assert_eq!(twin.gpio_get(VALVE_LINE), Ok(false), "power-on level 0: valve open");
    assert!(twin.gpio_set(t, 4, true).is_err());
    assert!(twin.gpio_get(4).is_err());
    twin.gpio_set(t, VALVE_LINE, true).unwrap();
    assert_eq!(twin.gpio_get(VALVE_LINE), Ok(true));
    assert!(twin.valve_closed());
}

#[test]
fn next_deadline_is_the_next_stroke() {
    let mut twin = rig::sim::Twin::new(nominal());
    assert_eq!(twin.next_deadline(), None, "stopped: nothing scheduled");
    twin.serial_receive(secs(10), &encode_frame("1 FILL volume_ul=20000").unwrap());
    twin.serial_receive(secs(10), &encode_frame("2 START").unwrap());
    // 10 µL/h: a 0.25 µL stroke every 90 s.
    assert_eq!(twin.next_deadline(), Some(secs(100)));
    twin.advance_to(secs(100));
    assert_eq!(twin.next_deadline(), Some(secs(190)));
    assert!((twin.total_pumped_ul() - 0.25).abs() < 1e-12);
}

#[test]
fn simulated_day_at_full_rate_conserves_volume() {
    // 26 h at 1000 µL/h basal with a bolus every hour: ~100 000 strokes.
    let mut b = Bench::new(nominal());
    b.sample = hours(1);
    b.ok("FILL volume_ul=40000").unwrap();
    b.ok("LIMIT max_24h_ul=24000").unwrap();
    b.ok("PROGRAM basal_ul_h=1000").unwrap();
    b.ok("BOLUS_CONFIG dose_ul=100 lockout_s=3600 max_per_24h=24").unwrap();
    b.ok("START").unwrap();
    for _ in 0..26 {
        let _ = b.bolus().unwrap();
        b.run_for(hours(1)).unwrap();
    }
    let s = b.status().unwrap();
    let twin = &b.twin;
    assert!((twin.total_pumped_ul() - s.delivered_ul).abs() < 1e-6);
    let stored = twin.plant().params().compliance_ul_per_kpa * twin.line_pressure_kpa();
    assert!((twin.total_pumped_ul() - twin.total_outflow_ul() - stored).abs() < 1e-6);
    assert!((twin.reservoir_ul() - s.reservoir_ul).abs() < 1e-6);
    assert!(s.delivered_ul <= 24_000.0 + 26.0 * 100.0 && s.delivered_ul > 24_000.0, "{}", s.delivered_ul);
}

#[test]
fn srs_del_001_refused_commands_leave_every_setting() {
    pass(scenarios::del_001_refused_commands_leave_settings(nominal()));
}

#[test]
fn srs_dos_003_refused_limit_read_back() {
    pass(scenarios::dos_003_refused_limit_read_back(nominal()));
}

// ----- The revised ICD, part 1, byte for byte ------------------------------------------------

use crate::icd;

/// What the twin answers to raw bytes, as text.
fn answer(twin: &mut rig::sim::Twin, t: Duration, bytes: &[u8]) -> String {
    twin.serial_receive(t, bytes);
    String::from_utf8(twin.serial_take_output()).unwrap()
}

fn fresh_twin() -> rig::sim::Twin {
    let mut twin = rig::sim::Twin::new(nominal());
    twin.serial_take_output();
    twin
}

/// ICD: "A receiver also accepts the CRC in lower case."
#[test]
fn icd_a_lower_case_crc_is_accepted() {
    let mut twin = fresh_twin();
    let crc = icd::crc_hex("3 STATUS").to_lowercase();
    assert!(crc.bytes().any(|b| b.is_ascii_lowercase()), "{crc}");
    let out = answer(&mut twin, secs(1), format!("3 STATUS*{crc}\r\n").as_bytes());
    assert!(out.starts_with("3 OK state=STOPPED "), "{out}");
}

/// ICD: "An empty line is ignored. Any other line that does not end in `*` and four hex digits
/// counts as a frame with a bad CRC."
#[test]
fn icd_an_empty_line_is_ignored_and_a_line_without_crc_is_a_bad_crc() {
    let mut twin = fresh_twin();
    assert_eq!(answer(&mut twin, secs(1), b"\r\n\n"), "");
    for line in ["4 START\r\n", "4 START*12F\r\n", "4 START*12FX\r\n", "garbage\n", "4 START*12FD \r\n"] {
        assert_eq!(answer(&mut twin, secs(1), line.as_bytes()), icd::frame("0 ERR CRC"), "{line:?}");
    }
    let state = answer(&mut twin, secs(1), icd::frame("5 STATUS").as_bytes());
    assert!(state.starts_with("5 OK state=STOPPED "), "none of them was executed: {state}");
}

/// ICD: "A frame with a good CRC whose payload breaks the rules above is answered `ERR SYNTAX`
/// (with its seq where it starts with one, else `0`)."
#[test]
fn icd_a_good_crc_over_a_broken_payload_is_err_syntax() {
    let mut twin = fresh_twin();
    let with_crc = |payload: &str| format!("{payload}*{}\r\n", icd::crc_hex(payload));
    assert_eq!(answer(&mut twin, secs(1), with_crc("6 ST*ART").as_bytes()), icd::frame("6 ERR SYNTAX"));
    assert_eq!(answer(&mut twin, secs(1), with_crc("7 ST\tART").as_bytes()), icd::frame("7 ERR SYNTAX"));
    assert_eq!(answer(&mut twin, secs(1), with_crc("x ST*ART").as_bytes()), icd::frame("0 ERR SYNTAX"));
    let long = format!("8 FILL {}", "a".repeat(240));
    assert_eq!(answer(&mut twin, secs(1), with_crc(&long).as_bytes()), icd::frame("8 ERR SYNTAX"));
}

/// ICD: "A frame whose CRC does not match is answered `0 ERR CRC` and has no effect — also not
/// on the cached response: the request before it stays the previous request."
#[test]
fn icd_a_bad_crc_frame_does_not_touch_the_seq_cache() {
    let mut twin = fresh_twin();
    let t = secs(1);
    assert_eq!(answer(&mut twin, t, icd::frame("9 FILL volume_ul=3000").as_bytes()), icd::frame("9 OK"));
    // seq 10 with a bad CRC, then seq 9 again: still answered from the cache (and not executed).
    assert_eq!(answer(&mut twin, t, b"10 START*0000\r\n"), icd::frame("0 ERR CRC"));
    assert_eq!(answer(&mut twin, t, b"10 START\r\n"), icd::frame("0 ERR CRC"));
    assert_eq!(answer(&mut twin, t, icd::frame("9 FILL volume_ul=5000").as_bytes()), icd::frame("9 OK"));
    let status = answer(&mut twin, t, icd::frame("11 STATUS").as_bytes());
    assert!(status.contains(" reservoir_ul=3000 "), "the repeat of seq 9 was not executed: {status}");
    // And seq 10, never received whole, is a new request.
    let out = answer(&mut twin, t, icd::frame("12 START").as_bytes());
    assert!(out.ends_with(&icd::frame("12 OK")), "{out}");
}

/// ICD: `SETTINGS` answers `basal_ul_h= dose_ul= lockout_s= max_per_24h= max_24h_ul=
/// low_reservoir_ul= occlusion_kpa= therapy=on|off`, defaults after boot.
#[test]
fn icd_settings_reply_byte_exact() {
    let mut twin = fresh_twin();
    let t = secs(1);
    assert_eq!(
        answer(&mut twin, t, icd::frame("1 SETTINGS").as_bytes()),
        icd::frame(
            "1 OK basal_ul_h=10 dose_ul=50 lockout_s=3600 max_per_24h=4 max_24h_ul=1200 low_reservoir_ul=2000 \
             occlusion_kpa=200 therapy=off"
        )
    );
    for (seq, request) in [
        (2, "LIMIT max_24h_ul=12000"),
        (3, "PROGRAM basal_ul_h=437.5"),
        (4, "BOLUS_CONFIG dose_ul=20.25 lockout_s=900 max_per_24h=6"),
        (5, "ALARM_CONFIG low_reservoir_ul=1500 occlusion_kpa=150"),
        (6, "FILL volume_ul=100"),
        (7, "START"),
    ] {
        let out = answer(&mut twin, t, icd::frame(&format!("{seq} {request}")).as_bytes());
        assert!(out.ends_with(&icd::frame(&format!("{seq} OK"))), "{request}: {out}");
    }
    assert_eq!(
        answer(&mut twin, t, icd::frame("8 SETTINGS").as_bytes()),
        icd::frame(
            "8 OK basal_ul_h=437.5 dose_ul=20.25 lockout_s=900 max_per_24h=6 max_24h_ul=12000 \
             low_reservoir_ul=1500 occlusion_kpa=150 therapy=on"
        )
    );
    assert_eq!(answer(&mut twin, t, icd::frame("9 SETTINGS now=1").as_bytes()), icd::frame("9 ERR SYNTAX"));
}

// ----- The revised ICD, part 1: therapy, state and alarms ------------------------------------

/// ICD: "`THERAPY_INTERRUPTED`'s condition has gone once no other HIGH alarm is active."
#[test]
fn icd_therapy_interrupted_is_acknowledged_once_no_other_high_alarm_is_active() {
    let mut b = Bench::new(nominal());
    b.ok("FILL volume_ul=20000").unwrap();
    b.ok("LIMIT max_24h_ul=2400").unwrap();
    b.ok("PROGRAM basal_ul_h=100").unwrap();
    b.ok("START").unwrap();
    b.run_for(mins(1)).unwrap();
    b.inject(Injection::MotorStall { for_: None });
    b.wait_for(mins(20), is_alarm(AlarmCode::TherapyInterrupted)).unwrap().expect("THERAPY_INTERRUPTED");
    assert_eq!(b.err_code("ACK code=THERAPY_INTERRUPTED").unwrap(), Some(rig::protocol::ErrCode::State));
    b.inject(Injection::ClearMotorStall);
    b.ok("ACK code=MOTOR_STALL").unwrap();
    assert_eq!(b.err_code("ACK code=THERAPY_INTERRUPTED").unwrap(), None);
    assert_eq!(b.status().unwrap().state, PumpState::Running, "delivery resumes by itself");
}

/// ICD: "`DOSE_LIMIT` clears itself 60 s after the last refusal for the 24 h limit: a refusal
/// while it is active extends it, without a new `ALARM` event. `ACK` clears `DOSE_LIMIT` at
/// once."
#[test]
fn icd_dose_limit_is_extended_by_each_refusal_and_cleared_by_ack() {
    let mut b = Bench::new(nominal());
    b.ok("FILL volume_ul=20000").unwrap();
    b.ok("LIMIT max_24h_ul=300").unwrap();
    b.ok("BOLUS_CONFIG dose_ul=500 lockout_s=0 max_per_24h=24").unwrap();
    b.ok("START").unwrap();
    let from = b.events.len();
    assert_eq!(b.bolus().unwrap(), BolusReply::Denied { reason: DenyReason::DailyLimit });
    let first = b.now();
    b.run_for(secs(40)).unwrap();
    assert_eq!(b.bolus().unwrap(), BolusReply::Denied { reason: DenyReason::DailyLimit });
    let second = b.now();
    let cleared = b.wait_for(mins(3), is_clear(AlarmCode::DoseLimit)).unwrap().expect("DOSE_LIMIT clears itself");
    let raised = b.events_since(from).filter(|e| is_alarm(AlarmCode::DoseLimit)(&e.kind)).count();
    assert_eq!(raised, 1, "the second refusal raised no new ALARM");
    let held = pump_time(&cleared.event) - second;
    assert!(held >= secs(59) && held <= secs(61), "60 s after the last refusal, not the first ({first:?}): {held:?}");
    // ACK clears it at once.
    assert_eq!(b.bolus().unwrap(), BolusReply::Denied { reason: DenyReason::DailyLimit });
    assert!(b.alarms().unwrap().contains(&AlarmCode::DoseLimit));
    let from = b.events.len();
    b.ok("ACK code=DOSE_LIMIT").unwrap();
    assert!(b.events_since(from).any(|e| is_clear(AlarmCode::DoseLimit)(&e.kind)));
    assert!(b.alarms().unwrap().is_empty());
    // Only a DAILY_LIMIT refusal raises it: a LOCKOUT one does not.
    b.ok("LIMIT max_24h_ul=1200").unwrap();
    b.ok("BOLUS_CONFIG dose_ul=10 lockout_s=3600 max_per_24h=24").unwrap();
    assert!(matches!(b.bolus().unwrap(), BolusReply::Granted { .. }));
    assert_eq!(b.bolus().unwrap(), BolusReply::Denied { reason: DenyReason::Lockout });
    assert!(b.alarms().unwrap().is_empty());
}

/// ICD: "`STOP` also ends a bolus in progress (its `BOLUS phase=END` event says what it
/// delivered) and cancels the boluses queued behind it (each gets `BOLUS phase=END
/// delivered_ul=0`)." SRS-DEL-003: within one stroke.
#[test]
fn icd_stop_ends_the_bolus_in_progress_and_cancels_the_queued_ones() {
    let mut b = Bench::new(nominal());
    b.ok("FILL volume_ul=20000").unwrap();
    b.ok("BOLUS_CONFIG dose_ul=20 lockout_s=0 max_per_24h=24").unwrap();
    b.ok("START").unwrap();
    let ids: Vec<u32> = (0..3)
        .map(|_| match b.bolus().unwrap() {
            BolusReply::Granted { id } => id,
            other => panic!("{other:?}"),
        })
        .collect();
    b.run_for(secs(30)).unwrap();
    let before = b.delivered_ul().unwrap();
    let from = b.events.len();
    b.ok("STOP").unwrap();
    let ends: Vec<(u32, f64)> = b
        .events_since(from)
        .filter_map(|e| match e.kind {
            EventKind::BolusEnd { id, delivered_ul } => Some((id, delivered_ul)),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), 3, "{ends:?}");
    assert_eq!(ends[0].0, ids[0]);
    // 30 s at 1000 µL/h is 33 strokes: 8.25 µL, give or take the first stroke's timing.
    assert!((7.5..=8.5).contains(&ends[0].1), "{ends:?}");
    assert_eq!(&ends[1..], &[(ids[1], 0.0), (ids[2], 0.0)]);
    b.run_for(mins(5)).unwrap();
    assert!(b.delivered_ul().unwrap() - before <= 0.25, "stopped within one stroke");
}

/// SRS-DOS-004: the cap prevails over basal delivery; a withheld stroke is not an interruption
/// under SRS-WDR-004 (no `THERAPY_INTERRUPTED`) and is not made up later.
#[test]
fn srs_dos_004_withheld_basal_is_not_an_interruption() {
    let mut b = Bench::new(nominal());
    b.sample = mins(5);
    b.ok("FILL volume_ul=20000").unwrap();
    b.ok("PROGRAM basal_ul_h=2").unwrap();
    b.ok("LIMIT max_24h_ul=48").unwrap();
    b.ok("BOLUS_CONFIG dose_ul=10 lockout_s=0 max_per_24h=24").unwrap();
    b.ok("START").unwrap();
    assert!(matches!(b.bolus().unwrap(), BolusReply::Granted { .. }));
    let mut samples = vec![(b.now(), 0.0)];
    for _ in 0..(60 * 12) {
        b.run_for(mins(5)).unwrap();
        samples.push((b.now(), b.delivered_ul().unwrap()));
    }
    for (i, &(t, v)) in samples.iter().enumerate() {
        let old = samples[..i].iter().find(|(s, _)| *s + hours(24) == t).map_or(0.0, |s| s.1);
        assert!(v - old <= 48.0 + 1e-9, "{} µL in the 24 h before {t:?}", v - old);
    }
    assert!(
        !b.events.iter().any(|r| is_alarm(AlarmCode::TherapyInterrupted)(&r.event.kind)),
        "a withheld stroke raised THERAPY_INTERRUPTED"
    );
    // 10 µL of bolus and 38 µL of basal fill the first 24 h; not made up afterwards: 60 h hold
    // at most 48 + 48 + 12 × 2 = 120 µL.
    let total = samples.last().unwrap().1;
    assert!(total <= 120.0 + 1e-9, "{total}");
}

/// SRS-DOS-004: "A granted bolus whose next stroke would break it (after `LIMIT` was lowered)
/// ends early, its `BOLUS phase=END` saying what it delivered."
#[test]
fn srs_dos_004_a_bolus_ends_early_after_limit_is_lowered() {
    let mut b = Bench::new(nominal());
    b.ok("FILL volume_ul=20000").unwrap();
    b.ok("BOLUS_CONFIG dose_ul=500 lockout_s=0 max_per_24h=24").unwrap();
    b.ok("LIMIT max_24h_ul=2400").unwrap();
    b.ok("START").unwrap();
    let BolusReply::Granted { id } = b.bolus().unwrap() else { panic!("bolus refused") };
    b.run_for(secs(60)).unwrap();
    let from = b.events.len();
    // 10 µL/h basal × 24 = 240 µL: the lowest limit that fits the basal.
    b.ok("LIMIT max_24h_ul=240").unwrap();
    let end = b
        .wait_for(mins(20), |k| matches!(k, EventKind::BolusEnd { id: i, .. } if *i == id))
        .unwrap()
        .expect("the bolus ends");
    let EventKind::BolusEnd { delivered_ul, .. } = end.event.kind else { unreachable!() };
    let delivered = b.delivered_ul().unwrap();
    assert!(delivered <= 240.0, "{delivered} µL delivered in the first day against a limit of 240");
    assert!((235.0..500.0).contains(&delivered_ul), "the bolus ended early at {delivered_ul} µL");
    assert!(b.events_since(from).all(|e| !matches!(e.kind, EventKind::Alarm { .. })), "no alarm");
    b.run_for(hours(2)).unwrap();
    assert!(b.delivered_ul().unwrap() <= 240.0, "the basal is withheld too");
}

// ----- The revised ICD: what a watchdog reset keeps and what starts again --------------------

/// ICD: a bolus in progress or queued is dropped without an event; `BOOT` first and alone;
/// `delivered_ul`, `pump_ms` and `evseq` start again; settings, therapy and reservoir kept.
#[test]
fn icd_watchdog_reset_drops_boluses_silently_and_keeps_the_rest() {
    let mut b = Bench::new(nominal());
    b.ok("FILL volume_ul=20000").unwrap();
    b.ok("BOLUS_CONFIG dose_ul=50 lockout_s=0 max_per_24h=24").unwrap();
    b.ok("START").unwrap();
    b.bolus().unwrap();
    b.bolus().unwrap();
    b.run_for(secs(20)).unwrap();
    let settings = b.settings().unwrap();
    let reservoir = b.status().unwrap().reservoir_ul;
    let from = b.events.len();
    b.inject(Injection::WatchdogReset);
    b.run_for(mins(5)).unwrap();
    let after: Vec<_> = b.events_since(from).map(|e| e.kind).collect();
    assert_eq!(after, vec![EventKind::Boot { reason: BootReason::Watchdog }], "no BOLUS END, no STATE");
    assert_eq!(b.settings().unwrap(), settings);
    let s = b.status().unwrap();
    assert_eq!(s.state, PumpState::Running);
    // 5 min of 10 µL/h basal after the boot, and nothing more of the boluses.
    assert!((0.5..=1.0).contains(&s.delivered_ul), "{}", s.delivered_ul);
    assert!((reservoir - s.reservoir_ul - s.delivered_ul).abs() < 1e-9, "the reservoir was kept");
    // The dose history is kept: the lockout counts from the last grant before the reset.
    b.ok("BOLUS_CONFIG dose_ul=50 lockout_s=3600 max_per_24h=24").unwrap();
    assert_eq!(b.bolus().unwrap(), BolusReply::Denied { reason: DenyReason::Lockout });
}

/// ICD: "MEDIUM and LOW alarms are raised again only if their condition still holds".
#[test]
fn icd_watchdog_reset_raises_reservoir_low_again_when_it_still_holds() {
    let mut b = Bench::new(nominal());
    b.ok("FILL volume_ul=1000").unwrap();
    assert_eq!(b.alarms().unwrap(), vec![AlarmCode::ReservoirLow]);
    let from = b.events.len();
    b.inject(Injection::WatchdogReset);
    let after: Vec<_> = b.events_since(from).map(|e| e.kind).collect();
    assert_eq!(
        after,
        vec![
            EventKind::Boot { reason: BootReason::Watchdog },
            EventKind::Alarm { code: AlarmCode::ReservoirLow, priority: rig::protocol::Priority::Medium }
        ]
    );
    b.ok("FILL volume_ul=20000").unwrap();
    b.ok("ACK code=RESERVOIR_LOW").unwrap();
    b.inject(Injection::WatchdogReset);
    assert_eq!(b.alarms().unwrap(), vec![], "its condition has gone: not raised again");
}

/// ICD: "a THERAPY_INTERRUPTED not yet raised is timed again from the boot"; SRS-WDR-004 still
/// holds: within 10 min of the boot (the first stroke due after it, which is not delivered).
#[test]
fn icd_watchdog_reset_times_therapy_interrupted_again_from_the_boot() {
    let mut b = Bench::new(nominal());
    b.ok("FILL volume_ul=20000").unwrap();
    b.ok("LIMIT max_24h_ul=2400").unwrap();
    b.ok("PROGRAM basal_ul_h=100").unwrap();
    b.ok("START").unwrap();
    b.run_for(mins(1)).unwrap();
    b.inject(Injection::MotorStall { for_: None });
    b.wait_for(mins(2), is_alarm(AlarmCode::MotorStall)).unwrap().expect("MOTOR_STALL");
    b.run_for(mins(2)).unwrap();
    let boot = b.now();
    b.inject(Injection::WatchdogReset);
    let raised = b.wait_for(mins(20), is_alarm(AlarmCode::TherapyInterrupted)).unwrap().expect("raised");
    let after_boot = Duration::from_millis(raised.event.pump_ms);
    assert!(after_boot >= mins(4) && after_boot <= mins(10), "{after_boot:?} after the boot at {boot:?}");
}

/// ICD: "`pump_ms` is the pump's own monotonic clock (crystal, ±100 ppm)".
#[test]
fn icd_pump_ms_runs_on_the_crystal() {
    for ppm in [-100.0, 0.0, 100.0] {
        let mut twin = rig::sim::Twin::new(TwinConfig { crystal_ppm: ppm, ..nominal() });
        twin.serial_take_output();
        let out = answer(&mut twin, hours(10), icd::frame("1 STATUS").as_bytes());
        let pump_ms: f64 = out.split(' ').find_map(|t| t.strip_prefix("pump_ms=")).unwrap().parse().unwrap();
        let expected = 36_000_000.0 * (1.0 + ppm * 1e-6);
        assert!((pump_ms - expected).abs() <= 1.0, "{ppm} ppm: {pump_ms}");
    }
    assert!(TwinConfig { crystal_ppm: 150.0, ..nominal() }.check().is_err());
}
