//! An append-only series of fixed-size records that keeps only its recent tail in memory and
//! moves older records to an anonymous temporary file: the executor's timeline of a 7-day run
//! stays within a bounded memory while every record remains readable for the checks.
//!
//! Records are read back by index (`pread` on the file), so binary searches over time stay
//! cheap; sequential scans read the file in chunks.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

/// A record of fixed size on disk.
pub trait FixedRecord: Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut [u8]);
    fn decode(bytes: &[u8]) -> Self;
}

/// Records kept in memory before the oldest half is moved to disk.
const DEFAULT_TAIL: usize = 1 << 14;
/// Records read per chunk when scanning the file.
const CHUNK: usize = 4096;

pub struct SpillVec<T: FixedRecord> {
    /// Records `spilled..len`, in memory.
    tail: Vec<T>,
    /// How many records are on disk (indices `0..spilled`).
    spilled: usize,
    file: Option<Spill>,
    tail_capacity: usize,
    /// The spill file could not be created: everything stays in memory (and the run says why).
    pub spill_error: Option<String>,
}

struct Spill {
    writer: BufWriter<File>,
    reader: File,
    /// The writer holds records not yet on disk.
    dirty: std::cell::Cell<bool>,
}

impl<T: FixedRecord> Default for SpillVec<T> {
    fn default() -> Self {
        Self::with_tail(DEFAULT_TAIL)
    }
}

impl<T: FixedRecord> std::fmt::Debug for SpillVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpillVec({} records, {} on disk)", self.len(), self.spilled)
    }
}

impl<T: FixedRecord> SpillVec<T> {
    /// A series that keeps between `tail` and 2 × `tail` records in memory.
    pub fn with_tail(tail: usize) -> Self {
        SpillVec { tail: Vec::new(), spilled: 0, file: None, tail_capacity: tail.max(1), spill_error: None }
    }

    pub fn len(&self) -> usize {
        self.spilled + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records in memory (for tests and measurements).
    pub fn in_memory(&self) -> usize {
        self.tail.len()
    }

    pub fn push(&mut self, record: T) {
        self.tail.push(record);
        if self.tail.len() >= 2 * self.tail_capacity && self.spill_error.is_none() {
            self.spill_oldest();
        }
    }

    fn spill_oldest(&mut self) {
        if self.file.is_none() {
            match tempfile::tempfile().and_then(|f| Ok((f.try_clone()?, f))) {
                Ok((w, r)) => {
                    self.file = Some(Spill { writer: BufWriter::new(w), reader: r, dirty: false.into() });
                }
                Err(e) => {
                    self.spill_error = Some(format!("cannot create the timeline's spill file: {e}"));
                    return;
                }
            }
        }
        let Some(spill) = self.file.as_mut() else { return };
        let n = self.tail_capacity;
        let mut buf = vec![0u8; T::SIZE];
        for r in self.tail.iter().take(n) {
            r.encode(&mut buf);
            if let Err(e) = spill.writer.write_all(&buf) {
                self.spill_error = Some(format!("cannot write the timeline's spill file: {e}"));
                return;
            }
        }
        spill.dirty.set(true);
        self.tail.drain(..n);
        self.spilled += n;
    }

    fn flush(&self) -> Option<&Spill> {
        let spill = self.file.as_ref()?;
        if spill.dirty.get() {
            // BufWriter::flush needs &mut; the reader sees what the writer's fd wrote, so flush
            // through a shared handle of the same open file.
            let pending = spill.writer.buffer();
            let offset = (self.spilled * T::SIZE - pending.len()) as u64;
            if spill.reader.write_all_at(pending, offset).is_err() {
                return None;
            }
            spill.dirty.set(false);
        }
        Some(spill)
    }

    /// Record `i`, or `None` past the end (or if the spill file cannot be read).
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.len() {
            return None;
        }
        if i >= self.spilled {
            return self.tail.get(i - self.spilled).copied();
        }
        let spill = self.flush()?;
        let mut buf = vec![0u8; T::SIZE];
        spill.reader.read_exact_at(&mut buf, (i * T::SIZE) as u64).ok()?;
        Some(T::decode(&buf))
    }

