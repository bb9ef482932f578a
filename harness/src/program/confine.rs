//! How a program under test is confined. Scenario files are untrusted, so the program a
//! scenario names runs with no capability in the host's user namespace, sees and signals
//! only its own process tree, and writes only its own work directory:
//!
//! ```text
//! sandbox ──exec──> relay (this binary, INIT_ARG) ──fork──> init (PID 1 of a new PID
//!                   own process group, PDEATHSIG              namespace, new mount
//!                                                            namespace, PDEATHSIG)
//!                                                              └─fork+exec─> program
//! ```
//!
//! The relay is needed because unshare(CLONE_NEWPID) moves only the caller's children:
//! its first child becomes the namespace's init. The init builds the program's view of
//! the filesystem ([`super::view`]), starts the program under its identity
//! ([`Identity`]), forwards stop signals to every process of the namespace, reaps
//! orphans, and reports on descriptor [`REPORT_FD`] what became of the program. When
//! the init ends, for any reason, the kernel kills everything left in its namespace:
//! `setsid` and double-forked children included. PDEATHSIG chains the init to the
//! relay and the relay to the sandbox, so SIGKILL of nlstorm still ends the whole tree.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Gid, Pid, Uid};
use serde::{Deserialize, Serialize};

use super::view;

/// Hidden first argument that makes the binary act as a program's relay and init.
pub const INIT_ARG: &str = "__program-init";

/// The descriptor on which the relay and the init report, one JSON line each.
pub const REPORT_FD: RawFd = 3;

/// The uid and gid a program runs as unless its scenario names others: nobody/nogroup.
pub const NOBODY: u32 = 65534;

/// The signals a stop may use that are forwarded to the program's tree (SIGKILL needs
/// no forwarding: killing the init kills the namespace).
const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Bytes of the program's work directory (a tmpfs, so memory).
pub const WORKDIR_BYTES: u64 = 64 << 20;

pub use crate::history::program::Identity;

/// Who owns the program's work directory.
fn owner(identity: Identity) -> (u32, u32) {
    match identity {
        Identity::Unprivileged { uid, gid } => (uid, gid),
        Identity::Root => (0, 0),
    }
}

/// What the relay is told to run, as JSON on its stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Spec {
    /// The executable, as resolved in the sandbox (the program sees the same path).
    pub exe: PathBuf,
    /// argv, `argv[0]` as the scenario wrote it.
    pub argv: Vec<String>,
    /// The whole environment.
    pub env: Vec<(String, String)>,
    /// Who it runs as.
    pub identity: Identity,
}

/// What the relay and the init report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Report {
    /// The init's PID in the sandbox's PID namespace.
    Init(u32),
    /// The program's exec succeeded.
    Running,
    /// Confining or starting it failed at `step` with `errno`.
    Failed {
        /// What was being done.
        step: String,
        /// The kernel's errno.
        errno: i32,
    },
    /// The program ended.
    Exited {
        /// Its exit status, when it exited.
        code: Option<i32>,
        /// The signal that ended it.
        signal: Option<i32>,
    },
}

/// The relay's and init's entry point, run first thing in the exec'd binary (single
/// threaded). Returns the relay's exit code; the init never returns.
pub fn init_main() -> i32 {
    let Some(report) = crate::sys::process::inherited(REPORT_FD) else {
        return 125;
    };
    let fail = |step: &str, errno: Errno| {
        send(
            &report,
            &Report::Failed {
                step: step.into(),
                errno: errno as i32,
            },
        );
        1
    };
    let spec = match read_spec() {
        Ok(s) => s,
        Err(e) => return fail(&format!("read the program's spec: {e}"), Errno::EINVAL),
    };
    let mut set = SigSet::empty();
    for s in FORWARDED.iter().chain([&Signal::SIGCHLD]) {
        set.add(*s);
    }
    if let Err(e) = set.thread_block() {
        return fail("block the forwarded signals", e);
    }
    if let Err(e) = unshare(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS) {
        return fail("create the program's PID and mount namespaces", e);
    }
    let (life_r, life_w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return fail("make a pipe", e),
    };
    match crate::sys::process::fork_single_threaded() {
        Err(e) => fail("fork the program's init", e),
        Ok(ForkResult::Child) => {
            drop(life_w);
            std::process::exit(init(&spec, &report, life_r, &set))
        }
        Ok(ForkResult::Parent { child }) => {
            drop(life_r);
            send(&report, &Report::Init(child.as_raw() as u32));
            let code = relay(child, &set);
            drop(life_w);
            code
        }
    }
}

