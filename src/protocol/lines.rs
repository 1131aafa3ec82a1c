//! The one bounded line splitter both ICD codecs cut their byte streams with: the service
//! port's frames (part 1, at most [`super::frame::MAX_LINE`] bytes) and the bench bus's
//! request and response lines (part 2, at most 512 bytes: the limit is the bench bus codec's,
//! `bus::codec::MAX_LINE`, which passes it in).
//!
//! After tokio-util's `LinesCodec` (STYLE.md §5), sans-IO: bytes go in in whatever pieces the
//! transport delivers, complete lines come out in order. A line ends at `\n`; a `\r` just before
//! it belongs to the line end. A line's length is its bytes before that line end; a line longer
//! than the limit is discarded up to its end and reported once, with its length.
//!
//! Memory is bounded twice: an unfinished line holds at most `max_line` bytes, and at most
//! `max_ready` complete lines wait to be drained. [`LineSplitter::feed`] stops taking bytes when
//! that queue is full and says how many it took; the caller drains with
//! [`LineSplitter::next_line`] and feeds the rest. However the bytes are split, the same lines
//! come out.

use std::collections::VecDeque;

/// A line longer than the splitter's limit; its bytes were dropped up to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line of {length} bytes exceeds {max} bytes; discarded")]
pub struct LineTooLong {
    /// Bytes the line had before its line end.
    pub length: usize,
    pub max: usize,
}

/// One complete line without its line end, or the report of one that was too long.
pub type Line = Result<Vec<u8>, LineTooLong>;

/// Complete lines that may wait to be drained, by default.
pub const DEFAULT_MAX_READY: usize = 64;

/// Splits a byte stream into bounded lines (see the module documentation).
#[derive(Debug, Clone)]
pub struct LineSplitter {
    max_line: usize,
    max_ready: usize,
    /// The unfinished line's bytes (at most `max_line`).
    buf: Vec<u8>,
    /// The unfinished line has `max_line` bytes and then a `\r`, which ends it if `\n` follows.
    cr_at_limit: bool,
    /// Set once the unfinished line has passed `max_line`: its bytes are counted, not kept.
    discarding: Option<usize>,
    /// The last byte counted while discarding was a `\r` (the line end's, if `\n` follows).
    discarded_cr: bool,
    ready: VecDeque<Line>,
}

impl LineSplitter {
    /// A splitter for lines of at most `max_line` bytes, with up to [`DEFAULT_MAX_READY`]
    /// complete lines waiting.
    pub fn new(max_line: usize) -> Self {
        Self::with_max_ready(max_line, DEFAULT_MAX_READY)
    }

