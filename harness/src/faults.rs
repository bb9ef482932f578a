//! Faults the harness's own tests inject into a sandbox child, to prove that the
//! executor abandons what it cannot end. This module exists only with the cargo feature
//! `fault-injection`, which only the test build enables (the crate's dev-dependency on
//! itself), so the release binary holds no hook. Even there, only a test program that
//! links the library (`examples/faulty_child.rs`) and runs as the sandbox child sets it.

use std::sync::atomic::AtomicBool;

/// Every emitter blocks in pause(2) for good instead of sending.
pub static SENDER_BLOCKS: AtomicBool = AtomicBool::new(false);
