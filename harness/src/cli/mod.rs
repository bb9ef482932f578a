//! One file per command; `main.rs` only parses the command line and maps the result
//! to an exit code. A command that fails returns a [`Failure`]; `main` says it under
//! the command's name and exits with its kind's code.

use std::fmt::Display;

pub use nlstorm::errors::{Classified, Failure, Kind};

/// Bad input (exit 2), said in `message`.
pub fn bad_input(message: impl Display) -> anyhow::Error {
    Failure::bad_input(message).into()
}

/// A library error (a plan, search, sandbox or guest that could not run) as the failure
/// of its kind, with its causes.
pub fn failed(e: impl Classified) -> anyhow::Error {
    Failure::of(&e).into()
}

/// A failure a sandbox child reported by its exit code, in its words.
pub fn reported(code: i32, message: String) -> anyhow::Error {
    failure(Kind::from_exit_code(code), message)
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
