//! `nlstorm explore`: proptest's `TestRunner` draws cases from the whole space (or the
//! part the command line leaves open), runs each against the kernel, and shrinks the
//! first one that breaks the property to a minimal case.
//!
//! Alternatives in every strategy are ordered simplest first, because proptest shrinks
//! a `prop_oneof!` towards its first arm and ranges towards their low end: a shrunk case
//! has one receiver, one burst, no reader unless the failure needs one.

pub use super::space::{Explorable, Space};
pub use crate::check::property::Property;
use crate::untrusted::Name;
use std::any::Any;
use std::cell::{Cell as StdCell, RefCell};
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{
    Config, FailurePersistence, PersistedSeed, RngAlgorithm, TestCaseError, TestError, TestRng,
    TestRunner,
};
use serde::{Deserialize, Serialize};

use super::case::{Case, Reader, GROUP};
use crate::check::{ReceiverResult, Verdict};
use crate::exec::ExecError;
use crate::execute::Execute;
use crate::plan::{EmitterKind, Plan, RcvbufPlan, ReadMode, Schedule, USER_PAYLOAD_MAX};

fn emitter_strategy(space: &Space) -> BoxedStrategy<EmitterKind> {
    match space.emitter {
        Some(k) => Just(k).boxed(),
        None => prop_oneof![
            Just(EmitterKind::Usersock { group: GROUP }),
            Just(EmitterKind::SyntheticUevent),
            Just(EmitterKind::KernelUevent),
        ]
        .boxed(),
    }
}

fn payload_strategy(space: &Space) -> BoxedStrategy<u32> {
    let (lo, hi) = space.payload.unwrap_or((1, USER_PAYLOAD_MAX as u32));
    prop_oneof![
        3 => lo..=hi.min(lo.saturating_mul(64)).max(lo),
        1 => lo..=hi,
    ]
    .boxed()
}

/// The payload `kind` can carry closest to `want`. (Clamping after drawing, rather than
/// drawing per emitter with `prop_flat_map`, keeps the strategy a plain tuple, which
/// proptest shrinks all the way.)
fn fit_payload(kind: EmitterKind, want: u32) -> u32 {
    let (min, max, _) = kind.payload_limits();
    // The kernel adds ~270 B of its own keys to a sysfs-written uevent.
    let min = if kind == EmitterKind::KernelUevent {
        400
    } else {
        min
    };
    u64::from(want).clamp(min, max) as u32
}

fn rcvbuf_strategy(space: &Space) -> BoxedStrategy<RcvbufPlan> {
    if let Some((lo, hi)) = space.rcvbuf {
        return (lo..=hi)
            .prop_map(|bytes| RcvbufPlan::Request { bytes })
            .boxed();
    }
    // Below SOCK_MIN_RCVBUF/2, typical sizes, around a 4 MiB rmem_max, FORCE, default.
    prop_oneof![
        (0u64..=1152).prop_map(|bytes| RcvbufPlan::Request { bytes }),
        (1153u64..=1 << 20).prop_map(|bytes| RcvbufPlan::Request { bytes }),
        ((4u64 << 20) - 4096..=(4u64 << 20) + 4096).prop_map(|bytes| RcvbufPlan::Request { bytes }),
        (0u64..=8 << 20).prop_map(|bytes| RcvbufPlan::Force { bytes }),
        Just(RcvbufPlan::Default),
    ]
    .boxed()
}

fn schedule_strategy(space: &Space) -> BoxedStrategy<Schedule> {
    let nz = |n: u64| NonZeroU64::new(n.max(1)).expect("nonzero");
    let bursts = (1u64..=2000, 1u64..=4, 0u64..=5_000).prop_map(move |(size, count, gap_us)| {
        Schedule::Burst {
            size: nz(size),
            gap: if count > 1 {
                Duration::from_micros(gap_us.max(1))
            } else {
                Duration::ZERO
            },
            count: nz(count),
        }
    });
    let ms = |lo: u64, hi: u64| (lo..=hi).prop_map(Duration::from_millis);
    let timed = prop_oneof![
        (100f64..200_000.0, ms(5, 50)).prop_map(|(per_sec, duration)| Schedule::Rate {
            per_sec: per_sec.round(),
            duration
        }),
        (100f64..200_000.0, ms(5, 50)).prop_map(|(per_sec, duration)| Schedule::Poisson {
            per_sec: per_sec.round(),
            duration
        }),
        (100f64..200_000.0, 100f64..200_000.0, ms(5, 50)).prop_map(|(from, to, duration)| {
            Schedule::Ramp {
                from: from.round(),
                to: to.round(),
                duration,
            }
        }),
    ];
    match space.schedule.as_deref() {
        Some("burst") => bursts.boxed(),
        Some("timed") => timed.boxed(),
        _ => prop_oneof![3 => bursts, 1 => timed].boxed(),
    }
}

