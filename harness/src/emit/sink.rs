//! Where an emitter's bytes enter the kernel.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::nlsock::{NlSocket, SockOpt};
use crate::plan::Protocol;

/// One of the three paths into a broadcast group.
#[derive(Debug)]
pub enum Sink {
    /// `/sys/class/net/<dev>/uevent`: the kernel parses `ACTION UUID KEY=VAL...` in
    /// kobject_synth_uevent() and broadcasts through kobject_uevent_env(), the path of
    /// incident 1.
    Sysfs {
        /// The open attribute.
        file: File,
        /// Its path, for messages.
        path: String,
    },
    /// A user-space netlink socket broadcasting to `group`.
    Socket {
        /// The sending socket.
        sock: NlSocket,
        /// Destination group.
        group: u32,
    },
}

impl Sink {
    /// The uevent attribute of `dev` (inside the sandbox's own sysfs).
    pub fn sysfs(dev: &str) -> io::Result<Self> {
        let path = format!("/sys/class/net/{dev}/uevent");
        let file = File::options().write(true).open(&path)?;
        Ok(Sink::Sysfs { file, path })
    }

    /// A broadcasting socket able to send `max_len`-byte messages: netlink_sendmsg()
    /// refuses messages longer than sk_sndbuf - 32.
    pub fn socket(protocol: Protocol, group: u32, max_len: usize) -> io::Result<Self> {
        let sock = NlSocket::open(protocol)?;
        sock.bind(&[])?;
        let want = (max_len as u32).saturating_add(4096).max(256 * 1024);
        if sock.set(SockOpt::SndbufForce(want)).is_err() {
            sock.set(SockOpt::Sndbuf(want))?;
        }
        Ok(Sink::Socket { sock, group })
    }

    /// Sends one message.
    pub fn send(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Sysfs { file, .. } => file.write_at(bytes, 0).map(drop),
            Sink::Socket { sock, group } => sock.broadcast(*group, bytes),
        }
    }
}
