//! Every seeded defect is caught: the same black-box scenario that passes on the nominal
//! firmware (`twin_srs.rs`) fails on the defective one, naming the requirement the defect
//! violates. A defect added to the catalogue without a scenario does not compile
//! ([`scenarios_for`] matches every `Fault`), and one whose scenarios do not cover every
//! requirement it names fails [`every_fault_has_a_scenario_for_each_requirement_it_names`].

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::twin_common;

use std::collections::BTreeSet;

use rig::sim::{Fault, Twin};
use twin_common::scenarios::{self, Scenario};
use twin_common::*;

/// The scenarios that expose `fault`, with the requirement each must report violated.
fn scenarios_for(fault: Fault) -> Vec<(&'static str, Scenario)> {
    match fault {
        Fault::OcclusionThresholdDoubled => {
            vec![("SRS-OCC-002", scenarios::occ_002), ("SRS-OCC-003", scenarios::occ_003)]
        }
        Fault::PumpingAfterOcclusion => {
            vec![("SRS-OCC-001", scenarios::occ_001), ("SRS-WDR-004", scenarios::wdr_004_occlusion)]
        }
        Fault::OcclusionAckEarly => vec![("SRS-OCC-004", scenarios::occ_004)],
        Fault::LockoutIgnored => vec![("SRS-DOS-001", scenarios::dos_001_lockout)],
        Fault::DailyLimitCalendarDay => {
            vec![("SRS-DOS-001", scenarios::dos_001_daily_limit_rolling), ("SRS-DOS-004", scenarios::dos_004)]
        }
        Fault::MaxPer24hOffByOne => vec![("SRS-DOS-001", scenarios::dos_001_max_per_24h)],
        Fault::BolusDuringAlarm => vec![("SRS-WDR-005", scenarios::wdr_005)],
        Fault::LowReservoirLate => vec![("SRS-WDR-001", scenarios::wdr_001)],
        Fault::TherapyInterruptedMissing => vec![("SRS-WDR-004", scenarios::wdr_004_stall)],
        Fault::StallDetectionOff => vec![("SRS-WDR-003", scenarios::wdr_003)],
        Fault::AlarmsLostOnWatchdog => vec![("SRS-WDR-006", scenarios::wdr_006)],
        Fault::Delivery25pctFast => vec![("SRS-DEL-002", scenarios::del_002)],
        Fault::RetryReexecutes => vec![("SRS-COM-002", scenarios::com_002)],
        Fault::BadCrcExecuted => vec![("SRS-COM-001", scenarios::com_001)],
        Fault::EvseqSkips => vec![("SRS-COM-003", scenarios::com_003)],
        Fault::ProgramRangeUnchecked => vec![("SRS-DEL-001", scenarios::del_001)],
        Fault::StopFinishesBolus => vec![("SRS-DEL-003", scenarios::del_003)],
        Fault::ReservoirEmptyMissed => {
            vec![("SRS-WDR-002", scenarios::wdr_002), ("SRS-WDR-004", scenarios::wdr_004_empty)]
        }
        Fault::DoseLimitSilent => vec![("SRS-DOS-002", scenarios::dos_002)],
        Fault::LimitCombinationUnchecked => vec![("SRS-DOS-003", scenarios::dos_003)],
        Fault::BolusSlow => vec![("SRS-DOS-005", scenarios::dos_005)],
        Fault::RefusedLimitApplied => vec![("SRS-DOS-003", scenarios::dos_003_refused_limit_read_back)],
        Fault::RefusedBolusConfigApplied => {
            vec![("SRS-DEL-001", scenarios::del_001_refused_commands_leave_settings)]
        }
        Fault::ResetForgetsTherapy | Fault::ResetForgetsSettings => vec![("SRS-WDR-006", scenarios::wdr_006)],
    }
}

/// Runs every scenario of `fault` on the defective twin; each must report its requirement
/// violated. Returns the violation messages (for the eye of whoever runs `--nocapture`).
fn assert_caught(fault: Fault) -> Vec<String> {
    let mut found = Vec::new();
    for (requirement, scenario) in scenarios_for(fault) {
        match scenario(with_fault(fault)) {
            Ok(()) => {
                panic!("{fault}: the {requirement} scenario passed; the defect went unnoticed")
            }
            Err(e) if e.starts_with(&format!("{requirement}:")) => found.push(e),
            Err(e) => panic!("{fault}: the {requirement} scenario failed for another reason: {e}"),
        }
    }
    for message in &found {
        println!("{fault}: {message}");
    }
    found
}

#[test]
fn every_fault_has_a_scenario_for_each_requirement_it_names() {
    for &fault in Fault::ALL {
        let covered: BTreeSet<&str> = scenarios_for(fault).iter().map(|(r, _)| *r).collect();
        let named: BTreeSet<&str> = fault.requirement().iter().copied().collect();
        assert_eq!(covered, named, "{fault}: scenarios cover {covered:?}, the catalogue names {named:?}");
    }
}

#[test]
fn faulty_images_identify_themselves() {
    let nominal_build = Twin::new(nominal()).firmware().identity().build.clone();
    let mut builds = BTreeSet::new();
    for &fault in Fault::ALL {
        let mut b = Bench::new(with_fault(fault));
        let id = rig::protocol::PumpIdentity::from_fields(&b.ok("ID").unwrap()).unwrap();
        assert_ne!(id.build, nominal_build, "{fault}");
        assert!(builds.insert(id.build.clone()), "{fault}: build {} not unique", id.build);
    }
}

#[test]
fn occlusion_threshold_doubled() {
    assert_caught(Fault::OcclusionThresholdDoubled);
}

#[test]
fn pumping_after_occlusion() {
    assert_caught(Fault::PumpingAfterOcclusion);
}

