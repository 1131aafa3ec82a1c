//! The pump's software requirements (../shared/SRS.md), the only ids a plan's `covers:` and a
//! check's `verifies:` may name. Kept here, in one place, with a one-line title each for the
//! coverage table.

/// A requirement of SRS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    pub id: &'static str,
    /// One line, for tables.
    pub title: &'static str,
}

const fn r(id: &'static str, title: &'static str) -> Requirement {
    Requirement { id, title }
}

/// Every requirement of SRS.md, in its order.
pub const REQUIREMENTS: [Requirement; 21] = [
    r("SRS-DEL-001", "Basal rate programmable 2.0–1000.0 µL/h; out of range refused with ERR RANGE"),
    r("SRS-DEL-002", "After 30 min start-up, any 60 min window within ±10 % of the basal volume (≥ 20 µL/h)"),
    r("SRS-DEL-003", "STOP stops delivery within one stroke without alarm; START resumes it"),
    r("SRS-OCC-001", "Pressure above the threshold raises OCCLUSION (HIGH) and stops delivery within one stroke"),
    r("SRS-OCC-002", "Complete occlusion at 500 µL/h, 200 kPa, reference line: OCCLUSION within 20 min"),
    r("SRS-OCC-003", "Unintended bolus released after an occlusion at most 150 µL"),
    r("SRS-OCC-004", "OCCLUSION acknowledged only below half the threshold; delivery then resumes by itself"),
    r("SRS-DOS-001", "Bolus granted iff running, no HIGH alarm, lockout passed, under max per 24 h and the 24 h limit"),
    r("SRS-DOS-002", "A refused bolus delivers nothing, gives its reason, emits DENIED; 24 h limit raises DOSE_LIMIT"),
    r("SRS-DOS-003", "PROGRAM and LIMIT refuse a basal that alone exceeds max_24h_ul in 24 h"),
    r("SRS-DOS-004", "No rolling 24 h window delivers more than max_24h_ul"),
    r("SRS-DOS-005", "A granted bolus delivers its dose ±10 % at 1000 µL/h on top of the basal"),
    r("SRS-WDR-001", "RESERVOIR_LOW (MEDIUM) within 10 µL past the low-reservoir threshold"),
    r("SRS-WDR-002", "Reservoir unable to supply a stroke: delivery stops, RESERVOIR_EMPTY (HIGH)"),
    r("SRS-WDR-003", "MOTOR_STALL (HIGH) within 60 s of a stroke that does not complete"),
    r("SRS-WDR-004", "THERAPY_INTERRUPTED (HIGH) within 10 min of the first undelivered stroke, but not after STOP"),
    r("SRS-WDR-005", "While a HIGH alarm is active, boluses (reason ALARM) and START (ERR STATE) are refused"),
    r("SRS-WDR-006", "After a watchdog reset: settings and HIGH alarms kept, BOOT reason=WATCHDOG"),
    r("SRS-COM-001", "A frame with a bad CRC is answered 0 ERR CRC and has no effect"),
    r("SRS-COM-002", "A request repeating the previous seq is answered from the cache, not executed again"),
    r("SRS-COM-003", "Every alarm raised or cleared is reported by an event; evseq increases by one per event"),
];

/// The requirement with this id.
pub fn requirement(id: &str) -> Option<&'static Requirement> {
    REQUIREMENTS.iter().find(|r| r.id == id)
}

/// Every id, in SRS order.
pub fn ids() -> impl Iterator<Item = &'static str> {
    REQUIREMENTS.iter().map(|r| r.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        for (i, a) in REQUIREMENTS.iter().enumerate() {
            assert!(a.id.len() == 11 && a.id.starts_with("SRS-"), "{}", a.id);
            assert!(REQUIREMENTS[i + 1..].iter().all(|b| b.id != a.id), "{}", a.id);
        }
        assert_eq!(requirement("SRS-OCC-002").map(|r| r.id), Some("SRS-OCC-002"));
        assert_eq!(requirement("SRS-OCC-005"), None);
    }

    /// The list follows SRS.md when it is beside the repository (as in CI).
    #[test]
    fn matches_srs_md() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/SRS.md");
        let Ok(text) = std::fs::read_to_string(path) else { return };
        let mut in_doc: Vec<&str> =
            text.lines().filter_map(|l| l.strip_prefix("- **SRS-")).filter_map(|l| l.split("**").next()).collect();
        in_doc.dedup();
        let ours: Vec<_> = ids().map(|id| &id[4..]).collect();
        assert_eq!(in_doc, ours);
    }
}
