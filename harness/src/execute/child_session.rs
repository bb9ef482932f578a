//! The sandbox child as an executor. One child enters one sandbox, calibrates it, and
//! then executes the plans this process sends it, one at a time: the search drivers run
//! here, in the parent, against [`Execute`], and the process boundary carries only plans
//! and histories. Each plan is bounded by its own deadline; a child that overruns it is
//! killed by PID, and dropping the session closes the child's stdin, which ends it.

use std::path::Path;
use std::process::Child;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use super::Execute;
use crate::child::{self, Answer, Job};
use crate::exec::ExecError;
use crate::history::History;
use crate::model::{AdmitRule, BufferFacts};
use crate::plan::{EmitterKind, Plan, World};

/// How long a sandbox may take to come up and calibrate.
const START_LIMIT: Duration = Duration::from_secs(120);

/// A sandbox child serving plans.
pub struct ChildSession {
    io: Mutex<Pipes>,
    kernel_release: String,
    facts: BufferFacts,
    rule: AdmitRule,
}

struct Pipes {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildSession {
    /// Starts a child of `exe` in a sandbox with `devices` and `world`.
    pub fn start(exe: &Path, devices: Vec<String>, world: World) -> Result<Self, ExecError> {
        let (mut child, lines) =
            child::spawn(exe, &Job::Session { devices, world }).map_err(process)?;
        match child::next_answer(&mut child, &lines, START_LIMIT).map_err(process)? {
            Answer::Ready {
                kernel_release,
                facts,
                rule,
            } => Ok(Self {
                io: Mutex::new(Pipes { child, lines }),
                kernel_release,
                facts,
                rule,
            }),
            Answer::Failed { code, message } => {
                let _ = child.wait();
                Err(ExecError::Child { code, message })
            }
            _ => Err(ExecError::Child {
                code: crate::exit::HARNESS,
                message: "the sandbox answered a session with something else".into(),
            }),
        }
    }

    /// A session whose sandbox has the device a single kernel-uevent or link-alias
    /// emitter works through.
    pub fn for_emitter(exe: &Path, emitter: EmitterKind) -> Result<Self, ExecError> {
        let devices = if emitter.needs_device() {
            vec![crate::exec::device_name(0)]
        } else {
            vec![]
        };
        Self::start(exe, devices, World::default())
    }
}

impl Execute for ChildSession {
    fn kernel_release(&self) -> &str {
        &self.kernel_release
    }

    fn facts(&self) -> &BufferFacts {
        &self.facts
    }

    fn rule(&self) -> AdmitRule {
        self.rule
    }

    fn execute(&self, plan: &Plan) -> Result<History, ExecError> {
        use std::io::Write;
        let mut io = self.io.lock().expect("not poisoned");
        let mut line = serde_json::to_vec(plan).expect("plans serialise");
        line.push(b'\n');
        let sent = io
            .child
            .stdin
            .as_mut()
            .map(|s| s.write_all(&line).and_then(|_| s.flush()));
        if let Some(Err(e)) = sent {
            return Err(ExecError::Io {
                what: "send a plan to the sandbox process".into(),
                source: e,
            });
        }
        let Pipes { child, lines } = &mut *io;
        match child::next_answer(child, lines, plan.budget()).map_err(process)? {
            Answer::Ran(h) => Ok(*h),
            Answer::Failed { code, message } => Err(ExecError::Child { code, message }),
            _ => Err(ExecError::Child {
                code: crate::exit::HARNESS,
                message: "the sandbox answered a plan with something else".into(),
            }),
        }
    }
}

/// A sandbox process that could not be run or did not answer, as the plan's error.
fn process(e: child::ChildError) -> ExecError {
    use crate::errors::Classified;
    ExecError::Child {
        code: e.kind().exit_code(),
        message: crate::errors::chain(&e),
    }
}

impl Drop for ChildSession {
    fn drop(&mut self) {
        let Ok(io) = self.io.get_mut() else {
            return;
        };
        // EOF on stdin ends the child's loop; one that does not leave is killed.
        drop(io.child.stdin.take());
        for _ in 0..200 {
            if matches!(io.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = io.child.kill();
        let _ = io.child.wait();
    }
}
