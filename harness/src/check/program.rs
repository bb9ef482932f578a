//! A program under test, judged: which of the run's messages it reported (read back
//! from its output by an adapter), what its sockets dropped, whether it said so, how it
//! ended, whether it kept reading, its CPU use after the flood, and its hangs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EmitterDelivery;
use crate::history::dump::Hang;
use crate::history::program::{ProgramRecord, ProgramSocket, Stream, Tally};
use crate::history::History;
use crate::plan::{OutputFormat, Plan, ProgramMetric, ProgramPlan};

/// One program's figures: the JSON report's per-program object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramResult {
    /// Name from the scenario.
    pub name: String,
    /// argv.
    pub command: Vec<String>,
    /// Who it ran as: `root` only by the operator's grant.
    #[serde(default)]
    pub identity: Option<crate::history::program::Identity>,
    /// Messages sent by the emitters it is meant to see.
    pub sent: u64,
    /// Distinct ones it reported.
    pub seen: u64,
    /// Sent and never reported (0 when `loss_measured` is false).
    pub lost: u64,
    /// False with `output = "none"`: nothing was read from its output, so `seen`, `lost`
    /// and `silent_loss` say nothing.
    #[serde(default = "yes")]
    pub loss_measured: bool,
    /// Where each lost event went; the classes add up to `lost`.
    #[serde(default)]
    pub loss: LossClasses,
    /// Reports of a message it had reported before.
    pub duplicates: u64,
    /// Events it reported that this run did not send.
    pub foreign: u64,
    /// Drops of all its netlink sockets, closed ones included.
    pub kernel_drops: u64,
    /// Some socket went away before emission ended (closed by it, or with its exit):
    /// its drops are those of its last sample, so `kernel_drops` is a lower bound.
    pub kernel_drops_lower_bound: bool,
    /// Loss it caused (its sockets' drops, the queues of sockets it closed) and did not
    /// report: no error line, and it neither crashed nor exited with an error. Loss
    /// nlstorm's stop left queued, and unexplained loss, are never silent loss.
    pub silent_loss: u64,
    /// Output lines that matched an error pattern.
    pub error_lines: u64,
    /// The first of them.
    pub first_error_line: Option<String>,
    /// Exit status (None: killed by a signal, or never reaped).
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// SIGKILL was needed.
    pub killed: bool,
    /// Why nlstorm stopped it.
    #[serde(default)]
    pub stop_reason: Option<crate::history::program::StopReason>,
    /// After its first drop it printed events again and did not crash (None: no socket
    /// of it dropped, or nothing was read from its output).
    pub keeps_reading: Option<bool>,
    /// The socket-level fact beside it: after the first drop a queue went down again
    /// or it opened a new socket.
    #[serde(default)]
    pub keeps_reading_socket: Option<bool>,
    /// CPU use from t0 to the end of emission, percent of one CPU.
    pub cpu_during_flood: Option<f64>,
    /// CPU use from the end of emission to the stop signal.
    pub cpu_after_flood: Option<f64>,
    /// Netlink sockets it held.
    pub sockets: Vec<ProgramSocket>,
    /// Sockets it opened after its first drop.
    pub reopened: u64,
    /// Sockets it left open and bound after opening a newer one, with their drops: a
    /// reconnect that leaks the old socket keeps it receiving (and dropping) broadcasts.
    #[serde(default)]
    pub leaked: u64,
    /// Receive calls outstanding past its call deadline.
    pub hangs: Vec<Hang>,
    /// Hangs per class.
    pub hang_classes: BTreeMap<String, u64>,
    /// Per emitter it is meant to see.
    pub per_emitter: Vec<EmitterDelivery>,
    /// Lines it printed (stdout and stderr), all of them counted.
    pub output_lines: u64,
    /// Lines the record keeps (a sample: the first and the last).
    #[serde(default)]
    pub output_lines_kept: u64,
    /// The record keeps a sample of its output; every figure counts the whole of it.
    pub output_truncated: bool,
    /// `output = "count"`: `seen` counts matching lines, not identified events.
    #[serde(default)]
    pub counts_only: bool,
    /// Its output could not be read by its adapter: it printed lines, none of them an
    /// event of this run. The scenario is bad input (exit 2), never loss.
    #[serde(default)]
    pub unreadable: Option<String>,
}

