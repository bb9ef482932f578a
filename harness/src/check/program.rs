//! A program under test, judged: which of the run's messages it reported (read back
//! from its output by an adapter), what its sockets dropped, whether it said so, how it
//! ended, whether it kept reading, its CPU use after the flood, and its hangs.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::EmitterDelivery;
use crate::history::dump::Hang;
use crate::history::program::{ProgramRecord, ProgramSocket, Stream};
use crate::history::History;
use crate::plan::{OutputFormat, Plan, ProgramMetric, ProgramPlan, IP_MONITOR_REGEX};

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
    /// Sent and never reported.
    pub lost: u64,
    /// Reports of a message it had reported before.
    pub duplicates: u64,
    /// Events it reported that this run did not send.
    pub foreign: u64,
    /// Drops of all its netlink sockets, closed ones included.
    pub kernel_drops: u64,
    /// Some socket was closed by the program: its drops are those of the last sample
    /// before the close (up to `sample_interval_ns` earlier), so `kernel_drops` is a
    /// lower bound.
    pub kernel_drops_lower_bound: bool,
    /// `lost`, when no output line matched an error pattern; else 0.
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
    /// After its first drop it drained a socket again or opened a new one (None: no
    /// socket of it ever dropped).
    pub keeps_reading: Option<bool>,
    /// CPU use from t0 to the end of emission, percent of one CPU.
    pub cpu_during_flood: Option<f64>,
    /// CPU use from the end of emission to the stop signal.
    pub cpu_after_flood: Option<f64>,
    /// Netlink sockets it held.
    pub sockets: Vec<ProgramSocket>,
    /// Of them, closed while it ran.
    pub reopened: u64,
    /// Receive calls outstanding past its call deadline.
    pub hangs: Vec<Hang>,
    /// Hangs per class.
    pub hang_classes: BTreeMap<String, u64>,
    /// Per emitter it is meant to see.
    pub per_emitter: Vec<EmitterDelivery>,
    /// Lines it printed (stdout and stderr).
    pub output_lines: u64,
    /// Output past the cap was not kept, so `seen` may be short.
    pub output_truncated: bool,
}

impl ProgramResult {
    /// The figure an expectation tests.
    pub fn metric(&self, m: ProgramMetric) -> u64 {
        match m {
            ProgramMetric::Sent => self.sent,
            ProgramMetric::Seen => self.seen,
            ProgramMetric::Lost => self.lost,
            ProgramMetric::Foreign => self.foreign,
            ProgramMetric::KernelDrops => self.kernel_drops,
            ProgramMetric::SilentLoss => self.silent_loss,
            ProgramMetric::ErrorLines => self.error_lines,
            ProgramMetric::ExitCode => match (self.exit_code, self.signal) {
                (Some(c), _) => c as u64,
                (None, Some(s)) => 128 + s as u64,
                _ => u64::MAX,
            },
            ProgramMetric::Hangs => self.hangs.len() as u64,
            ProgramMetric::KeepsReading => u64::from(self.keeps_reading.unwrap_or(true)),
            ProgramMetric::CpuAfterFlood => self.cpu_after_flood.map_or(0, |c| c.round() as u64),
            ProgramMetric::Sockets => self.sockets.len() as u64,
            ProgramMetric::Reopened => self.reopened,
        }
    }
}

/// What an adapter read from the output: `(emitter index, seq)` per report, foreign
/// events, and the line numbers it consumed (not searched for error patterns).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reports {
    /// Each event of this run, in output order.
    pub ours: Vec<(usize, u64)>,
    /// Events not from this run.
    pub foreign: u64,
    /// Indices of output lines that were part of an event.
    pub consumed: BTreeSet<usize>,
}

