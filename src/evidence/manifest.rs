//! `MANIFEST.sha256`: the integrity file of an evidence bundle.
//!
//! The format is exactly GNU `sha256sum`'s: one line `<64 lowercase hex>  <file name>\n` per
//! regular file of the bundle directory, sorted by name (byte order), the manifest itself left out.
//! Anyone can therefore check a bundle with `sha256sum -c MANIFEST.sha256`, without this crate.
//!
//! Bundles are flat: a subdirectory, a symbolic link or any other non-regular entry is refused
//! when writing. So are file names `sha256sum` would have to escape (containing `\`, a line break
//! or another control character) or that are not UTF-8: a bundle's names are ours to choose.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Name of the manifest inside the bundle directory.
pub const MANIFEST_FILE: &str = "MANIFEST.sha256";

/// Scratch name the manifest is written under before it is renamed into place.
const MANIFEST_TMP: &str = ".MANIFEST.sha256.tmp";

/// Why [`write_manifest`] could not write the manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: is a subdirectory, but an evidence bundle must be flat", path.display())]
    Subdirectory { path: PathBuf },
    #[error("{}: is not a regular file (symbolic link, device, ...), an evidence bundle holds only regular files", path.display())]
    NotRegularFile { path: PathBuf },
    #[error("{}: file name is not UTF-8 or contains `\\` or a control character, which sha256sum would have to escape", path.display())]
    UnsupportedName { path: PathBuf },
}

/// One thing wrong with a bundle, found by [`verify_manifest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestProblem {
    /// The file's content no longer has the SHA-256 the manifest lists.
    Changed { file: String, expected: String, actual: String },
    /// The manifest lists the file, the bundle does not have it.
    Missing { file: String },
    /// The bundle has an entry the manifest does not list (a subdirectory is named with a trailing `/`).
    Extra { file: String },
    /// A manifest line is not `<64 lowercase hex>  <file name>` with a plain, flat, unique name.
    Malformed { line_no: usize, line: String },
    /// The bundle has no `MANIFEST.sha256`.
    NoManifest,
    /// The file (or the manifest, or the directory itself) exists but could not be read.
    Unreadable { file: String, error: String },
}

impl fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Changed { file, expected, actual } => {
                write!(f, "{file}: changed (SHA-256 expected {}, found {})", short(expected), short(actual))
            }
            Self::Missing { file } => write!(f, "{file}: missing (listed in {MANIFEST_FILE}, not in the bundle)"),
            Self::Extra { file } => write!(f, "{file}: extra (in the bundle, not listed in {MANIFEST_FILE})"),
            Self::Malformed { line_no, line } => write!(
                f,
                "{MANIFEST_FILE} line {line_no}: malformed (expected `<64 lowercase hex>  <file name>`): {line:?}"
            ),
            Self::NoManifest => write!(f, "{MANIFEST_FILE}: missing, the bundle cannot be verified"),
            Self::Unreadable { file, error } => write!(f, "{file}: unreadable ({error})"),
        }
    }
}

impl std::error::Error for ManifestProblem {}

/// The first 12 hex digits and an ellipsis: enough to tell two digests apart in a message.
fn short(hex: &str) -> String {
    match hex.get(..12) {
        Some(head) if hex.len() > 12 => format!("{head}…"),
        _ => hex.to_owned(),
    }
}

/// Hashes every regular file of `dir` and writes `dir/MANIFEST.sha256`, fsynced, replacing any
/// previous one atomically. Returns the `(file name, lowercase hex SHA-256)` pairs it wrote, sorted
/// by name.
///
/// Refuses (and writes nothing) if the directory holds a subdirectory, a non-regular file or a file
/// name `sha256sum` would have to escape.
pub fn write_manifest(dir: &Path) -> Result<Vec<(String, String)>, ManifestError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManifestError::Io { path, source }
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io_err(&path))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(ManifestError::UnsupportedName { path });
        };
        if name == MANIFEST_FILE || name == MANIFEST_TMP {
            continue;
        }
        if file_type.is_dir() {
            return Err(ManifestError::Subdirectory { path });
        }
        if !file_type.is_file() {
            return Err(ManifestError::NotRegularFile { path });
        }
        if !plain_name(&name) {
            return Err(ManifestError::UnsupportedName { path });
        }
        names.push(name);
    }
    names.sort();

    let mut entries = Vec::with_capacity(names.len());
    let mut text = String::new();
    for name in names {
        let path = dir.join(&name);
        let hex = sha256_file(&path).map_err(io_err(&path))?;
        text.push_str(&hex);
        text.push_str("  ");
        text.push_str(&name);
        text.push('\n');
        entries.push((name, hex));
    }

    let tmp = dir.join(MANIFEST_TMP);
    let target = dir.join(MANIFEST_FILE);
    let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, &target).map_err(io_err(&target))?;
    // Make the rename itself durable.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    Ok(entries)
}

