//! RTM_NEWLINK / RTM_SETLINK / RTM_DELLINK requests, built by hand: a header, a struct
//! ifinfomsg and attributes, every one asking for an ack so a refusal is an error of
//! the call that made it.

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_SETLINK: u16 = 19;
const IFF_UP: u32 = 1;
const NLM_F_REQUEST_ACK: u16 = 0x1 | 0x4;
const NLM_F_CREATE_EXCL: u16 = 0x400 | 0x200;
const IFLA_IFNAME: u16 = 3;
const IFLA_IFALIAS: u16 = 20;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

/// A netlink request under construction: header, ifinfomsg, attributes.
struct Request(Vec<u8>);

impl Request {
    fn link(kind: u16, flags: u16, index: i32, ifi_flags: u32, change: u32) -> Self {
        let mut m = Vec::with_capacity(128);
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&(NLM_F_REQUEST_ACK | flags).to_ne_bytes());
        m.extend_from_slice(&[0u8; 8]);
        Request(m).ifinfo(index, ifi_flags, change)
    }

    /// struct ifinfomsg: family, pad, type, index, flags, change.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Self {
        self.0.extend_from_slice(&[0u8; 4]);
        self.0.extend_from_slice(&index.to_ne_bytes());
        self.0.extend_from_slice(&flags.to_ne_bytes());
        self.0.extend_from_slice(&change.to_ne_bytes());
        self
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Self {
        self.0
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    /// Opens a nested attribute; `end` closes it.
    fn nest(self, kind: u16) -> (Self, usize) {
        let at = self.0.len();
        (self.attr(kind, &[]), at)
    }

    fn end(mut self, at: usize) -> Self {
        let len = (self.0.len() - at) as u16;
        self.0[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn done(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

fn name_attr(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// RTM_NEWLINK that sets or clears IFF_UP on `index`.
pub fn set_up_msg(index: i32, up: bool) -> Vec<u8> {
    Request::link(RTM_NEWLINK, 0, index, if up { IFF_UP } else { 0 }, IFF_UP).done()
}

/// RTM_NEWLINK creating veth pair `name`/`name`p.
pub fn add_veth_msg(name: &str) -> Vec<u8> {
    let r =
        Request::link(RTM_NEWLINK, NLM_F_CREATE_EXCL, 0, 0, 0).attr(IFLA_IFNAME, &name_attr(name));
    let (r, info) = r.nest(IFLA_LINKINFO);
    let r = r.attr(IFLA_INFO_KIND, b"veth");
    let (r, data) = r.nest(IFLA_INFO_DATA);
    let (r, peer) = r.nest(VETH_INFO_PEER);
    let r = r
        .ifinfo(0, 0, 0)
        .attr(IFLA_IFNAME, &name_attr(&format!("{name}p")));
    r.end(peer).end(data).end(info).done()
}

/// RTM_SETLINK of `index`'s alias (IFLA_IFALIAS) to `alias`, acked.
pub fn set_alias_msg(index: i32, alias: &[u8]) -> Vec<u8> {
    Request::link(RTM_SETLINK, 0, index, 0, 0)
        .attr(IFLA_IFALIAS, alias)
        .done()
}

/// RTM_DELLINK of `name` (its peer goes with it).
pub fn del_link_msg(name: &str) -> Vec<u8> {
    Request::link(RTM_DELLINK, 0, 0, 0, 0)
        .attr(IFLA_IFNAME, &name_attr(name))
        .done()
}
