//! `rig verify` on a bundle built to mislead or stall it: links out of the bundle, to a FIFO or
//! in a loop, FIFOs, huge files, manifest lines with `../`, absolute paths, NUL, duplicates,
//! non-UTF-8 bytes, names holding escape sequences. Verifying must fail with a reason, never
//! follow a link out of the bundle, never hang, never read without bound, and never print the
//! bundle's bytes raw.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use rig::evidence::bundle::{BUNDLE_FILES, verify_bundle};
use rig::evidence::manifest::{MANIFEST_FILE, write_manifest};

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A sealed bundle of the six bundle files (small contents), inside `root/bundle`, and a file
/// `root/outside.txt` beside it.
fn sealed_bundle(root: &Path) -> PathBuf {
    let dir = root.join("bundle");
    std::fs::create_dir(&dir).unwrap();
    for name in BUNDLE_FILES {
        std::fs::write(dir.join(name), format!("contents of {name}\n")).unwrap();
    }
    write_manifest(&dir).unwrap();
    std::fs::write(root.join("outside.txt"), b"not part of the bundle\n").unwrap();
    dir
}

/// Verifies on a thread, failing the test if it has not answered within 20 s.
fn verify_within_20_s(dir: &Path) -> Result<usize, Vec<String>> {
    let dir = dir.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(verify_bundle(&dir, None).map(|v| v.files));
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("verify must answer, not hang")
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
}

/// Every problem printable and bounded: nothing from the bundle reaches the terminal raw.
fn assert_printable(problems: &[String]) {
    for p in problems {
        assert!(p.len() < 1200, "{} bytes: {}", p.len(), &p[..200]);
        assert!(!p.chars().any(char::is_control), "{p:?}");
    }
}

/// One way to make a sealed bundle hostile.
#[derive(Debug, Clone)]
enum Attack {
    /// A bundle file replaced by a link to a file outside, listed with the outside file's hash
    /// (so following it would verify).
    LinkOut(usize),
    /// A bundle file replaced by a link to a FIFO outside, or by a FIFO.
    LinkToFifo(usize),
    Fifo(usize),
    /// A bundle file replaced by a link that loops.
    LinkLoop(usize),
    /// A bundle file replaced by a directory.
    Directory(usize),
    /// A manifest line appended.
    Line(Vec<u8>),
    /// A manifest line of a bundle file repeated.
    Duplicate(usize),
    /// A file named with this name added to the bundle (not listed).
    ExtraFile(String),
}

fn attack() -> impl Strategy<Value = Attack> {
    let file = 0..BUNDLE_FILES.len();
    let hex = "[0-9a-f]{64}";
    let line = prop_oneof![
        hex.prop_map(|h| format!("{h}  ../outside.txt").into_bytes()),
        hex.prop_map(|h| format!("{h}  /etc/passwd").into_bytes()),
        hex.prop_map(|h| format!("{h}  sub/x").into_bytes()),
        hex.prop_map(|h| format!("{h}  ..").into_bytes()),
        hex.prop_map(|h| format!("{h}  a\0b").into_bytes()),
        hex.prop_map(|h| [format!("{h}  ").into_bytes(), vec![0xFF, 0xFE, b'x']].concat()),
        hex.prop_map(|h| format!("{h}  {}", "n".repeat(5000)).into_bytes()),
        hex.prop_map(|h| format!("{h}  evil\u{1b}[2J\r").into_bytes()),
        hex.prop_map(|h| format!("{}  record.json", h.to_uppercase()).into_bytes()),
        hex.prop_map(|h| format!("{h} record.json").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|mut b| {
            b.retain(|&c| c != b'\n');
            b
        }),
    ];
    prop_oneof![
        file.clone().prop_map(Attack::LinkOut),
        file.clone().prop_map(Attack::LinkToFifo),
        file.clone().prop_map(Attack::Fifo),
        file.clone().prop_map(Attack::LinkLoop),
        file.clone().prop_map(Attack::Directory),
        line.prop_map(Attack::Line),
        file.prop_map(Attack::Duplicate),
        "[a-z\u{1b}\u{0}-\u{1f}\\[\\]]{1,30}".prop_map(Attack::ExtraFile),
    ]
}

