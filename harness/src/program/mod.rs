//! A program under test, run inside the sandbox: started with no shell in its own
//! process group, with a private tmpfs as its working directory, PDEATHSIG so it dies
//! with the sandbox, watched from outside while the flood runs, stopped by signal and
//! then by SIGKILL to its process group, never waited on past the run's deadline.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub mod procfs;
pub mod watch;

use crate::history::program::{Exit, Line, ProgramRecord, Stream, OUTPUT_KEPT};
use crate::plan::{ProgramPlan, Ready};
use watch::{Clock, Watched};

/// Why a program could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// Its executable is not there: the machine lacks it (the scenario is skipped).
    #[error("program `{name}`: {path} is not installed here ({why}){hint}")]
    NotInstalled {
        /// Program name.
        name: String,
        /// What was looked for.
        path: String,
        /// What the lookup found.
        why: String,
        /// How to get it, for the bundled programs.
        hint: String,
    },
    /// It ran but never met its ready condition.
    #[error("program `{name}` did not become ready within {timeout}: {what}{tail}")]
    NeverReady {
        /// Program name.
        name: String,
        /// The timeout.
        timeout: String,
        /// The condition and what happened instead.
        what: String,
        /// Its last output lines.
        tail: String,
    },
    /// Starting it failed.
    #[error("program `{name}`: failed to {what}: {source}")]
    Start {
        /// Program name.
        name: String,
        /// The step.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl crate::errors::Classified for ProgramError {
    fn kind(&self) -> crate::errors::Kind {
        use crate::errors::Kind;
        match self {
            ProgramError::NotInstalled { .. } => Kind::Environment,
            ProgramError::NeverReady { .. } => Kind::BadInput,
            ProgramError::Start { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Kind::Environment
            }
            ProgramError::Start { .. } => Kind::Harness,
        }
    }
}

/// A tmpfs mounted on a fresh directory, in the sandbox's own mount namespace: the
/// program's working directory and HOME. It is unmounted and removed after the run.
struct Workdir {
    dir: Option<tempfile::TempDir>,
}

impl Workdir {
    fn new() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("nlstorm-program-")
            .tempdir()?;
        nix::mount::mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
            Some("mode=1777,size=64m"),
        )
        .map_err(std::io::Error::from)?;
        Ok(Self { dir: Some(dir) })
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new("/"), |d| d.path())
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if let Some(d) = self.dir.take() {
            let _ = nix::mount::umount2(d.path(), nix::mount::MntFlags::MNT_DETACH);
            drop(d);
        }
    }
}

/// A started program.
pub struct Running {
    plan: ProgramPlan,
    child: Child,
    pid: u32,
    clock: Arc<Clock>,
    watch: Option<JoinHandle<Watched>>,
    readers: Vec<JoinHandle<(Vec<Line>, bool)>>,
    ready_line: mpsc::Receiver<u64>,
    rec: ProgramRecord,
    _workdir: Workdir,
}

