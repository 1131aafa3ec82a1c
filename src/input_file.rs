//! Reading a file the rig is given from outside (a plan, a bench file, a key, a bundle's
//! manifest and files): a regular file only, of bounded size, with a reason a person can act on
//! when it is anything else.
//!
//! Anything named by a path may be what it should not: a FIFO (reading it waits for a writer,
//! possibly forever), a device (`/dev/zero` never ends; opening a serial port may reset what is
//! on it), a directory, a loop of symbolic links, or a file far larger than its kind ever is.
//! [`read`] refuses each before reading a byte of it and says which it is:
//!
//! - the type is looked up before the file is opened, so a device is never opened;
//! - the file is opened without blocking (`O_NONBLOCK`, a FIFO cannot stall the open) and
//!   without becoming the controlling terminal, and the type and size are checked again on the
//!   open file, so a swap between the look-up and the open cannot slip anything else in;
//! - at most one byte past the cap is read, so a file growing underneath cannot exceed it.
//!
//! Where a symbolic link must not be followed (a bundle's files: a link may lead out of the
//! bundle), [`Links::Refuse`] opens with `O_NOFOLLOW` and reports the link as one.

use std::fmt;
use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

/// The size limit of one kind of file, and why a file past it cannot be one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    /// The most bytes read.
    pub bytes: u64,
    /// What the file is, with its article: `a plan file`.
    pub what: &'static str,
    /// Why no such file is larger: `a plan is written by hand and is a few kilobytes`.
    pub why: &'static str,
}

/// Whether the last component of the path may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// A link is followed to its target (a plan or a bench file named through a link).
    Follow,
    /// A link is refused, not followed (a bundle's files: a link may lead out of the bundle).
    Refuse,
}

/// What a path names instead of a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRegular {
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    SymbolicLink,
    Other,
}

impl NotRegular {
    fn of(t: FileType) -> Option<NotRegular> {
        Some(if t.is_file() {
            return None;
        } else if t.is_dir() {
            NotRegular::Directory
        } else if t.is_fifo() {
            NotRegular::Fifo
        } else if t.is_char_device() {
            NotRegular::CharDevice
        } else if t.is_block_device() {
            NotRegular::BlockDevice
        } else if t.is_socket() {
            NotRegular::Socket
        } else if t.is_symlink() {
            NotRegular::SymbolicLink
        } else {
            NotRegular::Other
        })
    }

    /// In words, with its article.
    pub fn name(self) -> &'static str {
        match self {
            NotRegular::Directory => "a directory",
            NotRegular::Fifo => "a FIFO (named pipe)",
            NotRegular::CharDevice => "a character device",
            NotRegular::BlockDevice => "a block device",
            NotRegular::Socket => "a socket",
            NotRegular::SymbolicLink => "a symbolic link",
            NotRegular::Other => "not a regular file",
        }
    }

    /// Why it is not read.
    fn why(self) -> &'static str {
        match self {
            NotRegular::Fifo => "reading a FIFO waits for a writer, possibly forever",
            NotRegular::CharDevice | NotRegular::BlockDevice => {
                "a device may never end (like /dev/zero), and opening one may act on what is attached"
            }
            NotRegular::SymbolicLink => "a link is not followed here: it may lead anywhere",
            NotRegular::Directory | NotRegular::Socket | NotRegular::Other => "only a regular file is read",
        }
    }
}

/// Why a file was not read.
#[derive(Debug)]
pub enum InputFileError {
    NotFound,
    PermissionDenied,
    /// The symbolic links on the path lead back to themselves (`ELOOP`).
    SymlinkLoop,
    NotRegular(NotRegular),
    /// Larger than the cap; its size when the file system says it (else it grew while read).
    TooLarge {
        bytes: Option<u64>,
        cap: Cap,
    },
    Io(io::Error),
}

impl InputFileError {
    /// Classifies an I/O error of opening or reading a path.
    pub fn from_io(e: io::Error) -> InputFileError {
        match e.kind() {
            io::ErrorKind::NotFound => InputFileError::NotFound,
            io::ErrorKind::PermissionDenied => InputFileError::PermissionDenied,
            _ if e.raw_os_error() == Some(libc::ELOOP) => InputFileError::SymlinkLoop,
            _ => InputFileError::Io(e),
        }
    }