fn read_spec() -> Result<Spec, String> {
    let mut text = String::new();
    std::io::stdin()
        .take(64 << 20)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// One JSON line, in one write (shorter than PIPE_BUF, so never interleaved).
fn send(fd: &OwnedFd, r: &Report) {
    let r = match r {
        Report::Failed { step, errno } if step.len() > 2000 => Report::Failed {
            step: format!("{}...", step.chars().take(500).collect::<String>()),
            errno: *errno,
        },
        other => other.clone(),
    };
    let mut line = serde_json::to_vec(&r).expect("reports serialise");
    line.push(b'\n');
    let _ =
        std::fs::File::from(fd.try_clone().expect("dup the report descriptor")).write_all(&line);
}

/// The relay: forwards stop signals to the init until it ends.
fn relay(init: Pid, set: &SigSet) -> i32 {
    loop {
        match set.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) =
                    waitpid(init, Some(WaitPidFlag::WNOHANG))
                {
                    return 0;
                }
            }
            Ok(sig) => {
                let _ = kill(init, sig);
            }
            Err(_) => {}
        }
    }
}

/// The init, PID 1 of the program's namespace: returns the exit code that ends it (and
/// with it everything left in the namespace).
fn init(spec: &Spec, report: &OwnedFd, lifeline: OwnedFd, set: &SigSet) -> i32 {
    let fail = |step: &str, errno: Errno| {
        send(
            report,
            &Report::Failed {
                step: step.into(),
                errno: errno as i32,
            },
        );
        1
    };
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        return fail("set the init's parent-death signal", e);
    }
    // In a rootless sandbox the program runs as the init's uid (0 of the sandbox's user
    // namespace): not dumpable, the init cannot be ptraced or have its /proc files
    // read by it (the program keeps no capability that would override that).
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        return fail("make the init not dumpable", e);
    }
    // The relay died before the line above: nothing would end this namespace.
    let mut fds = [nix::poll::PollFd::new(
        lifeline.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    if nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).is_ok_and(|n| n > 0) {
        return 1;
    }
    drop(lifeline);
    let _ = nix::fcntl::fcntl(report, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    // Only the standard descriptors and the report reach the program.
    crate::sys::process::close_from(REPORT_FD + 1);
    crate::sys::signals::make_deliverable(&[
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGCHLD,
    ]);
    match std::fs::File::open("/dev/null") {
        Ok(null) => {
            if let Err(e) = nix::unistd::dup2_stdin(&null) {
                return fail("make /dev/null its stdin", e);
            }
        }
        Err(e) => return fail("open /dev/null", errno_of(&e)),
    }
    if let Err(e) = view::enter(owner(spec.identity), WORKDIR_BYTES) {
        return fail(&format!("confine its filesystem: {}", e.step), e.errno);
    }
    let program = match start(spec) {
        Ok(pid) => pid,
        Err((step, e)) => return fail(&step, e),
    };
    send(report, &Report::Running);
    loop {
        match set.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(exit) = reap(program) {
                    send(report, &exit);
                    return 0;
                }
            }
            // kill(-1) from a namespace's init reaches every other process in it.
            Ok(sig) => {
                let _ = kill(Pid::from_raw(-1), sig);
            }
            Err(_) => {}
        }
    }
}

