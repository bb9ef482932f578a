//! A scenario's report from the checker's verdict, and the totals of a run: its exit
//! code and its closing line.

use std::path::Path;

use super::{ScenarioReport, SKIPPED};
use crate::check::{check, Status};
use crate::plan::Plan;

/// Fills `rep` with the checker's verdict on `history`, a run of `plan`: what `run`
/// reports after a run and `check` reports of a stored record.
pub fn judge(rep: &mut ScenarioReport, plan: &Plan, history: &crate::history::History) {
    let verdict = check(plan, history);
    rep.status = match verdict.status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::HarnessError => "harness-error",
        Status::Unsupported => SKIPPED,
        Status::BadInput => "bad-input",
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
            "../../../fixtures/records/overrun-one-receiver/verdict.json"
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
