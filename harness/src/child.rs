//! The sandbox runs in a re-exec'd copy of this binary: namespaces need a
//! single-threaded caller, and a child that dies takes its namespaces with it. The parent
//! sends a [`Job`] as one JSON line on stdin and reads [`Answer`]s, one JSON line each,
//! from stdout; it kills the child by PID if it overruns, and the child dies with the
//! parent (PR_SET_PDEATHSIG). The child only executes: a [`Job::Session`] makes it serve
//! a stream of plans (see [`crate::execute::ChildSession`]), and every search runs in the
//! parent.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::errors::{Classified, Kind};
use crate::history::History;
use crate::model::{AdmitRule, BufferFacts};
use crate::plan::{Plan, World};
use crate::probe::ProbeReport;

pub use crate::plan::GRACE;

/// Hidden first argument that makes the binary act as the sandbox child.
pub const CHILD_ARG: &str = "__sandbox-child";

/// What the child is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub enum Job {
    /// Execute a plan in a fresh sandbox.
    Run(Plan),
    /// Measure kernel facts.
    Probe,
    /// Record kernel uevents in a fresh sandbox while a command runs there.
    Record(crate::trace::record::RecordJob),
    /// Enter one sandbox with these devices and this world, answer [`Answer::Ready`],
    /// then execute each [`Plan`] read from stdin (one JSON line each) in it, answering
    /// each with [`Answer::Ran`] or [`Answer::Failed`], until stdin closes.
    Session {
        /// veth devices the plans' kernel-uevent emitters write to.
        devices: Vec<String>,
        /// Links and connections the plans' dump clients list.
        world: World,
    },
}

/// What the child answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    /// A run's history.
    Ran(Box<History>),
    /// Probe results.
    Probed(Box<ProbeReport>),
    /// A recording, with the sandbox's kernel release.
    Recorded {
        /// What was recorded.
        recording: Box<crate::trace::record::Recording>,
        /// `uname -r` inside the sandbox.
        kernel_release: String,
    },
    /// The session's sandbox is up and calibrated.
    Ready {
        /// `uname -r` inside it.
        kernel_release: String,
        /// The kernel's buffer limits.
        facts: BufferFacts,
        /// The queue admission rule fitted on entry.
        rule: AdmitRule,
    },
    /// The job could not be done; `code` is the exit code to report.
    Failed {
        /// Exit code (see `exit.rs`).
        code: i32,
        /// What went wrong and what to do.
        message: String,
    },
}

/// Why the child gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// It could not be started.
    #[error("failed to start the sandbox process {exe} (it must be executable by this user, directories included)")]
    Spawn {
        /// The binary.
        exe: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its time limit and was killed.
    #[error("the sandbox process overran its time limit of {0:?} and was killed")]
    Timeout(Duration),
    /// It exited without a readable answer.
    #[error("the sandbox process exited ({status}) without an answer: {detail}")]
    NoAnswer {
        /// Exit status.
        status: String,
        /// Parse error or empty output.
        detail: String,
    },
}

impl Classified for ChildError {
    fn kind(&self) -> Kind {
        // A binary this user may not execute is the environment's problem, anything
        // else is the harness's.
        match self {
            ChildError::Spawn { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Kind::Environment
            }
            _ => Kind::Harness,
        }
    }
}

/// Starts a child of `exe` that dies with this process, and sends it `job`. Its stdout
/// comes back as a channel of lines, read on a thread so that every wait can time out.
pub fn spawn(exe: &Path, job: &Job) -> Result<(Child, mpsc::Receiver<String>), ChildError> {
    let mut cmd = Command::new(exe);
    cmd.arg(CHILD_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    crate::sys::process::die_with_parent(&mut cmd);
    let mut child = cmd.spawn().map_err(|source| ChildError::Spawn {
        exe: exe.display().to_string(),
        source,
    })?;
    let mut line = serde_json::to_vec(job).expect("jobs serialise");
    line.push(b'\n');
    if let Some(stdin) = child.stdin.as_mut() {
        // A child that died early closes the pipe; its exit status tells the story.
        let _ = stdin.write_all(&line).and_then(|_| stdin.flush());
    }
    let stdout = child.stdout.take().expect("piped stdout");
    Ok((child, lines(stdout)))
}

fn lines(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next answer from a child, or why there is none; a child that overruns `limit`
/// is killed (our own child, by PID).
pub fn next_answer(
    child: &mut Child,
    lines: &mpsc::Receiver<String>,
    limit: Duration,
) -> Result<Answer, ChildError> {
    let line = match lines.recv_timeout(limit) {
        Ok(line) => line,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ChildError::Timeout(limit));
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let status = child
                .wait()
                .map_or_else(|e| e.to_string(), |s| s.to_string());
            return Err(ChildError::NoAnswer {
                status,
                detail: "no output".into(),
            });
        }
    };
    serde_json::from_str(&line).map_err(|e| ChildError::NoAnswer {
        status: "running".into(),
        detail: e.to_string(),
    })
}

