//! `MANIFEST.sha256`: the integrity file of an evidence bundle.
//!
//! The format is exactly GNU `sha256sum`'s: one line `<64 lowercase hex>  <file name>\n` per
//! regular file of the bundle directory, sorted by name (byte order), the manifest itself and its
//! signature (`MANIFEST.sha256.sig`, see [`super::signature`]) left out. Anyone can therefore
//! check a bundle with `sha256sum -c MANIFEST.sha256`, without this crate.
//!
//! Bundles are flat: a subdirectory, a symbolic link or any other non-regular entry is refused
//! when writing. So are file names `sha256sum` would have to escape (containing `\`, a line break
//! or another control character) or that are not UTF-8: a bundle's names are ours to choose.
//!
//! A bundle is sealed once: [`write_manifest`] refuses a folder that already has a manifest.
//!
//! Verifying treats the bundle as hostile: only regular files are read, each opened without
//! following a symbolic link and without blocking (a FIFO or a device is reported, never
//! waited on), the type checked on the open file itself; files are hashed as a stream; the
//! manifest's size and the folder's number of entries are bounded; a manifest line naming a
//! path outside the folder (`../x`, `/etc/passwd`, `sub/x`) is refused by its line number.

use sha2::{Digest, Sha256};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

pub use crate::digest::hex;

use crate::input_file::{self, Cap, InputFileError, Links};

/// Name of the manifest inside the bundle directory.
pub const MANIFEST_FILE: &str = "MANIFEST.sha256";

/// Name of the manifest's detached signature, beside it (not listed in it).
pub const SIGNATURE_FILE: &str = "MANIFEST.sha256.sig";

/// Scratch name the manifest is written under before it is linked into place.
const MANIFEST_TMP: &str = ".MANIFEST.sha256.tmp";

/// The largest manifest read: a bundle's has eight lines of about 80 bytes.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// [`MAX_MANIFEST_BYTES`], with why, for [`crate::input_file`].
pub const MANIFEST_CAP: Cap = Cap {
    bytes: MAX_MANIFEST_BYTES,
    what: "an evidence bundle's manifest",
    why: "it lists a dozen files, one line of about 80 bytes each",
};

/// The largest file of a bundle hashed: a bound on the time and I/O of verifying a hostile
/// bundle (a sparse file of a terabyte costs nothing to make and an hour to hash), far above
/// what a case writes (a month of samples every 10 ms is about 8 GiB).
pub const BUNDLE_FILE_CAP: Cap =
    Cap { bytes: 64 << 30, what: "a file of an evidence bundle", why: "far more than any case writes" };

/// The most characters of a name or a manifest line quoted in a problem.
const QUOTED_CHARS: usize = 200;

/// The most entries a bundle folder may hold before verifying gives up on it.
pub const MAX_ENTRIES: usize = 1024;

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
    #[error("{}: exists already: a bundle is sealed once, never again", path.display())]
    AlreadySealed { path: PathBuf },
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
    /// A manifest line names a path outside the bundle's folder.
    OutsideBundle { line_no: usize, path: String },
    /// The bundle has no `MANIFEST.sha256`.
    NoManifest,
    /// The file (or the manifest, or the directory itself) exists but could not be read.
    Unreadable { file: String, error: String },
}

impl fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Changed { file, expected, actual } => {
                let file = quoted(file);
                write!(f, "{file}: changed (SHA-256 expected {}, found {})", short(expected), short(actual))
            }
            Self::Missing { file } => {
                write!(f, "{}: missing (listed in {MANIFEST_FILE}, not in the bundle)", quoted(file))
            }
            Self::Extra { file } => write!(f, "{}: extra (in the bundle, not listed in {MANIFEST_FILE})", quoted(file)),
            Self::Malformed { line_no, line } => write!(
                f,
                "{MANIFEST_FILE} line {line_no}: malformed (expected `<64 lowercase hex>  <file name>`): \"{}\"",
                quoted(line)
            ),
            Self::OutsideBundle { line_no, path } => write!(
                f,
                "{MANIFEST_FILE} line {line_no}: refused: \"{}\" is outside the bundle (a manifest lists only \
                 files of its own folder)",
                quoted(path)
            ),
            Self::NoManifest => write!(f, "{MANIFEST_FILE}: missing, the bundle cannot be verified"),
            Self::Unreadable { file, error } => write!(f, "{}: unreadable: {error}", quoted(file)),
        }
    }
}

