//! The sandbox runs in a re-exec'd copy of this binary: namespaces need a
//! single-threaded caller, and a child that dies takes its namespaces with it. The parent
//! sends a [`Job`] as JSON on stdin and reads an [`Answer`] from stdout; it kills the
//! child by PID if it overruns, and the child dies with the parent (PR_SET_PDEATHSIG).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::history::History;
use crate::plan::Plan;
use crate::probe::ProbeReport;
use crate::search::explore::{ExploreJob, ExploreReport};
use crate::search::sweep::{Cell, SweepEnv, SweepSpec};
use crate::search::threshold::{ThresholdJob, ThresholdReport};

/// Hidden first argument that makes the binary act as the sandbox child.
pub const CHILD_ARG: &str = "__sandbox-child";

/// What the child is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub enum Job {
    /// Execute a plan.
    Run(Plan),
    /// Measure kernel facts.
    Probe,
    /// Bisect for a threshold.
    Threshold(ThresholdJob),
    /// Explore a space for a case that breaks a property.
    Explore(ExploreJob),
    /// Run these cells of a sweep, streaming each back.
    Sweep {
        /// The sweep.
        spec: SweepSpec,
        /// `(index, values)` of the cells to run.
        cells: Vec<(usize, Vec<u64>)>,
    },
}

/// What the child answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    /// A run's history.
    Ran(Box<History>),
    /// Probe results.
    Probed(Box<ProbeReport>),
    /// A threshold search's result.
    Threshold(Box<ThresholdReport>),
    /// What an exploration found.
    Explored(Box<ExploreReport>),
    /// One finished sweep cell (an item).
    Cell(Box<Cell>),
    /// Every cell asked for is done.
    Swept(Box<SweepEnv>),
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

impl ChildError {
    /// The documented exit code: a binary this user may not execute is the environment's
    /// problem (3), anything else is the harness's (4).
    pub fn exit_code(&self) -> i32 {
        match self {
            ChildError::Spawn { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                crate::exit::ENVIRONMENT
            }
            _ => crate::exit::HARNESS,
        }
    }
}

/// Runs `job` in a fresh child of `exe`, killing it after `limit`.
pub fn run_job(exe: &Path, job: &Job, limit: Duration) -> Result<Answer, ChildError> {
    run_job_streaming(exe, job, limit, |_| {})
}

/// Runs `job` in a fresh child of `exe`. The child writes one JSON answer per line:
/// items ([`Answer::is_item`]) go to `on_item` as they arrive (so a long sweep's cells
/// reach the disk while it runs), the last line is the answer. The child is killed when
/// `limit` passes without a line.
pub fn run_job_streaming(
    exe: &Path,
    job: &Job,
    limit: Duration,
    mut on_item: impl FnMut(Answer),
) -> Result<Answer, ChildError> {
    let mut cmd = Command::new(exe);
    cmd.arg(CHILD_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| ChildError::Spawn {
        exe: exe.display().to_string(),
        source,
    })?;
    let input = serde_json::to_vec(job).expect("jobs serialise");
    if let Some(mut stdin) = child.stdin.take() {
        // A child that died early closes the pipe; its exit status tells the story.
        let _ = stdin.write_all(&input);
    }
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut last: Option<String> = None;
    loop {
        match rx.recv_timeout(limit) {
            Ok(line) => {
                if let Some(prev) = last.replace(line) {
                    if let Ok(a) = serde_json::from_str::<Answer>(&prev) {
                        on_item(a);
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Our own child, by PID.
                let _ = child.kill();
                let _ = child.wait();
                return Err(ChildError::Timeout(limit));
            }
        }
    }
    let status = child.wait().map_err(|e| ChildError::NoAnswer {
        status: "unknown".into(),
        detail: e.to_string(),
    })?;
    let out = last.unwrap_or_default();
    serde_json::from_str(&out).map_err(|e| ChildError::NoAnswer {
        status: status.to_string(),
        detail: if out.is_empty() {
            "no output".into()
        } else {
            e.to_string()
        },
    })
}

/// Sends an item line to the parent (see [`run_job_streaming`]).
pub fn send_item(item: &Answer) {
    let mut line = serde_json::to_vec(item).expect("answers serialise");
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    // A parent that is gone kills us through PR_SET_PDEATHSIG.
    let _ = out.write_all(&line).and_then(|_| out.flush());
}

/// The child's main: read the job, do it, print the answer. Must run before any thread
/// is started in this process.
pub fn child_main() -> i32 {
    let mut input = Vec::new();
    if std::io::stdin().read_to_end(&mut input).is_err() {
        return crate::exit::HARNESS;
    }
    let answer = match serde_json::from_slice::<Job>(&input) {
        Err(e) => Answer::Failed {
            code: crate::exit::HARNESS,
            message: format!("unreadable job: {e}"),
        },
        Ok(Job::Run(plan)) => {
            crate::exec::install_wakeup_handler();
            match crate::exec::execute(&plan) {
                Ok(h) => Answer::Ran(Box::new(h)),
                Err(e) => Answer::Failed {
                    code: e.exit_code(),
                    message: error_chain(&e),
                },
            }
        }
        Ok(Job::Threshold(job)) => {
            crate::exec::install_wakeup_handler();
            match search_session(job.fixed.emitter)
                .and_then(|s| crate::search::threshold::threshold(&s, &job))
            {
                Ok(r) => Answer::Threshold(Box::new(r)),
                Err(e) => failed(&e),
            }
        }
        Ok(Job::Explore(job)) => {
            crate::exec::install_wakeup_handler();
            // Every emitter kind may be drawn: give the session the device for one, and the
            // dump space its links and connections.
            let world = if job.property.about_dumps() {
                crate::search::hang_space::WORLD
            } else {
                Default::default()
            };
            match crate::exec::Session::enter(&[crate::exec::device_name(0)], &world)
                .and_then(|s| crate::search::explore::explore(&s, &job))
            {
                Ok(r) => Answer::Explored(Box::new(r)),
                Err(e) => failed(&e),
            }
        }
        Ok(Job::Sweep { spec, cells }) => {
            crate::exec::install_wakeup_handler();
            match search_session(spec.fixed.emitter).and_then(|s| {
                crate::search::sweep::run_cells(&s, &spec, &cells, |c| {
                    send_item(&Answer::Cell(Box::new(c)))
                })
            }) {
                Ok(env) => Answer::Swept(Box::new(env)),
                Err(e) => failed(&e),
            }
        }
        Ok(Job::Probe) => match crate::probe::probe() {
            Ok(p) => Answer::Probed(Box::new(p)),
            Err(e) => Answer::Failed {
                code: e.exit_code(),
                message: error_chain(&e),
            },
        },
    };
    let out = serde_json::to_vec(&answer).expect("answers serialise");
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
        return crate::exit::HARNESS;
    }
    0
}

/// A session with the device a single kernel-uevent emitter writes to.
fn search_session(
    emitter: crate::plan::EmitterKind,
) -> Result<crate::exec::Session, crate::exec::ExecError> {
    let devices = if emitter == crate::plan::EmitterKind::KernelUevent {
        vec![crate::exec::device_name(0)]
    } else {
        vec![]
    };
    crate::exec::Session::enter(&devices, &Default::default())
}

fn failed(e: &crate::exec::ExecError) -> Answer {
    Answer::Failed {
        code: e.exit_code(),
        message: error_chain(e),
    }
}

/// `error: cause: cause`, for one-line messages.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}