/// Runs `job` in a fresh child of `exe`, killing it after `limit`.
pub fn run_job(exe: &Path, job: &Job, limit: Duration) -> Result<Answer, ChildError> {
    let (mut child, lines) = spawn(exe, job)?;
    drop(child.stdin.take());
    let answer = next_answer(&mut child, &lines, limit);
    let _ = child.wait();
    answer
}

fn send(answer: &Answer) -> bool {
    let mut line = serde_json::to_vec(answer).expect("answers serialise");
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    out.write_all(&line).and_then(|_| out.flush()).is_ok()
}

/// The child's main: read the job, do it, print the answer. Must run before any thread
/// is started in this process.
pub fn child_main() -> i32 {
    let mut stdin = BufReader::new(std::io::stdin());
    let mut first = String::new();
    if stdin.read_line(&mut first).is_err() {
        return crate::exit::HARNESS;
    }
    let answer = match serde_json::from_str::<Job>(&first) {
        Err(e) => Answer::Failed {
            code: crate::exit::HARNESS,
            message: format!("unreadable job: {e}"),
        },
        Ok(Job::Run(plan)) => {
            crate::exec::install_wakeup_handler();
            match crate::exec::execute(&plan) {
                Ok(h) => Answer::Ran(Box::new(h)),
                Err(e) => failed(&e),
            }
        }
        Ok(Job::Probe) => match crate::probe::probe() {
            Ok(p) => Answer::Probed(Box::new(p)),
            Err(e) => failed(&e),
        },
        Ok(Job::Record(job)) => record(&job),
        Ok(Job::Session { devices, world }) => {
            crate::exec::install_wakeup_handler();
            match crate::exec::Session::enter(&devices, &world) {
                Ok(s) => return serve(&s, stdin),
                Err(e) => failed(&e),
            }
        }
    };
    if send(&answer) {
        0
    } else {
        crate::exit::HARNESS
    }
}

/// Executes plans from `stdin` in `session` until it closes.
fn serve(session: &crate::exec::Session, stdin: impl BufRead) -> i32 {
    let ready = Answer::Ready {
        kernel_release: session.kernel_release().to_string(),
        facts: *session.facts(),
        rule: session.rule(),
    };
    if !send(&ready) {
        return crate::exit::HARNESS;
    }
    for line in stdin.lines() {
        let Ok(line) = line else {
            return crate::exit::HARNESS;
        };
        let answer = match serde_json::from_str::<Plan>(&line) {
            Ok(plan) => match session.execute(&plan) {
                Ok(h) => Answer::Ran(Box::new(h)),
                Err(e) => failed(&e),
            },
            Err(e) => Answer::Failed {
                code: crate::exit::HARNESS,
                message: format!("unreadable plan: {e}"),
            },
        };
        if !send(&answer) {
            return crate::exit::HARNESS;
        }
    }
    0
}

fn record(job: &crate::trace::record::RecordJob) -> Answer {
    if let Err(e) = crate::sandbox::enter(&[]) {
        return Answer::Failed {
            code: if e.is_environment() {
                crate::exit::ENVIRONMENT
            } else {
                crate::exit::HARNESS
            },
            message: format!(
                "{}; {}",
                crate::errors::chain(&e),
                crate::sandbox::privilege_hint()
            ),
        };
    }
    match crate::trace::record::record(job) {
        Ok(r) => Answer::Recorded {
            recording: Box::new(r),
            kernel_release: crate::sandbox::kernel_release(),
        },
        Err(e) => Answer::Failed {
            code: crate::exit::HARNESS,
            message: format!("recording failed: {e}"),
        },
    }
}

/// `e` as the answer of a job that failed: its kind's code and its causes.
fn failed(e: &dyn Classified) -> Answer {
    Answer::Failed {
        code: e.kind().exit_code(),
        message: crate::errors::chain(e),
    }
}
