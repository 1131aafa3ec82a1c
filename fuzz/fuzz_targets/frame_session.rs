//! Any bytes from the pump's service port, in any chunking (the first byte says where to cut):
//! the frame decoder and the session never panic and give the same result however the bytes
//! are split (tests/codec_properties.rs states the same as properties).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rig::clock::RigTime;
use rig::protocol::FrameDecoder;
use rig::protocol::session::{PumpSession, SessionConfig, Submission};

fn frames(pieces: &[&[u8]]) -> Vec<String> {
    let mut d = FrameDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        let mut rest: &[u8] = piece;
        loop {
            let taken = d.feed(rest);
            rest = rest.get(taken..).unwrap_or_default();
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

fn session(pieces: &[&[u8]]) -> Vec<String> {
    let mut s = PumpSession::new(SessionConfig::default());
    s.submit(Submission::Command(rig::protocol::Command::Status));
    let _ = s.poll_transmit(RigTime::ZERO);
    let mut out = Vec::new();
    for piece in pieces {
        s.handle_input(RigTime::from_millis(1), piece);
        while let Some(o) = s.poll_output() {
            out.push(format!("{o:?}"));
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let at = usize::from(cut).min(bytes.len());
    let (a, b) = bytes.split_at(at);
    assert_eq!(frames(&[a, b]), frames(&[bytes]));
    assert_eq!(session(&[a, b]), session(&[bytes]));
});
