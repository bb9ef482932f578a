//! Executes a [`Plan`] inside a fresh sandbox and returns its [`History`]. Runs in the
//! re-exec'd child process: [`execute`] must be its first act, while single-threaded.

use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use crate::calibrate::{self, Calibrator, Scale};
use crate::dump::{ClientState, DumpClient};
use crate::emit::Emitter;
use crate::errors::Kind;
use crate::history::ChurnRecord;
use crate::history::{Charge, History, ReceiverHistory, Series, TruesizePoint};
use crate::history::{DumpRecord, EmitterRecord};
use crate::model::{AdmitRule, BufferFacts, Request};
use crate::payload::RunId;
use crate::plan::{
    EmitterKind, EmitterPlan, PayloadPlan, Plan, RcvbufPlan, ReadMode, ReadStart, World,
};
use crate::receive::{Receiver, ReceiverError, Shared};
use crate::sandbox::{self, SandboxError};
use crate::schedule::SendTimes;

/// Why a run could not be carried out. Losses and ENOBUFS are never errors.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Building the sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A receiver could not be set up.
    #[error(transparent)]
    Receiver(#[from] ReceiverError),
    /// The scenario asks for something this kernel cannot do (e.g. a payload smaller
    /// than the kernel's own uevent header).
    #[error("{0}")]
    Unsupported(String),
    /// The sandbox process failed the plan; `code` is the exit code it gave.
    #[error("{message}")]
    Child {
        /// Exit code (see `exit.rs`).
        code: i32,
        /// What went wrong, as the child said it.
        message: String,
    },
    /// A program under test could not be run.
    #[error(transparent)]
    Program(#[from] crate::program::ProgramError),
    /// Anything else the harness failed at.
    #[error("failed to {what}")]
    Io {
        /// The step.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl ExecError {
    /// What the user does about this error.
    pub fn kind(&self) -> Kind {
        match self {
            ExecError::Sandbox(e) if e.is_environment() => Kind::Environment,
            ExecError::Receiver(e) if e.is_permission() => Kind::Environment,
            ExecError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Kind::Environment
            }
            ExecError::Unsupported(_) => Kind::BadInput,
            ExecError::Program(e) => e.kind(),
            ExecError::Child { code, .. } => Kind::from_exit_code(*code),
            _ => Kind::Harness,
        }
    }

    /// The documented exit code for this error.
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExecError {
    let what = what.into();
    move |source| ExecError::Io { what, source }
}

/// How far ahead of the first send the readers are started.
const LEAD: Duration = Duration::from_millis(5);

/// Device name of the veth made for kernel-uevent emitter `i`.
pub fn device_name(i: usize) -> String {
    format!("nls{i}")
}

/// A sandbox entered once, with the kernel facts every run in it shares: search
/// commands run hundreds of plans in one session instead of paying for a namespace,
/// veth pairs and a rule fit per trial.
#[derive(Debug)]
pub struct Session {
    sandbox: crate::history::SandboxInfo,
    /// The world's listener and established connections, kept open for the session.
    tcp: Option<(std::net::TcpListener, Vec<std::net::TcpStream>)>,
    /// The world's veths (link churn toggles them).
    world_links: Vec<String>,
    facts: BufferFacts,
    rule: AdmitRule,
    kernel_release: String,
}

impl Session {
    /// Enters a new sandbox with a veth for each name in `devices` and measures the
    /// buffer facts and the admission rule. Call only from a single-threaded process.
    pub fn enter(devices: &[String], world: &World) -> Result<Self, ExecError> {
        let world_links: Vec<String> = (0..world.veths).map(|i| format!("nlw{i}")).collect();
        let all: Vec<String> = devices.iter().chain(&world_links).cloned().collect();
        let sandbox = sandbox::enter(&all)?;
        let tcp = (world.tcp_connections > 0)
            .then(|| tcp_world(world.tcp_connections))
            .transpose()
            .map_err(io("open the sandbox's loopback TCP connections"))?;
        let facts = calibrate::buffer_facts().map_err(io("read the kernel's buffer limits"))?;
        let (fitted, cases) =
            calibrate::fit_admit_rule().map_err(io("fit the queue admission rule"))?;
        let rule = fitted.ok_or_else(|| ExecError::Io {
            what: "fit the queue admission rule".into(),
            source: std::io::Error::other(format!(
                "no known rule explains the floods measured (rcvbuf, truesize, queued): {cases:?}"
            )),
        })?;
        Ok(Self {
            sandbox,
            tcp,
            world_links,
            facts,
            rule,
            kernel_release: crate::sandbox::kernel_release(),
        })
    }

    /// `uname -r`, read on entry.
    pub fn kernel_release(&self) -> &str {
        &self.kernel_release
    }

    /// The kernel's buffer limits, measured on entry.
    pub fn facts(&self) -> &BufferFacts {
        &self.facts
    }

    /// The admission rule fitted on entry.
    pub fn rule(&self) -> AdmitRule {
        self.rule
    }

    /// Runs `plan`. Its kernel-uevent emitters need the devices this session was
    /// entered with ([`devices_for`]).
    pub fn execute(&self, plan: &Plan) -> Result<History, ExecError> {
        let run = RunId::random();
        let mut emitters = Vec::new();
        for (i, e) in plan.emitters.iter().enumerate() {
            let dev = e.kind.needs_device().then(|| device_name(i));
            let em = Emitter::new(i as u16, e, &run, plan.seed, dev.as_deref())
                .map_err(io(format!("set up emitter `{}`", e.name)))?;
            emitters.push(em);
        }
        let (charges, requests, calibration) =
            model_receivers(plan, &self.facts, self.rule, &mut emitters)?;

        let receivers = plan
            .receivers
            .iter()
            .zip(&requests)
            .map(|(r, &req)| {
                let sources: Vec<u16> = plan.filtered(r).iter().map(|&i| i as u16).collect();
                Receiver::open(r, req, &sources)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let clients = plan
            .dumps
            .iter()
            .map(|d| DumpClient::open(d).map_err(io(format!("set up dump client `{}`", d.name))))
            .collect::<Result<Vec<_>, _>>()?;
        let unread = floods_unread(plan);
        // Programs start once nlstorm's own sockets are set up and calibrated (its
        // calibration messages would reach them), and emission waits until they listen.
        let mut programs = Vec::new();
        for p in &plan.programs {
            std::thread::sleep(p.start);
            let mut running = crate::program::start(p, &run.uuid())?;
            running.wait_ready()?;
            programs.push(running);
        }
        // Threads need a head start; a flood on this thread does not.
        let lead = if unread { Duration::ZERO } else { LEAD };
        let shared = Arc::new(Shared {
            t0: Instant::now() + lead,
            emission_done: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            uuid: run.uuid(),
            run,
        });
        for p in &mut programs {
            p.started_emission(shared.t0);
        }
        let flooded = if unread {
            flood_unread(plan, emitters, receivers, &shared)
        } else {
            flood(plan, emitters, receivers, clients, programs, &shared, self)?
        };
        let elapsed_ns = Instant::now()
            .saturating_duration_since(shared.t0)
            .as_nanos() as u64;

        Ok(History {
            run_id: run.uuid(),
            kernel_release: self.kernel_release.clone(),
            facts: self.facts,
            admit_rule: self.rule,
            sandbox: self.sandbox.clone(),
            deadline_hit: flooded.deadline_hit,
            elapsed_ns,
            emitters: flooded.emitters,
            receivers: flooded
                .receivers
                .into_iter()
                .zip(charges)
                .zip(
                    flooded
                        .samples
                        .into_iter()
                        .chain(std::iter::repeat_with(Series::default)),
                )
                .map(|((record, charges), samples)| ReceiverHistory {
                    record,
                    charges,
                    prediction: None,
                    samples,
                })
                .collect(),
            calibration,
            dumps: flooded.dumps,
            churn: flooded.churn,
            programs: flooded.programs,
        })
    }
}

impl Session {
    /// What socket churn connects to: the world's listener, nonblocking.
    fn churn_target(&self) -> std::io::Result<Option<crate::churn::Target>> {
        let Some((listener, _)) = &self.tcp else {
            return Ok(None);
        };
        let l = listener.try_clone()?;
        l.set_nonblocking(true)?;
        Ok(Some(crate::churn::Target {
            addr: l.local_addr()?,
            listener: l,
        }))
    }
}

/// The veth names a plan's kernel-uevent and link-alias emitters work through.
pub fn devices_for(plan: &Plan) -> Vec<String> {
    plan.emitters
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind.needs_device())
        .map(|(i, _)| device_name(i))
        .collect()
}

/// Runs `plan` in a new sandbox. Call only from a single-threaded process.
pub fn execute(plan: &Plan) -> Result<History, ExecError> {
    Session::enter(&devices_for(plan), &plan.world)?.execute(plan)
}

/// A listener on 127.0.0.1 and `n` established connections to it (both ends kept).
fn tcp_world(n: u32) -> std::io::Result<(std::net::TcpListener, Vec<std::net::TcpStream>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut conns = Vec::new();
    for _ in 0..n {
        conns.push(std::net::TcpStream::connect(addr)?);
        conns.push(listener.accept()?.0);
    }
    Ok((listener, conns))
}

type Modelled = (Vec<Vec<Charge>>, Vec<Request>, Vec<TruesizePoint>);

/// Calibrates the emitters and predicts each receiver's capacity; resolves `rcvbuf-fit`.
fn model_receivers(
    plan: &Plan,
    facts: &BufferFacts,
    rule: AdmitRule,
    emitters: &mut [Emitter],
) -> Result<Modelled, ExecError> {
    let mut scales = Vec::new();
    for (e, em) in plan.emitters.iter().zip(emitters.iter_mut()) {
        let (proto, group) = e.kind.destination();
        let mut scale = Scale::new(proto, group).map_err(io("open a calibration socket"))?;
        if e.kind.kernel_adds_keys() {
            kernel_payload_fits(e, em, &mut scale)?;
        }
        scales.push(scale);
    }
    let mut cal = Calibrator::new(scales);
    let mut preds = Vec::new();
    let mut requests = Vec::new();
    for rp in &plan.receivers {
        let req = match rp.rcvbuf {
            RcvbufPlan::FitBurst { emitter } => {
                let burst =
                    SendTimes::first_burst(&plan.emitters[emitter].schedule).unwrap_or(1) as usize;
                let need = rule.rcvbuf_for(
                    &cal.truesizes(&mut emitters[emitter], burst)
                        .map_err(io("measure a message's truesize"))?,
                );
                Request::Plain(facts.request_for(need).ok_or_else(|| {
                    ExecError::Unsupported(format!(
                        "receiver `{}`: a burst of {burst} needs an effective rcvbuf of {need} B, above 2 x net.core.rmem_max ({}); use rcvbuf-force",
                        rp.name,
                        2 * facts.rmem_max
                    ))
                })?)
            }
            ref fixed => Request::of(fixed).expect("only rcvbuf-fit needs resolving"),
        };
        let rcvbuf = facts.effective(req);
        let limit = crate::model::overflow_bound(rcvbuf) as usize;
        let feeders = plan.feeders(rp);
        let mut ts = Vec::new();
        for &i in &feeders {
            let room = limit.saturating_sub(ts.len());
            let n = SendTimes::planned_count(&plan.emitters[i].schedule)
                .map_or(room, |c| (c as usize).min(room));
            ts.extend(
                cal.truesizes(&mut emitters[i], n)
                    .map_err(io("measure a message's truesize"))?,
            );
        }
        preds.push(crate::history::charges(ts));
        requests.push(req);
    }
    let points = cal
        .points()
        .map(|(e, variant, wire_len, truesize)| TruesizePoint {
            emitter: plan.emitters[usize::from(e)].name.to_string(),
            variant,
            wire_len,
            truesize,
        })
        .collect();
    Ok((preds, requests, points))
}

/// Measures what the kernel adds around a sysfs-written uevent and refuses payloads the
/// kernel cannot make that small.
fn kernel_payload_fits(
    e: &EmitterPlan,
    em: &mut Emitter,
    scale: &mut Scale,
) -> Result<(), ExecError> {
    let dev = device_name(usize::from(em.index()));
    calibrate::kernel_overhead(scale, em).map_err(|err| match e.kind {
        EmitterKind::InjectedUevent => io(format!(
            "inject a uevent for `{}` through the namespace's kernel uevent socket",
            e.name
        ))(err),
        _ => io(format!(
            "write a uevent for `{}` (is /sys/class/net/{dev}/uevent writable?)",
            e.name
        ))(err),
    })?;
    let smallest = (0..em.variants())
        .map(|v| em.min_wire(v))
        .max()
        .unwrap_or(0);
    let want = match e.payload {
        PayloadPlan::Fixed { bytes } => Some(bytes),
        PayloadPlan::Uniform { min, .. } => Some(min),
        PayloadPlan::Contents { .. } | PayloadPlan::Trace { .. } => None,
    };
    match want.filter(|&w| (w as usize) < smallest) {
        Some(w) => Err(ExecError::Unsupported(format!(
            "emitter `{}`: payload {w} B is below the smallest uevent the kernel makes on this path ({smallest} B now: the kernel adds SEQNUM=<its global counter>, so the figure grows by one byte each time that counter gains a digit): raise `payload`",
            e.name
        ))),
        None => Ok(()),
    }
}

/// What the flood phase produced.
struct Flooded {
    emitters: Vec<EmitterRecord>,
    receivers: Vec<crate::history::ReceiverRecord>,
    samples: Vec<Series>,
    deadline_hit: bool,
    dumps: Vec<DumpRecord>,
    churn: Vec<ChurnRecord>,
    programs: Vec<crate::history::ProgramRecord>,
}

/// How long after the deadline a thread still in a call is waited for before it is
/// abandoned (and dies with the sandbox process).
const ABANDON_AFTER: Duration = Duration::from_secs(2);

/// How long dump clients wait for churn's first change. A change takes microseconds; this
/// only bounds a churn thread that is starved, not one that works.
const CHURN_START: Duration = Duration::from_secs(2);

/// True when no receiver reads before emission ends and one emitter sends: then the
/// flood can run on this thread, send by send, and the readers drain afterwards, with the
/// same outcome as the threaded run and none of its start-up cost (a capacity trial
/// takes well under a millisecond this way).
fn floods_unread(plan: &Plan) -> bool {
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
fn flood_unread(
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

/// How often the queue of each receiver is recorded into its [`Series`].
const SERIES_INTERVAL: Duration = Duration::from_millis(5);

/// Starts readers, a sampler and the emitters; enforces the deadline; collects records.
fn flood(
    plan: &Plan,
    emitters: Vec<Emitter>,
    receivers: Vec<Receiver>,
    clients: Vec<DumpClient>,
    mut programs: Vec<crate::program::Running>,
    shared: &Arc<Shared>,
    session: &Session,
) -> Result<Flooded, ExecError> {
    let sources = plan.emitters.len();
    let handles: Vec<_> = receivers.iter().map(Receiver::sampler_handle).collect();
    let setups: Vec<_> = receivers.iter().map(|r| r.setup().clone()).collect();
    let blocking: Vec<bool> = plan
        .receivers
        .iter()
        .map(|r| r.mode == ReadMode::Blocking)
        .collect();
    let readers: Vec<_> = receivers
        .into_iter()
        .map(|r| {
            let sh = shared.clone();
            thread::Builder::new()
                .name(format!("recv-{}", r.setup().name))
                .spawn(move || r.run(&sh, sources))
        })
        .collect::<Result<_, _>>()
        .map_err(io("start a reader thread"))?;
    let sampler_stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = sampler_stop.clone();
        let t0 = shared.t0;
        thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                let mut series =
                    vec![Series::new(SERIES_INTERVAL.as_nanos() as u64); handles.len()];
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now().saturating_duration_since(t0).as_nanos() as u64;
                    for ((sock, max), s) in handles.iter().zip(&mut series) {
                        if let Ok(m) = sock.meminfo() {
                            max.fetch_max(m.rmem_alloc, Ordering::Relaxed);
                            s.offer(t, m.rmem_alloc, m.drops);
                        }
                    }
                    thread::sleep(Duration::from_micros(500));
                }
                series
            })
            .map_err(io("start the sampler thread"))?
    };
    let senders: Vec<_> = emitters
        .into_iter()
        .map(|e| {
            let sh = shared.clone();
            thread::Builder::new()
                .name("emit".into())
                .spawn(move || e.run(sh.t0, &sh.stop))
        })
        .collect::<Result<_, _>>()
        .map_err(io("start an emitter thread"))?;

    let watched: Vec<(Arc<ClientState>, Duration, String)> = clients
        .iter()
        .map(|c| (c.state(), c.plan().call_deadline, c.plan().name.to_string()))
        .collect();
    let churn_stop = Arc::new(AtomicBool::new(false));
    let target = session.churn_target().map_err(io("prepare socket churn"))?;
    // Churn starts first and the dump clients wait for its first change: a dump client
    // that reads events is meant to run under churn, and on a loaded machine a churn
    // thread scheduled late would let a short client finish before any event exists.
    let mut churn_started = Vec::new();
    let churners: Vec<_> = plan
        .churn
        .iter()
        .map(|c| {
            let (started, heard) = mpsc::sync_channel(1);
            churn_started.push(heard);
            let (c, stop, links, target) = (
                c.clone(),
                churn_stop.clone(),
                session.world_links.clone(),
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
    let dumpers: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let sh = shared.clone();
            thread::Builder::new()
                .name(format!("dump-{}", c.plan().name))
                .spawn(move || c.run(sh.t0, &sh.stop))
        })
        .collect::<Result<_, _>>()
        .map_err(io("start a dump client thread"))?;

    let deadline = shared.t0 + plan.deadline;
    let mut deadline_hit = false;
    let mut emission_end = None;
    let poke = |finished: &dyn Fn(usize) -> bool| {
        // Wake blocked readers so they notice the end of emission or the deadline.
        for (i, h) in readers.iter().enumerate() {
            if blocking[i] && !finished(i) {
                wake(h.as_pthread_t());
            }
        }
    };
    loop {
        let emitting = senders.iter().any(|s| !s.is_finished());
        if !emitting {
            shared.emission_done.store(true, Ordering::Release);
            emission_end.get_or_insert_with(Instant::now);
        }
        let dumping = dumpers.iter().any(|d| !d.is_finished());
        // Every program takes its step of the stop sequence, even once one has ended.
        let programs_done = programs
            .iter_mut()
            .fold(true, |all, p| p.step(emission_end, deadline_hit) & all);
        if readers.iter().all(|r| r.is_finished()) && !emitting && !dumping && programs_done {
            break;
        }
        for ((st, call_deadline, _), h) in watched.iter().zip(&dumpers) {
            if crate::dump::watch(st, *call_deadline, shared.t0) == crate::dump::Action::Interrupt
                && !h.is_finished()
            {
                wake(h.as_pthread_t());
            }
        }
        let now = Instant::now();
        if now >= deadline && !deadline_hit {
            deadline_hit = true;
            shared.stop.store(true, Ordering::Release);
        }
        if !emitting || deadline_hit {
            poke(&|i| readers[i].is_finished());
        }
        if deadline_hit {
            // Interrupt whatever is blocked in a system call so it sees the stop.
            let blocked = dumpers
                .iter()
                .filter(|h| !h.is_finished())
                .map(|h| h.as_pthread_t())
                .chain(
                    senders
                        .iter()
                        .filter(|h| !h.is_finished())
                        .map(|h| h.as_pthread_t()),
                );
            for t in blocked {
                wake(t);
            }
            if now >= deadline + ABANDON_AFTER {
                break;
            }
        }
        thread::sleep(Duration::from_millis(2));
    }
    churn_stop.store(true, Ordering::Release);
    let dumps = dumpers
        .into_iter()
        .zip(&watched)
        .map(|(h, (st, _, name))| {
            if h.is_finished() {
                h.join().unwrap_or_default()
            } else {
                // Still blocked past every deadline: leave it to die with the process.
                DumpRecord {
                    name: name.clone(),
                    error: Some(
                        "still inside a receive call 2 s after the run's deadline; abandoned"
                            .into(),
                    ),
                    hangs: st.hangs.lock().map(|h| h.clone()).unwrap_or_default(),
                    ..Default::default()
                }
            }
        })
        .collect();
    let churn = churners
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    // Whatever is still inside a system call now is abandoned: it dies with the sandbox
    // process, and its record says so instead of the run waiting for it.
    const ABANDONED: &str = "still inside a system call 2 s after the run's deadline; abandoned";
    let emitted = senders
        .into_iter()
        .zip(&plan.emitters)
        .map(|(s, e)| {
            if s.is_finished() {
                s.join().unwrap_or_default()
            } else {
                EmitterRecord {
                    name: e.name.to_string(),
                    kind: e.kind.name().into(),
                    first_error: Some(ABANDONED.into()),
                    cut_by_deadline: true,
                    ..Default::default()
                }
            }
        })
        .collect();
    let received = readers
        .into_iter()
        .zip(setups)
        .map(|(r, setup)| {
            if r.is_finished() {
                r.join().map_err(|_| ExecError::Io {
                    what: "join a reader thread".into(),
                    source: std::io::Error::other("reader panicked"),
                })
            } else {
                let mut rec = crate::history::ReceiverRecord::new(setup, sources);
                rec.error = Some(ABANDONED.into());
                rec.stopped_by_deadline = true;
                Ok(rec)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    sampler_stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap_or_default();
    let programs = programs
        .into_iter()
        .map(crate::program::Running::finish)
        .collect();
    Ok(Flooded {
        programs,
        emitters: emitted,
        receivers: received,
        samples,
        deadline_hit,
        dumps,
        churn,
    })
}

/// Installs a do-nothing SIGUSR1 handler without SA_RESTART, so the wake-up signal makes
/// a blocked recvmsg return EINTR instead of killing the process.
pub fn install_wakeup_handler() {
    extern "C" fn noop(_: libc::c_int) {}
    // SAFETY: the handler does nothing, so it is async-signal-safe, and the sigaction
    // struct is zeroed and then filled before the call reads it.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = noop as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// Interrupts a thread of this run blocked in a system call (SIGUSR1 has a handler that
/// does nothing, so the call returns EINTR and the thread sees why it was woken).
fn wake(thread: libc::pthread_t) {
    let _ = nix::sys::pthread::pthread_kill(thread, nix::sys::signal::SIGUSR1);
}
