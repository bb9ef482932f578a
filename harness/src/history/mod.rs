//! The journal of one run: everything the checker needs, nothing it has to guess.

use serde::{Deserialize, Serialize};

pub mod churn;
pub mod dump;
pub mod emitter;
pub mod program;
pub mod receiver;
pub mod sandbox;

pub use churn::ChurnRecord;
pub use dump::{DumpRecord, Hang, HangClass, Observation};
pub use emitter::{EmitterRecord, TimingError};
pub use program::ProgramRecord;
pub use receiver::{EnobufsAt, Ledger, ReceiverRecord, ReceiverSetup, StepRecord, POSITIONS_KEPT};
pub use sandbox::SandboxInfo;

use crate::model::{AdmitRule, BufferFacts};

/// A run of equal charges: `count` messages in a row that each cost `truesize` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// Bytes charged to the receive queue per message (measured).
    pub truesize: u64,
    /// Messages in a row with that charge.
    pub count: u64,
}

/// Run-length encodes a sequence of truesizes.
pub fn charges(truesizes: impl IntoIterator<Item = u64>) -> Vec<Charge> {
    let mut out: Vec<Charge> = Vec::new();
    for truesize in truesizes {
        match out.last_mut() {
            Some(c) if c.truesize == truesize => c.count += 1,
            _ => out.push(Charge { truesize, count: 1 }),
        }
    }
    out
}

/// The model's prediction for one receiver (computed by `check` from the charges; kept
/// in histories written before the charges were).
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

/// The socket's queue over time (SO_MEMINFO, the same counters as the Rmem and Drops
/// columns of /proc/net/netlink), bounded: past [`Series::CAP`] points every other point
/// is dropped and the interval doubles, so a long run costs the same as a short one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    /// Nanoseconds between kept points.
    pub interval_ns: u64,
    /// `(ns after t0, rmem bytes, drops)`.
    pub points: Vec<(u64, u64, u64)>,
    #[serde(skip)]
    last_ns: Option<u64>,
}

impl Series {
    /// Most points kept.
    pub const CAP: usize = 1024;

    /// A series sampled every `interval_ns` at first.
    pub fn new(interval_ns: u64) -> Self {
        Self {
            interval_ns,
            points: Vec::new(),
            last_ns: None,
        }
    }

    /// Offers a sample; kept if at least one interval has passed since the last kept one.
    pub fn offer(&mut self, t_ns: u64, rmem: u64, drops: u64) {
        if self
            .last_ns
            .is_some_and(|last| t_ns < last + self.interval_ns)
        {
            return;
        }
        self.last_ns = Some(t_ns);
        self.points.push((t_ns, rmem, drops));
        if self.points.len() > Self::CAP {
            let kept: Vec<_> = self.points.iter().copied().step_by(2).collect();
            self.points = kept;
            self.interval_ns *= 2;
        }
    }
}

/// A receiver's record plus its prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverHistory {
    /// What was observed.
    pub record: ReceiverRecord,
    /// The truesize of each message this receiver's stream will charge, in arrival
    /// order, measured in the run's sandbox: as many as an unread queue could ever hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charges: Vec<Charge>,
    /// Histories before `charges` stored the prediction itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// Queue charge and drops over the run.
    pub samples: Series,
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
    /// Dump clients, in plan order.
    #[serde(default)]
    pub dumps: Vec<crate::history::DumpRecord>,
    /// Churn threads, in plan order.
    #[serde(default)]
    pub churn: Vec<crate::history::ChurnRecord>,
    /// Programs under test, in plan order.
    #[serde(default)]
    pub programs: Vec<ProgramRecord>,
    /// SEQNUMs of the run's uevents, when a program prints SEQNUM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seqnums: Option<SeqnumMap>,
}

/// The kernel's SEQNUM of each uevent of the run, read by a reference socket (see
/// `exec::seqnums`): what a program that prints SEQNUM is judged by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqnumMap {
    /// Runs of consecutive SEQNUMs and sequence numbers of one emitter.
    pub runs: Vec<SeqnumRun>,
    /// Drops of the reference socket: above 0, some SEQNUMs are unknown.
    pub drops: u64,
}

/// `len` uevents of `emitter`, sequence `seq..`, got SEQNUM `seqnum..`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqnumRun {
    /// First SEQNUM.
    pub seqnum: u64,
    /// Emitter index.
    pub emitter: usize,
    /// First sequence number.
    pub seq: u64,
    /// How many.
    pub len: u64,
}

impl SeqnumMap {
    /// The emitter and sequence number of the uevent the kernel numbered `seqnum`.
    pub fn lookup(&self, seqnum: u64) -> Option<(usize, u64)> {
        let i = self.runs.partition_point(|r| r.seqnum <= seqnum);
        let r = self.runs.get(i.checked_sub(1)?)?;
        (seqnum < r.seqnum + r.len).then(|| (r.emitter, r.seq + (seqnum - r.seqnum)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seqnum_is_looked_up_in_its_run() {
        let m = SeqnumMap {
            runs: vec![
                SeqnumRun {
                    seqnum: 10,
                    emitter: 0,
                    seq: 0,
                    len: 3,
                },
                SeqnumRun {
                    seqnum: 20,
                    emitter: 1,
                    seq: 5,
                    len: 1,
                },
            ],
            drops: 0,
        };
        assert_eq!(m.lookup(11), Some((0, 1)));
        assert_eq!(m.lookup(13), None);
        assert_eq!(m.lookup(20), Some((1, 5)));
        assert_eq!(m.lookup(9), None);
    }

    #[test]
    fn charges_are_run_length_encoded_in_order() {
        let c = charges([768, 768, 1280, 768]);
        let pairs: Vec<(u64, u64)> = c.iter().map(|c| (c.truesize, c.count)).collect();
        assert_eq!(pairs, [(768, 2), (1280, 1), (768, 1)]);
        assert!(charges([]).is_empty());
    }

    #[test]
    fn series_stays_bounded_and_spans_the_run() {
        let mut s = Series::new(10);
        for t in 0..100_000u64 {
            s.offer(t, t, 0);
        }
        assert!(s.points.len() <= Series::CAP);
        assert!(s.points.len() > Series::CAP / 2);
        assert_eq!(s.points[0].0, 0);
        assert!(
            s.points.last().unwrap().0 > 90_000,
            "covers the end: {:?}",
            s.points.last()
        );
        assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn samples_closer_than_the_interval_are_skipped() {
        let mut s = Series::new(10);
        for t in [0, 5, 10, 12, 25] {
            s.offer(t, 1, 0);
        }
        assert_eq!(
            s.points.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![0, 10, 25]
        );
    }
}
