//! History -> Verdict. Pure: reads only the history and the plan.

use serde::{Deserialize, Serialize};

pub mod dump;
pub mod hang;
pub mod program;
pub mod property;
pub mod threshold;

pub use hang::classify;

use std::collections::BTreeMap;

use crate::history::EmitterRecord;
use crate::history::History;
use crate::history::Ledger;
use crate::history::{DumpRecord, HangClass};
use crate::plan::{DumpMetric, Expectation, Metric, MetricKey, Plan};

/// What one receiver got and lost: the JSON report's per-receiver object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverResult {
    /// Receiver name.
    pub name: String,
    /// `kobject-uevent` or `usersock`.
    pub protocol: String,
    /// `default`, `SO_RCVBUF` or `SO_RCVBUFFORCE`.
    pub rcvbuf_option: crate::model::RcvbufOption,
    /// Bytes requested (null for default).
    pub rcvbuf_requested: Option<i64>,
    /// Effective SO_RCVBUF read back from the kernel.
    pub rcvbuf_effective: u64,
    /// Messages sent to groups this receiver joined.
    pub sent: u64,
    /// Distinct messages of this run received.
    pub delivered: u64,
    /// Sent but never received (sequence gaps).
    pub lost: u64,
    /// ENOBUFS errors returned to the reader.
    pub enobufs: u64,
    /// Drops column of /proc/net/netlink for the socket (null if the row was gone).
    pub kernel_drops: Option<u64>,
    /// Largest sampled receive-queue charge, bytes.
    pub max_rmem: u64,
    /// Datagrams cut short (MSG_TRUNC).
    pub truncated: u64,
    /// Of `delivered`, this run's messages whose sequence number the cut took (counted as
    /// delivered, and not as lost, whichever number they had).
    #[serde(default)]
    pub unnumbered: u64,
    /// NETLINK_BROADCAST_ERROR as the kernel read it back (shown only when set).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broadcast_error: bool,
    /// For a pinned receiver: the CPU its thread ran on when it stopped reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// What each of its `steps` did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<crate::history::StepRecord>,
    /// Messages that arrived after a later one.
    pub out_of_order: u64,
    /// Extra copies received.
    pub duplicates: u64,
    /// Datagrams not from this run.
    pub foreign: u64,
    /// Model: messages an unread queue holds (null when nothing was sent to it).
    pub predicted_capacity: Option<u64>,
    /// Model: messages lost, when the reader did not read during emission.
    pub predicted_lost: Option<u64>,
    /// Measured truesize of the receiver's first message, bytes.
    pub truesize: Option<u64>,
    /// `agrees`, `disagrees` or `not-applicable` (reader active during emission).
    pub model: ModelVerdict,
    /// Blocking-call ledger.
    pub calls: Ledger,
    /// The deadline cut reading short.
    pub stopped_by_deadline: bool,
    /// An unexpected receive error.
    pub error: Option<String>,
    /// The same accounting per emitter that feeds this receiver, in plan order.
    #[serde(default)]
    pub per_emitter: Vec<EmitterDelivery>,
    /// ENOBUFS reports read with SO_ERROR (a reader with `so-error-first`), of `enobufs`.
    #[serde(default)]
    pub enobufs_by_so_error: u64,
    /// Where the first ENOBUFS reports fell in the stream.
    #[serde(default)]
    pub enobufs_positions: Vec<crate::history::EnobufsAt>,
    /// The emitters its socket filter drops: what each sent, and what arrived anyway
    /// (the kernel applies the filter before charging, so that must be none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filtered_out: Vec<EmitterDelivery>,
}

/// What one emitter sent a receiver and what reached it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmitterDelivery {
    /// Emitter name.
    pub emitter: String,
    /// Messages it sent.
    pub sent: u64,
    /// Distinct ones received.
    pub delivered: u64,
    /// Sequence gaps.
    pub lost: u64,
}

impl ReceiverResult {
    /// The figure an expectation tests; `None` where it does not apply.
    pub fn metric(&self, m: Metric) -> Option<u64> {
        Some(match m {
            Metric::ModelMiss => return self.predicted_lost.map(|p| p.abs_diff(self.lost)),
            Metric::Sent => self.sent,
            Metric::Delivered => self.delivered,
            Metric::Lost => self.lost,
            Metric::Enobufs => self.enobufs,
            Metric::KernelDrops => self.kernel_drops.unwrap_or(0),
            Metric::Truncated => self.truncated,
            Metric::OutOfOrder => self.out_of_order,
            Metric::Duplicates => self.duplicates,
            Metric::Foreign => self.foreign,
            Metric::MaxRmem => self.max_rmem,
            Metric::RcvbufEffective => self.rcvbuf_effective,
        })
    }
}