fn yes() -> bool {
    true
}

/// Where the events sent to a program and not printed by it went. Each lost event is in
/// exactly one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossClasses {
    /// Dropped by the kernel on a socket it held (queue full).
    pub kernel_drops: u64,
    /// Still queued on a live socket when nlstorm stopped it: undelivered by the stop,
    /// not lost by the program (the queue's bytes over the message's truesize).
    pub queued_at_stop: u64,
    /// Queued on a socket it closed, at the last sample before the close: discarded
    /// with it.
    #[serde(default)]
    pub discarded_at_close: u64,
    /// None of the above: sent while it held no socket bound to a group (for
    /// `unbound_ns` of emission), or taken in and never printed (a userspace buffer it
    /// did not flush: a program writing to a pipe must line-buffer).
    pub unexplained: u64,
    /// Nanoseconds of emission during which it held no socket bound to a group.
    #[serde(default)]
    pub unbound_ns: u64,
}

/// Time between `t0` and `end` not covered by a group socket's life (first to last
/// sample): events sent then reached no socket of the program.
fn unbound_ns(sockets: &[ProgramSocket], t0: u64, end: u64) -> u64 {
    if end == u64::MAX || end <= t0 {
        return 0;
    }
    let mut spans: Vec<(u64, u64)> = sockets
        .iter()
        .filter(|s| s.groups != 0)
        .map(|s| (s.first_seen_ns.max(t0), s.last_seen_ns.min(end)))
        .filter(|(a, b)| a < b)
        .collect();
    spans.sort_unstable();
    let (mut covered, mut reach) = (0u64, t0);
    for (a, b) in spans {
        if b > reach {
            covered += b - a.max(reach);
            reach = b;
        }
    }
    (end - t0).saturating_sub(covered)
}

/// What a program metric measured, or why it measured nothing an expectation can use.
pub type Measured = Result<u64, String>;

impl ProgramResult {
    /// The figure an expectation tests, or why there is none: loss with nothing read
    /// from the output, keeps-reading without a drop, is not a number.
    pub fn metric(&self, m: ProgramMetric) -> Measured {
        let loss = |v: u64| {
            if self.loss_measured {
                Ok(v)
            } else if self.unreadable.is_some() {
                Err("not measured: its output could not be read".to_string())
            } else {
                Err("not measured: output = \"none\" reads no event".to_string())
            }
        };
        match m {
            ProgramMetric::Sent => Ok(self.sent),
            ProgramMetric::Seen => loss(self.seen),
            ProgramMetric::Lost => loss(self.lost),
            ProgramMetric::Foreign => loss(self.foreign),
            ProgramMetric::KernelDrops => Ok(self.kernel_drops),
            ProgramMetric::SilentLoss => loss(self.silent_loss),
            ProgramMetric::ErrorLines => Ok(self.error_lines),
            ProgramMetric::ExitCode => match (self.exit_code, self.signal) {
                (Some(c), _) => Ok(c as u64),
                (None, Some(s)) => Ok(128 + s as u64),
                _ => Err("not measured: it could not be reaped".into()),
            },
            ProgramMetric::Hangs => Ok(self.hangs.len() as u64),
            ProgramMetric::KeepsReading => self.keeps_reading.map(u64::from).ok_or_else(|| {
                if self.kernel_drops == 0 {
                    "not measured: no socket of it dropped".into()
                } else {
                    "not measured: nothing was read from its output".into()
                }
            }),
            ProgramMetric::CpuAfterFlood => self
                .cpu_after_flood
                .map(|c| c.round() as u64)
                .ok_or_else(|| "not measured: under 10 ms after the flood".into()),
            ProgramMetric::Sockets => Ok(self.sockets.len() as u64),
            ProgramMetric::Reopened => Ok(self.reopened),
        }
    }