    /// What to check, for a person.
    pub fn hint(&self) -> String {
        match self {
            InputFileError::NotFound => "check the path".into(),
            InputFileError::PermissionDenied => {
                "check the permissions of the file and of the folders above it (`ls -l`)".into()
            }
            InputFileError::SymlinkLoop => {
                "a symbolic link on the path leads back to itself: point it at the file (`ls -l` shows where each link goes)"
                    .into()
            }
            InputFileError::NotRegular(NotRegular::SymbolicLink) => "give the file itself, not a link to it".into(),
            InputFileError::NotRegular(_) => "give the path of a regular file".into(),
            InputFileError::TooLarge { cap, .. } => format!("check the path: this is not {}", cap.what),
            InputFileError::Io(_) => "check the file and the disk it is on".into(),
        }
    }

    /// `path: reason; hint`, for a person.
    pub fn describe(&self, path: &Path) -> String {
        format!("{}: cannot read: {self}; {}", path.display(), self.hint())
    }
}

impl fmt::Display for InputFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputFileError::NotFound => f.write_str("no such file"),
            InputFileError::PermissionDenied => f.write_str("permission denied"),
            InputFileError::SymlinkLoop => f.write_str("its symbolic links loop (a link that leads back to itself)"),
            InputFileError::NotRegular(kind) => {
                write!(f, "it is {}, not a regular file: not read ({})", kind.name(), kind.why())
            }
            InputFileError::TooLarge { bytes, cap } => write!(
                f,
                "the file is {}; {} is at most {} ({}): not read",
                bytes.map_or_else(|| "larger than that".to_string(), size_in_words),
                cap.what,
                size_in_words(cap.bytes),
                cap.why
            ),
            InputFileError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InputFileError {}

/// `64 GiB`, `4 MiB`, `64 KiB`, `5.3 MiB`, `512 bytes`.
fn size_in_words(bytes: u64) -> String {
    let in_unit = |unit: u64, name: &str| {
        let tenths = format!("{:.1}", bytes as f64 / unit as f64);
        if bytes % unit == 0 {
            format!("{} {name}", bytes / unit)
        } else if tenths.ends_with(".0") {
            format!("{bytes} bytes") // just past a whole unit: `64.0 KiB` would read as 64 KiB
        } else {
            format!("{tenths} {name}")
        }
    };
    if bytes >= 1 << 30 {
        in_unit(1 << 30, "GiB")
    } else if bytes >= 1 << 20 {
        in_unit(1 << 20, "MiB")
    } else if bytes >= 1 << 10 {
        in_unit(1 << 10, "KiB")
    } else {
        format!("{bytes} bytes")
    }
}

/// Opens `path` for reading as a regular file only, without reading from it: its type is looked
/// up first (a device is never opened), then it is opened without blocking and its type checked
/// again on the open file. Returns the file and its size.
pub fn open_regular(path: &Path, links: Links) -> Result<(File, u64), InputFileError> {
    let check = |meta: &Metadata| match NotRegular::of(meta.file_type()) {
        Some(kind) => Err(InputFileError::NotRegular(kind)),
        None => Ok(()),
    };
    let before = match links {
        Links::Follow => std::fs::metadata(path),
        Links::Refuse => std::fs::symlink_metadata(path),
    };
    check(&before.map_err(InputFileError::from_io)?)?;
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new().read(true).custom_flags(flags).open(path).map_err(|e| {
        // With O_NOFOLLOW, ELOOP means the file became a link since it was looked up.
        if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) {
            InputFileError::NotRegular(NotRegular::SymbolicLink)
        } else {
            InputFileError::from_io(e)
        }
    })?;
    let meta = file.metadata().map_err(InputFileError::from_io)?;
    check(&meta)?;
    Ok((file, meta.len()))
}

