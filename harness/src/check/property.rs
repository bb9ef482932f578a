//! The properties `nlstorm explore` searches for a counterexample to: what must hold for
//! every case, whether a judged run breaks it (and why, in words), and the expectations
//! that make `nlstorm run` fail the way the case did.

use serde::{Deserialize, Serialize};

use super::{ModelVerdict, ReceiverResult, Verdict};
use crate::plan::{Cmp, Expectation, Metric};

/// What must hold for every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Property {
    /// No receiver loses a message.
    NoLoss,
    /// No receiver is told ENOBUFS.
    NoEnobufs,
    /// Loss equals the kernel's drop count, and ENOBUFS appears exactly when drops do
    /// (never with NETLINK_NO_ENOBUFS).
    Accounting,
    /// An unread queue holds exactly what the calibrated model predicts.
    Model,
    /// No dump client hangs (explores the dump space: buffers, filters, policies, churn).
    NoHang,
    /// Every dump that ends with NLMSG_DONE lists every object present throughout it
    /// (explores the dump space, each client verifying its dumps).
    CompleteDumps,
}

impl Property {
    /// As written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Property::NoLoss => "no-loss",
            Property::NoEnobufs => "no-enobufs",
            Property::Accounting => "accounting",
            Property::Model => "model",
            Property::NoHang => "no-hang",
            Property::CompleteDumps => "complete-dumps",
        }
    }

    /// Whether the property is about dump clients (the dump space) rather than
    /// broadcast receivers.
    pub fn about_dumps(self) -> bool {
        matches!(self, Property::NoHang | Property::CompleteDumps)
    }

    /// Why `v` breaks the property, if it does; `no_enobufs` is the receivers' setting.
    pub fn broken(self, v: &Verdict, no_enobufs: bool) -> Option<String> {
        if self.about_dumps() {
            return v.dumps.iter().find_map(|d| self.broken_by_dump(&d.record));
        }
        v.receivers
            .iter()
            .find_map(|r| self.broken_by(r, no_enobufs))
    }

    fn broken_by_dump(self, r: &crate::history::DumpRecord) -> Option<String> {
        match self {
            Property::NoHang => r.hangs.first().map(|h| {
                format!(
                    "dump client {} hung ({}): {}",
                    r.name,
                    h.class.name(),
                    h.reason
                )
            }),
            Property::CompleteDumps => r.first_short.as_ref().map(|first| {
                format!(
                    "dump client {}: {} of {} verified dumps were short; {first}",
                    r.name, r.short_dumps, r.verified
                )
            }),
            _ => None,
        }
    }

    fn broken_by(self, r: &ReceiverResult, no_enobufs: bool) -> Option<String> {
        let name = &r.name;
        match self {
            Property::NoLoss => (r.lost > 0)
                .then(|| format!("receiver {name} lost {} of {} messages", r.lost, r.sent)),
            Property::NoEnobufs => (r.enobufs > 0)
                .then(|| format!("receiver {name} was told ENOBUFS {} times", r.enobufs)),
            Property::Accounting => {
                let drops = r.kernel_drops?;
                if drops != r.lost {
                    Some(format!(
                        "receiver {name}: lost {} but the kernel counted {drops} drops",
                        r.lost
                    ))
                } else if r.enobufs > drops {
                    // One ENOBUFS per overrun episode, and every episode drops.
                    Some(format!(
                        "receiver {name}: {} ENOBUFS for {drops} drops",
                        r.enobufs
                    ))
                } else if drops > 0 && r.enobufs == 0 && !no_enobufs {
                    Some(format!(
                        "receiver {name}: {drops} drops but no ENOBUFS without NETLINK_NO_ENOBUFS"
                    ))
                } else if no_enobufs && r.enobufs > 0 {
                    Some(format!(
                        "receiver {name}: ENOBUFS despite NETLINK_NO_ENOBUFS"
                    ))
                } else {
                    None
                }
            }
            Property::NoHang | Property::CompleteDumps => None,
            Property::Model => (r.model == ModelVerdict::Disagrees).then(|| {
                format!(
                    "receiver {name}: lost {} where the model predicts {} (capacity {})",
                    r.lost,
                    r.predicted_lost.map_or("-".into(), |v| v.to_string()),
                    r.predicted_capacity.map_or("-".into(), |v| v.to_string())
                )
            }),
        }
    }

    /// A dump client's expectations that make `nlstorm run` fail the way the case did.
    pub fn dump_expectations(self, location: &str) -> Vec<crate::plan::DumpExpectation> {
        let metric = match self {
            Property::NoHang => crate::plan::DumpMetric::Hangs,
            Property::CompleteDumps => crate::plan::DumpMetric::ShortDumps,
            _ => return vec![],
        };
        vec![Expectation {
            metric,
            cmp: Cmp::Eq,
            value: 0,
            location: location.into(),
        }]
    }

    /// A receiver's expectations that make `nlstorm run` fail the way the case failed.
    pub fn expectations(self, r: &ReceiverResult, location: &str) -> Vec<Expectation> {
        let e = |metric, value| Expectation {
            metric,
            cmp: Cmp::Eq,
            value,
            location: location.into(),
        };
        match self {
            Property::NoLoss => vec![e(Metric::Lost, 0)],
            Property::NoEnobufs => vec![e(Metric::Enobufs, 0)],
            // Drops must equal loss; the case failed because they did not.
            Property::Accounting => vec![e(Metric::KernelDrops, r.lost)],
            Property::Model => r
                .predicted_lost
                .map(|p| vec![e(Metric::Lost, p)])
                .unwrap_or_default(),
            Property::NoHang | Property::CompleteDumps => vec![],
        }
    }
}
