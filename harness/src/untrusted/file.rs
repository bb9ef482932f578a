//! Reading a file named by untrusted input.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Reads `path` as UTF-8 text of at most `limit` bytes. The path comes from untrusted
/// input, so it is opened only as a regular file (a FIFO or a device would block or
/// never end; O_NONBLOCK keeps the open itself from waiting on a FIFO's writer).
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
