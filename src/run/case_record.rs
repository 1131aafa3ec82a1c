//! The case's evidence record: started before the case with everything known up front (rig
//! build, host, operator, plan and bench identity, instruments and their calibration), filled
//! by the [`RecordReporter`](super::reporters::RecordReporter) from the event stream, and
//! completed once the case is over.

use crate::bench::BenchFile;
use crate::bench::config::Connection;
use crate::evidence::record::{
    BenchIdentity, CaseRecord, Instrument, PlanIdentity, RECORD_FORMAT, RigBuild, SafeStateRecord,
};
use crate::plan::{Plan, PlanFile};

use super::runner::RunOptions;
use super::verdict::Verdict;

/// The rig's version and the commit it was built from.
pub fn rig_build() -> RigBuild {
    RigBuild { version: env!("CARGO_PKG_VERSION").to_string(), git_commit: env!("RIG_GIT_COMMIT").to_string() }
}

/// Now, UTC, RFC 3339 to the second.
pub fn utc_now() -> String {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| now.to_string())
}

/// Today's date, UTC.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// The bench's instruments, each with whether it is past its calibration due date on `today`.
pub fn instruments(bench: &BenchFile, today: time::Date) -> Vec<Instrument> {
    let s = &bench.flow_sensor;
    vec![
        Instrument {
            role: "flow sensor".into(),
            model: s.model.to_string(),
            serial_number: s.serial_number.clone(),
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
            calibration_due: None,
            calibration_expired: false,
            accuracy: None,
        },
    ]
}

/// Instruments past their calibration due date, in words (`LD20-0600L 539230209, due 2026-01-31`).
pub fn expired_calibrations(bench: &BenchFile, today: time::Date) -> Vec<String> {
    instruments(bench, today)
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

/// The record of a case about to start.
pub fn start_record(plan: &Plan, file: &PlanFile, options: &RunOptions) -> CaseRecord {
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
        rig: rig_build(),
        host: host(),
        operator: options.operator.clone(),
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
        },
        instruments: instruments(bench, today()),
        pump: None,
        start_up: None,
        pump_at_start: None,
        left_over_cleared: Vec::new(),
        anomalies: Vec::new(),
        lost_events: Vec::new(),
        steps: Vec::new(),
        marks: Vec::new(),
        pump_events: Vec::new(),
        valve_closed: Vec::new(),
        pump_states: Vec::new(),
        checks: Vec::new(),
        samples: 0,
        verdict: Verdict::Error,
        reason: Some("the case did not finish".into()),
        safe_state: SafeStateRecord::default(),
        trumpet: Vec::new(),
        sampler: None,
    }
}
