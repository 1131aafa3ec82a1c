//! The pump link against a scripted peer over an in-memory duplex pipe, under tokio's paused
//! clock (timeouts cost no wall time). Frames are literal bytes with CRCs computed outside the
//! rig (an independent CRC-16/CCITT-FALSE in Python), so a CRC bug in the rig cannot hide here.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::icd;

use std::time::Duration;

use rig::clock::{RigClock, RigTime};
use rig::link::{Direction, LinkError, PumpLink, PumpNotice, open_serial};
use rig::protocol::session::SessionConfig;
use rig::protocol::{AlarmCode, BolusReply, ErrCode, EventKind, PumpState};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// The pump's end of the pipe: reads whole lines, writes literal bytes.
struct Peer {
    io: DuplexStream,
    pending: Vec<u8>,
}

impl Peer {
    /// Reads the next line the rig sent, with its line end.
    async fn expect_line(&mut self) -> String {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return String::from_utf8(line).expect("rig sends ASCII");
            }
            let mut buf = [0u8; 256];
            let n = self.io.read(&mut buf).await.expect("read from rig");
            assert!(n > 0, "rig closed the link while the peer expected a frame");
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    async fn send(&mut self, bytes: &str) {
        self.io.write_all(bytes.as_bytes()).await.expect("write to rig");
    }
}

fn start() -> (PumpLink, rig::link::LinkStreams, Peer, RigClock) {
    let (rig_end, pump_end) = tokio::io::duplex(4096);
    let clock = RigClock::start();
    let (link, streams, _task) = PumpLink::spawn(rig_end, "test-pipe", clock, SessionConfig::default());
    (link, streams, Peer { io: pump_end, pending: Vec::new() }, clock)
}

#[tokio::test(start_paused = true)]
async fn id_request_is_byte_exact_and_reply_is_typed() {
    let (link, _streams, mut peer, _) = start();
    let pump = tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 ID*E74F\r\n");
        peer.send("1 OK model=IT-1 serial=A17 fw=2.4.1 build=9f3a01 proto=1*4052\r\n").await;
        peer
    });
    let id = link.id().await.unwrap();
    assert_eq!(
        (id.model.as_str(), id.serial.as_str(), id.fw.as_str(), id.build.as_str(), id.proto),
        ("IT-1", "A17", "2.4.1", "9f3a01", 1)
    );
    pump.await.unwrap();
}

/// ICD: "A receiver also accepts the CRC in lower case." The frame trace (events.jsonl) must
/// hold the line as it came off the wire, not the rig's re-encoding of it.
#[tokio::test(start_paused = true)]
async fn a_lower_case_crc_is_accepted_and_recorded_as_it_arrived() {
    let (link, mut streams, mut peer, _) = start();
    let answer = "1 OK state=RUNNING reservoir_ul=39000 delivered_ul=12.5 basal_ul_h=20 pressure_kpa=3 pump_ms=1000 alarms=none*ba09";
    let pump = tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 STATUS*7D7D\r\n");
        peer.send(&format!("{answer}\r\n")).await;
        peer
    });
    let status = link.status().await.unwrap();
    assert_eq!((status.state, status.delivered_ul), (PumpState::Running, 12.5));
    let _peer = pump.await.unwrap();
    let received: Vec<_> = std::iter::from_fn(|| streams.frames.try_recv().ok())
        .filter(|r| r.direction == Direction::FromPump)
        .map(|r| r.line)
        .collect();
    assert_eq!(received, [answer]);
}

#[tokio::test(start_paused = true)]
async fn err_range_becomes_a_typed_refusal() {
    let (link, _streams, mut peer, _) = start();
    tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 PROGRAM basal_ul_h=5000*C44E\r\n");
        peer.send("1 ERR RANGE detail=basal_ul_h*6180\r\n").await;
        peer.expect_line().await // keep the pipe open
    });
    let err = link.program(5000.0).await.unwrap_err();
    assert!(matches!(&err, LinkError::Range { detail: Some(d), .. } if d == "basal_ul_h"), "{err:?}");
    assert_eq!(err.pump_code(), Some(ErrCode::Range));
    assert!(err.is_pump_refusal());
    assert!(err.to_string().contains("test-pipe"), "error names the device: {err}");
}

