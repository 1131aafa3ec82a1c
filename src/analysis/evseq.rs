//! Gaps in the pump's event sequence numbers (SRS-COM-003): every event carries `evseq`, which
//! starts at 1 with the `BOOT` event and increases by exactly one per event, so a lost, doubled
//! or repeated event shows as a gap.

/// The events whose `evseq` is not the one expected, as `(index in seqs, expected, got)`, from
/// `(evseq, is_boot)` per event in the order received.
///
/// A `BOOT` event must carry 1. Otherwise each event must carry one more than the event before;
/// the first event seen sets the base when it is not a `BOOT` (the host may connect after the
/// pump booted). After a gap the count resumes from the number received, so one lost event is
/// reported once.
pub fn evseq_gaps(seqs: &[(u32, bool)]) -> Vec<(usize, u32, u32)> {
    gaps_in(seqs.iter().copied()).collect()
}

/// How many gaps [`evseq_gaps`] finds, from the events as they stream by (a storm of events is
/// counted without collecting them).
pub fn evseq_gap_count(seqs: impl IntoIterator<Item = (u32, bool)>) -> usize {
    gaps_in(seqs.into_iter()).count()
}

fn gaps_in(seqs: impl Iterator<Item = (u32, bool)>) -> impl Iterator<Item = (usize, u32, u32)> {
    let mut previous: Option<u32> = None;
    seqs.enumerate().filter_map(move |(index, (got, is_boot))| {
        let expected = if is_boot { Some(1) } else { previous.map(|p| p.wrapping_add(1)) };
        previous = Some(got);
        expected.filter(|&e| e != got).map(|e| (index, e, got))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(seqs: &[u32]) -> Vec<(u32, bool)> {
        seqs.iter().map(|&s| (s, false)).collect()
    }

    #[test]
    fn consecutive_events_have_no_gap() {
        assert!(evseq_gaps(&events(&[1, 2, 3])).is_empty());
        assert!(evseq_gaps(&[(1, true), (2, false), (3, false)]).is_empty());
        assert!(evseq_gaps(&[]).is_empty());
    }

    #[test]
    fn a_missing_event_is_one_gap() {
        assert_eq!(evseq_gaps(&events(&[1, 2, 4])), vec![(2, 3, 4)]);
        // The count resumes from 4: 5 is fine.
        assert_eq!(evseq_gaps(&events(&[1, 2, 4, 5])), vec![(2, 3, 4)]);
    }

    #[test]
    fn a_boot_restarts_at_one() {
        assert!(evseq_gaps(&[(1, false), (2, false), (3, false), (1, true), (2, false)]).is_empty());
        // A boot that does not restart at 1.
        assert_eq!(evseq_gaps(&[(1, true), (2, false), (3, true)]), vec![(2, 1, 3)]);
        assert_eq!(evseq_gaps(&[(2, true)]), vec![(0, 1, 2)]);
    }

    #[test]
    fn the_first_event_seen_sets_the_base() {
        assert!(evseq_gaps(&events(&[17, 18, 19])).is_empty());
        assert!(evseq_gaps(&events(&[u32::MAX, 0])).is_empty());
    }

    #[test]
    fn a_clear_that_double_increments_is_a_gap() {
        // RAISED (3), CLEARED (5): the pump skipped 4, then carried on from 5.
        assert_eq!(evseq_gaps(&[(1, true), (2, false), (3, false), (5, false), (6, false)]), vec![(3, 4, 5)]);
    }

    #[test]
    fn a_repeated_event_is_a_gap() {
        assert_eq!(evseq_gaps(&events(&[1, 2, 2, 3])), vec![(2, 3, 2)]);
    }
}
