//! Netlink sockets with typed options: every raw constant is mapped here, once, and
//! every system call on a netlink socket is made here.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::plan::Protocol;

/// SOL_NETLINK option that suppresses ENOBUFS reports (the drop still happens).
const NETLINK_NO_ENOBUFS: libc::c_int = 5;
const NETLINK_BROADCAST_ERROR: libc::c_int = 4;
/// Index of rmem_alloc and drops in the SO_MEMINFO array (include/uapi/linux/sock_diag.h).
const SK_MEMINFO_RMEM_ALLOC: usize = 0;
const SK_MEMINFO_RCVBUF: usize = 1;
const SK_MEMINFO_DROPS: usize = 8;
const SK_MEMINFO_VARS: usize = 9;

/// A socket option nlstorm sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockOpt {
    /// SO_RCVBUF: the kernel stores `max(2 * min(v, rmem_max), SOCK_MIN_RCVBUF)`
    /// ("The kernel doubles this value", man 7 socket).
    Rcvbuf(i32),
    /// SO_RCVBUFFORCE: as SO_RCVBUF without the rmem_max clamp; needs CAP_NET_ADMIN.
    RcvbufForce(i32),
    /// SO_SNDBUF.
    Sndbuf(u32),
    /// SO_SNDBUFFORCE.
    SndbufForce(u32),
    /// NETLINK_NO_ENOBUFS.
    NoEnobufs(bool),
    /// NETLINK_BROADCAST_ERROR: a failed delivery to this socket is returned to the
    /// broadcast's sender inside the kernel (netlink_broadcast's result).
    BroadcastError(bool),
    /// SO_RCVTIMEO: bounds every blocking receive.
    RecvTimeout(Duration),
}

/// The kernel's accounting of one socket's receive queue (SO_MEMINFO).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// Bytes charged to the receive queue (sum of skb truesize).
    pub rmem_alloc: u64,
    /// Effective receive buffer limit.
    pub rcvbuf: u64,
    /// Messages dropped for this socket (sk_drops).
    pub drops: u64,
}

/// What one receive call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A datagram: bytes copied and whether it was cut short (MSG_TRUNC).
    Datagram {
        /// Bytes in the caller's buffer.
        len: usize,
        /// The datagram was longer than the buffer.
        truncated: bool,
    },
    /// The call failed with this errno (ENOBUFS, EAGAIN, EINTR, ...).
    Errno(i32),
}