    /// Whether `e` holds of this program. A lower bound holds only where every value
    /// at or above it would (`>=`, `>`): `kernel-drops == 0` cannot pass on a socket
    /// whose last drops were never sampled.
    pub fn judge(&self, e: &crate::plan::Expectation<ProgramMetric>) -> (bool, String) {
        use crate::plan::Cmp;
        match self.metric(e.metric) {
            Err(why) => (false, why),
            Ok(v) if e.metric == ProgramMetric::KernelDrops && self.kernel_drops_lower_bound => {
                let holds = matches!(e.cmp, Cmp::Ge | Cmp::Gt) && e.cmp.holds(v, e.value);
                (
                    holds,
                    format!(
                        ">={v} (a lower bound: a socket went before its last drops were sampled)"
                    ),
                )
            }
            Ok(v) => (e.cmp.holds(v, e.value), v.to_string()),
        }
    }
}

/// The tally of a record: as the sandbox counted it, or (records written before it
/// counted the whole output) read again from the kept lines.
fn tally_of(pp: &ProgramPlan, rec: &ProgramRecord, run_id: &str) -> Tally {
    if let Some(t) = &rec.tally {
        return t.clone();
    }
    let live = std::sync::Arc::new(crate::adapter::Live::default());
    let mut out = crate::adapter::Reader::new(pp, run_id, live.clone());
    let mut err = crate::adapter::Reader::new(pp, run_id, live);
    for l in &rec.output {
        match l.stream {
            Stream::Stdout => out.feed(l.t_ns, l.stream, &l.text),
            Stream::Stderr => err.feed(l.t_ns, l.stream, &l.text),
        };
    }
    let mut t = out.finish(u64::MAX);
    crate::adapter::merge(&mut t, err.finish(u64::MAX));
    t
}

/// The truesize one message of `pp`'s emitters charges, when they all charge the same
/// (calibrated in the run's sandbox); None otherwise.
fn truesize(plan: &Plan, pp: &ProgramPlan, h: &History) -> Option<u64> {
    let mut sizes = pp.emitters.iter().flat_map(|&i| {
        let name = plan.emitters[i].name.as_str();
        h.calibration
            .iter()
            .filter(move |c| c.emitter == name)
            .map(|c| c.truesize)
    });
    let first = sizes.next()?;
    sizes
        .all(|t| t == first)
        .then_some(first)
        .filter(|&t| t > 0)
}