fn reader_strategy(space: &Space) -> BoxedStrategy<Reader> {
    let active = (
        prop_oneof![
            Just(ReadMode::Poll),
            Just(ReadMode::Blocking),
            (1u32..=64).prop_map(|n| ReadMode::Batch {
                size: NonZeroU32::new(n).expect("nonzero")
            }),
        ],
        (16u32..=64 * 1024),
        (0u64..=200).prop_map(Duration::from_micros),
        (0u64..=50).prop_map(Duration::from_millis),
    )
        .prop_map(|(mode, read_buffer, delay, start)| Reader {
            active: true,
            mode,
            read_buffer,
            delay,
            start,
        });
    match space.reader {
        Some(false) => Just(Reader::NONE).boxed(),
        Some(true) => active.boxed(),
        None => prop_oneof![Just(Reader::NONE), active].boxed(),
    }
}

/// Every case the space allows.
pub fn case_strategy(space: &Space) -> BoxedStrategy<Case> {
    let (rlo, rhi) = space.receivers.unwrap_or((1, 4));
    let no_enobufs = match space.no_enobufs {
        Some(v) => Just(v).boxed(),
        None => any::<bool>().boxed(),
    };
    (
        emitter_strategy(space),
        payload_strategy(space),
        rcvbuf_strategy(space),
        schedule_strategy(space),
        rlo..=rhi,
        no_enobufs,
        reader_strategy(space),
    )
        .prop_map(
            |(emitter, payload, rcvbuf, schedule, receivers, no_enobufs, mut reader)| {
                let payload = fit_payload(emitter, payload);
                // Never shorter than a message: truncation is not loss, and a cut-off
                // uevent loses the keys that identify it.
                reader.read_buffer = reader.read_buffer.max(payload);
                Case {
                    emitter,
                    payload,
                    schedule,
                    receivers,
                    rcvbuf,
                    no_enobufs,
                    reader,
                }
            },
        )
        .boxed()
}

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

/// Hands persisted seeds to the runner and catches the one it saves.
#[derive(Debug, Clone)]
struct Seeds {
    replay: Vec<PersistedSeed>,
    saved: Arc<Mutex<Option<String>>>,
}

impl FailurePersistence for Seeds {
    fn load_persisted_failures2(&self, _: Option<&'static str>) -> Vec<PersistedSeed> {
        self.replay.clone()
    }

    fn save_persisted_failure2(
        &mut self,
        _: Option<&'static str>,
        seed: PersistedSeed,
        _: &dyn std::fmt::Debug,
    ) {
        *self.saved.lock().expect("not poisoned") = Some(seed.to_string());
    }

    fn box_clone(&self) -> Box<dyn FailurePersistence> {
        Box::new(self.clone())
    }

    fn eq(&self, other: &dyn FailurePersistence) -> bool {
        other
            .as_any()
            .downcast_ref::<Seeds>()
            .is_some_and(|o| o.replay == self.replay)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Parses a persisted seed line's `cc ...` part.
pub fn parse_seed(text: &str) -> Option<PersistedSeed> {
    text.trim().parse().ok()
}

impl Explorable for Case {
    fn plan(&self, name: &str) -> Plan {
        Case::plan(self, name)
    }
    fn no_enobufs(&self) -> bool {
        self.no_enobufs
    }
}

/// Runs the exploration in `session`. Progress goes to stderr.
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;

    #[test]
    fn every_drawn_case_is_a_valid_scenario() {
        let mut runner = TestRunner::deterministic();
        let s = case_strategy(&Space::default());
        for _ in 0..300 {
            let c = s.new_tree(&mut runner).unwrap().current();
            crate::scenario::assert_round_trips(&c.plan("drawn"));
            let (min, max, _) = c.emitter.payload_limits();
            assert!((min..=max).contains(&u64::from(c.payload)));
            assert!(c.reader.read_buffer >= c.payload.min(64 * 1024));
        }
    }

    #[test]
    fn restrictions_hold() {
        let space = Space {
            emitter: Some(EmitterKind::Usersock { group: GROUP }),
            payload: Some((100, 200)),
            rcvbuf: Some((0, 4096)),
            receivers: Some((2, 2)),
            reader: Some(false),
            no_enobufs: Some(true),
            schedule: Some("burst".into()),
            filters: None,
        };
        let mut runner = TestRunner::deterministic();
        let s = case_strategy(&space);
        for _ in 0..200 {
            let c = s.new_tree(&mut runner).unwrap().current();
            assert!((100..=200).contains(&c.payload));
            assert!(matches!(c.rcvbuf, RcvbufPlan::Request { bytes } if bytes <= 4096));
            assert_eq!(c.receivers, 2);
            assert!(!c.reader.active && c.no_enobufs);
            assert!(matches!(c.schedule, Schedule::Burst { .. }));
        }
    }

    #[test]
    fn shrinking_heads_for_the_simplest_case() {
        // Simplify as far as the strategy allows, as proptest does when every step fails.
        let mut runner = TestRunner::deterministic();
        let s = case_strategy(&Space::default());
        for _ in 0..20 {
            let mut tree = s.new_tree(&mut runner).unwrap();
            for _ in 0..10_000 {
                if !tree.simplify() {
                    break;
                }
            }
            let c = tree.current();
            assert_eq!(c.receivers, 1, "{c:?}");
            assert!(!c.reader.active);
            assert!(!c.no_enobufs);
            assert!(
                matches!(c.schedule, Schedule::Burst { size, count, .. } if size.get() == 1 && count.get() == 1),
                "{:?}",
                c.schedule
            );
        }
    }
}
