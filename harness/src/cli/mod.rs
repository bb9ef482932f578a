//! Command implementations that are more than a few lines.

pub mod args;
pub mod threshold;
