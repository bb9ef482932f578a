//! What `nlstorm trace show` says about a trace: how many events of what, how bursty,
//! how large. Pure; the kernel's figure (which buffer holds the largest burst) is
//! measured by the caller.

use std::collections::BTreeMap;
use std::time::Duration;

use super::TraceEvent;

/// The window in which the largest burst is counted: a listener busy for 10 ms with one
/// event (udev rules, a D-Bus call) faces everything that arrives meanwhile.
pub const BURST_WINDOW: Duration = Duration::from_millis(10);

/// A trace's shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Events summarised.
    pub events: usize,
    /// Time from the first event to the last, microseconds.
    pub span_us: u64,
    /// Events per subsystem, most first (ties by name).
    pub subsystems: Vec<(String, usize)>,
    /// Events per action, most first.
    pub actions: Vec<(String, usize)>,
    /// Most events inside any [`BURST_WINDOW`].
    pub largest_burst: usize,
    /// Index of the first event of that burst.
    pub largest_burst_at: usize,
    /// Bytes of each event as the kernel sends it, without SEQNUM: smallest, median, largest.
    pub wire_bytes: (usize, usize, usize),
}

impl Summary {
    /// The summary of `events` (in time order).
    pub fn of(events: &[&TraceEvent]) -> Summary {
        let (largest_burst, largest_burst_at) = largest_burst(events, BURST_WINDOW);
        let mut sizes: Vec<usize> = events.iter().map(|e| e.wire().len()).collect();
        sizes.sort_unstable();
        Summary {
            events: events.len(),
            span_us: match (events.first(), events.last()) {
                (Some(a), Some(b)) => b.at_us - a.at_us,
                _ => 0,
            },
            subsystems: ranked(events.iter().map(|e| e.subsystem.as_str())),
            actions: ranked(events.iter().map(|e| e.action.as_str())),
            largest_burst,
            largest_burst_at,
            wire_bytes: (
                sizes.first().copied().unwrap_or(0),
                sizes.get(sizes.len() / 2).copied().unwrap_or(0),
                sizes.last().copied().unwrap_or(0),
            ),
        }
    }
}

/// Most events whose timestamps fall within `window` of the burst's first, and where
/// that burst starts. Two pointers over sorted times.
pub fn largest_burst(events: &[&TraceEvent], window: Duration) -> (usize, usize) {
    let w = window.as_micros() as u64;
    let (mut best, mut at, mut end) = (0, 0, 0);
    for start in 0..events.len() {
        end = end.max(start);
        while end < events.len() && events[end].at_us - events[start].at_us < w {
            end += 1;
        }
        if end - start > best {
            (best, at) = (end - start, start);
        }
    }
    (best, at)
}

fn ranked<'a>(names: impl Iterator<Item = &'a str>) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for n in names {
        *counts.entry(n).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().map(|(k, c)| (k.into(), c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::super::{Source, TraceEvent};
    use super::*;

    fn at(us: u64, subsystem: &str) -> TraceEvent {
        TraceEvent {
            source: Source::Kernel,
            at_us: us,
            action: "add".into(),
            devpath: "/devices/x".into(),
            subsystem: subsystem.into(),
            seqnum: None,
            properties: vec![("ACTION".into(), "add".into())],
        }
    }

    #[test]
    fn the_largest_burst_is_the_densest_window() {
        let ev: Vec<TraceEvent> = [0, 20_000, 20_100, 20_200, 29_999, 30_000, 90_000]
            .iter()
            .map(|&t| at(t, "net"))
            .collect();
        let refs: Vec<&TraceEvent> = ev.iter().collect();
        // 20.000 .. 29.999 ms holds four; 30.000 is exactly 10 ms after 20.000, outside.
        assert_eq!(largest_burst(&refs, BURST_WINDOW), (4, 1));
        assert_eq!(largest_burst(&refs[..1], BURST_WINDOW), (1, 0));
        assert_eq!(largest_burst(&[], BURST_WINDOW), (0, 0));
    }

    #[test]
    fn summarises_counts_and_sizes() {
        let ev = [at(0, "net"), at(5, "queues"), at(9, "queues")];
        let refs: Vec<&TraceEvent> = ev.iter().collect();
        let s = Summary::of(&refs);
        assert_eq!(s.events, 3);
        assert_eq!(s.span_us, 9);
        assert_eq!(s.subsystems, vec![("queues".into(), 2), ("net".into(), 1)]);
        let n = "add@/devices/x\0ACTION=add\0".len();
        assert_eq!(s.wire_bytes, (n, n, n));
    }
}
