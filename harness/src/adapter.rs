//! Reading a program's output back into the events nlstorm sent, line by line as the
//! output arrives, over the whole output whatever its size: the adapters (`udevadm
//! monitor` blocks, one event per line matching a regex), the program's error lines
//! (matched against its error patterns, outside event lines), and a [`Tally`] the
//! record keeps instead of every line. The sandbox feeds it while the program runs (the
//! stop rule reads its live count); `check` re-reads the kept lines of older records.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use regex::Regex;

use crate::history::program::{Seen, Stream, Tally};
use crate::history::Series;
use crate::plan::{OutputFormat, ProgramPlan, IP_MONITOR_REGEX};

/// Lines `udevadm monitor` prints before its first event.
const UDEVADM_PREAMBLE: [&str; 3] = [
    "monitor will print the received events for:",
    "UDEV - the event which udev sends out after rule processing",
    "KERNEL - the kernel uevent",
];

/// Longest line quoted in a tally (the first error line, a sample of unread output).
const QUOTE_MAX: usize = 300;

/// Sequence numbers as sorted, disjoint `[start, end)` ranges: events mostly arrive in
/// order, so a million of them usually take one range.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RangeSet {
    ranges: BTreeMap<u64, u64>,
    len: u64,
}

impl RangeSet {
    /// Adds `v`; false if it was there already.
    pub fn insert(&mut self, v: u64) -> bool {
        let before = self.ranges.range(..=v).next_back().map(|(&s, &e)| (s, e));
        if let Some((_, e)) = before {
            if v < e {
                return false;
            }
        }
        let after = self.ranges.get(&(v + 1)).copied();
        match (before.filter(|&(_, e)| e == v), after) {
            (Some((s, _)), Some(e2)) => {
                self.ranges.remove(&(v + 1));
                self.ranges.insert(s, e2);
            }
            (Some((s, _)), None) => {
                self.ranges.insert(s, v + 1);
            }
            (None, Some(e2)) => {
                self.ranges.remove(&(v + 1));
                self.ranges.insert(v, e2);
            }
            (None, None) => {
                self.ranges.insert(v, v + 1);
            }
        }
        self.len += 1;
        true
    }

    /// How many values.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many values are below `bound`.
    pub fn count_below(&self, bound: u64) -> u64 {
        self.ranges
            .iter()
            .map(|(&s, &e)| e.min(bound).saturating_sub(s))
            .sum()
    }

    /// The ranges.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.ranges.iter().map(|(&s, &e)| (s, e)).collect()
    }

    /// From stored ranges.
    pub fn from_ranges(r: &[(u64, u64)]) -> Self {
        let mut s = RangeSet::default();
        for &(a, b) in r {
            for v in a..b {
                s.insert(v);
            }
        }
        s
    }
}

/// How one line was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Part of an event (or the line of one).
    Event,
    /// The adapter's own preamble, or the program's ready line.
    Preamble,
    /// A line matching an error pattern.
    Error,
    /// Anything else.
    Other,
}

enum Adapter {
    None,
    Udevadm { block: Option<Block> },
    Blocks { block: Option<Block> },
    Regex(Regex),
    Count(Regex),
}

#[derive(Default)]
struct Block {
    kernel: bool,
    props: BTreeMap<String, String>,
}

/// The live count a stop rule reads while the program runs.
#[derive(Debug, Default)]
pub struct Live {
    /// Distinct events of this run the program printed, so far.
    pub seen: AtomicU64,
    /// When it last printed a line, ns on the program's timeline (0: never).
    pub last_line_ns: AtomicU64,
}

/// Reads one program's output.
pub struct Reader {
    adapter: Adapter,
    run_id: String,
    default_src: usize,
    patterns: Vec<String>,
    ready: Option<Regex>,
    seen: BTreeMap<usize, RangeSet>,
    seqnums: RangeSet,
    tally: Tally,
    live: Arc<Live>,
}