/// Checks `dir` against its `MANIFEST.sha256`: every listed file present with the listed SHA-256,
/// no unlisted entry, every manifest line well formed. Returns the number of files verified, or
/// every problem found (not only the first), malformed lines first, then by file name.
pub fn verify_manifest(dir: &Path) -> Result<usize, Vec<ManifestProblem>> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = match fs::read(&manifest_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(vec![ManifestProblem::NoManifest]),
        Err(e) => {
            return Err(vec![ManifestProblem::Unreadable { file: MANIFEST_FILE.to_owned(), error: e.to_string() }]);
        }
    };

    let mut problems = Vec::new();
    let mut listed: Vec<(String, String)> = Vec::new();
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    if !bytes.is_empty() {
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            let line_no = i + 1;
            match parse_line(raw) {
                Some((hex, name)) if !listed.iter().any(|(n, _)| n == name) => {
                    listed.push((name.to_owned(), hex.to_owned()));
                }
                _ => problems
                    .push(ManifestProblem::Malformed { line_no, line: String::from_utf8_lossy(raw).into_owned() }),
            }
        }
    }

    let mut present: Vec<String> = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                match entry {
                    Ok(entry) => {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if name == MANIFEST_FILE {
                            continue;
                        }
                        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
                        present.push(if is_dir { format!("{name}/") } else { name });
                    }
                    Err(e) => problems.push(ManifestProblem::Unreadable { file: dir_name(dir), error: e.to_string() }),
                }
            }
        }
        Err(e) => problems.push(ManifestProblem::Unreadable { file: dir_name(dir), error: e.to_string() }),
    }

    let mut file_problems = Vec::new();
    for (name, expected) in &listed {
        let path = dir.join(name);
        // `symlink_metadata`: a listed name must be the regular file itself, not a link to elsewhere.
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                file_problems.push(ManifestProblem::Missing { file: name.clone() });
            }
            Ok(meta) if !meta.is_file() => file_problems
                .push(ManifestProblem::Unreadable { file: name.clone(), error: "not a regular file".to_owned() }),
            Err(e) => file_problems.push(ManifestProblem::Unreadable { file: name.clone(), error: e.to_string() }),
            Ok(_) => match sha256_file(&path) {
                Ok(actual) if actual == *expected => {}
                Ok(actual) => file_problems.push(ManifestProblem::Changed {
                    file: name.clone(),
                    expected: expected.clone(),
                    actual,
                }),
                Err(e) => file_problems.push(ManifestProblem::Unreadable { file: name.clone(), error: e.to_string() }),
            },
        }
    }
    for name in present {
        if !listed.iter().any(|(n, _)| *n == name) {
            file_problems.push(ManifestProblem::Extra { file: name });
        }
    }
    file_problems.sort_by(|a, b| problem_file(a).cmp(problem_file(b)));
    problems.extend(file_problems);

    if problems.is_empty() { Ok(listed.len()) } else { Err(problems) }
}

fn problem_file(p: &ManifestProblem) -> &str {
    match p {
        ManifestProblem::Changed { file, .. }
        | ManifestProblem::Missing { file }
        | ManifestProblem::Extra { file }
        | ManifestProblem::Unreadable { file, .. } => file,
        ManifestProblem::Malformed { .. } | ManifestProblem::NoManifest => "",
    }
}

fn dir_name(dir: &Path) -> String {
    dir.display().to_string()
}

/// Parses `<64 lowercase hex>  <name>` (or `<hex> *<name>`, sha256sum's binary-mode marker, which
/// means the same on Linux). The name must be flat and plain: no `/`, not `.`/`..`, not the
/// manifest itself.
fn parse_line(raw: &[u8]) -> Option<(&str, &str)> {
    let line = std::str::from_utf8(raw).ok()?;
    let hex = line.get(..64)?;
    if !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let rest = &line[64..];
    let name = rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *"))?;
    (plain_name(name) && name != MANIFEST_FILE).then_some((hex, name))
}

