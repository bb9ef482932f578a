//! Measuring the model's constants on the running kernel, inside the sandbox: buffer
//! limits, the bytes the kernel adds to a sysfs-written uevent, and the truesize charged
//! per message. Nothing here is assumed; every figure is read back from the kernel.

use std::collections::BTreeMap;
use std::io;

use crate::emit::Emitter;
use crate::model::BufferFacts;
use crate::nlsock::{NlSocket, Received, SockOpt};
use crate::plan::Protocol;

fn read_sysctl(name: &str) -> io::Result<u64> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    let text = std::fs::read_to_string(&path)?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::other(format!("{path}: not a number")))
}

/// Reads rmem limits and measures SOCK_MIN_RCVBUF (a request of 0 reads back as it).
pub fn buffer_facts() -> io::Result<BufferFacts> {
    let s = NlSocket::open(Protocol::Usersock)?;
    s.set(SockOpt::Rcvbuf(0))?;
    Ok(BufferFacts {
        sock_min_rcvbuf: s.rcvbuf()?,
        rmem_max: read_sysctl("net.core.rmem_max")?,
        rmem_default: read_sysctl("net.core.rmem_default")?,
    })
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

/// Truesize per (emitter, variant, wire length), measured on demand and remembered.
#[derive(Default)]
pub struct Truesizes {
    memo: BTreeMap<(u16, usize, usize), u64>,
}

impl Truesizes {
    /// Truesize of one message of `emitter` with `wire_len` bytes.
    pub fn get(
        &mut self,
        scale: &mut Scale,
        index: u16,
        emitter: &mut Emitter,
        variant: usize,
        wire_len: usize,
    ) -> io::Result<u64> {
        if let Some(&t) = self.memo.get(&(index, variant, wire_len)) {
            return Ok(t);
        }
        let (_, ts) = scale.weigh(|| emitter.send_probe(variant, Some(wire_len)))?;
        self.memo.insert((index, variant, wire_len), ts);
        Ok(ts)
    }

    /// Every measurement taken, for the run record.
    pub fn points(&self) -> Vec<(u16, usize, usize, u64)> {
        self.memo
            .iter()
            .map(|(&(e, v, l), &t)| (e, v, l, t))
            .collect()
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
