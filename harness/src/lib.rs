//! nlstorm: floods netlink broadcast groups inside a private network namespace and
//! accounts exactly for what each receiver got, lost, and was told about.
//!
//! The pipeline, one module (or directory) per stage:
//!
//! ```text
//!  scenario file ──scenario──▶ plan::Plan ──execute::Execute──▶ history::History ──check──▶ verdict ──report──▶ table, JSON, JUnit
//!  (untrusted)    (compile,     (pure data)  │                     (every record of       (expectations,       (record: run records,
//!                 untrusted)                 │                      a run; workers         hang classes,         repro: C)
//!                                            │                      fill it)               dump completeness,
//!                                            │                                             the model's figure)
//!                   run drives it with one plan per scenario (in its own child),
//!                   search (threshold, sweep, explore) with many plans in one session
//!
//!  probe + qualify::dumps' frozen scenarios (in the sandbox, judged by check)
//!        ──▶ qualify::Profile (facts with ids) ──qualify::diff──▶ differences in words
//!                                             ──qualify::table──report──▶ kernel table (text, HTML)
//!
//!  vm: any command above on another kernel, in a qemu guest whose init is nlstorm
//!      (vm::guest); the guest's files and exit code come back over a serial port
//!
//!  Execute implementations:
//!    exec::Session          in the sandbox process (exec/: session, predict, flood,
//!                           sampler, watchdog, signals): sandbox, emit, receive, dump, churn,
//!                           calibrate, model (the fitted admission rule), procnet
//!    execute::ChildSession  in the parent: streams plans to one sandbox child (child)
//!    model-backed fake      unit tests of the search drivers, no privilege
//! ```
//!
//! All `unsafe` code is in `sys` (netlink sockets, fork-to-exec set-up, the wake-up
//! signal), each block with a SAFETY comment; the rest of the crate denies `unsafe_code`.
//!
//! A command that fails ends with an [`errors::Failure`]: bad input, the environment or
//! the harness, each kind with its exit code, chosen once, in `main`.
//!
//! No two top-level modules import each other, directly or round a loop. Lower layers
//! never import higher ones: `plan` is pure data (trace events included); `history`
//! imports only `plan`, `model`,
//! `accounting` and `procnet`; `check` only `history`, `plan`, `model` (and the leaf
//! modules `exit` and `units`); the workers
//! import `history` to fill it.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod accounting;
pub mod adapter;
pub mod bpf;
pub mod calibrate;
pub mod check;
pub mod child;
pub mod churn;
pub mod dump;
pub mod emit;
pub mod errors;
pub mod exec;
pub mod execute;
pub mod exit;
#[cfg(feature = "fault-injection")]
pub mod faults;
pub mod history;
pub mod model;
pub mod payload;
pub mod plan;
pub mod probe;
pub mod procnet;
pub mod program;
pub mod qualify;
pub mod receive;
pub mod record;
pub mod report;
pub mod repro;
pub mod rng;
pub mod rtlink;
pub mod run;
pub mod sandbox;
pub mod scenario;
pub mod schedule;
pub mod search;
pub mod steps;
#[allow(unsafe_code)]
#[deny(clippy::undocumented_unsafe_blocks)]
pub mod sys;
pub mod trace;
pub mod units;
pub mod untrusted;
pub mod vm;
