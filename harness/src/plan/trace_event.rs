//! One recorded uevent, as a replay carries it in its plan. The text format it is read
//! from and written to lives in `trace/`.

use serde::{Deserialize, Serialize};

/// Which of udevadm's two sources printed an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The kernel's uevent (`KERNEL[...]`), what nlstorm replays.
    Kernel,
    /// udevd's rebroadcast after rule processing (`UDEV  [...]`), skipped unless asked for.
    Udev,
}

impl Source {
    /// The word udevadm prints.
    pub fn word(self) -> &'static str {
        match self {
            Source::Kernel => "KERNEL",
            Source::Udev => "UDEV",
        }
    }
}

/// One event of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Who printed it.
    pub source: Source,
    /// When udevadm received it (CLOCK_MONOTONIC), microseconds.
    pub at_us: u64,
    /// The header's action (`add`, `remove`, `change`, `move`, `bind`, ...).
    pub action: String,
    /// The header's devpath, without `/sys`.
    pub devpath: String,
    /// The header's subsystem.
    pub subsystem: String,
    /// The kernel's SEQNUM as recorded; never replayed (the kernel appends its own).
    pub seqnum: Option<u64>,
    /// `KEY=VALUE` properties in their recorded order, SEQNUM left out and DEVNAME
    /// without the `/dev/` that udevadm prepends: the keys as the kernel sent them.
    pub properties: Vec<(String, String)>,
}

impl TraceEvent {
    /// The uevent as the kernel would send it, without SEQNUM: `ACTION@DEVPATH`, then
    /// every property, each NUL-terminated.
    pub fn wire(&self) -> Vec<u8> {
        let mut out = format!("{}@{}", self.action, self.devpath).into_bytes();
        out.push(0);
        for (k, v) in &self.properties {
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }
}
