//! `nlstorm probe`: the kernel facts the model rests on, measured live in a sandbox.

use crate::untrusted::Name;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::calibrate::{self, Scale};
use crate::emit::Emitter;
use crate::exec::{device_name, ExecError};
use crate::history::SandboxInfo;
use crate::model::{AdmitRule, BufferFacts, Request};
use crate::payload::RunId;
use crate::plan::{EmitterKind, EmitterPlan, PayloadPlan, Protocol, Schedule};
use crate::sandbox;
use crate::sys::nlsock::{NlSocket, Received, SockOpt};

/// How one SO_RCVBUF request came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RcvbufMapping {
    /// `SO_RCVBUF` or `SO_RCVBUFFORCE`.
    pub option: crate::model::RcvbufOption,
    /// The C int handed to setsockopt (negative ones included: the kernel takes them).
    pub request: i64,
    /// getsockopt(SO_RCVBUF) afterwards (null if the kernel refused the option).
    pub effective: Option<u64>,
    /// What the model says.
    pub model: u64,
}

/// Payload lengths `from..=to` all cost `truesize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Smallest wire length in the bucket.
    pub from: usize,
    /// Largest wire length in the bucket.
    pub to: usize,
    /// Bytes charged per message.
    pub truesize: u64,
}

/// An unread queue flooded: how many messages it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityCase {
    /// Emitter kind.
    pub emitter: String,
    /// SO_RCVBUF request.
    pub rcvbuf_request: u64,
    /// Effective size.
    pub rcvbuf_effective: u64,
    /// Wire length of each message.
    pub payload: usize,
    /// Measured truesize.
    pub truesize: u64,
    /// Messages sent.
    pub sent: u64,
    /// Messages found in the queue.
    pub queued: u64,
    /// What each admission rule predicts, in [`AdmitRule::ALL`] order.
    pub models: Vec<(AdmitRule, u64)>,
}

/// Truesize buckets of one emitter kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmitterTruesize {
    /// Emitter kind.
    pub emitter: String,
    /// Smallest message this path makes.
    pub min_payload: usize,
    /// Buckets over the measured range.
    pub buckets: Vec<Bucket>,
}

/// Everything `probe` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// `uname -r`.
    pub kernel_release: String,
    /// Sandbox used.
    pub sandbox: SandboxInfo,
    /// SOCK_MIN_RCVBUF (measured), rmem_max, rmem_default.
    pub facts: BufferFacts,
    /// rmem_default and rmem_max measured by socket alone, as on kernels that hide the
    /// sysctls in a new network namespace: `[rmem_default, rmem_max]`.
    pub rmem_by_socket: [u64; 2],
    /// Requests and what they became.
    pub rcvbuf_mapping: Vec<RcvbufMapping>,
    /// Every plain request matched `max(2 * min(req, rmem_max), SOCK_MIN_RCVBUF)`.
    pub doubling_confirmed: bool,
    /// SO_RCVBUFFORCE was accepted.
    pub rcvbuf_force_permitted: bool,
    /// Truesize buckets per emitter kind.
    pub truesize: Vec<EmitterTruesize>,
    /// Capacity of unread queues.
    pub capacity: Vec<CapacityCase>,
    /// The admission rule that explains every capacity case (null if neither does).
    pub admit_rule: Option<AdmitRule>,
    /// With NETLINK_NO_ENOBUFS: drops counted and no ENOBUFS returned.
    pub no_enobufs_honoured: bool,
    /// Without it, after the same overrun: ENOBUFS returned.
    pub enobufs_reported_without_it: bool,
    /// Writing to a sandbox device's uevent file made the kernel broadcast.
    pub kernel_uevent_permitted: bool,
    /// How ENOBUFS is raised and cleared over congestion episodes.
    pub episodes: Episodes,
    /// Cost of one usersock broadcast nobody listens to, in ns: the mean of each of
    /// [`SEND_BATCHES`] batches of [`SEND_BATCH`] sends. A timing, so it varies.
    pub broadcast_ns: Vec<f64>,
}

/// The ENOBUFS semantics of af_netlink.c, measured on one socket overrun twice.
/// netlink_overrun() sets sk_err only when it first marks the socket congested, and
/// netlink_rcv_wake() clears the mark only once the queue is empty; a broadcast to a
/// congested socket is refused even where the queue has room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episodes {
    /// The first recvmsg after an overrun fails with ENOBUFS before any datagram.
    pub error_before_data: bool,
    /// ENOBUFS failures seen while draining one overrun queue to empty.
    pub errors_per_episode: u64,
    /// With the queue partly read (room for many), one more broadcast was refused:
    /// counted in sk_drops, not queued.
    pub refused_while_congested: bool,
    /// After the queue was read to empty, a second overrun raised ENOBUFS again.
    pub rearmed_after_empty: bool,
}