/// Judges one program's record.
pub fn judge(plan: &Plan, pp: &ProgramPlan, rec: &ProgramRecord, h: &History) -> ProgramResult {
    let tally = tally_of(pp, rec, &h.run_id);
    let tracked = !matches!(pp.output, OutputFormat::None);
    let (sets, unmapped) = seen_sets(&tally, h);
    let per_emitter: Vec<EmitterDelivery> = pp
        .emitters
        .iter()
        .map(|&i| {
            let sent = h.emitters.get(i).map_or(0, |e| e.sent);
            let delivered = sets.get(&i).map_or(0, |s| s.count_below(sent));
            EmitterDelivery {
                emitter: plan.emitters[i].name.to_string(),
                sent,
                delivered,
                lost: sent - delivered,
            }
        })
        .collect();
    let counted = matches!(pp.output, OutputFormat::Count { .. });
    let mut per_emitter = per_emitter;
    if counted {
        // Counts, not identities: spread over the emitters in plan order.
        let mut left = tally.events;
        for e in &mut per_emitter {
            e.delivered = left.min(e.sent);
            e.lost = e.sent - e.delivered;
            left -= e.delivered;
        }
    }
    let sent: u64 = per_emitter.iter().map(|e| e.sent).sum();
    let seen: u64 = per_emitter.iter().map(|e| e.delivered).sum();
    let distinct: u64 = sets.values().map(|s| s.len()).sum();
    let foreign = if counted {
        tally.events.saturating_sub(seen)
    } else {
        tally.foreign + unmapped + (distinct - seen)
    };
    let unreadable = (tracked
        && sent > 0
        && seen == 0
        && rec.sockets.iter().map(|s| s.drops).sum::<u64>() < sent
        && (tally.unread_lines > 0 || tally.foreign > 0 || tally.other_events > 0))
        .then(|| unreadable(pp, &tally));
    // Output its adapter could not read measures nothing: never loss.
    let tracked = tracked && unreadable.is_none();
    let lost = if tracked { sent - seen } else { 0 };
    let kernel_drops: u64 = rec.sockets.iter().map(|s| s.drops).sum();
    let end = rec.emission_end_ns.unwrap_or(u64::MAX);
    // Only a socket bound to a group is sent broadcasts, so only such a socket can have
    // dropped more after its last sample.
    let lower_bound = rec
        .sockets
        .iter()
        .any(|s| s.groups != 0 && (s.closed || s.last_seen_ns < end));
    // Queues in messages: bytes over the truesize every message of its emitters
    // charges (calibrated in the run's sandbox); unknown when they differ.
    let messages = |bytes: u64| truesize(plan, pp, h).map_or(0, |t| bytes.div_ceil(t));
    // A socket open when nlstorm stopped the program held what the stop left
    // undelivered (its queue at the stop, or at the last sample if it went with the
    // program before the next); one it closed, or took with it when it exited by
    // itself, discarded its queue.
    let stopped = rec.stop_sent_ns.is_some() || rec.killed;
    let (mut queued_bytes, mut discarded_bytes) = (0, 0);
    for s in rec.sockets.iter().filter(|s| s.groups != 0) {
        if s.closed || !stopped {
            discarded_bytes += s.last_rmem;
        } else {
            queued_bytes += s.rmem_at_stop.unwrap_or(s.last_rmem);
        }
    }
    let queued_at_stop = messages(queued_bytes);
    let discarded = messages(discarded_bytes);
    let mut left = lost;
    let mut take = |n: u64| {
        let t = n.min(left);
        left -= t;
        t
    };
    let loss = LossClasses {
        kernel_drops: take(kernel_drops),
        queued_at_stop: take(queued_at_stop),
        discarded_at_close: take(discarded),
        unbound_ns: unbound_ns(&rec.sockets, rec.t0_ns, end),
        unexplained: left,
    };
    let exit_code = rec.exit.and_then(|e| e.code);
    let signal = rec.exit.and_then(|e| e.signal);
    let crashed = crashed(rec, pp);
    let reported = tally.error_lines > 0 || crashed;
    // Its first loss: the first drop sampled on its sockets, or the first line in which
    // it said so (a program that exits on ENOBUFS takes its socket with it before the
    // next sample).
    let first_drop = rec
        .sockets
        .iter()
        .filter_map(|s| s.first_drop_ns)
        .chain(tally.first_error_ns)
        .min();
    // Printed after its first loss: events read from its pipe after the first drop was
    // sampled, or after the line in which it said so, whichever came first. An event
    // line can be read late (another thread reads the pipe), so a program whose socket
    // shows it never read again (its queue stayed full) is not going on either way.
    let anchor = first_drop;
    let printed_after = anchor.map(|t| {
        let before = tally
            .events_over_time
            .points
            .iter()
            .take_while(|p| p.0 <= t)
            .last()
            .map_or(0, |p| p.1);
        tally.events.saturating_sub(before)
    });
    // It went on after its first drop when it printed events again; or when it opened a
    // new socket once emission had ended, so there was nothing more for it to print.
    // A crash right after (one more message dequeued, then a traceback) is not going on.
    let reopened_idle = first_drop.is_some_and(|t| {
        rec.sockets
            .iter()
            .any(|s| s.first_seen_ns > t && s.first_seen_ns >= end)
    });
    let socket_level = keeps_reading_socket(&rec.sockets);
    let keeps_reading = match (tracked, printed_after) {
        (true, Some(n)) => {
            Some((n > 0 || reopened_idle) && !crashed && socket_level != Some(false))
        }
        _ => None,
    };
    let mut hang_classes = BTreeMap::new();
    for hg in &rec.hangs {
        *hang_classes.entry(hg.class.name().to_string()).or_insert(0) += 1;
    }
    ProgramResult {
        name: rec.name.clone(),
        command: pp.command.clone(),
        identity: rec.identity,
        sent,
        seen,
        lost,
        loss_measured: tracked,
        loss,
        duplicates: tally.duplicates,
        foreign,
        kernel_drops,
        kernel_drops_lower_bound: lower_bound,
        silent_loss: if tracked && !reported {
            loss.kernel_drops + loss.discarded_at_close
        } else {
            0
        },
        error_lines: tally.error_lines,
        first_error_line: tally.first_error_line.clone(),
        exit_code,
        signal,
        killed: rec.killed,
        stop_reason: rec.stop_reason,
        keeps_reading,
        keeps_reading_socket: socket_level,
        cpu_during_flood: percent(
            rec.cpu_ns_at_emission_end
                .map(|c| c.saturating_sub(rec.cpu_ns_at_t0)),
            rec.emission_end_ns.map(|e| e.saturating_sub(rec.t0_ns)),
        ),
        cpu_after_flood: percent(
            rec.cpu_ns_at_stop
                .zip(rec.cpu_ns_at_emission_end)
                .map(|(s, e)| s.saturating_sub(e)),
            rec.stop_sent_ns
                .or(rec.exit_ns)
                .zip(rec.emission_end_ns)
                .map(|(s, e)| s.saturating_sub(e)),
        ),
        reopened: first_drop.map_or(0, |t| {
            rec.sockets.iter().filter(|s| s.first_seen_ns > t).count() as u64
        }),
        leaked: leaked(&rec.sockets),
        sockets: rec.sockets.clone(),
        hangs: rec.hangs.clone(),
        hang_classes,
        per_emitter,
        output_lines: tally.lines.max(rec.output.len() as u64),
        output_lines_kept: rec.output.len() as u64,
        output_truncated: rec.output_truncated,
        counts_only: counted,
        unreadable,
    }
}

