//! A sandbox child with a fault, for the integration tests of abandonment
//! (tests/integration/hangs.rs): the test runs nlstorm's parent side with this program
//! as the child executable. Built by `cargo test`; never part of the nlstorm binary.
//!
//! The fault is the name it is started by (a symlink the test makes): `ignores-signals`
//! ignores every signal it can and never answers, so only SIGKILL by PID ends it;
//! `sender-blocks` is the real child with every emitter stuck in pause(2).

use std::sync::atomic::Ordering;

fn main() {
    // Programs under test are started through this binary too (it is the sandbox).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == nlstorm::program::confine::INIT_ARG)
    {
        std::process::exit(nlstorm::program::confine::init_main());
    }
    let argv0 = std::env::args().next().unwrap_or_default();
    let fault = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match fault.as_str() {
        "ignores-signals" => {
            for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
                // SAFETY: SIG_IGN installs no handler; this process runs nothing else.
                unsafe { libc::signal(sig, libc::SIG_IGN) };
            }
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        "sender-blocks" => {
            nlstorm::faults::SENDER_BLOCKS.store(true, Ordering::Relaxed);
            std::process::exit(nlstorm::child::child_main());
        }
        other => {
            eprintln!("faulty_child: start me as ignores-signals or sender-blocks, not {other:?}");
            std::process::exit(2);
        }
    }
}
