//! What a program under test did: its output, every netlink socket it held, its CPU
//! use and exit, as the sandbox observed them. Times are ns after the program started
//! (it starts before emission, so the run's t0 is a point on its timeline).

use serde::{Deserialize, Serialize};

use super::dump::Hang;

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    /// stdout.
    Stdout,
    /// stderr.
    Stderr,
}

/// One line the program printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// When it was read.
    pub t_ns: u64,
    /// Where.
    pub stream: Stream,
    /// The text, without its newline (invalid UTF-8 replaced).
    pub text: String,
}

/// One netlink socket the program (or a child of it) held at some point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramSocket {
    /// Socket inode (the key of /proc/net/netlink and of /proc/PID/fd links).
    pub inode: u64,
    /// The process that held it.
    pub pid: u32,
    /// Its descriptor there.
    pub fd: i32,
    /// Netlink protocol.
    pub protocol: u32,
    /// Port id when last seen.
    pub portid: u32,
    /// First 32 groups, as a mask, when last seen.
    pub groups: u32,
    /// SO_RCVBUF read through a duplicate of the descriptor (pidfd_getfd), if permitted.
    pub rcvbuf: Option<u64>,
    /// First and last sample that saw it.
    pub first_seen_ns: u64,
    /// Last sample that saw it.
    pub last_seen_ns: u64,
    /// It was gone before the program ended: the program closed it.
    pub closed: bool,
    /// Largest Rmem sampled.
    pub max_rmem: u64,
    /// Drops at the last sample that saw it (a socket closed between two samples may
    /// have dropped more in that last interval: `sample_interval_ns` bounds it).
    pub drops: u64,
    /// When Drops first rose above zero.
    pub first_drop_ns: Option<u64>,
    /// Rmem at that sample.
    pub rmem_at_first_drop: u64,
    /// Lowest Rmem after it: below `rmem_at_first_drop` means the program read again.
    pub min_rmem_after_drop: Option<u64>,
    /// Its queue (bytes) at the last sample that saw it: for a socket the program
    /// closed, what went with it.
    #[serde(default)]
    pub last_rmem: u64,
    /// Its queue (bytes) at the first sample after the program was told to stop (None:
    /// it was closed before, or the record is older).
    #[serde(default)]
    pub rmem_at_stop: Option<u64>,
    /// `(t_ns, rmem, drops)`, thinned like every series.
    pub samples: super::Series,
}

/// How the program ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// exit(2) status, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
}

/// Who a program ran as (see `program::confine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Identity {
    /// This uid and gid with no supplementary group, every capability dropped (the
    /// bounding set included) and no_new_privs, so no exec can gain one back.
    Unprivileged {
        /// uid in the sandbox's user namespace (the host's when nlstorm runs as root).
        uid: u32,
        /// gid there.
        gid: u32,
    },
    /// As the sandbox runs: real root when nlstorm runs as root. Only by the operator's
    /// grant (`--allow-root-programs`), never by a scenario file alone.
    Root,
}

/// The sequence numbers of one emitter a program printed, as `[start, end)` ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Emitter index.
    pub emitter: usize,
    /// Sorted, disjoint ranges.
    pub ranges: Vec<(u64, u64)>,
}

/// What the program's whole output said, read line by line as it arrived (see
/// `adapter`): its events, its error lines, what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// This run's events it printed, per emitter (duplicates once).
    pub seen: Vec<Seen>,
    /// Kernel SEQNUMs it printed (an output-regex capturing `seqnum`), as ranges;
    /// mapped to emitters and sequence numbers through the run's SEQNUM map.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seqnums: Vec<(u64, u64)>,
    /// Event reports of this run, duplicates included.
    pub events: u64,
    /// Reports of an event it had reported before.
    pub duplicates: u64,
    /// Events not of this run, or unreadable as one.
    pub foreign: u64,
    /// Events the adapter skips by design (udevd's `UDEV` rebroadcasts).
    pub other_events: u64,
    /// Lines, both streams.
    pub lines: u64,
    /// Of them, on stdout.
    pub stdout_lines: u64,
    /// Lines (outside events) matching an error pattern.
    pub error_lines: u64,
    /// The first of them (at most 300 characters).
    pub first_error_line: Option<String>,
    /// When it was printed.
    pub first_error_ns: Option<u64>,
    /// Stdout lines that were neither an event, the adapter's preamble, the ready line,
    /// a blank line nor an error line: output the adapter could not read.
    pub unread_lines: u64,
    /// The first of them (at most 300 characters).
    pub unread_sample: Option<String>,
    /// When it last printed anything.
    pub last_line_ns: Option<u64>,
    /// When it last printed an event of this run.
    pub last_event_ns: Option<u64>,
    /// `(t_ns, event reports so far, 0)`, thinned like every series.
    pub events_over_time: super::Series,
}