/// Batches timed for [`ProbeReport::broadcast_ns`].
pub const SEND_BATCHES: usize = 5;
/// Sends in each timed batch.
pub const SEND_BATCH: u32 = 2000;

fn io(what: &str) -> impl FnOnce(std::io::Error) -> ExecError + '_ {
    move |source| ExecError::Io {
        what: what.to_string(),
        source,
    }
}

/// Measures everything, inside a fresh sandbox. Call only from the single-threaded child.
pub fn probe() -> Result<ProbeReport, ExecError> {
    let sandbox = sandbox::enter(&[device_name(0)])?;
    let facts = calibrate::buffer_facts().map_err(io("read buffer limits"))?;
    let (d, m) = calibrate::rmem_by_socket().map_err(io("measure buffer limits by socket"))?;
    let (rcvbuf_mapping, doubling_confirmed, rcvbuf_force_permitted) =
        mappings(&facts).map_err(io("set receive buffers"))?;
    let run = RunId::random();
    let kinds = [
        EmitterKind::KernelUevent,
        EmitterKind::SyntheticUevent,
        EmitterKind::InjectedUevent,
        EmitterKind::LinkAlias,
        EmitterKind::Usersock { group: 5 },
    ];
    let mut truesize = Vec::new();
    let mut capacity = Vec::new();
    let mut kernel_uevent_permitted = false;
    for (i, kind) in kinds.into_iter().enumerate() {
        let max = probe_max(kind) as usize;
        let mut em = probe_emitter(i as u16, kind, max, &run)?;
        let (proto, group) = kind.destination();
        let mut scale = Scale::new(proto, group).map_err(io("open a calibration socket"))?;
        if kind.kernel_adds_keys() {
            match calibrate::kernel_overhead(&mut scale, &mut em) {
                Ok(()) => kernel_uevent_permitted |= kind == EmitterKind::KernelUevent,
                Err(_) => continue,
            }
        }
        let min = em.min_wire(0);
        let buckets = buckets(min, max, &mut |len| weigh(&mut scale, &mut em, len))
            .map_err(io("measure truesize"))?;
        for req in [0u64, 1024, 4096, 16384] {
            for payload in [min.max(64), min.max(700), 1500, 2048].map(|p| p.min(max)) {
                let ts = weigh(&mut scale, &mut em, payload).map_err(io("measure truesize"))?;
                capacity.push(
                    capacity_case(&mut em, proto, group, kind, req, payload, ts)
                        .map_err(io("flood an unread queue"))?,
                );
            }
        }
        truesize.push(EmitterTruesize {
            emitter: kind.name().into(),
            min_payload: min,
            buckets,
        });
    }
    let admit_rule = AdmitRule::ALL.into_iter().find(|r| {
        !capacity.is_empty()
            && capacity
                .iter()
                .all(|c| c.queued == r.capacity(c.rcvbuf_effective, c.truesize))
    });
    let (no_enobufs_honoured, enobufs_reported_without_it) = enobufs_behaviour(&mut probe_emitter(
        9,
        EmitterKind::Usersock { group: 6 },
        512,
        &run,
    )?)
    .map_err(io("overrun a queue"))?;
    let mut em = probe_emitter(10, EmitterKind::Usersock { group: 7 }, 4096, &run)?;
    let episodes = episodes(&mut em).map_err(io("overrun a queue twice"))?;
    let broadcast_ns = broadcast_cost(&mut em).map_err(io("time broadcasts"))?;
    Ok(ProbeReport {
        kernel_release: crate::sandbox::kernel_release(),
        sandbox,
        facts,
        rmem_by_socket: [d, m],
        rcvbuf_mapping,
        doubling_confirmed,
        rcvbuf_force_permitted,
        truesize,
        capacity,
        admit_rule,
        no_enobufs_honoured,
        enobufs_reported_without_it,
        kernel_uevent_permitted,
        episodes,
        broadcast_ns,
    })
}

/// The largest payload the probe weighs on `kind`'s path: its limit, but at most 64 KiB
/// (past it truesize only follows kmalloc's powers of two), and on the uevent paths a
/// margin below the limit. There the kernel's SEQNUM is part of the message, and the
/// emitter sizes what it writes by the SEQNUM of its calibration: a counter that gains a
/// digit mid-probe (a fresh guest passes 1000 during it) would push a message at the
/// limit one byte past it, and the kernel would refuse it. The margins are the ranges the
/// qualification profile's baselines were measured over.
fn probe_max(kind: EmitterKind) -> u64 {
    const PROBE_PAYLOAD_MAX: u64 = 64 << 10;
    match kind {
        EmitterKind::KernelUevent => crate::plan::limits::UEVENT_BUFFER_SIZE,
        EmitterKind::InjectedUevent => crate::plan::INJECTED_UEVENT_MAX - 27,
        other => other.payload_limits().1.min(PROBE_PAYLOAD_MAX),
    }
}

