//! The flood phase. A plan whose receivers all read after emission runs on this thread
//! ([`flood_unread`]); any other runs every participant on its own thread, started in the
//! order the plan needs: readers, the sampler, emitters, churn, then the dump clients
//! once churn has made its first change. The [`watchdog`](super::watchdog) then watches
//! them to the end, and their records are collected.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::error::{io, ExecError};
use super::sampler::Sampler;
use super::session::Session;
use super::watchdog::{self, Flock, WatchedClient, ABANDONED};
use crate::dump::DumpClient;
use crate::emit::Emitter;
use crate::history::{ChurnRecord, DumpRecord, EmitterRecord, ReceiverRecord, Series};
use crate::plan::{Plan, ReadMode, ReadStart};
use crate::program::Running;
use crate::receive::{Receiver, Shared};

/// What the flood phase produced.
pub(super) struct Flooded {
    pub emitters: Vec<EmitterRecord>,
    pub receivers: Vec<ReceiverRecord>,
    pub samples: Vec<Series>,
    pub deadline_hit: bool,
    pub dumps: Vec<DumpRecord>,
    pub churn: Vec<ChurnRecord>,
    pub programs: Vec<crate::history::ProgramRecord>,
}

/// How long dump clients wait for churn's first change. A change takes microseconds; this
/// only bounds a churn thread that is starved, not one that works.
const CHURN_START: Duration = Duration::from_secs(2);

/// True when no receiver reads before emission ends and one emitter sends: then the
/// flood can run on this thread, send by send, and the readers drain afterwards, with the
/// same outcome as the threaded run and none of its start-up cost (a capacity trial
/// takes well under a millisecond this way).
pub(super) fn floods_unread(plan: &Plan) -> bool {
    plan.dumps.is_empty()
        && plan.churn.is_empty()
        && plan.programs.is_empty()
        && plan.emitters.len() == 1
        && plan
            .receivers
            .iter()
            .all(|r| r.start_reading == ReadStart::EmissionEnd)
}

/// [`flood`] for plans where [`floods_unread`] holds.
pub(super) fn flood_unread(
    plan: &Plan,
    emitters: Vec<Emitter>,
    receivers: Vec<Receiver>,
    shared: &Arc<Shared>,
) -> Flooded {
    let sources = plan.emitters.len();
    let emitted: Vec<EmitterRecord> = emitters
        .into_iter()
        .map(|e| e.run(shared.t0, &shared.stop))
        .collect();
    shared.emission_done.store(true, Ordering::Release);
    let received = receivers
        .into_iter()
        .map(|r| r.run(shared, sources))
        .collect();
    Flooded {
        emitters: emitted,
        receivers: received,
        samples: Vec::new(),
        deadline_hit: false,
        dumps: Vec::new(),
        churn: Vec::new(),
        programs: Vec::new(),
    }
}