/// Applies `attack` to the sealed bundle `dir` (in `root`).
fn apply(root: &Path, dir: &Path, attack: &Attack) {
    let manifest = dir.join(MANIFEST_FILE);
    let replace = |i: usize| {
        let path = dir.join(BUNDLE_FILES[i]);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&path);
        path
    };
    let append = |line: &[u8]| {
        let mut m = std::fs::read(&manifest).unwrap();
        m.extend_from_slice(line);
        m.push(b'\n');
        std::fs::write(&manifest, m).unwrap();
    };
    match attack {
        Attack::LinkOut(i) => {
            let outside = root.join("outside.txt");
            std::os::unix::fs::symlink(&outside, replace(*i)).unwrap();
            // The manifest lists the outside file's hash: only following the link would match.
            let hash = sha256_hex(&std::fs::read(&outside).unwrap());
            let entry = format!("  {}", BUNDLE_FILES[*i]);
            let fixed: Vec<Vec<u8>> = std::fs::read(&manifest)
                .unwrap()
                .split(|&b| b == b'\n')
                .map(|l| if l.ends_with(entry.as_bytes()) { format!("{hash}{entry}").into_bytes() } else { l.to_vec() })
                .collect();
            std::fs::write(&manifest, fixed.join(&b'\n')).unwrap();
        }
        Attack::LinkToFifo(i) => {
            let fifo = root.join(format!("fifo-{i}"));
            if !fifo.exists() {
                mkfifo(&fifo);
            }
            std::os::unix::fs::symlink(&fifo, replace(*i)).unwrap();
        }
        Attack::Fifo(i) => mkfifo(&replace(*i)),
        Attack::LinkLoop(i) => {
            let path = replace(*i);
            let other = dir.join(format!("loop-{i}"));
            let _ = std::fs::remove_file(&other);
            std::os::unix::fs::symlink(&other, &path).unwrap();
            std::os::unix::fs::symlink(&path, &other).unwrap();
        }
        Attack::Directory(i) => std::fs::create_dir(replace(*i)).unwrap(),
        Attack::Line(line) => append(line),
        Attack::Duplicate(i) => {
            let entry = format!("  {}", BUNDLE_FILES[*i]);
            let m = std::fs::read(&manifest).unwrap();
            let line = m.split(|&b| b == b'\n').find(|l| l.ends_with(entry.as_bytes())).unwrap().to_vec();
            append(&line);
        }
        Attack::ExtraFile(name) => {
            let _ = std::fs::write(dir.join(name), b"x");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any combination of attacks: verify answers promptly, fails with a printable, bounded
    /// reason, and reports every bundle file made a link as one, never as verified.
    #[test]
    fn a_hostile_bundle_fails_with_a_reason_and_no_link_is_followed(attacks in prop::collection::vec(attack(), 1..5)) {
        let root = tempfile::tempdir().unwrap();
        let dir = sealed_bundle(root.path());
        prop_assert_eq!(verify_within_20_s(&dir), Ok(BUNDLE_FILES.len()));
        for a in &attacks {
            apply(root.path(), &dir, a);
        }
        // An extra file whose name the file system refused leaves the bundle intact.
        let changed = attacks.iter().any(|a| !matches!(a, Attack::ExtraFile(n) if !dir.join(n).exists()));
        let result = verify_within_20_s(&dir);
        if !changed {
            return Ok(());
        }
        let problems = result.expect_err("a changed bundle must not verify");
        prop_assert!(!problems.is_empty());
        assert_printable(&problems);
        for a in &attacks {
            if let Attack::LinkOut(i) | Attack::LinkToFifo(i) | Attack::LinkLoop(i) = a {
                let name = BUNDLE_FILES[*i];
                prop_assert!(
                    problems.iter().any(|p| p.starts_with(&format!("{name}: unreadable: it is a symbolic link"))
                        || p.starts_with(&format!("{name}: missing"))
                        || p.starts_with(&format!("{name}: unreadable: it is a directory"))
                        || p.starts_with(&format!("{name}: unreadable: it is a FIFO"))),
                    "{} must be refused as a link: {:?}", name, problems
                );
            }
        }
    }
}

#[test]
fn a_link_out_of_the_bundle_listed_with_its_targets_hash_is_refused_as_a_link() {
    let root = tempfile::tempdir().unwrap();
    let dir = sealed_bundle(root.path());
    apply(root.path(), &dir, &Attack::LinkOut(0));
    let problems = verify_within_20_s(&dir).unwrap_err();
    assert_eq!(
        problems,
        [format!(
            "{}: unreadable: it is a symbolic link, not a regular file: not read (a link is not followed here: it may lead anywhere)",
            BUNDLE_FILES[0]
        )]
    );
}

#[test]
fn manifest_lines_outside_the_bundle_or_unreadable_are_refused_by_line() {
    let root = tempfile::tempdir().unwrap();
    let dir = sealed_bundle(root.path());
    let hex = "0".repeat(64);
    for line in [
        format!("{hex}  ../outside.txt").into_bytes(),
        format!("{hex}  /etc/passwd").into_bytes(),
        format!("{hex}  a\0b").into_bytes(),
        [format!("{hex}  ").into_bytes(), vec![0xFF]].concat(),
        format!("{hex}  evil\u{1b}[2J{}", "n".repeat(10_000)).into_bytes(),
    ] {
        apply(root.path(), &dir, &Attack::Line(line));
    }
    apply(root.path(), &dir, &Attack::Duplicate(1));
    let problems = verify_within_20_s(&dir).unwrap_err();
    assert_printable(&problems);
    let lines: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap()).collect();
    let expected: Vec<String> = (7..=12).map(|n| format!("MANIFEST.sha256 line {n}")).collect();
    assert_eq!(lines, expected, "{problems:#?}");
    assert!(problems[0].contains("refused: \"../outside.txt\" is outside the bundle"), "{}", problems[0]);
    assert!(problems[1].contains("refused: \"/etc/passwd\" is outside the bundle"), "{}", problems[1]);
    assert!(problems[2].contains("malformed") && problems[2].contains("a\\0b"), "{}", problems[2]);
    assert!(problems[4].contains("evil\\u{1b}[2J") && problems[4].ends_with("…\""), "{}", problems[4]);
    assert!(problems[5].contains("malformed"), "a duplicate entry is refused: {}", problems[5]);
}