fn mappings(facts: &BufferFacts) -> std::io::Result<(Vec<RcvbufMapping>, bool, bool)> {
    let mut out = Vec::new();
    let rmem_max = facts.rmem_max as i64;
    // -1 and INT_MIN: the kernel compares SO_RCVBUF as unsigned, so they get rmem_max.
    let requests = [
        i64::from(i32::MIN),
        -1,
        0,
        1,
        512,
        1024,
        1152,
        1153,
        2048,
        4096,
        65536,
        rmem_max / 2,
        rmem_max,
        rmem_max + 1,
        rmem_max * 2,
    ];
    for r in requests.map(crate::model::as_c_int) {
        let s = NlSocket::open(Protocol::Usersock)?;
        s.set(SockOpt::Rcvbuf(r))?;
        out.push(RcvbufMapping {
            option: crate::model::RcvbufOption::SoRcvbuf,
            request: r.into(),
            effective: Some(s.rcvbuf()?),
            model: facts.effective(Request::Plain(r.into())),
        });
    }
    let doubling = out.iter().all(|m| m.effective == Some(m.model));
    // SO_RCVBUFFORCE skips rmem_max; a negative request becomes 0, then the floor.
    let mut forced = true;
    for r in [rmem_max * 2, -1].map(crate::model::as_c_int) {
        let s = NlSocket::open(Protocol::Usersock)?;
        let ok = s.set(SockOpt::RcvbufForce(r)).is_ok();
        forced &= ok;
        out.push(RcvbufMapping {
            option: crate::model::RcvbufOption::SoRcvbufForce,
            request: r.into(),
            effective: if ok { Some(s.rcvbuf()?) } else { None },
            model: facts.effective(Request::Force(r.into())),
        });
    }
    Ok((out, doubling, forced))
}

/// Exact truesize steps over `lo..=hi`: sample, then bisect every change to its edge.
fn buckets(
    lo: usize,
    hi: usize,
    weigh: &mut dyn FnMut(usize) -> std::io::Result<u64>,
) -> std::io::Result<Vec<Bucket>> {
    let mut edges = vec![(lo, weigh(lo)?)];
    let mut stack = vec![(lo, hi)];
    let mut known = std::collections::BTreeMap::new();
    known.insert(lo, edges[0].1);
    while let Some((a, b)) = stack.pop() {
        let ta = *known.get(&a).expect("measured");
        let tb = match known.get(&b) {
            Some(&t) => t,
            None => {
                let t = weigh(b)?;
                known.insert(b, t);
                t
            }
        };
        if ta == tb || b <= a + 1 {
            continue;
        }
        let m = a + (b - a) / 2;
        let tm = weigh(m)?;
        known.insert(m, tm);
        stack.push((m, b));
        stack.push((a, m));
    }
    edges.clear();
    for (&len, &t) in &known {
        match edges.last_mut() {
            Some((_, last)) if *last == t => {}
            _ => edges.push((len, t)),
        }
    }
    Ok(edges
        .iter()
        .enumerate()
        .map(|(i, &(from, truesize))| Bucket {
            from,
            to: edges.get(i + 1).map_or(hi, |e| e.0 - 1),
            truesize,
        })
        .collect())
}

fn weigh(scale: &mut Scale, em: &mut Emitter, len: usize) -> std::io::Result<u64> {
    scale.weigh(|| em.send_probe(0, Some(len))).map(|(_, t)| t)
}

fn capacity_case(
    em: &mut Emitter,
    proto: Protocol,
    group: u32,
    kind: EmitterKind,
    req: u64,
    payload: usize,
    ts: u64,
) -> std::io::Result<CapacityCase> {
    let s = NlSocket::open(proto)?;
    s.set(SockOpt::Rcvbuf(crate::model::as_c_int(req as i64)))?;
    s.set(SockOpt::NoEnobufs(true))?;
    s.bind(&[group])?;
    let eff = s.rcvbuf()?;
    let models: Vec<(AdmitRule, u64)> = AdmitRule::ALL
        .iter()
        .map(|r| (*r, r.capacity(eff, ts)))
        .collect();
    let sent = models.iter().map(|m| m.1).max().unwrap_or(1) * 2 + 4;
    for _ in 0..sent {
        em.send_probe(0, Some(payload))?;
    }
    let mut buf = vec![0u8; 70_000];
    let mut queued = 0;
    while let Received::Datagram { .. } = s.recv(&mut buf, libc::MSG_DONTWAIT) {
        queued += 1;
    }
    Ok(CapacityCase {
        emitter: kind.name().into(),
        rcvbuf_request: req,
        rcvbuf_effective: eff,
        payload,
        truesize: ts,
        sent,
        queued,
        models,
    })
}

