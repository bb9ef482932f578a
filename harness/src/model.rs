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

/// When a broadcast is admitted to a receive queue. Kernels differ, so the probe fits
/// the rule to floods of unread queues instead of assuming one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdmitRule {
    /// `sk_rmem_alloc <= sk_rcvbuf` before charging (netlink_broadcast_deliver() up to
    /// the 2025 rmem wraparound fix): an unread queue holds `rcvbuf / truesize + 1`.
    RmemAtMostRcvbuf,
    /// `sk_rmem_alloc < sk_rcvbuf` before charging.
    RmemBelowRcvbuf,
    /// Charge first, admit if the queue was empty or the charge stays `<= sk_rcvbuf`
    /// (netlink_broadcast_deliver() after the wraparound fix): `max(1, rcvbuf / truesize)`.
    ChargedAtMostRcvbuf,
}

impl AdmitRule {
    /// The rule's name as the JSON spells it (`charged-at-most-rcvbuf`).
    pub fn name(self) -> &'static str {
        match self {
            AdmitRule::RmemAtMostRcvbuf => "rmem-at-most-rcvbuf",
            AdmitRule::RmemBelowRcvbuf => "rmem-below-rcvbuf",
            AdmitRule::ChargedAtMostRcvbuf => "charged-at-most-rcvbuf",
        }
    }

    /// The rule spelled as [`AdmitRule::name`] spells it.
    pub fn from_name(name: &str) -> Option<AdmitRule> {
        AdmitRule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// What an unread queue of equal messages holds under this rule.
    pub fn formula(self) -> &'static str {
        match self {
            AdmitRule::RmemAtMostRcvbuf => "an unread queue holds rcvbuf / truesize + 1",
            AdmitRule::RmemBelowRcvbuf => "an unread queue holds ceil(rcvbuf / truesize)",
            AdmitRule::ChargedAtMostRcvbuf => "an unread queue holds max(1, rcvbuf / truesize)",
        }
    }

    /// Every rule, in the order the fit tries them.
    pub const ALL: [AdmitRule; 3] = [
        AdmitRule::ChargedAtMostRcvbuf,
        AdmitRule::RmemAtMostRcvbuf,
        AdmitRule::RmemBelowRcvbuf,
    ];

    /// Does a message of `truesize` fit, given what is queued?
    pub fn admits(self, rmem: u64, truesize: u64, rcvbuf: u64) -> bool {
        match self {
            AdmitRule::RmemAtMostRcvbuf => rmem <= rcvbuf,
            AdmitRule::RmemBelowRcvbuf => rmem < rcvbuf,
            AdmitRule::ChargedAtMostRcvbuf => rmem == 0 || rmem + truesize <= rcvbuf,
        }
    }

    /// Messages of equal `truesize` an unread queue holds.
    pub fn capacity(self, rcvbuf: u64, truesize: u64) -> u64 {
        let truesize = truesize.max(1);
        match self {
            AdmitRule::RmemAtMostRcvbuf => rcvbuf / truesize + 1,
            AdmitRule::RmemBelowRcvbuf => rcvbuf.div_ceil(truesize).max(1),
            AdmitRule::ChargedAtMostRcvbuf => (rcvbuf / truesize).max(1),
        }
    }

    /// Messages admitted, in order, to an unread queue. Without NETLINK_NO_ENOBUFS the
    /// first refusal marks the socket congested and every later message is refused;
    /// with it, a later smaller message may still fit. `no_enobufs` selects which.
    pub fn queued(
        self,
        rcvbuf: u64,
        truesizes: impl IntoIterator<Item = u64>,
        no_enobufs: bool,
    ) -> u64 {
        let mut rmem = 0;
        let mut n = 0;
        for ts in truesizes {
            if self.admits(rmem, ts, rcvbuf) {
                rmem += ts;
                n += 1;
            } else if !no_enobufs {
                break;
            }
        }
        n
    }

    /// Smallest effective rcvbuf that holds every message of a burst with these
    /// truesizes, in order.
    pub fn rcvbuf_for(self, truesizes: &[u64]) -> u64 {
        let all: u64 = truesizes.iter().sum();
        let but_last = all - truesizes.last().copied().unwrap_or(0);
        match self {
            AdmitRule::RmemAtMostRcvbuf => but_last,
            AdmitRule::RmemBelowRcvbuf => but_last + 1,
            AdmitRule::ChargedAtMostRcvbuf => all,
        }
    }
}

