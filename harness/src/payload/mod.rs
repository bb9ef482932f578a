//! What each message carries so receivers can account exactly: the run id, the emitter,
//! and a per-emitter sequence number. `template` builds messages of an exact size without
//! allocating or formatting per message, `decode` tells ours from anyone else's, and
//! `contents` holds the uevent bodies of content profiles and replayed traces.

mod contents;
mod decode;
mod template;

pub use contents::{plain_body, profile_events, UeventBody, REPLAY_KEYS_LEN, USB_HOTPLUG_TRACE};
pub use decode::{decode, decode_read, Claims};
pub use template::{
    link_alias_template, replay_template, synthetic_uevent_template, sysfs_bare_template,
    sysfs_write_template, usersock_bare_template, usersock_template, Message, Template,
};

use std::fmt;

use serde::{Deserialize, Serialize};

/// Random id of one run; uevent payloads carry it as `SYNTH_UUID`.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunId(pub [u8; 16]);

impl RunId {
    /// A fresh random id (from getrandom(2)).
    pub fn random() -> Self {
        // getrandom on a 16-byte buffer never returns short and never fails once the
        // pool is initialised; fall back to time and pid if it somehow does.
        let mut b = crate::sys::random16().unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            (t ^ (std::process::id() as u128) << 64).to_le_bytes()
        });
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        RunId(b)
    }

    /// The canonical 36-character form the kernel's `uuid_is_valid()` accepts.
    pub fn uuid(&self) -> String {
        let h: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// Low 32 bits, as carried in the compact usersock header.
    pub fn tag32(&self) -> u32 {
        u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uuid())
    }
}

/// What a received datagram turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// From this run: emitter index and sequence number.
    Ours {
        /// Emitter index in the plan.
        source: u16,
        /// Sequence number, from 0.
        seq: u64,
    },
    /// From this run, but the sequence number is not in what was read (a read buffer
    /// shorter than the message cut it off): counted as delivered, never as lost or
    /// foreign. The source when it could still be told.
    Unnumbered {
        /// Emitter index, if its key or device survived the cut.
        source: Option<u16>,
    },
    /// Not from this run (another uevent the namespace can see, or unparseable).
    Foreign,
}

const SEQ_DIGITS: usize = 20;
const SRC_DIGITS: usize = 3;
const SRC_KEY: &str = "NLSTORMSRC";
const SEQ_KEY: &str = "NLSTORMSEQ";
const PAD_KEY: &str = "NLSTORMPAD";
/// The device synthetic and injected uevents of nlstorm's own bodies name.
const SYNTHETIC_DEVPATH: &str = "/devices/virtual/misc/nlstorm";

pub use crate::plan::USERSOCK_HEADER;
const USERSOCK_MAGIC: [u8; 2] = *b"NL";

/// Writes `n` as exactly `out.len()` zero-padded decimal digits, without allocating.
fn put_decimal(out: &mut [u8], mut n: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        d.is_ascii_digit()
            .then(|| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}

/// How a link alias starts: `ip -d monitor link` prints it as `alias nlstorm run=...`.
const ALIAS_PREFIX: &str = "nlstorm run=";

pub use crate::plan::LINK_ALIAS_MIN;

// The plan bounds link-alias payloads by LINK_ALIAS_MIN: it must be this format's length
// (prefix, run id, source and sequence).
const _: () = assert!(
    LINK_ALIAS_MIN
        == ALIAS_PREFIX.len() + 36 + " src=".len() + SRC_DIGITS + " seq=".len() + SEQ_DIGITS
);

#[cfg(test)]
mod tests;
