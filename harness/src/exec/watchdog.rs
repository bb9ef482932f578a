//! The watchdog: the flood's main thread from the last start to the end. It marks the
//! end of emission, steps every program through its stop sequence, interrupts a dump
//! call that overran its call deadline, stops everything at the run's deadline, wakes
//! what is blocked so that it sees the stop, and abandons what still does not return
//! [`ABANDON_AFTER`] later: a thread left in a system call dies with the sandbox
//! process, and its record says so instead of the run waiting for it.

use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::dump::ClientState;
use crate::history::{DumpRecord, EmitterRecord, ReceiverRecord};
use crate::receive::Shared;
use crate::sys::signals::wake;

/// How long after the deadline a thread still in a call is waited for before it is
/// abandoned (and dies with the sandbox process).
pub(super) const ABANDON_AFTER: Duration = Duration::from_secs(2);

/// What an abandoned emitter or reader's record says.
pub(super) const ABANDONED: &str =
    "still inside a system call 2 s after the run's deadline; abandoned";

/// What an abandoned dump client's record says.
const DUMP_ABANDONED: &str = "still inside a receive call 2 s after the run's deadline; abandoned";

/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(2);

/// A dump client as the watchdog sees it: its live state, call deadline and name.
pub(super) struct WatchedClient {
    pub state: Arc<ClientState>,
    pub call_deadline: Duration,
    pub name: String,
}

/// Every thread of a flood, and the programs under test.
pub(super) struct Flock<'a> {
    pub readers: &'a [JoinHandle<ReceiverRecord>],
    /// Per reader: it blocks in recvmsg, so it must be woken to see a change.
    pub blocking: &'a [bool],
    pub senders: &'a [JoinHandle<EmitterRecord>],
    /// What each emitter sent, set as it finishes.
    pub sent: &'a [std::sync::atomic::AtomicU64],
    pub dumpers: &'a [JoinHandle<DumpRecord>],
    pub clients: &'a [WatchedClient],
    pub programs: &'a mut [crate::program::Running],
}

/// Watches `flock` until everything has finished, or until [`ABANDON_AFTER`] past the
/// run's deadline. True when the deadline was hit.
pub(super) fn watch(flock: Flock<'_>, shared: &Shared, run_deadline: Duration) -> bool {
    let deadline = shared.t0 + run_deadline;
    let mut deadline_hit = false;
    let mut emission_end = None;
    loop {
        let emitting = flock.senders.iter().any(|s| !s.is_finished());
        if !emitting {
            shared.emission_done.store(true, Ordering::Release);
            emission_end.get_or_insert_with(Instant::now);
        }
        let dumping = flock.dumpers.iter().any(|d| !d.is_finished());
        // Every program takes its step of the stop sequence, even once one has ended.
        let sent: Vec<u64> = flock
            .sent
            .iter()
            .map(|s| s.load(Ordering::Acquire))
            .collect();
        let programs_done = flock.programs.iter_mut().fold(true, |all, p| {
            p.step(emission_end, &sent, deadline_hit) & all
        });
        let reading = flock.readers.iter().any(|r| !r.is_finished());
        if !reading && !emitting && !dumping && programs_done {
            break;
        }
        interrupt_overdue_calls(flock.clients, flock.dumpers, shared.t0);
        let now = Instant::now();
        if now >= deadline && !deadline_hit {
            deadline_hit = true;
            shared.stop.store(true, Ordering::Release);
        }
        if !emitting || deadline_hit {
            // Wake blocked readers so they notice the end of emission or the deadline.
            let blocked = flock.readers.iter().zip(flock.blocking);
            wake_unfinished(blocked.filter(|(_, &b)| b).map(|(h, _)| h));
        }
        if deadline_hit {
            // Interrupt whatever is blocked in a system call so it sees the stop.
            wake_unfinished(flock.dumpers.iter());
            wake_unfinished(flock.senders.iter());
            if now >= deadline + ABANDON_AFTER {
                break;
            }
        }
        thread::sleep(TICK);
    }
    deadline_hit
}

/// A dump client whose receive call overran its call deadline is interrupted; the
/// client records the hang and goes on.
fn interrupt_overdue_calls(
    clients: &[WatchedClient],
    dumpers: &[JoinHandle<DumpRecord>],
    t0: Instant,
) {
    for (c, h) in clients.iter().zip(dumpers) {
        if crate::dump::watch(&c.state, c.call_deadline, t0) == crate::dump::Action::Interrupt
            && !h.is_finished()
        {
            wake(h.as_pthread_t());
        }
    }
}

fn wake_unfinished<'a, T: 'a>(threads: impl Iterator<Item = &'a JoinHandle<T>>) {
    for h in threads.filter(|h| !h.is_finished()) {
        wake(h.as_pthread_t());
    }
}

/// A thread's record: its own if it finished, else `abandoned` (the thread is left to
/// die with the process).
pub(super) fn joined_or<T: Default>(h: JoinHandle<T>, abandoned: impl FnOnce() -> T) -> T {
    if h.is_finished() {
        h.join().unwrap_or_default()
    } else {
        abandoned()
    }
}

/// The record of a dump client still blocked past every deadline: what it saw of its
/// hangs so far, and that it was abandoned.
pub(super) fn abandoned_dump(c: &WatchedClient) -> DumpRecord {
    DumpRecord {
        name: c.name.clone(),
        error: Some(DUMP_ABANDONED.into()),
        hangs: c.state.hangs.lock().map(|h| h.clone()).unwrap_or_default(),
        ..Default::default()
    }
}
