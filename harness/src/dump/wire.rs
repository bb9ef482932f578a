//! Dump requests built byte by byte and replies walked header by header: the client's
//! control flow needs only types, flags, sequence numbers and error codes, and the C
//! reproducer writes the same bytes. Message bodies are parsed, with the netlink-packet-*
//! crates, only to name the objects a dump lists (see [`super::objects`]).

use crate::plan::DumpRequest;

/// struct nlmsghdr.
pub const NLMSG_HDRLEN: usize = 16;
/// NLMSG_ERROR.
pub const NLMSG_ERROR: u16 = 2;
/// NLMSG_DONE.
pub const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const RTM_GETLINK: u16 = 18;
const SOCK_DIAG_BY_FAMILY: u16 = 20;

impl DumpRequest {
    /// The netlink family the request goes to.
    pub fn family(self) -> libc::c_int {
        match self {
            DumpRequest::Getlink => libc::NETLINK_ROUTE,
            DumpRequest::InetDiag => libc::NETLINK_SOCK_DIAG,
        }
    }

    /// The request with sequence number `seq`.
    pub fn encode(self, seq: u32) -> Vec<u8> {
        let (kind, body): (u16, Vec<u8>) = match self {
            // struct ifinfomsg: family AF_UNSPEC, everything else zero.
            DumpRequest::Getlink => (RTM_GETLINK, vec![0u8; 16]),
            DumpRequest::InetDiag => {
                // struct inet_diag_req_v2: family, protocol, ext, pad, states, id (48 B).
                let mut b = vec![0u8; 56];
                b[0] = libc::AF_INET as u8;
                b[1] = libc::IPPROTO_TCP as u8;
                b[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
                (SOCK_DIAG_BY_FAMILY, b)
            }
        };
        let len = (NLMSG_HDRLEN + body.len()) as u32;
        let mut m = Vec::with_capacity(len as usize);
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&body);
        m
    }
}

/// One message header from a reply datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// nlmsg_type.
    pub kind: u16,
    /// nlmsg_flags.
    pub flags: u16,
    /// nlmsg_seq.
    pub seq: u32,
    /// nlmsg_pid (0 from the kernel).
    pub pid: u32,
    /// For NLMSG_ERROR: the (positive) errno; 0 for an ack.
    pub error: Option<i32>,
}

/// The headers in the first `len` bytes of `buf`, stopping at anything malformed (a
/// truncated datagram ends mid-message).
pub fn headers(buf: &[u8]) -> Vec<Header> {
    messages(buf).into_iter().map(|(h, _)| h).collect()
}

/// The whole messages in `buf` with their headers, stopping where [`headers`] stops.
pub fn messages(buf: &[u8]) -> Vec<(Header, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let u32_at = |o: usize| u32::from_ne_bytes(buf[o..o + 4].try_into().expect("4 bytes"));
        let len = u32_at(at) as usize;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        let error = (kind == NLMSG_ERROR && len >= NLMSG_HDRLEN + 4)
            .then(|| -(u32_at(at + NLMSG_HDRLEN) as i32));
        let h = Header {
            kind,
            flags: u16::from_ne_bytes([buf[at + 6], buf[at + 7]]),
            seq: u32_at(at + 8),
            pid: u32_at(at + 12),
            error,
        };
        out.push((h, &buf[at..at + len]));
        at += (len + 3) & !3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_well_formed() {
        let g = DumpRequest::Getlink.encode(7);
        assert_eq!(g.len(), 32);
        let h = headers(&g);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].kind, h[0].flags, h[0].seq), (RTM_GETLINK, 0x301, 7));
        let d = DumpRequest::InetDiag.encode(9);
        assert_eq!(d.len(), 72);
        assert_eq!(headers(&d)[0].kind, SOCK_DIAG_BY_FAMILY);
    }

    #[test]
    fn walks_replies_and_stops_at_a_cut() {
        let mut buf = Vec::new();
        for (kind, seq, extra) in [
            (16u16, 5u32, 20usize),
            (NLMSG_ERROR, 5, 20),
            (NLMSG_DONE, 5, 4),
        ] {
            let len = (NLMSG_HDRLEN + extra) as u32;
            buf.extend_from_slice(&len.to_ne_bytes());
            buf.extend_from_slice(&kind.to_ne_bytes());
            buf.extend_from_slice(&2u16.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            let mut body = vec![0u8; extra];
            if kind == NLMSG_ERROR {
                body[..4].copy_from_slice(&(-16i32).to_ne_bytes());
            }
            buf.extend_from_slice(&body);
        }
        let h = headers(&buf);
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].error, Some(16));
        assert_eq!(h[2].kind, NLMSG_DONE);
        assert_eq!(
            headers(&buf[..buf.len() - 2]).len(),
            2,
            "a cut message is not read"
        );
    }
}
