//! The compiled, validated form of a scenario: what the executor runs. Pure data.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::untrusted::Name;

/// Slack past a plan's own deadline before the child running it counts as hung and is
/// killed by PID.
pub const GRACE: Duration = Duration::from_secs(20);

/// Shortest alias a link-alias emitter sets: `nlstorm run=<uuid> src=NNN seq=<20 digits>`
/// (payload.rs checks at compile time that its format has exactly this length).
pub const LINK_ALIAS_MIN: usize = 81;

/// Shortest synthetic uevent: `change@DEVPATH`, ACTION, DEVPATH, SUBSYSTEM, SYNTH_UUID,
/// nlstorm's source and sequence keys and a one-byte pad key, NUL-terminated
/// (payload's tests check the template has exactly this length).
pub const SYNTHETIC_UEVENT_MIN: usize = 242;

pub mod limits;
mod program;
mod trace_event;
pub use program::*;
pub use trace_event::{Source, TraceEvent};

/// Largest payload of a user-space broadcast: the largest the kernel allocates
/// ([`limits::BROADCAST_MAX`]); the emitter raises its SO_SNDBUF to fit.
pub const USER_PAYLOAD_MAX: u64 = limits::BROADCAST_MAX;
/// Largest injected uevent as received: uevent_net_broadcast() refuses a message whose
/// netlink header (16 B), text and the `SEQNUM=<n>\0` it appends exceed
/// UEVENT_BUFFER_SIZE (2048 B); what it broadcasts is that text and SEQNUM, so 2032 B
/// whatever the counter's digits.
pub const INJECTED_UEVENT_MAX: u64 = limits::UEVENT_BUFFER_SIZE - 16;
/// Longest interface alias: dev_set_alias() refuses IFALIASZ (256) bytes or more.
pub const LINK_ALIAS_MAX: u64 = 255;
/// RTNLGRP_LINK: the rtnetlink group of link changes.
pub const RTNLGRP_LINK: u32 = 1;

/// One scenario, ready to execute in a fresh sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Scenario name, used for records and test-case names.
    pub name: Name,
    /// Free text from the scenario file.
    pub description: String,
    /// Seed for every random draw (Poisson gaps, payload sizes).
    pub seed: u64,
    /// The whole run must finish within this; the executor stops emitting and reading at
    /// this point and the runner kills the sandbox shortly after.
    pub deadline: Duration,
    /// Who floods.
    pub emitters: Vec<EmitterPlan>,
    /// Who listens.
    pub receivers: Vec<ReceiverPlan>,
    /// Who polls dumps.
    #[serde(default)]
    pub dumps: Vec<DumpPlan>,
    /// Extra devices and connections in the sandbox.
    #[serde(default)]
    pub world: World,
    /// Background churn.
    #[serde(default)]
    pub churn: Vec<Churn>,
    /// The user's own programs, run under the flood.
    #[serde(default)]
    pub programs: Vec<ProgramPlan>,
    /// The outcome depends on how fast the machine is (a reader keeping up at a rate, a
    /// replay's lateness): under software emulation the run is not applicable.
    #[serde(default)]
    pub timing_bound: bool,
}

impl Plan {
    /// The longest the child may take for this plan before it counts as hung: the run's
    /// own deadline (counted from the first send) plus what may pass before the first
    /// send, each program's start delay and ready timeout, plus the child's slack.
    pub fn budget(&self) -> Duration {
        let setup: Duration = self
            .programs
            .iter()
            .map(|p| p.start + p.ready_timeout)
            .sum();
        self.deadline + setup + GRACE
    }

    /// Indices of the emitters whose messages reach `receiver` (same family, a joined group).
    /// The receiver's socket filter drops the messages of the emitters it names before
    /// the kernel charges them, so those emitters feed nothing.
    pub fn feeders(&self, receiver: &ReceiverPlan) -> Vec<usize> {
        let filtered = self.filtered(receiver);
        self.reaching(receiver)
            .filter(|i| !filtered.contains(i))
            .collect()
    }

    /// Indices of the emitters whose messages the receiver's socket filter drops for the
    /// whole run; none when a step detaches the filter (their messages then arrive, and
    /// count as sent to it).
    pub fn filtered(&self, receiver: &ReceiverPlan) -> Vec<usize> {
        let detached = receiver
            .steps
            .iter()
            .any(|s| s.action == StepAction::DetachFilter);
        if detached {
            return Vec::new();
        }
        self.filter_at_open(receiver)
    }