/// Starts readers, a sampler, the emitters, churn and the dump clients; the watchdog
/// enforces the deadline; collects every record, an abandoned thread's included.
pub(super) fn flood(
    plan: &Plan,
    emitters: Vec<Emitter>,
    receivers: Vec<Receiver>,
    clients: Vec<DumpClient>,
    mut programs: Vec<Running>,
    shared: &Arc<Shared>,
    session: &Session,
) -> Result<Flooded, ExecError> {
    let sources = plan.emitters.len();
    let setups: Vec<_> = receivers.iter().map(|r| r.setup().clone()).collect();
    let blocking: Vec<bool> = plan
        .receivers
        .iter()
        .map(|r| r.mode == ReadMode::Blocking)
        .collect();
    let sampler = Sampler::start(&receivers, shared.t0)?;
    let stepped: Vec<(
        Arc<crate::sys::nlsock::NlSocket>,
        Vec<crate::plan::StepPlan>,
    )> = receivers
        .iter()
        .zip(&plan.receivers)
        .map(|(r, p)| (r.socket(), p.steps.clone()))
        .collect();
    // Raised once the readers are done: a step due after the run has nothing to change.
    let steps_stop = Arc::new(AtomicBool::new(false));
    let stepper = if stepped.iter().any(|(_, s)| !s.is_empty()) {
        let (t0, stop) = (shared.t0, steps_stop.clone());
        Some(
            thread::Builder::new()
                .name("steps".into())
                .spawn(move || crate::steps::run(&stepped, t0, &stop))
                .map_err(io("start the steps thread"))?,
        )
    } else {
        None
    };
    let readers = spawn_each(
        receivers,
        |r| format!("recv-{}", r.setup().name),
        "start a reader thread",
        shared,
        move |r, sh| r.run(sh, sources),
    )?;
    // What each emitter sent, for the programs' stop rule (a thread's record is read
    // only once it is joined).
    let sent: Arc<Vec<std::sync::atomic::AtomicU64>> =
        Arc::new((0..sources).map(|_| Default::default()).collect());
    let counts = sent.clone();
    let senders = spawn_each(
        emitters,
        |_| "emit".into(),
        "start an emitter thread",
        shared,
        move |e, sh| {
            let i = usize::from(e.index());
            let rec = e.run(sh.t0, &sh.stop);
            if let Some(c) = counts.get(i) {
                c.store(rec.sent, Ordering::Release);
            }
            rec
        },
    )?;
    let watched: Vec<WatchedClient> = clients
        .iter()
        .map(|c| WatchedClient {
            state: c.state(),
            call_deadline: c.plan().call_deadline,
            name: c.plan().name.to_string(),
        })
        .collect();
    let churn_stop = Arc::new(AtomicBool::new(false));
    let churners = start_churn(plan, session, &churn_stop)?;
    let dumpers = spawn_each(
        clients,
        |c| format!("dump-{}", c.plan().name),
        "start a dump client thread",
        shared,
        |c, sh| c.run(sh.t0, &sh.stop),
    )?;

    let deadline_hit = watchdog::watch(
        Flock {
            readers: &readers,
            blocking: &blocking,
            senders: &senders,
            sent: &sent,
            dumpers: &dumpers,
            clients: &watched,
            programs: &mut programs,
        },
        shared,
        plan.deadline,
    );

    churn_stop.store(true, Ordering::Release);
    let dumps = dumpers
        .into_iter()
        .zip(&watched)
        .map(|(h, c)| watchdog::joined_or(h, || watchdog::abandoned_dump(c)))
        .collect();
    let churn = churners
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    let emitted = senders
        .into_iter()
        .zip(&plan.emitters)
        .map(|(h, e)| {
            watchdog::joined_or(h, || EmitterRecord {
                name: e.name.to_string(),
                kind: e.kind.name().into(),
                first_error: Some(ABANDONED.into()),
                cut_by_deadline: true,
                ..Default::default()
            })
        })
        .collect();
    let received = readers
        .into_iter()
        .zip(setups)
        .map(|(h, setup)| {
            if !h.is_finished() {
                let mut rec = ReceiverRecord::new(setup, sources);
                rec.error = Some(ABANDONED.into());
                rec.stopped_by_deadline = true;
                return Ok(rec);
            }
            // A reader's record is the run's measurement: one that panicked is an error,
            // not an empty record.
            h.join().map_err(|_| ExecError::Io {
                what: "join a reader thread".into(),
                source: std::io::Error::other("reader panicked"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut received = received;
    steps_stop.store(true, Ordering::Release);
    if let Some(records) = stepper.and_then(|h| h.join().ok()) {
        for (rec, steps) in received.iter_mut().zip(records) {
            rec.steps = steps;
        }
    }
    Ok(Flooded {
        programs: programs.into_iter().map(Running::finish).collect(),
        emitters: emitted,
        receivers: received,
        samples: sampler.finish(),
        deadline_hit,
        dumps,
        churn,
    })
}

/// One named thread per item, each running `run` on its item with the run's shared state.
fn spawn_each<T: Send + 'static, R: Send + 'static>(
    items: Vec<T>,
    name: impl Fn(&T) -> String,
    what: &str,
    shared: &Arc<Shared>,
    run: impl Fn(T, &Shared) -> R + Clone + Send + 'static,
) -> Result<Vec<JoinHandle<R>>, ExecError> {
    items
        .into_iter()
        .map(|item| {
            let (sh, run) = (shared.clone(), run.clone());
            thread::Builder::new()
                .name(name(&item))
                .spawn(move || run(item, &sh))
        })
        .collect::<Result<_, _>>()
        .map_err(io(what))
}

/// Starts every churn thread and waits for each one's first change (or
/// [`CHURN_START`]): a dump client that reads events is meant to run under churn, and on
/// a loaded machine a churn thread scheduled late would let a short client finish before
/// any event exists.
fn start_churn(
    plan: &Plan,
    session: &Session,
    stop: &Arc<AtomicBool>,
) -> Result<Vec<JoinHandle<ChurnRecord>>, ExecError> {
    let target = session.churn_target().map_err(io("prepare socket churn"))?;
    let mut churn_started = Vec::new();
    let churners = plan
        .churn
        .iter()
        .map(|c| {
            let (started, heard) = mpsc::sync_channel(1);
            churn_started.push(heard);
            let (c, stop, links, target) = (
                c.clone(),
                stop.clone(),
                session.world_links().to_vec(),
                target.as_ref().map(|t| t.try_clone()).transpose()?,
            );
            thread::Builder::new()
                .name("churn".into())
                .spawn(move || crate::churn::run(&c, &links, target.as_ref(), &stop, started))
        })
        .collect::<Result<_, _>>()
        .map_err(io("start a churn thread"))?;
    for heard in churn_started {
        // A churn thread that gave up hangs up instead; one that is slow to start is not
        // waited for past CHURN_START.
        let _ = heard.recv_timeout(CHURN_START);
    }
    Ok(churners)
}
