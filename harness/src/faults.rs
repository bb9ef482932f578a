//! Faults the harness's own tests inject into a sandbox child, to prove that the
//! executor abandons what it cannot end. Nothing in the `nlstorm` binary sets them and
//! no environment variable or flag reaches them: only a test program that links the
//! library (`examples/faulty_child.rs`) and runs as the sandbox child does.

use std::sync::atomic::AtomicBool;

/// Every emitter blocks in pause(2) for good instead of sending.
#[doc(hidden)]
pub static SENDER_BLOCKS: AtomicBool = AtomicBool::new(false);
