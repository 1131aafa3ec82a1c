//! The case's evidence record: started before the case with everything known up front (rig
//! build, host, operator, plan and bench identity, instruments and their calibration), filled
//! by the [`RecordReporter`](super::reporters::RecordReporter) from the event stream, and
//! completed once the case is over.

use std::sync::{Once, OnceLock};

use crate::bench::BenchFile;
use crate::bench::config::Connection;
use crate::drivers::flow_sensor::ProductId;
use crate::evidence::record::{
    BenchIdentity, CaseRecord, IdentityCheck, Instrument, PlanIdentity, RECORD_FORMAT, ReportedIdentity, RigBuild,
    SafeStateRecord, SigningRecord,
};
use crate::plan::{Plan, PlanFile};

pub use crate::civil_time::{today, utc_now};
pub use crate::evidence::person::{Person, identify_person};

use super::runner::RunOptions;
use crate::judgement::Verdict;

/// The rig's version, the commit it was built from and the target it was built for; the SHA-256
/// of the running executable is [`EXECUTABLE_HASH_PENDING`] until the record is written.
fn rig_build() -> RigBuild {
    RigBuild {
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: env!("RIG_GIT_COMMIT").to_string(),
        executable_sha256: EXECUTABLE_HASH_PENDING.to_string(),
        target: env!("RIG_TARGET").to_string(),
    }
}

/// What a started record holds in `rig.executable_sha256` until the record is written: the hash
/// is taken on a thread of its own ([`hash_executable_ahead`]) while the case runs, and
/// `finish_evidence` puts it in before anything is written. No file ever holds this text.
pub const EXECUTABLE_HASH_PENDING: &str = "pending: filled in when the record is written";

/// Starts hashing the running executable on a thread of its own (once per process), at the
/// start of a run, so that a case does not wait on the main thread for a binary of tens of MB
/// to be read. [`executable_sha256`] then returns that hash, waiting for it if it is not done.
pub fn hash_executable_ahead() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        // Without a thread (the OS refused one) the first caller hashes it instead.
        let _ = std::thread::Builder::new().name("rig-exe-hash".into()).spawn(|| {
            executable_sha256();
        });
    });
}

/// SHA-256 of the running executable (`std::env::current_exe`), or why it could not be read.
pub fn executable_sha256() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let exe = match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => return format!("unknown: the executable's path cannot be had ({e})"),
        };
        crate::evidence::manifest::sha256_of(&exe)
            .unwrap_or_else(|e| format!("unknown: {} cannot be read ({e})", exe.display()))
    })
}

/// The flow sensor's serial number as the bench file declares it matches what the sensor
/// reported. A placeholder (`REPLACE-WITH-SENSOR-SERIAL`) or anything not a number never does.
pub fn sensor_serial_confirmed(bench: &BenchFile, reported: &ProductId) -> bool {
    bench.flow_sensor.serial_number.trim().parse::<u64>() == Ok(reported.serial_number)
}

/// Each instrument whose identity as reported differs from the bench file, in words naming
/// both values.
pub fn identity_mismatches(bench: &BenchFile, reported: &ProductId) -> Vec<String> {
    if sensor_serial_confirmed(bench, reported) {
        return Vec::new();
    }
    let declared = &bench.flow_sensor.serial_number;
    let placeholder = if declared.trim().parse::<u64>().is_err() {
        " (not a serial number: a placeholder? put the sensor's own, from its label or `rig check-bench`)"
    } else {
        ""
    };
    vec![format!(
        "flow sensor {} at 0x{:02X} reports serial {} (product 0x{:08X}), bench file {} says {declared:?}{placeholder}",
        bench.flow_sensor.model,
        bench.flow_sensor.address,
        reported.serial_number,
        reported.product_number,
        bench.source.path
    )]
}

/// The bench's instruments, each with whether it is past its calibration due date on `today`
/// and, with `reported` (the sensor's answer when the bench opened), whether its identity is
/// confirmed.
pub fn instruments(bench: &BenchFile, today: time::Date, reported: Option<&ProductId>) -> Vec<Instrument> {
    let s = &bench.flow_sensor;
    let identity = match reported {
        None => IdentityCheck::NotRead,
        Some(r) if sensor_serial_confirmed(bench, r) => IdentityCheck::Confirmed,
        Some(_) => IdentityCheck::Mismatch,
    };
    vec![
        Instrument {
            role: "flow sensor".into(),
            model: s.model.to_string(),
            serial_number: s.serial_number.clone(),
            reported: reported.map(|r| ReportedIdentity {
                product_number: format!("0x{:08X}", r.product_number),
                serial_number: r.serial_number.to_string(),
            }),
            identity,
            calibration_due: Some(s.calibration_due.to_string()),
            calibration_expired: s.calibration_due.0 < today,
            accuracy: Some(format!(
                "±{} % of reading, at least ±{} uL/h",
                s.accuracy.percent_of_reading, s.accuracy.floor_ul_h
            )),
        },
        Instrument {
            role: "occlusion valve".into(),
            model: bench.valve.model.clone(),
            serial_number: bench.valve.serial_number.clone(),
            reported: None,
            identity: IdentityCheck::DeclaredOnly,
            calibration_due: None,
            calibration_expired: false,
            accuracy: None,
        },
    ]
}