    pub fn first(&self) -> Option<T> {
        self.get(0)
    }

    pub fn last(&self) -> Option<T> {
        self.tail.last().copied().or_else(|| self.len().checked_sub(1).and_then(|i| self.get(i)))
    }

    /// The index of the first record for which `pred` is false (`pred` true then false).
    pub fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid) {
                Some(r) if pred(&r) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// Records `from..to`, in order, read from disk in chunks.
    pub fn iter_range(&self, from: usize, to: usize) -> SpillIter<'_, T> {
        SpillIter { vec: self, next: from, end: to.min(self.len()), buf: Vec::new(), buf_start: 0 }
    }

    pub fn iter(&self) -> SpillIter<'_, T> {
        self.iter_range(0, self.len())
    }

    fn read_chunk(&self, from: usize, out: &mut Vec<T>) {
        out.clear();
        let to = (from + CHUNK).min(self.spilled);
        let Some(spill) = self.flush() else { return };
        let mut bytes = vec![0u8; (to - from) * T::SIZE];
        if spill.reader.read_exact_at(&mut bytes, (from * T::SIZE) as u64).is_ok() {
            out.extend(bytes.chunks_exact(T::SIZE).map(T::decode));
        }
    }
}

pub struct SpillIter<'a, T: FixedRecord> {
    vec: &'a SpillVec<T>,
    next: usize,
    end: usize,
    buf: Vec<T>,
    buf_start: usize,
}

impl<T: FixedRecord> Iterator for SpillIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        self.next += 1;
        if i >= self.vec.spilled {
            return self.vec.tail.get(i - self.vec.spilled).copied();
        }
        if i < self.buf_start || i >= self.buf_start + self.buf.len() {
            self.vec.read_chunk(i, &mut self.buf);
            self.buf_start = i;
        }
        self.buf.get(i - self.buf_start).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct R(u64, f64);

    impl FixedRecord for R {
        const SIZE: usize = 16;
        fn encode(&self, out: &mut [u8]) {
            out[..8].copy_from_slice(&self.0.to_le_bytes());
            out[8..16].copy_from_slice(&self.1.to_le_bytes());
        }
        fn decode(b: &[u8]) -> Self {
            R(u64::from_le_bytes(b[..8].try_into().unwrap()), f64::from_le_bytes(b[8..16].try_into().unwrap()))
        }
    }

    #[test]
    fn spills_the_old_records_and_reads_every_one_back() {
        let mut v = SpillVec::with_tail(100);
        for i in 0..10_000u64 {
            v.push(R(i, i as f64 * 0.5));
            assert!(v.in_memory() < 200, "memory stays bounded");
        }
        assert_eq!(v.len(), 10_000);
        for i in [0usize, 1, 99, 100, 5_000, 9_799, 9_800, 9_999] {
            assert_eq!(v.get(i), Some(R(i as u64, i as f64 * 0.5)), "record {i}");
        }
        assert_eq!(v.get(10_000), None);
        assert_eq!(v.first(), Some(R(0, 0.0)));
        assert_eq!(v.last(), Some(R(9_999, 4999.5)));
        assert_eq!(v.partition_point(|r| r.0 < 4_321), 4_321);
        let all: Vec<u64> = v.iter().map(|r| r.0).collect();
        assert_eq!(all, (0..10_000).collect::<Vec<_>>());
        let part: Vec<u64> = v.iter_range(9_790, 9_810).map(|r| r.0).collect();
        assert_eq!(part, (9_790..9_810).collect::<Vec<_>>());
    }

    #[test]
    fn reads_interleave_with_writes() {
        let mut v = SpillVec::with_tail(10);
        for i in 0..1_000u64 {
            v.push(R(i, 0.0));
            if i % 37 == 0 {
                assert_eq!(v.get(i as usize / 2), Some(R(i / 2, 0.0)));
            }
        }
        assert_eq!(v.iter().count(), 1_000);
    }
}