/// An AF_NETLINK socket.
#[derive(Debug)]
pub struct NlSocket {
    fd: OwnedFd,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl NlSocket {
    /// Opens a raw netlink socket of `protocol`.
    pub fn open(protocol: Protocol) -> io::Result<Self> {
        // SAFETY: socket(2) takes integers only.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol.raw(),
            )
        })?;
        Ok(Self {
            // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Opens a raw netlink socket of family number `family` (NETLINK_ROUTE,
    /// NETLINK_SOCK_DIAG, ...), for the dump clients' request/reply traffic.
    pub fn open_family(family: libc::c_int) -> io::Result<Self> {
        // SAFETY: socket(2) takes integers only.
        let fd = check(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                family,
            )
        })?;
        Ok(Self {
            // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Attaches a classic BPF program (SO_ATTACH_FILTER): `(code, jt, jf, k)` per
    /// instruction. The kernel runs it on broadcasts and, in netlink_dump(), on dump
    /// replies too.
    pub fn attach_filter(&self, program: &[(u16, u8, u8, u32)]) -> io::Result<()> {
        let mut code: Vec<libc::sock_filter> = program
            .iter()
            .map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k })
            .collect();
        let prog = libc::sock_fprog {
            len: code.len() as u16,
            filter: code.as_mut_ptr(),
        };
        self.setopt(libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
    }

    /// Removes the socket filter (SO_DETACH_FILTER).
    pub fn detach_filter(&self) -> io::Result<()> {
        self.setopt(libc::SOL_SOCKET, libc::SO_DETACH_FILTER, &0 as &libc::c_int)
    }

    /// Joins (NETLINK_ADD_MEMBERSHIP) or leaves (NETLINK_DROP_MEMBERSHIP) `group`.
    pub fn membership(&self, group: u32, join: bool) -> io::Result<()> {
        const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
        const NETLINK_DROP_MEMBERSHIP: libc::c_int = 2;
        let opt = if join {
            NETLINK_ADD_MEMBERSHIP
        } else {
            NETLINK_DROP_MEMBERSHIP
        };
        self.setopt(libc::SOL_NETLINK, opt, &(group as libc::c_int))
    }

    /// The port id the kernel gave this socket at bind (getsockname).
    pub fn portid(&self) -> io::Result<u32> {
        // SAFETY: sockaddr_nl is plain data; all-zero is valid. getsockname(2) writes at most
        // `len` bytes into `sa`, both live locals.
        let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
        let mut len = size_of::<libc::sockaddr_nl>() as u32;
        // SAFETY: as above: the kernel touches only the live locals given, at the
        // lengths given.
        check(unsafe {
            libc::getsockname(
                self.raw(),
                (&mut sa as *mut libc::sockaddr_nl).cast(),
                &mut len,
            )
        })?;
        Ok(sa.nl_pid)
    }

    /// Sends `bytes` to the kernel (port id 0).
    pub fn send_to_kernel(&self, bytes: &[u8]) -> io::Result<()> {
        self.sendto(0, bytes)
    }

    /// sendto(2) to the kernel's port with `groups` as the destination group mask.
    fn sendto(&self, groups: u32, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain data; all-zero is valid. sendto(2) reads `bytes` and `sa`,
        // both live for the call, at the lengths given.
        let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = groups;
        // SAFETY: as above: the kernel touches only the live locals given, at the
        // lengths given.
        let r = unsafe {
            libc::sendto(
                self.raw(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Binds with a kernel-chosen port id, joining `groups` (1-based, at most 32).
    pub fn bind(&self, groups: &[u32]) -> io::Result<()> {
        // SAFETY: sockaddr_nl is plain data; all-zero is valid. bind(2) reads `sa`, a live local
        // of the length given.
        let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups = group_mask(groups);
        // SAFETY: as above: the kernel touches only the live locals given, at the
        // lengths given.
        check(unsafe {
            libc::bind(
                self.raw(),
                (&sa as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        })?;
        Ok(())
    }

    /// Sets one option.
    pub fn set(&self, opt: SockOpt) -> io::Result<()> {
        match opt {
            SockOpt::Rcvbuf(v) => {
                self.setopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &(v as libc::c_int))
            }
            SockOpt::RcvbufForce(v) => {
                self.setopt(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &(v as libc::c_int))
            }
            SockOpt::Sndbuf(v) => {
                self.setopt(libc::SOL_SOCKET, libc::SO_SNDBUF, &(v as libc::c_int))
            }
            SockOpt::SndbufForce(v) => {
                self.setopt(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &(v as libc::c_int))
            }
            SockOpt::NoEnobufs(on) => self.setopt(
                libc::SOL_NETLINK,
                NETLINK_NO_ENOBUFS,
                &libc::c_int::from(on),
            ),
            SockOpt::BroadcastError(on) => self.setopt(
                libc::SOL_NETLINK,
                NETLINK_BROADCAST_ERROR,
                &libc::c_int::from(on),
            ),
            SockOpt::RecvTimeout(d) => {
                let tv = libc::timeval {
                    tv_sec: d.as_secs() as libc::time_t,
                    tv_usec: d.subsec_micros() as libc::suseconds_t,
                };
                self.setopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
            }
        }
    }

    fn setopt<T>(&self, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
        // SAFETY: `v` is a live `T` of size_of::<T>() bytes, read during the call only.
        check(unsafe {
            libc::setsockopt(
                self.raw(),
                level,
                name,
                (v as *const T).cast(),
                size_of::<T>() as u32,
            )
        })?;
        Ok(())
    }

    fn getopt_int(&self, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
        let mut v: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as u32;
        // SAFETY: `v` and `len` are live locals; the kernel writes at most `len` bytes into `v`.
        check(unsafe {
            libc::getsockopt(
                self.raw(),
                level,
                name,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        })?;
        Ok(v)
    }

    /// The effective SO_SNDBUF, as the kernel reports it (already doubled).
    pub fn sndbuf(&self) -> io::Result<u64> {
        Ok(self.getopt_int(libc::SOL_SOCKET, libc::SO_SNDBUF)? as u64)
    }

    /// The effective SO_RCVBUF, as the kernel reports it (already doubled).
    pub fn rcvbuf(&self) -> io::Result<u64> {
        Ok(self.getopt_int(libc::SOL_SOCKET, libc::SO_RCVBUF)? as u64)
    }

    /// SO_ERROR: the pending socket error, which reading it clears (0 when none).
    pub fn take_error(&self) -> io::Result<i32> {
        self.getopt_int(libc::SOL_SOCKET, libc::SO_ERROR)
    }

    /// Whether NETLINK_NO_ENOBUFS is in effect, read back from the kernel.
    pub fn no_enobufs(&self) -> io::Result<bool> {
        Ok(self.getopt_int(libc::SOL_NETLINK, NETLINK_NO_ENOBUFS)? != 0)
    }

    /// NETLINK_BROADCAST_ERROR as the kernel reports it.
    pub fn broadcast_error(&self) -> io::Result<bool> {
        Ok(self.getopt_int(libc::SOL_NETLINK, NETLINK_BROADCAST_ERROR)? != 0)
    }

    /// The queue's memory accounting (SO_MEMINFO).
    pub fn meminfo(&self) -> io::Result<MemInfo> {
        let mut v = [0u32; SK_MEMINFO_VARS];
        let mut len = size_of::<[u32; SK_MEMINFO_VARS]>() as u32;
        // SAFETY: `v` is a live array of `len` bytes; the kernel writes at most that many.
        check(unsafe {
            libc::getsockopt(
                self.raw(),
                libc::SOL_SOCKET,
                libc::SO_MEMINFO,
                v.as_mut_ptr().cast(),
                &mut len,
            )
        })?;
        Ok(MemInfo {
            rmem_alloc: u64::from(v[SK_MEMINFO_RMEM_ALLOC]),
            rcvbuf: u64::from(v[SK_MEMINFO_RCVBUF]),
            drops: u64::from(v[SK_MEMINFO_DROPS]),
        })
    }

    /// The socket's inode: the key of its /proc/net/netlink row.
    pub fn inode(&self) -> io::Result<u64> {
        // SAFETY: stat is plain data; all-zero is valid. fstat(2) writes into `st`, a live local.
        let mut st: libc::stat = unsafe { zeroed() };
        // SAFETY: as above: the kernel touches only the live locals given, at the
        // lengths given.
        check(unsafe { libc::fstat(self.raw(), &mut st) })?;
        Ok(st.st_ino)
    }

    /// Broadcasts `bytes` to `group`. For families without a kernel socket (usersock) the
    /// unicast half of netlink_sendmsg() fails with ECONNREFUSED after the broadcast has
    /// already been delivered, so that errno means sent.
    pub fn broadcast(&self, group: u32, bytes: &[u8]) -> io::Result<()> {
        match self.sendto(group_mask(&[group]), bytes) {
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => Ok(()),
            r => r,
        }
    }

    /// One recvmsg(2) into `buf`; `flags` may hold MSG_DONTWAIT.
    pub fn recv(&self, buf: &mut [u8], flags: libc::c_int) -> Received {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; all-zero is valid. recvmsg(2) writes into `buf` through
        // `iov`, both live for the call, at most `buf.len()` bytes.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: as above: the kernel touches only the live locals given, at the
        // lengths given.
        let r = unsafe { libc::recvmsg(self.raw(), &mut msg, flags) };
        if r < 0 {
            return Received::Errno(
                io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO),
            );
        }
        Received::Datagram {
            len: r as usize,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        }
    }

    /// One recvmsg(2) into `buf` that also says who sent it: port id 0 is the kernel.
    pub fn recv_from(&self, buf: &mut [u8], flags: libc::c_int) -> (Received, u32) {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: sockaddr_nl and msghdr are plain C structs for which all-zero is valid.
        let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
        // SAFETY: as above: the kernel touches only the live locals given, at the
        // lengths given.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut sa as *mut libc::sockaddr_nl).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_nl>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: msg points at `sa` and `iov`, which point at live buffers of the
        // lengths given, for the duration of the call.
        let r = unsafe { libc::recvmsg(self.raw(), &mut msg, flags) };
        if r < 0 {
            let e = io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            return (Received::Errno(e), 0);
        }
        let got = Received::Datagram {
            len: r as usize,
            truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        };
        (got, sa.nl_pid)
    }

    /// Waits up to `timeout` for the socket to be readable (or to have an error pending).
    pub fn wait_readable(&self, timeout: Duration) -> bool {
        let mut p = libc::pollfd {
            fd: self.raw(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `p` is one live pollfd, and 1 is the count passed.
        unsafe { libc::poll(&mut p, 1, ms) > 0 }
    }

    /// The raw descriptor, for recvmmsg(2) and write paths.
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The bind(2) bitmask for groups 1..=32.
pub fn group_mask(groups: &[u32]) -> u32 {
    groups
        .iter()
        .filter(|g| (1..=32).contains(*g))
        .fold(0, |m, g| m | 1u32 << (g - 1))
}

/// Buffers for one recvmmsg(2) call: up to `vlen` datagrams of up to `len` bytes each.
/// The headers point into the buffers, which live on the heap and never move while the
/// batch exists.
pub struct Batch {
    len: usize,
    bufs: Vec<u8>,
    /// Kept alive for `hdrs`, which point into them.
    _iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Batch {
    /// Room for `vlen` datagrams of `len` bytes.
    pub fn new(vlen: usize, len: usize) -> Batch {
        let mut bufs = vec![0u8; len * vlen];
        let mut iovs: Vec<libc::iovec> = bufs
            .chunks_mut(len)
            .map(|c| libc::iovec {
                iov_base: c.as_mut_ptr().cast(),
                iov_len: len,
            })
            .collect();
        let hdrs = iovs
            .iter_mut()
            .map(|iov| {
                // SAFETY: mmsghdr is plain data; all-zero is a valid empty header.
                let mut h: libc::mmsghdr = unsafe { zeroed() };
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Batch {
            len,
            bufs,
            _iovs: iovs,
            hdrs,
        }
    }

    /// One recvmmsg(2) on `sock`: how many datagrams arrived, or the errno. The kernel
    /// writes `msg_len` and `msg_flags` of every header it fills (___sys_recvmsg puts
    /// the flags back), so nothing is reset between calls.
    pub fn recv(&mut self, sock: &NlSocket, flags: libc::c_int) -> Result<usize, i32> {
        // SAFETY: each header points at its iovec, which points at its `len` bytes of
        // `bufs`; all three outlive the call and are not moved during it, and the
        // count passed is the number of headers.
        let n = unsafe {
            libc::recvmmsg(
                sock.raw(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as u32,
                flags,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO));
        }
        Ok(n as usize)
    }

    /// Datagram `i` of the last call: its bytes and whether it was cut short (MSG_TRUNC).
    pub fn datagram(&self, i: usize) -> (&[u8], bool) {
        let h = &self.hdrs[i];
        let got = (h.msg_len as usize).min(self.len);
        let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        (&self.bufs[i * self.len..i * self.len + got], truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_masks() {
        assert_eq!(group_mask(&[1]), 1);
        assert_eq!(group_mask(&[1, 3]), 0b101);
        assert_eq!(group_mask(&[32]), 1 << 31);
        assert_eq!(group_mask(&[0, 33]), 0);
    }
}
