//! What each message carries so receivers can account exactly: the run id, the emitter,
//! and a per-emitter sequence number; and how messages of an exact size are built without
//! allocating or formatting per message.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::plan::{ContentsProfile, Protocol};

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
    /// Not from this run (another uevent the namespace can see, or unparseable).
    Foreign,
}

const SEQ_DIGITS: usize = 20;
const SRC_DIGITS: usize = 3;
const SRC_KEY: &str = "NLSTORMSRC";
const SEQ_KEY: &str = "NLSTORMSEQ";
const PAD_KEY: &str = "NLSTORMPAD";

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

/// Decodes a datagram from `protocol` and decides whether it belongs to `run`.
pub fn decode(protocol: Protocol, buf: &[u8], run: &RunId, uuid: &str) -> Tag {
    match protocol {
        Protocol::Usersock => decode_usersock(buf, run),
        Protocol::KobjectUevent => decode_uevent(buf, uuid),
        Protocol::Route => decode_alias(buf, uuid),
    }
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

/// The variable part of a uevent: action and extra keys, all alphanumeric (the kernel's
/// synthetic-uevent parser accepts nothing else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UeventBody {
    /// `add`, `change`, `bind`, ...
    pub action: String,
    /// Extra `KEY=VALUE` pairs.
    pub keys: Vec<(String, String)>,
}

/// The trace behind the `usb-hotplug` profile. Its header says what it is: written by
/// hand in the shape of a real plug, because no USB device can be plugged here.
pub const USB_HOTPLUG_TRACE: &str = include_str!("../../fixtures/traces/usb-hotplug.txt");

/// The event sequence of a content profile.
pub fn profile_events(profile: ContentsProfile) -> Vec<UeventBody> {
    let text = match profile {
        ContentsProfile::UsbHotplug => USB_HOTPLUG_TRACE,
    };
    // A unit test parses the bundled trace, so this cannot fail in a built binary.
    let trace = crate::trace::parse(text, "fixtures/traces/usb-hotplug.txt")
        .expect("the bundled usb-hotplug trace parses");
    trace.replayable(false).map(alphanumeric_body).collect()
}

/// A recorded event as keys the sysfs path accepts: the kernel adds ACTION, DEVPATH and
/// SUBSYSTEM itself; other characters become `x` (`46d/c52b/1211` -> `46dxc52bx1211`),
/// an empty value `none`, so sizes stay close to the recorded ones.
fn alphanumeric_body(e: &crate::trace::TraceEvent) -> UeventBody {
    let clean = |s: &str, sub: Option<char>| -> String {
        s.chars()
            .filter_map(|c| {
                if c.is_ascii_alphanumeric() {
                    Some(c)
                } else {
                    sub
                }
            })
            .collect()
    };
    UeventBody {
        action: e.action.clone(),
        keys: e
            .properties
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "ACTION" | "DEVPATH" | "SUBSYSTEM"))
            .map(|(k, v)| {
                let v = clean(v, Some('x'));
                (clean(k, None), if v.is_empty() { "none".into() } else { v })
            })
            .collect(),
    }
}

/// A recorded event as the kernel sent it (without SEQNUM), then the run's keys in the
/// form the kernel path writes them, NUL-terminated: the replay of one trace event.
pub fn replay_template(run: &RunId, source: u16, event: &crate::trace::TraceEvent) -> Template {
    let mut buf = event.wire();
    buf.extend_from_slice(format!("SYNTH_UUID={}\0SYNTH_ARG_{SRC_KEY}=", run.uuid()).as_bytes());
    let src_at = buf.len();
    buf.extend_from_slice(format!("{source:0w$}\0SYNTH_ARG_{SEQ_KEY}=", w = SRC_DIGITS).as_bytes());
    let seq_at = buf.len();
    buf.extend_from_slice(&[b'0'; SEQ_DIGITS]);
    buf.push(0);
    let min_len = buf.len();
    Template {
        buf,
        seq_at,
        src_at,
        min_len,
        nul_terminated: true,
    }
}

/// Bytes a replay adds to each recorded event: the run id, source and sequence keys.
pub const REPLAY_KEYS_LEN: usize = "SYNTH_UUID=".len()
    + 36
    + 1
    + "SYNTH_ARG_NLSTORMSRC=".len()
    + SRC_DIGITS
    + 1
    + "SYNTH_ARG_NLSTORMSEQ=".len()
    + SEQ_DIGITS
    + 1;

/// A prebuilt message whose sequence number is patched in place and whose length is
/// chosen by where the padding stops: no allocation or formatting per message.
#[derive(Debug, Clone)]
pub struct Template {
    buf: Vec<u8>,
    /// Where the sequence number goes; `usize::MAX` for the binary usersock header.
    seq_at: usize,
    /// Where the source index goes (decimal templates).
    src_at: usize,
    /// Offset where padding starts: the shortest message this template can produce.
    min_len: usize,
    /// Whether the sent bytes must end with a NUL (uevent datagrams do).
    nul_terminated: bool,
}

