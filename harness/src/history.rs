//! The journal of one run: everything the checker needs, nothing it has to guess.

use serde::{Deserialize, Serialize};

use crate::emit::EmitterRecord;
use crate::model::{AdmitRule, BufferFacts};
use crate::receive::ReceiverRecord;
use crate::sandbox::SandboxInfo;

/// The model's prediction for one receiver, from this run's calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Messages an unread queue holds, for this receiver's message stream.
    pub capacity: u64,
    /// Truesize of the first message the receiver gets, bytes (measured).
    pub truesize: u64,
    /// True when one emitter feeds the receiver, so its message order is known exactly.
    pub exact: bool,
}

/// One truesize measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruesizePoint {
    /// Emitter name.
    pub emitter: String,
    /// Template variant.
    pub variant: usize,
    /// Bytes on the wire.
    pub wire_len: usize,
    /// Bytes charged to the receive queue.
    pub truesize: u64,
}

/// A receiver's record plus its prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverHistory {
    /// What was observed.
    pub record: ReceiverRecord,
    /// What the model says.
    pub prediction: Option<Prediction>,
}

/// Everything that happened in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Run id (SYNTH_UUID of uevents).
    pub run_id: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// Buffer limits read inside the sandbox.
    pub facts: BufferFacts,
    /// The admission rule the model uses.
    pub admit_rule: AdmitRule,
    /// What the sandbox was.
    pub sandbox: SandboxInfo,
    /// The run's deadline passed before it finished.
    pub deadline_hit: bool,
    /// From t0 to the last reader's end, ns.
    pub elapsed_ns: u64,
    /// Emitters, in plan order.
    pub emitters: Vec<EmitterRecord>,
    /// Receivers, in plan order.
    pub receivers: Vec<ReceiverHistory>,
    /// Truesizes measured for the model.
    pub calibration: Vec<TruesizePoint>,
}
