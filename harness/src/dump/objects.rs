//! Whether a dump listed everything. A dump that ends with NLMSG_DONE can still have left
//! objects out: when a reply datagram comes back with MSG_TRUNC, the rest of it is gone,
//! and a client that keeps reading finishes a "complete" dump that is short. So each
//! listed object is named by the kernel's own identifier (parsed with the
//! netlink-packet-* crates), and the namespace is asked the same question another way
//! (sysfs for links, /proc/net/tcp for sockets) before the request and after NLMSG_DONE.
//! An object present at both moments was present throughout, so a complete dump must
//! list it; objects that came or went during the dump prove nothing either way.

use std::collections::BTreeSet;
use std::io;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_sock_diag::SockDiagMessage;

pub use crate::history::dump::ObjectId;
use crate::plan::DumpRequest;

/// The object one reply message lists, if it lists one. `msg` is the whole message,
/// header included.
pub fn listed(request: DumpRequest, msg: &[u8]) -> Option<ObjectId> {
    match request {
        DumpRequest::Getlink => match NetlinkMessage::<RouteNetlinkMessage>::deserialize(msg)
            .ok()?
            .payload
        {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                Some(link.header.index)
            }
            _ => None,
        },
        DumpRequest::InetDiag => match NetlinkMessage::<SockDiagMessage>::deserialize(msg)
            .ok()?
            .payload
        {
            // Time-wait and request sockets have no inode; /proc/net/tcp shows them as 0
            // too, so they are left out on both sides.
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                Some(r.header.inode).filter(|&i| i != 0)
            }
            _ => None,
        },
    }
}

/// What the namespace holds now, by a route other than the dump.
pub fn present(request: DumpRequest) -> io::Result<BTreeSet<ObjectId>> {
    match request {
        DumpRequest::Getlink => links(),
        DumpRequest::InetDiag => Ok(tcp_inodes(&std::fs::read_to_string("/proc/net/tcp")?)),
    }
}

/// The ifindex of every link in /sys/class/net (sysfs as mounted in the sandbox shows
/// the sandbox's links). A link that goes away while being read is skipped.
fn links() -> io::Result<BTreeSet<ObjectId>> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir("/sys/class/net")? {
        let path = entry?.path().join("ifindex");
        if let Some(i) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            out.insert(i);
        }
    }
    Ok(out)
}

/// The nonzero inodes in /proc/net/tcp text (the tenth column).
fn tcp_inodes(text: &str) -> BTreeSet<ObjectId> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(9)?.parse().ok())
        .filter(|&i| i != 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A1B2 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A1B2 0100007F:C3D4 01 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C3D4 0100007F:A1B2 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3 0000000000000000
";

    #[test]
    fn proc_net_tcp_inodes_skip_the_header_and_time_wait() {
        assert_eq!(tcp_inodes(TCP), BTreeSet::from([31337, 31338]));
    }

    #[test]
    fn reply_messages_name_their_objects() {
        // RTM_NEWLINK: nlmsghdr + ifinfomsg with ifindex 7.
        let mut link = vec![0u8; 32];
        link[0..4].copy_from_slice(&32u32.to_ne_bytes());
        link[4..6].copy_from_slice(&16u16.to_ne_bytes());
        link[20..24].copy_from_slice(&7i32.to_ne_bytes());
        assert_eq!(listed(DumpRequest::Getlink, &link), Some(7));
        // NLMSG_DONE lists nothing.
        let mut done = vec![0u8; 20];
        done[0..4].copy_from_slice(&20u32.to_ne_bytes());
        done[4..6].copy_from_slice(&3u16.to_ne_bytes());
        assert_eq!(listed(DumpRequest::Getlink, &done), None);
        // SOCK_DIAG_BY_FAMILY reply: nlmsghdr + inet_diag_msg (72 B), inode last.
        let mut sock = vec![0u8; 16 + 72];
        sock[0..4].copy_from_slice(&88u32.to_ne_bytes());
        sock[4..6].copy_from_slice(&20u16.to_ne_bytes());
        sock[16] = libc::AF_INET as u8;
        sock[17] = 1; // TCP_ESTABLISHED
        sock[84..88].copy_from_slice(&4242u32.to_ne_bytes());
        assert_eq!(listed(DumpRequest::InetDiag, &sock), Some(4242));
    }
}
