//! RTM_NEWLINK / RTM_SETLINK / RTM_DELLINK requests, built with netlink-packet-route,
//! every one asking for an ack so a refusal is an error of the call that made it.

use netlink_packet_core::{
    DefaultNla, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

/// IFLA_IFALIAS (include/uapi/linux/if_link.h).
const IFLA_IFALIAS: u16 = 20;

/// A link message for `index` with `flags` under `change`: family and type unspecified
/// (0), as a request that names its link by index or by name.
fn link(index: u32, flags: LinkFlags, change: LinkFlags) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.link_layer_type = LinkLayerType::from(0u16);
    m.header.flags = flags;
    m.header.change_mask = change;
    m
}

/// `message` as a request with an ack, plus `extra` header flags, in wire bytes.
fn request(message: RouteNetlinkMessage, extra: u16) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK | extra;
    let mut m = NetlinkMessage::new(header, NetlinkPayload::from(message));
    m.finalize();
    let mut buf = vec![0u8; m.buffer_len()];
    m.serialize(&mut buf);
    buf
}

/// RTM_NEWLINK that sets or clears IFF_UP on `index`.
pub fn set_up_msg(index: i32, up: bool) -> Vec<u8> {
    let flags = if up {
        LinkFlags::Up
    } else {
        LinkFlags::empty()
    };
    let m = link(index as u32, flags, LinkFlags::Up);
    request(RouteNetlinkMessage::NewLink(m), 0)
}

/// RTM_NEWLINK creating veth pair `name`/`name`p.
pub fn add_veth_msg(name: &str) -> Vec<u8> {
    let empty = LinkFlags::empty();
    let mut peer = link(0, empty, empty);
    peer.attributes
        .push(LinkAttribute::IfName(format!("{name}p")));
    let mut m = link(0, empty, empty);
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
}

/// RTM_SETLINK of `index`'s alias (IFLA_IFALIAS) to `alias`, acked. The alias goes as
/// raw bytes, without the NUL that `LinkAttribute::IfAlias` appends: dev_set_alias()
/// counts the attribute's whole length against IFALIASZ, so a NUL would cost the
/// longest alias (and so the largest message of the link-alias path) a byte.
pub fn set_alias_msg(index: i32, alias: &[u8]) -> Vec<u8> {
    let empty = LinkFlags::empty();
    let mut m = link(index as u32, empty, empty);
    m.attributes.push(LinkAttribute::Other(DefaultNla::new(
        IFLA_IFALIAS,
        alias.to_vec(),
    )));
    request(RouteNetlinkMessage::SetLink(m), 0)
}

/// RTM_DELLINK of `name` (its peer goes with it).
pub fn del_link_msg(name: &str) -> Vec<u8> {
    let empty = LinkFlags::empty();
    let mut m = link(0, empty, empty);
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    request(RouteNetlinkMessage::DelLink(m), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields the kernel reads, at their offsets: header, ifinfomsg, one attribute.
    #[test]
    fn an_alias_request_carries_the_bytes_exactly() {
        let m = set_alias_msg(3, b"abc");
        let u16_at = |i: usize| u16::from_ne_bytes([m[i], m[i + 1]]);
        let u32_at = |i: usize| u32::from_ne_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
        assert_eq!(u32_at(0) as usize, m.len());
        assert_eq!(u16_at(4), 19, "RTM_SETLINK");
        assert_eq!(u16_at(6), 0x1 | 0x4, "NLM_F_REQUEST | NLM_F_ACK");
        assert_eq!(u32_at(16 + 4), 3, "ifi_index");
        assert_eq!((u16_at(32), u16_at(34)), (4 + 3, IFLA_IFALIAS));
        assert_eq!(&m[36..39], b"abc");
    }

    #[test]
    fn a_link_is_set_up_by_flag_and_mask() {
        let m = set_up_msg(7, true);
        let u32_at = |i: usize| u32::from_ne_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
        assert_eq!(m.len(), 32, "header and ifinfomsg, no attribute");
        assert_eq!(
            (u32_at(24), u32_at(28)),
            (1, 1),
            "IFF_UP under the IFF_UP mask"
        );
        let down = set_up_msg(7, false);
        assert_eq!(&down[24..28], &[0, 0, 0, 0]);
    }
}