#[test]
fn a_file_named_with_an_escape_sequence_is_shown_escaped() {
    let root = tempfile::tempdir().unwrap();
    let dir = sealed_bundle(root.path());
    std::fs::write(dir.join("x\u{1b}]0;owned\u{7}\n\r"), b"x").unwrap();
    let problems = verify_within_20_s(&dir).unwrap_err();
    assert_printable(&problems);
    assert_eq!(problems, ["x\\u{1b}]0;owned\\u{7}\\n\\r: extra (in the bundle, not listed in MANIFEST.sha256)"]);
}

#[test]
fn a_huge_sparse_manifest_or_bundle_file_is_refused_without_reading_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = sealed_bundle(root.path());
    // 65 GiB that occupy no disk: hashing them would take minutes; reading them, all memory.
    let huge = dir.join(BUNDLE_FILES[1]);
    std::fs::OpenOptions::new().write(true).open(&huge).unwrap().set_len(65 << 30).unwrap();
    let problems = verify_within_20_s(&dir).unwrap_err();
    assert_eq!(
        problems,
        [format!(
            "{}: unreadable: the file is 65 GiB; a file of an evidence bundle is at most 64 GiB (far more than any case writes): not read",
            BUNDLE_FILES[1]
        )]
    );
    std::fs::OpenOptions::new().write(true).open(dir.join(MANIFEST_FILE)).unwrap().set_len(1 << 40).unwrap();
    let problems = verify_within_20_s(&dir).unwrap_err();
    assert!(
        problems[0].starts_with(
            "MANIFEST.sha256: unreadable: the file is 1024 GiB; an evidence bundle's manifest is at most 64 KiB"
        ),
        "{problems:?}"
    );
}

#[test]
fn rig_verify_on_a_hostile_bundle_exits_1_promptly_with_the_reasons() {
    let root = tempfile::tempdir().unwrap();
    let dir = sealed_bundle(root.path());
    apply(root.path(), &dir, &Attack::LinkToFifo(2));
    apply(root.path(), &dir, &Attack::Fifo(3));
    apply(root.path(), &dir, &Attack::LinkLoop(4));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rig"))
        .arg("verify")
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("rig verify hung on a hostile bundle");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("{}: unreadable: it is a symbolic link", BUNDLE_FILES[2])), "{stdout}");
    assert!(stdout.contains(&format!("{}: unreadable: it is a FIFO (named pipe)", BUNDLE_FILES[3])), "{stdout}");
    assert!(stdout.contains(&format!("{}: unreadable: it is a symbolic link", BUNDLE_FILES[4])), "{stdout}");
    assert!(stdout.contains("loop-4: extra"), "{stdout}");
}
