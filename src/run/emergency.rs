//! The emergency stop: what a second Ctrl-C (or a case task that panicked) uses to put the
//! bench in its safe state at once, whatever the executor is doing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bench::Bench;

/// The handle a second Ctrl-C uses to make the bench safe at once, whatever the executor is
/// doing: the link (for STOP) and, where the pin can be shared, the valve line.
#[derive(Clone, Default)]
pub struct EmergencyStop(Arc<Mutex<Option<Armed>>>);

/// The running case's link, and a second handle on its valve line where one can be had.
type Armed = (crate::link::PumpLink, Option<crate::bench::instruments::BenchPin>);

impl EmergencyStop {
    pub(crate) fn arm(&self, bench: &Bench) {
        let pin = bench.valve_pin_clone();
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((bench.link.clone(), pin));
    }

    pub(crate) fn disarm(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Opens the valve and sends STOP (1 s at most); reports what it did.
    pub async fn engage(&self) -> String {
        let armed = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some((link, pin)) = armed else { return "no case was running".into() };
        let valve = match pin {
            Some(mut pin) => match embedded_hal::digital::OutputPin::set_low(&mut pin) {
                Ok(()) => "valve opened".to_string(),
                Err(e) => format!("valve NOT opened: {e}"),
            },
            None => "valve left to the driver's drop".to_string(),
        };
        let pump = match tokio::time::timeout(Duration::from_secs(1), link.stop()).await {
            Ok(Ok(())) => "pump stopped".to_string(),
            Ok(Err(e)) => format!("pump NOT stopped: {e}"),
            Err(_) => "pump NOT stopped: no answer within 1 s".to_string(),
        };
        format!("{valve}, {pump}")
    }
}