/// Instruments past their calibration due date, in words (`LD20-0600L 539230209, due 2026-01-31`).
pub fn expired_calibrations(bench: &BenchFile, today: time::Date) -> Vec<String> {
    instruments(bench, today, None)
        .into_iter()
        .filter(|i| i.calibration_expired)
        .map(|i| {
            format!(
                "{} {} {}, calibration due {}",
                i.role,
                i.model,
                i.serial_number,
                i.calibration_due.as_deref().unwrap_or("?")
            )
        })
        .collect()
}

fn host() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "unknown".into())
}

/// The record of a case about to start, on a bench whose flow sensor reported `sensor` when it
/// opened (`None`: it could not be opened).
pub fn start_record(plan: &Plan, file: &PlanFile, options: &RunOptions, sensor: Option<&ProductId>) -> CaseRecord {
    let bench = &options.bench;
    let (kind, mut faults) = match &bench.connection {
        Connection::Twin { faults, .. } => ("twin", faults.clone()),
        Connection::SimProcess { .. } => ("sim-process", Vec::new()),
        Connection::Hardware { .. } => ("hardware", Vec::new()),
    };
    for f in &options.faults {
        if !faults.iter().any(|x| x == f.name()) {
            faults.push(f.name().to_string());
        }
    }
    let started = utc_now();
    CaseRecord {
        format: RECORD_FORMAT,
        run_id: options.run_id.clone(),
        rig: rig_build(),
        host: host(),
        // `run_plans` refuses a run without an operator before any record is started.
        operator: options.operator.as_ref().map_or_else(|_| "not identified".to_string(), |p| p.name.clone()),
        operator_source: options.operator.as_ref().map_or_else(|e| e.clone(), |p| p.source.clone()),
        started_utc: started.clone(),
        ended_utc: started,
        bench_time_s: 0.0,
        wall_time_s: 0.0,
        plan: PlanIdentity {
            id: plan.id.clone(),
            title: plan.title.clone(),
            version: plan.version.clone(),
            case: plan.case.as_ref().map(|c| c.name.clone()),
            params: plan.case.as_ref().map(|c| c.params.clone()).unwrap_or_default(),
            file: file.path.display().to_string(),
            sha256: file.sha256.clone(),
            covers: plan.covers.clone(),
        },
        bench: BenchIdentity {
            name: bench.name.clone(),
            file: bench.source.path.clone(),
            sha256: bench.source.sha256.clone(),
            kind: kind.into(),
            faults,
            test_line: bench.test_line,
            expired_calibration_allowed: options.allow_expired_calibration
                && !expired_calibrations(bench, today()).is_empty(),
            identity_mismatch_allowed: options.allow_identity_mismatch
                && sensor.is_some_and(|r| !identity_mismatches(bench, r).is_empty()),
        },
        instruments: instruments(bench, today(), sensor),
        pump: None,
        start_up: None,
        pump_at_start: None,
        left_over_cleared: Vec::new(),
        anomalies: Vec::new(),
        slow_answers: None,
        lost_events: Vec::new(),
        steps: Vec::new(),
        marks: Vec::new(),
        pump_events: Vec::new(),
        pump_events_unlisted: None,
        valve_closed: Vec::new(),
        pump_states: Vec::new(),
        pump_commands: Vec::new(),
        boluses: Vec::new(),
        checks: Vec::new(),
        samples: 0,
        verdict: Verdict::Error,
        reason: Some("the case did not finish".into()),
        safe_state: SafeStateRecord::default(),
        sampler: None,
        baseline: None,
        signing: options.signing_key.as_ref().map(|k| SigningRecord {
            key_id: k.key_id.clone(),
            public_key: k.public_key_base64(),
            signature_file: crate::evidence::manifest::SIGNATURE_FILE.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_serial_never_confirms_the_sensor() {
        let mut bench = crate::bench::load_or_default(None, crate::bench::EMBEDDED_TWIN, "rig/sim.yaml").unwrap();
        let reported = ProductId { product_number: 0x0703_0102, serial_number: 539_230_209 };
        assert!(identity_mismatches(&bench, &reported).is_empty());
        bench.flow_sensor.serial_number = "111111111".into();
        let m = identity_mismatches(&bench, &reported);
        assert_eq!(m.len(), 1);
        assert!(m[0].contains("reports serial 539230209") && m[0].contains("says \"111111111\""), "{m:?}");
        bench.flow_sensor.serial_number = "REPLACE-WITH-SENSOR-SERIAL".into();
        let m = identity_mismatches(&bench, &reported);
        assert!(m[0].contains("a placeholder?"), "{m:?}");
        let listed = instruments(&bench, today(), Some(&reported));
        assert_eq!(listed[0].identity, IdentityCheck::Mismatch);
        assert_eq!(instruments(&bench, today(), None)[0].identity, IdentityCheck::NotRead);
    }
}