/// The events a program printed, per emitter: its own sequence numbers, and the kernel
/// SEQNUMs it printed mapped through the run's SEQNUM map; and how many SEQNUMs map to
/// no event of the run (another uevent, or one the reference socket missed).
fn seen_sets(t: &Tally, h: &History) -> (BTreeMap<usize, crate::adapter::RangeSet>, u64) {
    let mut sets: BTreeMap<usize, crate::adapter::RangeSet> = t
        .seen
        .iter()
        .map(|s| (s.emitter, crate::adapter::RangeSet::from_ranges(&s.ranges)))
        .collect();
    let mut unmapped = 0;
    for &(a, b) in &t.seqnums {
        for n in a..b {
            match h.seqnums.as_ref().and_then(|m| m.lookup(n)) {
                Some((src, seq)) => {
                    sets.entry(src).or_default().insert(seq);
                }
                None => unmapped += 1,
            }
        }
    }
    (sets, unmapped)
}

/// It ended by itself with an error, or by a signal nlstorm did not send: a crash
/// tells its user something went wrong, so its loss is not silent.
fn crashed(rec: &ProgramRecord, pp: &ProgramPlan) -> bool {
    let Some(exit) = rec.exit else { return false };
    let ours = rec.stop_sent_ns.is_some() || rec.killed;
    match (exit.code, exit.signal) {
        (Some(c), _) => c != 0 && !ours,
        (None, Some(s)) => !(ours && (s == pp.stop.signal || s == libc::SIGKILL)),
        _ => false,
    }
}

/// What to tell the user whose program's output could not be read.
fn unreadable(pp: &ProgramPlan, t: &Tally) -> String {
    let adapter = match &pp.output {
        OutputFormat::Udevadm => {
            "output = \"udevadm\" (udevadm monitor --kernel --property blocks)".to_string()
        }
        OutputFormat::IpMonitor => {
            "output = \"ip-monitor\" (`ip -d -o monitor link` lines with nlstorm's alias)".into()
        }
        OutputFormat::Regex { regex } => format!("output-regex = {regex:?}"),
        OutputFormat::None => "output = \"none\"".into(),
        OutputFormat::UeventBlocks => "output = \"uevent-blocks\" (KEY=VALUE blocks)".into(),
        OutputFormat::Count { regex } => format!("output = \"count\", output-regex = {regex:?}"),
    };
    let what = if t.foreign > 0 || t.other_events > 0 {
        format!(
            "it read {} event(s), none of this run (a `run` capture must hold the whole run id, NLSTORM_RUN_ID; udevd's UDEV events are not the kernel's)",
            t.foreign + t.other_events
        )
    } else {
        format!("{} line(s) matched no event", t.unread_lines)
    };
    let sample = t
        .unread_sample
        .as_deref()
        .map_or(String::new(), |l| format!("; first unread line: {l:?}"));
    format!(
        "program `{}`: its output could not be read with {adapter}: {what}{sample}",
        pp.name
    )
}

