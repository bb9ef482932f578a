//! What an emitter did.

use serde::{Deserialize, Serialize};

/// What an emitter did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmitterRecord {
    /// Name from the scenario.
    pub name: String,
    /// Path into the kernel.
    pub kind: String,
    /// Messages the kernel accepted (sequence numbers 0..sent).
    pub sent: u64,
    /// Sends that failed.
    pub send_errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Bytes sent.
    pub bytes: u64,
    /// First send, ns after the run's start.
    pub started_ns: u64,
    /// Last send returned, ns after the run's start.
    pub finished_ns: u64,
    /// Stopped by the run's deadline before the schedule ended.
    pub cut_by_deadline: bool,
    /// For a replay: how late each send left against its recorded time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<TimingError>,
    /// For a pinned emitter (`cpu`): the CPU its thread ran on at its last send, read
    /// with sched_getcpu, which shows the pinning held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
}

/// How far sends lagged their planned times (each measured just before the send).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimingError {
    /// Sends measured.
    pub sends: u64,
    /// Median lateness, ns.
    pub median_ns: u64,
    /// Largest lateness, ns.
    pub max_ns: u64,
}

impl TimingError {
    /// The figures of `late` (ns per send, any order).
    pub fn of(late: &mut [u64]) -> Option<TimingError> {
        if late.is_empty() {
            return None;
        }
        late.sort_unstable();
        Some(TimingError {
            sends: late.len() as u64,
            median_ns: late[late.len() / 2],
            max_ns: late[late.len() - 1],
        })
    }
}
