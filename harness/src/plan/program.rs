//! A program under test: the user's own listener or agent, run inside the sandbox
//! beside nlstorm's receivers and judged by what it printed and what its sockets lost.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Expectation, MetricKey, Name};

/// When emission may start: the program listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Ready {
    /// A line on its stdout matches this regular expression.
    Line {
        /// The expression (checked when the scenario is compiled).
        regex: String,
    },
    /// It holds a netlink socket bound to at least one multicast group.
    NetlinkSocket,
    /// It is ready once started.
    Started,
}

/// How the program's output is read back into events nlstorm sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum OutputFormat {
    /// Nothing is read from the output; only its sockets are judged.
    None,
    /// `udevadm monitor --kernel --property`: `KERNEL[...]` header, `KEY=VALUE` lines,
    /// a blank line after each event.
    Udevadm,
    /// Uevents as blocks of `KEY=VALUE` lines ended by a blank line, whatever header
    /// line a block has: busybox `uevent` (`ACTION@DEVPATH`), `udevadm monitor --udev
    /// --property` (`UDEV [...]`, udevd's events after rules) or `--kernel`, or a
    /// listener's own. A block is an event of the run by its SYNTH_UUID, SYNTH_ARG_
    /// keys, or else by its SEQNUM (mapped through the run's SEQNUM map).
    UeventBlocks,
    /// One event per line matching `regex`, counted, not identified (`bridge monitor`,
    /// `nl-monitor`: output with no sequence): `seen` is a count, duplicates and
    /// events of other runs included, capped at `sent`.
    Count {
        /// The expression (checked when the scenario is compiled).
        regex: String,
    },
    /// `ip -d -o monitor link`: one line per RTM_NEWLINK, whose `alias nlstorm run=...`
    /// is the alias a link-alias emitter set (`-d` prints the alias, `-o` keeps each
    /// event on one line).
    IpMonitor,
    /// One event per line that matches `regex`; its capture group `seq` holds nlstorm's
    /// sequence number, an optional group `src` the emitter index, an optional group
    /// `run` the run id (the program gets it as NLSTORM_RUN_ID). Or, instead of `seq`
    /// and `src`, a group `seqnum` holds the kernel's SEQNUM of a uevent, which nlstorm
    /// maps back to the emitter and sequence through a reference socket of its own.
    Regex {
        /// The expression (checked when the scenario is compiled).
        regex: String,
    },
}

impl OutputFormat {
    /// An output expression that captures the kernel's `seqnum` (the SEQNUM of a
    /// uevent) instead of nlstorm's `seq`.
    pub fn by_seqnum(&self) -> bool {
        match self {
            OutputFormat::UeventBlocks => true,
            OutputFormat::Regex { regex } => regex::Regex::new(regex)
                .is_ok_and(|r| r.capture_names().any(|n| n == Some("seqnum"))),
            _ => false,
        }
    }
}

/// What `OutputFormat::IpMonitor` matches in a line.
pub const IP_MONITOR_REGEX: &str =
    r"alias nlstorm run=(?P<run>\S+) src=(?P<src>[0-9]+) seq=(?P<seq>[0-9]+)";

/// How the program is ended after emission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    /// Signal number sent first.
    pub signal: i32,
    /// After emission ends, it is sent once every event sent to the program is
    /// accounted for (printed or dropped by the kernel) with its queues empty, or once
    /// its output and queues have been quiet for `settle`, or at the latest this long
    /// after emission ended.
    pub after: Duration,
    /// Then this long before SIGKILL to its process group.
    pub grace: Duration,
    /// Quiet this long (no output line, its queues empty) after emission, it has done
    /// all it will: it is stopped even if some events are unaccounted.
    #[serde(default = "default_settle")]
    pub settle: Duration,
}

/// The default `settle`.
pub const DEFAULT_SETTLE: Duration = Duration::from_millis(500);

fn default_settle() -> Duration {
    DEFAULT_SETTLE
}

/// The signals a scenario may name in `stop-signal`, without their SIG prefix.
pub const STOP_SIGNALS: [(&str, i32); 7] = [
    ("TERM", libc::SIGTERM),
    ("INT", libc::SIGINT),
    ("HUP", libc::SIGHUP),
    ("QUIT", libc::SIGQUIT),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("KILL", libc::SIGKILL),
];

/// The command-line flag by which the person running nlstorm grants root to the
/// programs whose scenario asks for it (`root = true`).
pub const ALLOW_ROOT_FLAG: &str = "--allow-root-programs";