    /// Indices of the emitters the receiver's socket filter drops when it is opened.
    pub fn filter_at_open(&self, receiver: &ReceiverPlan) -> Vec<usize> {
        self.reaching(receiver)
            .filter(|&i| {
                receiver
                    .filter_drop_emitters
                    .contains(&self.emitters[i].name)
            })
            .collect()
    }

    /// Indices of the emitters whose messages arrive at the receiver's socket (same
    /// family, a group it is a member of at some time of the run), before its filter.
    /// A group joined or left by a step counts: what is sent while the socket is not a
    /// member is counted lost, never a kernel drop.
    fn reaching<'a>(&'a self, receiver: &'a ReceiverPlan) -> impl Iterator<Item = usize> + 'a {
        let joined = receiver.steps.iter().flat_map(|s| match &s.action {
            StepAction::Join { groups } => groups.as_slice(),
            _ => &[],
        });
        let groups: Vec<u32> = receiver
            .groups
            .iter()
            .copied()
            .chain(joined.copied())
            .collect();
        self.emitters
            .iter()
            .enumerate()
            .filter(move |(_, e)| {
                let (p, g) = e.kind.destination();
                p == receiver.protocol && groups.contains(&g)
            })
            .map(|(i, _)| i)
    }
}

/// Netlink family a message travels on, and so the family a receiver opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// NETLINK_KOBJECT_UEVENT (15).
    KobjectUevent,
    /// NETLINK_USERSOCK (2).
    Usersock,
    /// NETLINK_ROUTE (0): what link-alias emitters make the kernel broadcast.
    Route,
}

impl Protocol {
    /// The raw protocol number for socket(2).
    pub fn raw(self) -> i32 {
        match self {
            Protocol::KobjectUevent => libc::NETLINK_KOBJECT_UEVENT,
            Protocol::Usersock => libc::NETLINK_USERSOCK,
            Protocol::Route => libc::NETLINK_ROUTE,
        }
    }

    /// The name of netlink protocol number `n`, as /proc/net/netlink gives it.
    pub fn name_of(n: u32) -> String {
        match n as i32 {
            libc::NETLINK_ROUTE => "route".into(),
            libc::NETLINK_USERSOCK => "usersock".into(),
            libc::NETLINK_SOCK_DIAG => "sock-diag".into(),
            libc::NETLINK_KOBJECT_UEVENT => "kobject-uevent".into(),
            libc::NETLINK_GENERIC => "generic".into(),
            libc::NETLINK_AUDIT => "audit".into(),
            other => format!("protocol {other}"),
        }
    }

    /// Name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::KobjectUevent => "kobject-uevent",
            Protocol::Usersock => "usersock",
            Protocol::Route => "route",
        }
    }
}

/// The path a message takes into the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum EmitterKind {
    /// Write to `/sys/class/net/<dev>/uevent`; the kernel broadcasts through
    /// `kobject_uevent_env()` to group 1.
    KernelUevent,
    /// A user-space socket broadcasts kernel-format uevents to group 1.
    SyntheticUevent,
    /// A uevent sent to the namespace's own kernel uevent socket: uevent_net_rcv()
    /// rebroadcasts it to group 1 from port id 0 with the kernel's next SEQNUM appended,
    /// so listeners that accept only kernel uevents (libudev's) take it. Needs
    /// CAP_SYS_ADMIN in the network namespace's user namespace, which a rootless sandbox has.
    InjectedUevent,
    /// RTM_SETLINK of a sandbox veth's alias (IFLA_IFALIAS): the kernel broadcasts the
    /// link's whole RTM_NEWLINK to RTNLGRP_LINK (group 1 of NETLINK_ROUTE), the event
    /// `ip monitor link` and network managers listen to. The alias carries the run id
    /// and sequence number.
    LinkAlias,
    /// NETLINK_USERSOCK broadcast to `group`.
    Usersock {
        /// Multicast group, 1-based.
        group: u32,
    },
}

impl EmitterKind {
    /// The netlink family and group this emitter's messages arrive on.
    pub fn destination(self) -> (Protocol, u32) {
        match self {
            EmitterKind::KernelUevent
            | EmitterKind::SyntheticUevent
            | EmitterKind::InjectedUevent => (Protocol::KobjectUevent, 1),
            EmitterKind::Usersock { group } => (Protocol::Usersock, group),
            EmitterKind::LinkAlias => (Protocol::Route, RTNLGRP_LINK),
        }
    }

    /// True when the emitter works through a sandbox veth of its own.
    pub fn needs_device(self) -> bool {
        matches!(self, EmitterKind::KernelUevent | EmitterKind::LinkAlias)
    }

