//! What a dump client did and the hangs the watchdog recorded for it, with their
//! evidence. The client and the watchdog fill these; check classifies and judges them.

use serde::{Deserialize, Serialize};

use crate::procnet::NetlinkRow;

/// An object's identity: an ifindex, or a socket's inode.
pub type ObjectId = u32;

/// The ledger and counts of one client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DumpRecord {
    /// Name from the scenario.
    pub name: String,
    /// `getlink` or `inet-diag`.
    pub request: String,
    /// Requests sent (restarts included).
    pub requests: u64,
    /// Dumps read to NLMSG_DONE.
    pub completed: u64,
    /// Dumps abandoned (policy retry-later or a recovered hang).
    pub abandoned: u64,
    /// Receive calls started.
    pub calls_started: u64,
    /// Receive calls returned.
    pub calls_returned: u64,
    /// Messages of the replies.
    pub messages: u64,
    /// Broadcasts and stale replies read.
    pub other_messages: u64,
    /// ENOBUFS returned.
    pub enobufs: u64,
    /// Datagrams with MSG_TRUNC.
    pub truncated: u64,
    /// EBUSY error acks.
    pub ebusy: u64,
    /// EBUSY error acks that arrived for an earlier request, after the client had moved
    /// on to a newer sequence number (and so could not act on them).
    pub stale_ebusy: u64,
    /// Other error acks.
    pub error_acks: u64,
    /// Dumps that got an error ack for their sequence number, kept reading, and then
    /// completed under that same number: the kernel's dump outlived the error it acked.
    #[serde(default)]
    pub completed_after_error_ack: u64,
    /// The first such error ack, in words.
    #[serde(default)]
    pub first_error_ack: Option<String>,
    /// Requests re-sent by policy.
    pub restarts: u64,
    /// Completed dumps compared with the namespace (`verify`).
    pub verified: u64,
    /// Of those, dumps that left out objects present throughout.
    pub short_dumps: u64,
    /// Objects they left out, in total.
    pub objects_missed: u64,
    /// The first short dump, in words.
    pub first_short: Option<String>,
    /// The client stopped reading by policy.
    pub stopped_by_policy: bool,
    /// The run's deadline ended it.
    pub stopped_by_deadline: bool,
    /// Hangs, with evidence.
    pub hangs: Vec<Hang>,
    /// An unexpected error.
    pub error: Option<String>,
    /// The kernel has no handler for this dump (a module not loaded, a family not built):
    /// what is missing and how to get it. The client stops at the first such answer.
    #[serde(default)]
    pub unsupported: Option<String>,
}

/// The kinds of hang nlstorm tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HangClass {
    /// A dump is in progress in the kernel (Dump=1), nothing is queued, the reader waits:
    /// the kernel will not produce the next part by itself.
    DumpStalled,
    /// The kernel dropped messages for the socket while the client waited for its
    /// sequence number: the reply or ack was lost.
    ReplyLost,
    /// The client waits, but no dump is running and nothing is queued: from the kernel's
    /// side the request was answered.
    NothingOutstanding,
    /// A datagram of the current reply came back with MSG_TRUNC: whatever followed the
    /// cut, NLMSG_DONE included, is gone.
    Truncated,
    /// The client stopped reading in the middle of a dump, leaving the kernel's dump
    /// running (Dump=1) or its rest queued unread (Rmem > 0).
    StoppedMidDump,
    /// The evidence fits none of the above.
    Unknown,
}

impl HangClass {
    /// Every class, in report order.
    pub const ALL: [HangClass; 6] = [
        HangClass::DumpStalled,
        HangClass::ReplyLost,
        HangClass::NothingOutstanding,
        HangClass::Truncated,
        HangClass::StoppedMidDump,
        HangClass::Unknown,
    ];

    /// As in reports and metric keys.
    pub fn name(self) -> &'static str {
        match self {
            HangClass::DumpStalled => "dump-stalled",
            HangClass::ReplyLost => "reply-lost",
            HangClass::NothingOutstanding => "nothing-outstanding",
            HangClass::Truncated => "truncated",
            HangClass::StoppedMidDump => "stopped-mid-dump",
            HangClass::Unknown => "unknown",
        }
    }
}

/// What the watchdog saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The client had stopped reading (its policy said stop).
    pub client_stopped: bool,
    /// MSG_TRUNC was seen during the current dump.
    pub truncated_this_dump: bool,
    /// The socket's /proc/net/netlink row (None if it could not be read).
    pub row: Option<NetlinkRow>,
    /// The socket's drop count when the current request was sent.
    pub drops_at_request: u64,
}

/// One hang, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hang {
    /// When the watchdog fired, ns after the run's start.
    pub at_ns: u64,
    /// How long the call had been outstanding.
    pub waited_ns: u64,
    /// The sequence number the client was waiting for.
    pub waiting_seq: u32,
    /// The class.
    pub class: HangClass,
    /// Why that class.
    pub reason: String,
    /// What was seen.
    pub observation: Observation,
    /// `/proc/self/task/<tid>/wchan` of the blocked thread.
    pub wchan: Option<String>,
    /// `/proc/self/task/<tid>/stack`, where readable (root).
    pub stack: Option<String>,
    /// The last messages the client saw and the decisions it took, oldest first.
    pub recent: Vec<String>,
    /// The watchdog interrupted the call and the client went on.
    pub recovered: bool,
}
