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

// The events are plan data (a replay carries them into the sandbox); this module reads
// and writes their text.
pub use crate::plan::{Source, TraceEvent};

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
