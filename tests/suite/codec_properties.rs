//! Properties of the two ICD codecs and the host session, whatever bytes arrive and however
//! the transport splits them: no panic, bounded memory, the same result for every split. A few
//! hundred cases each, so the suite stays fast.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;

use rig::bus::{BusRequest, BusResponse, Inject, InjectKind, LineReader};
use rig::clock::RigTime;
use rig::protocol::lines::{DEFAULT_MAX_READY, LineSplitter};
use rig::protocol::session::{PumpSession, SessionConfig, SessionOutput, Submission};
use rig::protocol::{Command, FrameDecoder};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 300, ..ProptestConfig::default() }
}

/// Bytes biased towards what the codecs look at: line ends, `*`, hex digits, spaces.
fn wire_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => any::<u8>(),
        2 => Just(b'\n'),
        1 => Just(b'\r'),
        2 => Just(b'*'),
        2 => Just(b' '),
        3 => prop::sample::select(b"0123456789abcdefABCDEF".to_vec()),
        2 => prop::sample::select(b"OK ERR STATUS ! 1".to_vec()),
    ];
    prop::collection::vec(byte, 0..max)
}

/// Split points for `len` bytes.
fn splits(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=len, 0..12).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

fn pieces<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts {
        let cut = cut.min(bytes.len());
        if cut >= from {
            out.push(&bytes[from..cut]);
            from = cut;
        }
    }
    out.push(&bytes[from..]);
    out
}

fn split_lines(bytes: &[u8], cuts: &[usize]) -> Vec<rig::protocol::lines::Line> {
    let mut s = LineSplitter::with_max_ready(16, 3);
    let mut out = Vec::new();
    for piece in pieces(bytes, cuts) {
        let mut rest = piece;
        loop {
            let taken = s.feed(rest);
            rest = &rest[taken..];
            assert!(s.ready() <= 3, "the queue of lines is bounded");
            while let Some(line) = s.next_line() {
                out.push(line);
            }
            if rest.is_empty() {
                break;
            }
        }
    }
    out
}

