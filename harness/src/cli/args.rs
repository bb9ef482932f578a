//! Argument types shared by the search commands, parsed with the errors a user can act on.

use clap::ValueEnum;

use nlstorm::plan::{EmitterKind, RcvbufPlan};
use nlstorm::search::case::GROUP;

/// Emitter kinds as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmitterArg {
    /// Writes to a sandbox device's uevent file; the kernel broadcasts.
    KernelUevent,
    /// A user socket broadcasts kernel-format uevents.
    SyntheticUevent,
    /// NETLINK_USERSOCK broadcasts.
    Usersock,
}

impl EmitterArg {
    pub fn kind(self) -> EmitterKind {
        match self {
            EmitterArg::KernelUevent => EmitterKind::KernelUevent,
            EmitterArg::SyntheticUevent => EmitterKind::SyntheticUevent,
            EmitterArg::Usersock => EmitterKind::Usersock { group: GROUP },
        }
    }
}

/// A size such as `4KiB`.
pub fn size(text: &str) -> Result<u64, String> {
    nlstorm::units::parse_size(text).map_err(|e| e.to_string())
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
pub fn rcvbuf(plain: Option<u64>, force: Option<u64>) -> RcvbufPlan {
    match (plain, force) {
        (_, Some(bytes)) => RcvbufPlan::Force { bytes },
        (Some(bytes), None) => RcvbufPlan::Request { bytes },
        (None, None) => RcvbufPlan::Default,
    }
}
