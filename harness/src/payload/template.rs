//! Prebuilt messages of every path, their length chosen by where the padding stops.

use super::contents::UeventBody;
use super::*;

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
    /// Whether the message carries nlstorm's source and sequence (bare ones do not).
    numbered: bool,
}

impl Template {
    /// Length of the shortest message.
    pub fn min_len(&self) -> usize {
        self.min_len
    }

    /// Rewrites the source index (calibration messages use one no receiver counts).
    pub fn set_source(&mut self, source: u16) {
        if !self.numbered {
            return;
        }
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
        if self.numbered {
            if self.seq_at == usize::MAX {
                self.buf[8..16].copy_from_slice(&seq.to_le_bytes());
            } else {
                put_decimal(&mut self.buf[self.seq_at..self.seq_at + SEQ_DIGITS], seq);
            }
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
        numbered: true,
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
        numbered: true,
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
    let devpath = SYNTHETIC_DEVPATH;
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
        numbered: true,
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
        numbered: true,
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
        numbered: true,
    }
}

/// A bare kernel uevent: the action alone, so kobject_synth_uevent() adds no SYNTH_UUID
/// or SYNTH_ARG keys and the uevent is the kernel's own keys.
pub fn sysfs_bare_template() -> Template {
    let buf = crate::plan::limits::KERNEL_UEVENT_ACTION
        .as_bytes()
        .to_vec();
    Template {
        min_len: buf.len(),
        buf,
        seq_at: 0,
        src_at: 0,
        nul_terminated: false,
        numbered: false,
    }
}

/// A bare usersock message: `max_len` zero bytes, nothing of nlstorm's in them.
pub fn usersock_bare_template(max_len: usize) -> Template {
    Template {
        buf: vec![0u8; max_len.max(1)],
        seq_at: 0,
        src_at: 0,
        min_len: 1,
        nul_terminated: false,
        numbered: false,
    }
}
