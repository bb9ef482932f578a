//! The dump client's loop: request, read to NLMSG_DONE, react to errors by its policy,
//! pause, repeat. Every call is in the ledger; the watchdog reads the shared state.

use std::collections::{BTreeSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::objects::{self, ObjectId};
use super::wire::{messages, NLMSG_DONE, NLMSG_ERROR};
use crate::emit::wait_until;
use crate::history::{DumpRecord, Hang};
use crate::plan::{DumpPlan, DumpRequest, RcvbufPlan, Reaction};
use crate::sys::nlsock::{NlSocket, Received, SockOpt};

/// How many recent messages and decisions a client keeps for hang evidence.
const RECENT: usize = 16;

/// What the client and the watchdog share.
#[derive(Debug)]
pub struct ClientState {
    /// The socket.
    pub sock: Arc<NlSocket>,
    /// Its inode, the key of its /proc/net/netlink row.
    pub inode: u64,
    /// Its port id: dump replies carry it in nlmsg_pid (the kernel answers as
    /// NETLINK_CB(cb->skb).portid), broadcasts carry 0.
    pub portid: u32,
    /// When the current dump's first request was sent, ns after t0 plus one; 0 between
    /// dumps.
    pub dump_started: AtomicU64,
    /// When the current receive call started, ns after t0 plus one; 0 when none is.
    pub call_started: AtomicU64,
    /// The sequence number being waited for.
    pub waiting_seq: AtomicU32,
    /// MSG_TRUNC seen during the current dump.
    pub truncated_this_dump: AtomicBool,
    /// Socket drops when the current request was sent.
    pub drops_at_request: AtomicU64,
    /// Kernel thread id of the client.
    pub tid: AtomicI32,
    /// Set by the watchdog before it interrupts a hung call.
    pub recovering: AtomicBool,
    /// The client stopped reading (policy `stop`), at this time (ns after t0 plus one).
    pub stopped_at: AtomicU64,
    /// Recent messages and decisions, oldest first.
    pub recent: Mutex<VecDeque<String>>,
    /// Hangs recorded by the watchdog.
    pub hangs: Mutex<Vec<Hang>>,
}

impl ClientState {
    fn note(&self, line: String) {
        let mut r = self.recent.lock().expect("not poisoned");
        if r.len() == RECENT {
            r.pop_front();
        }
        r.push_back(line);
    }

    /// The recent lines, oldest first.
    pub fn recent_lines(&self) -> Vec<String> {
        self.recent
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect()
    }
}

/// What is missing when the kernel answers a dump request with `errno` before any
/// dump of it completed: `sock_diag` answers ENOENT when no handler is registered for
/// the family (inet_diag not loaded), and the other codes say the same of a protocol.
pub fn unsupported_request(request: DumpRequest, errno: i32) -> Option<String> {
    if !matches!(
        errno,
        libc::ENOENT | libc::EOPNOTSUPP | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT
    ) {
        return None;
    }
    let what = io::Error::from_raw_os_error(errno);
    Some(match request {
        DumpRequest::InetDiag => format!(
            "this kernel cannot dump TCP sockets ({what}): inet_diag and tcp_diag are not loaded (modprobe inet_diag tcp_diag) or not built (CONFIG_INET_DIAG, CONFIG_INET_TCP_DIAG)"
        ),
        DumpRequest::Getlink => {
            format!("this kernel refused an RTM_GETLINK dump ({what})")
        }
    })
}

/// A configured, bound dump client.
pub struct DumpClient {
    plan: DumpPlan,
    state: Arc<ClientState>,
}

fn io_err(what: &str) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl DumpClient {
    /// Opens and configures the socket as the plan says.
    pub fn open(plan: &DumpPlan) -> io::Result<Self> {
        let sock =
            NlSocket::open_family(plan.request.family()).map_err(io_err("open the dump socket"))?;
        match plan.rcvbuf {
            RcvbufPlan::Request { bytes } => {
                sock.set(SockOpt::Rcvbuf(crate::model::as_c_int(bytes)))
            }
            RcvbufPlan::Force { bytes } => sock
                .set(SockOpt::RcvbufForce(crate::model::as_c_int(bytes)))
                .map_err(io_err(
                    "set SO_RCVBUFFORCE (needs CAP_NET_ADMIN: run as root, or use rcvbuf)",
                )),
            _ => Ok(()),
        }
        .map_err(io_err("set the dump socket's receive buffer"))?;
        if plan.no_enobufs {
            sock.set(SockOpt::NoEnobufs(true))
                .map_err(io_err("set NETLINK_NO_ENOBUFS"))?;
        }
        // A safety net far beyond the watchdog's deadline: no call can block forever even
        // if the interrupt were lost.
        sock.set(SockOpt::RecvTimeout(
            (plan.call_deadline * 4).max(Duration::from_secs(2)),
        ))
        .map_err(io_err("set SO_RCVTIMEO"))?;
        if !plan.filter.is_empty() {
            sock.attach_filter(&plan.filter)
                .map_err(io_err("attach the BPF filter"))?;
        }
        sock.bind(&plan.groups)
            .map_err(io_err("bind the dump socket"))?;
        let inode = sock.inode()?;
        let portid = sock.portid()?;
        Ok(Self {
            plan: plan.clone(),
            state: Arc::new(ClientState {
                sock: Arc::new(sock),
                inode,
                portid,
                dump_started: AtomicU64::new(0),
                call_started: AtomicU64::new(0),
                waiting_seq: AtomicU32::new(0),
                truncated_this_dump: AtomicBool::new(false),
                drops_at_request: AtomicU64::new(0),
                tid: AtomicI32::new(0),
                recovering: AtomicBool::new(false),
                stopped_at: AtomicU64::new(0),
                recent: Mutex::new(VecDeque::new()),
                hangs: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The state the watchdog reads.
    pub fn state(&self) -> Arc<ClientState> {
        self.state.clone()
    }

    /// The plan.
    pub fn plan(&self) -> &DumpPlan {
        &self.plan
    }

    /// Runs every dump, or until `stop`.
    pub fn run(self, t0: Instant, stop: &AtomicBool) -> DumpRecord {
        let st = &self.state;
        st.tid
            .store(nix::unistd::gettid().as_raw(), Ordering::Release);
        let mut run = Run {
            plan: &self.plan,
            st,
            t0,
            stop,
            rec: DumpRecord {
                name: self.plan.name.to_string(),
                request: self.plan.request.name().into(),
                ..Default::default()
            },
            seq: 0,
            listed: BTreeSet::new(),
            before: None,
            acked_error: false,
            buf: vec![
                0u8;
                self.plan
                    .read_buffer
                    .max(self.plan.event_read_buffer.unwrap_or(0)) as usize
            ],
        };
        for _ in 0..self.plan.count {
            if stop.load(Ordering::Acquire) {
                run.rec.stopped_by_deadline = true;
                break;
            }
            run.read_events();
            if run.one_dump() == Flow::StopReading {
                run.rec.stopped_by_policy = true;
                // Keep the socket as the client left it, so the watchdog can see what the
                // kernel does with a half-read dump.
                let ns = since(t0) + 1;
                st.stopped_at.store(ns, Ordering::Release);
                wait_until(Instant::now() + self.plan.call_deadline * 3, stop);
                break;
            }
            wait_until(Instant::now() + self.plan.interval, stop);
        }
        if stop.load(Ordering::Acquire) {
            run.rec.stopped_by_deadline = true;
        }
        let mut rec = run.rec;
        rec.hangs = st.hangs.lock().expect("not poisoned").clone();
        rec
    }
}

fn since(t0: Instant) -> u64 {
    Instant::now().saturating_duration_since(t0).as_nanos() as u64
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Next,
    StopReading,
}

struct Run<'a> {
    plan: &'a DumpPlan,
    st: &'a ClientState,
    t0: Instant,
    stop: &'a AtomicBool,
    rec: DumpRecord,
    seq: u32,
    /// With `verify`: the objects the current reply has listed, and what the namespace
    /// held when its request went out.
    listed: BTreeSet<ObjectId>,
    before: Option<BTreeSet<ObjectId>>,
    buf: Vec<u8>,
    /// An error ack for the current sequence number was read.
    acked_error: bool,
}

impl Run<'_> {
    /// Reads pending broadcasts with the event buffer, without waiting.
    fn read_events(&mut self) {
        let Some(size) = self.plan.event_read_buffer else {
            return;
        };
        for _ in 0..10_000 {
            let size = (size as usize).min(self.buf.len());
            match self.st.sock.recv(&mut self.buf[..size], libc::MSG_DONTWAIT) {
                Received::Datagram { .. } => self.rec.other_messages += 1,
                Received::Errno(libc::ENOBUFS) => self.rec.enobufs += 1,
                Received::Errno(_) => break,
            }
        }
    }

    fn request(&mut self) -> bool {
        // A watchdog interrupt that missed its call must not be taken for the next one's.
        self.st.recovering.store(false, Ordering::Release);
        self.seq = self.seq.wrapping_add(1);
        self.st.waiting_seq.store(self.seq, Ordering::Release);
        let drops = self.st.sock.meminfo().map_or(0, |m| m.drops);
        self.st.drops_at_request.store(drops, Ordering::Release);
        if self.plan.verify {
            self.listed.clear();
            self.before = self.present();
        }
        self.rec.requests += 1;
        match self
            .st
            .sock
            .send_to_kernel(&self.plan.request.encode(self.seq))
        {
            Ok(()) => {
                self.st
                    .note(format!("{}: sent request seq {}", ms(self.t0), self.seq));
                true
            }
            Err(e) => {
                self.rec
                    .error
                    .get_or_insert(format!("send the request: {e}"));
                false
            }
        }
    }

    /// Applies a reaction; `KeepReading` and `Restart` keep the dump going.
    fn react(&mut self, what: &str, r: Reaction) -> Option<Flow> {
        self.st.note(format!(
            "{}: {what} while waiting for seq {}: {}",
            ms(self.t0),
            self.seq,
            r.name()
        ));
        match r {
            Reaction::KeepReading => None,
            Reaction::Restart => {
                self.rec.restarts += 1;
                if self.request() {
                    None
                } else {
                    Some(Flow::Next)
                }
            }
            Reaction::RetryLater => {
                self.rec.abandoned += 1;
                Some(Flow::Next)
            }
            Reaction::Stop => Some(Flow::StopReading),
        }
    }

    /// One receive call, in the ledger and visible to the watchdog.
    fn call(&mut self) -> Received {
        let len = self.plan.read_buffer as usize;
        self.rec.calls_started += 1;
        self.st
            .call_started
            .store(since(self.t0) + 1, Ordering::Release);
        let r = if self.plan.blocking {
            self.recv(len, 0)
        } else {
            let wait = (self.plan.call_deadline * 4).max(Duration::from_secs(2));
            if self.st.sock.wait_readable(wait) {
                self.recv(len, libc::MSG_DONTWAIT)
            } else {
                Received::Errno(libc::EAGAIN)
            }
        };
        self.st.call_started.store(0, Ordering::Release);
        self.rec.calls_returned += 1;
        r
    }

    /// One recvmsg of at most `len` bytes, or with `peek`, of the datagram's own length
    /// as a MSG_PEEK | MSG_TRUNC call reports it (the buffer grows to fit).
    fn recv(&mut self, len: usize, flags: libc::c_int) -> Received {
        if !self.plan.peek {
            return self.st.sock.recv(&mut self.buf[..len], flags);
        }
        match self
            .st
            .sock
            .recv(&mut self.buf[..1], flags | libc::MSG_PEEK | libc::MSG_TRUNC)
        {
            Received::Datagram { len, .. } => {
                let len = len.max(1);
                if self.buf.len() < len {
                    self.buf.resize(len, 0);
                }
                self.st.sock.recv(&mut self.buf[..len], libc::MSG_DONTWAIT)
            }
            other => other,
        }
    }

    fn one_dump(&mut self) -> Flow {
        self.st.truncated_this_dump.store(false, Ordering::Release);
        self.acked_error = false;
        self.st
            .dump_started
            .store(since(self.t0) + 1, Ordering::Release);
        let flow = self.read_reply();
        self.st.dump_started.store(0, Ordering::Release);
        flow
    }

    fn read_reply(&mut self) -> Flow {
        if !self.request() {
            return Flow::Next;
        }
        loop {
            if self.stop.load(Ordering::Acquire) {
                return Flow::Next;
            }
            let r = self.call();
            // The watchdog found this dump outstanding too long while calls kept
            // returning (other traffic): give it up as a recovered hang.
            if !matches!(r, Received::Errno(libc::EINTR))
                && self.st.recovering.swap(false, Ordering::AcqRel)
            {
                self.st.note(format!(
                    "{}: dump outstanding past its deadline; abandoned",
                    ms(self.t0)
                ));
                self.rec.abandoned += 1;
                return Flow::Next;
            }
            match r {
                Received::Datagram { len, truncated } => {
                    if truncated {
                        self.rec.truncated += 1;
                        self.st.truncated_this_dump.store(true, Ordering::Release);
                    }
                    if let Some(flow) = self.datagram(len.min(self.buf.len())) {
                        return flow;
                    }
                    if truncated {
                        if let Some(flow) = self.react("MSG_TRUNC", self.plan.policy.on_truncated) {
                            return flow;
                        }
                    }
                }
                Received::Errno(libc::ENOBUFS) => {
                    self.rec.enobufs += 1;
                    if let Some(flow) = self.react("ENOBUFS", self.plan.policy.on_enobufs) {
                        return flow;
                    }
                }
                Received::Errno(libc::EINTR) => {
                    if self.st.recovering.swap(false, Ordering::AcqRel) {
                        self.st.note(format!(
                            "{}: interrupted by the watchdog; dump abandoned",
                            ms(self.t0)
                        ));
                        self.rec.abandoned += 1;
                        return Flow::Next;
                    }
                }
                Received::Errno(libc::EAGAIN) => {
                    // The safety timeout: the watchdog should have fired long before.
                    self.st.note(format!(
                        "{}: SO_RCVTIMEO expired; dump abandoned",
                        ms(self.t0)
                    ));
                    self.st.recovering.store(false, Ordering::Release);
                    self.rec.abandoned += 1;
                    return Flow::Next;
                }
                Received::Errno(e) => {
                    self.rec
                        .error
                        .get_or_insert(format!("recvmsg: {}", io::Error::from_raw_os_error(e)));
                    return Flow::Next;
                }
            }
        }
    }

    /// What the namespace holds now; a failure is noted and skips this dump's check.
    fn present(&self) -> Option<BTreeSet<ObjectId>> {
        objects::present(self.plan.request)
            .map_err(|e| {
                self.st.note(format!(
                    "{}: cannot list the namespace's objects: {e}",
                    ms(self.t0)
                ))
            })
            .ok()
    }

    /// With `verify`, after NLMSG_DONE: did the dump list everything present throughout?
    fn judge_dump(&mut self) {
        let (Some(before), Some(after)) = (self.before.take(), self.present()) else {
            return;
        };
        let c = crate::check::dump::judge(&before, &after, &self.listed);
        self.rec.verified += 1;
        if c.missed.is_empty() {
            return;
        }
        self.rec.short_dumps += 1;
        self.rec.objects_missed += c.missed.len() as u64;
        let shown: Vec<String> = c.missed.iter().take(8).map(u32::to_string).collect();
        let what = format!(
            "dump seq {} ended with NLMSG_DONE but listed {} objects: {} of the {} present throughout were missing ({} {}{})",
            self.seq,
            self.listed.len(),
            c.missed.len(),
            c.throughout,
            match self.plan.request {
                DumpRequest::Getlink => "ifindex",
                DumpRequest::InetDiag => "inode",
            },
            shown.join(", "),
            if c.missed.len() > shown.len() { ", ..." } else { "" }
        );
        self.st.note(format!("{}: {what}", ms(self.t0)));
        self.rec.first_short.get_or_insert(what);
    }

    /// Walks one reply datagram; `Some` ends the dump.
    fn datagram(&mut self, len: usize) -> Option<Flow> {
        let buf = std::mem::take(&mut self.buf);
        let flow = self.walk(&buf[..len]);
        self.buf = buf;
        flow
    }

    fn walk(&mut self, datagram: &[u8]) -> Option<Flow> {
        for (h, msg) in messages(datagram) {
            if h.seq != self.seq || (h.pid != self.st.portid && h.pid != 0) {
                self.rec.other_messages += 1;
                if h.kind == NLMSG_ERROR
                    && h.error == Some(libc::EBUSY)
                    && h.pid == self.st.portid
                    && h.seq < self.seq
                {
                    self.rec.stale_ebusy += 1;
                }
                continue;
            }
            match (h.kind, h.error) {
                (NLMSG_DONE, _) => {
                    self.rec.completed += 1;
                    if std::mem::take(&mut self.acked_error) {
                        self.rec.completed_after_error_ack += 1;
                    }
                    if self.plan.verify {
                        self.judge_dump();
                    }
                    self.st
                        .note(format!("{}: NLMSG_DONE seq {}", ms(self.t0), h.seq));
                    return Some(Flow::Next);
                }
                (NLMSG_ERROR, Some(0)) => {}
                (NLMSG_ERROR, Some(e)) if e == libc::EBUSY => {
                    self.rec.ebusy += 1;
                    if let Some(f) = self.react("EBUSY error ack", self.plan.policy.on_ebusy) {
                        return Some(f);
                    }
                }
                (NLMSG_ERROR, Some(e))
                    if self.rec.completed == 0
                        && self.rec.unsupported.is_none()
                        && unsupported_request(self.plan.request, e).is_some() =>
                {
                    self.rec.error_acks += 1;
                    self.rec.unsupported = unsupported_request(self.plan.request, e);
                    return Some(Flow::StopReading);
                }
                (NLMSG_ERROR, Some(e)) => {
                    self.rec.error_acks += 1;
                    self.acked_error = true;
                    let what = format!("error ack {}", io::Error::from_raw_os_error(e));
                    self.rec
                        .first_error_ack
                        .get_or_insert_with(|| format!("{what} for seq {}", self.seq));
                    if let Some(f) = self.react(&what, self.plan.policy.on_error) {
                        return Some(f);
                    }
                }
                _ => {
                    self.rec.messages += 1;
                    if self.plan.verify {
                        self.listed.extend(objects::listed(self.plan.request, msg));
                    }
                }
            }
        }
        None
    }
}

fn ms(t0: Instant) -> String {
    format!("{:.3}ms", since(t0) as f64 / 1e6)
}
