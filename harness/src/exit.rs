//! Documented exit codes: CI must tell a finding from bad input from a broken runner.

/// Every expectation held.
pub const PASS: i32 = 0;
/// An expectation failed: a finding about the kernel or the receiver configuration.
pub const FINDING: i32 = 1;
/// The scenario file or command line is wrong.
pub const BAD_INPUT: i32 = 2;
/// This machine cannot run it (no privilege for namespaces, missing capability).
pub const ENVIRONMENT: i32 = 3;
/// nlstorm itself failed (including a broken accounting invariant).
pub const HARNESS: i32 = 4;
