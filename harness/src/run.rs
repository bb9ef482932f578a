//! One scenario driven through the pipeline: executed in its own sandbox child, judged,
//! recorded and reported. A driver of `Execute` beside `search`: `run` and `check` are
//! commands (cli/), this is the step both the `run` command and the tests of abandonment
//! (which pass a faulty child executable) take per scenario.

use std::path::Path;

use crate::child::{run_job, Answer, Job};
use crate::plan::Plan;
use crate::report::{blank_report, judge, status_name, ScenarioReport, SKIPPED};

/// Where a run's record goes, and the scenario text it keeps.
#[derive(Debug, Clone, Copy)]
pub struct RecordTo<'a> {
    /// The record root (`--record-dir`).
    pub root: &'a Path,
    /// The scenario file's text, as read when it was compiled.
    pub scenario: &'a str,
}

/// What the person running nlstorm allows that no scenario file can grant itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grant {
    /// Programs whose scenario asks for root (`root = true`) may have it
    /// (`--allow-root-programs`).
    pub root_programs: bool,
}

pub use crate::plan::ALLOW_ROOT_FLAG;

/// Runs one plan and checks it; writes a record if asked to.
pub fn run_one(
    exe: &Path,
    file: &Path,
    plan: &Plan,
    record: Option<RecordTo<'_>>,
    grant: Grant,
) -> ScenarioReport {
    let mut rep = blank_report(plan, file);
    // The sandbox runs on this kernel, so a run that fails or is skipped still names it.
    rep.kernel_release = Some(crate::sandbox::kernel_release());
    let wants_root: Vec<&str> = plan
        .programs
        .iter()
        .filter(|p| p.root)
        .map(|p| p.name.as_str())
        .collect();
    if !wants_root.is_empty() && !grant.root_programs {
        rep.status = SKIPPED.into();
        rep.exit_code = crate::exit::ENVIRONMENT;
        rep.error = Some(format!(
            "program {} asks for root (`root = true`), which a scenario file cannot grant itself: run with {ALLOW_ROOT_FLAG} to grant it",
            wants_root.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ));
        return rep;
    }
    if plan.timing_bound && crate::sandbox::Place::current().emulated() {
        rep.status = SKIPPED.into();
        rep.exit_code = crate::exit::ENVIRONMENT;
        rep.error = Some(
            "not applicable: the scenario is timing-bound and this kernel runs under TCG software emulation (nlstorm vm without KVM)".into(),
        );
        return rep;
    }
    let answer = run_job(exe, &Job::Run(plan.clone()), plan.budget());
    let history = match answer {
        Ok(Answer::Ran(h)) => *h,
        Ok(Answer::Failed { code, message }) => {
            rep.status = status_name(code).into();
            rep.exit_code = code;
            rep.error = Some(message);
            return rep;
        }
        Ok(_) => {
            rep.status = "harness-error".into();
            rep.exit_code = crate::exit::HARNESS;
            rep.error = Some("the sandbox answered a run with something else".into());
            return rep;
        }
        Err(e) => {
            rep.exit_code = crate::errors::Classified::kind(&e).exit_code();
            rep.status = status_name(rep.exit_code).into();
            rep.error = Some(crate::errors::chain(&e));
            return rep;
        }
    };
    judge(&mut rep, plan, &history);
    if let Some(RecordTo { root, scenario }) = record {
        match crate::record::write(root, scenario, plan, &history, &rep) {
            Ok(dir) => rep.record_dir = Some(dir.display().to_string()),
            Err(e) => {
                // The measurements are in the report, but a record that was asked for and
                // is missing means results were lost: that is the harness failing.
                rep.status = status_name(crate::exit::HARNESS).into();
                rep.exit_code = crate::exit::HARNESS;
                rep.problems.push(format!(
                    "failed to write the run record under {}: {} (choose another place with --record-dir DIR, or --no-record)",
                    root.display(),
                    crate::errors::chain(&e)
                ));
            }
        }
    }
    rep
}
