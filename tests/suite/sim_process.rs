//! `rig sim` as a child process, driven the way an independent client would: tokio-serial on its
//! pseudo-terminal and plain text lines on its bench-bus socket, with frames and bus lines
//! written from ICD.md (CRCs by a bitwise CRC-16 written here, not the rig's). Real time.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::icd;
use crate::sim_child;

use icd::{crc8, frame};

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use sim_child::Sim;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::SerialPortBuilderExt;

/// A plain client of the bench bus: one line out, one line back.
struct Bus(BufReader<UnixStream>);

impl Bus {
    fn connect(path: &Path) -> Bus {
        let stream = UnixStream::connect(path).expect("connect to the bench bus");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Bus(BufReader::new(stream))
    }

    fn ask(&mut self, request: &str) -> String {
        self.0.get_mut().write_all(format!("{request}\n").as_bytes()).unwrap();
        let mut line = String::new();
        self.0.read_line(&mut line).unwrap();
        line.trim_end().to_string()
    }

    /// Reads the flow word of one 9-byte frame, checking the ICD's CRC-8 of each word.
    fn flow_ul_h(&mut self) -> f64 {
        let answer = self.ask("I2C 08 R 9");
        let hex = answer.strip_prefix("OK ").unwrap_or_else(|| panic!("read failed: {answer}"));
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        assert_eq!(bytes.len(), 9);
        for word in bytes.chunks(3) {
            assert_eq!(crc8(&word[..2]), word[2], "CRC-8 of {word:02X?}");
        }
        // LD20-0600L: raw / 1200 → mL/h.
        f64::from(i16::from_be_bytes([bytes[0], bytes[1]])) / 1200.0 * 1000.0
    }
}

/// The host end of the service port, over tokio-serial.
struct Port {
    io: tokio_serial::SerialStream,
    pending: Vec<u8>,
}

impl Port {
    fn open(path: &Path) -> Port {
        let io = tokio_serial::new(path.to_string_lossy(), 115_200).open_native_async().expect("open the pty");
        Port { io, pending: Vec::new() }
    }

    async fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return String::from_utf8(line).unwrap();
            }
            let mut buf = [0u8; 512];
            let n = tokio::time::timeout(Duration::from_secs(2), AsyncReadExt::read(&mut self.io, &mut buf))
                .await
                .expect("the pump answers within 2 s")
                .unwrap();
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Sends raw bytes and returns the first line that is not an event.
    async fn exchange(&mut self, raw: &str) -> String {
        AsyncWriteExt::write_all(&mut self.io, raw.as_bytes()).await.unwrap();
        loop {
            let line = self.line().await;
            if !line.starts_with("! ") {
                return line;
            }
        }
    }

    async fn ok(&mut self, seq: u16, request: &str) -> String {
        let answer = self.exchange(&frame(&format!("{seq} {request}"))).await;
        let payload = answer.trim_end().rsplit_once('*').unwrap().0.to_string();
        assert_eq!(answer, frame(&payload), "the answer carries a valid CRC");
        assert!(payload.starts_with(&format!("{seq} OK")), "{request} → {payload}");
        payload
    }
}

fn field<'a>(payload: &'a str, key: &str) -> &'a str {
    payload.split(' ').find_map(|t| t.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{key} in {payload}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rig_sim_speaks_the_icd_on_its_pty_and_bench_bus() {
    let mut sim = Sim::start();
    let mut port = Port::open(&sim.pump);
    let mut bus = Bus::connect(&sim.bus);

    assert!(bus.ask("HELLO").starts_with("OK bench="));
    let id = port.ok(1, "ID").await;
    assert_eq!(field(&id, "proto"), "1");
    assert!(field(&id, "build").bytes().all(|b| b.is_ascii_hexdigit()));

    port.ok(2, "FILL volume_ul=20000").await;
    port.ok(3, "LIMIT max_24h_ul=24000").await;
    port.ok(4, "PROGRAM basal_ul_h=1000").await;
    port.ok(5, "START").await;
    assert_eq!(bus.ask("I2C 08 W 3608"), "OK");

    // Let the line fill (four time constants), then average one reading a second.
    tokio::time::sleep(Duration::from_secs(8)).await;
    bus.flow_ul_h();
    let mut flows = Vec::new();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        flows.push(bus.flow_ul_h());
    }
    let mean = flows.iter().sum::<f64>() / flows.len() as f64;
    assert!((mean - 1000.0).abs() <= 150.0, "mean flow {mean:.1} µL/h against 1000 programmed: {flows:?}");

    let before: f64 = field(&port.ok(6, "STATUS").await, "pressure_kpa").parse().unwrap();
    assert_eq!(bus.ask("GPIO 17 SET 1"), "OK", "energise: close the line");
    assert_eq!(bus.ask("GPIO 17 GET"), "OK 1");
    // 1000 µL/h is a 0.25 µL stroke every 0.9 s; each raises 0.5 kPa on a 0.5 µL/kPa line:
    // at least 2 kPa within 6 s. Asked every 250 ms, each STATUS with a new seq (a repeated one
    // would be answered from the pump's retry cache).
    let closed = Instant::now();
    let mut seq = 7;
    let after = loop {
        let after: f64 = field(&port.ok(seq, "STATUS").await, "pressure_kpa").parse().unwrap();
        seq += 1;
        if after >= before + 2.0 || closed.elapsed() >= Duration::from_secs(6) {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(after >= before + 2.0, "pressure behind the closed valve, 6 s: {before} → {after} kPa");
    bus.flow_ul_h();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(bus.flow_ul_h().abs() < 5.0, "no flow through a closed valve");

    // A damaged frame (a STOP with the next seq): answered `0 ERR CRC`, byte for byte, and
    // nothing done.
    assert_eq!(port.exchange(&format!("{seq} STOP*0000\r\n")).await, "0 ERR CRC*FAFF\r\n");
    let status = port.ok(seq + 1, "STATUS").await;
    assert_ne!(field(&status, "state"), "STOPPED", "the damaged STOP had no effect: {status}");

    assert_eq!(bus.ask("GPIO 17 SET 0"), "OK");
    port.ok(seq + 2, "STOP").await;
    drop(port);
    let status = sim.terminate();
    assert!(status.success(), "rig sim exits 0 on SIGTERM: {status:?}");
    assert!(!sim.pump.exists() && !sim.bus.exists(), "endpoints removed at exit");
}
