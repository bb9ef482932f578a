//! nlstorm's hot paths against bare loops on the same kernel and socket setup, and the
//! search commands' cost per cell. Runs inside its own network namespace (entered before
//! criterion starts a thread), so nothing reaches the host's netlink listeners.
//!
//! Targets (README, "Performance"): emitter at least 95 % of a bare sendto loop, receive
//! loop at least 95 % of a bare recv loop, a no-reader threshold search within 20 ms, a
//! 100-cell no-reader sweep within 5 s.

use std::hint::black_box;
use std::mem::{size_of, zeroed};
use std::num::NonZeroU64;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

use nlstorm::emit::Emitter;
use nlstorm::exec::Session;
use nlstorm::model::Request;
use nlstorm::payload::RunId;
use nlstorm::plan::{
    EmitterKind, EmitterPlan, PayloadPlan, Protocol, RcvbufPlan, ReadMode, ReceiverPlan, Schedule,
};
use nlstorm::receive::{Receiver, Shared};
use nlstorm::search::axis::{parse_axis, Param};
use nlstorm::search::case::Fixed;
use nlstorm::search::sweep::{run_cells, SweepSpec};
use nlstorm::search::threshold::{threshold, Find, ThresholdJob};
use nlstorm::sys::nlsock::{group_mask, NlSocket, Received, SockOpt};

const GROUP: u32 = 7;
const PAYLOAD: u32 = 64;

fn flood_plan(count: u64) -> EmitterPlan {
    EmitterPlan {
        name: nlstorm::plan::Name::internal("bench"),
        kind: EmitterKind::Usersock { group: GROUP },
        schedule: Schedule::Flood {
            count: NonZeroU64::new(count.max(1)),
            duration: None,
        },
        payload: PayloadPlan::Fixed { bytes: PAYLOAD },
        start: Duration::ZERO,
        cpu: None,
    }
}

/// An unread listener, so both loops pay for the same delivery (and, once it is full,
/// the same drop).
fn listener() -> NlSocket {
    let s = NlSocket::open(Protocol::Usersock).expect("socket");
    s.bind(&[GROUP]).expect("bind");
    s
}

