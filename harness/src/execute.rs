//! The seam between planning and the kernel: a [`Plan`] goes in, a [`History`] comes
//! out. The search drivers (threshold, sweep, explore) see only this trait, so they run
//! against the sandbox [`Session`](crate::exec::Session) in production and against a
//! model-backed executor in their unit tests, which need no privilege. Later
//! executors (a program under test, a kernel under qemu) implement the same trait.

use crate::exec::ExecError;
use crate::history::History;
use crate::model::{AdmitRule, BufferFacts};
use crate::plan::Plan;

mod child_session;
#[cfg(test)]
pub(crate) mod model_backed;

pub use child_session::ChildSession;

/// Runs plans and journals what happened.
pub trait Execute {
    /// `uname -r` of the kernel the plans run on.
    fn kernel_release(&self) -> &str;
    /// The buffer limits of the kernel the plans run on.
    fn facts(&self) -> &BufferFacts;
    /// The queue admission rule fitted to that kernel.
    fn rule(&self) -> AdmitRule;
    /// Runs one plan.
    fn execute(&self, plan: &Plan) -> Result<History, ExecError>;
}

impl Execute for crate::exec::Session {
    fn kernel_release(&self) -> &str {
        crate::exec::Session::kernel_release(self)
    }

    fn facts(&self) -> &BufferFacts {
        crate::exec::Session::facts(self)
    }

    fn rule(&self) -> AdmitRule {
        crate::exec::Session::rule(self)
    }

    fn execute(&self, plan: &Plan) -> Result<History, ExecError> {
        crate::exec::Session::execute(self, plan)
    }
}
