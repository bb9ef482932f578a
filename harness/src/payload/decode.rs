//! Tells this run's messages from anyone else's, and reads their source and sequence.

use super::*;
use crate::plan::Protocol;

/// Decodes a datagram from `protocol` and decides whether it belongs to `run`.
pub fn decode(protocol: Protocol, buf: &[u8], run: &RunId, uuid: &str) -> Tag {
    match protocol {
        Protocol::Usersock => decode_usersock(buf, run),
        Protocol::KobjectUevent => decode_uevent(buf, uuid),
        Protocol::Route => decode_alias(buf, uuid),
    }
}

/// An RTM_NEWLINK is the kernel's own layout of attributes; ours is the alias, found by
/// its text wherever IFLA_IFALIAS landed.
fn decode_alias(buf: &[u8], uuid: &str) -> Tag {
    let mut marker = ALIAS_PREFIX.as_bytes().to_vec();
    marker.extend_from_slice(uuid.as_bytes());
    marker.extend_from_slice(b" src=");
    let Some(at) = buf.windows(marker.len()).position(|w| w == marker) else {
        return Tag::Foreign;
    };
    let rest = &buf[at + marker.len()..];
    let src = rest.get(..SRC_DIGITS).and_then(parse_decimal);
    let seq = rest
        .get(SRC_DIGITS..)
        .and_then(|r| r.strip_prefix(b" seq="))
        .and_then(|r| r.get(..SEQ_DIGITS))
        .and_then(parse_decimal);
    match (src, seq) {
        (Some(source), Some(seq)) if source <= u64::from(u16::MAX) => Tag::Ours {
            source: source as u16,
            seq,
        },
        _ => Tag::Foreign,
    }
}

fn decode_usersock(buf: &[u8], run: &RunId) -> Tag {
    if buf.len() < USERSOCK_HEADER || buf[0..2] != USERSOCK_MAGIC {
        return Tag::Foreign;
    }
    let tag = u32::from_le_bytes(buf[4..8].try_into().unwrap_or_default());
    if tag != run.tag32() {
        return Tag::Foreign;
    }
    Tag::Ours {
        source: u16::from_le_bytes([buf[2], buf[3]]),
        seq: u64::from_le_bytes(buf[8..16].try_into().unwrap_or_default()),
    }
}

/// A uevent is `ACTION@DEVPATH\0KEY=VAL\0...`; the kernel path prefixes our keys with
/// `SYNTH_ARG_`, the synthetic emitter writes them the same way.
fn decode_uevent(buf: &[u8], uuid: &str) -> Tag {
    let mut ours = false;
    let mut source = None;
    let mut seq = None;
    for field in buf.split(|&b| b == 0) {
        if let Some(v) = field.strip_prefix(b"SYNTH_UUID=") {
            ours = v == uuid.as_bytes();
        } else if let Some(rest) = field.strip_prefix(b"SYNTH_ARG_") {
            if let Some(v) = rest
                .strip_prefix(SRC_KEY.as_bytes())
                .and_then(|r| r.strip_prefix(b"="))
            {
                source = parse_decimal(v);
            } else if let Some(v) = rest
                .strip_prefix(SEQ_KEY.as_bytes())
                .and_then(|r| r.strip_prefix(b"="))
            {
                seq = parse_decimal(v);
            }
        }
        if ours && source.is_some() && seq.is_some() {
            break;
        }
    }
    match (ours, source, seq) {
        (true, Some(source), Some(seq)) if source <= u64::from(u16::MAX) => Tag::Ours {
            source: source as u16,
            seq,
        },
        _ => Tag::Foreign,
    }
}
