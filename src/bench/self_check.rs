//! `rig check-bench`: does this bench work end to end? Identifies the pump and the sensor, has
//! the pump deliver, checks the sensor sees that flow, closes the valve and checks the line is
//! blocked (no flow, pressure rising), then leaves the bench safe.
//!
//! It qualifies the bench, not the pump: tolerances are wide, and the plans do the rest.

use std::fmt;
use std::time::Duration;

use super::config::BenchFile;
use super::open::{Bench, BenchError, SafeStateReport};
use crate::clock::RigTime;
use crate::protocol::PumpIdentity;

/// The rate the check runs the pump at.
pub const CHECK_RATE_UL_H: f64 = 500.0;
/// How often the sensor is read.
const SAMPLE_PERIOD: Duration = Duration::from_secs(1);
/// Flow settles within a few time constants of the line (compliance × outflow resistance; the
/// reference line's is about 30 s): skip this much before averaging.
const SETTLE: Duration = Duration::from_secs(120);

/// One finding of the check.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub passed: bool,
    pub what: &'static str,
    pub detail: String,
}

/// What the check found.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfCheckReport {
    pub bench: String,
    pub pump: PumpIdentity,
    pub sensor_serial: u64,
    pub findings: Vec<Finding>,
    pub safe_state: SafeStateReport,
    pub finished_at: RigTime,
}

impl SelfCheckReport {
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.passed) && self.safe_state.is_safe()
    }
}

impl fmt::Display for SelfCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.pump;
        writeln!(f, "bench {}", self.bench)?;
        writeln!(f, "  pump    {} serial {} fw {} build {} proto {}", p.model, p.serial, p.fw, p.build, p.proto)?;
        writeln!(f, "  sensor  serial {}", self.sensor_serial)?;
        for finding in &self.findings {
            let verdict = if finding.passed { "PASS" } else { "FAIL" };
            writeln!(f, "  {verdict}  {}: {}", finding.what, finding.detail)?;
        }
        let safe = &self.safe_state;
        let show = |r: &Result<(), String>| match r {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("FAILED ({e})"),
        };
        writeln!(f, "  safe state: pump STOP {}, valve open {}", show(&safe.pump_stopped), show(&safe.valve_open))?;
        write!(f, "  bench time {:.1} s", self.finished_at.as_secs_f64())
    }
}

/// Runs the check: `measure` is how long flow is averaged. The bench is made safe whatever
/// happens; an error is a bench failure (never a finding).
pub async fn self_check(bench: &mut Bench, file: &BenchFile, measure: Duration) -> Result<SelfCheckReport, BenchError> {
    let outcome = run_steps(bench, file, measure).await;
    let safe_state = bench.make_safe().await;
    if let Ok(sensor) = bench.sensor() {
        let _ = sensor.stop_continuous();
    }
    let (pump, sensor_serial, findings) = outcome?;
    Ok(SelfCheckReport {
        bench: bench.name().to_string(),
        pump,
        sensor_serial,
        findings,
        safe_state,
        finished_at: bench.clock().now(),
    })
}

async fn run_steps(
    bench: &mut Bench,
    file: &BenchFile,
    measure: Duration,
) -> Result<(PumpIdentity, u64, Vec<Finding>), BenchError> {
    let sensor_err = |e: &dyn fmt::Display| BenchError::Sensor(e.to_string());
    let mut findings = Vec::new();
    let pump = bench.link().id().await?;

    if bench.sensor()?.is_measuring() {
        bench.sensor()?.stop_continuous().map_err(|e| sensor_err(&e))?;
    }
    let product = bench.sensor()?.read_product_id().map_err(|e| sensor_err(&e))?;
    let declared = &file.flow_sensor.serial_number;
    findings.push(Finding {
        passed: declared.parse::<u64>() == Ok(product.serial_number),
        what: "sensor identity",
        detail: format!("sensor reports serial {}, bench file says {declared:?}", product.serial_number),
    });

    bench.link().stop().await?;
    bench.open_valve().map_err(|e| BenchError::Valve(e.to_string()))?;
    bench.link().fill(20_000.0).await?;
    // SRS-DOS-003: the 24 h limit must allow the basal rate before PROGRAM accepts it.
    bench.link().limit(24_000.0).await?;
    bench.link().program(CHECK_RATE_UL_H).await?;
    bench.link().start().await?;
    bench.sensor()?.start_continuous().map_err(|e| sensor_err(&e))?;

    let clock = bench.clock();
    let mut next = clock.now() + SETTLE;
    clock.sleep_until(next).await;
    bench.sensor()?.read().map_err(|e| sensor_err(&e))?; // restart the sensor's averaging here
    let end = next + measure;
    let mut sum = 0.0;
    let mut n = 0u32;
    while next < end {
        next = next + SAMPLE_PERIOD;
        clock.sleep_until(next).await;
        sum += bench.sensor()?.read().map_err(|e| sensor_err(&e))?.flow_ul_h;
        n += 1;
    }
    let mean = sum / f64::from(n.max(1));
    let allowed = CHECK_RATE_UL_H * 0.10 + file.flow_sensor.accuracy.of_reading(CHECK_RATE_UL_H);
    findings.push(Finding {
        passed: (mean - CHECK_RATE_UL_H).abs() <= allowed,
        what: "sensor sees the pump's flow",
        detail: format!(
            "mean {mean:.1} uL/h over {} s against {CHECK_RATE_UL_H} uL/h programmed (allowed +/-{allowed:.1})",
            measure.as_secs()
        ),
    });

    let before = bench.link().status().await?.pressure_kpa;
    bench.close_valve().map_err(|e| BenchError::Valve(e.to_string()))?;
    let closed_at = clock.now();
    bench.sensor()?.read().map_err(|e| sensor_err(&e))?;
    let mut rise = None;
    let mut flow_closed = f64::NAN;
    let deadline = closed_at + Duration::from_secs(90);
    while clock.now() < deadline {
        next = clock.now() + SAMPLE_PERIOD;
        clock.sleep_until(next).await;
        flow_closed = bench.sensor()?.read().map_err(|e| sensor_err(&e))?.flow_ul_h;
        let pressure = bench.link().status().await?.pressure_kpa;
        if pressure >= before + 5.0 && clock.now().since(closed_at) >= Duration::from_secs(10) {
            rise = Some((pressure, clock.now().since(closed_at)));
            break;
        }
    }
    let floor = file.flow_sensor.accuracy.of_reading(0.0) + 0.05 * CHECK_RATE_UL_H;
    findings.push(Finding {
        passed: rise.is_some() && flow_closed.abs() <= floor,
        what: "valve blocks the line",
        detail: match rise {
            Some((p, after)) => format!(
                "pump pressure {before:.1} -> {p:.1} kPa {:.0} s after closing; flow {flow_closed:.1} uL/h (allowed <= {floor:.1})",
                after.as_secs_f64()
            ),
            None => format!("pump pressure did not rise 5 kPa within 90 s of closing; flow {flow_closed:.1} uL/h"),
        },
    });
    bench.open_valve().map_err(|e| BenchError::Valve(e.to_string()))?;
    Ok((pump, product.serial_number, findings))
}