#[tokio::test(start_paused = true)]
async fn each_err_code_maps_to_its_own_variant() {
    for (code, check) in [
        ("SYNTAX", (|e: &LinkError| matches!(e, LinkError::Syntax { .. })) as fn(&LinkError) -> bool),
        ("UNKNOWN", |e| matches!(e, LinkError::UnknownCommand { .. })),
        ("RANGE", |e| matches!(e, LinkError::Range { .. })),
        ("STATE", |e| matches!(e, LinkError::State { .. })),
    ] {
        let (link, _streams, mut peer, _) = start();
        let answer = format!("1 ERR {code}");
        let frame = String::from_utf8(rig::protocol::encode_frame(&answer).unwrap()).unwrap();
        tokio::spawn(async move {
            assert_eq!(peer.expect_line().await, "1 START*3931\r\n");
            peer.send(&frame).await;
            peer.expect_line().await
        });
        let err = link.start().await.unwrap_err();
        assert!(check(&err), "ERR {code} gave {err:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn silent_pump_gets_the_same_frame_three_times_then_a_timeout() {
    let (link, mut streams, mut peer, clock) = start();
    let pump = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(peer.expect_line().await);
        }
        (seen, peer)
    });
    let err = link.bolus().await.unwrap_err();
    assert_eq!(clock.now(), RigTime::from_millis(1500), "3 attempts × 500 ms");
    assert!(matches!(&err, LinkError::Timeout { attempts: 3, .. }), "{err:?}");
    assert!(!err.is_pump_refusal(), "a timeout is the bench's fault, not a pump finding");
    let (seen, _peer) = pump.await.unwrap();
    assert_eq!(seen, ["1 BOLUS*39A3\r\n"; 3], "retries resend the same seq");
    let out: Vec<_> = std::iter::from_fn(|| streams.frames.try_recv().ok())
        .filter(|r| r.direction == Direction::ToPump && !r.line.is_empty())
        .map(|r| r.at)
        .collect();
    assert_eq!(out, [RigTime::ZERO, RigTime::from_millis(500), RigTime::from_millis(1000)]);
}

