//! Command implementations that are more than a few lines.

pub mod args;
pub mod check;
pub mod explore;
pub mod repro;
pub mod sweep;
pub mod threshold;
