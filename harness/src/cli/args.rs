//! Argument types shared by the search commands, parsed with the errors a user can act on.

use std::time::Duration;

use clap::{Args, ValueEnum};

use nlstorm::plan::{EmitterKind, RcvbufPlan};
use nlstorm::search::case::{Fixed, Reader, GROUP};

/// Emitter kinds as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmitterArg {
    /// Writes to a sandbox device's uevent file; the kernel broadcasts.
    KernelUevent,
    /// A user socket broadcasts kernel-format uevents.
    SyntheticUevent,
    /// A uevent sent to the kernel's uevent socket, which rebroadcasts it as its own.
    InjectedUevent,
    /// A sandbox veth's alias changes; the kernel broadcasts RTM_NEWLINK to RTNLGRP_LINK.
    LinkAlias,
    /// NETLINK_USERSOCK broadcasts.
    Usersock,
}

impl EmitterArg {
    pub fn kind(self) -> EmitterKind {
        match self {
            EmitterArg::KernelUevent => EmitterKind::KernelUevent,
            EmitterArg::SyntheticUevent => EmitterKind::SyntheticUevent,
            EmitterArg::InjectedUevent => EmitterKind::InjectedUevent,
            EmitterArg::LinkAlias => EmitterKind::LinkAlias,
            EmitterArg::Usersock => EmitterKind::Usersock { group: GROUP },
        }
    }
}

/// `1 cell`, `3 cells`.
pub fn count(n: usize, what: &str) -> String {
    nlstorm::report::count(n as u64, what)
}

/// A size such as `4KiB`.
pub fn size(text: &str) -> Result<u64, String> {
    nlstorm::units::parse_size(text).map_err(|e| e.to_string())
}

/// A buffer request such as `4KiB` or `-1`, in the one range every command and scenario
/// file accepts ([`nlstorm::plan::RcvbufRequest`]: a C int).
pub fn rcvbuf_request(text: &str) -> Result<i64, String> {
    let bytes =
        match text.strip_prefix('-') {
            Some(digits) => -i128::from(digits.parse::<u64>().map_err(|_| {
                format!("{text}: a negative request is a plain integer, such as -1")
            })?),
            None => i128::from(size(text)?),
        };
    nlstorm::plan::RcvbufRequest::new(bytes)
        .map(|r| r.bytes())
        .map_err(|e| e.to_string())
}

/// A duration such as `200ms`.
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    nlstorm::units::parse_duration(text).map_err(|e| e.to_string())
}

/// Checks a payload size against what `kind` can carry.
pub fn check_payload(kind: EmitterKind, bytes: u64) -> Result<u32, String> {
    match kind.payload_problem(bytes, bytes) {
        Some(problem) => Err(format!("--payload {bytes}: {problem}")),
        None => Ok(bytes as u32),
    }
}

/// `--rcvbuf` / `--rcvbuf-force` into a plan; neither means the default buffer.
pub fn rcvbuf(plain: Option<i64>, force: Option<i64>) -> RcvbufPlan {
    match (plain, force) {
        (_, Some(bytes)) => RcvbufPlan::Force { bytes },
        (Some(bytes), None) => RcvbufPlan::Request { bytes },
        (None, None) => RcvbufPlan::Default,
    }
}

/// The flags `threshold` and `sweep` share: the path, the reader, and how long a rate is
/// held.
#[derive(Debug, Args)]
pub struct FixedArgs {
    /// Path the messages take.
    #[arg(long, value_enum, default_value = "usersock")]
    pub emitter: EmitterArg,
    /// How long each rate is held (threshold --find rate, sweep --rate cells).
    #[arg(long, value_parser = duration, default_value = "200ms")]
    pub duration: Duration,
    /// `none`, or the reader: delay=50us,mode=poll|blocking|batch,batch=32,buffer=4096,start=0s
    /// (a sweep's --delay axis sets the delay instead).
    #[arg(long, default_value = "none")]
    pub reader: String,
    /// Set NETLINK_NO_ENOBUFS on the receivers (`--no-enobufs` is `--no-enobufs=on`).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "on", default_value = "off")]
    pub no_enobufs: OnOff,
}

/// A setting that is on or off: `--no-enobufs` alone means on, in every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

impl FixedArgs {
    /// These flags with the command's own payload, buffer and burst.
    pub fn fixed(&self, payload: u64, rcvbuf: RcvbufPlan, burst: u64) -> Result<Fixed, String> {
        let emitter = self.emitter.kind();
        Ok(Fixed {
            emitter,
            payload: check_payload(emitter, payload)?,
            rcvbuf,
            burst,
            duration: self.duration,
            reader: Reader::parse(&self.reader)?,
            no_enobufs: self.no_enobufs == OnOff::On,
        })
    }
}

/// Fails unless the output `path` (given with `flag`) can be written now: its directory
/// exists and is writable, and the file, if it exists, is writable. Checked before a run
/// starts, so that no result is measured only to be lost at the end.
pub fn check_output(flag: &str, path: &std::path::Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let tried = if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
    } else {
        nlstorm::untrusted::can_create_in(dir)
    };
    tried.map_err(|e| {
        format!(
            "{flag} {}: cannot write there ({e}): choose a writable place",
            path.display()
        )
    })
}

/// The record root can be made and written, or the message saying what to do instead.
pub fn check_record_root(root: &std::path::Path) -> Result<(), String> {
    nlstorm::untrusted::OutDir::create(root)
        .and_then(|d| d.check_writable())
        .map_err(|e| {
            format!(
                "cannot write run records under {}: {} (choose another place with --record-dir DIR, or --no-record)",
                root.display(),
                nlstorm::errors::chain(&e)
            )
        })
}
