//! What a child process does between fork and exec, and the other process-level calls
//! that neither std nor nix wraps in a form usable there: PDEATHSIG, a process group of
//! its own, fexecve() from a descriptor, and pidfd_getfd() to read another process's
//! socket option.

use std::ffi::{CString, OsString};
use std::os::unix::process::CommandExt;
use std::path::Path;
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

/// Sets `cmd` up as a program under test: its own process group (so it and whatever it
/// starts are stopped together), killed with the sandbox, no signal blocked, and, when
/// `by_fd` is given, exec'd from that descriptor.
pub fn as_program(cmd: &mut Command, by_fd: Option<ExecByFd>) {
    let parent = nix::unistd::getpid().as_raw();
    // SAFETY: between fork and exec the closure makes only async-signal-safe calls
    // (setpgid, prctl, getppid, _exit, sigemptyset, sigprocmask, fexecve) and reads only
    // `parent` and `by_fd`, which were prepared before fork and are not mutated.
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
            // The sandbox's threads block signals of their own; the program gets none.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            // std has already switched user and group by now; exec from the descriptor.
            if let Some(e) = &by_fd {
                e.exec();
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// An executable opened before fork, with argv and envp prepared as C arrays, so the
/// child can fexecve() it with nothing but async-signal-safe calls.
pub struct ExecByFd {
    file: std::fs::File,
    _strings: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

// SAFETY: the pointers point into `_strings`, owned by the same value and never mutated.
unsafe impl Send for ExecByFd {}
// SAFETY: as above; exec() only reads them.
unsafe impl Sync for ExecByFd {}

impl ExecByFd {
    /// Opens `exe` and prepares `argv` and `env` for fexecve().
    pub fn new(exe: &Path, argv: &[String], env: &[(OsString, OsString)]) -> std::io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let file = std::fs::File::open(exe)?;
        let nul = |b: &[u8]| {
            CString::new(b).map_err(|_| std::io::Error::other("an argument holds a NUL byte"))
        };
        let args: Vec<CString> = argv
            .iter()
            .map(|a| nul(a.as_bytes()))
            .collect::<Result<_, _>>()?;
        let envs: Vec<CString> = env
            .iter()
            .map(|(k, v)| nul(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
            .collect::<Result<_, _>>()?;
        let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
            v.iter()
                .map(|c| c.as_ptr())
                .chain([std::ptr::null()])
                .collect()
        };
        let (argv, envp) = (ptrs(&args), ptrs(&envs));
        Ok(Self {
            file,
            _strings: args.into_iter().chain(envs).collect(),
            argv,
            envp,
        })
    }

    /// fexecve(); returns only on failure (errno set).
    fn exec(&self) {
        use std::os::fd::AsRawFd;
        // SAFETY: NUL-terminated arrays of pointers into live CStrings.
        unsafe {
            libc::fexecve(
                self.file.as_raw_fd(),
                self.argv.as_ptr(),
                self.envp.as_ptr(),
            )
        };
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
