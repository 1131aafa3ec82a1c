//! Any bytes as a bench file: a bench file or an error located inside the file, bounded and
//! printable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rig::bench::{BenchFile, BenchFileError};

fuzz_target!(|data: &[u8]| {
    match BenchFile::parse_bytes(std::path::Path::new("fuzz.yaml"), data) {
        Ok(_) | Err(BenchFileError::Read { .. }) => {}
        Err(e @ BenchFileError::Invalid { line, .. }) => {
            let lines = String::from_utf8_lossy(data).lines().count().max(1);
            assert!(line >= 1 && line <= lines + 1, "line {line} of {lines}: {e}");
            let text = e.to_string();
            assert!(text.len() < 4000 && !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
        }
    }
});