    /// Smallest and largest payload nlstorm accepts on this path for the emitter at
    /// index 0, and why.
    pub fn payload_limits(self) -> (u64, u64, String) {
        self.payload_limits_at(0)
    }

    /// Smallest and largest payload nlstorm accepts on this path for the emitter at
    /// `index` (its veth's name is in a kernel uevent), and why: each from the kernel's
    /// code ([`limits`]), never a round number of nlstorm's.
    pub fn payload_limits_at(self, index: usize) -> (u64, u64, String) {
        let user_max = format!(
            "{} B is the largest broadcast the kernel allocates (KMALLOC_MAX_SIZE less skb_shared_info)",
            limits::BROADCAST_MAX
        );
        match self {
            EmitterKind::KernelUevent => {
                let seqnum = limits::seqnum_soon();
                let (min, max) = (
                    limits::kernel_uevent_smallest(index, seqnum),
                    limits::kernel_uevent_largest(index),
                );
                (
                    min,
                    max,
                    format!(
                        "around nlstorm's run id, source and sequence the kernel adds ACTION, DEVPATH, SUBSYSTEM, INTERFACE, IFINDEX and SEQNUM (its global counter, about {seqnum} now: one byte more per digit), so {min} B is the smallest; it builds those keys in a {} B buffer (UEVENT_BUFFER_SIZE) after the {} B `change@<devpath>` header, so {max} B is the largest",
                        limits::UEVENT_BUFFER_SIZE,
                        max - limits::UEVENT_BUFFER_SIZE
                    ),
                )
            }
            EmitterKind::InjectedUevent => (
                1,
                INJECTED_UEVENT_MAX,
                "the kernel refuses an injected uevent that, with its 16 B netlink header and the SEQNUM it appends, exceeds 2048 bytes (UEVENT_BUFFER_SIZE)".into(),
            ),
            EmitterKind::SyntheticUevent => (
                SYNTHETIC_UEVENT_MIN as u64,
                USER_PAYLOAD_MAX,
                format!("the uevent's header, run id, source and sequence keys take 242 bytes (a smaller payload would be sent at 242 and reported at the size asked), and {user_max}"),
            ),
            EmitterKind::LinkAlias => (
                LINK_ALIAS_MIN as u64,
                LINK_ALIAS_MAX,
                "the payload is the alias: the run id and sequence take 81 bytes and the kernel keeps at most 255 (IFALIASZ - 1); the broadcast is the kernel's whole RTM_NEWLINK around it".into(),
            ),
            EmitterKind::Usersock { .. } => (
                USERSOCK_HEADER as u64,
                USER_PAYLOAD_MAX,
                format!("usersock messages carry a 16-byte header, and {user_max}"),
            ),
        }
    }

    /// Why payloads from `lo` to `hi` bytes cannot go this way, if they cannot.
    pub fn payload_problem(self, lo: u64, hi: u64) -> Option<String> {
        self.payload_problem_at(0, lo, hi)
    }

    /// As [`Self::payload_problem`], for the emitter at `index`.
    pub fn payload_problem_at(self, index: usize, lo: u64, hi: u64) -> Option<String> {
        let (min, max, why) = self.payload_limits_at(index);
        (lo < min || hi > max).then(|| {
            format!(
                "payload must be within {min}..={max} bytes for {}: {why}",
                self.name()
            )
        })
    }

    /// True when the kernel adds keys of its own (SEQNUM) to what is sent, so the wire
    /// size must be measured rather than known.
    pub fn kernel_adds_keys(self) -> bool {
        matches!(
            self,
            EmitterKind::KernelUevent | EmitterKind::InjectedUevent
        )
    }

    /// Name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            EmitterKind::KernelUevent => "kernel-uevent",
            EmitterKind::SyntheticUevent => "synthetic-uevent",
            EmitterKind::InjectedUevent => "injected-uevent",
            EmitterKind::Usersock { .. } => "usersock",
            EmitterKind::LinkAlias => "link-alias",
        }
    }
}