/// An emitter outside any scenario, for sending calibration messages of up to `max` bytes.
fn probe_emitter(
    index: u16,
    kind: EmitterKind,
    max: usize,
    run: &RunId,
) -> Result<Emitter, ExecError> {
    let plan = EmitterPlan {
        name: Name::internal(kind.name()),
        kind,
        schedule: Schedule::Flood {
            count: None,
            duration: Some(Duration::from_secs(1)),
        },
        payload: PayloadPlan::Fixed { bytes: max as u32 },
        start: Duration::ZERO,
        cpu: None,
    };
    let dev = device_name(0);
    Emitter::new(
        index,
        &plan,
        run,
        0,
        kind.needs_device().then_some(dev.as_str()),
    )
    .map_err(io("set up an emitter"))
}

/// Overruns two tiny queues, one with NETLINK_NO_ENOBUFS, and reads both out.
fn enobufs_behaviour(em: &mut Emitter) -> std::io::Result<(bool, bool)> {
    let open = |no_enobufs: bool| -> std::io::Result<NlSocket> {
        let s = NlSocket::open(Protocol::Usersock)?;
        s.set(SockOpt::Rcvbuf(0))?;
        s.set(SockOpt::NoEnobufs(no_enobufs))?;
        s.bind(&[6])?;
        Ok(s)
    };
    let quiet = open(true)?;
    let loud = open(false)?;
    for _ in 0..32 {
        em.send_probe(0, Some(512))?;
    }
    let errors = |s: &NlSocket| {
        let mut buf = vec![0u8; 4096];
        let mut n = 0;
        for _ in 0..1000 {
            match s.recv(&mut buf, libc::MSG_DONTWAIT) {
                Received::Errno(libc::ENOBUFS) => n += 1,
                Received::Errno(_) => break,
                Received::Datagram { .. } => {}
            }
        }
        n
    };
    let quiet_drops = quiet.meminfo()?.drops;
    Ok((errors(&quiet) == 0 && quiet_drops > 0, errors(&loud) > 0))
}

/// Reads `s` until it would block: (datagrams, ENOBUFS failures, was the first call one).
fn drain(s: &NlSocket, limit: Option<u64>) -> (u64, u64, bool) {
    let mut buf = vec![0u8; 8192];
    let (mut data, mut errors, mut first_error) = (0, 0, false);
    for call in 0.. {
        if limit.is_some_and(|l| data >= l) {
            break;
        }
        match s.recv(&mut buf, libc::MSG_DONTWAIT) {
            Received::Datagram { .. } => data += 1,
            Received::Errno(libc::ENOBUFS) => {
                errors += 1;
                first_error |= call == 0;
            }
            Received::Errno(_) => break,
        }
    }
    (data, errors, first_error)
}

/// One socket of 32 KiB overrun by 512-byte broadcasts, read four messages from, sent
/// one more, read to empty, and overrun again.
fn episodes(em: &mut Emitter) -> std::io::Result<Episodes> {
    let s = NlSocket::open(Protocol::Usersock)?;
    s.set(SockOpt::Rcvbuf(16384))?;
    s.bind(&[7])?;
    let flood = |em: &mut Emitter| -> std::io::Result<()> {
        for _ in 0..400 {
            em.send_probe(0, Some(512))?;
        }
        Ok(())
    };
    flood(em)?;
    let (_, early_errors, error_before_data) = drain(&s, Some(4));
    let before = s.meminfo()?.drops;
    em.send_probe(0, Some(512))?;
    let refused_while_congested = s.meminfo()?.drops == before + 1;
    let (_, late_errors, _) = drain(&s, None);
    flood(em)?;
    let (_, second, _) = drain(&s, None);
    Ok(Episodes {
        error_before_data,
        errors_per_episode: early_errors + late_errors,
        refused_while_congested,
        rearmed_after_empty: second > 0,
    })
}

/// Mean cost of one broadcast to a group nobody has joined, per batch.
fn broadcast_cost(em: &mut Emitter) -> std::io::Result<Vec<f64>> {
    (0..SEND_BATCHES)
        .map(|_| {
            let t = std::time::Instant::now();
            for _ in 0..SEND_BATCH {
                em.send_probe(0, Some(512))?;
            }
            Ok(t.elapsed().as_nanos() as f64 / f64::from(SEND_BATCH))
        })
        .collect()
}
