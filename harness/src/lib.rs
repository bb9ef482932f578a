//! nlstorm: floods netlink broadcast groups inside a private network namespace and
//! accounts exactly for what each receiver got, lost, and was told about.
#![warn(missing_docs)]

pub mod accounting;
pub mod bpf;
pub mod calibrate;
pub mod check;
pub mod child;
pub mod churn;
pub mod dump;
pub mod emit;
pub mod exec;
pub mod execute;
pub mod exit;
pub mod faults;
pub mod history;
pub mod model;
pub mod nlsock;
pub mod payload;
pub mod plan;
pub mod probe;
pub mod procnet;
pub mod receive;
pub mod record;
pub mod report;
pub mod repro;
pub mod rng;
pub mod run;
pub mod sandbox;
pub mod scenario;
pub mod schedule;
pub mod search;
pub mod units;
pub mod untrusted;
