//! Recording kernel uevents inside the sandbox, as `udevadm monitor --kernel --property`
//! would print them: what `nlstorm trace record` runs in the sandbox child, and how the
//! bundled traces were made.

use std::io;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Source, Trace, TraceEvent};
use crate::plan::Protocol;
use crate::sys::nlsock::{NlSocket, Received, SockOpt};

/// What to record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordJob {
    /// Run inside the sandbox while recording (no shell); empty: record only.
    pub command: Vec<String>,
    /// Longest recording.
    pub duration: Duration,
    /// How long to go on recording after the command exits: the kernel's last events
    /// (a deleted device's queues) follow its last system call.
    pub settle: Duration,
}

/// What was recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recording {
    /// The events (provenance is the caller's to add).
    pub trace: Trace,
    /// The command's exit status, if one ran and exited.
    pub exit_code: Option<i32>,
    /// The command was still running at the end and was killed.
    pub killed: bool,
    /// Datagrams from a user-space sender (not kernel uevents), left out as udevadm
    /// --kernel leaves them out.
    pub not_from_kernel: u64,
    /// The recording socket overflowed: the trace is missing events.
    pub overflowed: bool,
}

/// A recording socket's buffer: far more than any burst a command makes.
const RECORD_RCVBUF: i32 = 32 << 20;

/// Records group 1 of NETLINK_KOBJECT_UEVENT in the current (sandbox) namespaces while
/// `job.command` runs.
pub fn record(job: &RecordJob) -> io::Result<Recording> {
    let sock = NlSocket::open(Protocol::KobjectUevent)?;
    if sock.set(SockOpt::RcvbufForce(RECORD_RCVBUF)).is_err() {
        sock.set(SockOpt::Rcvbuf(RECORD_RCVBUF))?;
    }
    sock.bind(&[1])?;
    let start = Instant::now();
    let mut child = match job.command.split_first() {
        Some((prog, args)) => Some(
            Command::new(prog)
                .args(args)
                .stdin(Stdio::null())
                // stdout is the child's answer channel: the command's output goes to stderr.
                .stdout(io::stderr())
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot start {prog}: {e}")))?,
        ),
        None => None,
    };
    let mut rec = Recording {
        trace: Trace::default(),
        exit_code: None,
        killed: false,
        not_from_kernel: 0,
        overflowed: false,
    };
    let mut end = start + job.duration;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(c) = child.as_mut() {
            if let Some(status) = c.try_wait()? {
                rec.exit_code = status.code();
                child = None;
                end = end.min(Instant::now() + job.settle);
            }
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        if !sock.wait_readable((end - now).min(Duration::from_millis(10))) {
            continue;
        }
        match sock.recv_from(&mut buf, libc::MSG_DONTWAIT) {
            (Received::Datagram { len, .. }, 0) => {
                if let Some(e) = event(&buf[..len], monotonic_us()) {
                    rec.trace.events.push(e);
                }
            }
            (Received::Datagram { .. }, _) => rec.not_from_kernel += 1,
            (Received::Errno(libc::ENOBUFS), _) => rec.overflowed = true,
            (Received::Errno(libc::EAGAIN | libc::EINTR), _) => {}
            (Received::Errno(e), _) => return Err(io::Error::from_raw_os_error(e)),
        }
    }
    if let Some(mut c) = child {
        // Our own child, by PID.
        let _ = c.kill();
        let _ = c.wait();
        rec.killed = true;
    }
    Ok(rec)
}

/// CLOCK_MONOTONIC in microseconds: the clock udevadm stamps its lines with.
fn monotonic_us() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

/// A kernel uevent datagram (`ACTION@DEVPATH\0KEY=VALUE\0...`) as a trace event;
/// `None` for anything else (a libudev-format message has no `@` header).
pub fn event(bytes: &[u8], at_us: u64) -> Option<TraceEvent> {
    let mut fields = bytes
        .split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let head = fields.next()?;
    let (action, devpath) = head.split_once('@')?;
    let mut e = TraceEvent {
        source: Source::Kernel,
        at_us,
        action: action.to_string(),
        devpath: devpath.to_string(),
        subsystem: String::new(),
        seqnum: None,
        properties: Vec::new(),
    };
    for f in fields {
        let Some((k, v)) = f.split_once('=') else {
            continue;
        };
        match k {
            "SEQNUM" => e.seqnum = v.parse().ok(),
            _ => {
                if k == "SUBSYSTEM" {
                    e.subsystem = v.to_string();
                }
                e.properties.push((k.to_string(), v.to_string()));
            }
        }
    }
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_datagram_becomes_the_event_udevadm_prints() {
        let e = event(
            b"add@/devices/virtual/net/v0\0ACTION=add\0DEVPATH=/devices/virtual/net/v0\0SUBSYSTEM=net\0INTERFACE=v0\0SEQNUM=12\0",
            7,
        )
        .unwrap();
        assert_eq!(e.subsystem, "net");
        assert_eq!(e.seqnum, Some(12));
        assert_eq!(e.properties.len(), 4);
        assert_eq!(
            e.wire(),
            b"add@/devices/virtual/net/v0\0ACTION=add\0DEVPATH=/devices/virtual/net/v0\0SUBSYSTEM=net\0INTERFACE=v0\0"
        );
        assert!(event(b"libudev\0\xfe\xed\xca\xfe", 0).is_none());
    }
}
