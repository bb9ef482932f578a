//! One emitter: prebuilt templates, a schedule, a pacing loop, a count of what was sent.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::pacing::wait_until;
use super::sink::Sink;
use crate::history::{EmitterRecord, TimingError};
use crate::payload::{self, RunId, Template};
use crate::plan::{EmitterKind, EmitterPlan, PayloadPlan, Protocol, Schedule};
use crate::rng::SplitMix64;
use crate::schedule::SendTimes;

/// A ready-to-run emitter.
#[derive(Debug)]
pub struct Emitter {
    index: u16,
    plan: EmitterPlan,
    sink: Sink,
    templates: Vec<Template>,
    /// Wire length minus bytes written, per template (kernel-uevent: the kernel adds the
    /// header and its own keys); zero for sockets.
    overhead: Vec<usize>,
    seed: u64,
}

/// Index used by calibration messages, which never reach a receiver of the run.
pub const CALIBRATION_SOURCE: u16 = 999;

impl Emitter {
    /// Builds the emitter's sink and templates. `device` is the sandbox veth for
    /// kernel-uevent emitters.
    pub fn new(
        index: u16,
        plan: &EmitterPlan,
        run: &RunId,
        seed: u64,
        device: Option<&str>,
    ) -> io::Result<Self> {
        let bodies = match plan.payload {
            PayloadPlan::Contents { profile } => payload::profile_events(profile),
            _ => vec![payload::plain_body()],
        };
        let max_wire = match plan.payload {
            PayloadPlan::Fixed { bytes } | PayloadPlan::Bare { bytes } => bytes as usize,
            PayloadPlan::Uniform { max, .. } => max as usize,
            PayloadPlan::Contents { .. } | PayloadPlan::Trace { .. } => 0,
        };
        let (sink, templates) = match (&plan.payload, plan.kind) {
            (PayloadPlan::Bare { .. }, EmitterKind::KernelUevent) => {
                let dev = device.ok_or_else(|| {
                    io::Error::other("kernel-uevent emitter has no sandbox device")
                })?;
                (Sink::sysfs(dev)?, vec![payload::sysfs_bare_template()])
            }
            (PayloadPlan::Bare { .. }, EmitterKind::Usersock { group }) => (
                Sink::socket(Protocol::Usersock, group, max_wire)?,
                vec![payload::usersock_bare_template(max_wire)],
            ),
            (PayloadPlan::Bare { .. }, kind) => {
                return Err(io::Error::other(format!(
                    "{} has no bare messages",
                    kind.name()
                )))
            }
            (PayloadPlan::Trace { events, .. }, kind) => {
                let t: Vec<Template> = events
                    .iter()
                    .map(|e| payload::replay_template(run, index, e))
                    .collect();
                let longest = t.iter().map(Template::max_len).max().unwrap_or(0);
                let sink = match kind {
                    EmitterKind::InjectedUevent => Sink::injected(longest)?,
                    EmitterKind::SyntheticUevent => {
                        Sink::socket(Protocol::KobjectUevent, 1, longest)?
                    }
                    other => {
                        return Err(io::Error::other(format!(
                            "a trace cannot be replayed through {}",
                            other.name()
                        )))
                    }
                };
                (sink, t)
            }
            (_, kind) => Self::generated(kind, index, run, &bodies, max_wire, device)?,
        };
        let overhead = vec![0; templates.len()];
        Ok(Self {
            index,
            plan: plan.clone(),
            sink,
            templates,
            overhead,
            seed,
        })
    }