/// Why nlstorm stopped the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Every event sent to it was printed or dropped by the kernel on its sockets.
    AllAccounted,
    /// Its output and its sockets were quiet for the settle time after emission.
    Quiet,
    /// `stop-after` passed after emission with events still unaccounted.
    StopAfter,
    /// The run's deadline.
    Deadline,
    /// It ended by itself.
    Exited,
}

impl StopReason {
    /// The words for people.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::AllAccounted => "every event accounted for",
            StopReason::Quiet => "output and sockets quiet for the settle time",
            StopReason::StopAfter => "stop-after reached with events unaccounted",
            StopReason::Deadline => "the run's deadline",
            StopReason::Exited => "it exited by itself",
        }
    }
}

/// Everything recorded about one program.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgramRecord {
    /// Name from the scenario.
    pub name: String,
    /// Its PID in the sandbox's PID namespace (the host's); it ran in a PID namespace of
    /// its own, below that.
    pub pid: u32,
    /// Who it ran as (None in records written before programs were confined).
    #[serde(default)]
    pub identity: Option<Identity>,
    /// When it was ready to listen (None: never).
    pub ready_ns: Option<u64>,
    /// The run's t0 (emission starts) on the program's timeline.
    pub t0_ns: u64,
    /// When the last emitter finished.
    pub emission_end_ns: Option<u64>,
    /// When the stop signal was sent (None: it ended before).
    pub stop_sent_ns: Option<u64>,
    /// SIGKILL was needed (it outlived the stop grace or the run's deadline).
    pub killed: bool,
    /// How it ended (None: it could not be reaped).
    pub exit: Option<Exit>,
    /// When it ended.
    pub exit_ns: Option<u64>,
    /// A sample of the lines it printed: the first and the last [`LINES_KEPT`] / 2,
    /// each at most [`LINE_KEPT`] bytes, within [`OUTPUT_KEPT`] bytes in all. Its
    /// events and error lines are counted over the whole output, in `tally`.
    pub output: Vec<Line>,
    /// Lines were left out of `output` (the tally still counts them).
    pub output_truncated: bool,
    /// The whole output read by its adapter (None in records written before it was).
    #[serde(default)]
    pub tally: Option<Tally>,
    /// Why it was stopped (None in older records).
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    /// Every netlink socket it held.
    pub sockets: Vec<ProgramSocket>,
    /// Time between samples of its sockets and threads.
    pub sample_interval_ns: u64,
    /// CPU time (user + system, all its processes) in ns at t0, at the end of emission
    /// and when it was stopped.
    pub cpu_ns_at_t0: u64,
    /// At the end of emission.
    pub cpu_ns_at_emission_end: Option<u64>,
    /// When it was stopped (or last sampled).
    pub cpu_ns_at_stop: Option<u64>,
    /// Threads blocked in a netlink receive past the call deadline, with the socket's row.
    pub hangs: Vec<Hang>,
    /// Why it could not be run or judged (not installed, never ready).
    pub error: Option<String>,
}

/// Most output bytes kept per program.
pub const OUTPUT_KEPT: usize = 16 << 20;
/// Most lines kept per program: the first half and the last half.
pub const LINES_KEPT: usize = 20_000;
/// Most bytes kept of one line.
pub const LINE_KEPT: usize = 4096;
