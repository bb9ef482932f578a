//! Executes a [`Plan`](crate::plan::Plan) inside a fresh sandbox and returns its
//! [`History`](crate::history::History). Runs in the re-exec'd child process: [`execute`]
//! (or [`Session::enter`]) must be its first act, while single-threaded.
//!
//! `session` enters the sandbox and runs one plan; `predict` calibrates the emitters and
//! predicts each receiver's capacity; `flood` starts every participant; `sampler` records
//! the queues meanwhile; `watchdog` enforces the deadline and abandons what does not
//! return (waking blocked calls with `sys::signals`); `error` says why a run
//! could not be carried out.

mod error;
mod flood;
mod predict;
mod sampler;
mod seqnums;
mod session;
mod watchdog;

pub use crate::sys::signals::install_wakeup_handler;
pub use error::ExecError;
pub use session::{device_name, devices_for, execute, Session};