/// How large each message is, in bytes as the receiver gets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum PayloadPlan {
    /// Every message has this size.
    Fixed {
        /// Bytes.
        bytes: u32,
    },
    /// Sizes drawn uniformly from `min..=max` with the scenario seed.
    Uniform {
        /// Smallest, bytes.
        min: u32,
        /// Largest, bytes.
        max: u32,
    },
    /// Messages without nlstorm's run id, source or sequence: a kernel-uevent emitter
    /// writes only `change`, so the kernel's uevent carries its own keys alone (and the
    /// `SYNTH_UUID=0` kobject_synth_uevent() adds for a write without one) (`bytes`
    /// is 0: the kernel decides the size); a usersock emitter sends `bytes` zero bytes
    /// (1 B and up). Receivers count them by where they come from (the emitter's veth;
    /// the one bare usersock emitter of their groups), so loss is a count, not a list.
    Bare {
        /// Bytes per message; 0 for kernel-uevent.
        bytes: u32,
    },
    /// The events of a built-in profile (a bundled trace made alphanumeric), cycled in order.
    Contents {
        /// The profile.
        profile: ContentsProfile,
    },
    /// The events of a recorded trace, each sent as recorded (plus the run's keys),
    /// cycled in order: with [`Schedule::Replay`], at their recorded times.
    Trace {
        /// The trace as the scenario names it, for reports.
        trace: String,
        /// The events to send, filtered, in order.
        events: Vec<TraceEvent>,
    },
}

/// Built-in uevent content profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentsProfile {
    /// `fixtures/traces/usb-hotplug.txt`: written by hand in the shape of a USB plug (the
    /// device, its interfaces, child tty/input devices), not a capture.
    UsbHotplug,
}

/// When messages are sent, relative to the emitter's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Schedule {
    /// `count` bursts of `size` messages sent back to back, `gap` apart.
    Burst {
        /// Messages per burst.
        size: NonZeroU64,
        /// Time from the start of one burst to the start of the next.
        gap: Duration,
        /// Number of bursts.
        count: NonZeroU64,
    },
    /// A constant rate, paced against absolute deadlines.
    Rate {
        /// Messages per second.
        per_sec: f64,
        /// How long.
        duration: Duration,
    },
    /// Exponential gaps with the given mean rate (seeded).
    Poisson {
        /// Mean messages per second.
        per_sec: f64,
        /// How long.
        duration: Duration,
    },
    /// Rate rising (or falling) linearly from `from` to `to` over `duration`.
    Ramp {
        /// Messages per second at the start.
        from: f64,
        /// Messages per second at the end.
        to: f64,
        /// How long.
        duration: Duration,
    },
    /// A recorded trace's timing: message `i` of repetition `r` at `r * period + at[i]`.
    Replay {
        /// Offsets of the trace's events from its first, already divided by the speed.
        at: Vec<Duration>,
        /// How many times the trace is sent.
        repeat: NonZeroU64,
        /// From one repetition's start to the next's.
        period: Duration,
        /// The speed the offsets were divided by (0: as fast as possible), for reports.
        speed: f64,
    },
    /// As fast as the path allows, for a count or a duration.
    Flood {
        /// Stop after this many messages, if set.
        count: Option<NonZeroU64>,
        /// Stop after this long, if set.
        duration: Option<Duration>,
    },
}

/// One emitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmitterPlan {
    /// Name from the scenario.
    pub name: Name,
    /// Path into the kernel.
    pub kind: EmitterKind,
    /// When to send.
    pub schedule: Schedule,
    /// How large.
    pub payload: PayloadPlan,
    /// Delay after the run's start before the first message.
    pub start: Duration,
    /// The CPU its thread is pinned to (sched_setaffinity), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
}

/// The bytes of one SO_RCVBUF or SO_RCVBUFFORCE request, as scenario files and every
/// CLI flag accept them: the C `int` setsockopt(2) reads, -2147483648 to 2147483647.
/// Negative values are the kernel's to interpret, and it does: SO_RCVBUF compares the
/// value as unsigned (so -1 gets rmem_max), SO_RCVBUFFORCE takes `max(val, 0)` (so -1
/// gets SOCK_MIN_RCVBUF); the model does the same ([`crate::model::BufferFacts::effective`]).
/// Values past `int` are refused rather than silently changed: they would reach the
/// kernel as another number (4GiB as 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RcvbufRequest(i32);

/// A request outside [`RcvbufRequest`]'s range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} bytes is not a buffer request: setsockopt takes a C int, so requests are -2147483648..=2147483647")]
pub struct RcvbufRangeError(pub i128);

impl RcvbufRequest {
    /// The largest request: INT_MAX.
    pub const MAX: i64 = i32::MAX as i64;

    /// Checks the range.
    pub fn new(bytes: impl Into<i128>) -> Result<Self, RcvbufRangeError> {
        let bytes = bytes.into();
        i32::try_from(bytes)
            .map(RcvbufRequest)
            .map_err(|_| RcvbufRangeError(bytes))
    }