/// A name that stays one flat entry of the bundle and needs no escaping in `sha256sum` format.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\\')
        && !name.chars().any(char::is_control)
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A bundle of a few files, one empty, one binary, one with a space in its name.
    fn bundle() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("report.html"), "<html>verdict: PASS</html>\n").unwrap();
        fs::write(dir.path().join("samples.csv"), "t_s,flow_ul_h\n0,10.0\n1,10.1\n").unwrap();
        fs::write(dir.path().join("binary.bin"), [0u8, 0xff, b'\n', b'\r', 0x80]).unwrap();
        fs::write(dir.path().join("empty.txt"), "").unwrap();
        fs::write(dir.path().join("run log.txt"), "spaces in names are fine\n").unwrap();
        dir
    }

    fn manifest_text(dir: &Path) -> String {
        fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap()
    }

    #[test]
    fn roundtrip_passes_and_format_is_sorted_sha256sum_lines() {
        let dir = bundle();
        let entries = write_manifest(dir.path()).unwrap();
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["binary.bin", "empty.txt", "report.html", "run log.txt", "samples.csv"]);
        let text = manifest_text(dir.path());
        // SHA-256 of the empty string, a known value.
        assert!(text.contains("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty.txt\n"));
        let expected: String = entries.iter().map(|(n, h)| format!("{h}  {n}\n")).collect();
        assert_eq!(text, expected);
        assert!(!dir.path().join(MANIFEST_TMP).exists());
        assert_eq!(verify_manifest(dir.path()), Ok(5));
        // Writing again is idempotent (the old manifest is not hashed into the new one).
        assert_eq!(write_manifest(dir.path()).unwrap(), entries);
        assert_eq!(verify_manifest(dir.path()), Ok(5));
    }

    #[test]
    fn flipping_one_byte_of_any_file_is_reported_as_changed() {
        let dir = bundle();
        let entries = write_manifest(dir.path()).unwrap();
        for (name, hash) in &entries {
            let path = dir.path().join(name);
            let original = fs::read(&path).unwrap();
            let mut flipped = original.clone();
            if flipped.is_empty() {
                flipped.push(0);
            } else {
                let mid = flipped.len() / 2;
                flipped[mid] ^= 0x01;
            }
            fs::write(&path, &flipped).unwrap();
            let problems = verify_manifest(dir.path()).unwrap_err();
            assert_eq!(problems.len(), 1, "{name}: {problems:?}");
            match &problems[0] {
                ManifestProblem::Changed { file, expected, actual } => {
                    assert_eq!(file, name);
                    assert_eq!(expected, hash);
                    assert_ne!(actual, hash);
                    assert_eq!(actual.len(), 64);
                }
                other => panic!("{name}: expected Changed, got {other:?}"),
            }
            let message = problems[0].to_string();
            assert!(message.starts_with(&format!("{name}: changed (SHA-256 expected {}…, found ", &hash[..12])));
            assert!(!message.contains('\n'));
            fs::write(&path, &original).unwrap();
            assert_eq!(verify_manifest(dir.path()), Ok(entries.len()));
        }
    }

    #[test]
    fn deleted_file_is_missing_and_added_file_is_extra_all_reported() {
        let dir = bundle();
        write_manifest(dir.path()).unwrap();
        fs::remove_file(dir.path().join("samples.csv")).unwrap();
        fs::write(dir.path().join("zz-notes.txt"), "added after sealing").unwrap();
        fs::write(dir.path().join("a-added.txt"), "also added").unwrap();
        fs::write(dir.path().join("report.html"), "<html>verdict: FAIL</html>\n").unwrap();
        let problems = verify_manifest(dir.path()).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(problems[0], ManifestProblem::Extra { file: "a-added.txt".into() });
        assert!(matches!(&problems[1], ManifestProblem::Changed { file, .. } if file == "report.html"));
        assert_eq!(problems[2], ManifestProblem::Missing { file: "samples.csv".into() });
        assert_eq!(problems[3], ManifestProblem::Extra { file: "zz-notes.txt".into() });
        assert_eq!(problems[2].to_string(), "samples.csv: missing (listed in MANIFEST.sha256, not in the bundle)");
        assert_eq!(problems[3].to_string(), "zz-notes.txt: extra (in the bundle, not listed in MANIFEST.sha256)");
    }

    #[test]
    fn subdirectory_appearing_after_sealing_is_extra() {
        let dir = bundle();
        write_manifest(dir.path()).unwrap();
        fs::create_dir(dir.path().join("more")).unwrap();
        assert_eq!(verify_manifest(dir.path()), Err(vec![ManifestProblem::Extra { file: "more/".into() }]));
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number_and_the_rest_still_checked() {
        let dir = bundle();
        write_manifest(dir.path()).unwrap();
        let good = manifest_text(dir.path());
        let lines: Vec<&str> = good.lines().collect();
        let hex = &lines[0][..64];
        let mut text = String::new();
        text.push_str(lines[0]); // line 1: fine
        text.push('\n');
        text.push_str("not a checksum line\n"); // 2
        text.push_str(&format!("{}  ../../etc/passwd\n", hex)); // 3: escapes the bundle
        text.push_str(&format!("{}  report.html\n", hex.to_uppercase())); // 4: uppercase hex
        text.push_str(&format!("{} report.html\n", hex)); // 5: one space
        text.push('\n'); // 6: empty
        text.push_str(lines[0]); // 7: duplicate of line 1
        text.push('\n');
        for line in &lines[1..] {
            text.push_str(line);
            text.push('\n');
        }
        fs::write(dir.path().join(MANIFEST_FILE), text).unwrap();
        let problems = verify_manifest(dir.path()).unwrap_err();
        let malformed: Vec<usize> = problems
            .iter()
            .map(|p| match p {
                ManifestProblem::Malformed { line_no, .. } => *line_no,
                other => panic!("only malformed lines expected, got {other}"),
            })
            .collect();
        assert_eq!(malformed, [2, 3, 4, 5, 6, 7]);
        assert_eq!(
            problems[0].to_string(),
            "MANIFEST.sha256 line 2: malformed (expected `<64 lowercase hex>  <file name>`): \"not a checksum line\""
        );
    }

    #[test]
    fn missing_manifest_is_reported() {
        let dir = bundle();
        assert_eq!(verify_manifest(dir.path()), Err(vec![ManifestProblem::NoManifest]));
        assert_eq!(ManifestProblem::NoManifest.to_string(), "MANIFEST.sha256: missing, the bundle cannot be verified");
    }

    #[test]
    fn subdirectory_is_refused_and_nothing_is_written() {
        let dir = bundle();
        fs::create_dir(dir.path().join("nested")).unwrap();
        let err = write_manifest(dir.path()).unwrap_err();
        assert!(matches!(&err, ManifestError::Subdirectory { path } if path.ends_with("nested")), "{err:?}");
        assert!(err.to_string().contains("nested: is a subdirectory"), "{err}");
        assert!(!dir.path().join(MANIFEST_FILE).exists());
    }

    #[test]
    fn names_sha256sum_would_escape_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("back\\slash.txt"), "x").unwrap();
        let err = write_manifest(dir.path()).unwrap_err();
        assert!(matches!(err, ManifestError::UnsupportedName { .. }), "{err:?}");
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("new\nline.txt"), "x").unwrap();
        assert!(matches!(write_manifest(dir.path()), Err(ManifestError::UnsupportedName { .. })));
    }

    #[test]
    fn io_error_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("no-such-bundle");
        let err = write_manifest(&gone).unwrap_err();
        assert!(matches!(&err, ManifestError::Io { path, .. } if *path == gone));
        assert!(err.to_string().starts_with(&format!("{}: ", gone.display())), "{err}");
    }

    #[test]
    fn written_manifest_is_accepted_by_gnu_sha256sum() {
        let dir = bundle();
        write_manifest(dir.path()).unwrap();
        let output = match Command::new("sha256sum")
            .arg("-c")
            .arg("--strict")
            .arg(MANIFEST_FILE)
            .current_dir(dir.path())
            .output()
        {
            Ok(output) => output,
            Err(e) => panic!("cannot run `sha256sum` (GNU coreutils), needed to check manifest compatibility: {e}"),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "sha256sum -c failed:\n{stdout}\n{stderr}");
        assert_eq!(stdout.lines().filter(|l| l.ends_with(": OK")).count(), 5, "{stdout}");
        assert!(stdout.contains("run log.txt: OK"), "{stdout}");

        // And it sees the same tampering we do.
        fs::write(dir.path().join("report.html"), "<html>verdict: FAIL</html>\n").unwrap();
        let output = Command::new("sha256sum").arg("-c").arg(MANIFEST_FILE).current_dir(dir.path()).output().unwrap();
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stdout).contains("report.html: FAILED"));
    }
}
