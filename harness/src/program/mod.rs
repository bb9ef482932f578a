//! A program under test, run inside the sandbox: started with no shell, confined (its
//! own PID and mount namespaces, no capability, a read-only host filesystem but for its
//! work directory: see [`confine`] and [`view`]), watched from outside while the flood
//! runs, stopped by signal and then by SIGKILL to its namespace's init, never waited on
//! past the run's deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub mod confine;
pub mod procfs;
pub mod view;
pub mod watch;

use crate::adapter::{Live, Reader};
use crate::history::program::{
    Exit, Identity, Line, ProgramRecord, StopReason, Stream, Tally, LINES_KEPT, LINE_KEPT,
    OUTPUT_KEPT,
};
use crate::plan::{ProgramPlan, Ready};
use confine::Report;
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
    /// It ended before it was ready, saying this kernel lacks what it needs (a netlink
    /// family or protocol): this machine cannot run it.
    #[error(
        "program `{name}` cannot run on this kernel: it ended before it was ready, saying {line:?}"
    )]
    KernelLacks {
        /// Program name.
        name: String,
        /// The line that says so.
        line: String,
    },
    /// Its init could not confine or start it.
    #[error("program `{name}`: failed to {step}: {source}{hint}")]
    Refused {
        /// Program name.
        name: String,
        /// The step.
        step: String,
        /// The kernel's answer.
        #[source]
        source: std::io::Error,
        /// What it means and what to do.
        hint: String,
        /// Whose problem it is.
        kind: crate::errors::Kind,
    },
}

/// A line in which a program says the kernel lacks a netlink family or protocol it
/// needs (`iw event`: "nl80211 not found"; socket(2): EPROTONOSUPPORT, EAFNOSUPPORT).
pub fn says_kernel_lacks(line: &str) -> bool {
    let l = line.to_lowercase();
    let family = ["nl80211", "family", "genl", "netlink", "protocol"]
        .iter()
        .any(|w| l.contains(w));
    l.contains("protocol not supported")
        || l.contains("address family not supported")
        || l.contains("eprotonosupport")
        || l.contains("eafnosupport")
        || (family
            && (l.contains("not found") || l.contains("not supported") || l.contains("unknown")))
}

impl ProgramError {
    /// A never-ready error whose last output says the kernel lacks a feature becomes
    /// [`ProgramError::KernelLacks`].
    fn unsupported_kernel(self) -> Self {
        let ProgramError::NeverReady { name, tail, .. } = &self else {
            return self;
        };
        let lines = tail.trim_start_matches("; its last output: ");
        match lines.split(" | ").find(|l| says_kernel_lacks(l)) {
            Some(line) => ProgramError::KernelLacks {
                name: name.clone(),
                line: line.to_string(),
            },
            None => self,
        }
    }

    /// The error for `step` failing with `errno` in the program's init: its own file or
    /// arguments (bad input), what this machine or its uid allows (environment), or
    /// nlstorm's confinement failing (harness).
    fn refused(plan: &ProgramPlan, step: &str, errno: i32) -> Self {
        use crate::errors::Kind;
        let exec = step.starts_with("exec");
        let (kind, hint) = match errno {
            libc::E2BIG if exec => (
                Kind::BadInput,
                "; its arguments and environment are more than exec(2) takes (each string at most 128 KiB)".to_string(),
            ),
            libc::ENOENT if exec => (
                Kind::BadInput,
                "; the file is there, so the interpreter its `#!` line names (or its ELF loader) is missing".into(),
            ),
            libc::ENOEXEC | libc::ELIBBAD if exec => {
                (Kind::BadInput, "; it is not in a format this kernel executes".into())
            }
            libc::EACCES | libc::EPERM if exec => (
                Kind::Environment,
                "; the uid it runs as may not execute it: make it executable by others, or grant root with `root = true` and --allow-root-programs".into(),
            ),
            libc::EINVAL if step.starts_with("switch to") => (
                Kind::Environment,
                "; a rootless sandbox maps only your own ids: drop uid/gid or run nlstorm as root".into(),
            ),
            libc::EPERM | libc::EACCES => (
                Kind::Environment,
                "; this machine does not let nlstorm confine programs (it needs PID and mount namespaces and a fresh /proc)".into(),
            ),
            libc::EINVAL if step.contains("NUL") => (Kind::BadInput, String::new()),
            _ => (Kind::Harness, String::new()),
        };
        ProgramError::Refused {
            name: plan.name.to_string(),
            step: step.to_string(),
            source: std::io::Error::from_raw_os_error(errno),
            hint,
            kind,
        }
    }
}

