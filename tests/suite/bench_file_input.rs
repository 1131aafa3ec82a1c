//! A bench file is read from outside: whatever its path names and whatever it holds, the rig
//! answers promptly with exit code 2 and a reason (what the file is, where it is wrong, what to
//! check), bounded and printable, never a hang, a panic or the file's bytes echoed back.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rig::bench::{BenchFile, BenchFileError};

/// A complete, valid twin bench file.
const TWIN: &str = "\
name: twin
connection:
  kind: twin
flow_sensor:
  model: LD20-0600L
  address: 0x08
  serial_number: \"539230209\"
  calibration_due: 2099-12-31
  accuracy: { percent_of_reading: 5.0, floor_ul_h: 1.0 }
valve:
  line: 17
  model: test valve
  serial_number: V-1
";

/// Runs `rig args...` from the repository, killing it (and failing the test) if it has not
/// ended within 30 s: a rig that waits on its input fails here rather than hanging the suite.
/// Returns the exit code and stderr.
fn rig_within_30_s(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rig"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`rig {args:?}` still running after 30 s: it waits on its input");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
}

#[test]
fn a_fifo_as_the_bench_file_ends_check_and_run_promptly_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.yaml");
    mkfifo(&fifo);
    for command in ["check", "run"] {
        let (code, stderr) =
            rig_within_30_s(&[os(command), os("--bench"), fifo.as_os_str(), os("test-plans/delivery_accuracy.yaml")]);
        assert_eq!(code, Some(2), "`rig {command}`: exit 2 for a bench file that cannot be used; {stderr}");
        assert!(stderr.contains(&fifo.display().to_string()), "names the file: {stderr}");
        assert!(stderr.contains("it is a FIFO (named pipe), not a regular file: not read"), "{stderr}");
        assert!(stderr.contains("hint: give the path of a bench file"), "{stderr}");
    }
}

#[test]
fn a_device_a_directory_and_an_oversized_file_are_refused_saying_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = rig_within_30_s(&[os("check"), os("--bench"), os("/dev/zero")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("it is a character device, not a regular file: not read"), "{stderr}");
    let (code, stderr) = rig_within_30_s(&[os("check"), os("--bench"), dir.path().as_os_str()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("it is a directory"), "{stderr}");
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, format!("{TWIN}description: \"{}\"\n", "x".repeat(2 * 1024 * 1024))).unwrap();
    let (code, stderr) = rig_within_30_s(&[os("check"), os("--bench"), big.as_os_str()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("a bench file is at most 1 MiB (a bench file is written by hand"), "{stderr}");
    assert!(stderr.len() < 2000, "{} bytes of stderr", stderr.len());
}

#[test]
fn a_symlink_loop_is_called_one_not_a_permission_problem() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let err = BenchFile::load(&a).unwrap_err().to_string();
    assert!(err.contains("its symbolic links loop"), "{err}");
    assert!(err.contains("hint: a symbolic link on the path leads back to itself"), "{err}");
    assert!(!err.contains("ermission"), "{err}");
}

#[test]
fn a_bench_file_through_a_link_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("real.yaml");
    std::fs::write(&file, TWIN).unwrap();
    let link = dir.path().join("bench.yaml");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    assert_eq!(BenchFile::load(&link).unwrap().name, "twin");
}

/// The lines of an error as a person sees them: bounded, nothing unprintable.
fn assert_printable_and_bounded(err: &str) {
    assert!(err.len() < 2000, "{} bytes: {}", err.len(), &err[..300]);
    assert!(!err.chars().any(|c| c.is_control() && c != '\n' && c != '\t'), "{err:?}");
}

#[test]
fn a_200_kb_line_is_not_echoed() {
    let long = format!("flow_sensor_notes: {}\n", "y".repeat(200 * 1024));
    let err = BenchFile::parse(Path::new("b.yaml"), &format!("{TWIN}{long}")).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("b.yaml:14:1: unknown field `flow_sensor_notes`"), "{}", &text[..200]);
    assert_printable_and_bounded(&text);
    // The same with the long line being the bad value itself.
    let err =
        BenchFile::parse(Path::new("b.yaml"), &TWIN.replace("kind: twin", &format!("kind: {}", "z".repeat(200_000))))
            .unwrap_err();
    assert_printable_and_bounded(&err.to_string());
}

