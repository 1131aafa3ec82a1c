//! The bench bus end to end (ICD part 2): `serve` on a Unix socket in a temporary directory
//! with a small fake bench, driven by `BusClient` and the rig's real `FlowSensor` and
//! `OcclusionValve` drivers. The client is blocking, so it runs on tokio's blocking pool while
//! the server runs on the runtime.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use embedded_hal::digital::StatefulOutputPin;
use embedded_hal::i2c::{ErrorKind, I2c, NoAcknowledgeSource, Operation};
use rig::bus::{BusClient, BusError, BusRequest, BusResponse, BusTarget, Nack, serve};
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

    fn gpio_set(&mut self, line: u32, high: bool) -> Result<(), String> {
        self.calls.push(format!("SET {line} {}", u8::from(high)));
        if line != VALVE_LINE {
            return Err(format!("no output on GPIO line {line}"));
        }
        self.lines.insert(line, high);
        Ok(())
    }

    fn gpio_get(&mut self, line: u32) -> Result<bool, String> {
        self.lines.get(&line).copied().ok_or_else(|| format!("GPIO line {line} was never set"))
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let target = Arc::new(Mutex::new(FakeBench::default()));
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
    assert!(text.contains("the bench refused `GPIO 4 SET 0`: no output on GPIO line 4"), "{text}");
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
        [
            "ERR unknown request \"PING\" (expected HELLO, I2C or GPIO)\n",
            // 5000 × 'X' and the '\r': a line's length counts everything before the '\n'.
            "ERR line of 5001 bytes exceeds 1024 bytes; discarded\n",
            "ERR unknown request \"\u{FFFD}\u{FFFD}\" (expected HELLO, I2C or GPIO)\n",
            "ERR unknown request \"i2c\" (expected HELLO, I2C or GPIO)\n",
            "ERR I2C read length \"0\" is not a number from 1 to 64\n",
            "OK\n",
            "ERR malformed request, expected `I2C <addr> W <hex>` or `I2C <addr> R <n>`\n",
        ]
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
                            BusResponse::OkBench("fake-bench".into())
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
