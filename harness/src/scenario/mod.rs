//! Scenario files: TOML read strictly into `Raw*` types, then compiled into a [`Plan`].
//!
//! [`Plan`]: crate::plan::Plan

mod compile;
mod diag;
mod files;
mod keys;
mod raw;
mod write;

pub use compile::{compile_str, load, load_source, Source};
pub use diag::{ScenarioError, ScenarioErrors};
pub use files::{collect, load_all};
#[cfg(test)]
pub(crate) use write::assert_round_trips;
pub use write::to_toml;