impl crate::errors::Classified for ProgramError {
    fn kind(&self) -> crate::errors::Kind {
        use crate::errors::Kind;
        match self {
            ProgramError::NotInstalled { .. } => Kind::Environment,
            ProgramError::NeverReady { .. } => Kind::BadInput,
            ProgramError::KernelLacks { .. } => Kind::Environment,
            ProgramError::Start { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Kind::Environment
            }
            ProgramError::Start { .. } => Kind::Harness,
            ProgramError::Refused { kind, .. } => *kind,
        }
    }
}

/// A started program: its relay (our child), and what its init has reported.
pub struct Running {
    plan: ProgramPlan,
    /// The relay, the process nlstorm started (see [`confine`]).
    relay: Child,
    relay_pid: u32,
    /// The init of the program's PID namespace, once it reported.
    init: Option<u32>,
    reports: mpsc::Receiver<Report>,
    /// The program's exec succeeded.
    exec_done: bool,
    /// Confining or starting it failed: step and errno.
    failed: Option<(String, i32)>,
    /// How the program ended, as its init saw it.
    ended: Option<Exit>,
    clock: Arc<Clock>,
    watch: Option<JoinHandle<Watched>>,
    readers: Vec<JoinHandle<Collected>>,
    /// What its output has shown so far, for the stop rule.
    live: Arc<Live>,
    ready_line: mpsc::Receiver<u64>,
    rec: ProgramRecord,
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
        return match std::fs::metadata(&p) {
            Ok(_) if executable(&p) => Ok(p),
            Ok(_) => Err(missing("it is not an executable file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(missing(
                "permission denied on a directory of its path".into(),
            )),
            Err(_) => Err(missing("no such file".into())),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(argv0))
        .find(|p| executable(p))
        .ok_or_else(|| missing("not found in PATH".into()))
}

/// Who the program runs as: root only when the plan carries the operator's grant;
/// otherwise its scenario's uid/gid or nobody, with no capability. A rootless sandbox
/// maps only uid 0 (the user who ran nlstorm), so that is the default there.
fn identity(plan: &ProgramPlan) -> Identity {
    if plan.root {
        return Identity::Root;
    }
    let default = if crate::sandbox::in_user_namespace() {
        0
    } else {
        confine::NOBODY
    };
    let uid = plan.uid.unwrap_or(default);
    Identity::Unprivileged {
        uid,
        gid: plan.gid.or(plan.uid).unwrap_or(default),
    }
}

/// Starts `plan` in the sandbox, confined (see [`confine`]). Call from the thread that
/// outlives the program (the sandbox's main thread): PDEATHSIG fires when the thread
/// that forked the relay exits.
pub fn start(plan: &ProgramPlan, run_uuid: &str) -> Result<Running, ProgramError> {
    let exe = resolve(plan)?;
    let fail = |what: &str| {
        let name = plan.name.to_string();
        let what = what.to_string();
        move |source| ProgramError::Start { name, what, source }
    };
    let env: Vec<(String, String)> = [
        (
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ),
        ("HOME".into(), view::WORKDIR.into()),
        ("TMPDIR".into(), view::WORKDIR.into()),
        ("LC_ALL".into(), "C".into()),
        ("NLSTORM_RUN_ID".into(), run_uuid.into()),
        ("NLSTORM_PROGRAM".into(), plan.name.as_str().into()),
    ]
    .into_iter()
    .chain(plan.env.iter().cloned())
    .collect();
    let identity = identity(plan);
    let spec = confine::Spec {
        exe,
        argv: plan.command.clone(),
        env,
        identity,
    };
    let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| fail("make a pipe")(e.into()))?;
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg(confine::INIT_ARG)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::sys::process::as_program_init(&mut cmd, &report_w, confine::REPORT_FD);
    let started = Instant::now();
    let mut relay = cmd.spawn().map_err(fail("start its init"))?;
    drop(report_w);
    if let Some(mut stdin) = relay.stdin.take() {
        let text = serde_json::to_vec(&spec).expect("specs serialise");
        // An init that died early closes the pipe; its report tells the story.
        let _ = stdin.write_all(&text);
    }
    let relay_pid = relay.id();
    let clock = Arc::new(Clock::new(started));
    let (ready_tx, ready_line) = mpsc::channel();
    let pattern = match &plan.ready {
        Ready::Line { regex } => regex::Regex::new(regex).ok(),
        _ => None,
    };
    let live = Arc::new(Live::default());
    let mut readers = Vec::new();
    if let Some(out) = relay.stdout.take() {
        readers.push(read_lines(
            out,
            Stream::Stdout,
            clock.clone(),
            Reader::new(plan, run_uuid, live.clone()),
            pattern,
            Some(ready_tx),
        ));
    }
    if let Some(err) = relay.stderr.take() {
        readers.push(read_lines(
            err,
            Stream::Stderr,
            clock.clone(),
            Reader::new(plan, run_uuid, live.clone()),
            None,
            None,
        ));
    }
    let watch = watch::start(relay_pid, clock.clone(), plan.call_deadline)
        .map_err(fail("start its watcher"))?;
    Ok(Running {
        plan: plan.clone(),
        relay,
        relay_pid,
        init: None,
        reports: read_reports(report_r),
        exec_done: false,
        failed: None,
        ended: None,
        clock,
        watch: Some(watch),
        readers,
        live,
        ready_line,
        rec: ProgramRecord {
            name: plan.name.to_string(),
            identity: Some(identity),
            sample_interval_ns: watch::SAMPLE.as_nanos() as u64,
            ..Default::default()
        },
    })
}

