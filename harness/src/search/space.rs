//! What exploration searches over: the part of the space the command line fixes, and
//! the points of a space (broadcast cases and dump cases alike) that become plans. Its
//! own module so that the broadcast and the dump strategies both depend on it and not
//! on each other.

use serde::{Deserialize, Serialize};

use crate::plan::{EmitterKind, Plan};

/// The part of the space the command line fixes; `None` leaves a dimension open.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Space {
    /// Only this emitter kind.
    pub emitter: Option<EmitterKind>,
    /// Payload bytes, inclusive.
    pub payload: Option<(u32, u32)>,
    /// SO_RCVBUF request bytes, inclusive (plain requests only).
    pub rcvbuf: Option<(u64, u64)>,
    /// Receivers, inclusive.
    pub receivers: Option<(u32, u32)>,
    /// Only without a reader (`false`) or only with one (`true`).
    pub reader: Option<bool>,
    /// Only this NETLINK_NO_ENOBUFS setting.
    pub no_enobufs: Option<bool>,
    /// Only single bursts (`burst`) or only timed schedules (`timed`).
    pub schedule: Option<String>,
    /// no-hang: only clients with a socket filter (`true`) or only without (`false`).
    #[serde(default)]
    pub filters: Option<bool>,
}

/// A point of an explored space: anything that becomes a plan.
pub trait Explorable: Clone + std::fmt::Debug + Serialize {
    /// The plan that runs it.
    fn plan(&self, name: &str) -> Plan;
    /// NETLINK_NO_ENOBUFS on its receivers (what `accounting` expects of ENOBUFS).
    fn no_enobufs(&self) -> bool;
}
