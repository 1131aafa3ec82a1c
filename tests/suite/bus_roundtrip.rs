//! The bench bus end to end (ICD part 2): `serve` on a Unix socket in a temporary directory
//! with a small fake bench, driven by `BusClient` and the rig's real `FlowSensor` and
//! `OcclusionValve` drivers. The client is blocking, so it runs on tokio's blocking pool while
//! the server runs on the runtime.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use embedded_hal::digital::StatefulOutputPin;
use embedded_hal::i2c::{ErrorKind, I2c, NoAcknowledgeSource, Operation};
use rig::bus::{
    BusClient, BusError, BusRequest, BusResponse, BusTarget, ConfirmedLow, Inject, InjectKind, Nack, NoSuchLine,
    Unsupported, serve,
};
use rig::drivers::SensorModel;
use rig::drivers::flow_sensor::{ErrorKind as SensorErrorKind, FlowSensor};
use rig::drivers::valve::{OcclusionValve, ValveAction};
use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An SF06-LF at 0x08 that NACKs reads while idle (as the real one does) and a valve on GPIO
/// line 17; everything else NACKs or is refused. Records every call.
#[derive(Debug, Default)]
struct FakeBench {
    measuring: bool,
    lines: BTreeMap<u32, bool>,
    calls: Vec<String>,
    /// Injections it lists in `HELLO` and accepts.
    supports: BTreeSet<InjectKind>,
}

/// 600 counts (500 µL/h on an LD20-0600L), 4600 counts (23 °C), flags 0, with the CRCs of the
/// rule (0x31, init 0xFF) worked out by hand: 02 58 → 9F, 11 F8 → 20, 00 00 → 81.
const FRAME: [u8; 9] = [0x02, 0x58, 0x9F, 0x11, 0xF8, 0x20, 0x00, 0x00, 0x81];
const VALVE_LINE: u32 = 17;

impl BusTarget for FakeBench {
    fn bench_name(&self) -> String {
        "fake-bench".to_string()
    }

    fn i2c_write(&mut self, addr: u8, bytes: &[u8]) -> Result<(), Nack> {
        self.calls.push(format!("W {addr:02X} {bytes:02X?}"));
        match (addr, bytes) {
            (0x08, [0x36, 0x08]) => self.measuring = true,
            (0x08, [0x3F, 0xF9]) => self.measuring = false,
            _ => return Err(Nack),
        }
        Ok(())
    }

    fn i2c_read(&mut self, addr: u8, len: usize) -> Result<Vec<u8>, Nack> {
        self.calls.push(format!("R {addr:02X} {len}"));
        if addr == 0x08 && self.measuring && len <= FRAME.len() { Ok(FRAME[..len].to_vec()) } else { Err(Nack) }
    }

    fn gpio_set(&mut self, line: u32, high: bool) -> Result<(), NoSuchLine> {
        self.calls.push(format!("SET {line} {}", u8::from(high)));
        if line != VALVE_LINE {
            return Err(NoSuchLine);
        }
        self.lines.insert(line, high);
        Ok(())
    }

    fn gpio_get(&mut self, line: u32) -> Result<bool, NoSuchLine> {
        if line != VALVE_LINE {
            return Err(NoSuchLine);
        }
        Ok(self.lines.get(&line).copied().unwrap_or(false))
    }

    fn injections(&self) -> BTreeSet<InjectKind> {
        self.supports.clone()
    }

    fn inject(&mut self, inject: Inject) -> Result<(), Unsupported> {
        self.calls.push(format!("INJECT {inject}"));
        Ok(())
    }
}