/// A pump that answers every attempt, but over a line that garbles its frames (wrong baud,
/// noise): the rig says answers arrived that it could not decode, not that the pump is silent.
#[tokio::test(start_paused = true)]
async fn answers_that_all_fail_their_crc_are_reported_as_garbled_not_as_no_response() {
    let (link, mut streams, mut peer, _) = start();
    let pump = tokio::spawn(async move {
        for _ in 0..3 {
            assert_eq!(peer.expect_line().await, "1 BOLUS*39A3\r\n");
            // The answer `1 OK granted=1 id=3` has CRC BB94; the line delivers it damaged.
            peer.send("1 OK granted=1 id=3*BB95\r\n").await;
        }
        peer
    });
    let err = link.bolus().await.unwrap_err();
    assert!(matches!(&err, LinkError::Undecodable { attempts: 3, bad_crc: 3, unframed: 0, .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("3 answer line(s) over 3 attempt(s), none a valid frame (3 with a bad CRC"), "{text}");
    assert!(text.contains("check the baud rate") && text.contains("ground") && text.contains("noise"), "{text}");
    assert!(!text.contains("no response") && !text.contains("powered"), "{text}");
    assert!(!err.is_pump_refusal(), "a garbling line is the bench's fault, not a pump finding");
    let notes: Vec<_> = std::iter::from_fn(|| streams.frames.try_recv().ok()).filter_map(|r| r.note).collect();
    assert!(notes.iter().any(|n| n == "retry: attempt 2 of seq 1 (only undecodable answers)"), "{notes:?}");
    drop(pump.await.unwrap());
}

/// Lines without any CRC (a baud mismatch turns a frame into bytes like these) count the same.
#[tokio::test(start_paused = true)]
async fn lines_that_are_not_frames_at_all_are_reported_as_garbled() {
    let (link, _streams, mut peer, _) = start();
    tokio::spawn(async move {
        for _ in 0..3 {
            peer.expect_line().await;
            peer.send("\u{7f}x~~f\r\n").await;
        }
        peer.expect_line().await
    });
    let err = link.bolus().await.unwrap_err();
    assert!(matches!(&err, LinkError::Undecodable { attempts: 3, .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn lost_response_is_recovered_by_a_retry_answered_from_cache() {
    let (link, _streams, mut peer, clock) = start();
    tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 BOLUS*39A3\r\n"); // response lost on the way
        assert_eq!(peer.expect_line().await, "1 BOLUS*39A3\r\n");
        peer.send("1 OK granted=1 id=3*BB94\r\n").await;
        assert_eq!(peer.expect_line().await, "2 BOLUS*E121\r\n", "the next request takes a new seq");
        peer.send("1 OK granted=1 id=3*BB94\r\n").await; // stale seq: must not be taken as the answer
        for _ in 0..2 {
            assert_eq!(peer.expect_line().await, "2 BOLUS*E121\r\n");
        }
        peer.expect_line().await
    });
    assert_eq!(link.bolus().await.unwrap(), BolusReply::Granted { id: 3 });
    assert_eq!(clock.now(), RigTime::from_millis(500));
    let second = tokio::time::timeout(Duration::from_secs(10), link.bolus()).await.unwrap();
    assert!(matches!(second, Err(LinkError::Timeout { .. })), "{second:?}");
}

#[tokio::test(start_paused = true)]
async fn err_crc_makes_the_link_resend_the_same_seq() {
    let (link, mut streams, mut peer, _) = start();
    tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 BOLUS*39A3\r\n");
        peer.send("0 ERR CRC*FAFF\r\n").await;
        assert_eq!(peer.expect_line().await, "1 BOLUS*39A3\r\n");
        peer.send("1 OK granted=1 id=3*BB94\r\n").await;
        peer.expect_line().await
    });
    assert_eq!(link.bolus().await.unwrap(), BolusReply::Granted { id: 3 });
    let notes: Vec<_> = std::iter::from_fn(|| streams.frames.try_recv().ok()).filter_map(|r| r.note).collect();
    assert!(notes.iter().any(|n| n.contains("attempt 2") && n.contains("ERR CRC")), "{notes:?}");
}

#[tokio::test(start_paused = true)]
async fn damaged_response_is_dropped_and_recorded() {
    let (link, mut streams, mut peer, _) = start();
    tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 START*3931\r\n");
        peer.send("1 OK*BC07\r\n").await; // one bit off
        assert_eq!(peer.expect_line().await, "1 START*3931\r\n");
        peer.send("1 OK*BC06\r\n").await;
        peer.expect_line().await
    });
    link.start().await.unwrap();
    let dropped: Vec<_> = std::iter::from_fn(|| streams.frames.try_recv().ok())
        .filter(|r| r.direction == Direction::FromPump && r.note.as_deref().is_some_and(|n| n.contains("CRC")))
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].line, "1 OK*BC07");
}

#[tokio::test(start_paused = true)]
async fn events_interleaved_before_the_response_are_delivered_stamped() {
    let (link, mut streams, mut peer, _) = start();
    tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 START*3931\r\n");
        tokio::time::sleep(Duration::from_millis(20)).await;
        peer.send("! 1 0 BOOT reason=POWER_ON*CE24\r\n! 2 10 STATE state=RUNNING*396A\r\n").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        peer.send("1 OK*BC06\r\n").await;
        peer.expect_line().await
    });
    link.start().await.unwrap();
    let first = streams.notices.recv().await.unwrap();
    let second = streams.notices.recv().await.unwrap();
    assert!(matches!(&first, PumpNotice::Event { at, event } if *at == RigTime::from_millis(20) && event.evseq == 1));
    assert!(matches!(&second, PumpNotice::Event { event, .. }
        if event.kind == EventKind::State { state: PumpState::Running } && event.pump_ms == 10));
}

