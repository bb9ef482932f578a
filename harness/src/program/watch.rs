//! The thread that watches a program from outside: every netlink socket its processes
//! hold (found through /proc/PID/fd and joined with /proc/net/netlink by inode), their
//! queues and drops, its CPU time, and threads blocked in a netlink receive. Sampling
//! keeps a socket the program closes and reopens: its record stays, marked closed.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::procfs;
use crate::history::dump::{Hang, Observation};
use crate::history::program::ProgramSocket;
use crate::history::Series;
use crate::procnet::{self, NetlinkRow};

/// Time between samples of the sockets.
pub const SAMPLE: Duration = Duration::from_millis(1);
/// CPU time and thread states are read every this many samples.
const SLOW_EVERY: u32 = 10;

/// Points on the program's timeline the watcher needs to know, set by the executor.
#[derive(Debug)]
pub struct Clock {
    /// When the program started.
    pub started: Instant,
    /// Raised by the watcher once some socket of the program is bound to a group.
    pub subscribed: AtomicBool,
    /// Since when every subscribed socket of the program has been empty (u64::MAX
    /// while one holds something).
    pub empty_since_ns: AtomicU64,
    /// Drops summed over every socket the program held, closed ones included (the
    /// last sample of each).
    pub drops: AtomicU64,
    /// When the last sample of its sockets was taken (0: none yet).
    pub sampled_ns: AtomicU64,
    /// Raised by the executor once it signals the program to stop: sockets that go
    /// after that went with the program, not by its choice.
    pub stopping: AtomicBool,
    /// Raised by the executor to end the watch.
    pub stop: AtomicBool,
}

impl Clock {
    /// A clock for a program started now.
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            subscribed: AtomicBool::new(false),
            empty_since_ns: AtomicU64::new(u64::MAX),
            drops: AtomicU64::new(0),
            sampled_ns: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    /// Now, on the program's timeline.
    pub fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// `at` on the program's timeline.
    pub fn ns_of(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_nanos() as u64
    }
}

/// What the watch found.
#[derive(Debug, Default)]
pub struct Watched {
    /// Every netlink socket, in the order first seen.
    pub sockets: Vec<ProgramSocket>,
    /// `(t_ns, cpu ns)` of the whole tree.
    pub cpu: Vec<(u64, u64)>,
    /// Receive calls outstanding past the call deadline.
    pub hangs: Vec<Hang>,
}

impl Watched {
    /// CPU time at the last sample at or before `t_ns` (0 before the first).
    pub fn cpu_at(&self, t_ns: u64) -> u64 {
        self.cpu
            .iter()
            .take_while(|(t, _)| *t <= t_ns)
            .last()
            .map_or(0, |(_, c)| *c)
    }
}

/// Starts watching the process tree of `pid`.
pub fn start(
    pid: u32,
    clock: Arc<Clock>,
    call_deadline: Duration,
) -> std::io::Result<thread::JoinHandle<Watched>> {
    thread::Builder::new()
        .name("program-watch".into())
        .spawn(move || Watcher::new(pid, call_deadline).run(&clock))
}

struct Watcher {
    root: u32,
    call_deadline_ns: u64,
    out: Watched,
    /// Inode -> index in `out.sockets`, for sockets seen in the last sample.
    open: HashMap<u64, usize>,
    /// `(tid, inode)` -> (blocked since, drops then, index of its hang once reported).
    blocked: HashMap<(u32, u64), (u64, u64, Option<usize>)>,
    /// Highest CPU time seen per process: a child that exits takes its time with it.
    cpu_by_pid: BTreeMap<u32, u64>,
}

impl Watcher {
    fn new(root: u32, call_deadline: Duration) -> Self {
        Self {
            root,
            call_deadline_ns: call_deadline.as_nanos() as u64,
            out: Watched::default(),
            open: HashMap::new(),
            blocked: HashMap::new(),
            cpu_by_pid: BTreeMap::new(),
        }
    }

    fn run(mut self, clock: &Clock) -> Watched {
        let mut n = 0u32;
        while !clock.stop.load(Ordering::Acquire) {
            let pids = procfs::tree(self.root);
            let rows = procnet::read_all().unwrap_or_default();
            let now = clock.now_ns();
            self.sample_sockets(&pids, &rows, now, clock);
            if n.is_multiple_of(SLOW_EVERY) {
                self.sample_cpu(&pids, now);
                self.sample_threads(&pids, &rows, now);
            }
            n = n.wrapping_add(1);
            thread::sleep(SAMPLE);
        }
        let pids = procfs::tree(self.root);
        self.sample_cpu(&pids, clock.now_ns());
        self.out
    }