    /// As [`LineSplitter::new`], with at most `max_ready` (at least 1) lines waiting.
    pub fn with_max_ready(max_line: usize, max_ready: usize) -> Self {
        Self {
            max_line,
            max_ready: max_ready.max(1),
            buf: Vec::new(),
            cr_at_limit: false,
            discarding: None,
            discarded_cr: false,
            ready: VecDeque::new(),
        }
    }

    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Takes bytes until the queue of complete lines is full; returns how many it took. All of
    /// `bytes` is taken unless the queue filled up: then drain it and feed the rest.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        while let Some(rest) = bytes.get(taken..).filter(|r| !r.is_empty()) {
            if self.ready.len() >= self.max_ready {
                return taken;
            }
            // The bytes up to the next line end, when they all fit the line being kept: taken
            // at once, as byte by byte would take them.
            if self.discarding.is_none() && !self.cr_at_limit {
                let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                let chunk = rest.get(..end).unwrap_or_default();
                if !chunk.is_empty() && self.buf.len() + chunk.len() <= self.max_line {
                    self.buf.extend_from_slice(chunk);
                    self.discarded_cr = chunk.last() == Some(&b'\r');
                    taken += chunk.len();
                    continue;
                }
            }
            if let Some(&b) = rest.first() {
                self.push_byte(b);
            }
            taken += 1;
        }
        taken
    }

    /// The next complete line, in arrival order.
    pub fn next_line(&mut self) -> Option<Line> {
        self.ready.pop_front()
    }

    /// Bytes of the unfinished line (counted, if it is being discarded).
    pub fn pending(&self) -> usize {
        self.discarding.unwrap_or(self.buf.len() + usize::from(self.cr_at_limit))
    }

    /// Complete lines waiting to be drained.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    /// Forgets the unfinished line and the lines not yet drained (a receiver that reboots).
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.cr_at_limit = false;
        self.discarding = None;
        self.discarded_cr = false;
        self.ready.clear();
    }

    fn push_byte(&mut self, b: u8) {
        if b == b'\n' {
            let line = match self.discarding.take() {
                Some(length) => {
                    let cr = std::mem::take(&mut self.discarded_cr);
                    Err(LineTooLong { length: length - usize::from(cr), max: self.max_line })
                }
                None => {
                    let mut line = std::mem::take(&mut self.buf);
                    if !std::mem::take(&mut self.cr_at_limit) && line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    Ok(line)
                }
            };
            self.ready.push_back(line);
            return;
        }
        self.discarded_cr = b == b'\r';
        if let Some(length) = self.discarding.as_mut() {
            *length += 1;
        } else if self.cr_at_limit {
            // The `\r` at the limit was content after all, and this byte too.
            self.discarding = Some(self.buf.len() + 2);
            self.cr_at_limit = false;
            self.buf = Vec::new();
        } else if self.buf.len() < self.max_line {
            self.buf.push(b);
        } else if b == b'\r' {
            self.cr_at_limit = true;
        } else {
            self.discarding = Some(self.buf.len() + 1);
            self.buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(s: &mut LineSplitter) -> Vec<Line> {
        std::iter::from_fn(|| s.next_line()).collect()
    }

    /// Feeds `bytes` in pieces of `piece`, draining whenever the queue is full.
    fn split(max_line: usize, max_ready: usize, bytes: &[u8], piece: usize) -> Vec<Line> {
        let mut s = LineSplitter::with_max_ready(max_line, max_ready);
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece.max(1)) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let n = s.feed(rest);
                rest = &rest[n..];
                out.extend(drain(&mut s));
            }
        }
        out.extend(drain(&mut s));
        out
    }

    fn ok(line: &str) -> Line {
        Ok(line.as_bytes().to_vec())
    }

    #[test]
    fn lines_end_at_lf_with_an_optional_cr() {
        let got = split(16, 64, b"HELLO\r\nI2C 08 R 9\n\n\r\nlast", 1);
        assert_eq!(got, vec![ok("HELLO"), ok("I2C 08 R 9"), ok(""), ok("")]);
    }

    #[test]
    fn the_same_lines_whatever_the_pieces() {
        let input = b"12345678\r\n123456789\nAB\r\r\n\n12345678\r123\nX\n";
        let whole = split(8, 2, input, input.len());
        for piece in 1..input.len() {
            assert_eq!(split(8, 2, input, piece), whole, "pieces of {piece}");
        }
        assert_eq!(
            whole,
            vec![
                ok("12345678"),
                Err(LineTooLong { length: 9, max: 8 }),
                ok("AB\r"),
                ok(""),
                // 8 bytes and a `\r` that is not the line end: 12 bytes of content.
                Err(LineTooLong { length: 12, max: 8 }),
                ok("X"),
            ]
        );
    }

    #[test]
    fn a_cr_at_the_limit_is_the_line_end_when_lf_follows() {
        assert_eq!(split(4, 64, b"ABCD\r\n", 1), vec![ok("ABCD")]);
        assert_eq!(split(4, 64, b"ABCD\rE\n", 1), vec![Err(LineTooLong { length: 6, max: 4 })]);
        assert_eq!(split(4, 64, b"ABCDE\r\n", 1), vec![Err(LineTooLong { length: 5, max: 4 })]);
        assert_eq!(split(4, 64, b"ABCD\r\r\n", 1), vec![Err(LineTooLong { length: 5, max: 4 })]);
    }

    #[test]
    fn an_overlong_line_is_reported_once_and_the_next_survives() {
        let mut s = LineSplitter::new(8);
        let long = vec![b'A'; 10_000];
        assert_eq!(s.feed(&long), long.len());
        assert_eq!(s.pending(), 10_000, "counted, not kept");
        assert!(s.buf.capacity() <= 8);
        s.feed(b"\nOK\n");
        assert_eq!(drain(&mut s), vec![Err(LineTooLong { length: 10_000, max: 8 }), ok("OK")]);
    }

    #[test]
    fn the_queue_of_complete_lines_is_bounded() {
        let mut s = LineSplitter::with_max_ready(8, 3);
        let input = b"a\nb\nc\nd\ne\n";
        let taken = s.feed(input);
        assert_eq!(taken, 6, "three lines, then the queue is full");
        assert_eq!(s.ready(), 3);
        assert_eq!(s.feed(&input[taken..]), 0, "nothing more until drained");
        assert_eq!(drain(&mut s), vec![ok("a"), ok("b"), ok("c")]);
        assert_eq!(s.feed(&input[taken..]), 4);
        assert_eq!(drain(&mut s), vec![ok("d"), ok("e")]);
    }

    #[test]
    fn clear_forgets_the_unfinished_line() {
        let mut s = LineSplitter::new(8);
        s.feed(b"GARB");
        s.clear();
        s.feed(b"OK\n");
        assert_eq!(drain(&mut s), vec![ok("OK")]);
        assert_eq!(s.pending(), 0);
    }
}
