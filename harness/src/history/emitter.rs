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
}