impl Reader {
    /// A reader for `pp`'s output in run `run_id`.
    pub fn new(pp: &ProgramPlan, run_id: &str, live: Arc<Live>) -> Self {
        let adapter = match &pp.output {
            OutputFormat::None => Adapter::None,
            OutputFormat::Udevadm => Adapter::Udevadm { block: None },
            OutputFormat::IpMonitor => {
                Adapter::Regex(Regex::new(IP_MONITOR_REGEX).expect("a fixed, tested expression"))
            }
            OutputFormat::Regex { regex } => match Regex::new(regex) {
                Ok(re) => Adapter::Regex(re),
                Err(_) => Adapter::None,
            },
            OutputFormat::UeventBlocks => Adapter::Blocks { block: None },
            OutputFormat::Count { regex } => match Regex::new(regex) {
                Ok(re) => Adapter::Count(re),
                Err(_) => Adapter::None,
            },
        };
        let ready = match &pp.ready {
            crate::plan::Ready::Line { regex } => Regex::new(regex).ok(),
            _ => None,
        };
        Reader {
            adapter,
            run_id: run_id.to_string(),
            default_src: pp.emitters.first().copied().unwrap_or(0),
            patterns: pp.error_patterns.iter().map(|p| p.to_lowercase()).collect(),
            ready,
            seen: BTreeMap::new(),
            seqnums: RangeSet::default(),
            tally: Tally {
                events_over_time: Series::new(1_000_000),
                ..Tally::default()
            },
            live,
        }
    }

    /// Reads one line printed at `t_ns` on `stream`.
    pub fn feed(&mut self, t_ns: u64, stream: Stream, text: &str) -> LineKind {
        self.tally.lines += 1;
        self.tally.last_line_ns = Some(t_ns);
        self.live.last_line_ns.store(t_ns.max(1), Ordering::Release);
        let kind = match stream {
            Stream::Stdout => {
                self.tally.stdout_lines += 1;
                self.stdout(t_ns, text)
            }
            Stream::Stderr => LineKind::Other,
        };
        if kind != LineKind::Other {
            return kind;
        }
        let lower = text.to_lowercase();
        if self.patterns.iter().any(|p| lower.contains(p.as_str())) {
            self.tally.error_lines += 1;
            if self.tally.first_error_line.is_none() {
                self.tally.first_error_line = Some(quote(text));
                self.tally.first_error_ns = Some(t_ns);
            }
            return LineKind::Error;
        }
        if stream == Stream::Stdout {
            self.tally.unread_lines += 1;
            if self.tally.unread_sample.is_none() {
                self.tally.unread_sample = Some(quote(text));
            }
        }
        LineKind::Other
    }

    fn stdout(&mut self, t_ns: u64, text: &str) -> LineKind {
        if self.ready.as_ref().is_some_and(|re| re.is_match(text)) && self.tally.events == 0 {
            return LineKind::Preamble;
        }
        let in_block = matches!(
            &self.adapter,
            Adapter::Udevadm { block: Some(_) } | Adapter::Blocks { block: Some(_) }
        );
        if text.trim().is_empty() && !in_block {
            return LineKind::Preamble;
        }
        match &mut self.adapter {
            Adapter::None => LineKind::Other,
            Adapter::Count(re) => {
                if !re.is_match(text) {
                    return LineKind::Other;
                }
                self.tally.events += 1;
                self.tally.last_event_ns = Some(t_ns);
                self.live.seen.fetch_add(1, Ordering::AcqRel);
                let n = self.tally.events;
                self.tally.events_over_time.offer(t_ns, n, 0);
                LineKind::Event
            }
            Adapter::Blocks { block } => {
                if block.is_none() && UDEVADM_PREAMBLE.contains(&text) {
                    return LineKind::Preamble;
                }
                if text.is_empty() {
                    let done = block.take();
                    self.close_any(t_ns, done);
                    return LineKind::Event;
                }
                let b = block.get_or_insert_with(Block::default);
                if let Some((k, v)) = text.split_once('=') {
                    b.props.insert(k.to_string(), v.to_string());
                }
                LineKind::Event
            }
            Adapter::Regex(re) => {
                let Some(c) = re.captures(text) else {
                    return LineKind::Other;
                };
                let run_ok = c.name("run").is_none_or(|r| r.as_str() == self.run_id);
                if let Some(n) = c.name("seqnum") {
                    // The kernel's SEQNUM: mapped to emitter and sequence when judged.
                    match (run_ok, n.as_str().parse::<u64>()) {
                        (true, Ok(n)) => self.seqnum_event(t_ns, n),
                        _ => self.tally.foreign += 1,
                    }
                    return LineKind::Event;
                }
                let seq = c.name("seq").and_then(|s| s.as_str().parse::<u64>().ok());
                let src = c
                    .name("src")
                    .map_or(Some(self.default_src), |s| s.as_str().parse::<usize>().ok());
                match (run_ok, src, seq) {
                    (true, Some(src), Some(seq)) => self.event(t_ns, src, seq),
                    _ => self.tally.foreign += 1,
                }
                LineKind::Event
            }
            Adapter::Udevadm { block } => {
                if UDEVADM_PREAMBLE.contains(&text) && block.is_none() {
                    return LineKind::Preamble;
                }
                let kernel = text.starts_with("KERNEL[");
                if kernel || text.starts_with("UDEV") {
                    let done = block.replace(Block {
                        kernel,
                        props: BTreeMap::new(),
                    });
                    self.close(t_ns, done);
                    return LineKind::Event;
                }
                let Some(b) = block.as_mut() else {
                    return LineKind::Other;
                };
                if text.is_empty() {
                    let done = block.take();
                    self.close(t_ns, done);
                } else if let Some((k, v)) = text.split_once('=') {
                    b.props.insert(k.to_string(), v.to_string());
                }
                LineKind::Event
            }
        }
    }

