//! Which instant the link stamps, under tokio's paused clock with stream doubles that take time:
//! a request when its write starts (not when the write returns), a line from the pump when its
//! first byte arrives (not when the read that completed it returned), and the round trip of each
//! request, reported when it is slower than the ICD's 50 ms. Assertions are about order and
//! which instant was taken, never about wall-clock speed.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::icd;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rig::clock::{RigClock, RigTime};
use rig::link::{Direction, FrameRecord, LinkStreams, PumpLink, PumpNotice};
use rig::protocol::session::SessionConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

fn ms(n: u64) -> RigTime {
    RigTime::from_millis(n)
}

/// A line that takes time to write: at most `chunk` bytes per write, each after the previous
/// one has spent `per_chunk` on the line (a slow UART, a busy USB adapter).
struct SlowWriter {
    inner: DuplexStream,
    chunk: usize,
    per_chunk: Duration,
    busy: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for SlowWriter {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SlowWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if let Some(busy) = self.busy.as_mut() {
            if busy.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let n = buf.len().min(self.chunk);
        let written = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &buf[..n]));
        let wait = self.per_chunk;
        self.busy = Some(Box::pin(tokio::time::sleep(wait)));
        Poll::Ready(written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The pump's end of the pipe.
struct Peer {
    io: DuplexStream,
    clock: RigClock,
}

impl Peer {
    /// Reads one whole line; returns it with the times its first and last bytes arrived.
    async fn line(&mut self) -> (String, RigTime, RigTime) {
        let mut line = Vec::new();
        let mut first = None;
        loop {
            let mut byte = [0u8; 1];
            let n = self.io.read(&mut byte).await.expect("read from the rig");
            assert_eq!(n, 1, "the rig closed the link mid-line");
            first.get_or_insert(self.clock.now());
            line.push(byte[0]);
            if byte[0] == b'\n' {
                let text = String::from_utf8(line).expect("ASCII");
                return (text, first.unwrap_or(RigTime::ZERO), self.clock.now());
            }
        }
    }

    async fn send(&mut self, bytes: &str) {
        self.io.write_all(bytes.as_bytes()).await.expect("write to the rig");
    }
}

fn link_over<S>(stream: S, clock: RigClock) -> (PumpLink, LinkStreams)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (link, streams, _task) = PumpLink::spawn(stream, "test-pipe", clock, SessionConfig::default());
    (link, streams)
}

fn frames(streams: &mut LinkStreams, direction: Direction) -> Vec<FrameRecord> {
    std::iter::from_fn(|| streams.frames.try_recv().ok()).filter(|r| r.direction == direction).collect()
}

#[tokio::test(start_paused = true)]
async fn a_request_is_stamped_when_its_write_starts_and_records_when_it_ended() {
    let clock = RigClock::start();
    let (rig_end, pump_end) = tokio::io::duplex(4096);
    let slow = SlowWriter { inner: rig_end, chunk: 4, per_chunk: Duration::from_millis(1), busy: None };
    let (link, mut streams) = link_over(slow, clock);
    let mut peer = Peer { io: pump_end, clock };
    let pump = tokio::spawn(async move {
        let got = peer.line().await;
        peer.send(&icd::frame("1 OK")).await;
        (got, peer)
    });
    link.start().await.unwrap();
    let ((line, first_byte, last_byte), _peer) = pump.await.unwrap();
    assert_eq!(line, icd::frame("1 START"));
    assert!(last_byte > first_byte, "the double spreads the frame over time");

    let sent = frames(&mut streams, Direction::ToPump);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let record = &sent[0];
    assert!(record.at <= first_byte, "stamped at {}, but the first byte reached the pump at {first_byte}", record.at);
    let done = record.done_at.expect("a write that took time records when it ended");
    assert!(done >= last_byte, "the write ended at {done}, before its last byte arrived at {last_byte}");
}

#[tokio::test(start_paused = true)]
async fn a_reply_split_over_two_reads_is_stamped_when_its_first_byte_arrived() {
    let clock = RigClock::start();
    let (rig_end, pump_end) = tokio::io::duplex(4096);
    let (link, mut streams) = link_over(rig_end, clock);
    let mut peer = Peer { io: pump_end, clock };
    tokio::spawn(async move {
        peer.line().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        let reply = icd::frame("1 OK");
        let (head, tail) = reply.split_at(4);
        peer.send(head).await;
        tokio::time::sleep(Duration::from_millis(7)).await;
        peer.send(tail).await;
        peer.line().await
    });
    link.start().await.unwrap();
    let received = frames(&mut streams, Direction::FromPump);
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].line, icd::frame("1 OK").trim_end());
    assert_eq!(received[0].at, ms(10), "the first half's arrival");
    assert_eq!(received[0].done_at, Some(ms(17)), "the line's end arrived with the second half");
}

