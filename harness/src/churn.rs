//! Background churn inside the sandbox that makes the kernel itself broadcast: links set
//! down and up (RTM_NEWLINK to RTNLGRP_LINK) and TCP connections opened and closed while
//! inet_diag dumps walk the socket tables.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::emit::wait_until;
use crate::history::ChurnRecord;
use crate::nlsock::NlSocket;
use crate::plan::Churn;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const IFF_UP: u32 = 1;
const NLM_F_REQUEST_ACK: u16 = 0x1 | 0x4;
const NLM_F_CREATE_EXCL: u16 = 0x400 | 0x200;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

/// A netlink request under construction: header, ifinfomsg, attributes.
struct Request(Vec<u8>);

impl Request {
    fn link(kind: u16, flags: u16, index: i32, ifi_flags: u32, change: u32) -> Self {
        let mut m = Vec::with_capacity(128);
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&(NLM_F_REQUEST_ACK | flags).to_ne_bytes());
        m.extend_from_slice(&[0u8; 8]);
        Request(m).ifinfo(index, ifi_flags, change)
    }

    /// struct ifinfomsg: family, pad, type, index, flags, change.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Self {
        self.0.extend_from_slice(&[0u8; 4]);
        self.0.extend_from_slice(&index.to_ne_bytes());
        self.0.extend_from_slice(&flags.to_ne_bytes());
        self.0.extend_from_slice(&change.to_ne_bytes());
        self
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Self {
        self.0
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    /// Opens a nested attribute; `end` closes it.
    fn nest(self, kind: u16) -> (Self, usize) {
        let at = self.0.len();
        (self.attr(kind, &[]), at)
    }

    fn end(mut self, at: usize) -> Self {
        let len = (self.0.len() - at) as u16;
        self.0[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn done(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

fn name_attr(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// RTM_NEWLINK that sets or clears IFF_UP on `index`.
fn set_up_msg(index: i32, up: bool) -> Vec<u8> {
    Request::link(RTM_NEWLINK, 0, index, if up { IFF_UP } else { 0 }, IFF_UP).done()
}

/// RTM_NEWLINK creating veth pair `name`/`name`p.
fn add_veth_msg(name: &str) -> Vec<u8> {
    let r =
        Request::link(RTM_NEWLINK, NLM_F_CREATE_EXCL, 0, 0, 0).attr(IFLA_IFNAME, &name_attr(name));
    let (r, info) = r.nest(IFLA_LINKINFO);
    let r = r.attr(IFLA_INFO_KIND, b"veth");
    let (r, data) = r.nest(IFLA_INFO_DATA);
    let (r, peer) = r.nest(VETH_INFO_PEER);
    let r = r
        .ifinfo(0, 0, 0)
        .attr(IFLA_IFNAME, &name_attr(&format!("{name}p")));
    r.end(peer).end(data).end(info).done()
}

/// RTM_DELLINK of `name` (its peer goes with it).
fn del_link_msg(name: &str) -> Vec<u8> {
    Request::link(RTM_DELLINK, 0, 0, 0, 0)
        .attr(IFLA_IFNAME, &name_attr(name))
        .done()
}

/// Counts the error acks waiting on the churn socket.
fn read_acks(sock: &NlSocket, rec: &mut ChurnRecord, buf: &mut [u8]) {
    while let crate::nlsock::Received::Datagram { len, .. } = sock.recv(buf, libc::MSG_DONTWAIT) {
        for h in crate::dump::wire::headers(&buf[..len.min(buf.len())]) {
            if let Some(e) = h.error.filter(|&e| e != 0) {
                rec.errors += 1;
                rec.first_error
                    .get_or_insert(io::Error::from_raw_os_error(e).to_string());
            }
        }
    }
}

/// Where socket churn connects, and the listener whose backlog it drains.
#[derive(Debug)]
pub struct Target {
    /// The listener's address.
    pub addr: SocketAddr,
    /// The listener (nonblocking clone).
    pub listener: TcpListener,
}

/// Runs `churn` until `stop`. `links` are the device names link churn toggles. `started`
/// hears once the first change has been made (or churn gave up), so the caller can start
/// whatever must run under churn only once it does.
pub fn run(
    churn: &Churn,
    links: &[String],
    target: Option<&Target>,
    stop: &AtomicBool,
    started: mpsc::SyncSender<()>,
) -> ChurnRecord {
    let mut started = Some(started);
    let mut first_change_made = move || {
        if let Some(s) = started.take() {
            // The caller may have stopped waiting; nothing to do then.
            let _ = s.send(());
        }
    };
    let mut rec = ChurnRecord::default();
    let fail = |rec: &mut ChurnRecord, e: io::Error| {
        rec.errors += 1;
        rec.first_error.get_or_insert(e.to_string());
    };
    let (per_sec, kind) = match churn {
        Churn::Links { per_sec } => (*per_sec, "links"),
        Churn::Sockets { per_sec } => (*per_sec, "sockets"),
    };
    rec.kind = kind.into();
    let gap = Duration::from_secs_f64(1.0 / per_sec.max(0.001));
    let start = Instant::now();
    match churn {
        Churn::Links { .. } => {
            let indices: Vec<i32> = links
                .iter()
                .filter_map(|n| std::fs::read_to_string(format!("/sys/class/net/{n}/ifindex")).ok())
                .filter_map(|t| t.trim().parse().ok())
                .collect();
            let sock = match NlSocket::open_family(libc::NETLINK_ROUTE)
                .and_then(|s| s.bind(&[]).map(|_| s))
            {
                Ok(s) => s,
                Err(e) => {
                    fail(&mut rec, e);
                    return rec;
                }
            };
            if indices.is_empty() {
                fail(
                    &mut rec,
                    io::Error::other("no links to churn: set `veths` in the scenario"),
                );
                return rec;
            }
            // Down, up, add, delete: every kind of RTM_NEWLINK/RTM_DELLINK broadcast.
            let mut buf = vec![0u8; 16 * 1024];
            let mut step = |rec: &mut ChurnRecord, i: u64| {
                let index = indices[(i / 4) as usize % indices.len()];
                let msg = match i % 4 {
                    0 => set_up_msg(index, false),
                    1 => set_up_msg(index, true),
                    2 => add_veth_msg("nlc0"),
                    _ => del_link_msg("nlc0"),
                };
                match sock.send_to_kernel(&msg) {
                    Ok(()) => rec.changes += 1,
                    Err(e) => fail(rec, e),
                }
                read_acks(&sock, rec, &mut buf);
            };
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                step(&mut rec, i);
                first_change_made();
                i += 1;
                wait_until(start + gap.mul_f64(i as f64), stop);
            }
            // Leave the links as found: the next run in the same sandbox (a search's next
            // trial) must not meet a veth left down, or an nlc0 that already exists.
            if i % 4 == 1 || i % 4 == 3 {
                step(&mut rec, i);
            }
        }
        Churn::Sockets { .. } => {
            let Some(t) = target else {
                fail(
                    &mut rec,
                    io::Error::other("no listener to churn against: set `tcp-connections`"),
                );
                return rec;
            };
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                match TcpStream::connect(t.addr) {
                    Ok(c) => {
                        rec.changes += 1;
                        while t.listener.accept().is_ok() {}
                        drop(c);
                    }
                    Err(e) => fail(&mut rec, e),
                }
                first_change_made();
                i += 1;
                wait_until(start + gap.mul_f64(i as f64), stop);
            }
        }
    }
    rec
}

impl Target {
    /// Another handle to the same listener.
    pub fn try_clone(&self) -> io::Result<Target> {
        Ok(Target {
            addr: self.addr,
            listener: self.listener.try_clone()?,
        })
    }
}
