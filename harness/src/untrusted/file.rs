//! Reading a file named by untrusted input, or one that holds untrusted input (run
//! records, sweep shards, kernel profiles, traces, scenario files): only a regular file,
//! of bounded size. A FIFO would block the command for good, a link to /dev/zero would
//! grow memory until the machine gave up; both are bad input naming the path and bound.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The most nlstorm reads of each kind of file (the README and SECURITY.md list them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A scenario file.
    Scenario,
    /// A replayed or summarised trace (`trace = ...`, `trace show`).
    Trace,
    /// A record's plan.json or verdict.json.
    RecordPart,
    /// A record's history.json (up to 16 MiB of output per program, 8 programs).
    History,
    /// A sweep's JSON or a shard merged by `merge`, or a sweep's `.partial` file.
    Sweep,
    /// A kernel profile (`qualify --baseline`, `diff`, `merge`).
    Profile,
    /// explore's regression seeds.
    Seeds,
}

impl Bound {
    /// Bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Bound::Scenario => 4 << 20,
            Bound::Trace => 16 << 20,
            Bound::RecordPart => 64 << 20,
            Bound::History => 512 << 20,
            Bound::Sweep => 256 << 20,
            Bound::Profile => 4 << 20,
            Bound::Seeds => 4 << 20,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Bound::Scenario => "a scenario file",
            Bound::Trace => "a trace",
            Bound::RecordPart => "a record's plan or verdict",
            Bound::History => "a record's history",
            Bound::Sweep => "a sweep report",
            Bound::Profile => "a kernel profile",
            Bound::Seeds => "a regression seed file",
        }
    }
}

/// Why an untrusted file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// open or read failed (missing, permission denied, not UTF-8 ...).
    #[error("{path}: {source}")]
    Io {
        /// The path, escaped for the terminal.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A FIFO, device, socket or directory.
    #[error("{path}: not a regular file ({kind}); nlstorm reads {what} only from a regular file")]
    NotRegular {
        /// The path.
        path: String,
        /// What it is.
        kind: &'static str,
        /// The kind of file expected.
        what: &'static str,
    },
    /// Larger than the bound.
    #[error("{path}: {size} B, above the {bound} B nlstorm reads from {what}")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: u64,
        /// The bound.
        bound: u64,
        /// The kind of file.
        what: &'static str,
    },
}

/// Reads `path` as UTF-8 text within `bound`.
pub fn read_untrusted(path: &Path, bound: Bound) -> Result<String, FileError> {
    let shown = || crate::untrusted::terminal(&path.display().to_string());
    let io = |source| FileError::Io {
        path: shown(),
        source,
    };
    let f = std::fs::File::options()
        .read(true)
        // O_NONBLOCK keeps the open itself from waiting on a FIFO's writer.
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        let kind = if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a file"
        };
        return Err(FileError::NotRegular {
            path: shown(),
            kind,
            what: bound.what(),
        });
    }
    let limit = bound.bytes();
    let too_large = |size| FileError::TooLarge {
        path: shown(),
        size,
        bound: limit,
        what: bound.what(),
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::new();
    // One byte more than the bound: a file that grew since fstat is still caught.
    f.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|_| io(std::io::Error::other("not UTF-8 text")))
}

/// Reads `path` as UTF-8 text of at most `limit` bytes, regular files only (the
/// error's text does not name the path; see [`read_untrusted`] for one that does).
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    let f = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > limit {
        return Err(std::io::Error::other(format!(
            "{} B, above the {limit} B nlstorm reads from such a file",
            meta.len()
        )));
    }
    let mut text = String::new();
    f.take(limit)
        .read_to_string(&mut text)
        .map_err(|_| std::io::Error::other("not UTF-8 text"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_bound_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_untrusted(&fifo, Bound::History)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a FIFO") && e.contains("fifo"), "{e}");
        let e = read_untrusted(Path::new("/dev/zero"), Bound::Sweep)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a device"), "{e}");
        let link = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            read_untrusted(&link, Bound::Trace),
            Err(FileError::NotRegular { .. })
        ));
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; (Bound::Seeds.bytes() + 1) as usize]).unwrap();
        let e = read_untrusted(&big, Bound::Seeds).unwrap_err().to_string();
        assert!(e.contains("above the 4194304 B"), "{e}");
        let ok = dir.path().join("ok");
        std::fs::write(&ok, "text").unwrap();
        assert_eq!(read_untrusted(&ok, Bound::Seeds).unwrap(), "text");
    }
}