#[tokio::test(start_paused = true)]
async fn evseq_gap_is_reported_and_alarms_are_reread() {
    let (_link, mut streams, mut peer, _) = start();
    tokio::spawn(async move {
        peer.send("! 1 0 BOOT reason=POWER_ON*CE24\r\n! 2 10 STATE state=RUNNING*396A\r\n").await;
        peer.send("! 5 2000 ALARM code=OCCLUSION priority=HIGH*D4F6\r\n").await;
        assert_eq!(peer.expect_line().await, format!("1 ALARMS*{}\r\n", icd::crc_hex("1 ALARMS")));
        peer.send(&format!("1 OK active=OCCLUSION*{}\r\n", icd::crc_hex("1 OK active=OCCLUSION"))).await;
        peer.expect_line().await
    });
    let mut got = Vec::new();
    while got.len() < 5 {
        got.push(streams.notices.recv().await.unwrap());
    }
    assert!(matches!(got[2], PumpNotice::EventGap { expected: 3, received: 5, .. }), "{got:?}");
    assert!(matches!(&got[3], PumpNotice::Event { event, .. } if event.evseq == 5));
    assert!(matches!(&got[4], PumpNotice::AlarmsResynced { active, .. } if active == &[AlarmCode::Occlusion]));
}

#[tokio::test(start_paused = true)]
async fn lost_link_fails_the_pending_request_and_says_so() {
    let (link, mut streams, mut peer, _) = start();
    tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 STATUS*7D7D\r\n");
        drop(peer); // cable pulled
    });
    let err = link.status().await.unwrap_err();
    assert!(matches!(&err, LinkError::Disconnected { device, .. } if device == "test-pipe"), "{err:?}");
    let lost = streams.notices.recv().await.unwrap();
    assert!(matches!(lost, PumpNotice::LinkLost { .. }), "{lost:?}");
    assert!(matches!(link.stop().await, Err(LinkError::Disconnected { .. })), "later requests fail cleanly");
}

#[tokio::test]
async fn nonexistent_serial_port_is_a_clear_error() {
    let err = open_serial("/dev/ttyDOES-NOT-EXIST", 115_200).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/dev/ttyDOES-NOT-EXIST"), "{text}");
    assert!(text.contains("no such device"), "{text}");
}

/// ICD: `SETTINGS` answers the programmed settings; the link reads them typed, and a reply
/// missing a key is a protocol error, not a guess.
#[tokio::test(start_paused = true)]
async fn settings_request_is_byte_exact_and_reply_is_typed() {
    let (link, _streams, mut peer, _) = start();
    tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 SETTINGS*ACCA\r\n");
        peer.send(
            "1 OK basal_ul_h=437.5 dose_ul=20 lockout_s=900 max_per_24h=6 max_24h_ul=12000 low_reservoir_ul=1500 \
             occlusion_kpa=150 therapy=on*EB4E\r\n",
        )
        .await;
        assert_eq!(peer.expect_line().await, "2 SETTINGS*1D05\r\n");
        peer.send(
            "2 OK basal_ul_h=10 dose_ul=50 lockout_s=3600 max_per_24h=4 max_24h_ul=1200 low_reservoir_ul=2000 \
             occlusion_kpa=200*C59C\r\n",
        )
        .await;
        peer.expect_line().await
    });
    let s = link.settings().await.unwrap();
    assert_eq!(
        (s.basal_ul_h, s.dose_ul, s.lockout_s, s.max_per_24h, s.max_24h_ul, s.low_reservoir_ul, s.occlusion_kpa),
        (437.5, 20.0, 900, 6, 12000.0, 1500.0, 150.0)
    );
    assert!(s.therapy_on);
    let err = link.settings().await.unwrap_err();
    assert!(matches!(err, LinkError::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("therapy"), "{err}");
}