/// Sockets left open, bound to a group and never read again once a newer socket of
/// the program was opened: a reconnect that leaks the old one.
fn leaked(sockets: &[ProgramSocket]) -> u64 {
    sockets
        .iter()
        .filter(|s| {
            !s.closed
                && s.groups != 0
                && sockets.iter().any(|n| n.first_seen_ns > s.first_seen_ns)
                && s.first_drop_ns.is_some_and(|_| {
                    s.min_rmem_after_drop
                        .is_none_or(|m| m >= s.rmem_at_first_drop)
                })
        })
        .count() as u64
}

/// After the first drop on any of its sockets: was every dropping socket's queue read
/// down again, or did the program open another socket afterwards? A program that stops
/// reading on ENOBUFS leaves the queue full. A queue already empty when the drop is
/// first seen was read in between: the kernel drops a message only while the queue
/// holds more than the buffer (or for a message larger than the whole buffer, when
/// there is nothing queued to read).
fn keeps_reading_socket(sockets: &[ProgramSocket]) -> Option<bool> {
    let first = sockets.iter().filter_map(|s| s.first_drop_ns).min()?;
    let reopened_after = sockets.iter().any(|s| s.first_seen_ns > first);
    let drained = sockets
        .iter()
        .filter(|s| s.first_drop_ns.is_some())
        .all(|s| {
            s.rmem_at_first_drop == 0
                || s.min_rmem_after_drop
                    .is_some_and(|m| m < s.rmem_at_first_drop)
        });
    Some(reopened_after || drained)
}

fn percent(cpu_ns: Option<u64>, wall_ns: Option<u64>) -> Option<f64> {
    match (cpu_ns, wall_ns) {
        // Under 10 ms the clock-tick resolution of /proc/PID/stat says nothing.
        (Some(c), Some(w)) if w >= 10_000_000 => Some(100.0 * c as f64 / w as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(first_seen: u64, drop: Option<(u64, u64)>, min_after: Option<u64>) -> ProgramSocket {
        ProgramSocket {
            inode: 1,
            pid: 1,
            fd: 3,
            protocol: 15,
            portid: 1,
            groups: 1,
            rcvbuf: None,
            first_seen_ns: first_seen,
            last_seen_ns: first_seen,
            closed: false,
            max_rmem: 0,
            drops: u64::from(drop.is_some()),
            first_drop_ns: drop.map(|d| d.0),
            rmem_at_first_drop: drop.map_or(0, |d| d.1),
            min_rmem_after_drop: min_after,
            rmem_at_stop: None,
            last_rmem: 0,
            samples: Default::default(),
        }
    }

    #[test]
    fn reading_after_the_first_drop() {
        assert_eq!(keeps_reading_socket(&[socket(0, None, None)]), None);
        // Full at the drop and never below it again: it stopped.
        assert_eq!(
            keeps_reading_socket(&[socket(0, Some((10, 2304)), Some(2304))]),
            Some(false)
        );
        assert_eq!(
            keeps_reading_socket(&[socket(0, Some((10, 2304)), Some(0))]),
            Some(true)
        );
        // Already empty when the drop was first sampled: read between drop and sample.
        assert_eq!(
            keeps_reading_socket(&[socket(0, Some((10, 0)), None)]),
            Some(true)
        );
        // One socket drained, one left full: it stopped reading one of them.
        assert_eq!(
            keeps_reading_socket(&[
                socket(0, Some((10, 2304)), Some(0)),
                socket(0, Some((12, 2304)), Some(2304))
            ]),
            Some(false)
        );
        // Closed it and opened another after the drop: it went on reading.
        assert_eq!(
            keeps_reading_socket(&[
                socket(0, Some((10, 2304)), Some(2304)),
                socket(20, None, None)
            ]),
            Some(true)
        );
    }
}
