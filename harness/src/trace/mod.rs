//! Recorded uevent traces in the text format of `udevadm monitor --kernel --property`:
//! what users capture when a hotplug storm breaks their listener, and what nlstorm
//! replays. The format is read and written here and nowhere else.
//!
//! ```text
//! monitor will print the received events for:
//! KERNEL - the kernel uevent
//!
//! KERNEL[1234.567890] add      /devices/virtual/net/veth0 (net)
//! ACTION=add
//! DEVPATH=/devices/virtual/net/veth0
//! SUBSYSTEM=net
//! INTERFACE=veth0
//! IFINDEX=5
//! SEQNUM=4321
//!
//! ```
//!
//! Lines starting with `#` before the first event are the trace's provenance (the
//! command, kernel release and date that produced it); udevadm writes none, nlstorm's
//! recorder and the bundled traces do.

mod format;
mod parse;
pub mod record;
mod summary;

pub use format::format;
pub use parse::{parse, TraceError};
pub use summary::{Summary, BURST_WINDOW};

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

/// A whole trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// The `#` lines before the first event, without the `#` and one following space.
    pub provenance: Vec<String>,
    /// Events in file order.
    pub events: Vec<TraceEvent>,
}

impl Trace {
    /// The events a replay sends: kernel events, and udevd's too when `udev` is set.
    pub fn replayable(&self, udev: bool) -> impl Iterator<Item = &TraceEvent> {
        self.events
            .iter()
            .filter(move |e| udev || e.source == Source::Kernel)
    }
}
