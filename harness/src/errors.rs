//! How a command ends when it does not end with a verdict. Every error nlstorm can name
//! is one of three kinds a user acts on differently (fix the input, fix the machine,
//! report a bug), and the kind alone chooses the documented exit code, here and nowhere
//! else: the library's error types say which kind they are, a command returns a
//! [`Failure`], and `main` turns it into words on stderr and the code.

use std::fmt;

use crate::exit;

/// What the user does about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The scenario file, run record or command line is wrong (exit 2).
    BadInput,
    /// This machine cannot run it: no privilege for namespaces, a missing capability,
    /// program or kernel module (exit 3).
    Environment,
    /// nlstorm itself failed, including a broken accounting invariant (exit 4).
    Harness,
}

impl Kind {
    /// The documented exit code of this kind.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::BadInput => exit::BAD_INPUT,
            Kind::Environment => exit::ENVIRONMENT,
            Kind::Harness => exit::HARNESS,
        }
    }

    /// The kind a sandbox child or a guest reported by its exit code. A code that is no
    /// failure's (a pass or a finding sent where a failure was due) is the harness's.
    pub fn from_exit_code(code: i32) -> Kind {
        match code {
            exit::BAD_INPUT => Kind::BadInput,
            exit::ENVIRONMENT => Kind::Environment,
            _ => Kind::Harness,
        }
    }
}

/// An error that knows which [`Kind`] of failure it is: the library's error types
/// classify themselves, and a command turns any of them into a [`Failure`] the same way.
pub trait Classified: std::error::Error {
    /// What the user does about this error.
    fn kind(&self) -> Kind;
}

/// A command's failure: its kind, and the words `main` prints under the command's name
/// (none when the command already said everything, as for a list of diagnostics).
#[derive(Debug)]
pub struct Failure {
    kind: Kind,
    message: Option<String>,
}

impl Failure {
    /// A failure of `kind`, said in `message`.
    pub fn new(kind: Kind, message: impl fmt::Display) -> Failure {
        Failure {
            kind,
            message: Some(message.to_string()),
        }
    }

    /// `e` as the failure of its kind, said with its causes (`a: b: c`).
    pub fn of(e: &dyn Classified) -> Failure {
        Failure::new(e.kind(), chain(e))
    }

    /// Bad input, said in `message`.
    pub fn bad_input(message: impl fmt::Display) -> Failure {
        Failure::new(Kind::BadInput, message)
    }

    /// A failure whose words are already on stderr.
    pub fn already_said(kind: Kind) -> Failure {
        Failure {
            kind,
            message: None,
        }
    }

    /// What the user does about it.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The words still to say, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message.as_deref().unwrap_or("(said above)"))
    }
}

impl std::error::Error for Failure {}

/// `error: cause: cause`, for one-line messages.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_documented_code_and_comes_back_from_it() {
        for (kind, code) in [
            (Kind::BadInput, 2),
            (Kind::Environment, 3),
            (Kind::Harness, 4),
        ] {
            assert_eq!(kind.exit_code(), code);
            assert_eq!(Kind::from_exit_code(code), kind);
        }
        assert_eq!(Kind::from_exit_code(exit::PASS), Kind::Harness);
        assert_eq!(Kind::from_exit_code(exit::FINDING), Kind::Harness);
    }
}
