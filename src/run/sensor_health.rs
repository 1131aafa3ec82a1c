//! Whether the flow sensor's readings can be trusted as flow: the rules the sampler applies to
//! each read, as plain state machines fed with what the sensor returned and when.
//!
//! Three things make a reading not a measurement of the liquid (ICD part 2, REFERENCE.md
//! "Instruments"):
//! - **air in line** (flag bit 0): the flow word is then meaningless. The reading is kept as
//!   evidence, never integrated into volume; see [`crate::run::timeline`] for how checks over
//!   an interval with such readings end ERROR.
//! - **a stuck sensor**: the same frame again and again ([`StuckDetector`]).
//! - **failed reads** (a NACK, a CRC mismatch, a bus error): a read that failed is no sample, and
//!   it is retried at the next deadline; one that goes on failing is a bench fault
//!   ([`FailedReads`]).

use std::time::Duration;

use crate::clock::RigTime;

/// Identical frames in a row from which a sensor is taken to be stuck, provided they also span
/// [`STUCK_MIN_SPAN`].
///
/// Why this is implausible for a live sensor: an SF06-LF frame carries the flow as a signed
/// 16-bit count (LD20-0600L: 1/1200 mL/h, 0.83 µL/h a count) and the liquid's temperature in
/// 1/200 °C (ICD part 2), and its flow accuracy is "a few % of reading, or % of full scale at the
/// low end" (REFERENCE.md): its readings scatter over more than one count of either word, so two
/// consecutive frames are identical only by chance. The twin's sensor, modelled on it
/// (0.5 µL/h white noise on flow, 0.02 °C on temperature: four counts), repeats a frame with a
/// probability of about 0.04; ten in a row, about 10⁻¹³, so a week sampled each second
/// (600 000 frames) would see one by chance with a probability below 10⁻⁷. A sensor whose
/// output stopped changing (a frozen firmware, a bus repeating its last transfer) repeats it
/// every time.
pub const STUCK_MIN_FRAMES: u32 = 10;

/// How long identical frames must go on before the sensor is taken to be stuck: read faster
/// than it updates its measurement, a live sensor may return the same frame a few times.
pub const STUCK_MIN_SPAN: Duration = Duration::from_secs(2);

/// Consecutive failed reads after which the sensor is taken to be gone rather than disturbed.
///
/// An isolated NACK or CRC error (a glitch on a long cable, the sensor busy for a moment) costs
/// nothing: the SF06-LF reports the mean flow since its previous successful read, so the next
/// good read still accounts for the volume. Three in a row is no glitch. Failures that go on
/// for longer than [`MAX_FAILING_SPAN`] end the case sooner when the sample period is long.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 3;

/// Failed reads in a row that span more than this are a persistent fault, however few: the
/// flow is then unobserved for longer than any timing the plans measure to a second.
pub const MAX_FAILING_SPAN: Duration = Duration::from_secs(1);

/// Watches for a run of identical raw frames.
#[derive(Debug, Default)]
pub struct StuckDetector {
    /// The frame being repeated, when it started and how many times it came.
    run: Option<([u8; 9], RigTime, u32)>,
    reported: bool,
}

/// A run of identical frames long enough to be a stuck sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stuck {
    /// When the first of the identical frames was read.
    pub since: RigTime,
    pub frames: u32,
    pub bytes: [u8; 9],
}

impl StuckDetector {
    /// Takes the frame read at `at` (all 9 bytes, CRCs included). Returns the run once, when it
    /// first becomes long enough to be a stuck sensor.
    pub fn observe(&mut self, at: RigTime, bytes: [u8; 9]) -> Option<Stuck> {
        match &mut self.run {
            Some((last, _, count)) if *last == bytes => *count += 1,
            _ => {
                self.run = Some((bytes, at, 1));
                self.reported = false;
            }
        }
        let (_, since, frames) = self.run?;
        let stuck = frames >= STUCK_MIN_FRAMES && at.since(since) >= STUCK_MIN_SPAN;
        if stuck && !self.reported {
            self.reported = true;
            return Some(Stuck { since, frames, bytes });
        }
        None
    }
}

