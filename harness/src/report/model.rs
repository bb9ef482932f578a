//! The JSON report document (schema documented in README.md).

use serde::{Deserialize, Serialize};

use crate::check::{Outcome, ReceiverResult};
use crate::history::EmitterRecord;
use crate::model::BufferFacts;

/// One scenario's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub file: String,
    /// `pass`, `fail`, `harness-error`, `environment-error`, `bad-input`.
    pub status: String,
    /// The exit code this scenario alone would give.
    pub exit_code: i32,
    /// Why it could not run, when it could not.
    pub error: Option<String>,
    /// The run record directory.
    pub record_dir: Option<String>,
    /// Kernel release it ran on.
    pub kernel_release: Option<String>,
    /// Buffer limits it ran with.
    pub facts: Option<BufferFacts>,
    /// Run id (the SYNTH_UUID of its uevents).
    pub run_id: Option<String>,
    /// Seconds from first send to last read.
    pub elapsed_s: Option<f64>,
    /// Per receiver.
    pub receivers: Vec<ReceiverResult>,
    /// Per emitter.
    pub emitters: Vec<EmitterRecord>,
    /// Per dump client: ledger, counts, hangs with evidence.
    #[serde(default)]
    pub dumps: Vec<crate::check::DumpResult>,
    /// Per churn thread: changes made and failed.
    #[serde(default)]
    pub churn: Vec<crate::history::ChurnRecord>,
    /// Per program under test: sent, seen, lost, kernel drops, silent loss, its
    /// sockets, exit, CPU and hangs.
    #[serde(default)]
    pub programs: Vec<crate::check::program::ProgramResult>,
    /// Expectations and run-wide checks.
    pub outcomes: Vec<Outcome>,
    /// Harness inconsistencies.
    pub problems: Vec<String>,
}

/// The whole `--json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Version of nlstorm that wrote it.
    pub nlstorm_version: String,
    /// Exit code of the whole invocation.
    pub exit_code: i32,
    /// One entry per scenario, in the order run.
    pub scenarios: Vec<ScenarioReport>,
}
