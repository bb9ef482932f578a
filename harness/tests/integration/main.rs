//! Integration tests: the real `nlstorm` binary against the kernel it runs on, each run in
//! a namespace the run itself creates. Tests that need namespaces skip with one line when
//! the machine cannot create them, unless NLSTORM_REQUIRE_SANDBOX=1 (CI), where a skip
//! is a failure.

mod accounting;
mod capacity;
mod dumps;
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
mod untrusted;
mod vm;
