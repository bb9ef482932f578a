//! The guest's initramfs: a gzip-compressed cpio archive in the kernel's "newc" format
//! (Documentation/driver-api/early-userspace/buffer-format.rst), written here rather
//! than by a cpio program so that nothing depends on which one the machine has.

use std::io::Write as _;

/// One archive member.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A directory.
    Dir {
        /// Path inside the archive, without a leading `/`.
        path: String,
    },
    /// A regular file.
    File {
        /// Path inside the archive, without a leading `/`.
        path: String,
        /// Permission bits (0o755 for programs).
        mode: u32,
        /// Contents.
        bytes: Vec<u8>,
    },
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

/// The archive, uncompressed.
pub fn cpio(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let (path, mode, bytes): (&str, u32, &[u8]) = match e {
            Entry::Dir { path } => (path, S_IFDIR | 0o755, &[]),
            Entry::File { path, mode, bytes } => (path, S_IFREG | mode, bytes),
        };
        member(&mut out, i as u32 + 1, path, mode, bytes);
    }
    member(&mut out, 0, "TRAILER!!!", 0, &[]);
    out
}

/// The archive, gzip-compressed as the kernel unpacks it.
pub fn gzipped(entries: &[Entry]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&cpio(entries)).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

fn member(out: &mut Vec<u8>, ino: u32, path: &str, mode: u32, bytes: &[u8]) {
    let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        bytes.len() as u32,
        0,
        0,
        0,
        0,
        path.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(path.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(bytes);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a newc archive back: (path, mode, bytes) per member before the trailer.
    fn unpack(mut a: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let start = a.as_ptr() as usize;
        loop {
            assert_eq!(&a[..6], b"070701");
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&a[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            let name = std::str::from_utf8(&a[110..110 + namesize - 1])
                .unwrap()
                .to_string();
            assert_eq!(a[110 + namesize - 1], 0, "name is NUL-terminated");
            let data_at = (110 + namesize).next_multiple_of(4);
            let data = a[data_at..data_at + size].to_vec();
            let next = (data_at + size).next_multiple_of(4);
            assert_eq!((a.as_ptr() as usize - start + next) % 4, 0);
            if name == "TRAILER!!!" {
                assert_eq!(next, a.len(), "nothing after the trailer");
                return out;
            }
            out.push((name, mode, data));
            a = &a[next..];
        }
    }

    #[test]
    fn members_read_back_with_their_modes_and_padding() {
        let entries = [
            Entry::Dir { path: "bin".into() },
            Entry::File {
                path: "bin/init".into(),
                mode: 0o755,
                bytes: b"abcde".to_vec(),
            },
            Entry::File {
                path: "e".into(),
                mode: 0o644,
                bytes: vec![],
            },
        ];
        let got = unpack(&cpio(&entries));
        assert_eq!(
            got,
            [
                ("bin".to_string(), 0o040755, vec![]),
                ("bin/init".to_string(), 0o100755, b"abcde".to_vec()),
                ("e".to_string(), 0o100644, vec![]),
            ]
        );
        let gz = gzipped(&entries);
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
        assert_eq!(plain, cpio(&entries));
    }
}
