//! Serving the bench bus for a software bench (ICD part 2).
//!
//! The bench implements [`BusTarget`]; [`serve`] accepts connections on a Unix listener, one
//! tokio task each, and answers every request line with one response line, in order. The
//! target is called with its lock held and never across an `.await`, so connections interleave
//! at request granularity. Input cannot make the server panic: a malformed, unknown or
//! over-long line is answered `ERR <reason>` and the connection goes on.
//!
//! The translation of one line into one call on the target is [`respond`], a plain function,
//! so that a bench can be tested without a socket.

use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

use super::codec::{BusParseError, BusRequest, BusResponse, Inject, InjectKind, LineReader, LineTooLong};

/// The addressed I2C device did not acknowledge (answered `NACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Nack;

/// The bench has no such GPIO line (answered `ERR no_such_line`; GPIO never NACKs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoSuchLine;

/// The bench cannot inject this fault (answered `ERR unsupported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unsupported;

/// What a software bench exposes on the bus. Each method is one bus transaction; a bench that
/// models time advances to "now" inside each call.
pub trait BusTarget: Send {
    /// The name `HELLO` answers with (`OK bench=<name> inject=<list>`).
    fn bench_name(&self) -> String;
    /// The injections `HELLO` lists and `INJECT` accepts; none by default (a real bench's
    /// stand-in).
    fn injections(&self) -> BTreeSet<InjectKind> {
        BTreeSet::new()
    }
    /// One I2C write transaction to 7-bit address `addr`; `bytes` is 1–64 bytes.
    fn i2c_write(&mut self, addr: u8, bytes: &[u8]) -> Result<(), Nack>;
    /// One I2C read transaction of `len` bytes (1–64); must return exactly `len` bytes.
    fn i2c_read(&mut self, addr: u8, len: usize) -> Result<Vec<u8>, Nack>;
    /// Drives output `line` to a physical level.
    fn gpio_set(&mut self, line: u32, high: bool) -> Result<(), NoSuchLine>;
    /// Reads `line`'s level.
    fn gpio_get(&mut self, line: u32) -> Result<bool, NoSuchLine>;
    /// Injects a fault of a kind [`BusTarget::injections`] lists (only those reach it).
    fn inject(&mut self, inject: Inject) -> Result<(), Unsupported> {
        let _ = inject;
        Err(Unsupported)
    }
}

/// `ERR` reasons of the ICD a target's answers map to.
const NO_SUCH_LINE: &str = "no_such_line";
const UNSUPPORTED: &str = "unsupported";
/// The bench itself misbehaved (not an ICD word: "anything else").
const BENCH_FAULT: &str = "bench_fault";

/// The response to one received line (`Err` if it was over-long and discarded).
pub fn respond<T: BusTarget + ?Sized>(target: &mut T, line: Result<&str, &LineTooLong>) -> BusResponse {
    let request = match line.map_err(|too_long| BusParseError::TooLong(too_long.clone())).and_then(BusRequest::parse) {
        Ok(request) => request,
        Err(e) => return BusResponse::Err(e.reason().to_string()),
    };
    let refused = |reason: &str| BusResponse::Err(reason.to_string());
    match request {
        BusRequest::Hello => BusResponse::Hello { bench: target.bench_name(), inject: target.injections() },
        BusRequest::I2cWrite { addr, bytes } => match target.i2c_write(addr, &bytes) {
            Ok(()) => BusResponse::Ok,
            Err(Nack) => BusResponse::Nack,
        },
        BusRequest::I2cRead { addr, len } => match target.i2c_read(addr, len) {
            Ok(data) if data.len() == len => BusResponse::OkData(data),
            // The device model returned the wrong length: the bench's fault, not a NACK.
            Ok(_) => refused(BENCH_FAULT),
            Err(Nack) => BusResponse::Nack,
        },
        BusRequest::GpioSet { line, level } => match target.gpio_set(line, level) {
            Ok(()) => BusResponse::Ok,
            Err(NoSuchLine) => refused(NO_SUCH_LINE),
        },
        BusRequest::GpioGet { line } => match target.gpio_get(line) {
            Ok(level) => BusResponse::OkLevel(level),
            Err(NoSuchLine) => refused(NO_SUCH_LINE),
        },
        BusRequest::Inject(inject) if !target.injections().contains(&inject.kind()) => refused(UNSUPPORTED),
        BusRequest::Inject(inject) => match target.inject(inject) {
            Ok(()) => BusResponse::Ok,
            Err(Unsupported) => refused(UNSUPPORTED),
        },
    }
}

