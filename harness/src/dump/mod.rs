//! Dump workloads: clients that poll a kernel dump like a monitoring agent, and the
//! watchdog that catches a receive call outstanding past its deadline, records what the
//! kernel and the client looked like at that moment, classifies it and recovers the
//! thread without ending the run.

pub mod client;
pub mod objects;
pub mod wire;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::check::classify;
use crate::history::{Hang, HangClass, Observation};
pub use client::{ClientState, DumpClient};

/// What the watchdog wants done after looking at one client.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing is wrong.
    Fine,
    /// A hang was recorded; interrupt the client's call.
    Interrupt,
}

/// How long a whole dump may stay unanswered: ten call deadlines.
pub fn dump_deadline(call_deadline: Duration) -> Duration {
    call_deadline * 10
}

fn read_task(tid: i32, file: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/{file}"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Looks at one client: a call outstanding past `deadline`, or a client that stopped
/// reading while its dump was half-done, becomes a [`Hang`] with evidence.
pub fn watch(st: &ClientState, deadline: Duration, t0: Instant) -> Action {
    let now = Instant::now().saturating_duration_since(t0).as_nanos() as u64;
    let started = st.call_started.load(Ordering::Acquire);
    if started != 0 && !st.recovering.load(Ordering::Acquire) {
        let waited = now.saturating_sub(started - 1);
        if waited > deadline.as_nanos() as u64 {
            record(st, now, waited, false);
            st.recovering.store(true, Ordering::Release);
            return Action::Interrupt;
        }
    }
    // A dump whose calls keep returning (broadcasts, stale replies) but whose reply never
    // ends is as hung as a call that never returns.
    let dump_started = st.dump_started.load(Ordering::Acquire);
    if dump_started != 0 && !st.recovering.load(Ordering::Acquire) {
        let waited = now.saturating_sub(dump_started - 1);
        if waited > dump_deadline(deadline).as_nanos() as u64 {
            record(st, now, waited, false);
            st.recovering.store(true, Ordering::Release);
            return Action::Interrupt;
        }
    }
    let stopped = st.stopped_at.load(Ordering::Acquire);
    if stopped != 0 && now.saturating_sub(stopped - 1) > deadline.as_nanos() as u64 {
        let already = st
            .hangs
            .lock()
            .expect("not poisoned")
            .iter()
            .any(|h| h.class == HangClass::StoppedMidDump);
        // One record per stopped client: /proc/net/netlink is read only until then.
        if !already
            && crate::procnet::find(st.inode)
                .ok()
                .flatten()
                .is_some_and(|r| r.dump == 1 || r.rmem > 0)
        {
            record(st, now, now.saturating_sub(stopped - 1), true);
        }
    }
    Action::Fine
}

fn record(st: &ClientState, now: u64, waited: u64, client_stopped: bool) {
    let tid = st.tid.load(Ordering::Acquire);
    let observation = Observation {
        client_stopped,
        truncated_this_dump: st.truncated_this_dump.load(Ordering::Acquire),
        row: crate::procnet::find(st.inode).ok().flatten(),
        drops_at_request: st.drops_at_request.load(Ordering::Acquire),
    };
    let (class, reason) = classify(&observation);
    let hang = Hang {
        at_ns: now,
        waited_ns: waited,
        waiting_seq: st.waiting_seq.load(Ordering::Acquire),
        class,
        reason,
        observation,
        wchan: read_task(tid, "wchan"),
        stack: read_task(tid, "stack"),
        recent: st.recent_lines(),
        recovered: !client_stopped,
    };
    st.hangs.lock().expect("not poisoned").push(hang);
}
