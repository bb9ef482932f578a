//! One file per command; `main.rs` only parses the command line and maps the result
//! to an exit code.

pub mod args;
pub mod check;
pub mod explore;
pub mod probe;
pub mod qualify;
pub mod repro;
pub mod run;
pub mod sweep;
pub mod threshold;
pub mod trace;
pub mod validate;
pub mod vm;
