//! One file per command; `main.rs` only parses the command line and maps the result
//! to an exit code. A command that fails returns a [`Failure`]; `main` says it under
//! the command's name and exits with its kind's code.

use std::fmt::Display;

pub use nlstorm::errors::{Failure, Kind};

/// Bad input (exit 2), said in `message`.
pub fn bad_input(message: impl Display) -> anyhow::Error {
    Failure::bad_input(message).into()
}

/// A plan or search that could not run, as the failure of its kind, with its causes.
pub fn exec_failed(e: nlstorm::exec::ExecError) -> anyhow::Error {
    failure(e.kind(), nlstorm::child::error_chain(&e))
}

/// Bad input whose diagnostics (file:line:col: ...) are already on stderr.
pub fn diagnosed() -> anyhow::Error {
    Failure::already_said(Kind::BadInput).into()
}

/// A failure of `kind`, said in `message`.
pub fn failure(kind: Kind, message: impl Display) -> anyhow::Error {
    Failure::new(kind, message).into()
}

pub mod args;
pub mod check;
pub mod explore;
pub mod probe;
pub mod progress;
pub mod qualify;
pub mod repro;
pub mod run;
pub mod sweep;
pub mod threshold;
pub mod trace;
pub mod validate;
pub mod vm;
