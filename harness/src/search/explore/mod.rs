//! `nlstorm explore`: proptest's `TestRunner` draws cases from the whole space (or the
//! part the command line leaves open), runs each against the kernel, and shrinks the
//! first one that breaks the property to a minimal case. The flood space's strategies
//! are in `strategy`, the dump space's in `search::hang_space`; `seeds` replays and
//! saves regression seeds.

mod seeds;
mod strategy;
#[cfg(test)]
mod tests;

pub use seeds::parse_seed;
use seeds::Seeds;
pub use strategy::case_strategy;

pub use super::space::{Explorable, Space};
pub use crate::check::property::Property;
use crate::untrusted::Name;
use std::cell::{Cell as StdCell, RefCell};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{
    Config, PersistedSeed, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};
use serde::{Deserialize, Serialize};

use crate::check::{ReceiverResult, Verdict};
use crate::exec::ExecError;
use crate::execute::Execute;
use crate::plan::Plan;

/// An exploration, as the command line asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExploreJob {
    /// The property.
    pub property: Property,
    /// The space.
    pub space: Space,
    /// New cases to try (after the replayed ones).
    pub cases: u32,
    /// Seed of the runner's random source.
    pub seed: u64,
    /// Stop drawing new cases after this long (shrinking an already failing case goes on).
    pub time: Duration,
    /// Persisted seeds (proptest's `cc` format) to replay first.
    pub replay: Vec<String>,
}

/// The minimal failing case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Why it fails.
    pub reason: String,
    /// The case, as drawn (a broadcast case or a dump case).
    pub case: serde_json::Value,
    /// The scenario that runs it, with expectations that fail the same way.
    pub plan: Plan,
    /// What each receiver measured in the last run of the minimal case.
    pub receivers: Vec<ReceiverResult>,
    /// What each dump client measured in it.
    pub dumps: Vec<crate::check::DumpResult>,
    /// The seed that produced the original failing case (null when it came from replay).
    pub seed: Option<String>,
}

/// What an exploration found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExploreReport {
    /// The job.
    pub job: ExploreJob,
    /// Cases run, shrinking included.
    pub runs: u64,
    /// Runs that broke the property (the first failure and failing shrink steps).
    pub failing_runs: u64,
    /// The drawing of new cases stopped at `time`.
    pub stopped_by_time: bool,
    /// The minimal failing case, if any.
    pub failure: Option<Failure>,
    /// Wall time.
    pub elapsed_s: f64,
}

/// Runs the exploration in `session`.
///
/// `progress` hears after every case run how far the search has got (the caller draws
/// it; the search itself writes nothing).
pub fn explore(
    session: &dyn Execute,
    job: &ExploreJob,
    progress: &dyn Fn(Runs),
) -> Result<ExploreReport, ExecError> {
    if job.property.about_dumps() {
        search(
            session,
            job,
            super::hang_space::strategy(&job.space),
            progress,
        )
    } else {
        search(session, job, case_strategy(&job.space), progress)
    }
}

/// How far a search has got: cases run (replayed seeds, new cases and shrinking steps
/// alike) and how many of them broke the property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runs {
    /// Cases run so far.
    pub runs: u64,
    /// Of them, cases that broke the property.
    pub failing: u64,
}

fn run_case(session: &dyn Execute, c: &impl Explorable) -> Result<(Plan, Verdict), ExecError> {
    let plan = c.plan("trial");
    let h = session.execute(&plan)?;
    let v = crate::check::check(&plan, &h);
    Ok((plan, v))
}

