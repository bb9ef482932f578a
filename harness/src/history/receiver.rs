//! What one receiver observed: the socket as set up, the sequence accounting per emitter,
//! the ENOBUFS reports and the receive calls. The receiver fills it; check judges it.

use serde::{Deserialize, Serialize};

use crate::accounting::SeqTracker;
use crate::plan::Protocol;

/// How a receiver's socket was set up, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverSetup {
    /// Name from the scenario.
    pub name: String,
    /// Netlink family.
    pub protocol: Protocol,
    /// Groups joined.
    pub groups: Vec<u32>,
    /// The option used: `default`, `SO_RCVBUF` or `SO_RCVBUFFORCE`.
    pub rcvbuf_option: crate::model::RcvbufOption,
    /// Bytes requested (none for default).
    pub rcvbuf_requested: Option<i64>,
    /// getsockopt(SO_RCVBUF) after setup.
    pub rcvbuf_effective: u64,
    /// NETLINK_NO_ENOBUFS read back from the kernel.
    pub no_enobufs: bool,
    /// NETLINK_BROADCAST_ERROR read back from the kernel.
    #[serde(default)]
    pub broadcast_error: bool,
    /// Socket inode, the key of its /proc/net/netlink row.
    pub inode: u64,
}

/// Counts of receive calls: started, returned, and how they ended without data; for
/// poll and batch readers also their waits and, per recvmmsg call, how many messages
/// it returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Receive calls made.
    pub started: u64,
    /// Receive calls that returned.
    pub returned: u64,
    /// Blocking calls that hit the per-call deadline (SO_RCVTIMEO).
    pub timed_out: u64,
    /// Calls interrupted by the run's wake-up signal.
    pub interrupted: u64,
    /// Nonblocking calls (poll and batch readers) that found the queue empty (EAGAIN).
    /// Left out of the JSON when 0, as for blocking readers, which make none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub empty: u64,
    /// poll(2) waits for the socket to become readable after an empty call.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waits: u64,
    /// Batch readers: `batch_fill[k]` recvmmsg calls returned `k` messages (0 for those
    /// that returned none), up to the batch size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch_fill: Vec<u64>,
}

/// What one step did to a receiver's socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step as the scenario writes it (`rcvbuf = 8192`, `leave = [3]`).
    pub step: String,
    /// When it was due, ns after the run's start.
    pub at_ns: u64,
    /// When it was applied (null: the run ended first).
    pub applied_ns: Option<u64>,
    /// The kernel's refusal, if it refused.
    pub error: Option<String>,
    /// SO_RCVBUF read back after it.
    pub rcvbuf_effective: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Everything one receiver observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverRecord {
    /// The socket as set up.
    pub setup: ReceiverSetup,
    /// Per emitter (by index) sequence accounting.
    pub sources: Vec<SeqTracker>,
    /// ENOBUFS errors seen: returned by recvmsg, or read with SO_ERROR.
    pub enobufs: u64,
    /// Of those, the ones read with SO_ERROR before a receive.
    #[serde(default)]
    pub enobufs_by_so_error: u64,
    /// Where the first ENOBUFS reports fell in the stream (at most [`POSITIONS_KEPT`]).
    #[serde(default)]
    pub enobufs_positions: Vec<EnobufsAt>,
    /// When the first ENOBUFS was seen, ns after t0.
    pub first_enobufs_ns: Option<u64>,
    /// Datagrams with MSG_TRUNC.
    pub truncated: u64,
    /// Datagrams not from this run.
    pub foreign: u64,
    /// This run's datagrams cut so short that neither their emitter nor their sequence
    /// number could be read (a synthetic uevent's device, with several emitters).
    #[serde(default)]
    pub unattributed: u64,
    /// For a pinned receiver (`cpu`): the CPU its thread ran on when it stopped reading
    /// (sched_getcpu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// What each of its `steps` did, in plan order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepRecord>,
    /// Largest receive-queue charge sampled (bytes).
    pub max_rmem: u64,
    /// Queue charge when reading started.
    pub rmem_at_read_start: u64,
    /// Drops column of the socket's /proc/net/netlink row at the end.
    pub kernel_drops: Option<u64>,
    /// sk_drops from SO_MEMINFO at the end (cross-check of `kernel_drops`).
    pub meminfo_drops: u64,
    /// Receive calls.
    pub ledger: Ledger,
    /// Reading began, ns after t0.
    pub read_started_ns: u64,
    /// Reading ended, ns after t0.
    pub read_finished_ns: u64,
    /// The run's deadline ended reading; the queue was drained without consumer delay.
    pub stopped_by_deadline: bool,
    /// A receive failed with an unexpected errno.
    pub error: Option<String>,
}

/// How many ENOBUFS positions a record keeps.
pub const POSITIONS_KEPT: usize = 64;

/// Where in the stream one ENOBUFS report came: how many of this run's messages had been
/// read before it, and which message was read first after it. The report marks when the
/// reader learnt of the overrun, not where the gap is: after an unread burst it comes
/// before the first queued message, and the gap follows the last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnobufsAt {
    /// This run's messages read before the report.
    pub read_before: u64,
    /// The first message read after it: emitter index and sequence number.
    pub next: Option<(u16, u64)>,
}

impl ReceiverRecord {
    /// An empty record for a receiver that hears `sources` emitters.
    pub fn new(setup: ReceiverSetup, sources: usize) -> Self {
        Self {
            setup,
            sources: vec![SeqTracker::default(); sources],
            enobufs: 0,
            enobufs_by_so_error: 0,
            enobufs_positions: Vec::new(),
            first_enobufs_ns: None,
            truncated: 0,
            foreign: 0,
            unattributed: 0,
            cpu: None,
            steps: Vec::new(),
            max_rmem: 0,
            rmem_at_read_start: 0,
            kernel_drops: None,
            meminfo_drops: 0,
            ledger: Ledger::default(),
            read_started_ns: 0,
            read_finished_ns: 0,
            stopped_by_deadline: false,
            error: None,
        }
    }
}