/// Where `argv0` resolves: a path as written, or the first match in PATH.
fn resolve(plan: &ProgramPlan) -> Result<PathBuf, ProgramError> {
    let argv0 = &plan.command[0];
    let missing = |why: String| ProgramError::NotInstalled {
        name: plan.name.to_string(),
        path: argv0.clone(),
        why,
        hint: if argv0.contains("target/programs/") {
            "; `bash ci/programs.sh` installs the bundled programs".into()
        } else {
            String::new()
        },
    };
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if argv0.contains('/') {
        let p = PathBuf::from(argv0);
        return if executable(&p) {
            Ok(p)
        } else if p.exists() {
            Err(missing("it is not an executable file".into()))
        } else {
            Err(missing("no such file".into()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(argv0))
        .find(|p| executable(p))
        .ok_or_else(|| missing("not found in PATH".into()))
}

/// Starts `plan` in the sandbox. Call from the thread that outlives the program (the
/// sandbox's main thread): PDEATHSIG fires when the thread that forked it exits.
pub fn start(plan: &ProgramPlan, run_uuid: &str) -> Result<Running, ProgramError> {
    let exe = resolve(plan)?;
    let fail = |what: &str| {
        let name = plan.name.to_string();
        let what = what.to_string();
        move |source| ProgramError::Start { name, what, source }
    };
    let workdir =
        Workdir::new().map_err(fail("mount a private tmpfs for its working directory"))?;
    let home = workdir.path().as_os_str().to_os_string();
    let env: Vec<(OsString, OsString)> = [
        (
            "PATH".into(),
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ),
        ("HOME".into(), home.clone()),
        ("TMPDIR".into(), home),
        ("LC_ALL".into(), "C".into()),
        ("NLSTORM_RUN_ID".into(), run_uuid.into()),
        ("NLSTORM_PROGRAM".into(), plan.name.as_str().into()),
    ]
    .into_iter()
    .chain(plan.env.iter().map(|(k, v)| (k.into(), v.into())))
    .collect();
    // A program run as another user is executed from a descriptor opened here, as root:
    // the user it runs as may not be able to reach the file (a checkout under a private
    // directory), only to execute it.
    let by_fd = match plan.uid.or(plan.gid) {
        Some(_) => Some(
            crate::sys::process::ExecByFd::new(&exe, &plan.command, &env)
                .map_err(fail("open its executable"))?,
        ),
        None => None,
    };
    let mut cmd = Command::new(&exe);
    cmd.arg0(&plan.command[0])
        .args(&plan.command[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(workdir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(gid) = plan.gid.or(plan.uid) {
        cmd.gid(gid);
    }
    if let Some(uid) = plan.uid {
        cmd.uid(uid);
    }
    // Its own process group (stopped together with what it starts), killed with the
    // sandbox, no blocked signals, and exec'd from the descriptor when it runs as
    // another user.
    crate::sys::process::as_program(&mut cmd, by_fd);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| match (plan.uid.or(plan.gid), e.raw_os_error()) {
            // setuid/setgid to an id the sandbox's user namespace does not map.
            (Some(id), Some(libc::EINVAL | libc::EPERM)) => ProgramError::Start {
                name: plan.name.to_string(),
                what: format!(
                    "switch to user/group {id} (a rootless sandbox maps only your own ids)"
                ),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            },
            _ => fail("start it")(e),
        })?;
    let pid = child.id();
    let clock = Arc::new(Clock::new(started));
    let (ready_tx, ready_line) = mpsc::channel();
    let pattern = match &plan.ready {
        Ready::Line { regex } => regex::Regex::new(regex).ok(),
        _ => None,
    };
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(read_lines(
            out,
            Stream::Stdout,
            clock.clone(),
            pattern,
            Some(ready_tx),
        ));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(read_lines(err, Stream::Stderr, clock.clone(), None, None));
    }
    let watch =
        watch::start(pid, clock.clone(), plan.call_deadline).map_err(fail("start its watcher"))?;
    Ok(Running {
        plan: plan.clone(),
        child,
        pid,
        clock,
        watch: Some(watch),
        readers,
        ready_line,
        rec: ProgramRecord {
            name: plan.name.to_string(),
            pid,
            sample_interval_ns: watch::SAMPLE.as_nanos() as u64,
            ..Default::default()
        },
        _workdir: workdir,
    })
}

/// A thread collecting a stream's lines with the time each was read; the first stdout
/// line matching `ready` is announced on `tx`.
fn read_lines(
    stream: impl Read + Send + 'static,
    which: Stream,
    clock: Arc<Clock>,
    ready: Option<regex::Regex>,
    tx: Option<mpsc::Sender<u64>>,
) -> JoinHandle<(Vec<Line>, bool)> {
    thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 16, stream);
        let mut lines = Vec::new();
        let (mut kept, mut truncated, mut announced) = (0usize, false, false);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let t_ns = clock.now_ns();
            let text =
                String::from_utf8_lossy(buf.strip_suffix(b"\n").unwrap_or(&buf)).into_owned();
            if !announced && ready.as_ref().is_some_and(|re| re.is_match(&text)) {
                announced = true;
                if let Some(tx) = &tx {
                    let _ = tx.send(t_ns);
                }
            }
            // Keep reading past the cap: a program blocked on a full pipe would stop
            // reading its socket, and the loss would be nlstorm's doing.
            if kept + text.len() > OUTPUT_KEPT {
                truncated = true;
                continue;
            }
            kept += text.len();
            lines.push(Line {
                t_ns,
                stream: which,
                text,
            });
        }
        (lines, truncated)
    })
}