/// ICD: a line that does not end in `*` and four hex digits counts as a bad-CRC frame: the host
/// drops it (recording it as an invalid line), and an empty line is ignored; the retry of the
/// same seq is answered.
#[tokio::test(start_paused = true)]
async fn a_line_without_crc_is_dropped_as_invalid_and_an_empty_line_ignored() {
    let (link, mut streams, mut peer, _) = start();
    tokio::spawn(async move {
        assert_eq!(peer.expect_line().await, "1 STATUS*7D7D\r\n");
        peer.send("\r\n1 OK state=STOPPED\r\n").await;
        assert_eq!(peer.expect_line().await, "1 STATUS*7D7D\r\n");
        peer.send(
            "1 OK state=STOPPED reservoir_ul=0 delivered_ul=0 basal_ul_h=10 pressure_kpa=0 pump_ms=5 alarms=none*9cb0\r\n",
        )
        .await;
        peer.expect_line().await
    });
    let status = link.status().await.unwrap();
    assert_eq!((status.state, status.pump_ms), (PumpState::Stopped, 5), "a lower-case CRC is accepted");
    let from_pump: Vec<_> =
        std::iter::from_fn(|| streams.frames.try_recv().ok()).filter(|r| r.direction == Direction::FromPump).collect();
    let dropped: Vec<_> =
        from_pump.iter().filter(|r| r.note.as_deref().is_some_and(|n| n.contains("dropped"))).collect();
    assert_eq!(dropped.len(), 1, "{from_pump:?}");
    assert_eq!(dropped[0].line, "1 OK state=STOPPED");
    assert!(dropped[0].note.as_deref().unwrap().contains("no CRC"), "{:?}", dropped[0].note);
    assert_eq!(from_pump.len(), 2, "the empty line is not a line at all: {from_pump:?}");
}

/// The pump caches the previous request's seq and answer whoever sent it: a host whose first
/// seq equals it gets that answer. The rig's first request is a throw-away STATUS.
#[tokio::test(start_paused = true)]
async fn the_first_request_answered_from_someone_elses_cache_is_thrown_away() {
    let (rig_end, pump_end) = tokio::io::duplex(4096);
    let config = SessionConfig { first_seq: 7, ..SessionConfig::default() };
    let (link, _streams, _task) = PumpLink::spawn(rig_end, "test-pipe", RigClock::start(), config);
    let mut peer = Peer { io: pump_end, pending: Vec::new() };
    let pump = tokio::spawn(async move {
        // A service tool sent `7 FILL volume_ul=1000` before the rig opened the port.
        assert_eq!(peer.expect_line().await, icd::frame("7 STATUS"));
        peer.send(&icd::frame("7 OK")).await;
        assert_eq!(peer.expect_line().await, icd::frame("8 ID"), "the next seq is not the cached one");
        peer.send(&icd::frame("8 OK model=IT-1 serial=A17 fw=2.4.1 build=9f3a01 proto=1")).await;
        peer
    });
    let first = link.synchronise().await.unwrap();
    assert_eq!(first, rig::link::Synchronised::AnsweredFromCache { seq: 7, payload: "7 OK".into() });
    assert_eq!(link.id().await.unwrap().serial, "A17");
    pump.await.unwrap();
}

/// The same on the twin, which follows the ICD's cache rule: after another host's `1 FILL`, a
/// session starting at seq 1 has its `ID` answered `1 OK`, unless it spends seq 1 first.
#[tokio::test(start_paused = true)]
async fn after_another_hosts_request_the_twin_answers_a_repeated_seq_from_its_cache() {
    async fn session_after_foreign_fill(synchronise: bool) -> Result<rig::protocol::PumpIdentity, LinkError> {
        let clock = RigClock::start();
        let twin = rig::twin_host::SharedTwin::new(rig::sim::Twin::new(rig::sim::TwinConfig::default()), clock);
        let (mut host, pump_end) = tokio::io::duplex(4096);
        tokio::spawn(rig::twin_host::serve_service_port(twin, pump_end));
        // Another host: `1 FILL volume_ul=1000`, answered `1 OK` (after the twin's BOOT event).
        host.write_all(icd::frame("1 FILL volume_ul=1000").as_bytes()).await.unwrap();
        let mut seen = String::new();
        while !seen.contains(&icd::frame("1 OK")) {
            let mut buf = [0u8; 256];
            let n = host.read(&mut buf).await.unwrap();
            seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        let (link, _streams, _task) = PumpLink::spawn(host, "twin", clock, SessionConfig::default());
        if synchronise {
            let first = link.synchronise().await.unwrap();
            assert!(matches!(first, rig::link::Synchronised::AnsweredFromCache { seq: 1, .. }), "{first:?}");
        }
        link.id().await
    }
    let err = session_after_foreign_fill(false).await.unwrap_err();
    assert!(err.to_string().contains("missing key"), "the hazard: ID answered from the cache: {err}");
    let id = session_after_foreign_fill(true).await.unwrap();
    assert_eq!(id.model, "IT-1");
}
