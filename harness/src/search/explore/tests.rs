//! Every drawn case is a valid scenario, and seeds round-trip.

use super::*;
use crate::plan::{EmitterKind, RcvbufPlan, Schedule};
use crate::search::case::GROUP;
use proptest::strategy::ValueTree;

#[test]
fn every_drawn_case_is_a_valid_scenario() {
    let mut runner = TestRunner::deterministic();
    let s = case_strategy(&Space::default());
    for _ in 0..300 {
        let c = s.new_tree(&mut runner).unwrap().current();
        crate::scenario::assert_round_trips(&c.plan("drawn"));
        let (min, max, _) = c.emitter.payload_limits();
        assert!((min..=max).contains(&u64::from(c.payload)));
        assert!(c.reader.read_buffer >= c.payload.min(64 * 1024));
    }
}

#[test]
fn restrictions_hold() {
    let space = Space {
        emitter: Some(EmitterKind::Usersock { group: GROUP }),
        payload: Some((100, 200)),
        rcvbuf: Some((0, 4096)),
        receivers: Some((2, 2)),
        reader: Some(false),
        no_enobufs: Some(true),
        schedule: Some("burst".into()),
        filters: None,
    };
    let mut runner = TestRunner::deterministic();
    let s = case_strategy(&space);
    for _ in 0..200 {
        let c = s.new_tree(&mut runner).unwrap().current();
        assert!((100..=200).contains(&c.payload));
        assert!(matches!(c.rcvbuf, RcvbufPlan::Request { bytes } if bytes <= 4096));
        assert_eq!(c.receivers, 2);
        assert!(!c.reader.active && c.no_enobufs);
        assert!(matches!(c.schedule, Schedule::Burst { .. }));
    }
}

#[test]
fn shrinking_heads_for_the_simplest_case() {
    // Simplify as far as the strategy allows, as proptest does when every step fails.
    let mut runner = TestRunner::deterministic();
    let s = case_strategy(&Space::default());
    for _ in 0..20 {
        let mut tree = s.new_tree(&mut runner).unwrap();
        for _ in 0..10_000 {
            if !tree.simplify() {
                break;
            }
        }
        let c = tree.current();
        assert_eq!(c.receivers, 1, "{c:?}");
        assert!(!c.reader.active);
        assert!(!c.no_enobufs);
        assert!(
            matches!(c.schedule, Schedule::Burst { size, count, .. } if size.get() == 1 && count.get() == 1),
            "{:?}",
            c.schedule
        );
    }
}