struct Bench {
    _dir: tempfile::TempDir,
    path: PathBuf,
    target: Arc<Mutex<FakeBench>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl Bench {
    fn start() -> Bench {
        Self::start_with(FakeBench::default())
    }

    fn start_with(bench: FakeBench) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let target = Arc::new(Mutex::new(bench));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, Arc::clone(&target), stopped));
        Bench { _dir: dir, path, target, stop, task }
    }

    fn calls(&self) -> Vec<String> {
        self.target.lock().unwrap().calls.clone()
    }

    fn line(&self, line: u32) -> Option<bool> {
        self.target.lock().unwrap().lines.get(&line).copied()
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// Runs blocking client code off the runtime's worker threads.
async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_names_the_bench() {
    let bench = Bench::start();
    let path = bench.path.clone();
    let client = blocking(move || BusClient::connect(&path).unwrap()).await;
    assert_eq!(client.bench_name(), "fake-bench");
    assert_eq!(client.path(), bench.path);
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_sensor_reads_a_frame_through_the_bus() {
    let bench = Bench::start();
    let path = bench.path.clone();
    let reading = blocking(move || {
        let client = BusClient::connect(&path).unwrap();
        let mut sensor = FlowSensor::new(client.i2c(), 0x08, SensorModel::Ld20_0600L);
        sensor.start_continuous().unwrap();
        let reading = sensor.read().unwrap();
        sensor.stop_continuous().unwrap();
        reading
    })
    .await;
    assert!((reading.flow_ul_h - 500.0).abs() < 1e-9, "{reading:?}");
    assert!((reading.temperature_c - 23.0).abs() < 1e-9, "{reading:?}");
    assert_eq!(bench.calls(), ["W 08 [36, 08]", "R 08 9", "W 08 [3F, F9]"]);
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nack_surfaces_as_no_acknowledge_naming_the_device() {
    let bench = Bench::start();
    let path = bench.path.clone();
    blocking(move || {
        let client = BusClient::connect(&path).unwrap();

        // Nothing at 0x09: the start command is not acknowledged.
        let mut sensor = FlowSensor::new(client.i2c(), 0x09, SensorModel::Slf3s_0600F);
        let err = sensor.start_continuous().unwrap_err();
        assert!(err.is_no_acknowledge(), "{err:?}");
        assert_eq!(err.i2c_kind(), Some(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown)));
        let text = err.to_string();
        assert!(
            text.starts_with("flow sensor SLF3S-0600F at 0x09: no acknowledge — check wiring/power/address"),
            "{text}"
        );
        assert!(text.contains(&path.display().to_string()), "{text}");

        // The sensor NACKs a read while idle.
        let mut i2c = client.i2c();
        let mut buf = [0u8; 9];
        let e = i2c.read(0x08, &mut buf).unwrap_err();
        assert!(matches!(embedded_hal::i2c::Error::kind(&e), ErrorKind::NoAcknowledge(_)));
        assert_eq!(e.to_string(), format!("bench bus {}: NACK from I2C address 0x08", path.display()));
    })
    .await;
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn i2c_transaction_sends_each_operation_on_its_own() {
    let bench = Bench::start();
    let path = bench.path.clone();
    blocking(move || {
        let client = BusClient::connect(&path).unwrap();
        let mut i2c = client.i2c();
        let mut frame = [0u8; 9];
        i2c.transaction(0x08, &mut [Operation::Write(&[0x36, 0x08]), Operation::Read(&mut frame)]).unwrap();
        assert_eq!(frame, FRAME);
        // What the bus cannot carry is refused before anything is sent.
        let e = i2c.write(0x08, &[]).unwrap_err();
        assert_eq!(embedded_hal::i2c::Error::kind(&e), ErrorKind::Other);
        let mut big = [0u8; 65];
        assert!(i2c.read(0x08, &mut big).is_err());
        assert!(i2c.read(0x80, &mut frame).is_err());
    })
    .await;
    assert_eq!(bench.calls(), ["W 08 [36, 08]", "R 08 9"]);
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valve_close_sets_the_line_and_drop_clears_it() {
    let bench = Bench::start();
    let path = bench.path.clone();
    let client = blocking(move || BusClient::connect(&path).unwrap()).await;

    let c = client.clone();
    let valve = blocking(move || OcclusionValve::new(c.pin(VALVE_LINE), VALVE_LINE).unwrap()).await;
    assert_eq!(bench.line(VALVE_LINE), Some(false), "a new valve is open");

    let c = client.clone();
    let (valve, seen_by_get) = blocking(move || {
        let mut valve = valve;
        valve.close().unwrap();
        assert!(valve.is_closed());
        (valve, c.pin(VALVE_LINE).is_set_high().unwrap())
    })
    .await;
    assert_eq!(bench.line(VALVE_LINE), Some(true), "close energises: line at 1");
    assert!(seen_by_get, "GET reports the level the bench holds");

    blocking(move || drop(valve)).await;
    assert_eq!(bench.line(VALVE_LINE), Some(false), "drop de-energises: line at 0");

    let mut valve = blocking(move || OcclusionValve::new(client.pin(VALVE_LINE), VALVE_LINE).unwrap()).await;
    valve = blocking(move || {
        valve.close().unwrap();
        valve.make_safe().unwrap();
        valve
    })
    .await;
    assert_eq!(bench.line(VALVE_LINE), Some(false), "make_safe opens");
    let _pin = blocking(move || valve.release().unwrap()).await;
    assert_eq!(bench.calls(), ["SET 17 0", "SET 17 1", "SET 17 0", "SET 17 0", "SET 17 1", "SET 17 0", "SET 17 0"],);
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_gpio_line_is_an_error_naming_the_valve_line() {
    let bench = Bench::start();
    let path = bench.path.clone();
    let err = blocking(move || {
        let client = BusClient::connect(&path).unwrap();
        OcclusionValve::new(client.pin(4), 4).map(|_| ()).unwrap_err()
    })
    .await;
    assert_eq!(err.line, 4);
    assert_eq!(err.action, ValveAction::Open);
    let text = err.to_string();
    assert!(text.starts_with("occlusion valve on GPIO line 4: could not open"), "{text}");
    assert!(text.contains("the bench refused `GPIO 4 SET 0`: no_such_line"), "{text}");
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_get_err_and_the_connection_goes_on() {
    let bench = Bench::start();
    let path = bench.path.clone();
    let answers = blocking(move || {
        let mut stream = StdUnixStream::connect(&path).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut input = Vec::new();
        input.extend_from_slice(b"PING\n");
        input.extend_from_slice(&vec![b'X'; 5000]);
        input.extend_from_slice(b"\r\n\xFF\xFE\ni2c 08 r 9\nI2C 08 R 0\nI2C 08 W 3608\r\nI2C 08 r 9\n");
        // In pieces, as a real stream might deliver it.
        for chunk in input.chunks(7) {
            stream.write_all(chunk).unwrap();
        }
        let mut reader = BufReader::new(stream);
        (0..7)
            .map(|_| {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                line
            })
            .collect::<Vec<_>>()
    })
    .await;
    assert_eq!(
        answers,
        ["ERR syntax\n", "ERR too_long\n", "ERR syntax\n", "ERR syntax\n", "ERR syntax\n", "OK\n", "ERR syntax\n"]
    );
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_and_two_handles_share_the_bench() {
    let bench = Bench::start();
    let path = bench.path.clone();
    blocking(move || {
        let a = BusClient::connect(&path).unwrap();
        let b = BusClient::connect(&path).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let client = if i % 2 == 0 { a.clone() } else { b.clone() };
                std::thread::spawn(move || {
                    let mut pin = client.pin(VALVE_LINE);
                    for _ in 0..50 {
                        embedded_hal::digital::OutputPin::set_high(&mut pin).unwrap();
                        assert_eq!(
                            client.request(&BusRequest::Hello).unwrap(),
                            BusResponse::Hello { bench: "fake-bench".into(), inject: BTreeSet::new() }
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    })
    .await;
    assert_eq!(bench.calls().len(), 200);
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_the_client_is_told_the_bench_closed() {
    let bench = Bench::start();
    let path = bench.path.clone();
    let client = blocking(move || BusClient::connect(&path).unwrap()).await;
    bench.stop().await;
    let err = blocking(move || {
        let first = client.pin(VALVE_LINE).level().unwrap_err();
        let second = client.request(&BusRequest::Hello).unwrap_err();
        (first, second)
    })
    .await;
    assert!(matches!(err.0.source, BusError::Closed { .. }), "{:?}", err.0);
    assert!(matches!(err.1, BusError::Broken { .. }), "{:?}", err.1);
    assert!(err.0.to_string().starts_with("GPIO line 17: bench bus "), "{}", err.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_a_trait_object_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let target: Arc<Mutex<dyn BusTarget>> = Arc::new(Mutex::new(FakeBench::default()));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, target, stopped));
    let name = blocking(move || BusClient::connect(&path).map(|c| c.bench_name().to_string())).await;
    assert_eq!(name.unwrap(), "fake-bench");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[test]
fn connecting_where_no_socket_exists_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody-home.sock");
    let err = BusClient::connect(&path).unwrap_err();
    assert!(matches!(&err, BusError::Connect { source, .. } if source.kind() == io::ErrorKind::NotFound));
    assert_eq!(err.path(), path);
    let text = err.to_string();
    assert!(text.starts_with(&format!("no bench bus socket at {}: is `rig sim` running", path.display())), "{text}");
}

#[test]
fn a_socket_left_by_a_stopped_bench_refuses_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "the socket file outlives its listener");
    let err = BusClient::connect(&path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("bench bus socket {} refused the connection: is `rig sim` running?", path.display())),
        "{text}"
    );
}

#[test]
fn a_bench_that_never_answers_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let holder = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let err = BusClient::connect_with_timeout(&path, Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, BusError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("no response to `HELLO` within 100ms"), "{err}");
    drop(holder.join());
}

#[test]
fn a_peer_that_is_not_a_bench_is_a_protocol_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(s.try_clone().unwrap()).read_line(&mut line).unwrap();
        s.write_all(b"220 smtp.example ready\n").unwrap();
        line
    });
    let err = BusClient::connect(&path).unwrap_err();
    assert_eq!(peer.join().unwrap(), "HELLO\n");
    assert!(matches!(err, BusError::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("does not answer `HELLO`"), "{err}");
}

#[test]
fn sensor_errors_stay_typed_through_the_bus() {
    // Compile-time check that the bus error is usable as the driver's error source.
    fn assert_error<E: std::error::Error>() {}
    assert_error::<rig::drivers::flow_sensor::Error<rig::bus::BusI2cError>>();
    assert_error::<rig::drivers::valve::ValveError<rig::bus::BusPinError>>();
    let _ = SensorErrorKind::<rig::bus::BusI2cError>::NotMeasuring;
}

// ----- ICD part 2, rule by rule, byte for byte ------------------------------------------------

/// Sends each line (with `\n`) on a raw socket and returns each answer line (with `\n`).
async fn raw_exchange(path: PathBuf, lines: Vec<Vec<u8>>) -> Vec<String> {
    blocking(move || {
        let mut stream = StdUnixStream::connect(&path).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        lines
            .into_iter()
            .map(|mut line| {
                line.push(b'\n');
                stream.write_all(&line).unwrap();
                let mut answer = String::new();
                reader.read_line(&mut answer).unwrap();
                answer
            })
            .collect()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_of_part_2_byte_exact() {
    let bench = Bench::start_with(FakeBench { supports: [InjectKind::Watchdog].into(), ..FakeBench::default() });
    let at_limit = format!("I2C 08 W {}", "0".repeat(512 - 9)).into_bytes();
    assert_eq!(at_limit.len(), 512);
    let mut over = at_limit.clone();
    over.push(b'0');
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"HELLO".to_vec(), "OK bench=fake-bench inject=WATCHDOG\n"),
        // Keywords upper case; hex either case.
        (b"hello".to_vec(), "ERR syntax\n"),
        (b"I2C 08 W 3608".to_vec(), "OK\n"),
        (b"I2C 08 r 9".to_vec(), "ERR syntax\n"),
        (b"I2C 08 R 9".to_vec(), "OK 02589F11F820000081\n"),
        (b"I2C 08 W 3ff9".to_vec(), "OK\n"),
        // A read while idle NACKs.
        (b"I2C 08 R 9".to_vec(), "NACK\n"),
        // 512 bytes is a request (here an odd number of hex digits); 513 is too long.
        (at_limit, "ERR syntax\n"),
        (over, "ERR too_long\n"),
        // A write carries 1-64 bytes; a read 1-64.
        (format!("I2C 08 W {}", "00".repeat(64)).into_bytes(), "NACK\n"),
        (format!("I2C 08 W {}", "00".repeat(65)).into_bytes(), "ERR syntax\n"),
        (b"I2C 08 R 65".to_vec(), "ERR syntax\n"),
        // Address 00-7F.
        (b"I2C 80 R 9".to_vec(), "ERR address\n"),
        (b"I2C 8 W 3608".to_vec(), "ERR address\n"),
        (b"I2C 7F R 1".to_vec(), "NACK\n"),
        (b"".to_vec(), "ERR empty\n"),
        // GPIO never NACKs; a line the bench does not have is `no_such_line`.
        (b"GPIO 17 SET 1".to_vec(), "OK\n"),
        (b"GPIO 17 GET".to_vec(), "OK 1\n"),
        (b"GPIO 4 SET 1".to_vec(), "ERR no_such_line\n"),
        (b"GPIO 4 GET".to_vec(), "ERR no_such_line\n"),
        // INJECT: OK, ERR unsupported or ERR syntax.
        (b"INJECT WATCHDOG".to_vec(), "OK\n"),
        (b"INJECT STALL 1".to_vec(), "ERR unsupported\n"),
        (b"INJECT STALL 2".to_vec(), "ERR syntax\n"),
        (b"INJECT SENSOR NACK x".to_vec(), "ERR syntax\n"),
    ];
    let (requests, expected): (Vec<_>, Vec<_>) = cases.into_iter().unzip();
    let answers = raw_exchange(bench.path.clone(), requests).await;
    assert_eq!(answers, expected);
    assert!(bench.calls().contains(&"INJECT WATCHDOG".to_string()));
    bench.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_and_inject_are_typed() {
    let supports: BTreeSet<InjectKind> = [InjectKind::Watchdog, InjectKind::SensorNack].into();
    let bench = Bench::start_with(FakeBench { supports: supports.clone(), ..FakeBench::default() });
    let path = bench.path.clone();
    let (hello, ok, unsupported) = blocking(move || {
        let client = BusClient::connect(&path).unwrap();
        assert_eq!(client.injections(), &supports);
        let hello = client.hello().unwrap();
        let ok = client.inject(Inject::SensorNack { count: 3 });
        let unsupported = client.inject(Inject::Corrupt { permille: 10 }).unwrap_err();
        // The connection goes on after a refusal.
        client.inject(Inject::Watchdog).unwrap();
        (hello, ok, unsupported)
    })
    .await;
    assert_eq!(hello.bench, "fake-bench");
    assert_eq!(hello.inject, [InjectKind::Watchdog, InjectKind::SensorNack].into());
    assert!(ok.is_ok(), "{ok:?}");
    assert!(matches!(&unsupported, BusError::Unsupported { request, .. } if request == "INJECT CORRUPT 10"));
    assert!(unsupported.to_string().contains("does not support `INJECT CORRUPT 10`"), "{unsupported}");
    assert_eq!(bench.calls(), ["INJECT SENSOR NACK 3", "INJECT WATCHDOG"]);
    bench.stop().await;
}

// ----- Scripted benches, written from the ICD's lines, for the client's recovery ---------------

/// What a scripted bench does with one request line.
#[derive(Clone)]
enum Step {
    /// Expect this line, answer that one at once.
    Answer(&'static str, &'static str),
    /// Expect this line, answer after a delay (the client has given up by then).
    Late(&'static str, &'static str, Duration),
    /// Expect this line and close the connection without answering.
    Drop(&'static str),
}

/// A bench on a raw socket: one script per connection, in order. Returns the lines it received.
fn scripted_bench(path: PathBuf, connections: Vec<Vec<Step>>) -> std::thread::JoinHandle<Vec<String>> {
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for script in connections {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            for step in script {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end_matches('\n').to_string();
                seen.push(line.clone());
                match step {
                    Step::Answer(want, reply) => {
                        assert_eq!(line, want);
                        let _ = writer.write_all(format!("{reply}\n").as_bytes());
                    }
                    Step::Late(want, reply, delay) => {
                        assert_eq!(line, want);
                        // Answered from aside, so that the next connection is served meanwhile.
                        let mut late = writer.try_clone().unwrap();
                        std::thread::spawn(move || {
                            std::thread::sleep(delay);
                            let _ = late.write_all(format!("{reply}\n").as_bytes());
                        });
                    }
                    Step::Drop(want) => {
                        assert_eq!(line, want);
                        break;
                    }
                }
            }
        }
        seen
    })
}

const HELLO: Step = Step::Answer("HELLO", "OK bench=scripted inject=none");

fn confirm_low() -> Vec<Step> {
    vec![HELLO, Step::Answer("GPIO 17 SET 0", "OK"), Step::Answer("GPIO 17 GET", "OK 0")]
}

#[test]
fn set_low_reconnects_after_the_bench_drops_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let bench = scripted_bench(path.clone(), vec![vec![HELLO, Step::Drop("GPIO 17 SET 0")], confirm_low()]);
    let client = BusClient::connect(&path).unwrap();
    let did = client.pin(VALVE_LINE).set_low_confirmed().unwrap();
    assert_eq!((did.attempts, did.reconnects), (2, 1), "{did:?}");
    assert_eq!(
        bench.join().unwrap(),
        ["HELLO", "GPIO 17 SET 0", "HELLO", "GPIO 17 SET 0", "GPIO 17 GET"],
        "one request at a time, HELLO again on the new connection"
    );
}

#[test]
fn a_late_answer_closes_the_connection_and_set_low_recovers_on_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let late = Step::Late("GPIO 17 SET 0", "OK", Duration::from_millis(400));
    let mut second = confirm_low();
    second.push(Step::Answer("GPIO 17 GET", "OK 0"));
    let bench = scripted_bench(path.clone(), vec![vec![HELLO, late], second]);
    let client = BusClient::connect_with_timeout(&path, Duration::from_millis(150)).unwrap();
    let mut pin = client.pin(VALVE_LINE);
    let did: ConfirmedLow = pin.set_low_confirmed().unwrap();
    assert_eq!((did.attempts, did.reconnects), (2, 1), "{did:?}");
    assert!(did.elapsed < Duration::from_secs(2), "{did:?}");
    // The late `OK` went to the closed connection; the new one is in step.
    assert!(!pin.level().unwrap());
    drop(client);
    assert_eq!(
        bench.join().unwrap(),
        ["HELLO", "GPIO 17 SET 0", "HELLO", "GPIO 17 SET 0", "GPIO 17 GET", "GPIO 17 GET"]
    );
}

#[test]
fn after_a_timeout_requests_fail_until_reconnect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let late = Step::Late("I2C 08 R 9", "OK 02589F11F820000081", Duration::from_millis(300));
    let bench = scripted_bench(path.clone(), vec![vec![HELLO, late], vec![HELLO, Step::Answer("GPIO 17 GET", "OK 1")]]);
    let client = BusClient::connect_with_timeout(&path, Duration::from_millis(100)).unwrap();
    let mut buf = [0u8; 9];
    let err = embedded_hal::i2c::I2c::read(&mut client.i2c(), 0x08, &mut buf).unwrap_err();
    assert!(err.to_string().contains("no response to `I2C 08 R 9`"), "{err}");
    let broken = client.request(&BusRequest::GpioGet { line: 17 }).unwrap_err();
    assert!(matches!(broken, BusError::Broken { .. }), "{broken:?}");
    let hello = client.reconnect().unwrap();
    assert_eq!((hello.bench.as_str(), hello.inject.len()), ("scripted", 0));
    assert!(client.pin(VALVE_LINE).level().unwrap());
    drop(client);
    assert_eq!(bench.join().unwrap(), ["HELLO", "I2C 08 R 9", "HELLO", "GPIO 17 GET"]);
}

#[test]
fn set_low_gives_up_within_its_bound_and_says_what_it_tried() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let stuck_high = || vec![HELLO, Step::Answer("GPIO 17 SET 0", "OK"), Step::Answer("GPIO 17 GET", "OK 1")];
    let bench = scripted_bench(path.clone(), vec![stuck_high(), stuck_high(), stuck_high()]);
    let client = BusClient::connect(&path).unwrap();
    let err = client.pin(VALVE_LINE).set_low_confirmed().unwrap_err();
    assert!(matches!(&err.source, BusError::NotConfirmedLow { attempts: 3, reconnects: 2, .. }), "{:?}", err.source);
    let text = err.to_string();
    assert!(text.starts_with("GPIO line 17: bench bus "), "{text}");
    assert!(text.contains("line not confirmed at 0 after 3 attempt(s) and 2 reconnect(s)"), "{text}");
    assert!(text.contains("the line still reads 1"), "{text}");
    assert_eq!(bench.join().unwrap().len(), 9);
}

#[test]
fn set_low_does_not_retry_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let bench = scripted_bench(path.clone(), vec![vec![HELLO, Step::Answer("GPIO 17 SET 0", "ERR no_such_line")]]);
    let client = BusClient::connect(&path).unwrap();
    let err = client.pin(VALVE_LINE).set_low_confirmed().unwrap_err();
    assert!(matches!(&err.source, BusError::Refused { reason, .. } if reason == "no_such_line"), "{err:?}");
    drop(client);
    assert_eq!(bench.join().unwrap(), ["HELLO", "GPIO 17 SET 0"]);
}

#[test]
fn a_bench_answering_the_old_hello_lists_no_injection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    let bench = scripted_bench(
        path.clone(),
        vec![vec![Step::Answer("HELLO", "OK bench=old-sil"), Step::Answer("INJECT WATCHDOG", "ERR unsupported")]],
    );
    let client = BusClient::connect(&path).unwrap();
    assert_eq!(client.bench_name(), "old-sil");
    assert!(client.injections().is_empty());
    assert!(matches!(client.inject(Inject::Watchdog), Err(BusError::Unsupported { .. })));
    drop(client);
    bench.join().unwrap();
}