/// Counts failed reads in a row.
#[derive(Debug, Default)]
pub struct FailedReads {
    first: Option<RigTime>,
    in_a_row: u32,
}

impl FailedReads {
    /// A read that returned a reading: the run of failures is over.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    /// A read started at `at` failed. Returns how many have failed in a row, and whether that
    /// is a persistent fault: [`MAX_CONSECUTIVE_FAILURES`] in a row, or failures from the first
    /// to this one spanning more than [`MAX_FAILING_SPAN`].
    pub fn failed(&mut self, at: RigTime) -> (u32, bool) {
        let first = *self.first.get_or_insert(at);
        self.in_a_row += 1;
        let persistent = self.in_a_row >= MAX_CONSECUTIVE_FAILURES || at.since(first) > MAX_FAILING_SPAN;
        (self.in_a_row, persistent)
    }

    /// When the current run of failures began.
    pub fn since(&self) -> Option<RigTime> {
        self.first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> RigTime {
        RigTime::from_millis(v)
    }

    const A: [u8; 9] = [0x02, 0x58, 0x9F, 0x11, 0xF8, 0x20, 0x00, 0x00, 0x81];
    const B: [u8; 9] = [0x02, 0x59, 0xAE, 0x11, 0xF8, 0x20, 0x00, 0x00, 0x81];

    #[test]
    fn ten_identical_frames_over_two_seconds_are_a_stuck_sensor_reported_once() {
        let mut d = StuckDetector::default();
        for k in 0..9 {
            assert_eq!(d.observe(ms(1000 * k), A), None, "frame {k}");
        }
        assert_eq!(d.observe(ms(9000), A), Some(Stuck { since: ms(0), frames: 10, bytes: A }));
        assert_eq!(d.observe(ms(10_000), A), None, "reported once");
    }

    #[test]
    fn a_frame_that_changes_in_one_byte_starts_the_count_again() {
        let mut d = StuckDetector::default();
        for k in 0..9 {
            d.observe(ms(1000 * k), A);
        }
        assert_eq!(d.observe(ms(9000), B), None);
        for k in 10..18 {
            assert_eq!(d.observe(ms(1000 * k), B), None);
        }
        assert!(d.observe(ms(18_000), B).is_some(), "ten of B, from 9 s to 18 s");
    }

    #[test]
    fn frames_repeated_faster_than_the_sensor_updates_are_not_stuck_until_two_seconds() {
        let mut d = StuckDetector::default();
        // Read every 10 ms: 100 identical frames in 1 s are not enough on their own.
        for k in 0..=100 {
            assert_eq!(d.observe(ms(10 * k), A), None);
        }
        for k in 101..200 {
            assert_eq!(d.observe(ms(10 * k), A), None);
        }
        assert_eq!(d.observe(ms(2000), A).map(|s| s.frames), Some(201));
    }

    #[test]
    fn failures_are_persistent_at_the_third_in_a_row_or_beyond_a_second() {
        let mut f = FailedReads::default();
        assert_eq!(f.failed(ms(0)), (1, false));
        assert_eq!(f.failed(ms(100)), (2, false));
        assert_eq!(f.failed(ms(200)), (3, true));
        f.succeeded();
        assert_eq!(f.since(), None);
        // Each second: the second failure spans 1 s exactly (not more), the third is persistent.
        assert_eq!(f.failed(ms(10_000)), (1, false));
        assert_eq!(f.failed(ms(11_000)), (2, false));
        f.succeeded();
        // A slow sampler: two failures 5 s apart.
        assert_eq!(f.failed(ms(20_000)), (1, false));
        assert_eq!(f.failed(ms(25_000)), (2, true));
    }
}