impl std::error::Error for ManifestProblem {}

/// A name or a line from a hostile bundle as shown to a person: control characters escaped (a
/// file name may hold an escape sequence or a line break), tabs too, cut to [`QUOTED_CHARS`].
fn quoted(text: &str) -> String {
    crate::plan::diag::printable(text, QUOTED_CHARS).replace('\t', "\\t")
}

/// The first 12 hex digits and an ellipsis: enough to tell two digests apart in a message.
fn short(hex: &str) -> String {
    match hex.get(..12) {
        Some(head) if hex.len() > 12 => format!("{head}…"),
        _ => hex.to_owned(),
    }
}

/// Hashes every regular file of `dir` and writes `dir/MANIFEST.sha256`, fsynced. The manifest
/// appears whole or not at all (written aside, then hard-linked into place, which fails rather
/// than replace one). Returns the `(file name, lowercase hex SHA-256)` pairs it wrote, sorted by
/// name.
///
/// Refuses (and writes nothing) if the directory already has a manifest, or holds a
/// subdirectory, a non-regular file or a file name `sha256sum` would have to escape.
pub fn write_manifest(dir: &Path) -> Result<Vec<(String, String)>, ManifestError> {
    write_manifest_with(dir, &[])
}

/// A bundle file's SHA-256 taken ahead of its manifest (while the bundle's other files are
/// written), with the file's identity, length and modification time then: the manifest uses it
/// only for the same file, unchanged; otherwise it hashes the file again.
#[derive(Debug, Clone)]
pub struct Prehashed {
    name: String,
    stamp: FileStamp,
    hex: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt as _;
        let m = fs::symlink_metadata(path).ok().filter(fs::Metadata::is_file)?;
        Some(FileStamp { dev: m.dev(), ino: m.ino(), len: m.len(), modified: m.modified().ok() })
    }
}

/// Hashes `dir/name` now, for [`write_manifest_with`]; `None` if it cannot (the manifest will
/// then hash it, and say why if it cannot either).
pub fn prehash(dir: &Path, name: &str) -> Option<Prehashed> {
    let path = dir.join(name);
    let before = FileStamp::of(&path)?;
    let hex = hash_regular_file(&path).ok()?;
    (FileStamp::of(&path)? == before).then(|| Prehashed { name: name.to_string(), stamp: before, hex })
}

impl Prehashed {
    /// The hash its writer took of the `len` bytes it wrote to `dir/name`: it stands for the file
    /// only if the file is now exactly that long (and within the cap a bundle file is hashed
    /// to), and from then on, as any hash taken ahead, only while it is the same, unchanged file.
    pub fn of_written(dir: &Path, name: &str, hex: String, len: u64) -> Option<Prehashed> {
        let stamp = FileStamp::of(&dir.join(name))?;
        (stamp.len == len && len <= BUNDLE_FILE_CAP.bytes).then(|| Prehashed { name: name.to_string(), stamp, hex })
    }

