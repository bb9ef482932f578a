//! The capacity model: the oracle measured figures are compared against. Its constants
//! (SOCK_MIN_RCVBUF, truesize per message, the admission rule) are measured on the
//! running kernel by the probe and by each run's calibration, never hard-coded.

use serde::{Deserialize, Serialize};

/// Kernel settings that shape receive buffers, read inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferFacts {
    /// Smallest effective receive buffer (setsockopt(SO_RCVBUF, 0) reads back as this).
    pub sock_min_rcvbuf: u64,
    /// net.core.rmem_max: cap on SO_RCVBUF requests.
    pub rmem_max: u64,
    /// net.core.rmem_default: what a socket gets without setsockopt.
    pub rmem_default: u64,
}

/// When a broadcast is admitted to a receive queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdmitRule {
    /// `sk_rmem_alloc <= sk_rcvbuf` before charging (netlink_broadcast_deliver() since 2.6).
    RmemAtMostRcvbuf,
    /// `sk_rmem_alloc < sk_rcvbuf` before charging.
    RmemBelowRcvbuf,
}

impl AdmitRule {
    /// Does a message fit, given what is queued?
    pub fn admits(self, rmem: u64, rcvbuf: u64) -> bool {
        match self {
            AdmitRule::RmemAtMostRcvbuf => rmem <= rcvbuf,
            AdmitRule::RmemBelowRcvbuf => rmem < rcvbuf,
        }
    }

    /// Messages of equal `truesize` an unread queue holds.
    pub fn capacity(self, rcvbuf: u64, truesize: u64) -> u64 {
        let truesize = truesize.max(1);
        match self {
            AdmitRule::RmemAtMostRcvbuf => rcvbuf / truesize + 1,
            AdmitRule::RmemBelowRcvbuf => rcvbuf.div_ceil(truesize),
        }
    }

    /// Messages admitted, in order, to an unread queue: once one is refused the queue can
    /// only grow, so every later one is refused too.
    pub fn queued(self, rcvbuf: u64, truesizes: impl IntoIterator<Item = u64>) -> u64 {
        let mut rmem = 0;
        let mut n = 0;
        for ts in truesizes {
            if !self.admits(rmem, rcvbuf) {
                break;
            }
            rmem += ts;
            n += 1;
        }
        n
    }

    /// Smallest effective rcvbuf that holds `burst` messages of `truesize`.
    pub fn rcvbuf_for(self, burst: u64, truesize: u64) -> u64 {
        match self {
            AdmitRule::RmemAtMostRcvbuf => burst.saturating_sub(1) * truesize,
            AdmitRule::RmemBelowRcvbuf => burst.saturating_sub(1) * truesize + 1,
        }
    }
}

/// How a receive-buffer request becomes the effective size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// No setsockopt.
    Default,
    /// SO_RCVBUF.
    Plain(u64),
    /// SO_RCVBUFFORCE.
    Force(u64),
}

impl BufferFacts {
    /// The effective buffer a request gets: sock_setsockopt() clamps a plain request to
    /// rmem_max, doubles it ("to allow space for bookkeeping overhead", man 7 socket), and
    /// never goes below SOCK_MIN_RCVBUF. FORCE skips the rmem_max clamp.
    pub fn effective(&self, req: Request) -> u64 {
        let int_max = i32::MAX as u64;
        match req {
            Request::Default => self.rmem_default,
            Request::Plain(v) => {
                (v.min(self.rmem_max).min(int_max / 2) * 2).max(self.sock_min_rcvbuf)
            }
            Request::Force(v) => (v.min(int_max / 2) * 2).max(self.sock_min_rcvbuf),
        }
    }

    /// Smallest plain SO_RCVBUF request whose effective size is at least `rcvbuf`, or
    /// `None` when rmem_max forbids it (SO_RCVBUFFORCE would be needed).
    pub fn request_for(&self, rcvbuf: u64) -> Option<u64> {
        let req = rcvbuf.div_ceil(2);
        (req <= self.rmem_max).then_some(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACTS: BufferFacts = BufferFacts {
        sock_min_rcvbuf: 2304,
        rmem_max: 212_992,
        rmem_default: 212_992,
    };

    #[test]
    fn effective_sizes_follow_sock_setsockopt() {
        // Incident 1: a copied SO_RCVBUF=1024 becomes SOCK_MIN_RCVBUF, not 2048.
        assert_eq!(FACTS.effective(Request::Plain(1024)), 2304);
        assert_eq!(FACTS.effective(Request::Plain(0)), 2304);
        assert_eq!(FACTS.effective(Request::Plain(65536)), 131_072);
        assert_eq!(FACTS.effective(Request::Plain(1 << 30)), 2 * 212_992);
        assert_eq!(FACTS.effective(Request::Force(1 << 20)), 2 << 20);
        assert_eq!(FACTS.effective(Request::Default), 212_992);
    }

    #[test]
    fn capacity_counts_the_message_that_crosses_the_limit() {
        let r = AdmitRule::RmemAtMostRcvbuf;
        assert_eq!(r.capacity(2304, 1280), 2);
        assert_eq!(
            r.capacity(2560, 1280),
            3,
            "rmem == rcvbuf still admits one more"
        );
        assert_eq!(AdmitRule::RmemBelowRcvbuf.capacity(2560, 1280), 2);
        assert_eq!(r.queued(2304, [1280; 10]), 2);
        assert_eq!(r.queued(2304, [768, 768, 768, 768, 4096]), 4);
        assert_eq!(r.queued(1 << 20, [1000; 5]), 5);
    }

    #[test]
    fn fitted_buffers_hold_exactly_the_burst() {
        for rule in [AdmitRule::RmemAtMostRcvbuf, AdmitRule::RmemBelowRcvbuf] {
            for (burst, ts) in [(36, 1280), (1, 768), (1000, 4864)] {
                let need = rule.rcvbuf_for(burst, ts);
                assert!(rule.capacity(need, ts) >= burst);
                assert!(need == 0 || rule.capacity(need - 1, ts) < burst);
            }
        }
        assert_eq!(FACTS.request_for(44_801), Some(22_401));
        assert_eq!(FACTS.request_for(10 << 20), None);
    }
}
