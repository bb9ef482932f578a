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
use crate::plan::Churn;
use crate::sys::nlsock::NlSocket;

use crate::rtlink::{add_veth_msg, del_link_msg, set_up_msg};

/// Counts the error acks waiting on the churn socket.
fn read_acks(sock: &NlSocket, rec: &mut ChurnRecord, buf: &mut [u8]) {
    while let crate::sys::nlsock::Received::Datagram { len, .. } =
        sock.recv(buf, libc::MSG_DONTWAIT)
    {
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
    rec.finish(per_sec, start.elapsed());
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
