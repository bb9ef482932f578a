//! nlstorm: floods netlink broadcast groups inside a private network namespace and
//! accounts exactly for what each receiver got, lost, and was told about.
#![warn(missing_docs)]

pub mod accounting;
pub mod payload;
pub mod plan;
pub mod rng;
pub mod scenario;
pub mod schedule;
pub mod units;