    /// The file's name in its bundle.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SHA-256, in hex.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// [`write_manifest`], taking the hash of a file in `prehashed` when it is still the same,
/// unchanged file.
pub fn write_manifest_with(dir: &Path, prehashed: &[Prehashed]) -> Result<Vec<(String, String)>, ManifestError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManifestError::Io { path, source }
    };
    let target = dir.join(MANIFEST_FILE);
    if fs::symlink_metadata(&target).is_ok() {
        return Err(ManifestError::AlreadySealed { path: target });
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let file_type = entry.file_type().map_err(io_err(&path))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            return Err(ManifestError::UnsupportedName { path });
        };
        if name == MANIFEST_TMP {
            continue;
        }
        if name == SIGNATURE_FILE {
            // A signature before the manifest it signs: not ours to seal over.
            return Err(ManifestError::AlreadySealed { path });
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
        let early = prehashed.iter().find(|p| p.name == name && FileStamp::of(&path).as_ref() == Some(&p.stamp));
        let hex = match early.map(|p| Ok(p.hex.clone())).unwrap_or_else(|| hash_regular_file(&path)) {
            Ok(hex) => hex,
            Err(InputFileError::NotRegular(_)) => return Err(ManifestError::NotRegularFile { path }),
            Err(InputFileError::Io(source)) => return Err(ManifestError::Io { path, source }),
            Err(e) => return Err(ManifestError::Io { path, source: io::Error::other(e.to_string()) }),
        };
        text.push_str(&hex);
        text.push_str("  ");
        text.push_str(&name);
        text.push('\n');
        entries.push((name, hex));
    }

    let tmp = dir.join(MANIFEST_TMP);
    let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io_err(&tmp))?;
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
    drop(file);
    let linked = written.and_then(|()| fs::hard_link(&tmp, &target));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ManifestError::AlreadySealed { path: target });
        }
        Err(e) => return Err(ManifestError::Io { path: target, source: e }),
    }
    // Make the link itself durable.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    Ok(entries)
}

/// What checking a bundle against its manifest found: the manifest's bytes (when it could be
/// read, for its signature), the entries it lists, and every problem.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManifestCheck {
    pub manifest: Option<Vec<u8>>,
    pub listed: Vec<(String, String)>,
    pub problems: Vec<ManifestProblem>,
}

/// Checks `dir` against its `MANIFEST.sha256`: every listed file present with the listed SHA-256,
/// no unlisted entry, every manifest line well formed. Returns the number of files verified, or
/// every problem found (not only the first), malformed lines first, then by file name.
pub fn verify_manifest(dir: &Path) -> Result<usize, Vec<ManifestProblem>> {
    let check = check_manifest(dir);
    if check.problems.is_empty() { Ok(check.listed.len()) } else { Err(check.problems) }
}

/// As [`verify_manifest`], keeping the manifest's bytes and listing for the caller.
pub fn check_manifest(dir: &Path) -> ManifestCheck {
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = match input_file::read(&manifest_path, MANIFEST_CAP, Links::Refuse) {
        Ok(bytes) => bytes,
        Err(InputFileError::NotFound) => {
            return ManifestCheck { problems: vec![ManifestProblem::NoManifest], ..Default::default() };
        }
        Err(e) => {
            let problem = ManifestProblem::Unreadable { file: MANIFEST_FILE.to_owned(), error: e.to_string() };
            return ManifestCheck { problems: vec![problem], ..Default::default() };
        }
    };

    let mut problems = Vec::new();
    let mut listed: Vec<(String, String)> = Vec::new();
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    if !bytes.is_empty() {
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            let line_no = i + 1;
            match parse_line(raw) {
                Line::Entry(hex, name) if !listed.iter().any(|(n, _)| n == name) => {
                    listed.push((name.to_owned(), hex.to_owned()));
                }
                Line::Outside(path) => problems.push(ManifestProblem::OutsideBundle { line_no, path }),
                _ => problems
                    .push(ManifestProblem::Malformed { line_no, line: String::from_utf8_lossy(raw).into_owned() }),
            }
        }
    }

    let mut present: Vec<String> = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                if present.len() >= MAX_ENTRIES {
                    problems.push(ManifestProblem::Unreadable {
                        file: dir_name(dir),
                        error: format!("more than {MAX_ENTRIES} entries: not an evidence bundle"),
                    });
                    break;
                }
                match entry {
                    Ok(entry) => {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if name == MANIFEST_FILE || name == SIGNATURE_FILE {
                            continue;
                        }
                        // `file_type` does not follow a symbolic link.
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
        match hash_regular_file(&dir.join(name)) {
            Ok(actual) if actual == *expected => {}
            Ok(actual) => {
                file_problems.push(ManifestProblem::Changed { file: name.clone(), expected: expected.clone(), actual })
            }
            Err(InputFileError::NotFound) => file_problems.push(ManifestProblem::Missing { file: name.clone() }),
            Err(e) => file_problems.push(ManifestProblem::Unreadable { file: name.clone(), error: e.to_string() }),
        }
    }
    for name in present {
        if !listed.iter().any(|(n, _)| *n == name) {
            file_problems.push(ManifestProblem::Extra { file: name });
        }
    }
    file_problems.sort_by(|a, b| problem_file(a).cmp(problem_file(b)));
    problems.extend(file_problems);
    ManifestCheck { manifest: Some(bytes), listed, problems }
}