/// A dump client's ledger and hangs: the JSON report's per-client object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpResult {
    /// Everything the client counted, its hangs with their evidence.
    #[serde(flatten)]
    pub record: DumpRecord,
    /// Hangs per class.
    pub hang_classes: BTreeMap<String, u64>,
}

impl DumpResult {
    /// Summarises a record.
    pub fn new(record: &DumpRecord) -> Self {
        let mut hang_classes = BTreeMap::new();
        for h in &record.hangs {
            *hang_classes.entry(h.class.name().to_string()).or_insert(0) += 1;
        }
        DumpResult {
            record: record.clone(),
            hang_classes,
        }
    }

    fn class(&self, c: HangClass) -> u64 {
        self.hang_classes.get(c.name()).copied().unwrap_or(0)
    }

    /// The figure an expectation tests.
    pub fn metric(&self, m: DumpMetric) -> u64 {
        let r = &self.record;
        match m {
            DumpMetric::Requests => r.requests,
            DumpMetric::Completed => r.completed,
            DumpMetric::CallsStarted => r.calls_started,
            DumpMetric::CallsReturned => r.calls_returned,
            DumpMetric::Hangs => r.hangs.len() as u64,
            DumpMetric::HangsDumpStalled => self.class(HangClass::DumpStalled),
            DumpMetric::HangsReplyLost => self.class(HangClass::ReplyLost),
            DumpMetric::HangsNothingOutstanding => self.class(HangClass::NothingOutstanding),
            DumpMetric::HangsTruncated => self.class(HangClass::Truncated),
            DumpMetric::HangsStoppedMidDump => self.class(HangClass::StoppedMidDump),
            DumpMetric::HangsUnknown => self.class(HangClass::Unknown),
            DumpMetric::Enobufs => r.enobufs,
            DumpMetric::Truncated => r.truncated,
            DumpMetric::Ebusy => r.ebusy,
            DumpMetric::ErrorAcks => r.error_acks,
            DumpMetric::CompletedAfterErrorAck => r.completed_after_error_ack,
            DumpMetric::ShortDumps => r.short_dumps,
            DumpMetric::ObjectsMissed => r.objects_missed,
            DumpMetric::StaleEbusy => r.stale_ebusy,
            DumpMetric::Messages => r.messages,
            DumpMetric::OtherMessages => r.other_messages,
            DumpMetric::Restarts => r.restarts,
            DumpMetric::Abandoned => r.abandoned,
        }
    }
}

/// One expectation's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Receiver name, or `run` for run-wide checks.
    pub receiver: String,
    /// `lost >= 1`.
    pub check: String,
    /// Where it was written.
    pub location: String,
    /// Held or not.
    pub passed: bool,
    /// The measured figure, as text.
    pub measured: String,
}

impl Outcome {
    /// The outcomes of participant `name`'s expectations, `measure` giving each figure.
    fn all<'a, M: MetricKey>(
        name: &'a str,
        expectations: &'a [Expectation<M>],
        measure: impl Fn(M) -> Option<u64> + 'a,
    ) -> impl Iterator<Item = Outcome> + 'a {
        expectations.iter().map(move |e| {
            let got = measure(e.metric);
            Outcome {
                receiver: name.into(),
                check: e.describe(),
                location: e.location.clone(),
                passed: got.is_some_and(|g| e.cmp.holds(g, e.value)),
                measured: got.map_or_else(
                    || "not applicable: the model predicts only a queue left unread during emission".into(),
                    |g| g.to_string(),
                ),
            }
        })
    }
}

/// Overall status, mapped to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every expectation held.
    Pass,
    /// Some expectation failed.
    Fail,
    /// The harness's own bookkeeping is inconsistent.
    HarnessError,
    /// The kernel lacks something the scenario needs (a dump family's module): the run
    /// says nothing about the receivers, so the scenario is skipped with the reason.
    Unsupported,
    /// The scenario cannot be judged as written: a program's output its adapter could
    /// not read (the reasons are the verdict's problems).
    BadInput,
}