/// Reads `udevadm monitor --kernel --property` output: a `KERNEL[...]` header, then
/// `KEY=VALUE` lines (split at the first `=`), then a blank line. An event is this
/// run's when its SYNTH_UUID is the run id and it carries nlstorm's source and
/// sequence keys; `UDEV` events (udevd's rebroadcasts) are not the kernel's and are
/// skipped.
pub fn udevadm(lines: &[&str], run_id: &str) -> Reports {
    let mut out = Reports::default();
    let mut i = 0;
    while i < lines.len() {
        let header = lines[i];
        let kernel = header.starts_with("KERNEL[");
        if !kernel && !header.starts_with("UDEV") {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        let mut props = BTreeMap::new();
        while i < lines.len() && !lines[i].is_empty() {
            if let Some((k, v)) = lines[i].split_once('=') {
                props.insert(k, v);
            }
            i += 1;
        }
        out.consumed.extend(start..i);
        if !kernel {
            continue;
        }
        let ours = props.get("SYNTH_UUID") == Some(&run_id);
        let src = props
            .get("SYNTH_ARG_NLSTORMSRC")
            .and_then(|v| v.parse::<usize>().ok());
        let seq = props
            .get("SYNTH_ARG_NLSTORMSEQ")
            .and_then(|v| v.parse::<u64>().ok());
        match (ours, src, seq) {
            (true, Some(src), Some(seq)) => out.ours.push((src, seq)),
            _ => out.foreign += 1,
        }
    }
    out
}

/// Reads one event per line matching `re` (capture `seq`, optional `src` and `run`).
/// A line without a `src` capture is counted for `default_src`.
pub fn by_regex(lines: &[&str], re: &regex::Regex, run_id: &str, default_src: usize) -> Reports {
    let mut out = Reports::default();
    for (i, line) in lines.iter().enumerate() {
        let Some(c) = re.captures(line) else { continue };
        out.consumed.insert(i);
        let run_ok = c.name("run").is_none_or(|r| r.as_str() == run_id);
        let seq = c.name("seq").and_then(|s| s.as_str().parse::<u64>().ok());
        let src = c
            .name("src")
            .map_or(Some(default_src), |s| s.as_str().parse::<usize>().ok());
        match (run_ok, src, seq) {
            (true, Some(src), Some(seq)) => out.ours.push((src, seq)),
            _ => out.foreign += 1,
        }
    }
    out
}

/// Judges one program's record.
pub fn judge(plan: &Plan, pp: &ProgramPlan, rec: &ProgramRecord, h: &History) -> ProgramResult {
    let stdout: Vec<(usize, &str)> = rec
        .output
        .iter()
        .enumerate()
        .filter(|(_, l)| l.stream == Stream::Stdout)
        .map(|(i, l)| (i, l.text.as_str()))
        .collect();
    let texts: Vec<&str> = stdout.iter().map(|(_, t)| *t).collect();
    let run_id = h.run_id.as_str();
    let reports = match &pp.output {
        OutputFormat::None => Reports::default(),
        OutputFormat::Udevadm => udevadm(&texts, run_id),
        OutputFormat::IpMonitor => by_regex(
            &texts,
            &regex::Regex::new(IP_MONITOR_REGEX).expect("a fixed, tested expression"),
            run_id,
            pp.emitters.first().copied().unwrap_or(0),
        ),
        OutputFormat::Regex { regex } => match regex::Regex::new(regex) {
            Ok(re) => by_regex(
                &texts,
                &re,
                run_id,
                pp.emitters.first().copied().unwrap_or(0),
            ),
            Err(_) => Reports::default(),
        },
    };
    // Lines that were events are the program's report of them, not of a problem.
    let consumed: BTreeSet<usize> = reports.consumed.iter().map(|&j| stdout[j].0).collect();
    let patterns: Vec<String> = pp.error_patterns.iter().map(|p| p.to_lowercase()).collect();
    let errors: Vec<&str> = rec
        .output
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            !consumed.contains(i) && {
                let t = l.text.to_lowercase();
                patterns.iter().any(|p| t.contains(p.as_str()))
            }
        })
        .map(|(_, l)| l.text.as_str())
        .collect();

    let mut seen_by: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    let mut duplicates = 0;
    let mut foreign = reports.foreign;
    for &(src, seq) in &reports.ours {
        if !pp.emitters.contains(&src) || h.emitters.get(src).is_none_or(|e| seq >= e.sent) {
            foreign += 1;
        } else if !seen_by.entry(src).or_default().insert(seq) {
            duplicates += 1;
        }
    }
    let per_emitter: Vec<EmitterDelivery> = pp
        .emitters
        .iter()
        .map(|&i| {
            let sent = h.emitters.get(i).map_or(0, |e| e.sent);
            let delivered = seen_by.get(&i).map_or(0, |s| s.len() as u64);
            EmitterDelivery {
                emitter: plan.emitters[i].name.to_string(),
                sent,
                delivered,
                lost: sent - delivered,
            }
        })
        .collect();
    let sent: u64 = per_emitter.iter().map(|e| e.sent).sum();
    let seen: u64 = per_emitter.iter().map(|e| e.delivered).sum();
    let lost = sent - seen;
    let tracked = !matches!(pp.output, OutputFormat::None);
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
        lost: if tracked { lost } else { 0 },
        duplicates,
        foreign,
        kernel_drops: rec.sockets.iter().map(|s| s.drops).sum(),
        kernel_drops_lower_bound: rec.sockets.iter().any(|s| s.closed),
        silent_loss: if tracked && errors.is_empty() {
            lost
        } else {
            0
        },
        error_lines: errors.len() as u64,
        first_error_line: errors.first().map(|s| s.to_string()),
        exit_code: rec.exit.and_then(|e| e.code),
        signal: rec.exit.and_then(|e| e.signal),
        killed: rec.killed,
        keeps_reading: keeps_reading(&rec.sockets),
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
        reopened: rec.sockets.iter().filter(|s| s.closed).count() as u64,
        sockets: rec.sockets.clone(),
        hangs: rec.hangs.clone(),
        hang_classes,
        per_emitter,
        output_lines: rec.output.len() as u64,
        output_truncated: rec.output_truncated,
    }
}