/// Reads a regular file of at most `cap.bytes` bytes, opened as [`open_regular`] does.
pub fn read(path: &Path, cap: Cap, links: Links) -> Result<Vec<u8>, InputFileError> {
    let (file, len) = open_regular(path, links)?;
    if len > cap.bytes {
        return Err(InputFileError::TooLarge { bytes: Some(len), cap });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(cap.bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(InputFileError::from_io)?;
    if bytes.len() as u64 > cap.bytes {
        return Err(InputFileError::TooLarge { bytes: None, cap }); // it grew while it was read
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Cap = Cap { bytes: 16, what: "a test file", why: "a test file is short" };

    fn within_10_s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10)).expect("answered, not blocked")
    }

    #[test]
    fn a_regular_file_within_the_cap_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789abcdef").unwrap();
        assert_eq!(read(&path, CAP, Links::Refuse).unwrap(), b"0123456789abcdef");
    }

    #[test]
    fn a_file_past_the_cap_says_its_size_the_limit_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'x'; 3 * 1024 + 100]).unwrap();
        let e = read(&path, Cap { bytes: 2048, ..CAP }, Links::Follow).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the file is 3.1 KiB; a test file is at most 2 KiB (a test file is short): not read",
            "{e}"
        );
        assert_eq!(e.hint(), "check the path: this is not a test file");
    }

    #[test]
    fn a_fifo_and_a_device_are_named_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        for links in [Links::Follow, Links::Refuse] {
            let f = fifo.clone();
            let e = within_10_s(move || read(&f, CAP, links).map_err(|e| e.to_string())).unwrap_err();
            assert!(
                e.starts_with("it is a FIFO (named pipe), not a regular file: not read (reading a FIFO waits"),
                "{e}"
            );
        }
        let e = read(Path::new("/dev/zero"), CAP, Links::Follow).unwrap_err();
        assert!(matches!(e, InputFileError::NotRegular(NotRegular::CharDevice)), "{e}");
        let e = read(dir.path(), CAP, Links::Follow).unwrap_err();
        assert!(e.to_string().starts_with("it is a directory, not a regular file"), "{e}");
    }

    #[test]
    fn links_are_followed_or_refused_and_a_loop_is_called_one() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"ok").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(read(&link, CAP, Links::Follow).unwrap(), b"ok");
        let e = read(&link, CAP, Links::Refuse).unwrap_err();
        assert!(matches!(e, InputFileError::NotRegular(NotRegular::SymbolicLink)), "{e}");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let e = read(&a, CAP, Links::Follow).unwrap_err();
        assert!(matches!(e, InputFileError::SymlinkLoop), "{e}");
        assert!(e.describe(&a).contains("symbolic links loop"), "{}", e.describe(&a));
        assert!(!e.describe(&a).contains("permission"), "{}", e.describe(&a));
    }

    #[test]
    fn missing_and_forbidden_files_say_what_to_check() {
        let dir = tempfile::tempdir().unwrap();
        let e = read(&dir.path().join("nope"), CAP, Links::Follow).unwrap_err();
        assert!(e.describe(&dir.path().join("nope")).ends_with("nope: cannot read: no such file; check the path"));
        // Whether the tests run as root or not, a denied open is classified as such.
        let e = InputFileError::from_io(io::Error::from_raw_os_error(libc::EACCES));
        assert!(matches!(e, InputFileError::PermissionDenied), "{e}");
        assert!(e.hint().contains("permissions"), "{}", e.hint());
        let e = InputFileError::from_io(io::Error::from_raw_os_error(libc::ELOOP));
        assert!(matches!(e, InputFileError::SymlinkLoop), "{e}");
    }

    #[test]
    fn sizes_in_words() {
        assert_eq!(size_in_words(4 * 1024 * 1024), "4 MiB");
        assert_eq!(size_in_words(64 * 1024), "64 KiB");
        assert_eq!(size_in_words(5_557_453), "5.3 MiB");
        assert_eq!(size_in_words(512), "512 bytes");
        assert_eq!(size_in_words(64 << 30), "64 GiB");
        assert_eq!(size_in_words(65_552), "65552 bytes");
    }
}