/// A thread reading the init's reports (one JSON line each) until every holder of the
/// pipe, relay and init, has ended.
fn read_reports(fd: std::os::fd::OwnedFd) -> mpsc::Receiver<Report> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r = BufReader::new(std::fs::File::from(fd));
        for line in r.lines().map_while(Result::ok) {
            if let Ok(report) = serde_json::from_str::<Report>(&line) {
                if tx.send(report).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// What one stream's reader collected.
struct Collected {
    /// The kept sample of its lines.
    lines: Vec<Line>,
    /// Lines were left out of the sample.
    truncated: bool,
    /// Its whole output, read.
    tally: Tally,
}

/// A thread reading a stream line by line as the program prints it: every line goes
/// through `reader` (the whole output is counted), a sample is kept (the first and the
/// last lines), and the first stdout line matching `ready` is announced on `tx`. It
/// reads on past any cap: a program blocked on a full pipe would stop reading its
/// socket, and the loss would be nlstorm's doing.
fn read_lines(
    stream: impl Read + Send + 'static,
    which: Stream,
    clock: Arc<Clock>,
    mut reader: Reader,
    ready: Option<regex::Regex>,
    tx: Option<mpsc::Sender<u64>>,
) -> JoinHandle<Collected> {
    thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 16, stream);
        let half = LINES_KEPT / 2;
        let mut head: Vec<Line> = Vec::new();
        let mut tail: std::collections::VecDeque<Line> = std::collections::VecDeque::new();
        let (mut kept_bytes, mut truncated, mut announced) = (0usize, false, false);
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
            reader.feed(t_ns, which, &text);
            let mut text = text;
            if text.len() > LINE_KEPT {
                text.truncate(text.floor_char_boundary_compat(LINE_KEPT));
                truncated = true;
            }
            let line = Line {
                t_ns,
                stream: which,
                text,
            };
            if head.len() < half && kept_bytes + line.text.len() <= OUTPUT_KEPT / 2 {
                kept_bytes += line.text.len();
                head.push(line);
                continue;
            }
            truncated = true;
            tail.push_back(line);
            if tail.len() > half {
                tail.pop_front();
            }
        }
        // The tail keeps its bytes bounded too: at most half the cap, newest first.
        let mut tail_bytes = 0usize;
        let tail: Vec<Line> = tail
            .into_iter()
            .rev()
            .take_while(|l| {
                tail_bytes += l.text.len();
                tail_bytes <= OUTPUT_KEPT / 2
            })
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        head.extend(tail);
        Collected {
            lines: head,
            truncated,
            tally: reader.finish(clock.now_ns()),
        }
    })
}

/// `floor_char_boundary` for the crate's minimum Rust version.
trait FloorBoundary {
    fn floor_char_boundary_compat(&self, at: usize) -> usize;
}

impl FloorBoundary for String {
    fn floor_char_boundary_compat(&self, at: usize) -> usize {
        (0..=at.min(self.len()))
            .rev()
            .find(|&i| self.is_char_boundary(i))
            .unwrap_or(0)
    }
}

impl Running {
    /// Takes in what the init reported since the last look.
    fn pump(&mut self) {
        while let Ok(r) = self.reports.try_recv() {
            self.note(r);
        }
    }