impl Running {
    /// Waits for the ready condition; an error if it does not hold within the timeout
    /// or the program ends first.
    pub fn wait_ready(&mut self) -> Result<(), ProgramError> {
        let until = Instant::now() + self.plan.ready_timeout;
        loop {
            let ready = match self.plan.ready {
                Ready::Started => true,
                Ready::NetlinkSocket => self.clock.subscribed.load(Ordering::Acquire),
                Ready::Line { .. } => self.ready_line.try_recv().is_ok(),
            };
            if ready {
                self.rec.ready_ns = Some(self.clock.now_ns());
                return Ok(());
            }
            let what = match &self.plan.ready {
                Ready::Line { regex } => format!("no stdout line matched {regex:?}"),
                Ready::NetlinkSocket => "it bound no netlink socket to a multicast group".into(),
                Ready::Started => unreachable!(),
            };
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(
                    self.never_ready(format!("{what}; it ended first ({})", describe(status)))
                );
            }
            if Instant::now() >= until {
                return Err(self.never_ready(what));
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    fn never_ready(&mut self, what: String) -> ProgramError {
        self.kill();
        let _ = self.child.wait();
        self.clock.stop.store(true, Ordering::Release);
        let mut lines: Vec<Line> = std::mem::take(&mut self.readers)
            .into_iter()
            .filter_map(|h| h.join().ok())
            .flat_map(|(l, _)| l)
            .collect();
        lines.sort_by_key(|l| l.t_ns);
        let tail: Vec<String> = lines
            .iter()
            .rev()
            .take(5)
            .rev()
            .map(|l| l.text.clone())
            .collect();
        ProgramError::NeverReady {
            name: self.plan.name.to_string(),
            timeout: crate::units::format_duration(self.plan.ready_timeout),
            what,
            tail: if tail.is_empty() {
                "; it printed nothing".into()
            } else {
                format!("; its last output: {}", tail.join(" | "))
            },
        }
    }

    /// Emission starts at `t0`.
    pub fn started_emission(&mut self, t0: Instant) {
        let ns = self.clock.ns_of(t0);
        self.rec.t0_ns = ns;
        self.clock.t0_ns.store(ns, Ordering::Release);
    }

    /// One step of the stop sequence; true once the program has ended.
    /// `emission_end` is when the last emitter finished, `deadline_hit` ends it at once.
    pub fn step(&mut self, emission_end: Option<Instant>, deadline_hit: bool) -> bool {
        if self.rec.exit.is_some() {
            return true;
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            self.rec.exit = Some(exit_of(status));
            self.rec.exit_ns = Some(self.clock.now_ns());
            // Whatever it started and left behind goes too: they are ours.
            self.kill();
            return true;
        }
        if let (Some(end), None) = (emission_end, self.rec.emission_end_ns) {
            let ns = self.clock.ns_of(end);
            self.rec.emission_end_ns = Some(ns);
            self.clock.end_ns.store(ns, Ordering::Release);
        }
        let now = Instant::now();
        if deadline_hit && !self.rec.killed {
            self.kill();
            return false;
        }
        let Some(end) = emission_end else {
            return false;
        };
        let empty_since = self.clock.empty_since_ns.load(Ordering::Acquire);
        let drained = empty_since != u64::MAX
            && self.clock.now_ns()
                >= empty_since.max(self.clock.ns_of(end))
                    + crate::plan::DRAINED_FOR.as_nanos() as u64;
        match self.rec.stop_sent_ns {
            None if drained || now >= end + self.plan.stop.after => {
                self.rec.stop_sent_ns = Some(self.clock.now_ns());
                self.clock.stopping.store(true, Ordering::Release);
                signal_group(self.pid, self.plan.stop.signal);
            }
            Some(sent)
                if !self.rec.killed
                    && self.clock.now_ns() >= sent + self.plan.stop.grace.as_nanos() as u64 =>
            {
                self.kill();
            }
            _ => {}
        }
        false
    }

    /// SIGKILL to its process group: the program and everything it started.
    fn kill(&mut self) {
        self.clock.stopping.store(true, Ordering::Release);
        if self.rec.exit.is_none() {
            self.rec.killed = true;
        }
        signal_group(self.pid, libc::SIGKILL);
    }

    /// Ends the watch and collects the record. A program still running is killed and
    /// reaped first (SIGKILL cannot be ignored, so the wait is short).
    pub fn finish(mut self) -> ProgramRecord {
        if self.rec.exit.is_none() {
            self.kill();
            if let Ok(status) = self.child.wait() {
                self.rec.exit = Some(exit_of(status));
                self.rec.exit_ns = Some(self.clock.now_ns());
            }
        }
        self.clock.stop.store(true, Ordering::Release);
        let watched = self
            .watch
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let mut output = Vec::new();
        for h in std::mem::take(&mut self.readers) {
            if let Ok((lines, truncated)) = h.join() {
                output.extend(lines);
                self.rec.output_truncated |= truncated;
            }
        }
        output.sort_by_key(|l| l.t_ns);
        let rec = &mut self.rec;
        rec.output = output;
        rec.cpu_ns_at_t0 = watched.cpu_at(rec.t0_ns);
        rec.cpu_ns_at_emission_end = rec.emission_end_ns.map(|t| watched.cpu_at(t));
        rec.cpu_ns_at_stop =
            Some(watched.cpu_at(rec.stop_sent_ns.or(rec.exit_ns).unwrap_or(u64::MAX)));
        rec.sockets = watched.sockets;
        rec.hangs = watched.hangs;
        std::mem::take(&mut self.rec)
    }
}

impl Drop for Running {
    /// A program whose run failed before [`Running::finish`] is not left behind.
    fn drop(&mut self) {
        if self.rec.exit.is_none() {
            signal_group(self.pid, libc::SIGKILL);
            let _ = self.child.wait();
        }
        self.clock.stop.store(true, Ordering::Release);
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    Exit {
        code: status.code(),
        signal: status.signal(),
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    let e = exit_of(status);
    match (e.code, e.signal) {
        (Some(c), _) => format!("exit status {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".into(),
    }
}

/// `signal` to the process group created for the program (its PID is the group's id):
/// the program and whatever it started, never anything else.
fn signal_group(pid: u32, signal: i32) {
    // The compiler admits only signals nix knows (TERM, INT, HUP, QUIT, USR1, USR2, KILL).
    let sig = nix::sys::signal::Signal::try_from(signal).unwrap_or(nix::sys::signal::SIGKILL);
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), sig);
}