    /// The request in bytes, as the kernel's int.
    pub fn bytes(self) -> i64 {
        i64::from(self.0)
    }
}

/// Size of the usersock header nlstorm writes before a payload: magic (2), source (2),
/// run tag (4), sequence (8). Here rather than in `payload` so that the plan's payload
/// limits do not depend on the encoder (which depends on the plan).
pub const USERSOCK_HEADER: usize = 16;

/// What the receiver asks of SO_RCVBUF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RcvbufPlan {
    /// No setsockopt: the socket keeps net.core.rmem_default.
    Default,
    /// setsockopt(SO_RCVBUF, bytes): the kernel doubles it and clamps it.
    Request {
        /// Bytes requested: the C int handed to setsockopt, so it may be negative.
        bytes: i64,
    },
    /// setsockopt(SO_RCVBUFFORCE, bytes): doubled, not clamped to rmem_max; needs
    /// CAP_NET_ADMIN.
    Force {
        /// Bytes requested: the C int handed to setsockopt, so it may be negative.
        bytes: i64,
    },
    /// The smallest SO_RCVBUF request that, by the calibrated model, holds one whole
    /// burst of the named emitter without a reader.
    FitBurst {
        /// Index into [`Plan::emitters`].
        emitter: usize,
    },
}

/// How the receiver reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ReadMode {
    /// Blocking recvmsg(2), each call bounded by the receiver's call deadline.
    Blocking,
    /// Nonblocking recvmsg(2) after poll(2).
    Poll,
    /// recvmmsg(2) batches after poll(2).
    Batch {
        /// Messages per call.
        size: NonZeroU32,
    },
}

/// One receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverPlan {
    /// Name from the scenario.
    pub name: Name,
    /// Netlink family.
    pub protocol: Protocol,
    /// Multicast groups joined, 1-based.
    pub groups: Vec<u32>,
    /// Receive buffer setting.
    pub rcvbuf: RcvbufPlan,
    /// Bytes offered to each recvmsg; shorter than a message means MSG_TRUNC.
    pub read_buffer: NonZeroU32,
    /// How it reads.
    pub mode: ReadMode,
    /// Upper bound on one blocking call.
    pub call_deadline: Duration,
    /// Time spent on each message after receiving it.
    pub consumer_delay: Duration,
    /// When reading starts (messages pile up until then).
    pub start_reading: ReadStart,
    /// Set NETLINK_NO_ENOBUFS.
    pub no_enobufs: bool,
    /// Read SO_ERROR before every receive, as some event loops do after POLLERR.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub so_error_first: bool,
    /// Peek at every datagram's length (MSG_PEEK | MSG_TRUNC) and then read it with a
    /// buffer of that size, as libnl-style readers do.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub peek: bool,
    /// Emitters (usersock) whose messages a socket filter on this receiver drops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_drop_emitters: Vec<Name>,
    /// NETLINK_BROADCAST_ERROR on the socket.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broadcast_error: bool,
    /// The CPU its reading thread is pinned to (sched_setaffinity), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Changes made to its socket while the run goes on, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepPlan>,
    /// What must hold at the end.
    pub expectations: Vec<Expectation>,
}

impl ReceiverPlan {
    /// A receiver that leaves its queue unread until emission ends, then drains it with
    /// 64 KiB blocking reads: what a capacity measurement needs. Callers change the
    /// fields their measurement is about with struct update syntax.
    pub fn unread(name: Name, protocol: Protocol, group: u32, rcvbuf: RcvbufPlan) -> Self {
        ReceiverPlan {
            name,
            protocol,
            groups: vec![group],
            rcvbuf,
            read_buffer: NonZeroU32::new(64 * 1024).expect("nonzero"),
            mode: ReadMode::Blocking,
            call_deadline: Duration::from_secs(1),
            consumer_delay: Duration::ZERO,
            start_reading: ReadStart::EmissionEnd,
            no_enobufs: false,
            filter_drop_emitters: vec![],
            cpu: None,
            steps: vec![],
            broadcast_error: false,
            so_error_first: false,
            peek: false,
            expectations: vec![],
        }
    }
}

/// One change to a receiver's socket at a moment of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPlan {
    /// When, after the run's start.
    pub at: Duration,
    /// What.
    pub action: StepAction,
}