#[test]
fn nul_bytes_and_invalid_utf8_are_located_not_echoed() {
    let err = BenchFile::parse(Path::new("b.yaml"), &TWIN.replace("name: twin", "name: tw\0in\x1b[2J")).unwrap_err();
    assert_printable_and_bounded(&err.to_string());
    let mut bytes = TWIN.as_bytes().to_vec();
    let at = TWIN.find("test valve").unwrap();
    bytes[at + 4] = 0xFF;
    let err = BenchFile::parse_bytes(Path::new("b.yaml"), &bytes).unwrap_err();
    let BenchFileError::Invalid { line, column, message, .. } = &err else { panic!("{err}") };
    assert_eq!((*line, *column, message.as_str()), (12, 14, "the file is not UTF-8 text"), "{err}");
    assert!(err.to_string().contains("hint: save the bench file as UTF-8"), "{err}");
}

/// Found by the cargo-fuzz target `bench_file`: YAML breaks lines at a lone CR, so errors were
/// located on lines the snippet could not find (an empty snippet, a line past the file's end).
#[test]
fn a_file_with_cr_line_breaks_is_located_on_the_lines_yaml_sees() {
    let text = TWIN.replace('\n', "\r").replace("  address: 0x08", "  adress: 0x08");
    let err = BenchFile::parse(Path::new("b.yaml"), &text).unwrap_err();
    let BenchFileError::Invalid { line, column, snippet, .. } = &err else { panic!("{err}") };
    assert_eq!((*line, *column), (6, 3), "{err}");
    assert!(snippet.starts_with("   6 |   adress: 0x08\n"), "{snippet:?}");
    let err = BenchFile::parse_bytes(Path::new("b.yaml"), b"\n\r#").unwrap_err();
    assert_located_inside("\n\n#", &err);
}

/// Where an error says the file is wrong: inside the file (line 1 of an empty file).
fn assert_located_inside(text: &str, err: &BenchFileError) {
    let BenchFileError::Invalid { line, column, snippet, .. } = err else { panic!("not located: {err}") };
    let lines: Vec<&str> = text.lines().collect();
    let line_count = lines.len().max(1);
    assert!((1..=line_count + 1).contains(line), "line {line} of {line_count}: {err}");
    let width = lines.get(line - 1).map_or(0, |l| l.chars().count());
    assert!(*column >= 1 && *column <= width + 1, "column {column} of a {width}-character line: {err}");
    assert!(snippet.len() < 1000, "{snippet}");
}

/// Text built from the pieces a bench file is made of, in any order and nesting: keys, values
/// and YAML punctuation, near-valid more often than random bytes would be.
fn yamlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("name: ".to_string()),
        Just("connection:\n".to_string()),
        Just("  kind: ".to_string()),
        Just("twin".to_string()),
        Just("sim-process".to_string()),
        Just("hardware".to_string()),
        Just("  baud: ".to_string()),
        Just("  serial: /dev/ttyUSB0\n".to_string()),
        Just("flow_sensor:\n".to_string()),
        Just("  address: ".to_string()),
        Just("valve:\n  line: ".to_string()),
        Just("  accuracy: { percent_of_reading: ".to_string()),
        Just("&a [*a, *a]".to_string()),
        Just("*a".to_string()),
        Just("[".to_string()),
        Just("{".to_string()),
        Just("- ".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("\t".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("!!binary ".to_string()),
        Just("\0".to_string()),
        Just("é".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "-?[0-9]{1,30}(\\.[0-9]{0,20})?(e[0-9]{1,4})?",
        "[a-z_]{1,12}: ",
        "[ -~]{0,20}",
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any bytes: no panic; either a bench file or an error located inside the file.
    #[test]
    fn any_bytes_give_a_bench_file_or_a_located_error(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        match BenchFile::parse_bytes(Path::new("b.yaml"), &bytes) {
            Ok(_) => {}
            Err(e) => assert_located_inside(&String::from_utf8_lossy(&bytes), &e),
        }
    }

    /// YAML-ish text: no panic; a bench file or an error located inside it, bounded and printable.
    #[test]
    fn yamlish_text_gives_a_bench_file_or_a_located_error(text in yamlish()) {
        match BenchFile::parse(Path::new("b.yaml"), &text) {
            Ok(_) => {}
            Err(e) => {
                assert_located_inside(&text, &e);
                assert_printable_and_bounded(&e.to_string());
            }
        }
    }

    /// A valid file with one line replaced by junk: still no panic and a located error (or, if
    /// the junk happens to be valid, a bench file).
    #[test]
    fn a_valid_file_with_one_line_spoiled_gives_a_located_error(line in 0usize..14, junk in "[ -~]{0,40}") {
        let text: String = TWIN.lines().enumerate()
            .map(|(i, l)| if i == line { format!("{junk}\n") } else { format!("{l}\n") })
            .collect();
        if let Err(e) = BenchFile::parse(Path::new("b.yaml"), &text) {
            assert_located_inside(&text, &e);
        }
    }
}

#[test]
fn the_twin_file_used_here_is_valid() {
    BenchFile::parse(Path::new("b.yaml"), TWIN).unwrap();
}