/// How long after its last line a program whose events are all accounted for is
/// stopped (a line telling of a loss may follow the last event).
pub const DRAINED_FOR: Duration = Duration::from_millis(50);

/// One `[[program]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramPlan {
    /// Name from the scenario.
    pub name: Name,
    /// argv; `argv[0]` is a path (made absolute against the scenario's directory) or a
    /// name looked up in PATH. Run directly, never through a shell.
    pub command: Vec<String>,
    /// Added to the environment (PATH, HOME, TMPDIR, NLSTORM_RUN_ID are set for it).
    pub env: Vec<(String, String)>,
    /// User to run as (nobody when unset; never 0: root is asked with `root`).
    pub uid: Option<u32>,
    /// Group to run as.
    pub gid: Option<u32>,
    /// The scenario asks for real root (`root = true`). The file alone never grants it:
    /// a run executes such a plan only with the operator's `--allow-root-programs`.
    #[serde(default)]
    pub root: bool,
    /// Indices of the emitters whose messages it is meant to see.
    pub emitters: Vec<usize>,
    /// How long to wait before starting it, after nlstorm's sockets are set up and the
    /// programs before it are ready (a daemon that must settle before the next starts).
    #[serde(default)]
    pub start: Duration,
    /// When it is listening.
    pub ready: Ready,
    /// How long it may take to become ready.
    pub ready_timeout: Duration,
    /// How its output is read.
    pub output: OutputFormat,
    /// An output line containing one of these (case-insensitive) is the program telling
    /// its user it lost something; loss with none of them printed is silent.
    pub error_patterns: Vec<String>,
    /// How it is ended.
    pub stop: Stop,
    /// A thread blocked this long in a receive call on a netlink socket is a hang.
    pub call_deadline: Duration,
    /// What must hold at the end.
    pub expectations: Vec<Expectation<ProgramMetric>>,
}

/// The default error patterns: what glibc, libudev, iproute2, systemd and Python print
/// when a netlink receive fails with ENOBUFS or a monitor falls behind.
pub const DEFAULT_ERROR_PATTERNS: [&str; 6] = [
    "No buffer space available",
    "ENOBUFS",
    // Python's OSError when the library gives no text: `[Errno 105] None`.
    "Errno 105",
    "overrun",
    "Error while polling",
    "lost",
];

/// A per-program figure an expectation can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProgramMetric {
    /// Messages sent by the emitters it is meant to see.
    Sent,
    /// Distinct ones it reported.
    Seen,
    /// Sent but never reported (sequence gaps).
    Lost,
    /// Events it reported that this run did not send.
    Foreign,
    /// Drops of all its netlink sockets, closed ones included.
    KernelDrops,
    /// `lost` when no output line matched an error pattern, else 0.
    SilentLoss,
    /// Output lines that matched an error pattern.
    ErrorLines,
    /// Exit status; 128 + N when signal N ended it.
    ExitCode,
    /// Threads found blocked in a netlink receive past the call deadline.
    Hangs,
    /// 1 when, after its first drop, it drained a socket again (or never overran).
    KeepsReading,
    /// CPU use after emission ended, percent of one CPU.
    CpuAfterFlood,
    /// Netlink sockets it held over the run.
    Sockets,
    /// Sockets it closed while it ran.
    Reopened,
}

impl ProgramMetric {
    /// Every metric with its scenario-file key.
    pub const ALL: [(ProgramMetric, &'static str); 13] = [
        (ProgramMetric::Sent, "sent"),
        (ProgramMetric::Seen, "seen"),
        (ProgramMetric::Lost, "lost"),
        (ProgramMetric::Foreign, "foreign"),
        (ProgramMetric::KernelDrops, "kernel-drops"),
        (ProgramMetric::SilentLoss, "silent-loss"),
        (ProgramMetric::ErrorLines, "error-lines"),
        (ProgramMetric::ExitCode, "exit-code"),
        (ProgramMetric::Hangs, "hangs"),
        (ProgramMetric::KeepsReading, "keeps-reading"),
        (ProgramMetric::CpuAfterFlood, "cpu-after-flood"),
        (ProgramMetric::Sockets, "sockets"),
        (ProgramMetric::Reopened, "reopened"),
    ];
}

impl MetricKey for ProgramMetric {
    const KEYS: &'static [(Self, &'static str)] = &Self::ALL;
}

/// `metric OP value` for a program.
pub type ProgramExpectation = Expectation<ProgramMetric>;