    /// Sink and templates of an emitter that makes up its messages.
    fn generated(
        kind: EmitterKind,
        index: u16,
        run: &RunId,
        bodies: &[payload::UeventBody],
        max_wire: usize,
        device: Option<&str>,
    ) -> io::Result<(Sink, Vec<Template>)> {
        Ok(match kind {
            EmitterKind::KernelUevent => {
                let dev = device.ok_or_else(|| {
                    io::Error::other("kernel-uevent emitter has no sandbox device")
                })?;
                let t = bodies
                    .iter()
                    .map(|b| payload::sysfs_write_template(run, index, b, max_wire))
                    .collect();
                (Sink::sysfs(dev)?, t)
            }
            EmitterKind::SyntheticUevent | EmitterKind::InjectedUevent => {
                let t: Vec<Template> = bodies
                    .iter()
                    .map(|b| payload::synthetic_uevent_template(run, index, b, max_wire))
                    .collect();
                let longest = t.iter().map(Template::max_len).max().unwrap_or(0);
                let sink = if kind == EmitterKind::InjectedUevent {
                    Sink::injected(longest)?
                } else {
                    Sink::socket(Protocol::KobjectUevent, 1, longest)?
                };
                (sink, t)
            }
            EmitterKind::LinkAlias => {
                let dev = device
                    .ok_or_else(|| io::Error::other("link-alias emitter has no sandbox device"))?;
                (
                    Sink::link_alias(dev)?,
                    vec![payload::link_alias_template(run, index, max_wire)],
                )
            }
            EmitterKind::Usersock { group } => (
                Sink::socket(Protocol::Usersock, group, max_wire)?,
                vec![payload::usersock_template(run, index, max_wire)],
            ),
        })
    }

    /// Number of distinct message templates (content profiles have several).
    pub fn variants(&self) -> usize {
        self.templates.len()
    }

    /// Records how many bytes the kernel adds to template `variant` (kernel-uevent).
    pub fn set_overhead(&mut self, variant: usize, overhead: usize) {
        self.overhead[variant] = overhead;
    }

    /// Shortest wire size this emitter can produce for `variant`, given its overhead.
    pub fn min_wire(&self, variant: usize) -> usize {
        self.templates[variant].min_len() + self.overhead[variant]
    }

    /// Sends one message of `variant` outside the schedule (calibration), with the
    /// shortest length, or `wire_len` bytes on the wire when given.
    pub fn send_probe(&mut self, variant: usize, wire_len: Option<usize>) -> io::Result<()> {
        let len = wire_len.map_or(self.templates[variant].min_len(), |w| {
            w.saturating_sub(self.overhead[variant])
        });
        let mut t = self.templates[variant].clone();
        retag(&mut t, CALIBRATION_SOURCE);
        let m = t.render(u64::MAX / 2, len);
        self.sink.send(m.bytes())
    }

    /// `(variant, wire length)` of each of the first `n` messages, in send order, as the
    /// run will send them: what the model needs to predict an unread queue.
    pub fn wire_sizes(&self, n: usize) -> Vec<(usize, usize)> {
        let mut sizes = Sizes::new(&self.plan.payload, self.seed, self.index);
        (0..n)
            .map(|i| {
                let (variant, len) = sizes.next(i as u64, &self.templates);
                (variant, len.unwrap_or_else(|| self.min_wire(variant)))
            })
            .collect()
    }