fn problem_file(p: &ManifestProblem) -> &str {
    match p {
        ManifestProblem::Changed { file, .. }
        | ManifestProblem::Missing { file }
        | ManifestProblem::Extra { file }
        | ManifestProblem::Unreadable { file, .. } => file,
        ManifestProblem::Malformed { .. } | ManifestProblem::OutsideBundle { .. } | ManifestProblem::NoManifest => "",
    }
}

fn dir_name(dir: &Path) -> String {
    dir.display().to_string()
}

enum Line<'a> {
    Entry(&'a str, &'a str),
    Outside(String),
    Malformed,
}

/// Parses `<64 lowercase hex>  <name>` (or `<hex> *<name>`, sha256sum's binary-mode marker, which
/// means the same on Linux). The name must be flat and plain: no `/`, not `.`/`..`, not the
/// manifest itself.
fn parse_line(raw: &[u8]) -> Line<'_> {
    let Ok(line) = std::str::from_utf8(raw) else { return Line::Malformed };
    let Some(hex) = line.get(..64) else { return Line::Malformed };
    if !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Line::Malformed;
    }
    let rest = &line[64..];
    let Some(name) = rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *")) else { return Line::Malformed };
    if name.contains('/') || name == ".." || name == "." {
        return Line::Outside(name.to_owned());
    }
    if plain_name(name) && name != MANIFEST_FILE && name != SIGNATURE_FILE {
        Line::Entry(hex, name)
    } else {
        Line::Malformed
    }
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

/// The SHA-256 of a regular file, streamed (never the whole file in memory).
fn hash_regular_file(path: &Path) -> Result<String, InputFileError> {
    // Not following a link: one may lead out of the bundle.
    let (file, len) = input_file::open_regular(path, Links::Refuse)?;
    if len > BUNDLE_FILE_CAP.bytes {
        return Err(InputFileError::TooLarge { bytes: Some(len), cap: BUNDLE_FILE_CAP });
    }
    // `take`: a file that grows while it is hashed still stops at the cap.
    let mut file = file.take(BUNDLE_FILE_CAP.bytes.saturating_add(1));
    let mut hashed: u64 = 0;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(buf.get(..n).unwrap_or_default());
                hashed += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(InputFileError::from_io(e)),
        }
    }
    if hashed > BUNDLE_FILE_CAP.bytes {
        return Err(InputFileError::TooLarge { bytes: None, cap: BUNDLE_FILE_CAP });
    }
    Ok(crate::digest::hex(&hasher.finalize()))
}