/// `iters` sendto(2) calls on a fresh socket with the emitter sink's setup (bound,
/// SO_SNDBUF raised), so both sides pay the same cold start.
fn bare_sendto(iters: u64) -> Duration {
    let msg = vec![0x5au8; PAYLOAD as usize];
    let mut sa: libc::sockaddr_nl = unsafe { zeroed() };
    sa.nl_family = libc::AF_NETLINK as u16;
    sa.nl_groups = group_mask(&[GROUP]);
    let s = NlSocket::open(Protocol::Usersock).expect("socket");
    s.bind(&[]).expect("bind");
    let _ = s.set(SockOpt::SndbufForce(256 * 1024));
    let t0 = Instant::now();
    for _ in 0..iters {
        black_box(unsafe {
            libc::sendto(
                s.raw(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        });
    }
    t0.elapsed()
}

/// `iters` sends by nlstorm's emitter (a flood schedule), timed by the emitter itself.
fn nlstorm_emitter(run: &RunId, iters: u64) -> Duration {
    let e = Emitter::new(0, &flood_plan(iters), run, 1, None).expect("emitter");
    let rec = e.run(Instant::now(), &AtomicBool::new(false));
    assert_eq!(rec.sent, iters, "{rec:?}");
    Duration::from_nanos(rec.finished_ns - rec.started_ns)
}

/// Throughput of `ours` relative to `bare`, from rounds that alternate the two so that
/// drift in the machine's speed (other tenants, frequency) hits both alike. Returns
/// (median, min, max) of the per-round ratios.
fn paired(
    rounds: usize,
    mut ours: impl FnMut() -> Duration,
    mut bare: impl FnMut() -> Duration,
) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|i| {
            // Alternate which goes first, too.
            let (o, b) = if i % 2 == 0 {
                let o = ours();
                (o, bare())
            } else {
                let b = bare();
                (ours(), b)
            };
            b.as_secs_f64() / o.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    (ratios[rounds / 2], ratios[0], ratios[rounds - 1])
}

fn report_pair(what: &str, (median, min, max): (f64, f64, f64)) {
    println!(
        "{what}: nlstorm at {:.1} % of the bare loop (median of alternating rounds; min {:.1} %, max {:.1} %)",
        median * 100.0,
        min * 100.0,
        max * 100.0
    );
}

fn emit(c: &mut Criterion) {
    let run = RunId::random();
    let _listener = listener();
    let mut g = c.benchmark_group("emit");
    g.throughput(Throughput::Elements(1));
    g.bench_function("nlstorm_emitter", |b| {
        b.iter_custom(|n| nlstorm_emitter(&run, n))
    });
    g.bench_function("bare_sendto", |b| b.iter_custom(bare_sendto));
    g.finish();
    report_pair(
        "emit (64 B usersock broadcasts, 41 rounds of 50k)",
        paired(41, || nlstorm_emitter(&run, 50_000), || bare_sendto(50_000)),
    );
}

/// Messages queued per receive measurement: well inside an 8 MiB buffer.
const QUEUED: u64 = 5000;

fn receiver_plan() -> ReceiverPlan {
    ReceiverPlan {
        mode: ReadMode::Poll,
        ..ReceiverPlan::unread(
            nlstorm::plan::Name::internal("bench"),
            Protocol::Usersock,
            GROUP,
            RcvbufPlan::Force { bytes: 8 << 20 },
        )
    }
}

fn fill(run: &RunId) {
    let e = Emitter::new(0, &flood_plan(QUEUED), run, 1, None).expect("emitter");
    let rec = e.run(Instant::now(), &AtomicBool::new(false));
    assert_eq!(rec.sent, QUEUED);
}

fn big_buffer(s: &NlSocket) {
    if s.set(SockOpt::RcvbufForce(8 << 20)).is_err() {
        s.set(SockOpt::Rcvbuf(8 << 20)).expect("rcvbuf");
    }
}

/// A receiver in poll mode over a queue already holding `QUEUED` messages.
fn queued_receiver(run: &RunId) -> (Receiver, Arc<Shared>) {
    let r = Receiver::open(
        &receiver_plan(),
        Request::Force(8 << 20),
        &[],
        Default::default(),
    )
    .or_else(|_| {
        Receiver::open(
            &receiver_plan(),
            Request::Plain(8 << 20),
            &[],
            Default::default(),
        )
    })
    .expect("receiver");
    fill(run);
    let shared = Shared {
        t0: Instant::now(),
        emission_done: AtomicBool::new(true),
        stop: AtomicBool::new(false),
        uuid: run.uuid(),
        run: *run,
    };
    (r, Arc::new(shared))
}

/// nlstorm's read loop (with sequence accounting) drains the queue.
fn nlstorm_drain((r, shared): (Receiver, Arc<Shared>)) -> Duration {
    let t0 = Instant::now();
    let rec = r.run(&shared, 1);
    let took = t0.elapsed();
    assert_eq!(rec.sources[0].delivered(), QUEUED, "{rec:?}");
    took
}

/// A bare socket with the same buffer over the same queue.
fn queued_socket(run: &RunId) -> NlSocket {
    let s = NlSocket::open(Protocol::Usersock).expect("socket");
    big_buffer(&s);
    s.bind(&[GROUP]).expect("bind");
    fill(run);
    s
}

/// recv(2) with MSG_DONTWAIT until the queue is empty.
fn bare_drain(s: NlSocket) -> Duration {
    let mut buf = vec![0u8; 64 * 1024];
    let t0 = Instant::now();
    let mut n = 0u64;
    while let Received::Datagram { .. } = s.recv(&mut buf, libc::MSG_DONTWAIT) {
        n += 1;
    }
    let took = t0.elapsed();
    assert_eq!(n, QUEUED);
    took
}

fn receive(c: &mut Criterion) {
    let run = RunId::random();
    let mut g = c.benchmark_group("receive");
    g.throughput(Throughput::Elements(QUEUED));
    g.bench_function("nlstorm_receiver_poll", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| nlstorm_drain(queued_receiver(&run)))
                .sum()
        })
    });
    g.bench_function("bare_recv", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| bare_drain(queued_socket(&run))).sum())
    });
    g.finish();
    report_pair(
        "receive (5000 queued 64 B messages, 41 rounds)",
        paired(
            41,
            || nlstorm_drain(queued_receiver(&run)),
            || bare_drain(queued_socket(&run)),
        ),
    );
}

fn search(c: &mut Criterion, session: &Session) {
    let mut g = c.benchmark_group("search");
    g.sample_size(20);
    g.bench_function("threshold_no_reader_cell", |b| {
        let job = ThresholdJob {
            find: Find::Burst,
            fixed: Fixed {
                payload: 400,
                rcvbuf: RcvbufPlan::Request { bytes: 64 * 1024 },
                burst: 1,
                ..Fixed::unread(EmitterKind::Usersock { group: GROUP })
            },
            trials: 1,
        };
        b.iter(|| {
            let r = threshold(session, &job).expect("threshold");
            assert!(r.measured.is_some() && r.agrees == Some(true), "{r:?}");
        })
    });
    let spec = SweepSpec {
        axes: vec![
            parse_axis(Param::Rcvbuf, "0..8MiB:log:10").unwrap(),
            parse_axis(Param::Payload, "32..16KiB:log:10").unwrap(),
        ],
        fixed: Fixed::unread(EmitterKind::Usersock { group: GROUP }),
    };
    let cells = spec.cells();
    assert_eq!(cells.len(), 100);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(12));
    g.throughput(Throughput::Elements(cells.len() as u64));
    g.bench_function("sweep_100_cells_no_reader", |b| {
        b.iter(|| {
            let mut agree = 0;
            run_cells(session, &spec, &cells, |c| {
                agree += usize::from(c.model == nlstorm::check::ModelVerdict::Agrees)
            })
            .expect("sweep");
            assert_eq!(agree, 100);
        })
    });
    g.finish();
}

fn main() {
    // Namespaces need a single-threaded caller: enter before criterion starts anything.
    let session = match Session::enter(&[], &Default::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping benches: cannot create a sandbox: {e}");
            return;
        }
    };
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    emit(&mut c);
    receive(&mut c);
    search(&mut c, &session);
    c.final_summary();
}
