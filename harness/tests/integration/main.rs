//! Integration tests: the real `nlstorm` binary against the kernel it runs on, each run in
//! a namespace the run itself creates. Tests that need namespaces skip with one line when
//! the machine cannot create them, unless NLSTORM_REQUIRE_SANDBOX=1 (CI), where a skip
//! is a failure.

/// A test's skip line, written to the process's stderr itself: libtest captures
/// `eprintln!` and shows it only for a failing test, so a skip said that way would be
/// swallowed and the test would look as if it had passed.
macro_rules! skip_line {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod accounting;
mod capacity;
mod confinement;
mod dumps;
mod fidelity;
mod hangs;
mod incident;
mod input;
mod isolation;
mod privilege;
mod programs;
mod qualify;
mod readers;
mod replay;
mod repro;
mod rootless;
mod search;
mod support;
mod templates;
mod untrusted;
mod verdicts;
mod vm;
