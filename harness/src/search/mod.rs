//! Finding conditions instead of replaying them: threshold bisection, parameter sweeps
//! and property-based exploration. Every trial is an ordinary [`Plan`] run through the
//! [`Execute`] seam: one long-lived sandbox [`Session`] in production, a model-backed
//! executor in unit tests.
//!
//! [`Plan`]: crate::plan::Plan
//! [`Execute`]: crate::execute::Execute
//! [`Session`]: crate::exec::Session

pub mod axis;
pub mod bisect;
pub mod case;
pub mod explore;
pub mod hang_space;
pub mod space;
pub mod svg;
pub mod sweep;
pub mod threshold;

#[cfg(test)]
mod fake_tests;
