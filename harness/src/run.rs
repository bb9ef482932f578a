//! `nlstorm run`: load scenarios, run each in its own sandbox child, check, record, report.

use std::path::{Path, PathBuf};

use crate::check::{check, Status};
use crate::child::{run_job, Answer, Job};
use crate::plan::Plan;
use crate::report::ScenarioReport;
use crate::scenario::{self, ScenarioErrors};

/// Every `.toml` file named, or found directly inside a named directory, sorted.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read directory {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!("{} has no .toml scenario files", p.display()));
            }
            out.extend(found);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(format!("{} does not exist", p.display()));
        }
    }
    Ok(out)
}

/// Loads every file; all problems of all files are returned together.
pub fn load_all(
    files: &[PathBuf],
) -> Result<Vec<(PathBuf, scenario::Source)>, Vec<ScenarioErrors>> {
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match scenario::load_source(f) {
            Ok(p) => plans.push((f.clone(), p)),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(plans)
    } else {
        Err(errors)
    }
}

/// Where a run's record goes, and the scenario text it keeps.
#[derive(Debug, Clone, Copy)]
pub struct RecordTo<'a> {
    /// The record root (`--record-dir`).
    pub root: &'a Path,
    /// The scenario file's text, as read when it was compiled.
    pub scenario: &'a str,
}

/// Runs one plan and checks it; writes a record if asked to.
pub fn run_one(
    exe: &Path,
    file: &Path,
    plan: &Plan,
    record: Option<RecordTo<'_>>,
) -> ScenarioReport {
    let mut rep = blank_report(plan, file);
    // The sandbox runs on this kernel, so a run that fails or is skipped still names it.
    rep.kernel_release = Some(crate::sandbox::kernel_release());
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
            rep.exit_code = e.kind().exit_code();
            rep.status = status_name(rep.exit_code).into();
            rep.error = Some(crate::child::error_chain(&e));
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
                    crate::child::error_chain(&e)
                ));
            }
        }
    }
    rep
}

/// Fills `rep` with the checker's verdict on `history`, a run of `plan`: what `run`
/// reports after a run and `check` reports of a stored record.
pub fn judge(rep: &mut ScenarioReport, plan: &Plan, history: &crate::history::History) {
    let verdict = check(plan, history);
    rep.status = match verdict.status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::HarnessError => "harness-error",
        Status::Unsupported => SKIPPED,
    }
    .into();
    if verdict.status == Status::Unsupported {
        rep.error = verdict
            .dumps
            .iter()
            .find_map(|d| d.record.unsupported.clone());
    }
    rep.exit_code = verdict.status.exit_code();
    rep.kernel_release = Some(history.kernel_release.clone());
    rep.facts = Some(history.facts);
    rep.run_id = Some(history.run_id.clone());
    rep.elapsed_s = Some(history.elapsed_ns as f64 / 1e9);
    rep.receivers = verdict.receivers;
    rep.emitters = verdict.emitters;
    rep.dumps = verdict.dumps;
    rep.churn = verdict.churn;
    rep.programs = verdict.programs;
    rep.outcomes = verdict.outcomes;
    rep.problems = verdict.problems;
}

/// An empty report for `plan` read from `file`.
pub fn blank_report(plan: &Plan, file: &Path) -> ScenarioReport {
    ScenarioReport {
        scenario: plan.name.to_string(),
        file: file.display().to_string(),
        status: String::new(),
        exit_code: 0,
        error: None,
        record_dir: None,
        kernel_release: None,
        facts: None,
        run_id: None,
        elapsed_s: None,
        receivers: vec![],
        emitters: vec![],
        dumps: vec![],
        churn: vec![],
        programs: vec![],
        outcomes: vec![],
        problems: vec![],
    }
}

pub use crate::report::SKIPPED;

/// The exit code of a whole `run`: skipped scenarios do not count, unless every
/// scenario was skipped or `require_all` (CI, where a skip would hide a broken runner).
pub fn overall(reports: &[ScenarioReport], require_all: bool) -> i32 {
    let skipped = reports.iter().filter(|r| r.status == SKIPPED).count();
    if skipped > 0 && (require_all || skipped == reports.len()) {
        return crate::exit::ENVIRONMENT;
    }
    combine(
        reports
            .iter()
            .filter(|r| r.status != SKIPPED)
            .map(|r| r.exit_code),
    )
}

/// The closing line of a run or a check: `N passed, N failed`, and `, N skipped` when
/// some were.
pub fn summary(reports: &[ScenarioReport]) -> String {
    let count = |s: &str| reports.iter().filter(|r| r.status == s).count();
    let (passed, skipped) = (count("pass"), count(SKIPPED));
    let failed = reports.len() - passed - skipped;
    if skipped > 0 {
        format!("{passed} passed, {failed} failed, {skipped} skipped")
    } else {
        format!("{passed} passed, {failed} failed")
    }
}

/// Name of the status for an exit code.
pub fn status_name(code: i32) -> &'static str {
    match code {
        crate::exit::PASS => "pass",
        crate::exit::FINDING => "fail",
        crate::exit::BAD_INPUT => "bad-input",
        crate::exit::ENVIRONMENT => SKIPPED,
        _ => "harness-error",
    }
}

/// The exit code of several results: the most severe wins (harness > environment >
/// bad input > finding > pass).
pub fn combine(codes: impl IntoIterator<Item = i32>) -> i32 {
    let rank = |c: i32| match c {
        crate::exit::HARNESS => 4,
        crate::exit::ENVIRONMENT => 3,
        crate::exit::BAD_INPUT => 2,
        crate::exit::FINDING => 1,
        _ => 0,
    };
    codes
        .into_iter()
        .max_by_key(|&c| rank(c))
        .unwrap_or(crate::exit::PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: &str, exit_code: i32) -> ScenarioReport {
        let mut r: ScenarioReport = serde_json::from_str(include_str!(
            "../../fixtures/records/overrun-one-receiver/verdict.json"
        ))
        .unwrap();
        r.status = status.into();
        r.exit_code = exit_code;
        r
    }

    #[test]
    fn skipped_scenarios_do_not_fail_the_run_unless_all_are_or_ci_asks() {
        let pass = report("pass", 0);
        let skip = report(SKIPPED, crate::exit::ENVIRONMENT);
        let fail = report("fail", 1);
        assert_eq!(overall(&[pass.clone(), skip.clone()], false), 0);
        assert_eq!(overall(&[fail, skip.clone()], false), 1);
        assert_eq!(overall(std::slice::from_ref(&skip), false), 3);
        assert_eq!(overall(&[pass, skip], true), 3);
    }

    #[test]
    fn severity_order() {
        assert_eq!(combine([0, 1, 0]), 1);
        assert_eq!(combine([1, 3, 2]), 3);
        assert_eq!(combine([4, 3]), 4);
        assert_eq!(combine([]), 0);
    }
}
