//! Background churn inside the sandbox that makes the kernel itself broadcast: links set
//! down and up (RTM_NEWLINK to RTNLGRP_LINK) and TCP connections opened and closed while
//! inet_diag dumps walk the socket tables.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::emit::wait_until;
use crate::nlsock::NlSocket;
use crate::plan::Churn;

/// What one churn thread did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChurnRecord {
    /// `links` or `sockets`.
    pub kind: String,
    /// Changes made.
    pub changes: u64,
    /// Changes that failed.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
}

const RTM_NEWLINK: u16 = 16;
const IFF_UP: u32 = 1;

/// RTM_NEWLINK that sets or clears IFF_UP on `index`, without an ack.
fn set_up_msg(index: i32, up: bool) -> Vec<u8> {
    let mut m = Vec::with_capacity(32);
    m.extend_from_slice(&32u32.to_ne_bytes());
    m.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    m.extend_from_slice(&1u16.to_ne_bytes()); // NLM_F_REQUEST
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // struct ifinfomsg: family, pad, type, index, flags, change.
    m.extend_from_slice(&[0u8, 0, 0, 0]);
    m.extend_from_slice(&index.to_ne_bytes());
    m.extend_from_slice(&(if up { IFF_UP } else { 0 }).to_ne_bytes());
    m.extend_from_slice(&IFF_UP.to_ne_bytes());
    m
}

/// Where socket churn connects, and the listener whose backlog it drains.
#[derive(Debug)]
pub struct Target {
    /// The listener's address.
    pub addr: SocketAddr,
    /// The listener (nonblocking clone).
    pub listener: TcpListener,
}

/// Runs `churn` until `stop`. `links` are the device names link churn toggles.
pub fn run(
    churn: &Churn,
    links: &[String],
    target: Option<&Target>,
    stop: &AtomicBool,
) -> ChurnRecord {
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
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                let index = indices[(i / 2) as usize % indices.len()];
                match sock.send_to_kernel(&set_up_msg(index, i % 2 == 1)) {
                    Ok(()) => rec.changes += 1,
                    Err(e) => fail(&mut rec, e),
                }
                i += 1;
                wait_until(start + gap.mul_f64(i as f64), stop);
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
