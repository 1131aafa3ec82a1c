//! Every `INJECT` of ICD part 2 sent as a text line over a real Unix socket to the twin's bench
//! bus server, and its effect observed black-box: frames on the service port (an in-memory
//! pipe, the twin's real port task) and raw sensor bytes on the same bus. Lines and frames are
//! written from the ICD (CRCs from `tests/icd`, not the rig's). Real time, a few seconds.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::icd;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rig::bus::serve;
use rig::clock::RigClock;
use rig::sim::{Twin, TwinConfig};
use rig::twin_host::{SharedTwin, TwinBusTarget, serve_service_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::UnixListener;

struct Rig {
    _dir: tempfile::TempDir,
    bus: PathBuf,
    port: DuplexStream,
    pending: Vec<u8>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Rig {
    fn start() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let bus = dir.path().join("bus.sock");
        let twin = SharedTwin::new(Twin::new(TwinConfig::default()), RigClock::start());
        let listener = UnixListener::bind(&bus).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, Arc::new(Mutex::new(TwinBusTarget::new(twin.clone()))), async {
            let _ = stopped.await;
        }));
        let (rig_end, pump_end) = tokio::io::duplex(64 * 1024);
        tokio::spawn(serve_service_port(twin, pump_end));
        Rig { _dir: dir, bus, port: rig_end, pending: Vec::new(), stop: Some(stop) }
    }

    /// One bus connection that asks `lines` in turn and returns the answers, without `\n`.
    async fn ask(&self, lines: &[&str]) -> Vec<String> {
        let path = self.bus.clone();
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let mut stream = UnixStream::connect(&path).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            lines
                .iter()
                .map(|line| {
                    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
                    let mut answer = String::new();
                    reader.read_line(&mut answer).unwrap();
                    answer.trim_end_matches('\n').to_string()
                })
                .collect()
        })
        .await
        .unwrap()
    }

    async fn ask_one(&self, line: &str) -> String {
        self.ask(&[line]).await.remove(0)
    }

    async fn send(&mut self, bytes: &str) {
        self.port.write_all(bytes.as_bytes()).await.unwrap();
    }

    /// The next line from the pump (with its `\r\n`), or `None` after `wait`.
    async fn line(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            let mut buf = [0u8; 1024];
            match tokio::time::timeout_at(deadline, self.port.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.pending.extend_from_slice(&buf[..n]),
                _ => return None,
            }
        }
    }

    /// Sends a request frame and returns the first line back that is not an event.
    async fn request(&mut self, payload: &str) -> Option<String> {
        self.send(&icd::frame(payload)).await;
        loop {
            let line = self.line(Duration::from_secs(2)).await?;
            if !line.starts_with("! ") {
                return Some(line);
            }
        }
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split(['*', ' ']).find_map(|t| t.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{key} in {line}"))
}

fn hex_bytes(answer: &str) -> Vec<u8> {
    let hex = answer.strip_prefix("OK ").unwrap_or_else(|| panic!("not data: {answer}"));
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_lists_every_injection_of_the_icd() {
    let mut rig = Rig::start();
    assert_eq!(
        rig.ask_one("HELLO").await,
        "OK bench=rig-digital-twin inject=STALL,WATCHDOG,CORRUPT,SILENCE,SENSOR_NACK,SENSOR_AIR,SENSOR_STUCK"
    );
    assert_eq!(rig.ask_one("INJECT STALL 3").await, "ERR syntax");
    assert_eq!(rig.ask_one("INJECT TEMPERATURE 40").await, "ERR unsupported");
    rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_reboots_the_pump() {
    let mut rig = Rig::start();
    assert_eq!(
        rig.line(Duration::from_secs(2)).await.as_deref(),
        Some(icd::frame("! 1 0 BOOT reason=POWER_ON").as_str())
    );
    assert_eq!(rig.request("1 FILL volume_ul=20000").await.unwrap(), icd::frame("1 OK"));
    assert_eq!(rig.ask_one("INJECT WATCHDOG").await, "OK");
    let boot = rig.line(Duration::from_secs(2)).await.unwrap();
    assert!(boot.starts_with("! 1 ") && boot.contains(" BOOT reason=WATCHDOG*"), "{boot}");
    let payload = boot.trim_end().rsplit_once('*').unwrap().0;
    assert_eq!(boot, icd::frame(payload));
    let status = rig.request("2 STATUS").await.unwrap();
    assert_eq!(field(&status, "reservoir_ul"), "20000", "{status}");
    rig.stop();
}

/// ICD: "each frame on the service port, either direction, is damaged with this probability:
/// one byte of its payload or CRC replaced by another printable character (never a line end,
/// never only a change of letter case); `0` stops it".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_1000_damages_every_frame_both_ways() {
    let mut rig = Rig::start();
    rig.line(Duration::from_secs(2)).await.unwrap();
    assert_eq!(rig.ask_one("INJECT CORRUPT 1000").await, "OK");
    let expected = icd::frame("0 ERR CRC");
    for seq in 1..=20 {
        // The request is damaged on its way in (so it is a bad-CRC frame: `0 ERR CRC`), and that
        // answer on its way out.
        let got = rig.request(&format!("{seq} START")).await.expect("an answer");
        assert_eq!(got.len(), expected.len(), "{got:?}");
        assert!(got.ends_with("\r\n"), "{got:?}");
        let diffs: Vec<usize> = (0..got.len()).filter(|&i| got.as_bytes()[i] != expected.as_bytes()[i]).collect();
        assert_eq!(diffs.len(), 1, "one byte damaged: {got:?}");
        let (i, b) = (diffs[0], got.as_bytes()[diffs[0]]);
        assert_ne!(i, expected.len() - 7, "not the '*'");
        assert!((0x20..=0x7E).contains(&b), "printable: {got:?}");
        assert!(!b.eq_ignore_ascii_case(&expected.as_bytes()[i]), "not a change of case: {got:?}");
        // What came out is itself a bad-CRC frame by the ICD's rules.
        let line = got.trim_end_matches("\r\n");
        let ok =
            line.rsplit_once('*').is_some_and(|(p, crc)| crc.len() == 4 && crc.eq_ignore_ascii_case(&icd::crc_hex(p)));
        assert!(!ok, "{got:?} would pass its CRC");
    }
    assert_eq!(rig.ask_one("INJECT CORRUPT 0").await, "OK");
    let status = rig.request("30 STATUS").await.unwrap();
    assert_eq!(field(&status, "state"), "STOPPED", "no damaged START was executed: {status}");
    assert_eq!(status, icd::frame(status.trim_end().rsplit_once('*').unwrap().0));
    rig.stop();
}

/// ICD: "the service port passes nothing either way for this long (a pulled cable); events
/// raised meanwhile are lost, as `evseq` then shows".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_passes_nothing_and_evseq_shows_the_lost_events() {
    let mut rig = Rig::start();
    rig.line(Duration::from_secs(2)).await.unwrap();
    assert_eq!(rig.request("1 FILL volume_ul=20000").await.unwrap(), icd::frame("1 OK"));
    assert_eq!(rig.ask(&["INJECT SILENCE 600", "INJECT WATCHDOG"]).await, ["OK", "OK"]);
    // Nothing either way: no BOOT, no answer.
    rig.send(&icd::frame("2 STATUS")).await;
    assert_eq!(rig.line(Duration::from_millis(300)).await, None);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Back: the next event is evseq 2; BOOT (evseq 1) was lost.
    rig.send(&icd::frame("3 FILL volume_ul=1000")).await;
    let event = rig.line(Duration::from_secs(2)).await.unwrap();
    assert!(event.starts_with("! 2 ") && event.contains(" ALARM code=RESERVOIR_LOW priority=MEDIUM*"), "{event}");
    assert_eq!(rig.line(Duration::from_secs(2)).await.unwrap(), icd::frame("3 OK"));
    rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_nack_takes_the_next_transactions() {
    let mut rig = Rig::start();
    let answers =
        rig.ask(&["INJECT SENSOR NACK 2", "I2C 08 W 3608", "I2C 08 W 3608", "I2C 08 W 3608", "I2C 08 W 3FF9"]).await;
    assert_eq!(answers, ["OK", "NACK", "NACK", "OK", "OK"]);
    rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_air_sets_flag_bit_0_with_a_nonzero_flow_word() {
    let mut rig = Rig::start();
    assert_eq!(rig.ask(&["INJECT SENSOR AIR 1", "I2C 08 W 3608"]).await, ["OK", "OK"]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    for _ in 0..3 {
        let bytes = hex_bytes(&rig.ask_one("I2C 08 R 9").await);
        for word in bytes.chunks(3) {
            assert_eq!(icd::crc8(&word[..2]), word[2]);
        }
        assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]) & 1, 1, "air in line: {bytes:02X?}");
        assert_ne!(i16::from_be_bytes([bytes[0], bytes[1]]), 0, "plausibly wrong, not zero: {bytes:02X?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rig.ask_one("INJECT SENSOR AIR 0").await, "OK");
    let bytes = hex_bytes(&rig.ask_one("I2C 08 R 9").await);
    assert_eq!(u16::from_be_bytes([bytes[6], bytes[7]]) & 1, 0);
    rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_stuck_repeats_the_last_reading() {
    let mut rig = Rig::start();
    assert_eq!(rig.ask_one("I2C 08 W 3608").await, "OK");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let last = rig.ask_one("I2C 08 R 9").await;
    assert_eq!(rig.ask_one("INJECT SENSOR STUCK 1").await, "OK");
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(rig.ask_one("I2C 08 R 9").await, last, "all 9 bytes repeated");
    }
    assert_eq!(rig.ask_one("INJECT SENSOR STUCK 0").await, "OK");
    let mut fresh = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        fresh.push(rig.ask_one("I2C 08 R 9").await);
    }
    assert!(fresh.iter().any(|r| *r != last), "readings move again (noise): {fresh:?}");
    rig.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_stops_strokes_and_clearing_it_lets_them_complete() {
    let mut rig = Rig::start();
    for (seq, request) in
        [(1, "FILL volume_ul=20000"), (2, "LIMIT max_24h_ul=24000"), (3, "PROGRAM basal_ul_h=1000"), (4, "START")]
    {
        assert!(rig.request(&format!("{seq} {request}")).await.unwrap().starts_with(&format!("{seq} OK")));
    }
    let delivered = |status: &str| field(status, "delivered_ul").parse::<f64>().unwrap();
    assert_eq!(rig.ask_one("INJECT STALL 1").await, "OK");
    let stalled_from = delivered(&rig.request("5 STATUS").await.unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stalled_to = delivered(&rig.request("6 STATUS").await.unwrap());
    assert_eq!(stalled_to, stalled_from, "no stroke completes while stalled");
    assert_eq!(rig.ask_one("INJECT STALL 0").await, "OK");
    // The next retry comes within 5 s; then strokes every 0.9 s: one completes within 7 s.
    // Asked every 250 ms, each STATUS with a new seq (a repeated one would be answered from
    // the pump's retry cache).
    let cleared = tokio::time::Instant::now();
    let mut seq = 7;
    let freed = loop {
        let freed = delivered(&rig.request(&format!("{seq} STATUS")).await.unwrap());
        seq += 1;
        if freed > stalled_to || cleared.elapsed() >= Duration::from_secs(7) {
            break freed;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(freed > stalled_to, "strokes complete again within 7 s: {stalled_to} → {freed}");
    rig.stop();
}