impl Template {
    /// Length of the shortest message.
    pub fn min_len(&self) -> usize {
        self.min_len
    }

    /// Rewrites the source index (calibration messages use one no receiver counts).
    pub fn set_source(&mut self, source: u16) {
        if self.seq_at == usize::MAX {
            self.buf[2..4].copy_from_slice(&source.to_le_bytes());
        } else {
            put_decimal(
                &mut self.buf[self.src_at..self.src_at + SRC_DIGITS],
                u64::from(source),
            );
        }
    }

    /// Length of the longest message.
    pub fn max_len(&self) -> usize {
        self.buf.len()
    }

    /// The message with sequence number `seq`, `len` bytes long (clamped to the template).
    /// The returned slice is valid until the next call.
    pub fn render(&mut self, seq: u64, len: usize) -> Message<'_> {
        let len = len.clamp(self.min_len, self.buf.len());
        if self.seq_at == usize::MAX {
            self.buf[8..16].copy_from_slice(&seq.to_le_bytes());
        } else {
            put_decimal(&mut self.buf[self.seq_at..self.seq_at + SEQ_DIGITS], seq);
        }
        let saved = self.buf[len - 1];
        if self.nul_terminated {
            self.buf[len - 1] = 0;
        }
        Message {
            template: self,
            len,
            saved,
        }
    }
}

/// A rendered message; restores the template's padding byte when dropped.
pub struct Message<'a> {
    template: &'a mut Template,
    len: usize,
    saved: u8,
}

impl Message<'_> {
    /// The bytes to send.
    pub fn bytes(&self) -> &[u8] {
        &self.template.buf[..self.len]
    }
}

impl Drop for Message<'_> {
    fn drop(&mut self) {
        self.template.buf[self.len - 1] = self.saved;
    }
}

/// Usersock: compact binary header then zero padding up to `max_len`.
pub fn usersock_template(run: &RunId, source: u16, max_len: usize) -> Template {
    let mut buf = vec![0u8; max_len.max(USERSOCK_HEADER)];
    buf[0..2].copy_from_slice(&USERSOCK_MAGIC);
    buf[2..4].copy_from_slice(&source.to_le_bytes());
    buf[4..8].copy_from_slice(&run.tag32().to_le_bytes());
    Template {
        buf,
        seq_at: usize::MAX,
        src_at: 2,
        min_len: USERSOCK_HEADER,
        nul_terminated: false,
    }
}

/// The text written to `/sys/.../uevent`: `ACTION UUID KEY=VAL ...`, the padding key last
/// so that writing a prefix shortens only the padding.
pub fn sysfs_write_template(
    run: &RunId,
    source: u16,
    body: &UeventBody,
    max_pad: usize,
) -> Template {
    let mut s = format!("{} {}", body.action, run.uuid());
    s.push_str(&format!(" {SRC_KEY}="));
    let src_at = s.len();
    s.push_str(&format!("{:0w$}", source, w = SRC_DIGITS));
    s.push(' ');
    s.push_str(SEQ_KEY);
    s.push('=');
    let seq_at = s.len();
    s.push_str(&"0".repeat(SEQ_DIGITS));
    for (k, v) in &body.keys {
        s.push_str(&format!(" {k}={v}"));
    }
    s.push_str(&format!(" {PAD_KEY}=p"));
    let min_len = s.len();
    s.push_str(&"p".repeat(max_pad));
    Template {
        buf: s.into_bytes(),
        seq_at,
        src_at,
        min_len,
        nul_terminated: false,
    }
}

/// A kernel-format uevent broadcast from user space: `ACTION@DEVPATH\0ACTION=..\0...`,
/// padded by a last `SYNTH_ARG_NLSTORMPAD` key, NUL-terminated.
pub fn synthetic_uevent_template(
    run: &RunId,
    source: u16,
    body: &UeventBody,
    max_len: usize,
) -> Template {
    let devpath = "/devices/virtual/misc/nlstorm";
    let fields = [
        format!("{}@{devpath}", body.action),
        format!("ACTION={}", body.action),
        format!("DEVPATH={devpath}"),
        "SUBSYSTEM=misc".to_string(),
        format!("SYNTH_UUID={}", run.uuid()),
    ];
    let mut s = fields.join("\0");
    s.push_str(&format!("\0SYNTH_ARG_{SRC_KEY}="));
    let src_at = s.len();
    s.push_str(&format!("{:0w$}", source, w = SRC_DIGITS));
    s.push('\0');
    s.push_str(&format!("SYNTH_ARG_{SEQ_KEY}="));
    let seq_at = s.len();
    s.push_str(&"0".repeat(SEQ_DIGITS));
    for (k, v) in &body.keys {
        s.push('\0');
        s.push_str(&format!("SYNTH_ARG_{k}={v}"));
    }
    s.push_str(&format!("\0SYNTH_ARG_{PAD_KEY}=p"));
    // The byte after the pad value is turned into the terminating NUL by render().
    let min_len = s.len() + 1;
    let pad = max_len.saturating_sub(s.len()).max(1);
    s.push_str(&"p".repeat(pad));
    Template {
        buf: s.into_bytes(),
        seq_at,
        src_at,
        min_len,
        nul_terminated: true,
    }
}