/// Reaps every child that ended; the program's end, if it was among them.
fn reap(program: Pid) -> Option<Report> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == program => {
                return Some(Report::Exited {
                    code: Some(code),
                    signal: None,
                })
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == program => {
                return Some(Report::Exited {
                    code: None,
                    signal: Some(sig as i32),
                })
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Forks and execs the program; its PID once the exec succeeded. The child reports a
/// failed step through a close-on-exec pipe, which an exec that succeeds closes empty.
fn start(spec: &Spec) -> Result<Pid, (String, Errno)> {
    let cstr = |b: &[u8]| {
        CString::new(b).map_err(|_| {
            (
                "pass an argument holding a NUL byte".to_string(),
                Errno::EINVAL,
            )
        })
    };
    let path = cstr(spec.exe.as_os_str().as_bytes())?;
    let argv = spec
        .argv
        .iter()
        .map(|a| cstr(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let env = spec
        .env
        .iter()
        .map(|(k, v)| cstr(format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    // Opened here, with the init's privilege, for a program whose uid may execute the
    // file but not reach it (a checkout under a private home directory).
    let exe = nix::fcntl::open(
        &spec.exe,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| (format!("open {}", spec.exe.display()), e))?;
    let (err_r, err_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ("make a pipe".to_string(), e))?;
    match crate::sys::process::fork_single_threaded()
        .map_err(|e| ("fork the program".to_string(), e))?
    {
        ForkResult::Child => {
            drop(err_r);
            let (step, e) = become_program(spec.identity, &path, &argv, &env, &exe);
            let _ = std::fs::File::from(err_w).write_all(format!("{} {step}", e as i32).as_bytes());
            std::process::exit(127)
        }
        ForkResult::Parent { child } => {
            drop(err_w);
            let mut text = String::new();
            let _ = std::fs::File::from(err_r).read_to_string(&mut text);
            if text.is_empty() {
                return Ok(child);
            }
            let _ = waitpid(child, None);
            let (errno, step) = text.split_once(' ').unwrap_or((&text, "start it"));
            Err((
                step.to_string(),
                Errno::from_raw(errno.parse().unwrap_or(libc::EIO)),
            ))
        }
    }
}

/// The forked child: takes the program's identity and execs it. Returns only on failure.
fn become_program(
    identity: Identity,
    path: &CString,
    argv: &[CString],
    env: &[CString],
    exe: &OwnedFd,
) -> (String, Errno) {
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    if let Err((step, e)) = take_identity(identity) {
        return (step, e);
    }
    if let Err(e) = nix::unistd::chdir(view::WORKDIR) {
        return (format!("chdir to {}", view::WORKDIR), e);
    }
    let e = match nix::unistd::execve(path, argv, env) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    if e != Errno::EACCES {
        return ("exec it".into(), e);
    }
    // Its uid cannot reach the file: exec the descriptor opened with the init's
    // privilege. A `#!` script is then read by its interpreter through /proc/self/fd,
    // so the descriptor must stay open across the exec.
    let _ = nix::fcntl::fcntl(exe, FcntlArg::F_SETFD(FdFlag::empty()));
    match nix::unistd::fexecve(exe, argv, env) {
        Err(e) => (
            "exec it from a descriptor (its uid cannot reach the file)".into(),
            e,
        ),
        Ok(never) => match never {},
    }
}

fn take_identity(identity: Identity) -> Result<(), (String, Errno)> {
    let Identity::Unprivileged { uid, gid } = identity else {
        return Ok(());
    };
    let caps = |step: &str| {
        let step = step.to_string();
        move |e: caps::errors::CapsError| (format!("{step}: {e}"), Errno::EPERM)
    };
    // The bounding set first, while CAP_SETPCAP is held: an exec as uid 0 (a rootless
    // sandbox maps only uid 0) then gains no capability back.
    caps::clear(None, caps::CapSet::Ambient).map_err(caps("clear its ambient capabilities"))?;
    caps::clear(None, caps::CapSet::Bounding).map_err(caps("clear its capability bounding set"))?;
    match nix::unistd::setgroups(&[]) {
        // A rootless sandbox denies setgroups; it has no supplementary group to drop.
        Ok(()) | Err(Errno::EPERM) => {}
        Err(e) => return Err(("drop its supplementary groups".into(), e)),
    }
    let (g, u) = (Gid::from_raw(gid), Uid::from_raw(uid));
    nix::unistd::setresgid(g, g, g).map_err(|e| (format!("switch to gid {gid}"), e))?;
    nix::unistd::setresuid(u, u, u).map_err(|e| (format!("switch to uid {uid}"), e))?;
    for set in [
        caps::CapSet::Inheritable,
        caps::CapSet::Effective,
        caps::CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(caps("clear its capabilities"))?;
    }
    nix::sys::prctl::set_no_new_privs().map_err(|e| ("set no_new_privs".to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_one_line_each_and_read_back() {
        for r in [
            Report::Init(42),
            Report::Running,
            Report::Failed {
                step: "exec it".into(),
                errno: libc::E2BIG,
            },
            Report::Exited {
                code: None,
                signal: Some(9),
            },
        ] {
            let line = serde_json::to_string(&r).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<Report>(&line).unwrap(), r);
        }
    }
}