#[test]
fn occlusion_ack_early() {
    assert_caught(Fault::OcclusionAckEarly);
}

#[test]
fn lockout_ignored() {
    assert_caught(Fault::LockoutIgnored);
}

#[test]
fn daily_limit_calendar_day() {
    assert_caught(Fault::DailyLimitCalendarDay);
}

#[test]
fn max_per_24h_off_by_one() {
    assert_caught(Fault::MaxPer24hOffByOne);
}

#[test]
fn bolus_during_alarm() {
    assert_caught(Fault::BolusDuringAlarm);
}

#[test]
fn low_reservoir_late() {
    assert_caught(Fault::LowReservoirLate);
}

#[test]
fn therapy_interrupted_missing() {
    assert_caught(Fault::TherapyInterruptedMissing);
}

#[test]
fn stall_detection_off() {
    assert_caught(Fault::StallDetectionOff);
}

#[test]
fn alarms_lost_on_watchdog() {
    assert_caught(Fault::AlarmsLostOnWatchdog);
}

#[test]
fn delivery_25pct_fast() {
    assert_caught(Fault::Delivery25pctFast);
}

#[test]
fn retry_reexecutes() {
    assert_caught(Fault::RetryReexecutes);
}

#[test]
fn bad_crc_executed() {
    assert_caught(Fault::BadCrcExecuted);
}

#[test]
fn evseq_skips() {
    assert_caught(Fault::EvseqSkips);
}

#[test]
fn program_range_unchecked() {
    assert_caught(Fault::ProgramRangeUnchecked);
}

#[test]
fn stop_finishes_bolus() {
    assert_caught(Fault::StopFinishesBolus);
}

#[test]
fn reservoir_empty_missed() {
    assert_caught(Fault::ReservoirEmptyMissed);
}

#[test]
fn dose_limit_silent() {
    assert_caught(Fault::DoseLimitSilent);
}

#[test]
fn limit_combination_unchecked() {
    assert_caught(Fault::LimitCombinationUnchecked);
}

#[test]
fn bolus_slow() {
    assert_caught(Fault::BolusSlow);
}

#[test]
fn refused_limit_applied() {
    assert_caught(Fault::RefusedLimitApplied);
}

#[test]
fn refused_bolus_config_applied() {
    assert_caught(Fault::RefusedBolusConfigApplied);
}

#[test]
fn reset_forgets_therapy() {
    assert_caught(Fault::ResetForgetsTherapy);
}

#[test]
fn reset_forgets_settings() {
    assert_caught(Fault::ResetForgetsSettings);
}

/// The four settings defects hide from `STATUS`: after the event that triggers each, `STATUS`
/// reads the same on the defective pump as on the nominal one, and is consistent with the ICD
/// (`ALARM` while a HIGH alarm is active whatever therapy on/off is). Only `SETTINGS` differs.
#[test]
fn settings_defects_are_seen_by_settings_and_not_by_status() {
    let after_refused = |config| {
        let mut b = Bench::new(config);
        b.ok("LIMIT max_24h_ul=2400").unwrap();
        b.ok("PROGRAM basal_ul_h=50").unwrap();
        assert!(b.err_code("LIMIT max_24h_ul=1000").unwrap().is_some());
        assert!(b.err_code("BOLUS_CONFIG dose_ul=10 lockout_s=60 max_per_24h=25").unwrap().is_some());
        (b.status().unwrap(), b.settings().unwrap())
    };
    let after_reset = |config| {
        let mut b = Bench::new(config);
        b.ok("LIMIT max_24h_ul=2400").unwrap();
        b.ok("PROGRAM basal_ul_h=50").unwrap();
        b.ok("BOLUS_CONFIG dose_ul=10 lockout_s=60 max_per_24h=8").unwrap();
        b.ok("FILL volume_ul=20000").unwrap();
        b.ok("START").unwrap();
        b.run_for(mins(2)).unwrap();
        b.inject(rig::sim::Injection::MotorStall { for_: None });
        b.wait_for(mins(5), is_alarm(rig::protocol::AlarmCode::MotorStall)).unwrap().expect("MOTOR_STALL");
        b.inject(rig::sim::Injection::WatchdogReset);
        (b.status().unwrap(), b.settings().unwrap())
    };
    for (fault, run) in [
        (Fault::RefusedLimitApplied, &after_refused as &dyn Fn(_) -> _),
        (Fault::RefusedBolusConfigApplied, &after_refused),
        (Fault::ResetForgetsTherapy, &after_reset),
        (Fault::ResetForgetsSettings, &after_reset),
    ] {
        let (nominal_status, nominal_settings) = run(nominal());
        let (status, settings) = run(with_fault(fault));
        assert_eq!(status, nominal_status, "{fault}: STATUS differs");
        assert_ne!(settings, nominal_settings, "{fault}: SETTINGS does not show it");
        if fault == Fault::ResetForgetsTherapy {
            assert!(!settings.therapy_on);
            assert_eq!(status.state, rig::protocol::PumpState::Alarm, "a HIGH alarm is kept: ALARM");
        }
    }
}

/// Each defect deviates only where it says: on the scenarios of the *other* requirements it
/// behaves as the nominal firmware (a defect that broke everything would prove little).
#[test]
fn each_fault_passes_the_scenarios_of_requirements_it_does_not_name() {
    let all = scenarios::all();
    let mut surprises = Vec::new();
    for &fault in Fault::ALL {
        for &(requirement, scenario) in &all {
            if fault.requirement().contains(&requirement) {
                continue;
            }
            if let Err(e) = scenario(with_fault(fault)) {
                surprises.push(format!("{fault} (names {:?}) also fails: {e}", fault.requirement()));
            }
        }
    }
    assert!(surprises.is_empty(), "{}", surprises.join("\n"));
}
