//! Any bytes as a bench file: a bench file or an error located inside the file, bounded and
//! printable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rig::bench::{BenchFile, BenchFileError};

fuzz_target!(|data: &[u8]| {
    match BenchFile::parse_bytes(std::path::Path::new("fuzz.yaml"), data) {
        Ok(_) | Err(BenchFileError::Read { .. }) => {}
        Err(e @ BenchFileError::Invalid { line, .. }) => {
            let lines = yaml_lines(data);
            assert!(line >= 1 && line <= lines + 1, "line {line} of {lines}: {e}");
            let text = e.to_string();
            assert!(text.len() < 4000 && !text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
        }
    }
});

/// Lines as YAML counts them: `\r\n`, `\n` and a lone `\r` each end one (a lone CR is a line
/// break in YAML 1.2, and the rig's positions count it; `str::lines` does not).
fn yaml_lines(data: &[u8]) -> usize {
    let breaks = data.iter().enumerate().filter(|&(i, &b)| b == b'\n' || (b == b'\r' && data.get(i + 1) != Some(&b'\n'))).count();
    breaks.max(1)
}