/// What a step does to the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum StepAction {
    /// setsockopt(SO_RCVBUF) with the kernel's int.
    Rcvbuf {
        /// Bytes requested.
        bytes: i64,
    },
    /// setsockopt(SO_RCVBUFFORCE).
    RcvbufForce {
        /// Bytes requested.
        bytes: i64,
    },
    /// NETLINK_ADD_MEMBERSHIP for each group.
    Join {
        /// Groups, 1-based.
        groups: Vec<u32>,
    },
    /// NETLINK_DROP_MEMBERSHIP for each group.
    Leave {
        /// Groups, 1-based.
        groups: Vec<u32>,
    },
    /// SO_DETACH_FILTER.
    DetachFilter,
}

impl StepAction {
    /// The step as a scenario file writes it, for reports.
    pub fn describe(&self) -> String {
        let list = |g: &[u32]| g.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        match self {
            StepAction::Rcvbuf { bytes } => format!("rcvbuf = {bytes}"),
            StepAction::RcvbufForce { bytes } => format!("rcvbuf-force = {bytes}"),
            StepAction::Join { groups } => format!("join = [{}]", list(groups)),
            StepAction::Leave { groups } => format!("leave = [{}]", list(groups)),
            StepAction::DetachFilter => "detach-filter = true".into(),
        }
    }
}

/// When a receiver starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ReadStart {
    /// This long after the run's start.
    After {
        /// Delay from the run's start.
        delay: Duration,
    },
    /// Once every emitter has returned from its last send: the queue is flooded unread,
    /// which is what a capacity measurement needs, however long emission takes.
    EmissionEnd,
}

impl ReadStart {
    /// Reading from the start.
    pub const NOW: ReadStart = ReadStart::After {
        delay: Duration::ZERO,
    };
}

/// A per-receiver figure an expectation can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Messages sent by emitters this receiver listens to.
    Sent,
    /// Distinct messages of this run received.
    Delivered,
    /// Messages sent but never received (from sequence gaps).
    Lost,
    /// ENOBUFS errors returned to the reader.
    Enobufs,
    /// The Drops column of /proc/net/netlink for the socket.
    KernelDrops,
    /// Messages received with MSG_TRUNC.
    Truncated,
    /// Messages that arrived after a later one.
    OutOfOrder,
    /// Messages received twice.
    Duplicates,
    /// Messages not from this run.
    Foreign,
    /// Largest sampled receive-queue charge (bytes).
    MaxRmem,
    /// Effective SO_RCVBUF (bytes).
    RcvbufEffective,
    /// How far `lost` is from the model's prediction for an unread queue (absolute
    /// difference); not applicable to a receiver that read during emission.
    ModelMiss,
}

impl Metric {
    /// Every metric, with its scenario-file key.
    pub const ALL: [(Metric, &'static str); 12] = [
        (Metric::Sent, "sent"),
        (Metric::Delivered, "delivered"),
        (Metric::Lost, "lost"),
        (Metric::Enobufs, "enobufs"),
        (Metric::KernelDrops, "kernel-drops"),
        (Metric::Truncated, "truncated"),
        (Metric::OutOfOrder, "out-of-order"),
        (Metric::Duplicates, "duplicates"),
        (Metric::Foreign, "foreign"),
        (Metric::MaxRmem, "max-rmem"),
        (Metric::RcvbufEffective, "rcvbuf-effective"),
        (Metric::ModelMiss, "model-miss"),
    ];
}

impl MetricKey for Metric {
    const KEYS: &'static [(Self, &'static str)] = &Self::ALL;
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `<`
    Lt,
}

impl Cmp {
    /// Does `got OP want` hold?
    pub fn holds(self, got: u64, want: u64) -> bool {
        match self {
            Cmp::Eq => got == want,
            Cmp::Ne => got != want,
            Cmp::Ge => got >= want,
            Cmp::Le => got <= want,
            Cmp::Gt => got > want,
            Cmp::Lt => got < want,
        }
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Ge => ">=",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Lt => "<",
        }
    }
}

/// A figure an expectation can test, with its scenario-file key.
pub trait MetricKey: Copy + PartialEq + 'static {
    /// Every metric with its key.
    const KEYS: &'static [(Self, &'static str)];

    /// The scenario-file key.
    fn key(self) -> &'static str {
        Self::KEYS
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("?", |(_, k)| k)
    }

    /// The metric a key names.
    fn from_key(key: &str) -> Option<Self> {
        Self::KEYS.iter().find(|(_, k)| *k == key).map(|(m, _)| *m)
    }

    /// Every key, in report order.
    fn names() -> Vec<&'static str> {
        Self::KEYS.iter().map(|(_, k)| *k).collect()
    }
}

