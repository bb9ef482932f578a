//! A sandbox entered once, and the execution of one plan in it: set up emitters,
//! receivers, dump clients and programs, predict each receiver's capacity, flood, and
//! put the records together into the run's [`History`].

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{io, ExecError};
use super::flood::{flood, flood_unread, floods_unread};
use super::predict::model_receivers;
use crate::calibrate;
use crate::dump::DumpClient;
use crate::emit::Emitter;
use crate::history::{History, ReceiverHistory, Series};
use crate::model::{AdmitRule, BufferFacts};
use crate::payload::RunId;
use crate::plan::{Plan, World};
use crate::receive::{Receiver, Shared};
use crate::sandbox;

/// How far ahead of the first send the readers are started.
const LEAD: Duration = Duration::from_millis(5);

pub use crate::plan::limits::device_name;

/// The bare emitters feeding receiver `r`, whose messages it counts by origin.
fn claims(plan: &Plan, r: &crate::plan::ReceiverPlan) -> crate::payload::Claims {
    let mut c = crate::payload::Claims::default();
    for i in plan.feeders(r) {
        let e = &plan.emitters[i];
        if let crate::plan::PayloadPlan::Bare { .. } = e.payload {
            match e.kind {
                crate::plan::EmitterKind::KernelUevent => c.bare_uevents.push(i as u16),
                crate::plan::EmitterKind::Usersock { .. } => c.bare_usersock.push(i as u16),
                _ => {}
            }
        }
    }
    c
}

/// Refuses a plan that pins a thread to a CPU this run may not use, naming the ones it
/// may, before anything is sent.
fn cpus_exist(plan: &Plan) -> Result<(), ExecError> {
    let pinned = plan
        .emitters
        .iter()
        .map(|e| ("emitter", &e.name, e.cpu))
        .chain(plan.receivers.iter().map(|r| ("receiver", &r.name, r.cpu)));
    let mut allowed = None;
    for (what, name, cpu) in pinned {
        let Some(cpu) = cpu else { continue };
        if allowed.is_none() {
            allowed = Some(crate::sys::allowed_cpus().map_err(io("read this run's CPUs"))?);
        }
        let cpus = allowed.as_deref().unwrap_or_default();
        if !cpus.contains(&cpu) {
            return Err(ExecError::MachineLacks(format!(
                "{what} `{name}`: cpu {cpu} is not one this run may use (allowed: {})",
                crate::sys::cpu_list(cpus)
            )));
        }
    }
    Ok(())
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
        cpus_exist(plan)?;
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
                let sources: Vec<u16> = plan.filter_at_open(r).iter().map(|&i| i as u16).collect();
                Receiver::open(r, req, &sources, claims(plan, r))
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
        // Programs that print SEQNUM are judged through the kernel's own numbering,
        // read by a reference socket bound before the first send.
        let seqnums = if plan.programs.iter().any(|p| p.output.by_seqnum()) {
            Some(
                super::seqnums::start(run, run.uuid())
                    .map_err(io("open the SEQNUM reference socket"))?,
            )
        } else {
            None
        };
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
            seqnums: seqnums.map(super::seqnums::SeqnumReader::finish),
        })
    }
}

impl Session {
    /// The world's veths, which link churn toggles.
    pub(super) fn world_links(&self) -> &[String] {
        &self.world_links
    }

    /// What socket churn connects to: the world's listener, nonblocking.
    pub(super) fn churn_target(&self) -> std::io::Result<Option<crate::churn::Target>> {
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