/// What the capacity model says of one receiver (or a sweep cell): spelt in JSON as
/// `agrees`, `disagrees`, `not-applicable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelVerdict {
    /// The reader read nothing during emission and the loss is the model's.
    Agrees,
    /// The reader read nothing during emission and the loss is not the model's.
    Disagrees,
    /// A reader ran during emission, or no prediction was made: the model says nothing.
    NotApplicable,
}

impl ModelVerdict {
    /// The JSON spelling.
    pub fn name(self) -> &'static str {
        match self {
            ModelVerdict::Agrees => "agrees",
            ModelVerdict::Disagrees => "disagrees",
            ModelVerdict::NotApplicable => "not-applicable",
        }
    }
}

impl std::fmt::Display for ModelVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The checker's answer for one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Scenario name.
    pub scenario: String,
    /// Overall status.
    pub status: Status,
    /// Per receiver.
    pub receivers: Vec<ReceiverResult>,
    /// Per emitter.
    pub emitters: Vec<EmitterRecord>,
    /// Per dump client.
    pub dumps: Vec<DumpResult>,
    /// Per churn thread.
    pub churn: Vec<crate::history::ChurnRecord>,
    /// Per program under test.
    pub programs: Vec<program::ProgramResult>,
    /// Every expectation and run-wide check.
    pub outcomes: Vec<Outcome>,
    /// Harness-side inconsistencies (exit 4), or with status `BadInput` what makes the
    /// scenario unjudgeable (exit 2).
    pub problems: Vec<String>,
}

/// Whether `h` can be a run of `plan` at all: one record per planned emitter,
/// receiver, dump client and program, and every receiver tracking every emitter. A
/// stored record that fails this was altered or is from elsewhere: bad input, not a
/// harness error (`check` reads records others wrote).
pub fn record_fits(plan: &Plan, h: &History) -> Result<(), String> {
    let counts = [
        ("emitters", plan.emitters.len(), h.emitters.len()),
        ("receivers", plan.receivers.len(), h.receivers.len()),
        ("dump clients", plan.dumps.len(), h.dumps.len()),
        ("programs", plan.programs.len(), h.programs.len()),
    ];
    for (what, planned, recorded) in counts {
        if planned != recorded {
            return Err(format!(
                "its plan has {planned} {what} and its history {recorded}"
            ));
        }
    }
    for (rp, rh) in plan.receivers.iter().zip(&h.receivers) {
        if rh.record.sources.len() != plan.emitters.len() {
            return Err(format!(
                "receiver `{}` tracks {} emitters of {}",
                rp.name,
                rh.record.sources.len(),
                plan.emitters.len()
            ));
        }
    }
    Ok(())
}

/// Checks a history against its plan.
pub fn check(plan: &Plan, h: &History) -> Verdict {
    let mut problems = Vec::new();
    let mut unreadable = Vec::new();
    let receivers: Vec<ReceiverResult> = plan
        .receivers
        .iter()
        .zip(&h.receivers)
        .map(|(rp, rh)| result(plan, h, rp, rh, &mut problems))
        .collect();
    let mut outcomes = Vec::new();
    for (rp, res) in plan.receivers.iter().zip(&receivers) {
        outcomes.extend(Outcome::all(&rp.name, &rp.expectations, |m| res.metric(m)));
    }
    let dumps: Vec<DumpResult> = h.dumps.iter().map(DumpResult::new).collect();
    for (dp, res) in plan.dumps.iter().zip(&dumps) {
        outcomes.extend(Outcome::all(&dp.name, &dp.expectations, |m| {
            Some(res.metric(m))
        }));
        if let Some(err) = &res.record.error {
            problems.push(format!("dump client `{}`: {err}", dp.name));
        }
    }
    let programs: Vec<program::ProgramResult> = plan
        .programs
        .iter()
        .zip(&h.programs)
        .map(|(pp, rec)| program::judge(plan, pp, rec, h))
        .collect();
    for (pp, res) in plan.programs.iter().zip(&programs) {
        outcomes.extend(pp.expectations.iter().map(|e| {
            let (passed, measured) = res.judge(e);
            Outcome {
                receiver: pp.name.to_string(),
                check: e.describe(),
                location: e.location.clone(),
                passed,
                measured,
            }
        }));
        if let Some(u) = &res.unreadable {
            unreadable.push(u.clone());
        }
    }
    for c in &h.churn {
        if c.errors > 0 {
            problems.push(format!(
                "{} churn: {} of {} changes failed (first: {})",
                c.kind,
                c.errors,
                c.changes,
                c.first_error.as_deref().unwrap_or("?")
            ));
        }
    }
    outcomes.push(Outcome {
        receiver: "run".into(),
        check: format!(
            "finished within the deadline ({})",
            crate::units::format_duration(plan.deadline)
        ),
        location: String::new(),
        passed: !h.deadline_hit,
        measured: format!("{:.3}s", h.elapsed_ns as f64 / 1e9),
    });
    for e in &h.emitters {
        if e.send_errors > 0 {
            problems.push(format!(
                "emitter `{}`: {} sends failed (first: {})",
                e.name,
                e.send_errors,
                e.first_error.as_deref().unwrap_or("?")
            ));
        }
    }
    let unsupported = dumps.iter().find_map(|d| d.record.unsupported.clone());
    let status = if unsupported.is_some() {
        Status::Unsupported
    } else if !problems.is_empty() {
        Status::HarnessError
    } else if !unreadable.is_empty() {
        // A program's output nlstorm could not read is the scenario's mistake (the
        // wrong adapter or regex), never loss.
        problems = unreadable;
        Status::BadInput
    } else if outcomes.iter().all(|o| o.passed) {
        Status::Pass
    } else {
        Status::Fail
    };
    Verdict {
        scenario: plan.name.to_string(),
        status,
        receivers,
        emitters: h.emitters.clone(),
        dumps,
        churn: h.churn.clone(),
        programs,
        outcomes,
        problems,
    }
}