/// How a receive-buffer request becomes the effective size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// No setsockopt.
    Default,
    /// SO_RCVBUF with the C int the kernel is handed (negative values included).
    Plain(i64),
    /// SO_RCVBUFFORCE with the C int the kernel is handed.
    Force(i64),
}

/// Which socket option set the buffer, spelt as the JSON and the table show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RcvbufOption {
    /// No setsockopt: net.core.rmem_default.
    #[serde(rename = "default")]
    Default,
    /// SO_RCVBUF.
    #[serde(rename = "SO_RCVBUF")]
    SoRcvbuf,
    /// SO_RCVBUFFORCE.
    #[serde(rename = "SO_RCVBUFFORCE")]
    SoRcvbufForce,
}

impl RcvbufOption {
    /// The JSON spelling.
    pub fn name(self) -> &'static str {
        match self {
            RcvbufOption::Default => "default",
            RcvbufOption::SoRcvbuf => "SO_RCVBUF",
            RcvbufOption::SoRcvbufForce => "SO_RCVBUFFORCE",
        }
    }
}

impl std::fmt::Display for RcvbufOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Padding and alignment apply, as the probe table uses them.
        f.pad(self.name())
    }
}

impl Request {
    /// The option this request sets.
    pub fn option(self) -> RcvbufOption {
        match self {
            Request::Default => RcvbufOption::Default,
            Request::Plain(_) => RcvbufOption::SoRcvbuf,
            Request::Force(_) => RcvbufOption::SoRcvbufForce,
        }
    }

    /// The bytes requested, if any.
    pub fn bytes(self) -> Option<i64> {
        match self {
            Request::Default => None,
            Request::Plain(v) | Request::Force(v) => Some(v),
        }
    }

    /// The request a fixed buffer plan makes; `None` for `rcvbuf-fit`, which the executor
    /// resolves from a calibrated burst.
    pub fn of(plan: &crate::plan::RcvbufPlan) -> Option<Request> {
        use crate::plan::RcvbufPlan;
        match *plan {
            RcvbufPlan::Default => Some(Request::Default),
            RcvbufPlan::Request { bytes } => Some(Request::Plain(bytes)),
            RcvbufPlan::Force { bytes } => Some(Request::Force(bytes)),
            RcvbufPlan::FitBurst { .. } => None,
        }
    }
}

/// Messages that always overflow an unread queue of `rcvbuf` bytes whatever the rule:
/// no message costs 256 B of truesize or less (the sk_buff alone costs more), so it
/// holds at most `rcvbuf / 256 + 1`. A bound from the kernel's structures, not the model.
pub fn overflow_bound(rcvbuf: u64) -> u64 {
    rcvbuf / 256 + 2
}

impl BufferFacts {
    /// The effective buffer a request gets, as sk_setsockopt() computes it:
    /// SO_RCVBUF takes `min_t(u32, val, rmem_max)`, so a negative int reads as a huge
    /// unsigned value and gets rmem_max; SO_RCVBUFFORCE takes `max(val, 0)` and skips the
    /// rmem_max clamp. __sock_set_rcvbuf() then caps at INT_MAX / 2, doubles ("to allow
    /// space for bookkeeping overhead", man 7 socket), and never goes below
    /// SOCK_MIN_RCVBUF.
    pub fn effective(&self, req: Request) -> u64 {
        let int_max = i32::MAX as u64;
        let set = |v: u64| (v.min(int_max / 2) * 2).max(self.sock_min_rcvbuf);
        match req {
            Request::Default => self.rmem_default,
            Request::Plain(v) => set(u64::from(as_c_int(v) as u32).min(self.rmem_max)),
            Request::Force(v) => set(as_c_int(v).max(0) as u64),
        }
    }

    /// Smallest plain SO_RCVBUF request whose effective size is at least `rcvbuf`, or
    /// `None` when rmem_max forbids it (SO_RCVBUFFORCE would be needed).
    pub fn request_for(&self, rcvbuf: u64) -> Option<i64> {
        let req = rcvbuf.div_ceil(2);
        (req <= self.rmem_max).then_some(req as i64)
    }
}

