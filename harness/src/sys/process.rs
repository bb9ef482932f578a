//! What a child process does between fork and exec, and the other process-level calls
//! that neither std nor nix wraps in a form usable there: PDEATHSIG, a process group of
//! its own, a report descriptor at a fixed number, fork in a single-threaded process,
//! and pidfd_getfd() to read another process's socket option.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The child `cmd` starts is killed (SIGKILL) when this thread's process dies: a sandbox
/// child never outlives the nlstorm that started it.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure makes one prctl call, which is async-signal-safe, and touches
    // no memory shared with the parent.
    unsafe {
        cmd.pre_exec(killed_with_parent);
    }
}

/// PR_SET_PDEATHSIG with SIGKILL: one prctl(2), async-signal-safe, so callable between
/// fork and exec.
fn killed_with_parent() -> std::io::Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(Into::into)
}

/// Sets `cmd` up as a program's init (see `program::confine`): its own process group,
/// killed with the sandbox, no signal blocked, and `report` as its descriptor
/// `report_at`, where the init writes what became of the program.
pub fn as_program_init(cmd: &mut Command, report: &OwnedFd, report_at: RawFd) {
    let parent = nix::unistd::getpid().as_raw();
    let report = report.as_raw_fd();
    // SAFETY: between fork and exec the closure makes only async-signal-safe calls
    // (setpgid, prctl, getppid, _exit, sigemptyset, sigprocmask, dup2) and reads only
    // integers copied before fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            killed_with_parent()?;
            // The sandbox died between fork and prctl: nothing would kill this one.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            // The sandbox's threads block signals of their own; the init gets none.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            // dup2 leaves the copy without close-on-exec, so the init inherits it.
            if libc::dup2(report, report_at) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The descriptor `fd` this process inherited, if it is open. Call once per number:
/// the value returned owns it.
pub fn inherited(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD on an integer only asks whether the descriptor is open.
    let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
    // SAFETY: it is open, it was inherited at exec (nothing in this process created or
    // owns it), and the caller takes it once.
    open.then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fork(2), for a process that is still single-threaded (the program's init, run
/// first thing after exec): the child may then run ordinary code.
pub fn fork_single_threaded() -> nix::Result<nix::unistd::ForkResult> {
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
    assert_eq!(
        threads, 1,
        "fork_single_threaded called with threads running"
    );
    // SAFETY: this process has one thread (checked above), so no lock another thread
    // holds can be copied into the child in a locked state.
    unsafe { nix::unistd::fork() }
}

/// Closes every descriptor from `from` up, except the standard ones below it (close_range,
/// Linux 5.9; on older kernels, one close per open descriptor listed in /proc/self/fd).
pub fn close_from(from: RawFd) {
    // SAFETY: close_range takes integers; it closes descriptors this process owns, and
    // is called only right before exec, when nothing else uses them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            from as libc::c_uint,
            libc::c_uint::MAX,
            0,
        )
    };
    if r == 0 {
        return;
    }
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&fd| fd >= from)
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        // SAFETY: as above; a descriptor already closed (the directory's own) gives EBADF.
        unsafe { libc::close(fd) };
    }
}

/// SO_RCVBUF of another process's socket, through a duplicate of its descriptor
/// (pidfd_getfd, Linux 5.6; needs ptrace access to it, which its parent has).
pub fn peek_rcvbuf(pid: u32, fd: i32) -> Option<u64> {
    // SAFETY: raw system calls on integers and a pointer to a local int of the length
    // given; every descriptor obtained is closed here.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as libc::c_int;
        if pidfd < 0 {
            return None;
        }
        let dup = libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) as libc::c_int;
        libc::close(pidfd);
        if dup < 0 {
            return None;
        }
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let r = libc::getsockopt(
            dup,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        );
        libc::close(dup);
        (r == 0).then_some(v as u64)
    }
}