/// What the model says an unread queue of this receiver holds: the run's admission rule
/// applied to the charges measured for its stream, at the buffer the kernel gave it
/// (read back with getsockopt: the admission rule is about the limit in force).
fn predict(
    h: &History,
    rh: &crate::history::ReceiverHistory,
    feeders: usize,
) -> Option<crate::history::Prediction> {
    let Some(first) = rh.charges.first() else {
        return rh.prediction.clone();
    };
    let setup = &rh.record.setup;
    let truesizes = rh
        .charges
        .iter()
        .flat_map(|c| std::iter::repeat_n(c.truesize, c.count as usize));
    Some(crate::history::Prediction {
        capacity: h
            .admit_rule
            .queued(setup.rcvbuf_effective, truesizes, setup.no_enobufs),
        truesize: first.truesize,
        exact: feeders == 1,
    })
}

fn result(
    plan: &Plan,
    h: &History,
    rp: &crate::plan::ReceiverPlan,
    rh: &crate::history::ReceiverHistory,
    problems: &mut Vec<String>,
) -> ReceiverResult {
    let r = &rh.record;
    let feeding = plan.feeders(rp);
    let filtered = plan.filtered(rp);
    let mut filtered_out = Vec::new();
    let mut sent = 0;
    let mut delivered = 0;
    let mut lost = 0;
    let mut per_emitter = Vec::new();
    for (i, tracker) in r.sources.iter().enumerate() {
        if filtered.contains(&i) {
            let e = &h.emitters[i];
            if tracker.delivered() > 0 {
                problems.push(format!(
                    "receiver `{}`: its socket filter drops `{}`, yet {} of its messages arrived",
                    rp.name,
                    e.name,
                    tracker.delivered()
                ));
            }
            filtered_out.push(EmitterDelivery {
                emitter: e.name.clone(),
                sent: e.sent,
                delivered: tracker.delivered(),
                lost: e.sent.saturating_sub(tracker.delivered()),
            });
            continue;
        }
        let s = if feeding.contains(&i) {
            h.emitters[i].sent
        } else {
            0
        };
        if let Some(top) = tracker.highest_seen() {
            if top >= s {
                problems.push(format!(
                    "receiver `{}`: saw sequence {top} from `{}`, which sent only {s}",
                    rp.name, h.emitters[i].name
                ));
            }
        }
        sent += s;
        delivered += tracker.delivered();
        lost += tracker.lost(s);
        if feeding.contains(&i) {
            per_emitter.push(EmitterDelivery {
                emitter: h.emitters[i].name.clone(),
                sent: s,
                delivered: tracker.delivered(),
                lost: tracker.lost(s),
            });
        }
    }
    // Ours, emitter unknown: delivered all the same, so not lost.
    let unattributed = r.unattributed.min(lost);
    delivered += unattributed;
    lost -= unattributed;
    if unattributed < r.unattributed {
        problems.push(format!(
            "receiver `{}`: {} cut messages of this run with no emitter to tell, more than the {} the sequence numbers show missing",
            rp.name, r.unattributed, unattributed
        ));
    }
    let unnumbered = r.unattributed
        + feeding
            .iter()
            .filter_map(|&i| r.sources.get(i))
            .map(crate::accounting::SeqTracker::unnumbered)
            .sum::<u64>();
    if delivered + lost != sent {
        problems.push(format!("receiver `{}`: accounting invariant broken: delivered {delivered} + lost {lost} != sent {sent}", rp.name));
    }
    if let Some(e) = &r.error {
        problems.push(format!("receiver `{}`: receive failed: {e}", rp.name));
    }
    let emission_end = feeding
        .iter()
        .map(|&i| h.emitters[i].finished_ns)
        .max()
        .unwrap_or(0);
    let cut = feeding.iter().any(|&i| h.emitters[i].cut_by_deadline);
    // Steps change the socket under the queue: the model of one buffer does not apply.
    let unread_during_emission = r.read_started_ns >= emission_end && !cut && rp.steps.is_empty();
    for s in r.steps.iter().filter(|s| s.error.is_some()) {
        problems.push(format!(
            "receiver `{}`: the kernel refused step `{}`: {}",
            rp.name,
            s.step,
            s.error.as_deref().unwrap_or_default()
        ));
    }
    let prediction = predict(h, rh, feeding.len());
    let predicted_lost = match (&prediction, unread_during_emission) {
        (Some(p), true) => Some(sent.saturating_sub(p.capacity.min(sent))),
        _ => None,
    };
    let model = match predicted_lost {
        Some(pl) if pl == lost => ModelVerdict::Agrees,
        Some(_) => ModelVerdict::Disagrees,
        None => ModelVerdict::NotApplicable,
    };
    ReceiverResult {
        name: rp.name.to_string(),
        protocol: rp.protocol.name().into(),
        rcvbuf_option: r.setup.rcvbuf_option,
        rcvbuf_requested: r.setup.rcvbuf_requested,
        rcvbuf_effective: r.setup.rcvbuf_effective,
        sent,
        delivered,
        lost,
        enobufs: r.enobufs,
        kernel_drops: r.kernel_drops,
        max_rmem: r.max_rmem,
        truncated: r.truncated,
        unnumbered,
        broadcast_error: r.setup.broadcast_error,
        cpu: r.cpu,
        steps: r.steps.clone(),
        out_of_order: r.sources.iter().map(|t| t.out_of_order()).sum(),
        duplicates: r.sources.iter().map(|t| t.duplicates()).sum(),
        foreign: r.foreign,
        predicted_capacity: prediction.as_ref().map(|p| p.capacity),
        predicted_lost,
        truesize: prediction.as_ref().map(|p| p.truesize),
        model,
        calls: r.ledger.clone(),
        stopped_by_deadline: r.stopped_by_deadline,
        error: r.error.clone(),
        per_emitter,
        enobufs_by_so_error: r.enobufs_by_so_error,
        enobufs_positions: r.enobufs_positions.clone(),
        filtered_out,
    }
}