/// An interface alias: `nlstorm run=<uuid> src=<NNN> seq=<20 digits>`, then spaces and
/// `p`s up to `max_len` bytes.
pub fn link_alias_template(run: &RunId, source: u16, max_len: usize) -> Template {
    let mut s = format!("{ALIAS_PREFIX}{} src=", run.uuid());
    let src_at = s.len();
    s.push_str(&format!("{:0w$} seq=", source, w = SRC_DIGITS));
    let seq_at = s.len();
    s.push_str(&"0".repeat(SEQ_DIGITS));
    let min_len = s.len();
    if max_len > min_len {
        s.push(' ');
        s.push_str(&"p".repeat(max_len - min_len - 1));
    }
    Template {
        buf: s.into_bytes(),
        seq_at,
        src_at,
        min_len,
        nul_terminated: false,
    }
}

/// The plain body used when no content profile is chosen.
pub fn plain_body() -> UeventBody {
    UeventBody {
        action: "change".into(),
        keys: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunId {
        RunId([0x11; 16])
    }

    #[test]
    fn uuid_is_kernel_shaped() {
        let u = RunId::random().uuid();
        assert_eq!(u.len(), 36);
        for (i, c) in u.chars().enumerate() {
            if [8, 13, 18, 23].contains(&i) {
                assert_eq!(c, '-');
            } else {
                assert!(c.is_ascii_hexdigit());
            }
        }
    }

    #[test]
    fn usersock_round_trip_every_length() {
        let r = run();
        let mut t = usersock_template(&r, 3, 4096);
        for len in [USERSOCK_HEADER, 17, 100, 4096] {
            let m = t.render(123_456_789, len);
            assert_eq!(m.bytes().len(), len);
            assert_eq!(
                decode(Protocol::Usersock, m.bytes(), &r, &r.uuid()),
                Tag::Ours {
                    source: 3,
                    seq: 123_456_789
                }
            );
        }
        let other = RunId([0x22; 16]);
        let m = t.render(1, 64);
        assert_eq!(
            decode(Protocol::Usersock, m.bytes(), &other, &other.uuid()),
            Tag::Foreign
        );
    }

    #[test]
    fn link_alias_round_trip_inside_a_newlink() {
        let r = run();
        let mut t = link_alias_template(&r, 2, 255);
        assert_eq!(t.min_len(), LINK_ALIAS_MIN);
        assert_eq!(LINK_ALIAS_MIN, 81);
        for len in [LINK_ALIAS_MIN, LINK_ALIAS_MIN + 1, 200, 255] {
            let m = t.render(987_654, len);
            assert_eq!(m.bytes().len(), len);
            // As the kernel lays it out: other attributes, then IFLA_IFALIAS, NUL-padded.
            let mut newlink = vec![0x10u8; 300];
            newlink.extend_from_slice(&[0, 0, 20, 0]);
            newlink.extend_from_slice(m.bytes());
            newlink.extend_from_slice(&[0; 3]);
            assert_eq!(
                decode(Protocol::Route, &newlink, &r, &r.uuid()),
                Tag::Ours {
                    source: 2,
                    seq: 987_654
                }
            );
            let other = RunId([0x22; 16]);
            assert_eq!(
                decode(Protocol::Route, &newlink, &other, &other.uuid()),
                Tag::Foreign
            );
        }
        assert_eq!(
            decode(Protocol::Route, b"alias nlstorm run=", &r, &r.uuid()),
            Tag::Foreign
        );
    }

    #[test]
    fn synthetic_uevent_round_trip_and_exact_size() {
        let r = run();
        let body = profile_events(ContentsProfile::UsbHotplug).remove(0);
        let mut t = synthetic_uevent_template(&r, 1, &body, 2000);
        for len in [t.min_len(), 700, 2000] {
            let m = t.render(42, len);
            assert_eq!(m.bytes().len(), len);
            assert_eq!(*m.bytes().last().unwrap(), 0, "uevent must end in NUL");
            assert_eq!(
                decode(Protocol::KobjectUevent, m.bytes(), &r, &r.uuid()),
                Tag::Ours { source: 1, seq: 42 }
            );
        }
        // The padding byte is restored: a longer render after a shorter one is intact.
        let long = t.render(7, 2000).bytes().to_vec();
        assert_eq!(
            long.iter().filter(|&&b| b == 0).count(),
            long.split(|&b| b == 0).count() - 1
        );
    }

    #[test]
    fn kernel_format_as_the_kernel_rewrites_it() {
        // What kobject_synth_uevent() makes of our write, as seen on the wire.
        let r = run();
        let wire = format!(
            "change@/devices/virtual/net/nls0\0ACTION=change\0DEVPATH=/devices/virtual/net/nls0\0SUBSYSTEM=net\0SYNTH_UUID={}\0SYNTH_ARG_NLSTORMSRC=002\0SYNTH_ARG_NLSTORMSEQ=00000000000000000009\0SYNTH_ARG_NLSTORMPAD=ppp\0INTERFACE=nls0\0IFINDEX=3\0SEQNUM=1234\0",
            r.uuid()
        );
        assert_eq!(
            decode(Protocol::KobjectUevent, wire.as_bytes(), &r, &r.uuid()),
            Tag::Ours { source: 2, seq: 9 }
        );
        let host = "add@/devices/pci0000:00/usb1\0ACTION=add\0SEQNUM=5\0";
        assert_eq!(
            decode(Protocol::KobjectUevent, host.as_bytes(), &r, &r.uuid()),
            Tag::Foreign
        );
    }

    #[test]
    fn sysfs_write_is_alphanumeric_args() {
        let r = run();
        let body = profile_events(ContentsProfile::UsbHotplug).remove(5);
        let mut t = sysfs_write_template(&r, 0, &body, 100);
        let m = t.render(5, t.min_len() + 10);
        let text = std::str::from_utf8(m.bytes()).unwrap();
        let mut words = text.split(' ');
        assert_eq!(words.next(), Some("add"));
        assert_eq!(words.next(), Some(r.uuid().as_str()));
        for kv in words {
            let (k, v) = kv.split_once('=').expect(kv);
            assert!(k.chars().all(|c| c.is_ascii_alphanumeric()), "{k}");
            assert!(
                !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric()),
                "{v}"
            );
        }
    }

    #[test]
    fn retagged_templates_name_another_source() {
        let r = run();
        let mut t = synthetic_uevent_template(&r, 1, &plain_body(), 300);
        t.set_source(999);
        assert_eq!(
            decode(
                Protocol::KobjectUevent,
                t.render(3, 300).bytes(),
                &r,
                &r.uuid()
            ),
            Tag::Ours {
                source: 999,
                seq: 3
            }
        );
        let mut u = usersock_template(&r, 1, 64);
        u.set_source(7);
        assert_eq!(
            decode(Protocol::Usersock, u.render(3, 64).bytes(), &r, &r.uuid()),
            Tag::Ours { source: 7, seq: 3 }
        );
    }

    #[test]
    fn the_usb_profile_is_the_bundled_trace_made_alphanumeric() {
        let events = profile_events(ContentsProfile::UsbHotplug);
        assert_eq!(events.len(), 12);
        assert_eq!(events[0].action, "add");
        assert!(events[0]
            .keys
            .contains(&("PRODUCT".to_string(), "46dxc52bx1211".to_string())));
        assert!(events[0]
            .keys
            .contains(&("DEVNAME".to_string(), "busxusbx001x005".to_string())));
        assert!(events
            .iter()
            .all(|e| e.keys.iter().all(|(k, v)| !k.is_empty()
                && !v.is_empty()
                && (k.to_owned() + v)
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric()))));
    }

    #[test]
    fn a_replayed_event_is_the_recording_then_the_run_keys() {
        let r = run();
        let trace = crate::trace::parse(
            "KERNEL[1.000000] add /devices/virtual/net/v0 (net)\nACTION=add\nDEVPATH=/devices/virtual/net/v0\nSUBSYSTEM=net\nNAME=a b=c\nSEQNUM=77\n",
            "t",
        )
        .unwrap();
        let e = &trace.events[0];
        let mut t = replay_template(&r, 4, e);
        assert_eq!(t.min_len(), e.wire().len() + REPLAY_KEYS_LEN);
        let m = t.render(12, 0);
        let bytes = m.bytes();
        assert!(bytes.starts_with(&e.wire()));
        assert_eq!(*bytes.last().unwrap(), 0);
        assert_eq!(
            decode(Protocol::KobjectUevent, bytes, &r, &r.uuid()),
            Tag::Ours { source: 4, seq: 12 }
        );
    }

    #[test]
    fn decimal_helpers() {
        let mut b = [0u8; 5];
        put_decimal(&mut b, 42);
        assert_eq!(&b, b"00042");
        assert_eq!(parse_decimal(b"00042"), Some(42));
        assert_eq!(parse_decimal(b"4x"), None);
        assert_eq!(parse_decimal(b""), None);
    }
}