/// The C int setsockopt(2) hands the kernel. Plans only hold values in `int`'s range
/// ([`crate::plan::RcvbufRequest`]); the saturation only keeps a hand-built value from
/// wrapping.
pub fn as_c_int(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
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
    fn negative_requests_follow_the_kernels_casts() {
        // SO_RCVBUF compares as u32: -1 is 4294967295, clamped to rmem_max, doubled.
        assert_eq!(FACTS.effective(Request::Plain(-1)), 2 * 212_992);
        assert_eq!(
            FACTS.effective(Request::Plain(i64::from(i32::MIN))),
            2 * 212_992
        );
        // SO_RCVBUFFORCE takes max(val, 0): the floor.
        assert_eq!(FACTS.effective(Request::Force(-1)), 2304);
        assert_eq!(FACTS.effective(Request::Force(i64::from(i32::MIN))), 2304);
        // Without the rmem_max clamp a negative plain request would be capped at
        // INT_MAX / 2 and doubled instead.
        let open = BufferFacts {
            rmem_max: i32::MAX as u64,
            ..FACTS
        };
        assert_eq!(
            open.effective(Request::Plain(-1)),
            (i32::MAX as u64 / 2) * 2
        );
    }

    #[test]
    fn option_names_are_the_json_names() {
        for o in [
            RcvbufOption::Default,
            RcvbufOption::SoRcvbuf,
            RcvbufOption::SoRcvbufForce,
        ] {
            assert_eq!(
                serde_json::to_string(&o).unwrap(),
                format!("\"{}\"", o.name())
            );
        }
    }

    #[test]
    fn rule_names_are_the_json_names() {
        for r in AdmitRule::ALL {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.name())
            );
        }
    }

    #[test]
    fn capacity_under_each_rule() {
        let r = AdmitRule::RmemAtMostRcvbuf;
        assert_eq!(r.capacity(2304, 1280), 2);
        assert_eq!(
            r.capacity(2560, 1280),
            3,
            "rmem == rcvbuf still admits one more"
        );
        assert_eq!(AdmitRule::RmemBelowRcvbuf.capacity(2560, 1280), 2);
        let c = AdmitRule::ChargedAtMostRcvbuf;
        assert_eq!(c.capacity(2304, 1280), 1);
        assert_eq!(c.capacity(2304, 4352), 1, "an empty queue always takes one");
        assert_eq!(c.capacity(32768, 1280), 25);
        assert_eq!(r.queued(2304, [1280; 10], false), 2);
        assert_eq!(r.queued(2304, [768, 768, 768, 768, 4096], false), 4);
        assert_eq!(c.queued(2304, [1280, 4352, 832], false), 1);
        assert_eq!(
            c.queued(2304, [1280, 4352, 832], true),
            2,
            "NO_ENOBUFS: no congestion bit"
        );
        assert_eq!(r.queued(1 << 20, [1000; 5], false), 5);
        for rule in AdmitRule::ALL {
            for (rcvbuf, ts) in [(2304, 832), (8192, 1280), (32768, 4352)] {
                assert_eq!(
                    rule.queued(rcvbuf, std::iter::repeat_n(ts, 1000), false),
                    rule.capacity(rcvbuf, ts),
                    "{rule:?}"
                );
            }
        }
    }

    #[test]
    fn fitted_buffers_hold_exactly_the_burst() {
        for rule in AdmitRule::ALL {
            for (burst, ts) in [(36usize, 1280u64), (1, 768), (1000, 4864)] {
                let sizes = vec![ts; burst];
                let need = rule.rcvbuf_for(&sizes);
                assert!(
                    rule.queued(need, sizes.iter().copied(), false) >= burst as u64,
                    "{rule:?}"
                );
                assert!(
                    need == 0
                        || rule.queued(need - 1, sizes.iter().copied(), false) < burst as u64
                        || burst == 1,
                    "{rule:?} {burst}"
                );
            }
        }
        assert_eq!(FACTS.request_for(44_801), Some(22_401));
        assert_eq!(FACTS.request_for(10 << 20), None);
    }
}
