//! Measuring the model's constants on the running kernel, inside the sandbox: buffer
//! limits, the bytes the kernel adds to a sysfs-written uevent, and the truesize charged
//! per message. Nothing here is assumed; every figure is read back from the kernel.

use std::collections::BTreeMap;
use std::io;

use crate::emit::Emitter;
use crate::model::{AdmitRule, BufferFacts};
use crate::plan::Protocol;
use crate::sys::nlsock::{NlSocket, Received, SockOpt};

fn read_sysctl(name: &str) -> io::Result<u64> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    let text = std::fs::read_to_string(&path)?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::other(format!("{path}: not a number")))
}

/// Reads rmem limits and measures SOCK_MIN_RCVBUF (a request of 0 reads back as it).
/// Where the sysctls are not visible in a new network namespace (Debian's 6.1 shows no
/// net.core.rmem_* there), the limits are measured by socket instead.
pub fn buffer_facts() -> io::Result<BufferFacts> {
    let s = NlSocket::open(Protocol::Usersock)?;
    s.set(SockOpt::Rcvbuf(0))?;
    let sock_min_rcvbuf = s.rcvbuf()?;
    let (rmem_default, rmem_max) = match (
        read_sysctl("net.core.rmem_default"),
        read_sysctl("net.core.rmem_max"),
    ) {
        (Ok(d), Ok(m)) => (d, m),
        _ => rmem_by_socket()?,
    };
    Ok(BufferFacts {
        sock_min_rcvbuf,
        rmem_max,
        rmem_default,
    })
}

/// `(rmem_default, rmem_max)` read from sockets alone: `sock_init_data()` starts every
/// socket at rmem_default, and `sock_setsockopt()` turns the largest plain SO_RCVBUF
/// request into 2 x rmem_max (capped at INT_MAX - 1, which only a rmem_max of 1GiB or
/// more reaches; the figure is then a lower bound).
pub fn rmem_by_socket() -> io::Result<(u64, u64)> {
    let fresh = NlSocket::open(Protocol::Usersock)?.rcvbuf()?;
    let s = NlSocket::open(Protocol::Usersock)?;
    s.set(SockOpt::Rcvbuf(i32::MAX))?;
    Ok((fresh, s.rcvbuf()? / 2))
}

/// A socket that listens to one destination with room for many messages, used to watch
/// what single messages cost. Opened before the run's receivers exist, so calibration
/// traffic reaches nobody else.
pub struct Scale {
    sock: NlSocket,
    buf: Vec<u8>,
}

impl Scale {
    /// Listens to `group` of `protocol`.
    pub fn new(protocol: Protocol, group: u32) -> io::Result<Self> {
        let sock = NlSocket::open(protocol)?;
        if sock.set(SockOpt::RcvbufForce(16 << 20)).is_err() {
            sock.set(SockOpt::Rcvbuf(16 << 20))?;
        }
        sock.set(SockOpt::NoEnobufs(true))?;
        sock.bind(&[group])?;
        Ok(Self {
            sock,
            buf: vec![0; 128 * 1024],
        })
    }

    /// Empties the queue; returns the length of the last datagram read.
    pub fn drain(&mut self) -> Option<usize> {
        let mut last = None;
        while let Received::Datagram { len, .. } = self.sock.recv(&mut self.buf, libc::MSG_DONTWAIT)
        {
            last = Some(len);
        }
        last
    }

    /// Sends one message with `send` and returns (wire length, truesize charged).
    pub fn weigh(&mut self, send: impl FnOnce() -> io::Result<()>) -> io::Result<(usize, u64)> {
        self.drain();
        let before = self.sock.meminfo()?.rmem_alloc;
        send()?;
        let after = self.sock.meminfo()?.rmem_alloc;
        let len = self
            .drain()
            .ok_or_else(|| io::Error::other("the calibration message did not arrive"))?;
        Ok((len, after.saturating_sub(before)))
    }
}

/// Truesize per (emitter, variant, wire length), measured on demand through one scale
/// per emitter and remembered: a uniform payload range costs one measurement per
/// distinct length, not one per message.
pub struct Calibrator {
    scales: Vec<Scale>,
    memo: BTreeMap<(u16, usize, usize), u64>,
}

impl Calibrator {
    /// One scale per emitter, listening where that emitter's messages arrive.
    pub fn new(scales: Vec<Scale>) -> Self {
        Self {
            scales,
            memo: BTreeMap::new(),
        }
    }

    /// Truesize of each of the first `n` messages `emitter` will send.
    pub fn truesizes(&mut self, emitter: &mut Emitter, n: usize) -> io::Result<Vec<u64>> {
        let index = emitter.index();
        emitter
            .wire_sizes(n)
            .into_iter()
            .map(|(variant, len)| {
                if let Some(&t) = self.memo.get(&(index, variant, len)) {
                    return Ok(t);
                }
                let (_, t) = self.scales[usize::from(index)]
                    .weigh(|| emitter.send_probe(variant, Some(len)))?;
                self.memo.insert((index, variant, len), t);
                Ok(t)
            })
            .collect()
    }

    /// Every measurement taken: (emitter, variant, wire length, truesize).
    pub fn points(&self) -> impl Iterator<Item = (u16, usize, usize, u64)> + '_ {
        self.memo.iter().map(|(&(e, v, l), &t)| (e, v, l, t))
    }
}

/// Measures how many bytes the kernel adds around what is written to sysfs, for each
/// variant of a kernel-uevent emitter, and stores it in the emitter.
pub fn kernel_overhead(scale: &mut Scale, emitter: &mut Emitter) -> io::Result<()> {
    for v in 0..emitter.variants() {
        let written = emitter.min_wire(v);
        let (wire, _) = scale.weigh(|| emitter.send_probe(v, None))?;
        emitter.set_overhead(v, wire.saturating_sub(written));
    }
    Ok(())
}

/// `(effective rcvbuf, truesize, messages queued)` of one flooded unread queue.
pub type FloodCase = (u64, u64, u64);

/// Floods small unread usersock queues and returns the admission rule that explains what
/// they held (cases chosen so that the three rules disagree), with the cases measured as
/// `(effective rcvbuf, truesize, queued)`.
pub fn fit_admit_rule() -> io::Result<(Option<AdmitRule>, Vec<FloodCase>)> {
    const GROUP: u32 = 31;
    let sender = NlSocket::open(Protocol::Usersock)?;
    sender.bind(&[])?;
    let mut cases = Vec::new();
    for (req, payload) in [(1280i32, 300usize), (4096, 64), (0, 2000)] {
        let rx = NlSocket::open(Protocol::Usersock)?;
        rx.set(SockOpt::Rcvbuf(req))?;
        rx.bind(&[GROUP])?;
        let msg = vec![0u8; payload];
        for _ in 0..64 {
            sender.broadcast(GROUP, &msg)?;
        }
        let m = rx.meminfo()?;
        let mut buf = vec![0u8; 4096];
        let mut queued = 0u64;
        loop {
            match rx.recv(&mut buf, libc::MSG_DONTWAIT) {
                Received::Datagram { .. } => queued += 1,
                Received::Errno(libc::ENOBUFS) => {}
                Received::Errno(_) => break,
            }
        }
        cases.push((m.rcvbuf, m.rmem_alloc / queued.max(1), queued));
    }
    let rule = AdmitRule::ALL.into_iter().find(|r| {
        cases
            .iter()
            .all(|&(rcvbuf, ts, q)| r.capacity(rcvbuf, ts) == q)
    });
    Ok((rule, cases))
}