    fn sample_sockets(&mut self, pids: &[u32], rows: &[NetlinkRow], now: u64, clock: &Clock) {
        let by_inode: HashMap<u64, &NetlinkRow> = rows.iter().map(|r| (r.inode, r)).collect();
        let mut still = HashMap::new();
        let mut queued = false;
        let stopping = clock.stopping.load(Ordering::Acquire);
        for &pid in pids {
            for (fd, inode) in procfs::sockets(pid) {
                let Some(row) = by_inode.get(&inode) else {
                    continue; // not a netlink socket
                };
                let i = match self.open.get(&inode) {
                    Some(&i) => i,
                    None => {
                        self.out.sockets.push(discovered(pid, fd, row, now));
                        self.out.sockets.len() - 1
                    }
                };
                update(&mut self.out.sockets[i], row, now);
                // The queue it held when the program was told to stop: what the stop,
                // not the program, left undelivered.
                if stopping && self.out.sockets[i].rmem_at_stop.is_none() {
                    self.out.sockets[i].rmem_at_stop = Some(row.rmem);
                }
                if row.groups != 0 {
                    clock.subscribed.store(true, Ordering::Release);
                    queued |= row.rmem > 0;
                }
                still.insert(inode, i);
            }
        }
        // A socket gone from a live program was closed by it; once the program is gone
        // its sockets went with it, which is no reopening. Asked after the scan: a
        // program told to stop is marked stopping before it can close anything.
        if !clock.stopping.load(Ordering::Acquire) && procfs::running(self.root) {
            for (inode, i) in &self.open {
                if !still.contains_key(inode) {
                    self.out.sockets[*i].closed = true;
                }
            }
        }
        self.open = still;
        let drops = self.out.sockets.iter().map(|s| s.drops).sum();
        clock.drops.store(drops, Ordering::Release);
        clock.sampled_ns.store(now, Ordering::Release);
        if queued {
            clock.empty_since_ns.store(u64::MAX, Ordering::Release);
        } else if clock.empty_since_ns.load(Ordering::Acquire) == u64::MAX {
            clock.empty_since_ns.store(now, Ordering::Release);
        }
    }

    fn sample_cpu(&mut self, pids: &[u32], now: u64) {
        for &pid in pids {
            if let Some(ns) = procfs::cpu_ns(pid) {
                let e = self.cpu_by_pid.entry(pid).or_default();
                *e = (*e).max(ns);
            }
        }
        self.out.cpu.push((now, self.cpu_by_pid.values().sum()));
    }

    /// Threads blocked in a netlink receive. Such a call is a hang when it is
    /// outstanding past the call deadline with something outstanding: on a socket that
    /// waits for an answer (bound to no group: a request or dump socket), or on a
    /// subscribed socket whose queue holds messages it does not read. A thread blocked
    /// on an empty group socket is idle, waiting for the next event, however long that
    /// takes. A reported hang whose call returns later is marked recovered.
    fn sample_threads(&mut self, pids: &[u32], rows: &[NetlinkRow], now: u64) {
        let mut seen = Vec::new();
        for &pid in pids {
            let fds: HashMap<i32, u64> = procfs::sockets(pid).into_iter().collect();
            for tid in procfs::tasks(pid) {
                let Ok(sc) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall"))
                else {
                    continue;
                };
                let Some((_call, fd)) = procfs::blocked_receive(&sc) else {
                    continue;
                };
                let Some(&inode) = fds.get(&fd) else { continue };
                let Some(row) = rows.iter().find(|r| r.inode == inode) else {
                    continue;
                };
                seen.push((tid, inode));
                let entry = self
                    .blocked
                    .entry((tid, inode))
                    .or_insert((now, row.drops, None));
                let (since, drops_then, reported) = *entry;
                let waited = now.saturating_sub(since);
                let outstanding = row.groups == 0 || row.rmem > 0;
                if reported.is_none() && waited >= self.call_deadline_ns && outstanding {
                    entry.2 = Some(self.out.hangs.len());
                    self.out
                        .hangs
                        .push(hang(pid, tid, row, since, drops_then, now));
                }
            }
        }
        // A call no longer blocked returned: its hang, if reported, recovered.
        for (k, (_, _, reported)) in &self.blocked {
            if let (false, Some(i)) = (seen.contains(k), reported) {
                self.out.hangs[*i].recovered = true;
            }
        }
        self.blocked.retain(|k, _| seen.contains(k));
    }
}

fn discovered(pid: u32, fd: i32, row: &NetlinkRow, now: u64) -> ProgramSocket {
    ProgramSocket {
        inode: row.inode,
        pid,
        fd,
        protocol: row.protocol,
        portid: row.portid,
        groups: row.groups,
        rcvbuf: crate::sys::process::peek_rcvbuf(pid, fd),
        first_seen_ns: now,
        last_seen_ns: now,
        closed: false,
        max_rmem: 0,
        drops: 0,
        first_drop_ns: None,
        rmem_at_first_drop: 0,
        min_rmem_after_drop: None,
        rmem_at_stop: None,
        last_rmem: 0,
        samples: Series::new(5_000_000),
    }
}

fn update(s: &mut ProgramSocket, row: &NetlinkRow, now: u64) {
    s.last_seen_ns = now;
    s.portid = row.portid;
    s.groups = row.groups;
    s.max_rmem = s.max_rmem.max(row.rmem);
    s.last_rmem = row.rmem;
    if s.first_drop_ns.is_some() {
        s.min_rmem_after_drop = Some(s.min_rmem_after_drop.map_or(row.rmem, |m| m.min(row.rmem)));
    } else if row.drops > 0 {
        s.first_drop_ns = Some(now);
        s.rmem_at_first_drop = row.rmem;
    }
    s.drops = row.drops;
    s.samples.offer(now, row.rmem, row.drops);
}

fn hang(pid: u32, tid: u32, row: &NetlinkRow, since: u64, drops_then: u64, now: u64) -> Hang {
    let observation = Observation {
        client_stopped: false,
        truncated_this_dump: false,
        row: Some(*row),
        drops_at_request: drops_then,
    };
    let (class, reason) = crate::check::classify(&observation);
    let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/{f}")).ok();
    Hang {
        at_ns: now,
        waited_ns: now - since,
        waiting_seq: 0,
        class,
        reason,
        observation,
        wchan: read("wchan"),
        stack: read("stack"),
        recent: Vec::new(),
        recovered: false,
    }
}
