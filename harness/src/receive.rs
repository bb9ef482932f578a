//! Receivers: open a socket as the scenario says, read it in the chosen mode, and account
//! for every message by its sequence number. ENOBUFS is data here, not an error.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::accounting::SeqTracker;
use crate::emit::wait_until;
use crate::history::{EnobufsAt, ReceiverRecord, ReceiverSetup, POSITIONS_KEPT};
use crate::model::Request;
use crate::payload::{decode_read, Claims, RunId, Tag};
use crate::plan::{Protocol, ReadMode, ReadStart, ReceiverPlan};
use crate::procnet;
use crate::sys::nlsock::{Batch, NlSocket, Received, SockOpt};

/// What every thread of a run shares.
#[derive(Debug)]
pub struct Shared {
    /// The run's time zero.
    pub t0: Instant,
    /// Every emitter has returned from its last send: whatever is not queued now never
    /// will be.
    pub emission_done: AtomicBool,
    /// The deadline passed: drain what is queued and stop.
    pub stop: AtomicBool,
    /// The run's id.
    pub run: RunId,
    /// `run.uuid()`, computed once.
    pub uuid: String,
}

/// A receiver whose socket is bound and configured, not yet reading.
#[derive(Debug)]
pub struct Receiver {
    plan: ReceiverPlan,
    sock: Arc<NlSocket>,
    setup: ReceiverSetup,
    max_rmem: Arc<AtomicU64>,
    claims: Claims,
}

/// Why a receiver could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("failed to {what} for receiver `{name}`")]
pub struct ReceiverError {
    /// Receiver name.
    pub name: String,
    /// The step.
    pub what: &'static str,
    /// The errno.
    #[source]
    pub source: io::Error,
}

impl ReceiverError {
    /// SO_RCVBUFFORCE without CAP_NET_ADMIN: the environment, not the scenario.
    pub fn is_permission(&self) -> bool {
        self.source.raw_os_error() == Some(libc::EPERM)
    }
}

impl Receiver {
    /// Opens, configures, then binds (so nothing is queued before the buffer is set).
    /// `filtered` are the plan indices of usersock emitters a socket filter drops.
    pub fn open(
        plan: &ReceiverPlan,
        request: Request,
        filtered: &[u16],
        claims: Claims,
    ) -> Result<Self, ReceiverError> {
        let err = |what| {
            move |source| ReceiverError {
                name: plan.name.to_string(),
                what,
                source,
            }
        };
        let sock = NlSocket::open(plan.protocol).map_err(err("open a netlink socket"))?;
        match request {
            Request::Default => {}
            Request::Plain(v) => sock
                .set(SockOpt::Rcvbuf(crate::model::as_c_int(v)))
                .map_err(err("set SO_RCVBUF"))?,
            Request::Force(v) => sock
                .set(SockOpt::RcvbufForce(crate::model::as_c_int(v)))
                .map_err(err("set SO_RCVBUFFORCE (needs CAP_NET_ADMIN in the initial user namespace: run as root, or use rcvbuf)"))?,
        }
        if plan.no_enobufs {
            sock.set(SockOpt::NoEnobufs(true))
                .map_err(err("set NETLINK_NO_ENOBUFS"))?;
        }
        if plan.broadcast_error {
            sock.set(SockOpt::BroadcastError(true))
                .map_err(err("set NETLINK_BROADCAST_ERROR"))?;
        }
        if plan.mode == ReadMode::Blocking {
            sock.set(SockOpt::RecvTimeout(plan.call_deadline))
                .map_err(err("set SO_RCVTIMEO"))?;
        }
        if !filtered.is_empty() {
            sock.attach_filter(&crate::bpf::drop_usersock_sources(filtered))
                .map_err(err("attach the socket filter"))?;
        }
        sock.bind(&plan.groups).map_err(err("bind to its groups"))?;
        let setup = ReceiverSetup {
            name: plan.name.to_string(),
            protocol: plan.protocol,
            groups: plan.groups.clone(),
            rcvbuf_option: request.option(),
            rcvbuf_requested: request.bytes(),
            rcvbuf_effective: sock.rcvbuf().map_err(err("read SO_RCVBUF"))?,
            no_enobufs: sock.no_enobufs().map_err(err("read NETLINK_NO_ENOBUFS"))?,
            broadcast_error: sock
                .broadcast_error()
                .map_err(err("read NETLINK_BROADCAST_ERROR"))?,
            inode: sock.inode().map_err(err("stat the socket"))?,
        };
        Ok(Self {
            plan: plan.clone(),
            sock: Arc::new(sock),
            setup,
            max_rmem: Arc::default(),
            claims,
        })
    }

    /// The socket, for changes made to it from another thread (`steps`).
    pub fn socket(&self) -> Arc<NlSocket> {
        self.sock.clone()
    }

    /// The setup as the kernel reports it.
    pub fn setup(&self) -> &ReceiverSetup {
        &self.setup
    }