impl Status {
    /// The exit code for this status.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Pass => crate::exit::PASS,
            Status::Fail => crate::exit::FINDING,
            Status::HarnessError => crate::exit::HARNESS,
            Status::Unsupported => crate::exit::ENVIRONMENT,
            Status::BadInput => crate::exit::BAD_INPUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::history::SandboxInfo;
    use crate::history::{Prediction, ReceiverHistory};
    use crate::history::{ReceiverRecord, ReceiverSetup};
    use crate::model::{AdmitRule, BufferFacts};

    const SCENARIO: &str = r#"
[[emitter]]
name = "a"
kind = "usersock"
group = 1
schedule = { kind = "burst", size = 10 }
[[emitter]]
name = "b"
kind = "usersock"
group = 2
schedule = { kind = "burst", size = 5 }
[[receiver]]
name = "r"
protocol = "usersock"
groups = [1]
expect = { lost = 0 }
"#;

    fn history(plan: &Plan, seen: &[u64], read_started_ns: u64, capacity: u64) -> History {
        let setup = ReceiverSetup {
            name: "r".into(),
            protocol: crate::plan::Protocol::Usersock,
            groups: vec![1],
            rcvbuf_option: crate::model::RcvbufOption::Default,
            rcvbuf_requested: None,
            rcvbuf_effective: 212_992,
            no_enobufs: false,
            broadcast_error: false,
            inode: 1,
        };
        let mut record = ReceiverRecord::new(setup, plan.emitters.len());
        for &s in seen {
            record.sources[0].observe(s);
        }
        record.read_started_ns = read_started_ns;
        let emitter = |name: &str, sent| EmitterRecord {
            name: name.into(),
            kind: "usersock".into(),
            sent,
            finished_ns: 1_000,
            ..Default::default()
        };
        History {
            run_id: "x".into(),
            kernel_release: "test".into(),
            facts: BufferFacts {
                sock_min_rcvbuf: 2304,
                rmem_max: 212_992,
                rmem_default: 212_992,
            },
            admit_rule: AdmitRule::ChargedAtMostRcvbuf,
            sandbox: SandboxInfo {
                user_namespace: false,
                devices: vec![],
            },
            deadline_hit: false,
            elapsed_ns: 2_000,
            emitters: vec![emitter("a", 10), emitter("b", 5)],
            receivers: vec![ReceiverHistory {
                record,
                // A history from before charges were kept: its stored prediction is used.
                charges: vec![],
                prediction: Some(Prediction {
                    capacity,
                    truesize: 832,
                    exact: true,
                }),
                samples: Default::default(),
            }],
            calibration: vec![],
            dumps: vec![],
            churn: vec![],
            programs: vec![],
            seqnums: None,
        }
    }