#[tokio::test(start_paused = true)]
async fn a_line_begun_at_the_end_of_a_read_keeps_that_reads_time() {
    let clock = RigClock::start();
    let (rig_end, pump_end) = tokio::io::duplex(4096);
    let (_link, mut streams) = link_over(rig_end, clock);
    let mut peer = Peer { io: pump_end, clock };
    let boot = icd::frame("! 1 0 BOOT reason=POWER_ON");
    let state = icd::frame("! 2 10 STATE state=RUNNING");
    let (head, tail) = (state[..8].to_string(), state[8..].to_string());
    let keep_open = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        peer.send(&format!("{boot}{head}")).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        peer.send(&tail).await;
        peer
    });
    let first = streams.notices.recv().await.unwrap();
    let second = streams.notices.recv().await.unwrap();
    assert!(matches!(&first, PumpNotice::Event { at, event } if *at == ms(10) && event.evseq == 1), "{first:?}");
    assert!(
        matches!(&second, PumpNotice::Event { at, event } if *at == ms(10) && event.evseq == 2),
        "the second event's first byte came with the first read: {second:?}"
    );
    let _peer = keep_open.await.unwrap();
    let traced = frames(&mut streams, Direction::FromPump);
    let stamps: Vec<_> = traced.iter().map(|r| (r.at, r.done_at)).collect();
    assert_eq!(stamps, [(ms(10), None), (ms(10), Some(ms(15)))], "{traced:?}");
}

#[tokio::test(start_paused = true)]
async fn an_answer_slower_than_the_icd_allows_is_reported_with_its_round_trip() {
    let clock = RigClock::start();
    let (rig_end, pump_end) = tokio::io::duplex(4096);
    let (link, mut streams) = link_over(rig_end, clock);
    let mut peer = Peer { io: pump_end, clock };
    tokio::spawn(async move {
        for (seq, delay) in [(1, 60), (2, 40), (3, 50)] {
            peer.line().await;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            // An event first: the round trip ends at the answer, not at whatever came before it.
            if seq == 2 {
                peer.send(&icd::frame("! 1 0 BOOT reason=POWER_ON")).await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            peer.send(&icd::frame(&format!("{seq} OK"))).await;
        }
        peer.line().await
    });
    let started = clock.now();
    link.start().await.unwrap();
    let slow = streams.notices.try_recv().expect("a 60 ms answer is reported");
    match &slow {
        PumpNotice::SlowAnswer { at, command, latency } => {
            assert_eq!(command, "1 START");
            assert_eq!(*latency, Duration::from_millis(60));
            assert_eq!(*at, started + Duration::from_millis(60), "stamped when the answer arrived");
        }
        other => panic!("expected a slow answer, got {other:?}"),
    }
    // 40 ms to an event, 70 ms to the answer: slow.
    link.stop().await.unwrap();
    let notices: Vec<_> = std::iter::from_fn(|| streams.notices.try_recv().ok()).collect();
    assert!(
        matches!(&notices[..], [PumpNotice::Event { .. }, PumpNotice::SlowAnswer { command, latency, .. }]
            if command == "2 STOP" && *latency == Duration::from_millis(70)),
        "{notices:?}"
    );
    // Exactly 50 ms is within the ICD.
    link.start().await.unwrap();
    assert!(streams.notices.try_recv().is_err(), "an answer in 50 ms is not slow");
}

#[tokio::test(start_paused = true)]
async fn the_round_trip_of_a_retried_request_counts_from_its_last_attempt() {
    let clock = RigClock::start();
    let (rig_end, pump_end) = tokio::io::duplex(4096);
    let (link, mut streams) = link_over(rig_end, clock);
    let mut peer = Peer { io: pump_end, clock };
    tokio::spawn(async move {
        let (first, _, _) = peer.line().await; // lost: no answer
        let (again, _, _) = peer.line().await; // the retry, 500 ms later
        assert_eq!(first, again, "a retry is the same frame");
        tokio::time::sleep(Duration::from_millis(10)).await;
        peer.send(&icd::frame("1 OK")).await;
        peer.line().await
    });
    link.start().await.unwrap();
    assert_eq!(clock.now(), ms(510));
    assert!(streams.notices.try_recv().is_err(), "10 ms after the retry was written is not slow");
    let sent = frames(&mut streams, Direction::ToPump);
    let writes: Vec<_> = sent.iter().filter(|r| !r.line.is_empty()).map(|r| r.at).collect();
    assert_eq!(writes, [ms(0), ms(500)], "each attempt stamped when its write started");
}