/// After the first drop on any of its sockets: was every dropping socket's queue read
/// down again, or did the program open another socket afterwards? A program that stops
/// reading on ENOBUFS leaves the queue full. A queue already empty when the drop is
/// first seen was read in between: the kernel drops a message only while the queue
/// holds more than the buffer (or for a message larger than the whole buffer, when
/// there is nothing queued to read).
fn keeps_reading(sockets: &[ProgramSocket]) -> Option<bool> {
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

    // `udevadm monitor --kernel --property` from udev 252 (Debian 12), captured in a
    // fresh network namespace on 6.18 while a veth was created and nlstorm injected
    // one uevent (run id shortened).
    const UDEVADM: &str = "monitor will print the received events for:
KERNEL - the kernel uevent

KERNEL[18764.430274] add      /devices/virtual/net/b0 (net)
ACTION=add
DEVPATH=/devices/virtual/net/b0
SUBSYSTEM=net
INTERFACE=b0
IFINDEX=2
SEQNUM=2914816

KERNEL[18764.431000] add      /devices/virtual/misc/nlstorm (misc)
ACTION=add
DEVPATH=/devices/virtual/misc/nlstorm
SUBSYSTEM=misc
SYNTH_UUID=run-1
SYNTH_ARG_NLSTORMSRC=000
SYNTH_ARG_NLSTORMSEQ=00000000000000000007
SYNTH_ARG_NLSTORMPAD=ppp=p p
SEQNUM=2914822

";

    #[test]
    fn udevadm_events_are_matched_to_the_run() {
        let lines: Vec<&str> = UDEVADM.lines().collect();
        let r = udevadm(&lines, "run-1");
        assert_eq!(r.ours, vec![(0, 7)]);
        assert_eq!(r.foreign, 1);
        // The preamble is not an event; both event blocks are consumed.
        assert!(!r.consumed.contains(&0));
        assert!(r.consumed.contains(&3) && r.consumed.contains(&18));
        assert_eq!(udevadm(&lines, "other-run").ours, vec![]);
    }

    #[test]
    fn regex_lines_need_their_run_and_sequence() {
        let re = regex::Regex::new(r"^event run=(?P<run>\S+) seq=(?P<seq>\d+)").unwrap();
        let lines = [
            "event run=r1 seq=3",
            "event run=r2 seq=4",
            "noise",
            "event run=r1 seq=x",
        ];
        let r = by_regex(&lines, &re, "r1", 2);
        assert_eq!(r.ours, vec![(2, 3)]);
        assert_eq!(r.foreign, 1);
        assert_eq!(r.consumed.len(), 2);
    }

    /// Two lines of `ip -d -o -rcvbuf 1024 monitor link` (iproute2 6.1.0, kernel 6.18,
    /// 2026-12-04), the second from another run, then its ENOBUFS report.
    const IP_MONITOR: &str = "3: nls0@nls0p: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \\    link/ether a2:72:64:ca:f7:52 brd ff:ff:ff:ff:ff:ff promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 \\    veth numtxqueues 2 numrxqueues 2 gso_max_size 65536 gso_max_segs 65535 tso_max_size 524280 tso_max_segs 65535 gro_max_size 65536 \\    alias nlstorm run=caf38612-2e6f-43dc-8a47-4883bcb97c54 src=001 seq=00000000000000000195 pppp
3: nls0@nls0p: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \\    alias nlstorm run=00000000-2e6f-43dc-8a47-4883bcb97c54 src=000 seq=00000000000000000001 pppp
netlink receive error No buffer space available (105)";

    #[test]
    fn ip_monitor_lines_carry_source_and_sequence() {
        let lines: Vec<&str> = IP_MONITOR.lines().collect();
        let re = regex::Regex::new(IP_MONITOR_REGEX).unwrap();
        let r = by_regex(&lines, &re, "caf38612-2e6f-43dc-8a47-4883bcb97c54", 0);
        assert_eq!(r.ours, vec![(1, 195)]);
        assert_eq!(r.foreign, 1);
        assert_eq!(r.consumed.len(), 2, "the error line is not an event");
    }

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
            samples: Default::default(),
        }
    }

    #[test]
    fn reading_after_the_first_drop() {
        assert_eq!(keeps_reading(&[socket(0, None, None)]), None);
        // Full at the drop and never below it again: it stopped.
        assert_eq!(
            keeps_reading(&[socket(0, Some((10, 2304)), Some(2304))]),
            Some(false)
        );
        assert_eq!(
            keeps_reading(&[socket(0, Some((10, 2304)), Some(0))]),
            Some(true)
        );
        // Already empty when the drop was first sampled: read between drop and sample.
        assert_eq!(keeps_reading(&[socket(0, Some((10, 0)), None)]), Some(true));
        // One socket drained, one left full: it stopped reading one of them.
        assert_eq!(
            keeps_reading(&[
                socket(0, Some((10, 2304)), Some(0)),
                socket(0, Some((12, 2304)), Some(2304))
            ]),
            Some(false)
        );
        // Closed it and opened another after the drop: it went on reading.
        assert_eq!(
            keeps_reading(&[
                socket(0, Some((10, 2304)), Some(2304)),
                socket(20, None, None)
            ]),
            Some(true)
        );
    }
}