    /// A handle for the sampler thread: the socket and the running maximum of rmem.
    pub fn sampler_handle(&self) -> (Arc<NlSocket>, Arc<AtomicU64>) {
        (self.sock.clone(), self.max_rmem.clone())
    }

    /// Reads until emission is done and the queue is empty, or the deadline passes.
    pub fn run(self, shared: &Shared, sources: usize) -> ReceiverRecord {
        let mut r = Reader {
            rec: ReceiverRecord::new(self.setup.clone(), sources),
            plan: &self.plan,
            sock: &self.sock,
            shared,
            claims: &self.claims,
        };
        if let Some(cpu) = self.plan.cpu {
            if let Err(e) = crate::sys::pin_this_thread(cpu) {
                r.rec.error = Some(format!("pin to cpu {cpu}: {e}"));
                return r.rec;
            }
        }
        match self.plan.start_reading {
            ReadStart::After { delay } => {
                wait_until(shared.t0 + delay, &shared.stop);
            }
            ReadStart::EmissionEnd => {
                while !shared.emission_done.load(Ordering::Acquire)
                    && !shared.stop.load(Ordering::Acquire)
                {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        r.rec.read_started_ns = since(shared.t0);
        if let Ok(m) = self.sock.meminfo() {
            r.rec.rmem_at_read_start = m.rmem_alloc;
            self.max_rmem.fetch_max(m.rmem_alloc, Ordering::Relaxed);
        }
        match self.plan.mode {
            ReadMode::Blocking => r.blocking(),
            ReadMode::Poll => r.polling(),
            ReadMode::Batch { size } => r.batches(size.get() as usize),
        }
        if shared.stop.load(Ordering::Acquire) {
            r.rec.stopped_by_deadline = true;
            r.drain();
        }
        let mut rec = r.rec;
        rec.read_finished_ns = since(shared.t0);
        rec.cpu = self.plan.cpu.and_then(|_| crate::sys::current_cpu());
        if let Ok(m) = self.sock.meminfo() {
            rec.meminfo_drops = m.drops;
            self.max_rmem.fetch_max(m.rmem_alloc, Ordering::Relaxed);
        }
        rec.max_rmem = self.max_rmem.load(Ordering::Relaxed);
        rec.kernel_drops = procnet::find(rec.setup.inode)
            .ok()
            .flatten()
            .map(|row| row.drops);
        rec
    }
}

fn since(t0: Instant) -> u64 {
    Instant::now().saturating_duration_since(t0).as_nanos() as u64
}

fn account(
    rec: &mut ReceiverRecord,
    protocol: Protocol,
    shared: &Shared,
    claims: &Claims,
    data: &[u8],
    truncated: bool,
) {
    if truncated {
        rec.truncated += 1;
    }
    match decode_read(protocol, data, truncated, &shared.run, &shared.uuid, claims) {
        Tag::Ours { source, seq } if usize::from(source) < rec.sources.len() => {
            if let Some(at) = rec
                .enobufs_positions
                .last_mut()
                .filter(|a| a.next.is_none())
            {
                at.next = Some((source, seq));
            }
            rec.sources[usize::from(source)].observe(seq)
        }
        Tag::Unnumbered { source } => {
            match source.and_then(|s| rec.sources.get_mut(usize::from(s))) {
                Some(tracker) => tracker.observe_unnumbered(),
                None => rec.unattributed += 1,
            }
        }
        _ => rec.foreign += 1,
    }
}

fn note_enobufs(rec: &mut ReceiverRecord, t0: Instant) {
    rec.enobufs += 1;
    rec.first_enobufs_ns.get_or_insert(since(t0));
    if rec.enobufs_positions.len() < POSITIONS_KEPT {
        let read_before = rec.sources.iter().map(SeqTracker::delivered).sum();
        rec.enobufs_positions.push(EnobufsAt {
            read_before,
            next: None,
        });
    }
}

struct Reader<'a> {
    rec: ReceiverRecord,
    plan: &'a ReceiverPlan,
    sock: &'a NlSocket,
    shared: &'a Shared,
    claims: &'a Claims,
}

/// What the loop should do after one receive outcome.
enum Next {
    Continue,
    /// The queue is empty: finished if emission was done before the call.
    Empty,
    Stop,
}

impl Reader<'_> {
    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    fn outcome(&mut self, r: Received, buf: &[u8]) -> Next {
        match r {
            Received::Datagram { len, truncated } => {
                self.account(&buf[..len.min(buf.len())], truncated);
                self.consume();
                Next::Continue
            }
            Received::Errno(libc::ENOBUFS) => {
                note_enobufs(&mut self.rec, self.shared.t0);
                Next::Continue
            }
            Received::Errno(libc::EAGAIN) => Next::Empty,
            Received::Errno(libc::EINTR) => {
                self.rec.ledger.interrupted += 1;
                Next::Continue
            }
            Received::Errno(e) => {
                self.rec.error = Some(io::Error::from_raw_os_error(e).to_string());
                Next::Stop
            }
        }
    }

    fn account(&mut self, data: &[u8], truncated: bool) {
        account(
            &mut self.rec,
            self.plan.protocol,
            self.shared,
            self.claims,
            data,
            truncated,
        );
    }

    fn consume(&self) {
        let d = self.plan.consumer_delay;
        if !d.is_zero() && !self.stopped() {
            wait_until(Instant::now() + d, &self.shared.stop);
        }
    }

    /// One receive as the plan's reader makes it: SO_ERROR first, a peek at the length
    /// first, or neither.
    fn recv(&mut self, buf: &mut Vec<u8>, flags: libc::c_int) -> Received {
        if self.plan.so_error_first {
            match self.sock.take_error() {
                Ok(libc::ENOBUFS) => {
                    self.rec.enobufs_by_so_error += 1;
                    note_enobufs(&mut self.rec, self.shared.t0);
                }
                Ok(0) => {}
                Ok(e) => return Received::Errno(e),
                Err(e) => return Received::Errno(e.raw_os_error().unwrap_or(libc::EIO)),
            }
        }
        if !self.plan.peek {
            return self.sock.recv(buf, flags);
        }
        match self
            .sock
            .recv(&mut buf[..1], flags | libc::MSG_PEEK | libc::MSG_TRUNC)
        {
            Received::Datagram { len, .. } => {
                if buf.len() < len {
                    buf.resize(len, 0);
                }
                let len = len.max(1);
                self.sock.recv(&mut buf[..len], libc::MSG_DONTWAIT)
            }
            other => other,
        }
    }

    fn blocking(&mut self) {
        let mut buf = vec![0u8; self.plan.read_buffer.get() as usize];
        while !self.stopped() {
            let done = self.shared.emission_done.load(Ordering::Acquire);
            let flags = if done { libc::MSG_DONTWAIT } else { 0 };
            self.rec.ledger.started += 1;
            let r = self.recv(&mut buf, flags);
            self.rec.ledger.returned += 1;
            match self.outcome(r, &buf) {
                Next::Continue => {}
                Next::Empty if done => break,
                // SO_RCVTIMEO expired with nothing to read.
                Next::Empty => self.rec.ledger.timed_out += 1,
                Next::Stop => break,
            }
        }
    }

    fn polling(&mut self) {
        let mut buf = vec![0u8; self.plan.read_buffer.get() as usize];
        while !self.stopped() {
            let done = self.shared.emission_done.load(Ordering::Acquire);
            // Non-blocking calls return at once: each is started and returned.
            self.rec.ledger.started += 1;
            let r = self.recv(&mut buf, libc::MSG_DONTWAIT);
            self.rec.ledger.returned += 1;
            match self.outcome(r, &buf) {
                Next::Continue => {}
                Next::Empty if done => {
                    self.rec.ledger.empty += 1;
                    break;
                }
                Next::Empty => {
                    self.rec.ledger.empty += 1;
                    self.rec.ledger.waits += 1;
                    self.sock.wait_readable(Duration::from_millis(10));
                }
                Next::Stop => break,
            }
        }
    }

    fn batches(&mut self, vlen: usize) {
        let mut batch = Batch::new(vlen, self.plan.read_buffer.get() as usize);
        self.rec.ledger.batch_fill = vec![0; vlen + 1];
        while !self.stopped() {
            let done = self.shared.emission_done.load(Ordering::Acquire);
            self.rec.ledger.started += 1;
            let got = batch.recv(self.sock, libc::MSG_DONTWAIT);
            self.rec.ledger.returned += 1;
            let n = match got {
                Ok(n) => {
                    if let Some(slot) = self.rec.ledger.batch_fill.get_mut(n) {
                        *slot += 1;
                    }
                    n
                }
                Err(e) => {
                    if e == libc::EAGAIN {
                        self.rec.ledger.empty += 1;
                        self.rec.ledger.batch_fill[0] += 1;
                    }
                    match self.outcome(Received::Errno(e), &[]) {
                        Next::Empty if done => break,
                        Next::Empty => {
                            self.rec.ledger.waits += 1;
                            self.sock.wait_readable(Duration::from_millis(10));
                        }
                        Next::Stop => break,
                        Next::Continue => {}
                    }
                    continue;
                }
            };
            for i in 0..n {
                let (bytes, truncated) = batch.datagram(i);
                account(
                    &mut self.rec,
                    self.plan.protocol,
                    self.shared,
                    self.claims,
                    bytes,
                    truncated,
                );
                self.consume();
            }
        }
    }

    /// After the deadline: count what is still queued, without consumer delay, so that
    /// `lost` means dropped by the kernel and never "not read yet".
    fn drain(&mut self) {
        let mut buf = vec![0u8; self.plan.read_buffer.get() as usize];
        for _ in 0..10_000_000 {
            match self.sock.recv(&mut buf, libc::MSG_DONTWAIT) {
                Received::Datagram { len, truncated } => {
                    self.account(&buf[..len.min(buf.len())], truncated)
                }
                Received::Errno(libc::ENOBUFS) => note_enobufs(&mut self.rec, self.shared.t0),
                Received::Errno(libc::EINTR) => {}
                Received::Errno(_) => break,
            }
        }
    }
}