/// The SHA-256 of a regular file (not following a symbolic link), streamed, as lowercase hex.
pub fn sha256_of(path: &Path) -> io::Result<String> {
    hash_regular_file(path).map_err(|e| match e {
        InputFileError::Io(e) => e,
        InputFileError::NotFound => io::Error::new(io::ErrorKind::NotFound, "no such file"),
        e => io::Error::other(e.to_string()),
    })
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

    /// A hash taken ahead is used only for the same file, unchanged: a file rewritten, grown or
    /// replaced since is hashed again, so the manifest always states what is on disk.
    #[test]
    fn a_hash_taken_ahead_counts_only_for_the_same_unchanged_file() {
        let plain = bundle();
        let expected = write_manifest(plain.path()).unwrap();
        let dir = bundle();
        let early: Vec<Prehashed> = ["samples.csv", "report.html", "run log.txt", "missing.txt"]
            .into_iter()
            .filter_map(|n| prehash(dir.path(), n))
            .collect();
        assert_eq!(early.len(), 3, "a file that is not there has no hash ahead");
        assert_eq!(write_manifest_with(dir.path(), &early).unwrap(), expected);

        let dir = bundle();
        let early: Vec<Prehashed> =
            ["samples.csv", "report.html", "run log.txt"].into_iter().filter_map(|n| prehash(dir.path(), n)).collect();
        // Grown, rewritten to the same length, replaced by another file: each hashed again.
        fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("samples.csv"))
            .unwrap()
            .write_all(b"2,10.2\n")
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(dir.path().join("report.html"), "<html>verdict: FAIL</html>\n").unwrap();
        fs::remove_file(dir.path().join("run log.txt")).unwrap();
        fs::write(dir.path().join("run log.txt"), "spaces in names are fine\n").unwrap();
        let entries = write_manifest_with(dir.path(), &early).unwrap();
        for (name, hex) in &entries {
            assert_eq!(hex, &sha256_of(&dir.path().join(name)).unwrap(), "{name}: the manifest states what is on disk");
        }
        let hex_of = |name: &str| entries.iter().find(|(n, _)| n == name).unwrap().1.clone();
        let was = |name: &str| expected.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_ne!(hex_of("samples.csv"), was("samples.csv"));
        assert_ne!(hex_of("report.html"), was("report.html"));
        assert_eq!(hex_of("run log.txt"), was("run log.txt"), "same bytes, another file: hashed again, same hash");
    }

    /// A writer's hash of what it wrote stands for the file only if the file is exactly as long
    /// as what was hashed: a file that holds more or less than its writer counted is hashed again.
    #[test]
    fn a_hash_taken_while_writing_counts_only_for_a_file_of_that_length() {
        let dir = bundle();
        let path = dir.path().join("samples.csv");
        let len = fs::metadata(&path).unwrap().len();
        let hex = sha256_of(&path).unwrap();
        assert!(Prehashed::of_written(dir.path(), "samples.csv", hex.clone(), len).is_some());
        assert!(Prehashed::of_written(dir.path(), "samples.csv", hex.clone(), len - 1).is_none());
        assert!(Prehashed::of_written(dir.path(), "samples.csv", hex, len + 1).is_none());
        assert!(Prehashed::of_written(dir.path(), "missing.csv", String::new(), 0).is_none());
        // And what it states is used as the manifest's entry when it holds.
        let wrong = Prehashed::of_written(dir.path(), "samples.csv", "0".repeat(64), len).unwrap();
        let entries = write_manifest_with(dir.path(), &[wrong]).unwrap();
        assert_eq!(entries.iter().find(|(n, _)| n == "samples.csv").unwrap().1, "0".repeat(64));
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
        // Sealed once: a second manifest is refused, the first one kept.
        let again = write_manifest(dir.path()).unwrap_err();
        assert!(matches!(again, ManifestError::AlreadySealed { .. }), "{again:?}");
        assert!(again.to_string().contains("a bundle is sealed once"), "{again}");
        assert_eq!(manifest_text(dir.path()), expected);
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
                ManifestProblem::Malformed { line_no, .. } | ManifestProblem::OutsideBundle { line_no, .. } => *line_no,
                other => panic!("only malformed lines expected, got {other}"),
            })
            .collect();
        assert_eq!(malformed, [2, 3, 4, 5, 6, 7]);
        assert_eq!(
            problems[1].to_string(),
            "MANIFEST.sha256 line 3: refused: \"../../etc/passwd\" is outside the bundle (a manifest lists only files \
             of its own folder)"
        );
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

    /// Runs `f` on a thread and fails the test if it takes longer than 10 s (a hang, not load).
    fn within_10_s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10)).expect("verify hung on a hostile bundle")
    }

    fn mkfifo(path: &Path) {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    }

    #[test]
    fn a_fifo_listed_in_the_manifest_is_reported_not_waited_on() {
        let dir = bundle();
        write_manifest(dir.path()).unwrap();
        fs::remove_file(dir.path().join("samples.csv")).unwrap();
        mkfifo(&dir.path().join("samples.csv"));
        let path = dir.path().to_path_buf();
        let problems = within_10_s(move || verify_manifest(&path)).unwrap_err();
        assert_eq!(
            problems,
            [ManifestProblem::Unreadable {
                file: "samples.csv".into(),
                error: "it is a FIFO (named pipe), not a regular file: not read (reading a FIFO waits for a writer, possibly forever)".into()
            }]
        );
    }

    #[test]
    fn a_fifo_as_the_manifest_is_reported_not_waited_on() {
        let dir = bundle();
        mkfifo(&dir.path().join(MANIFEST_FILE));
        let path = dir.path().to_path_buf();
        let problems = within_10_s(move || verify_manifest(&path)).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].to_string().starts_with("MANIFEST.sha256: unreadable: it is a FIFO"), "{}", problems[0]);
    }

    #[test]
    fn symbolic_links_are_not_followed_out_of_the_bundle() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.txt"), "outside the bundle\n").unwrap();
        let dir = bundle();
        write_manifest(dir.path()).unwrap();
        // A listed file replaced by a link to a file with the very content it had.
        let original = fs::read(dir.path().join("report.html")).unwrap();
        fs::write(outside.path().join("report.html"), &original).unwrap();
        fs::remove_file(dir.path().join("report.html")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("report.html"), dir.path().join("report.html")).unwrap();
        // And a linked folder, unlisted.
        std::os::unix::fs::symlink(outside.path(), dir.path().join("more")).unwrap();
        let problems = verify_manifest(dir.path()).unwrap_err();
        assert_eq!(
            problems,
            [
                ManifestProblem::Extra { file: "more".into() },
                ManifestProblem::Unreadable {
                    file: "report.html".into(),
                    error: "it is a symbolic link, not a regular file: not read (a link is not followed here: it may lead anywhere)".into()
                },
            ]
        );
        // A manifest itself linked from elsewhere is not read either.
        let text = manifest_text(dir.path());
        fs::write(outside.path().join("m"), text).unwrap();
        fs::remove_file(dir.path().join(MANIFEST_FILE)).unwrap();
        std::os::unix::fs::symlink(outside.path().join("m"), dir.path().join(MANIFEST_FILE)).unwrap();
        let problems = verify_manifest(dir.path()).unwrap_err();
        assert!(problems[0].to_string().contains("a symbolic link"), "{problems:?}");
    }

    #[test]
    fn absolute_and_nested_paths_are_refused_by_line() {
        let dir = bundle();
        write_manifest(dir.path()).unwrap();
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let mut text = manifest_text(dir.path());
        text.push_str(&format!("{hex}  /etc/hostname\n{hex}  sub/empty.txt\n{hex}  ..\n"));
        fs::remove_file(dir.path().join(MANIFEST_FILE)).unwrap();
        fs::write(dir.path().join(MANIFEST_FILE), text).unwrap();
        let problems = verify_manifest(dir.path()).unwrap_err();
        assert_eq!(
            problems,
            [
                ManifestProblem::OutsideBundle { line_no: 6, path: "/etc/hostname".into() },
                ManifestProblem::OutsideBundle { line_no: 7, path: "sub/empty.txt".into() },
                ManifestProblem::OutsideBundle { line_no: 8, path: "..".into() },
            ]
        );
    }

    #[test]
    fn an_oversized_manifest_is_not_read() {
        let dir = bundle();
        let line = format!("{}  x\n", "0".repeat(64));
        let huge = line.repeat(usize::try_from(MAX_MANIFEST_BYTES).unwrap() / line.len() + 1);
        fs::write(dir.path().join(MANIFEST_FILE), huge).unwrap();
        let problems = verify_manifest(dir.path()).unwrap_err();
        assert_eq!(
            problems,
            [ManifestProblem::Unreadable {
                file: MANIFEST_FILE.into(),
                error: "the file is 65552 bytes; an evidence bundle's manifest is at most 64 KiB (it lists a dozen \
                        files, one line of about 80 bytes each): not read"
                    .into()
            }]
        );
    }

    #[test]
    fn a_large_file_is_hashed_as_a_stream() {
        let dir = tempfile::tempdir().unwrap();
        // 8 MiB of a known pattern, hashed in 64 KiB pieces; the digest is sha2's over the whole.
        let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        fs::write(dir.path().join("big.bin"), &data).unwrap();
        let entries = write_manifest(dir.path()).unwrap();
        assert_eq!(entries[0].1, hex(&<sha2::Sha256 as sha2::Digest>::digest(&data)));
        assert_eq!(verify_manifest(dir.path()), Ok(1));
    }
}
