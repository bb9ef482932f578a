//! A model-backed executor for unit tests of the search drivers: it plays a plan's
//! schedules against queues that follow one [`AdmitRule`] and a fixed truesize
//! function, with readers that take `consumer-delay` per message. It measures nothing
//! and stands in for no kernel claim; it exists so that bisection, sweeps and
//! shrinking can be tested without privilege, against answers known in advance.

use std::collections::VecDeque;

use crate::exec::ExecError;
use crate::history::SandboxInfo;
use crate::history::{History, ReceiverHistory, Series};
use crate::history::{ReceiverRecord, ReceiverSetup};
use crate::model::{AdmitRule, BufferFacts, Request};
use crate::plan::{PayloadPlan, Plan, RcvbufPlan, ReadStart, ReceiverPlan};
use crate::schedule::SendTimes;

use super::Execute;

/// Messages one plan may send before the fake refuses it (a test plan gone wrong).
const MAX_MESSAGES: usize = 2_000_000;

/// The fake kernel.
pub struct ModelBacked {
    /// Buffer limits it reports.
    pub facts: BufferFacts,
    /// The rule its queues follow.
    pub rule: AdmitRule,
}

impl Default for ModelBacked {
    fn default() -> Self {
        ModelBacked {
            facts: BufferFacts {
                sock_min_rcvbuf: 2304,
                rmem_max: 212_992,
                rmem_default: 212_992,
            },
            rule: AdmitRule::ChargedAtMostRcvbuf,
        }
    }
}

impl ModelBacked {
    /// What a message of `payload` bytes costs: an skb's fixed part plus the data
    /// rounded up to a power of two, like kmalloc buckets.
    pub fn truesize(payload: u64) -> u64 {
        512 + (payload + 64).next_power_of_two()
    }

    fn payload(p: &PayloadPlan) -> u64 {
        match p {
            PayloadPlan::Fixed { bytes } => u64::from(*bytes),
            PayloadPlan::Uniform { min, max } => u64::from(min + (max - min) / 2),
            PayloadPlan::Contents { .. } | PayloadPlan::Bare { bytes: 0 } => 300,
            PayloadPlan::Bare { bytes } => u64::from(*bytes),
            PayloadPlan::Trace { events, .. } => {
                let total: usize = events.iter().map(|e| e.wire().len()).sum();
                (total / events.len().max(1) + crate::payload::REPLAY_KEYS_LEN) as u64
            }
        }
    }

    fn request(&self, plan: &Plan, rp: &ReceiverPlan) -> Request {
        match rp.rcvbuf {
            RcvbufPlan::FitBurst { emitter } => {
                let e = &plan.emitters[emitter];
                let burst = SendTimes::first_burst(&e.schedule).unwrap_or(1) as usize;
                let ts = Self::truesize(Self::payload(&e.payload));
                let need = self.rule.rcvbuf_for(&vec![ts; burst]);
                Request::Plain(
                    self.facts
                        .request_for(need)
                        .unwrap_or(self.facts.rmem_max as i64),
                )
            }
            ref fixed => Request::of(fixed).expect("fixed requests"),
        }
    }
}

/// One message on its way: when it was sent, by whom, its sequence number and cost.
#[derive(Clone, Copy)]
struct Msg {
    at_ns: u64,
    emitter: usize,
    seq: u64,
    truesize: u64,
}

/// A receive queue and its reader.
struct Queue {
    queue: VecDeque<Msg>,
    rmem: u64,
    /// When the reader can take its next message.
    free_at: u64,
    delay: u64,
    congested: bool,
    drops: u64,
}

impl Queue {
    /// The reader takes every message it can before time `t` (a message sent at `t`
    /// arrives first: a burst is queued before any reader can run). A read that
    /// empties a congested queue returned ENOBUFS once and ends the congestion.
    fn read_until(&mut self, t: u64, rec: &mut ReceiverRecord) {
        while let Some(m) = self.queue.front().copied() {
            let at = self.free_at.max(m.at_ns);
            if at >= t {
                break;
            }
            self.queue.pop_front();
            self.rmem -= m.truesize;
            rec.sources[m.emitter].observe(m.seq);
            self.free_at = at + self.delay;
            if self.queue.is_empty() && self.congested {
                self.congested = false;
                rec.enobufs += 1;
            }
        }
    }

    /// A broadcast arrives: admitted by the rule unless the socket is congested.
    fn offer(
        &mut self,
        m: Msg,
        rule: AdmitRule,
        rcvbuf: u64,
        no_enobufs: bool,
        rec: &mut ReceiverRecord,
    ) {
        if !self.congested && rule.admits(self.rmem, m.truesize, rcvbuf) {
            self.rmem += m.truesize;
            rec.max_rmem = rec.max_rmem.max(self.rmem);
            self.queue.push_back(m);
        } else {
            self.drops += 1;
            self.congested |= !no_enobufs;
        }
    }
}

