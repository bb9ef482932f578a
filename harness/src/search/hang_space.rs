//! The dump space `explore --property no-hang` and `complete-dumps` search: request, read and event buffer
//! sizes, rcvbuf, subscriptions, NO_ENOBUFS, socket filters, policies and link churn, in
//! a sandbox with 40 veth pairs and 50 TCP connections. Alternatives are ordered simplest
//! first, so a shrunk case keeps only what its hang needs.

use crate::untrusted::Name;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::subsequence;
use serde::{Deserialize, Serialize};

use super::space::{Explorable, Space};
use crate::bpf::drop_types;
use crate::plan::{Churn, DumpPlan, DumpPolicy, DumpRequest, Plan, RcvbufPlan, Reaction, World};

/// The world every no-hang case runs in.
pub const WORLD: World = World {
    veths: 40,
    tcp_connections: 50,
};

/// One dump client and its surroundings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HangCase {
    /// The dump.
    pub request: DumpRequest,
    /// Dumps in a row.
    pub count: u64,
    /// Bytes per dump read.
    pub read_buffer: u32,
    /// Bytes per event read between dumps.
    pub event_read_buffer: Option<u32>,
    /// Join group 1 (RTNLGRP_LINK, or SKNLGRP_INET_TCP_DESTROY on sock_diag).
    pub subscribe: bool,
    /// Blocking reads.
    pub blocking: bool,
    /// Receive buffer.
    pub rcvbuf: RcvbufPlan,
    /// NETLINK_NO_ENOBUFS.
    pub no_enobufs: bool,
    /// Message types the socket filter drops (first message of a datagram).
    pub filter_types: Vec<u16>,
    /// Error policy.
    pub policy: DumpPolicy,
    /// Link changes per second in the background, if any.
    pub churn: Option<u32>,
}

impl Explorable for HangCase {
    fn plan(&self, name: &str) -> Plan {
        Plan {
            name: Name::internal(name),
            description: String::new(),
            seed: 1,
            deadline: Duration::from_secs(20),
            emitters: vec![],
            receivers: vec![],
            dumps: vec![DumpPlan {
                name: Name::internal("agent"),
                request: self.request,
                count: self.count,
                interval: Duration::from_millis(2),
                read_buffer: self.read_buffer,
                event_read_buffer: self.event_read_buffer,
                rcvbuf: self.rcvbuf.clone(),
                blocking: self.blocking,
                groups: if self.subscribe { vec![1] } else { vec![] },
                no_enobufs: self.no_enobufs,
                filter: if self.filter_types.is_empty() {
                    vec![]
                } else {
                    drop_types(&self.filter_types)
                },
                call_deadline: Duration::from_millis(50),
                policy: self.policy,
                // Both dump properties read the same runs; a short dump is evidence
                // whichever one is explored.
                verify: true,
                peek: false,
                expectations: vec![],
            }],
            world: WORLD,
            churn: self
                .churn
                .map(|per_sec| {
                    vec![Churn::Links {
                        per_sec: f64::from(per_sec),
                    }]
                })
                .unwrap_or_default(),
            programs: vec![],
            timing_bound: false,
        }
    }

    fn no_enobufs(&self) -> bool {
        self.no_enobufs
    }
}

fn reaction() -> impl Strategy<Value = Reaction> {
    prop_oneof![
        Just(Reaction::KeepReading),
        Just(Reaction::RetryLater),
        Just(Reaction::Restart),
        Just(Reaction::Stop),
    ]
}

/// Every dump case the space allows (only `filters` restricts it).
pub fn strategy(space: &Space) -> BoxedStrategy<HangCase> {
    // NLMSG_DONE, NLMSG_ERROR, RTM_NEWLINK, SOCK_DIAG_BY_FAMILY replies.
    let types = vec![3u16, 2, 16, 20];
    let filter = match space.filters {
        Some(false) => Just(vec![]).boxed(),
        Some(true) => subsequence(types, 1..=2).boxed(),
        None => subsequence(types, 0..=2).boxed(),
    };
    let buffers = (
        prop_oneof![Just(32768u32), Just(4096), Just(16384), 256u32..=65536],
        prop_oneof![Just(None), Just(Some(32768u32)), Just(Some(65536))],
    );
    let socket = (
        any::<bool>(),
        prop_oneof![Just(true), Just(false)],
        prop_oneof![
            Just(RcvbufPlan::Default),
            (0u64..=1 << 20).prop_map(|bytes| RcvbufPlan::Request {
                bytes: bytes as i64
            })
        ],
        any::<bool>(),
        filter,
    );
    let policy = (reaction(), reaction(), reaction(), reaction()).prop_map(
        |(on_enobufs, on_ebusy, on_truncated, on_error)| DumpPolicy {
            on_enobufs,
            on_ebusy,
            on_truncated,
            on_error,
        },
    );
    (
        prop_oneof![Just(DumpRequest::Getlink), Just(DumpRequest::InetDiag)],
        1u64..=4,
        buffers,
        socket,
        policy,
        prop_oneof![Just(None), (100u32..=2000).prop_map(Some)],
    )
        .prop_map(
            |(
                request,
                count,
                (read_buffer, event_read_buffer),
                (subscribe, blocking, rcvbuf, no_enobufs, filter_types),
                policy,
                churn,
            )| HangCase {
                request,
                count,
                read_buffer,
                event_read_buffer,
                subscribe,
                blocking,
                rcvbuf,
                no_enobufs,
                filter_types,
                policy,
                churn,
            },
        )
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn drawn_cases_are_valid_scenarios() {
        let mut runner = TestRunner::deterministic();
        let s = strategy(&Default::default());
        for _ in 0..200 {
            let c = s.new_tree(&mut runner).unwrap().current();
            crate::scenario::assert_round_trips(&c.plan("drawn"));
        }
    }
}