fn decode(bytes: &[u8], cuts: &[usize]) -> Vec<String> {
    let mut d = FrameDecoder::new();
    let mut out = Vec::new();
    for piece in pieces(bytes, cuts) {
        let mut rest = piece;
        loop {
            let taken = d.feed(rest);
            rest = &rest[taken..];
            while let Some(item) = d.next_frame() {
                out.push(format!("{item:?}"));
            }
            if rest.is_empty() {
                break;
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn line_splitter_same_lines_for_every_split_and_bounded(bytes in wire_bytes(200), cuts in splits(200)) {
        let whole = split_lines(&bytes, &[]);
        prop_assert_eq!(&split_lines(&bytes, &cuts), &whole);
        let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
        prop_assert_eq!(whole.len(), newlines);
        for line in whole.iter().flatten() {
            prop_assert!(line.len() <= 16);
        }
    }

    #[test]
    fn frame_decoder_same_result_for_every_split(bytes in wire_bytes(600), cuts in splits(600)) {
        prop_assert_eq!(decode(&bytes, &cuts), decode(&bytes, &[]));
    }

    #[test]
    fn frame_decoder_memory_is_bounded(bytes in wire_bytes(3000)) {
        let mut d = FrameDecoder::new();
        let taken = d.feed(&bytes);
        // Without draining, at most the queue's worth of lines and one unfinished line is held.
        let lines_taken = bytes[..taken].iter().filter(|&&b| b == b'\n').count();
        prop_assert!(lines_taken <= DEFAULT_MAX_READY);
        prop_assert!(taken == bytes.len() || lines_taken == DEFAULT_MAX_READY);
    }

    #[test]
    fn encoded_frames_decode_to_their_payload(payload in "[ -)+-~]{0,240}") {
        let frame = rig::protocol::encode_frame(&payload).unwrap();
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        d.feed_all(&frame, |f| got.push(f));
        if payload.is_empty() {
            prop_assert_eq!(got.len(), 1);
        } else {
            prop_assert_eq!(got, vec![Ok(rig::protocol::Frame { payload })]);
        }
    }

    /// The session records a valid frame as the line that arrived (for the evidence log): valid
    /// frames, their CRCs in either case, between garbage lines, come out as exactly their
    /// lines and payloads; every other non-empty line as an error, in its place.
    #[test]
    fn received_frames_keep_the_line_as_it_arrived(
        items in prop::collection::vec(
            (prop::option::of("[ -)+-~]{1,60}"), any::<bool>(), any::<bool>(), wire_bytes(40)),
            1..12,
        ),
    ) {
        let mut bytes = Vec::new();
        // Per non-empty line, in order: the frame's line and payload, or `None` for an error.
        let mut expected: Vec<Option<(String, String)>> = Vec::new();
        for (payload, lower, crlf, garbage) in &items {
            match payload {
                Some(payload) => {
                    let frame = String::from_utf8(rig::protocol::encode_frame(payload).unwrap()).unwrap();
                    let line = frame.trim_end_matches("\r\n");
                    let (body, crc) = line.split_at(line.len() - 4);
                    let line = format!("{body}{}", if *lower { crc.to_ascii_lowercase() } else { crc.to_string() });
                    bytes.extend_from_slice(line.as_bytes());
                    bytes.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
                    expected.push(Some((line, payload.clone())));
                }
                // Garbage on a line of its own (a line it ends cannot then swallow a frame).
                None => {
                    let line: Vec<u8> = garbage.iter().copied().filter(|&b| b != b'\n' && b != b'\r').collect();
                    if !line.is_empty() {
                        // Valid by chance (a matching CRC): then it is a frame like the others.
                        expected.push(match rig::protocol::frame::decode_line(&line) {
                            Some(Ok(frame)) => Some((String::from_utf8(line.clone()).unwrap(), frame.payload)),
                            _ => None,
                        });
                    }
                    bytes.extend_from_slice(&line);
                    bytes.push(b'\n');
                }
            }
        }
        let mut received = FrameDecoder::new();
        prop_assert_eq!(received.feed(&bytes), bytes.len());
        let got: Vec<Option<(String, String)>> = std::iter::from_fn(|| received.next_received())
            .map(|r| r.ok().map(|f| (f.line().to_string(), f.payload().to_string())))
            .collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn session_same_outputs_for_every_split(bytes in wire_bytes(800), cuts in splits(800)) {
        let run = |cuts: &[usize]| {
            let mut s = PumpSession::new(SessionConfig::default());
            s.submit(Submission::Command(Command::Status));
            let t = RigTime::from_millis(1);
            let _ = s.poll_transmit(t);
            for piece in pieces(&bytes, cuts) {
                s.handle_input(t, piece);
            }
            let outputs: Vec<SessionOutput> = std::iter::from_fn(|| s.poll_output()).collect();
            let sent: Vec<Vec<u8>> = std::iter::from_fn(|| s.poll_transmit(t)).collect();
            format!("{outputs:?} {sent:?}")
        };
        prop_assert_eq!(run(&cuts), run(&[]));
    }

    #[test]
    fn bus_request_parse_never_panics_and_round_trips(line in "[ -~]{0,80}") {
        if let Ok(request) = BusRequest::parse(&line) {
            prop_assert_eq!(BusRequest::parse(&request.to_line()), Ok(request));
        } else if let Err(e) = BusRequest::parse(&line) {
            prop_assert!(["empty", "too_long", "address", "unsupported", "syntax"].contains(&e.reason()));
        }
    }

    #[test]
    fn bus_response_parse_never_panics(line in "[ -~]{0,80}", len in 1usize..=64) {
        for request in [
            BusRequest::Hello,
            BusRequest::I2cRead { addr: 8, len },
            BusRequest::GpioGet { line: 17 },
            BusRequest::Inject(Inject::Watchdog),
        ] {
            if let Ok(response) = BusResponse::parse_for(&request, &line) {
                prop_assert_eq!(BusResponse::parse_for(&request, &response.to_line()), Ok(response));
            }
        }
    }

    #[test]
    fn every_request_round_trips(request in any_request()) {
        prop_assert_eq!(BusRequest::parse(&request.to_line()), Ok(request.clone()));
        prop_assert!(request.to_line().len() <= rig::bus::codec::MAX_LINE);
    }

    #[test]
    fn hello_round_trips(bench in "[!-~]([ -~]{0,30}[!-~])?", kinds in prop::collection::btree_set(0usize..7, 0..7)) {
        prop_assume!(!bench.contains(" inject="));
        let inject = kinds.into_iter().map(|i| InjectKind::ALL[i]).collect();
        let hello = BusResponse::Hello { bench, inject };
        prop_assert_eq!(BusResponse::parse_for(&BusRequest::Hello, &hello.to_line()), Ok(hello));
    }

    #[test]
    fn line_reader_same_lines_for_every_split(bytes in wire_bytes(1500), cuts in splits(1500)) {
        let read = |cuts: &[usize]| {
            let mut r = LineReader::new();
            let mut out = Vec::new();
            for piece in pieces(&bytes, cuts) {
                let mut rest = piece;
                loop {
                    let taken = r.feed(rest);
                    rest = &rest[taken..];
                    while let Some(line) = r.next_line() {
                        out.push(line);
                    }
                    if rest.is_empty() {
                        break;
                    }
                }
            }
            out
        };
        prop_assert_eq!(read(&cuts), read(&[]));
    }
}

fn any_request() -> impl Strategy<Value = BusRequest> {
    let inject = prop_oneof![
        any::<bool>().prop_map(Inject::Stall),
        Just(Inject::Watchdog),
        (0u16..=1000).prop_map(|permille| Inject::Corrupt { permille }),
        any::<u32>().prop_map(|ms| Inject::Silence { ms }),
        any::<u32>().prop_map(|count| Inject::SensorNack { count }),
        any::<bool>().prop_map(Inject::SensorAir),
        any::<bool>().prop_map(Inject::SensorStuck),
    ];
    prop_oneof![
        Just(BusRequest::Hello),
        (0u8..=0x7F, prop::collection::vec(any::<u8>(), 1..=64))
            .prop_map(|(addr, bytes)| BusRequest::I2cWrite { addr, bytes }),
        (0u8..=0x7F, 1usize..=64).prop_map(|(addr, len)| BusRequest::I2cRead { addr, len }),
        (any::<u32>(), any::<bool>()).prop_map(|(line, level)| BusRequest::GpioSet { line, level }),
        any::<u32>().prop_map(|line| BusRequest::GpioGet { line }),
        inject.prop_map(BusRequest::Inject),
    ]
}
