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

/// The CPUs this process may run on (sched_getaffinity), ascending.
pub fn allowed_cpus() -> std::io::Result<Vec<u32>> {
    use nix::sched::{sched_getaffinity, CpuSet};
    let set = sched_getaffinity(nix::unistd::Pid::from_raw(0))?;
    Ok((0..CpuSet::count() as u32)
        .filter(|&c| set.is_set(c as usize).unwrap_or(false))
        .collect())
}

/// Pins the calling thread to `cpu` (sched_setaffinity with tid 0: this thread only).
pub fn pin_this_thread(cpu: u32) -> std::io::Result<()> {
    use nix::sched::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    set.set(cpu as usize)?;
    sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)?;
    Ok(())
}

/// The CPU the calling thread runs on now (sched_getcpu), if the call works.
pub fn current_cpu() -> Option<u32> {
    // SAFETY: sched_getcpu takes no arguments and only returns a number.
    let c = unsafe { libc::sched_getcpu() };
    u32::try_from(c).ok()
}

/// A list of CPUs as the kernel writes them: `0-3,6`.
pub fn cpu_list(cpus: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(",")
}
