//! Exact loss accounting from sequence numbers in bounded memory: counters plus the
//! ranges of sequence numbers not (yet) seen. A 60 s flood costs one range per overrun
//! episode, not one record per message.

use serde::{Deserialize, Serialize};

/// What one receiver saw of one emitter's sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqTracker {
    /// Next sequence number expected in order.
    next: u64,
    /// Distinct sequence numbers received.
    delivered: u64,
    /// Received again after being received once.
    duplicates: u64,
    /// Received after a later one (filled a gap).
    out_of_order: u64,
    /// Half-open ranges `[start, end)` below `next` never received, ascending.
    gaps: Vec<(u64, u64)>,
    /// Received, but with the sequence number cut off by a short read: delivered, and
    /// taken from the lost count, which sequence they were unknown.
    #[serde(default)]
    unnumbered: u64,
}

impl SeqTracker {
    /// Records the arrival of `seq`.
    pub fn observe(&mut self, seq: u64) {
        if seq == self.next {
            self.next += 1;
            self.delivered += 1;
        } else if seq > self.next {
            self.gaps.push((self.next, seq));
            self.next = seq + 1;
            self.delivered += 1;
        } else if self.fill(seq) {
            self.out_of_order += 1;
            self.delivered += 1;
        } else {
            self.duplicates += 1;
        }
    }

    /// Removes `seq` from the gaps if it is in one; false means it was seen before.
    fn fill(&mut self, seq: u64) -> bool {
        let Some(i) = self.gaps.iter().position(|&(s, e)| s <= seq && seq < e) else {
            return false;
        };
        let (s, e) = self.gaps[i];
        match (seq == s, seq + 1 == e) {
            (true, true) => {
                self.gaps.remove(i);
            }
            (true, false) => self.gaps[i].0 = seq + 1,
            (false, true) => self.gaps[i].1 = seq,
            (false, false) => {
                self.gaps[i].1 = seq;
                self.gaps.insert(i + 1, (seq + 1, e));
            }
        }
        true
    }

    /// Records a message of this source whose sequence number was not read.
    pub fn observe_unnumbered(&mut self) {
        self.unnumbered += 1;
    }

    /// Messages received whose sequence number was not read.
    pub fn unnumbered(&self) -> u64 {
        self.unnumbered
    }

    /// Distinct messages received (counting those whose number was cut off).
    pub fn delivered(&self) -> u64 {
        self.delivered + self.unnumbered
    }

    /// Messages received twice or more (each extra copy counts).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Messages that filled a gap.
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// Messages never received out of `sent`: the gaps, plus the tail after the last one
    /// received. Counted from the ranges, independently of `delivered`, so that
    /// `delivered + lost == sent` is a real check of the bookkeeping.
    pub fn lost(&self, sent: u64) -> u64 {
        let in_gaps: u64 = self.gaps.iter().map(|(s, e)| e - s).sum();
        (in_gaps + sent.saturating_sub(self.next)).saturating_sub(self.unnumbered)
    }

    /// Sequence numbers above `sent` mean the sender's count and the receiver disagree.
    pub fn highest_seen(&self) -> Option<u64> {
        self.next.checked_sub(1)
    }

    /// Number of separate loss episodes seen so far (gaps; a trailing loss adds one).
    pub fn gap_ranges(&self) -> &[(u64, u64)] {
        &self.gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn in_order_no_loss() {
        let mut t = SeqTracker::default();
        (0..10).for_each(|s| t.observe(s));
        assert_eq!((t.delivered(), t.lost(10)), (10, 0));
    }

    #[test]
    fn gaps_and_tail_are_lost() {
        let mut t = SeqTracker::default();
        for s in [0, 1, 5, 6, 9] {
            t.observe(s);
        }
        assert_eq!(t.gap_ranges(), &[(2, 5), (7, 9)]);
        assert_eq!(t.lost(12), 3 + 2 + 2);
        assert_eq!(t.delivered() + t.lost(12), 12);
    }

    #[test]
    fn late_arrivals_fill_gaps_and_duplicates_do_not_count() {
        let mut t = SeqTracker::default();
        for s in [0, 4, 2, 2, 4, 1, 3] {
            t.observe(s);
        }
        assert_eq!(t.delivered(), 5);
        assert_eq!(t.out_of_order(), 3);
        assert_eq!(t.duplicates(), 2);
        assert_eq!(t.lost(5), 0);
        assert!(t.gap_ranges().is_empty());
    }

    proptest! {
        #[test]
        fn delivered_plus_lost_is_sent(arrivals in proptest::collection::vec(0u64..200, 0..400)) {
            let mut t = SeqTracker::default();
            let mut seen = std::collections::BTreeSet::new();
            for &s in &arrivals {
                t.observe(s);
                seen.insert(s);
            }
            prop_assert_eq!(t.delivered(), seen.len() as u64);
            prop_assert_eq!(t.delivered() + t.lost(200), 200);
            prop_assert_eq!(t.duplicates(), arrivals.len() as u64 - seen.len() as u64);
        }
    }
}