impl Execute for ModelBacked {
    fn kernel_release(&self) -> &str {
        "model-backed"
    }

    fn facts(&self) -> &BufferFacts {
        &self.facts
    }

    fn rule(&self) -> AdmitRule {
        self.rule
    }

    fn execute(&self, plan: &Plan) -> Result<History, ExecError> {
        let mut msgs = Vec::new();
        let mut emitters = Vec::new();
        for (i, e) in plan.emitters.iter().enumerate() {
            let ts = Self::truesize(Self::payload(&e.payload));
            let start = e.start.as_nanos() as u64;
            let times: Vec<u64> = SendTimes::new(&e.schedule, plan.seed, i as u64)
                .take(MAX_MESSAGES + 1)
                .collect();
            if times.len() > MAX_MESSAGES {
                return Err(ExecError::Unsupported(format!(
                    "emitter `{}` sends more than {MAX_MESSAGES} messages",
                    e.name
                )));
            }
            msgs.extend(times.iter().enumerate().map(|(seq, t)| Msg {
                at_ns: start + t,
                emitter: i,
                seq: seq as u64,
                truesize: ts,
            }));
            emitters.push(crate::history::EmitterRecord {
                name: e.name.to_string(),
                kind: e.kind.name().into(),
                sent: times.len() as u64,
                bytes: Self::payload(&e.payload) * times.len() as u64,
                started_ns: start,
                finished_ns: start + times.last().copied().unwrap_or(0),
                ..Default::default()
            });
        }
        msgs.sort_by_key(|m| (m.at_ns, m.emitter, m.seq));
        let emission_end = emitters.iter().map(|e| e.finished_ns).max().unwrap_or(0);
        let receivers = plan
            .receivers
            .iter()
            .map(|rp| self.receive(plan, rp, &msgs, emission_end))
            .collect();
        Ok(History {
            run_id: "00000000-model-backed".into(),
            kernel_release: "model-backed".into(),
            facts: self.facts,
            admit_rule: self.rule,
            sandbox: SandboxInfo {
                user_namespace: false,
                devices: Vec::new(),
            },
            deadline_hit: false,
            elapsed_ns: emission_end,
            emitters,
            receivers,
            calibration: Vec::new(),
            dumps: Vec::new(),
            churn: Vec::new(),
            programs: Vec::new(),
            seqnums: None,
        })
    }
}

impl ModelBacked {
    fn receive(
        &self,
        plan: &Plan,
        rp: &ReceiverPlan,
        msgs: &[Msg],
        emission_end: u64,
    ) -> ReceiverHistory {
        let req = self.request(plan, rp);
        let rcvbuf = self.facts.effective(req);
        let feeders = plan.feeders(rp);
        let setup = ReceiverSetup {
            name: rp.name.to_string(),
            protocol: rp.protocol,
            groups: rp.groups.clone(),
            rcvbuf_option: req.option(),
            rcvbuf_requested: req.bytes(),
            rcvbuf_effective: rcvbuf,
            no_enobufs: rp.no_enobufs,
            broadcast_error: rp.broadcast_error,
            inode: 0,
        };
        let mut rec = ReceiverRecord::new(setup, plan.emitters.len());
        let start = match rp.start_reading {
            ReadStart::EmissionEnd => emission_end,
            ReadStart::After { delay } => delay.as_nanos() as u64,
        };
        let mut q = Queue {
            queue: VecDeque::new(),
            rmem: 0,
            free_at: start,
            delay: rp.consumer_delay.as_nanos() as u64,
            congested: false,
            drops: 0,
        };
        let mine: Vec<Msg> = msgs
            .iter()
            .filter(|m| feeders.contains(&m.emitter))
            .copied()
            .collect();
        for &m in &mine {
            q.read_until(m.at_ns, &mut rec);
            q.offer(m, self.rule, rcvbuf, rp.no_enobufs, &mut rec);
        }
        q.read_until(u64::MAX, &mut rec);
        debug_assert!(q.queue.is_empty());
        rec.kernel_drops = Some(q.drops);
        rec.meminfo_drops = q.drops;
        rec.read_started_ns = start;
        rec.read_finished_ns = q.free_at.max(start);
        ReceiverHistory {
            record: rec,
            charges: crate::history::charges(mine.iter().map(|m| m.truesize)),
            prediction: None,
            samples: Series::default(),
        }
    }
}
