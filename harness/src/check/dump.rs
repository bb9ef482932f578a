//! Whether a completed dump listed everything: an object present before the request and
//! after NLMSG_DONE must be in the reply; what came or went in between proves nothing.

use std::collections::BTreeSet;

use crate::history::dump::ObjectId;

/// The verdict on one completed dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completeness {
    /// Objects present before the request and after NLMSG_DONE.
    pub throughout: usize,
    /// Of those, the ones the dump did not list.
    pub missed: Vec<ObjectId>,
}

/// Compares what a dump listed with what was present before and after it.
pub fn judge(
    before: &BTreeSet<ObjectId>,
    after: &BTreeSet<ObjectId>,
    listed: &BTreeSet<ObjectId>,
) -> Completeness {
    let throughout: BTreeSet<ObjectId> = before.intersection(after).copied().collect();
    Completeness {
        throughout: throughout.len(),
        missed: throughout.difference(listed).copied().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_present_throughout_can_be_missed() {
        let before = BTreeSet::from([1, 2, 3, 4]);
        let after = BTreeSet::from([1, 2, 3, 5]);
        // 4 went and 5 came during the dump: neither counts, listed or not.
        let c = judge(&before, &after, &BTreeSet::from([1, 3, 5]));
        assert_eq!(c.throughout, 3);
        assert_eq!(c.missed, vec![2]);
        assert!(judge(&before, &after, &BTreeSet::from([1, 2, 3]))
            .missed
            .is_empty());
    }
}
