//! Pure analysis of what the rig measured: no I/O, no clock, no rig types.
//!
//! Everything here works on plain numbers so that it can be checked by hand. Time is the unit of
//! input: a sample series is a slice of [`Point`], the cumulative volume (µL) that passed the flow
//! sensor at a time (seconds from the start of the case), with strictly increasing times. Flows
//! are in µL/h, windows and periods in seconds.
//!
//! - [`series`]: interpolation, resampling, volume and mean flow over an interval.
//! - [`trumpet`]: the IEC 60601-2-24 start-up and trumpet curves.
//! - [`windows`]: the largest and smallest volume delivered in any window of a given length.
//! - [`flow_stop`](mod@flow_stop): when delivery stopped, as seen by the sensor.
//! - [`boluses`]: bolus requests granted and denied, spacing and rolling counts.
//! - [`evseq`]: gaps in the pump's event sequence numbers.
//! - [`pump_clock`]: pump events placed on the rig's clock from the pump's own `pump_ms`.
//!
//! Functions return `Err(reason)` with a plain sentence where a figure cannot be computed, and
//! never panic.

pub mod boluses;
pub mod evseq;
pub mod flow_stop;
pub mod pump_clock;
pub mod series;
pub mod trumpet;
pub mod windows;

pub use boluses::{BolusAccount, BolusRequest, account};
pub use evseq::{evseq_gap_count, evseq_gaps};
pub use flow_stop::{FlowStop, flow_stop};
pub use series::{flow_error_pct, mean_flow, point_flows, resample, volume, volume_at};
pub use trumpet::{STANDARD_WINDOWS_MIN, TrumpetCurve, TrumpetWindow, interval_flows, startup_curve, trumpet_curve};
pub use windows::{max_window_volume, min_window_volume};

/// One flow-sensor sample: the cumulative volume (µL) delivered through the sensor by time `t_s`
/// (seconds from the start of the case).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Point {
    /// Seconds from the start of the case.
    pub t_s: f64,
    /// Cumulative volume through the flow sensor, µL.
    pub volume_ul: f64,
}

impl Point {
    /// A sample at `t_s` seconds with `volume_ul` µL delivered so far.
    pub const fn new(t_s: f64, volume_ul: f64) -> Self {
        Self { t_s, volume_ul }
    }
}