    /// A udevadm block ended: this run's kernel uevent when its SYNTH_UUID is the run
    /// id and it carries nlstorm's source and sequence keys; `UDEV` blocks (udevd's
    /// rebroadcasts after rules) are not the kernel's.
    fn close(&mut self, t_ns: u64, b: Option<Block>) {
        let Some(b) = b else { return };
        if !b.kernel {
            self.tally.other_events += 1;
            return;
        }
        let ours = b.props.get("SYNTH_UUID").is_some_and(|u| *u == self.run_id);
        let src = b
            .props
            .get("SYNTH_ARG_NLSTORMSRC")
            .and_then(|v| v.parse().ok());
        let seq = b
            .props
            .get("SYNTH_ARG_NLSTORMSEQ")
            .and_then(|v| v.parse().ok());
        match (ours, src, seq) {
            (true, Some(src), Some(seq)) => self.event(t_ns, src, seq),
            _ => self.tally.foreign += 1,
        }
    }

    /// A block of `uevent-blocks` ended: this run's by its SYNTH_ keys, else the kernel's
    /// by its SEQNUM (mapped when judged), else not an event nlstorm can place.
    fn close_any(&mut self, t_ns: u64, b: Option<Block>) {
        let Some(b) = b else { return };
        let src = b
            .props
            .get("SYNTH_ARG_NLSTORMSRC")
            .and_then(|v| v.parse().ok());
        let seq = b
            .props
            .get("SYNTH_ARG_NLSTORMSEQ")
            .and_then(|v| v.parse().ok());
        let seqnum = b.props.get("SEQNUM").and_then(|v| v.parse().ok());
        match (b.props.get("SYNTH_UUID"), src, seq, seqnum) {
            (Some(u), Some(src), Some(seq), _) if *u == self.run_id => self.event(t_ns, src, seq),
            (Some(_), ..) => self.tally.foreign += 1,
            (None, _, _, Some(n)) => self.seqnum_event(t_ns, n),
            _ => self.tally.foreign += 1,
        }
    }

    fn event(&mut self, t_ns: u64, src: usize, seq: u64) {
        self.tally.events += 1;
        self.tally.last_event_ns = Some(t_ns);
        if self.seen.entry(src).or_default().insert(seq) {
            self.live.seen.fetch_add(1, Ordering::AcqRel);
        } else {
            self.tally.duplicates += 1;
        }
        let n = self.tally.events;
        self.tally.events_over_time.offer(t_ns, n, 0);
    }