    /// Index of this emitter in the plan.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Runs the schedule from `t0 + start` until it ends or `stop` is raised.
    pub fn run(mut self, t0: Instant, stop: &AtomicBool) -> EmitterRecord {
        let start = t0 + self.plan.start;
        let mut rec = EmitterRecord {
            name: self.plan.name.to_string(),
            kind: self.plan.kind.name().into(),
            ..Default::default()
        };
        if let Some(cpu) = self.plan.cpu {
            if let Err(e) = crate::sys::pin_this_thread(cpu) {
                rec.send_errors += 1;
                rec.first_error = Some(format!("pin to cpu {cpu}: {e}"));
                return rec;
            }
        }
        let times = SendTimes::new(&self.plan.schedule, self.seed, u64::from(self.index) * 2);
        let stop_at = times
            .stop_at_ns()
            .map(|ns| start + Duration::from_nanos(ns));
        let mut sizes = Sizes::new(&self.plan.payload, self.seed, self.index);
        let mut seq = 0u64;
        // A replay says how closely it kept the recorded timing; one slot per event,
        // bounded by the trace limits, filled without allocating.
        let mut late: Option<Vec<u64>> = matches!(self.plan.schedule, Schedule::Replay { .. })
            .then(|| {
                Vec::with_capacity(
                    SendTimes::planned_count(&self.plan.schedule).unwrap_or(0) as usize
                )
            });
        // The harness's own test of abandonment: a sender stuck in a system call that no
        // signal ends. Compiled only into the test build (feature fault-injection).
        #[cfg(feature = "fault-injection")]
        if crate::faults::SENDER_BLOCKS.load(Ordering::Relaxed) {
            loop {
                nix::unistd::pause();
            }
        }
        if !wait_until(start, stop) {
            rec.cut_by_deadline = true;
            return rec;
        }
        rec.started_ns = ns_since(t0);
        for offset in times {
            if stop.load(Ordering::Relaxed) {
                rec.cut_by_deadline = true;
                break;
            }
            if offset > 0 && !wait_until(start + Duration::from_nanos(offset), stop) {
                rec.cut_by_deadline = true;
                break;
            }
            if stop_at.is_some_and(|end| Instant::now() >= end) {
                break;
            }
            if let Some(late) = late.as_mut() {
                let due = start + Duration::from_nanos(offset);
                late.push(Instant::now().saturating_duration_since(due).as_nanos() as u64);
            }
            let (variant, len) = sizes.next(seq, &self.templates);
            let write_len = len.map_or(self.templates[variant].min_len(), |l| {
                l.saturating_sub(self.overhead[variant])
            });
            let msg = self.templates[variant].render(seq, write_len);
            match self.sink.send(msg.bytes()) {
                Ok(()) => {
                    rec.bytes += msg.bytes().len() as u64;
                    seq += 1;
                }
                Err(e) => {
                    rec.send_errors += 1;
                    if rec.first_error.is_none() {
                        rec.first_error = Some(e.to_string());
                    }
                }
            }
        }
        rec.sent = seq;
        rec.finished_ns = ns_since(t0);
        rec.timing = late.and_then(|mut l| TimingError::of(&mut l));
        rec.cpu = self.plan.cpu.and_then(|_| crate::sys::current_cpu());
        rec
    }
}

fn retag(t: &mut Template, source: u16) {
    // Calibration messages must not look like the run's messages: rebuild the
    // identifying header with another source. Templates are small; this is off the hot path.
    t.set_source(source);
}

/// Nanoseconds since `t0`.
pub fn ns_since(t0: Instant) -> u64 {
    Instant::now().saturating_duration_since(t0).as_nanos() as u64
}

/// Which template and what wire length each message has; seeded and allocation-free.
struct Sizes<'a> {
    plan: &'a PayloadPlan,
    rng: SplitMix64,
}

impl<'a> Sizes<'a> {
    fn new(plan: &'a PayloadPlan, seed: u64, index: u16) -> Self {
        Self {
            plan,
            rng: SplitMix64::new(seed, u64::from(index) * 2 + 1),
        }
    }

    /// `(variant, wire length)`; `None` length means the template's natural length.
    fn next(&mut self, seq: u64, templates: &[Template]) -> (usize, Option<usize>) {
        match *self.plan {
            PayloadPlan::Fixed { bytes } => (0, Some(bytes as usize)),
            PayloadPlan::Bare { bytes: 0 } => (0, None),
            PayloadPlan::Bare { bytes } => (0, Some(bytes as usize)),
            PayloadPlan::Uniform { min, max } => (
                0,
                Some(self.rng.range_inclusive(u64::from(min), u64::from(max)) as usize),
            ),
            PayloadPlan::Contents { .. } | PayloadPlan::Trace { .. } => {
                ((seq % templates.len() as u64) as usize, None)
            }
        }
    }
}