    fn note(&mut self, r: Report) {
        match r {
            Report::Init(pid) => self.init = Some(pid),
            Report::Running => {
                self.exec_done = true;
                self.rec.pid = self
                    .init
                    .and_then(|i| procfs::children(i).first().copied())
                    .unwrap_or(0);
            }
            Report::Failed { step, errno } => self.failed = Some((step, errno)),
            Report::Exited { code, signal } => self.ended = Some(Exit { code, signal }),
        }
    }

    /// True once the relay has ended; every report is in by then (the relay ends after
    /// the init, and the pipe closes with the last of them).
    fn relay_ended(&mut self) -> bool {
        if !matches!(self.relay.try_wait(), Ok(Some(_))) {
            self.pump();
            return false;
        }
        let until = Instant::now() + Duration::from_secs(1);
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match self.reports.recv_timeout(left) {
                Ok(r) => self.note(r),
                Err(_) => break,
            }
        }
        true
    }

    /// The error for a program its init could not confine or start.
    fn refused(&self) -> Option<ProgramError> {
        let (step, errno) = self.failed.clone()?;
        Some(ProgramError::refused(&self.plan, &step, errno))
    }

    /// Waits for the ready condition; an error if it does not hold within the timeout
    /// or the program ends first.
    pub fn wait_ready(&mut self) -> Result<(), ProgramError> {
        let until = Instant::now() + self.plan.ready_timeout;
        loop {
            let ended = self.relay_ended();
            if let Some(e) = self.refused() {
                self.kill();
                return Err(e);
            }
            let ready = self.exec_done
                && match self.plan.ready {
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
                Ready::Started => "its init never started it".into(),
            };
            if ended {
                let how = describe(self.ended);
                let e = self.never_ready(format!("{what}; it ended first ({how})"));
                return Err(e.unsupported_kernel());
            }
            if Instant::now() >= until {
                return Err(self.never_ready(what));
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    fn never_ready(&mut self, what: String) -> ProgramError {
        self.kill();
        let _ = self.relay.wait();
        self.clock.stop.store(true, Ordering::Release);
        let mut lines: Vec<Line> = std::mem::take(&mut self.readers)
            .into_iter()
            .filter_map(|h| h.join().ok())
            .flat_map(|c| c.lines)
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
    }

    /// Records the program's end once its relay has gone: how the init saw it end, or
    /// SIGKILL when nlstorm killed the whole namespace before the init could say.
    fn take_exit(&mut self) {
        self.rec.exit = Some(self.ended.unwrap_or(Exit {
            code: None,
            signal: Some(libc::SIGKILL),
        }));
        self.rec.exit_ns = Some(self.clock.now_ns());
    }

    /// One step of the stop sequence; true once the program has ended. `emission_end`
    /// is when the last emitter finished, `sent` what each emitter sent (final once
    /// emission has ended), `deadline_hit` ends it at once.
    ///
    /// After emission the program is given the time it needs: it is stopped once every
    /// event sent to it is accounted for (printed, or dropped by the kernel on its
    /// sockets) with its queues empty; or once its output and its sockets have both
    /// been quiet for `settle` (it has done all it will); or at `stop-after`. A program
    /// that moves events into a queue of its own (an asyncio queue, a channel, a fork
    /// per event) is still printing, so it is not stopped mid-way.
    pub fn step(
        &mut self,
        emission_end: Option<Instant>,
        sent: &[u64],
        deadline_hit: bool,
    ) -> bool {
        if self.rec.exit.is_some() {
            return true;
        }
        if self.relay_ended() {
            self.take_exit();
            self.rec.stop_reason.get_or_insert(StopReason::Exited);
            // Whatever it started and left behind went with its namespace.
            self.kill();
            return true;
        }
        if let (Some(end), None) = (emission_end, self.rec.emission_end_ns) {
            let ns = self.clock.ns_of(end);
            self.rec.emission_end_ns = Some(ns);
        }
        if deadline_hit && !self.rec.killed {
            self.rec.stop_reason.get_or_insert(StopReason::Deadline);
            self.kill();
            return false;
        }
        let Some(end) = emission_end else {
            return false;
        };
        match self.rec.stop_sent_ns {
            None => {
                if let Some(reason) = self.why_stop(self.clock.ns_of(end), sent) {
                    self.rec.stop_reason = Some(reason);
                    self.rec.stop_sent_ns = Some(self.clock.now_ns());
                    self.clock.stopping.store(true, Ordering::Release);
                    self.signal(self.plan.stop.signal);
                }
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

    /// Whether to send the stop signal now, `end_ns` after emission ended, and why.
    fn why_stop(&self, end_ns: u64, sent: &[u64]) -> Option<StopReason> {
        let now = self.clock.now_ns();
        let late = (now >= end_ns + self.plan.stop.after.as_nanos() as u64)
            .then_some(StopReason::StopAfter);
        // Its sockets must have been sampled after emission ended: otherwise a busy
        // machine could stop it with drops of the flood's last moments unsampled.
        if self.clock.sampled_ns.load(Ordering::Acquire) <= end_ns {
            return late;
        }
        let empty_since = self.clock.empty_since_ns.load(Ordering::Acquire);
        let queues_empty = empty_since != u64::MAX;
        let last_line = self.live.last_line_ns.load(Ordering::Acquire);
        let expected: u64 = self.plan.emitters.iter().filter_map(|&i| sent.get(i)).sum();
        let printed = self.live.seen.load(Ordering::Acquire);
        let dropped = self.clock.drops.load(Ordering::Acquire);
        let tracked = !matches!(self.plan.output, crate::plan::OutputFormat::None);
        // A short pause after the last line: the line that tells of a loss may follow
        // the last event it printed.
        let pause = crate::plan::DRAINED_FOR.as_nanos() as u64;
        if tracked
            && queues_empty
            && printed + dropped >= expected
            && now >= last_line.max(end_ns) + pause
        {
            return Some(StopReason::AllAccounted);
        }
        let quiet_since = empty_since.max(last_line).max(end_ns);
        if queues_empty && now >= quiet_since + self.plan.stop.settle.as_nanos() as u64 {
            return Some(StopReason::Quiet);
        }
        late
    }

    /// `signal` to every process of the program's namespace: through the relay, which
    /// hands it to the init, which sends it to all the others (kill(-1)).
    fn signal(&mut self, signal: i32) {
        if signal == libc::SIGKILL {
            return self.kill();
        }
        if let Ok(sig) = nix::sys::signal::Signal::try_from(signal) {
            let _ = nix::sys::signal::kill(pid_of(self.relay_pid), sig);
        }
    }

    /// SIGKILL to the init (the kernel then kills everything in its namespace) and to
    /// the relay: processes nlstorm started, by PID.
    fn kill(&mut self) {
        self.clock.stopping.store(true, Ordering::Release);
        if self.rec.exit.is_none() {
            self.rec.killed = true;
        }
        kill_now(self.init, self.relay_pid);
    }

    /// Ends the watch and collects the record. A program still running is killed and
    /// reaped first (SIGKILL cannot be ignored, so the wait is short).
    pub fn finish(mut self) -> ProgramRecord {
        if self.rec.exit.is_none() {
            self.kill();
            let _ = self.relay.wait();
            self.relay_ended();
            self.take_exit();
        }
        self.clock.stop.store(true, Ordering::Release);
        let watched = self
            .watch
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let mut output = Vec::new();
        let mut tally: Option<Tally> = None;
        for h in std::mem::take(&mut self.readers) {
            if let Ok(c) = h.join() {
                output.extend(c.lines);
                self.rec.output_truncated |= c.truncated;
                match &mut tally {
                    None => tally = Some(c.tally),
                    Some(t) => crate::adapter::merge(t, c.tally),
                }
            }
        }
        self.rec.tally = tally;
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
            kill_now(self.init, self.relay_pid);
            let _ = self.relay.wait();
        }
        self.clock.stop.store(true, Ordering::Release);
    }
}

fn pid_of(pid: u32) -> nix::unistd::Pid {
    nix::unistd::Pid::from_raw(pid as i32)
}

fn kill_now(init: Option<u32>, relay: u32) {
    use nix::sys::signal::{kill, SIGKILL};
    if let Some(init) = init {
        let _ = kill(pid_of(init), SIGKILL);
    }
    let _ = kill(pid_of(relay), SIGKILL);
}

fn describe(exit: Option<Exit>) -> String {
    match exit.map(|e| (e.code, e.signal)) {
        Some((Some(c), _)) => format!("exit status {c}"),
        Some((_, Some(s))) => format!("killed by signal {s}"),
        _ => "ended".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_without_the_family_is_recognised_in_what_a_program_says() {
        assert!(says_kernel_lacks("nl80211 not found."));
        assert!(says_kernel_lacks("socket: Protocol not supported"));
        assert!(says_kernel_lacks(
            "Cannot open netlink socket: Address family not supported by protocol"
        ));
        assert!(says_kernel_lacks("genl: family TASKSTATS unknown"));
        assert!(!says_kernel_lacks("usage: listener RCVBUF MODE"));
        assert!(!says_kernel_lacks("config file not found"));
    }
}
