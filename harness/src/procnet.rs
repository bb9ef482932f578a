//! /proc/net/netlink: the kernel's per-socket view (Rmem, Dump, Drops), found by inode.
//! It reflects the network namespace of the reading task, so the executor reads it from
//! inside the sandbox.

use std::io;

/// One row of /proc/net/netlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetlinkRow {
    /// Protocol (Eth column).
    pub protocol: u32,
    /// Port id.
    pub portid: u32,
    /// First 32 groups, as a mask.
    pub groups: u32,
    /// Receive queue charge.
    pub rmem: u64,
    /// Send charge.
    pub wmem: u64,
    /// 1 while a dump is in progress.
    pub dump: u32,
    /// Messages dropped for this socket.
    pub drops: u64,
    /// Socket inode.
    pub inode: u64,
}

/// Parses the file's text; malformed rows are skipped (the format has been stable since
/// 2.6, but a row we cannot read is better left out than guessed).
pub fn parse(text: &str) -> Vec<NetlinkRow> {
    text.lines().skip(1).filter_map(parse_row).collect()
}

fn parse_row(line: &str) -> Option<NetlinkRow> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    Some(NetlinkRow {
        protocol: f[1].parse().ok()?,
        portid: f[2].parse().ok()?,
        groups: u32::from_str_radix(f[3], 16).ok()?,
        rmem: f[4].parse().ok()?,
        wmem: f[5].parse().ok()?,
        dump: f[6].parse().ok()?,
        drops: f[8].parse().ok()?,
        inode: f[9].parse().ok()?,
    })
}

/// Every row visible from this task's network namespace.
pub fn read_all() -> io::Result<Vec<NetlinkRow>> {
    Ok(parse(&std::fs::read_to_string("/proc/net/netlink")?))
}

/// The row of the socket with `inode`, if it is still open.
pub fn find(inode: u64) -> io::Result<Option<NetlinkRow>> {
    Ok(read_all()?.into_iter().find(|r| r.inode == inode))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on 6.18 x86_64 inside a fresh namespace (header plus two rows).
    const SAMPLE: &str =
        "sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
00000000100dca2e 0   0          00000000 0        0        0     2        0        4268
000000000f12933d 15  4121       00000001 2304     0        0     2        17       52011
";

    #[test]
    fn parses_rows() {
        let rows = parse(SAMPLE);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[1],
            NetlinkRow {
                protocol: 15,
                portid: 4121,
                groups: 1,
                rmem: 2304,
                wmem: 0,
                dump: 0,
                drops: 17,
                inode: 52011
            }
        );
    }

    #[test]
    fn skips_garbage() {
        assert!(parse("header\nnot a row\n").is_empty());
    }
}
