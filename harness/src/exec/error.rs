//! Why a run could not be carried out, and what the user does about each cause.

use crate::errors::{Classified, Kind};
use crate::receive::ReceiverError;
use crate::sandbox::SandboxError;

/// Why a run could not be carried out. Losses and ENOBUFS are never errors.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Building the sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A receiver could not be set up.
    #[error(transparent)]
    Receiver(#[from] ReceiverError),
    /// The scenario asks for something this kernel cannot do (e.g. a payload smaller
    /// than the kernel's own uevent header).
    #[error("{0}")]
    Unsupported(String),
    /// The scenario needs something this machine does not have (a CPU it pins to):
    /// the run cannot be made here, which is not the scenario's fault.
    #[error("{0}")]
    MachineLacks(String),
    /// The sandbox process failed the plan; `code` is the exit code it gave.
    #[error("{message}")]
    Child {
        /// Exit code (see `exit.rs`).
        code: i32,
        /// What went wrong, as the child said it.
        message: String,
    },
    /// A program under test could not be run.
    #[error(transparent)]
    Program(#[from] crate::program::ProgramError),
    /// Anything else the harness failed at.
    #[error("failed to {what}")]
    Io {
        /// The step.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Classified for ExecError {
    fn kind(&self) -> Kind {
        match self {
            ExecError::Sandbox(e) if e.is_environment() => Kind::Environment,
            ExecError::Receiver(e) if e.is_permission() => Kind::Environment,
            ExecError::Io { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::Unsupported
                ) =>
            {
                Kind::Environment
            }
            ExecError::Unsupported(_) => Kind::BadInput,
            ExecError::MachineLacks(_) => Kind::Environment,
            ExecError::Program(e) => e.kind(),
            ExecError::Child { code, .. } => Kind::from_exit_code(*code),
            _ => Kind::Harness,
        }
    }
}

pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExecError {
    let what = what.into();
    move |source| ExecError::Io { what, source }
}
