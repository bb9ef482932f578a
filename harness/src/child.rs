//! The sandbox runs in a re-exec'd copy of this binary: namespaces need a
//! single-threaded caller, and a child that dies takes its namespaces with it. The parent
//! sends a [`Job`] as JSON on stdin and reads an [`Answer`] from stdout; it kills the
//! child by PID if it overruns, and the child dies with the parent (PR_SET_PDEATHSIG).

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::history::History;
use crate::plan::Plan;
use crate::probe::ProbeReport;

/// Hidden first argument that makes the binary act as the sandbox child.
pub const CHILD_ARG: &str = "__sandbox-child";

/// What the child is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub enum Job {
    /// Execute a plan.
    Run(Plan),
    /// Measure kernel facts.
    Probe,
}

/// What the child answers.
#[derive(Debug, Serialize, Deserialize)]
pub enum Answer {
    /// A run's history.
    Ran(Box<History>),
    /// Probe results.
    Probed(Box<ProbeReport>),
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
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > limit => {
                // Our own child, by PID.
                let _ = child.kill();
                let _ = child.wait();
                return Err(ChildError::Timeout(limit));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                return Err(ChildError::NoAnswer {
                    status: "unknown".into(),
                    detail: e.to_string(),
                })
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    serde_json::from_slice(&out).map_err(|e| ChildError::NoAnswer {
        status: status.to_string(),
        detail: if out.is_empty() {
            "no output".into()
        } else {
            e.to_string()
        },
    })
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