/// Serves the bench bus on `listener` until `shutdown` completes, then closes every connection
/// and returns. The socket file is the caller's: it bound it, it removes it.
///
/// Returns an error only if accepting fails for a reason other than a client giving up
/// mid-connect.
pub async fn serve<T, F>(listener: UnixListener, target: Arc<Mutex<T>>, shutdown: F) -> io::Result<()>
where
    T: BusTarget + ?Sized + 'static,
    F: Future,
{
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let result = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&target)));
                }
                Err(e) if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::Interrupted
                ) => {}
                Err(e) => break Err(e),
            },
            // Reap finished connections so that the set does not grow with every client.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    };
    connections.shutdown().await;
    result
}

/// Answers one connection's lines until the client closes it. A partial line at the end (no
/// `\n`) is not a request and gets no answer.
async fn serve_connection<T>(mut stream: UnixStream, target: Arc<Mutex<T>>) -> io::Result<()>
where
    T: BusTarget + ?Sized,
{
    let mut reader = LineReader::new();
    let mut buf = vec![0u8; 4096];
    let mut out = String::new();
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let mut received = buf.get(..n).unwrap_or_default();
        while !received.is_empty() {
            let taken = reader.feed(received);
            received = received.get(taken..).unwrap_or_default();
            out.clear();
            while let Some(line) = reader.next_line() {
                let response = match target.lock() {
                    Ok(mut target) => respond(&mut *target, line.as_deref()),
                    // A panic while serving an earlier request: the bench's state is suspect.
                    Err(_) => BusResponse::Err(BENCH_FAULT.to_string()),
                };
                out.push_str(&response.to_line());
                out.push('\n');
            }
            if !out.is_empty() {
                stream.write_all(out.as_bytes()).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sensor at 0x08 that answers a read with a fixed pattern, GPIO lines 0–31, and the
    /// watchdog injection.
    #[derive(Default)]
    struct Fake {
        writes: Vec<(u8, Vec<u8>)>,
        lines: [bool; 32],
        short_reads: bool,
        injected: Vec<Inject>,
    }

    impl BusTarget for Fake {
        fn bench_name(&self) -> String {
            "fake bench".into()
        }
        fn injections(&self) -> BTreeSet<InjectKind> {
            [InjectKind::Watchdog].into()
        }
        fn i2c_write(&mut self, addr: u8, bytes: &[u8]) -> Result<(), Nack> {
            if addr != 0x08 {
                return Err(Nack);
            }
            self.writes.push((addr, bytes.to_vec()));
            Ok(())
        }
        fn i2c_read(&mut self, addr: u8, len: usize) -> Result<Vec<u8>, Nack> {
            if addr != 0x08 {
                return Err(Nack);
            }
            let len = if self.short_reads { len - 1 } else { len };
            Ok((0..len as u8).collect())
        }
        fn gpio_set(&mut self, line: u32, high: bool) -> Result<(), NoSuchLine> {
            let slot = self.lines.get_mut(line as usize).ok_or(NoSuchLine)?;
            *slot = high;
            Ok(())
        }
        fn gpio_get(&mut self, line: u32) -> Result<bool, NoSuchLine> {
            self.lines.get(line as usize).copied().ok_or(NoSuchLine)
        }
        fn inject(&mut self, inject: Inject) -> Result<(), Unsupported> {
            self.injected.push(inject);
            Ok(())
        }
    }

    fn answer(target: &mut Fake, line: &str) -> String {
        respond(target, Ok(line)).to_line()
    }

    #[test]
    fn answers_each_request_of_the_icd_table() {
        let mut t = Fake::default();
        assert_eq!(answer(&mut t, "HELLO"), "OK bench=fake bench inject=WATCHDOG");
        assert_eq!(answer(&mut t, "I2C 08 W 3608"), "OK");
        assert_eq!(answer(&mut t, "I2C 08 W 3ff9"), "OK");
        assert_eq!(t.writes, vec![(8, vec![0x36, 0x08]), (8, vec![0x3F, 0xF9])]);
        assert_eq!(answer(&mut t, "I2C 08 R 9"), "OK 000102030405060708");
        assert_eq!(answer(&mut t, "I2C 09 W 3608"), "NACK");
        assert_eq!(answer(&mut t, "I2C 09 R 9"), "NACK");
        assert_eq!(answer(&mut t, "GPIO 17 SET 1"), "OK");
        assert_eq!(answer(&mut t, "GPIO 17 GET"), "OK 1");
        assert_eq!(answer(&mut t, "GPIO 17 SET 0"), "OK");
        assert_eq!(answer(&mut t, "GPIO 17 GET"), "OK 0");
        assert_eq!(answer(&mut t, "GPIO 99 GET"), "ERR no_such_line");
        assert_eq!(answer(&mut t, "GPIO 99 SET 0"), "ERR no_such_line");
        assert_eq!(answer(&mut t, "INJECT WATCHDOG"), "OK");
        assert_eq!(answer(&mut t, "INJECT STALL 1"), "ERR unsupported", "not in the bench's list");
        assert_eq!(t.injected, vec![Inject::Watchdog]);
    }

    #[test]
    fn anything_else_is_err_with_the_icd_reason() {
        let mut t = Fake::default();
        for (line, reason) in [
            ("", "ERR empty"),
            ("PING", "ERR syntax"),
            ("I2C 08 R 65", "ERR syntax"),
            ("I2C 80 R 1", "ERR address"),
            ("GPIO 17 SET", "ERR syntax"),
            ("INJECT STALL 7", "ERR syntax"),
            ("INJECT FIRE", "ERR unsupported"),
        ] {
            assert_eq!(answer(&mut t, line), reason, "{line:?}");
        }
        let too_long = LineTooLong { length: 2000, max: 512 };
        assert_eq!(respond(&mut t, Err(&too_long)).to_line(), "ERR too_long");
    }

    #[test]
    fn a_bench_without_injections_refuses_every_inject() {
        struct Plain;
        impl BusTarget for Plain {
            fn bench_name(&self) -> String {
                "plain".into()
            }
            fn i2c_write(&mut self, _: u8, _: &[u8]) -> Result<(), Nack> {
                Err(Nack)
            }
            fn i2c_read(&mut self, _: u8, _: usize) -> Result<Vec<u8>, Nack> {
                Err(Nack)
            }
            fn gpio_set(&mut self, _: u32, _: bool) -> Result<(), NoSuchLine> {
                Err(NoSuchLine)
            }
            fn gpio_get(&mut self, _: u32) -> Result<bool, NoSuchLine> {
                Err(NoSuchLine)
            }
        }
        assert_eq!(respond(&mut Plain, Ok("HELLO")).to_line(), "OK bench=plain inject=none");
        assert_eq!(respond(&mut Plain, Ok("INJECT WATCHDOG")).to_line(), "ERR unsupported");
    }

    #[test]
    fn a_bench_returning_the_wrong_length_is_an_err_not_a_panic() {
        let mut t = Fake { short_reads: true, ..Fake::default() };
        assert_eq!(answer(&mut t, "I2C 08 R 9"), "ERR bench_fault");
    }
}