fn search<S>(
    session: &dyn Execute,
    job: &ExploreJob,
    strategy: S,
    progress: &dyn Fn(Runs),
) -> Result<ExploreReport, ExecError>
where
    S: Strategy,
    S::Value: Explorable,
{
    let started = Instant::now();
    let saved = Arc::new(Mutex::new(None));
    let replay: Vec<PersistedSeed> = job.replay.iter().filter_map(|s| parse_seed(s)).collect();
    let config = Config {
        cases: job.cases,
        max_shrink_iters: 512,
        max_shrink_time: 120_000,
        max_global_rejects: 10_000,
        failure_persistence: Some(Box::new(Seeds {
            replay,
            saved: saved.clone(),
        })),
        ..Config::default()
    };
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&job.seed.to_le_bytes());
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let runs = StdCell::new(0u64);
    let failing = StdCell::new(0u64);
    let stopped = StdCell::new(false);
    let harness_error: RefCell<Option<ExecError>> = RefCell::new(None);
    let last_fail: RefCell<Option<(Plan, Verdict)>> = RefCell::new(None);
    let result = runner.run(&strategy, |c| {
        if harness_error.borrow().is_some() {
            return Ok(());
        }
        if failing.get() == 0 && started.elapsed() > job.time {
            stopped.set(true);
            return Ok(());
        }
        runs.set(runs.get() + 1);
        progress(Runs {
            runs: runs.get(),
            failing: failing.get(),
        });
        match run_case(session, &c) {
            Err(e) => {
                *harness_error.borrow_mut() = Some(e);
                Ok(())
            }
            // A broken accounting invariant is the harness failing, never a finding.
            Ok((_, verdict)) if !verdict.problems.is_empty() => {
                *harness_error.borrow_mut() = Some(ExecError::Io {
                    what: "check an explored case".into(),
                    source: std::io::Error::other(verdict.problems[0].clone()),
                });
                Ok(())
            }
            Ok((plan, verdict)) => match job.property.broken(&verdict, c.no_enobufs()) {
                Some(reason) => {
                    failing.set(failing.get() + 1);
                    *last_fail.borrow_mut() = Some((plan, verdict));
                    Err(TestCaseError::fail(reason))
                }
                None => Ok(()),
            },
        }
    });
    if let Some(e) = harness_error.into_inner() {
        return Err(e);
    }
    let failure = match result {
        Ok(()) => None,
        Err(TestError::Abort(why)) => {
            return Err(ExecError::Io {
                what: "explore".into(),
                source: std::io::Error::other(why.to_string()),
            })
        }
        Err(TestError::Fail(reason, minimal)) => Some(minimal_failure(
            session,
            job,
            &minimal,
            reason.to_string(),
            &saved,
            last_fail.into_inner(),
        )?),
    };
    Ok(ExploreReport {
        job: job.clone(),
        runs: runs.get(),
        failing_runs: failing.get(),
        stopped_by_time: stopped.get(),
        failure,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// Reruns the minimal case once more to record what it measures, and writes the
/// property as expectations into its plan.
fn minimal_failure(
    session: &dyn Execute,
    job: &ExploreJob,
    minimal: &impl Explorable,
    reason: String,
    saved: &Mutex<Option<String>>,
    last: Option<(Plan, Verdict)>,
) -> Result<Failure, ExecError> {
    let (mut plan, verdict) = run_case(session, minimal)?;
    // A flaky minimal case (a reader racing the flood) may pass on the rerun; the run
    // that failed during shrinking is then the evidence.
    let verdict = if job
        .property
        .broken(&verdict, minimal.no_enobufs())
        .is_some()
    {
        verdict
    } else {
        last.map_or(verdict, |(_, v)| v)
    };
    plan.name = Name::internal(format!("explore-{}-seed{}", job.property.name(), job.seed));
    plan.description = format!(
        "shrunk by nlstorm explore --property {}: {reason}",
        job.property.name()
    );
    for (rp, res) in plan.receivers.iter_mut().zip(&verdict.receivers) {
        rp.expectations = job.property.expectations(res, "explore");
    }
    for d in &mut plan.dumps {
        d.expectations = job.property.dump_expectations("explore");
    }
    Ok(Failure {
        reason,
        case: serde_json::to_value(minimal).unwrap_or_default(),
        plan,
        receivers: verdict.receivers,
        dumps: verdict.dumps,
        seed: saved.lock().expect("not poisoned").clone(),
    })
}