/// `metric OP value`: a receiver's expectation, or with [`DumpMetric`] a dump client's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expectation<M = Metric> {
    /// What is measured.
    pub metric: M,
    /// How it is compared.
    pub cmp: Cmp,
    /// Against what.
    pub value: u64,
    /// `file:line:col` of the expectation, for reports.
    pub location: String,
}

impl<M: MetricKey> Expectation<M> {
    /// `lost >= 1`.
    pub fn describe(&self) -> String {
        format!("{} {} {}", self.metric.key(), self.cmp.symbol(), self.value)
    }
}

/// The dump a [`DumpPlan`] client requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DumpRequest {
    /// RTM_GETLINK with NLM_F_DUMP on NETLINK_ROUTE: one message per link (the sandbox's
    /// `veths` make it span many skbs).
    Getlink,
    /// SOCK_DIAG_BY_FAMILY, inet_diag_req_v2 for TCP over IPv4, all states, on
    /// NETLINK_SOCK_DIAG (the sandbox's `tcp-connections` make it long).
    InetDiag,
}

impl DumpRequest {
    /// As written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            DumpRequest::Getlink => "getlink",
            DumpRequest::InetDiag => "inet-diag",
        }
    }
}

/// What a dump client does when a read reports a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reaction {
    /// Ignore it and keep reading for the current sequence number's NLMSG_DONE.
    KeepReading,
    /// Send the request again with a new sequence number and wait for that reply.
    Restart,
    /// Abandon this dump; the next one starts after the interval.
    RetryLater,
    /// Treat it as final: stop reading this socket for the rest of the run.
    Stop,
}

impl Reaction {
    /// Every reaction with its scenario-file word.
    pub const ALL: [(Reaction, &'static str); 4] = [
        (Reaction::KeepReading, "keep-reading"),
        (Reaction::Restart, "restart"),
        (Reaction::RetryLater, "retry-later"),
        (Reaction::Stop, "stop"),
    ];

    /// The scenario-file word.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("?", |(_, n)| n)
    }
}

/// A dump client's error policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpPolicy {
    /// recvmsg returned ENOBUFS.
    pub on_enobufs: Reaction,
    /// The request was answered with an EBUSY error (a dump was still running).
    pub on_ebusy: Reaction,
    /// A datagram came back with MSG_TRUNC.
    pub on_truncated: Reaction,
    /// Any other error ack for the request's sequence number.
    pub on_error: Reaction,
}

impl Default for DumpPolicy {
    /// What careful clients do: keep reading through ENOBUFS and truncation (the dump
    /// itself is unaffected by the first and the caller learns of the second), retry a
    /// busy or failed request later.
    fn default() -> Self {
        DumpPolicy {
            on_enobufs: Reaction::KeepReading,
            on_ebusy: Reaction::RetryLater,
            on_truncated: Reaction::KeepReading,
            on_error: Reaction::RetryLater,
        }
    }
}

/// A per-dump-client figure an expectation can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DumpMetric {
    /// Requests sent.
    Requests,
    /// Dumps read to NLMSG_DONE.
    Completed,
    /// Receive calls made.
    CallsStarted,
    /// Receive calls that returned.
    CallsReturned,
    /// Calls the watchdog found outstanding past the call deadline (and stalls).
    Hangs,
    /// Hangs classified dump-stalled.
    HangsDumpStalled,
    /// Hangs classified reply-lost.
    HangsReplyLost,
    /// Hangs classified nothing-outstanding.
    HangsNothingOutstanding,
    /// Hangs classified truncated.
    HangsTruncated,
    /// Hangs classified stopped-mid-dump.
    HangsStoppedMidDump,
    /// Hangs classified unknown.
    HangsUnknown,
    /// ENOBUFS returned to the client.
    Enobufs,
    /// Datagrams with MSG_TRUNC.
    Truncated,
    /// EBUSY error acks.
    Ebusy,
    /// Error acks other than EBUSY (ENOBUFS when the dump could not start on a socket
    /// holding broadcasts).
    ErrorAcks,
    /// Dumps that got an error ack and then completed under the same sequence number.
    CompletedAfterErrorAck,
    /// Completed dumps that left out objects present throughout (with `verify`).
    ShortDumps,
    /// Objects those dumps left out, in total.
    ObjectsMissed,
    /// EBUSY error acks that arrived for an earlier request, after the client had moved
    /// on to a newer sequence number.
    StaleEbusy,
    /// Messages of the replies.
    Messages,
    /// Broadcasts and stale replies read on the dump socket.
    OtherMessages,
    /// Requests re-sent by policy.
    Restarts,
    /// Dumps abandoned (policy retry-later or a recovered hang).
    Abandoned,
}

