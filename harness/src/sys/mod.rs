//! All of nlstorm's `unsafe` code: the system calls that neither std nor nix wraps in a
//! form nlstorm can use. Every other module is compiled with `unsafe_code` denied
//! (lib.rs), and every `unsafe` block here carries a SAFETY comment (clippy's
//! `undocumented_unsafe_blocks` is denied in this module).
//!
//! `nlsock`: netlink sockets and their options, recvmsg and recvmmsg; `process`: what a
//! child does between fork and exec (PDEATHSIG, a program's process group, fexecve from
//! a descriptor) and pidfd_getfd; `signals`: the wake-up signal that interrupts a
//! blocked call.

pub mod nlsock;
pub mod process;
pub mod signals;

/// 16 random bytes from getrandom(2), or `None` if the call came back short.
pub fn random16() -> Option<[u8; 16]> {
    let mut b = [0u8; 16];
    // SAFETY: the kernel writes at most `b.len()` bytes into `b`, a live local.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    (n == 16).then_some(b)
}