    fn seqnum_event(&mut self, t_ns: u64, n: u64) {
        self.tally.events += 1;
        self.tally.last_event_ns = Some(t_ns);
        if self.seqnums.insert(n) {
            self.live.seen.fetch_add(1, Ordering::AcqRel);
        } else {
            self.tally.duplicates += 1;
        }
        let count = self.tally.events;
        self.tally.events_over_time.offer(t_ns, count, 0);
    }

    /// The tally of everything read; an event block the output ended inside counts.
    pub fn finish(mut self, t_ns: u64) -> Tally {
        match &mut self.adapter {
            Adapter::Udevadm { block } => {
                let done = block.take();
                self.close(t_ns, done);
            }
            Adapter::Blocks { block } => {
                let done = block.take();
                self.close_any(t_ns, done);
            }
            _ => {}
        }
        self.tally.seqnums = self.seqnums.ranges();
        self.tally.seen = self
            .seen
            .iter()
            .map(|(&emitter, s)| Seen {
                emitter,
                ranges: s.ranges(),
            })
            .collect();
        self.tally
    }
}

/// Adds `other` (another stream's tally) into `t`.
pub fn merge(t: &mut Tally, other: Tally) {
    t.lines += other.lines;
    t.stdout_lines += other.stdout_lines;
    t.error_lines += other.error_lines;
    t.unread_lines += other.unread_lines;
    if other
        .first_error_ns
        .is_some_and(|o| t.first_error_ns.is_none_or(|m| o < m))
    {
        t.first_error_ns = other.first_error_ns;
        t.first_error_line = other.first_error_line;
    }
    t.last_line_ns = t.last_line_ns.max(other.last_line_ns);
    if t.unread_sample.is_none() {
        t.unread_sample = other.unread_sample;
    }
}