impl DumpMetric {
    /// Every metric with its scenario-file key.
    pub const ALL: [(DumpMetric, &'static str); 23] = [
        (DumpMetric::Requests, "requests"),
        (DumpMetric::Completed, "completed"),
        (DumpMetric::CallsStarted, "calls-started"),
        (DumpMetric::CallsReturned, "calls-returned"),
        (DumpMetric::Hangs, "hangs"),
        (DumpMetric::HangsDumpStalled, "hangs-dump-stalled"),
        (DumpMetric::HangsReplyLost, "hangs-reply-lost"),
        (
            DumpMetric::HangsNothingOutstanding,
            "hangs-nothing-outstanding",
        ),
        (DumpMetric::HangsTruncated, "hangs-truncated"),
        (DumpMetric::HangsStoppedMidDump, "hangs-stopped-mid-dump"),
        (DumpMetric::HangsUnknown, "hangs-unknown"),
        (DumpMetric::Enobufs, "enobufs"),
        (DumpMetric::Truncated, "truncated"),
        (DumpMetric::Ebusy, "ebusy"),
        (DumpMetric::ErrorAcks, "error-acks"),
        (
            DumpMetric::CompletedAfterErrorAck,
            "completed-after-error-ack",
        ),
        (DumpMetric::ShortDumps, "short-dumps"),
        (DumpMetric::ObjectsMissed, "objects-missed"),
        (DumpMetric::StaleEbusy, "stale-ebusy"),
        (DumpMetric::Messages, "messages"),
        (DumpMetric::OtherMessages, "other-messages"),
        (DumpMetric::Restarts, "restarts"),
        (DumpMetric::Abandoned, "abandoned"),
    ];
}

impl MetricKey for DumpMetric {
    const KEYS: &'static [(Self, &'static str)] = &Self::ALL;
}

/// `metric OP value` for a dump client.
pub type DumpExpectation = Expectation<DumpMetric>;

/// A client that requests a dump again and again and reads each to NLMSG_DONE, like a
/// monitoring agent polling the kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpPlan {
    /// Name from the scenario.
    pub name: Name,
    /// Which dump.
    pub request: DumpRequest,
    /// Dumps to request.
    pub count: u64,
    /// Pause after each dump before the next request.
    pub interval: Duration,
    /// Bytes offered to each recvmsg while a dump is read (4096 in incident 2).
    pub read_buffer: u32,
    /// Between dumps, pending broadcasts are read with buffers of this size. The kernel
    /// sizes later dump skbs by the largest recvmsg buffer it has seen on the socket.
    pub event_read_buffer: Option<u32>,
    /// Receive buffer.
    pub rcvbuf: RcvbufPlan,
    /// Blocking reads (else poll + nonblocking).
    pub blocking: bool,
    /// Multicast groups also joined on the dump socket.
    pub groups: Vec<u32>,
    /// NETLINK_NO_ENOBUFS.
    pub no_enobufs: bool,
    /// Classic BPF socket filter, `(code, jt, jf, k)` per instruction; empty for none.
    pub filter: Vec<crate::bpf::Insn>,
    /// A receive call outstanding this long is a hang.
    pub call_deadline: Duration,
    /// What the client does on errors.
    pub policy: DumpPolicy,
    /// Compare each completed dump with the objects the namespace held before and after
    /// it (see [`crate::dump::objects`]).
    pub verify: bool,
    /// Peek at each datagram's length first (MSG_PEEK | MSG_TRUNC), then read it with a
    /// buffer that size, as libnl-style readers do, so no dump part is cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub peek: bool,
    /// What must hold at the end.
    pub expectations: Vec<DumpExpectation>,
}

/// What the sandbox holds beyond its emitters' devices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct World {
    /// Extra veth pairs (so link dumps span many skbs).
    pub veths: u32,
    /// Established loopback TCP connections, plus one listener (so inet_diag dumps do).
    pub tcp_connections: u32,
}

/// Background churn that produces real kernel events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Churn {
    /// Sets the sandbox's veths down and up, and adds and deletes a veth pair
    /// (RTM_NEWLINK and RTM_DELLINK broadcasts to RTNLGRP_LINK).
    Links {
        /// Changes per second.
        per_sec: f64,
    },
    /// Opens and closes loopback TCP connections.
    Sockets {
        /// Connections per second.
        per_sec: f64,
    },
}
