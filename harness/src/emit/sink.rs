//! Where an emitter's bytes enter the kernel.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::plan::Protocol;
use crate::sys::nlsock::{NlSocket, SockOpt};

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
    /// A socket sending uevents to the namespace's kernel uevent socket, which
    /// rebroadcasts them (uevent_net_rcv() -> uevent_net_broadcast()).
    Injected {
        /// The sending socket, bound to no group.
        sock: NlSocket,
        /// Netlink header and payload of the message being sent.
        buf: std::cell::RefCell<Vec<u8>>,
    },
    /// An rtnetlink socket setting the alias of a sandbox veth; the kernel broadcasts
    /// the link's RTM_NEWLINK (do_setlink() -> netdev_state_change()).
    LinkAlias {
        /// The requesting socket, bound to no group.
        sock: NlSocket,
        /// The veth's index (it is up: the kernel announces changes of up links only).
        index: i32,
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
        let got = sock.sndbuf()?;
        if (max_len as u64).saturating_add(32) > got {
            // Unsupported: the machine's limits, not the scenario, stop it (exit 3).
            return Err(io::Error::new(io::ErrorKind::Unsupported, format!(
                "the kernel refuses netlink messages longer than the sender's SO_SNDBUF - 32 (netlink_sendmsg), and this sender got SO_SNDBUF {got} B: {} B at most here (net.core.wmem_max caps SO_SNDBUF; SO_SNDBUFFORCE, which does not, needs CAP_NET_ADMIN): lower `payload` or run as root",
                got - 32
            )));
        }
        Ok(Sink::Socket { sock, group })
    }

    /// A socket injecting uevents of up to `max_len` bytes.
    pub fn injected(max_len: usize) -> io::Result<Self> {
        let sock = NlSocket::open(Protocol::KobjectUevent)?;
        sock.bind(&[])?;
        Ok(Sink::Injected {
            sock,
            buf: std::cell::RefCell::new(Vec::with_capacity(NLMSG_HDRLEN + max_len)),
        })
    }

    /// A socket setting the alias of `dev`, which the sandbox made and set up.
    pub fn link_alias(dev: &str) -> io::Result<Self> {
        let index = nix::net::if_::if_nametoindex(dev).map_err(io::Error::from)?;
        let sock = NlSocket::open(Protocol::Route)?;
        sock.bind(&[])?;
        Ok(Sink::LinkAlias {
            sock,
            index: index as i32,
        })
    }

    /// Sends one message.
    pub fn send(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Sysfs { file, .. } => file.write_at(bytes, 0).map(drop),
            Sink::Socket { sock, group } => sock.broadcast(*group, bytes),
            Sink::Injected { sock, buf } => inject(sock, &mut buf.borrow_mut(), bytes),
            Sink::LinkAlias { sock, index } => {
                sock.send_to_kernel(&crate::rtlink::set_alias_msg(*index, bytes))?;
                read_ack(sock, "a link alias change")
            }
        }
    }
}

const NLMSG_HDRLEN: usize = 16;
/// Any type at or above NLMSG_MIN_TYPE is handed to uevent_net_rcv_skb().
const UEVENT_MSG_TYPE: u16 = 0x10;

/// One uevent into the kernel, with NLM_F_ACK: netlink_rcv_skb() runs the kernel's
/// input synchronously inside sendmsg(), so its ack is queued by the time sendto()
/// returns, and a refusal (EPERM without CAP_SYS_ADMIN, EINVAL for a message that
/// would not fit UEVENT_BUFFER_SIZE) is an error of this send rather than a message
/// nobody reads.
fn inject(sock: &NlSocket, buf: &mut Vec<u8>, bytes: &[u8]) -> io::Result<()> {
    let len = (NLMSG_HDRLEN + bytes.len()) as u32;
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    buf.clear();
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&UEVENT_MSG_TYPE.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(bytes);
    sock.send_to_kernel(buf)?;
    read_ack(sock, "an injected uevent")
}

/// The ack of the request just sent; the kernel queued it before sendto() returned.
fn read_ack(sock: &NlSocket, what: &str) -> io::Result<()> {
    let mut ack = [0u8; 64];
    match sock.recv(&mut ack, libc::MSG_DONTWAIT) {
        crate::sys::nlsock::Received::Datagram { len, .. } if len >= NLMSG_HDRLEN + 4 => {
            let code = i32::from_ne_bytes(ack[16..20].try_into().expect("4 bytes"));
            if code == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(-code))
            }
        }
        crate::sys::nlsock::Received::Datagram { .. } => Err(io::Error::other(format!(
            "the kernel's ack to {what} was short"
        ))),
        crate::sys::nlsock::Received::Errno(e) => Err(io::Error::other(format!(
            "the kernel sent no ack to {what} ({})",
            io::Error::from_raw_os_error(e)
        ))),
    }
}