    fn plan() -> Plan {
        crate::scenario::compile_str(Path::new("t.toml"), SCENARIO).unwrap()
    }

    #[test]
    fn only_emitters_on_joined_groups_count_as_sent() {
        let p = plan();
        let v = check(&p, &history(&p, &[0, 1, 2, 7], 0, 4));
        let r = &v.receivers[0];
        assert_eq!((r.sent, r.delivered, r.lost), (10, 4, 6));
        assert_eq!(v.status, Status::Fail, "lost == 0 must fail");
        assert_eq!(v.outcomes[0].measured, "6");
        assert_eq!(
            r.model,
            ModelVerdict::NotApplicable,
            "the reader started before emission ended"
        );
    }

    #[test]
    fn an_unread_queue_is_compared_with_the_model() {
        let p = plan();
        let agrees = check(&p, &history(&p, &[0, 1, 2, 3], 5_000, 4));
        assert_eq!(
            (
                agrees.receivers[0].predicted_lost,
                agrees.receivers[0].model
            ),
            (Some(6), ModelVerdict::Agrees)
        );
        let differs = check(&p, &history(&p, &[0, 1, 2], 5_000, 4));
        assert_eq!(differs.receivers[0].model, ModelVerdict::Disagrees);
    }

    #[test]
    fn a_sequence_beyond_what_was_sent_is_a_harness_error() {
        let p = plan();
        let v = check(&p, &history(&p, &[0, 12], 0, 4));
        assert_eq!(v.status, Status::HarnessError);
        assert!(
            v.problems.iter().any(|m| m.contains("saw sequence 12")),
            "{:?}",
            v.problems
        );
        assert_eq!(v.status.exit_code(), crate::exit::HARNESS);
    }

    #[test]
    fn all_held_is_a_pass() {
        let p = plan();
        let v = check(&p, &history(&p, &(0..10).collect::<Vec<_>>(), 0, 4));
        assert_eq!(v.status, Status::Pass);
        assert!(v.outcomes.iter().all(|o| o.passed));
    }

    #[test]
    fn a_dump_family_the_kernel_lacks_skips_the_scenario_with_the_module_to_load() {
        let plan = crate::scenario::compile_str(
            std::path::Path::new("hang-dump-stalled.toml"),
            include_str!("../../../fixtures/records/hang-dump-stalled/scenario.toml"),
        )
        .unwrap();
        let mut h: History = serde_json::from_str(include_str!(
            "../../../fixtures/records/hang-dump-stalled/history.json"
        ))
        .unwrap();
        assert_eq!(check(&plan, &h).status, Status::Pass);
        let why = crate::dump::client::unsupported_request(
            crate::plan::DumpRequest::InetDiag,
            libc::ENOENT,
        );
        assert!(
            why.as_deref()
                .unwrap()
                .contains("modprobe inet_diag tcp_diag"),
            "{why:?}"
        );
        assert_eq!(
            crate::dump::client::unsupported_request(
                crate::plan::DumpRequest::InetDiag,
                libc::EBUSY
            ),
            None
        );
        h.dumps[0].unsupported = why;
        let v = check(&plan, &h);
        assert_eq!(v.status, Status::Unsupported);
        assert_eq!(v.status.exit_code(), crate::exit::ENVIRONMENT);
    }
}
