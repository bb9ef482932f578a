//! Finding conditions instead of replaying them: threshold bisection, parameter sweeps
//! and property-based exploration. Every trial is an ordinary [`Plan`] run in one
//! long-lived sandbox [`Session`].
//!
//! [`Plan`]: crate::plan::Plan
//! [`Session`]: crate::exec::Session

pub mod axis;
pub mod bisect;
pub mod case;
pub mod explore;
pub mod hang_space;
pub mod svg;
pub mod sweep;
pub mod threshold;
