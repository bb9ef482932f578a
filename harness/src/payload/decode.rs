//! Tells this run's messages from anyone else's, and reads their source and sequence.

use super::*;
use crate::plan::Protocol;

/// Decodes a whole datagram from `protocol` and decides whether it belongs to `run`.
pub fn decode(protocol: Protocol, buf: &[u8], run: &RunId, uuid: &str) -> Tag {
    decode_read(protocol, buf, false, run, uuid, &Claims::default())
}

/// What a receiver counts as this run's without nlstorm's keys in it: the messages of
/// bare emitters (`bare = true`), known by where they come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// Bare kernel-uevent emitters feeding the receiver: a whole uevent of their veth
    /// `nls<i>` is theirs (nothing else makes that device send while a run goes on).
    pub bare_uevents: Vec<u16>,
    /// Bare usersock emitters feeding the receiver: a message without nlstorm's header
    /// is theirs (only the run sends on a group of the sandbox's own namespace).
    pub bare_usersock: Vec<u16>,
}

impl Claims {
    /// The source of a message claimed by `sources`: the one emitter, if only one.
    fn one_of(sources: &[u16]) -> Option<u16> {
        match sources {
            [one] => Some(*one),
            _ => None,
        }
    }
}

/// Decodes what a read returned of a datagram, `truncated` when the read buffer was
/// shorter than it (MSG_TRUNC): only whole fields are believed, and a cut uevent is
/// still this run's when its header names a device only this run's emitters use.
pub fn decode_read(
    protocol: Protocol,
    buf: &[u8],
    truncated: bool,
    run: &RunId,
    uuid: &str,
    claims: &Claims,
) -> Tag {
    match protocol {
        Protocol::Usersock => match decode_usersock(buf, run) {
            Tag::Foreign if !claims.bare_usersock.is_empty() => Tag::Unnumbered {
                source: Claims::one_of(&claims.bare_usersock),
            },
            tag => tag,
        },
        Protocol::KobjectUevent => decode_uevent(buf, truncated, uuid, claims),
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
/// `SYNTH_ARG_`, the synthetic emitter writes them the same way. A field is believed only
/// when its NUL arrived: a read that cut `NLSTORMSEQ=000...0012` after `0001` must not
/// count sequence 1.
fn decode_uevent(buf: &[u8], truncated: bool, uuid: &str, claims: &Claims) -> Tag {
    // Whole fields only: what follows the last NUL is nothing for a whole uevent, a cut
    // field otherwise. Sliced, not collected: this runs for every datagram read.
    let whole = &buf[..buf.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1)];
    let fields = || whole.split(|&b| b == 0).filter(|f| !f.is_empty());
    let mut ours = None;
    let mut source = None;
    let mut seq = None;
    for field in fields() {
        if let Some(v) = field.strip_prefix(b"SYNTH_UUID=") {
            // `SYNTH_UUID=0` is the kernel's for a write without one: no run id.
            ours = (v != b"0").then(|| v == uuid.as_bytes());
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
        if ours.is_some() && source.is_some() && seq.is_some() {
            break;
        }
    }
    let source = source
        .filter(|s| *s <= u64::from(u16::MAX))
        .map(|s| s as u16);
    match (ours, source, seq) {
        (Some(true), Some(source), Some(seq)) => Tag::Ours { source, seq },
        (Some(true), source, None) if truncated => Tag::Unnumbered { source },
        (None, _, _) => match fields().next().and_then(sandbox_device_source) {
            Some(source) if truncated => Tag::Unnumbered { source },
            // Whole, with no run id: a bare emitter's uevent through its own veth.
            Some(Some(i)) if claims.bare_uevents.contains(&i) => {
                Tag::Unnumbered { source: Some(i) }
            }
            _ => Tag::Foreign,
        },
        _ => Tag::Foreign,
    }
}

/// A cut uevent whose run id did not survive is still this run's when its header is
/// `ACTION@DEVPATH` of a device only nlstorm makes in its sandbox: a veth `nls<i>`,
/// whose uevents only emitter `i` causes while a run goes on (the source), or the
/// synthetic and injected uevents' `/devices/virtual/misc/nlstorm` (no source: several
/// emitters may send them). Both live in the sandbox's network namespace only.
fn sandbox_device_source(header: &[u8]) -> Option<Option<u16>> {
    let at = header.iter().position(|&b| b == b'@')?;
    let devpath = &header[at + 1..];
    if devpath == SYNTHETIC_DEVPATH.as_bytes() {
        return Some(None);
    }
    let i = devpath
        .strip_prefix(b"/devices/virtual/net/")?
        .strip_prefix(crate::plan::limits::DEVICE_PREFIX.as_bytes())?;
    let i = std::str::from_utf8(i).ok()?;
    (!i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        .then(|| i.parse::<u16>().ok())
        .flatten()
        .map(Some)
}