fn quote(text: &str) -> String {
    text.chars().take(QUOTE_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Name, Ready, Stop};
    use std::time::Duration;

    fn plan(output: OutputFormat, ready: Ready) -> ProgramPlan {
        ProgramPlan {
            name: Name::new("p").unwrap(),
            command: vec!["x".into()],
            env: vec![],
            uid: None,
            gid: None,
            root: false,
            emitters: vec![0],
            start: Duration::ZERO,
            ready,
            ready_timeout: Duration::from_secs(1),
            output,
            error_patterns: vec!["No buffer space".into()],
            stop: Stop {
                signal: libc::SIGTERM,
                after: Duration::from_secs(1),
                grace: Duration::from_secs(1),
                settle: Duration::from_millis(500),
            },
            call_deadline: Duration::from_secs(1),
            expectations: vec![],
        }
    }

    fn read(pp: &ProgramPlan, lines: &[&str]) -> Tally {
        let mut r = Reader::new(pp, "run-1", Arc::default());
        for (i, l) in lines.iter().enumerate() {
            r.feed(i as u64, Stream::Stdout, l);
        }
        r.finish(lines.len() as u64)
    }

    #[test]
    fn ranges_merge_and_count() {
        let mut s = RangeSet::default();
        for v in [0, 1, 2, 5, 4, 3, 9] {
            assert!(s.insert(v));
        }
        assert!(!s.insert(4));
        assert_eq!(s.ranges(), vec![(0, 6), (9, 10)]);
        assert_eq!(s.len(), 7);
        assert_eq!(s.count_below(5), 5);
        assert_eq!(RangeSet::from_ranges(&s.ranges()), s);
    }

    #[test]
    fn udevadm_blocks_of_the_run_are_events_and_udev_blocks_are_not() {
        let pp = plan(OutputFormat::Udevadm, Ready::NetlinkSocket);
        let t = read(
            &pp,
            &[
                "monitor will print the received events for:",
                "KERNEL - the kernel uevent",
                "",
                "KERNEL[1.0] add /devices/virtual/misc/nlstorm (misc)",
                "SYNTH_UUID=run-1",
                "SYNTH_ARG_NLSTORMSRC=000",
                "SYNTH_ARG_NLSTORMSEQ=00000000000000000007",
                "",
                "UDEV  [1.1] add /devices/virtual/misc/nlstorm (misc)",
                "SYNTH_UUID=run-1",
                "",
                "KERNEL[1.2] add /devices/virtual/net/b0 (net)",
                "SEQNUM=5",
            ],
        );
        assert_eq!(
            t.seen,
            vec![Seen {
                emitter: 0,
                ranges: vec![(7, 8)]
            }]
        );
        assert_eq!((t.events, t.foreign, t.other_events), (1, 1, 1));
        assert_eq!(
            t.unread_lines, 0,
            "the preamble and blank separators are not unread output"
        );
    }

    #[test]
    fn regex_events_errors_and_unread_lines() {
        let pp = plan(
            OutputFormat::Regex {
                regex: r"^ev run=(?P<run>\S+) seq=(?P<seq>\d+)$".into(),
            },
            Ready::Line {
                regex: "^listening".into(),
            },
        );
        let t = read(
            &pp,
            &[
                "listening",
                "ev run=run-1 seq=3",
                "ev run=run-1 seq=3",
                "ev run=run-2 seq=4",
                "recv: No buffer space available",
                "something else",
            ],
        );
        assert_eq!(
            t.seen,
            vec![Seen {
                emitter: 0,
                ranges: vec![(3, 4)]
            }]
        );
        assert_eq!((t.events, t.duplicates, t.foreign), (2, 1, 1));
        assert_eq!(t.error_lines, 1);
        assert_eq!(
            t.first_error_line.as_deref(),
            Some("recv: No buffer space available")
        );
        assert_eq!(t.unread_lines, 1);
        assert_eq!(t.unread_sample.as_deref(), Some("something else"));
    }

    #[test]
    fn uevent_blocks_from_busybox_and_udevd_are_read_by_their_keys() {
        let pp = plan(OutputFormat::UeventBlocks, Ready::NetlinkSocket);
        // busybox `uevent` prints a blank line, then each string of the uevent; udevadm
        // --udev --property a UDEV header and udevd's properties; one block by SEQNUM
        // only, one of another run, one with nothing to place it by.
        let t = read(
            &pp,
            &[
                "",
                "add@/devices/virtual/misc/nlstorm",
                "ACTION=add",
                "SYNTH_UUID=run-1",
                "SYNTH_ARG_NLSTORMSRC=000",
                "SYNTH_ARG_NLSTORMSEQ=00000000000000000003",
                "SEQNUM=900",
                "",
                "UDEV  [5.0] add /devices/virtual/misc/nlstorm (misc)",
                "SYNTH_UUID=run-1",
                "SYNTH_ARG_NLSTORMSRC=000",
                "SYNTH_ARG_NLSTORMSEQ=00000000000000000004",
                "",
                "change@/devices/virtual/net/x",
                "SEQNUM=905",
                "",
                "add@/x",
                "SYNTH_UUID=run-2",
                "SYNTH_ARG_NLSTORMSRC=000",
                "SYNTH_ARG_NLSTORMSEQ=1",
                "",
                "hello",
            ],
        );
        assert_eq!(
            t.seen,
            vec![Seen {
                emitter: 0,
                ranges: vec![(3, 5)]
            }]
        );
        assert_eq!(t.seqnums, vec![(905, 906)]);
        assert_eq!(t.foreign, 2);
    }

    #[test]
    fn count_mode_counts_matching_lines() {
        let pp = plan(
            OutputFormat::Count {
                regex: "^[0-9]+: ".into(),
            },
            Ready::Started,
        );
        let t = read(&pp, &["3: br0 port", "noise", "4: br0 port"]);
        assert_eq!(t.events, 2);
        assert_eq!(t.unread_lines, 1);
    }

    #[test]
    fn a_whole_output_is_counted_however_long() {
        let pp = plan(
            OutputFormat::Regex {
                regex: r"^seq=(?P<seq>\d+)$".into(),
            },
            Ready::Started,
        );
        let live = Arc::new(Live::default());
        let mut r = Reader::new(&pp, "run-1", live.clone());
        for i in 0..200_000u64 {
            r.feed(i, Stream::Stdout, &format!("seq={i}"));
        }
        assert_eq!(live.seen.load(Ordering::Acquire), 200_000);
        let t = r.finish(0);
        assert_eq!(t.seen[0].ranges, vec![(0, 200_000)]);
        assert_eq!(
            RangeSet::from_ranges(&t.seen[0].ranges).count_below(150_000),
            150_000
        );
    }
}
