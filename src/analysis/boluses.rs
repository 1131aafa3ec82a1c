//! Bolus accounting over plain data: how many patient-activated boluses were granted, why the
//! others were denied, how close together granted boluses started and how many fell in any
//! rolling window (the lockout and the per-24 h cap of the dose rules).

use std::collections::BTreeMap;

/// The reason counted for a denied request that gave none.
pub const NO_REASON: &str = "UNSPECIFIED";

/// One bolus request and the pump's answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BolusRequest {
    /// When the request was answered, seconds from case start (for a granted one, when the bolus
    /// started).
    pub t_s: f64,
    /// Whether the pump granted it.
    pub granted: bool,
    /// The pump's reason for a denial (e.g. `LOCKOUT`, `MAX_COUNT`, `ALARM`).
    pub reason: Option<String>,
}

/// What happened to the bolus requests of an interval.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct BolusAccount {
    /// How many requests were granted.
    pub granted: usize,
    /// How many were denied, by reason ([`NO_REASON`] when the pump gave none).
    pub denied: BTreeMap<String, usize>,
    /// The shortest time (s) between the starts of two consecutive granted boluses; `None` with
    /// fewer than two.
    pub min_spacing_s: Option<f64>,
    /// The most granted boluses in any rolling window `(t − window_s, t]`.
    pub max_granted_in_window: usize,
}

/// Accounts the requests answered in `[from_s, to_s]` (both ends included; the requests need not
/// be in time order), with a rolling window of `window_s` seconds for the count (a non-positive
/// window holds nothing).
pub fn account(requests: &[BolusRequest], from_s: f64, to_s: f64, window_s: f64) -> BolusAccount {
    let in_range = requests.iter().filter(|r| r.t_s >= from_s && r.t_s <= to_s);
    let mut granted_at = Vec::new();
    let mut denied = BTreeMap::new();
    for r in in_range {
        if r.granted {
            granted_at.push(r.t_s);
        } else {
            *denied.entry(r.reason.clone().unwrap_or_else(|| NO_REASON.to_string())).or_insert(0) += 1;
        }
    }
    granted_at.sort_by(f64::total_cmp);
    let min_spacing_s = granted_at.iter().zip(granted_at.iter().skip(1)).map(|(a, b)| b - a).min_by(f64::total_cmp);
    // The count in (t − window, t] only rises at a granted time, so the most is at one of them.
    let mut max_granted_in_window = 0;
    if window_s > 0.0 {
        let mut first = 0;
        for (last, &t) in granted_at.iter().enumerate() {
            while granted_at.get(first).is_some_and(|&g| g <= t - window_s) {
                first += 1;
            }
            max_granted_in_window = max_granted_in_window.max(last + 1 - first);
        }
    }
    BolusAccount { granted: granted_at.len(), denied, min_spacing_s, max_granted_in_window }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(t_s: f64) -> BolusRequest {
        BolusRequest { t_s, granted: true, reason: None }
    }

    fn denied(t_s: f64, reason: &str) -> BolusRequest {
        BolusRequest { t_s, granted: false, reason: Some(reason.to_string()) }
    }

    #[test]
    fn counts_spacing_and_rolling_window() {
        // Granted at 0, 3600, 5400, 90 000 s; denied inside the lockout and at the cap.
        let requests = vec![
            granted(0.0),
            denied(600.0, "LOCKOUT"),
            granted(3600.0),
            denied(4000.0, "LOCKOUT"),
            granted(5400.0),
            denied(7200.0, "MAX_COUNT"),
            BolusRequest { t_s: 8000.0, granted: false, reason: None },
            granted(90_000.0),
        ];
        let a = account(&requests, 0.0, 100_000.0, 86_400.0);
        assert_eq!(a.granted, 4);
        let denied: Vec<(&str, usize)> = a.denied.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(denied, vec![("LOCKOUT", 2), ("MAX_COUNT", 1), ("UNSPECIFIED", 1)]);
        assert_eq!(a.min_spacing_s, Some(1800.0));
        // The 24 h window ending at 5400 s holds 0, 3600 and 5400; the one ending at 90 000 s,
        // (3600, 90 000], holds 5400 and 90 000.
        assert_eq!(a.max_granted_in_window, 3);
    }

    #[test]
    fn the_window_is_open_at_its_start() {
        // Exactly one window apart: (t − w, t] never holds both.
        let requests = vec![granted(0.0), granted(100.0), granted(200.0)];
        assert_eq!(account(&requests, 0.0, 200.0, 100.0).max_granted_in_window, 1);
        assert_eq!(account(&requests, 0.0, 200.0, 100.5).max_granted_in_window, 2);
        assert_eq!(account(&requests, 0.0, 200.0, 201.0).max_granted_in_window, 3);
        assert_eq!(account(&requests, 0.0, 200.0, 0.0).max_granted_in_window, 0);
    }

    #[test]
    fn only_the_interval_counts_and_order_does_not_matter() {
        let requests = vec![granted(500.0), granted(50.0), denied(20.0, "ALARM"), granted(300.0), granted(1000.0)];
        let a = account(&requests, 50.0, 500.0, 1000.0);
        assert_eq!(a.granted, 3);
        assert!(a.denied.is_empty());
        assert_eq!(a.min_spacing_s, Some(200.0));
        assert_eq!(a.max_granted_in_window, 3);
    }

    #[test]
    fn nothing_to_account() {
        assert_eq!(account(&[], 0.0, 100.0, 10.0), BolusAccount::default());
        let one = account(&[granted(5.0)], 0.0, 100.0, 10.0);
        assert_eq!((one.granted, one.min_spacing_s, one.max_granted_in_window), (1, None, 1));
    }
}
