//! The flood space as proptest strategies. Alternatives are ordered simplest first,
//! because proptest shrinks a `prop_oneof!` towards its first arm and ranges towards
//! their low end: a shrunk case has one receiver, one burst, no reader unless the
//! failure needs one.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use proptest::prelude::*;

use super::{Explorable, Space};
use crate::plan::{EmitterKind, Plan, RcvbufPlan, ReadMode, Schedule};

/// The largest payload drawn when the space names none.
const EXPLORE_PAYLOAD_MAX: u32 = 64 << 10;
use crate::search::case::{Case, Reader, GROUP};

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
    // By default up to 64 KiB: larger broadcasts are allowed but seldom the question.
    let (lo, hi) = space.payload.unwrap_or((1, EXPLORE_PAYLOAD_MAX));
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
            .prop_map(|bytes| RcvbufPlan::Request {
                bytes: bytes as i64,
            })
            .boxed();
    }
    // Below SOCK_MIN_RCVBUF/2, typical sizes, around a 4 MiB rmem_max, FORCE, default.
    prop_oneof![
        (0u64..=1152).prop_map(|bytes| RcvbufPlan::Request {
            bytes: bytes as i64
        }),
        (1153u64..=1 << 20).prop_map(|bytes| RcvbufPlan::Request {
            bytes: bytes as i64
        }),
        ((4u64 << 20) - 4096..=(4u64 << 20) + 4096).prop_map(|bytes| RcvbufPlan::Request {
            bytes: bytes as i64
        }),
        (0u64..=8 << 20).prop_map(|bytes| RcvbufPlan::Force {
            bytes: bytes as i64
        }),
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

impl Explorable for Case {
    fn plan(&self, name: &str) -> Plan {
        Case::plan(self, name)
    }
    fn no_enobufs(&self) -> bool {
        self.no_enobufs
    }
}
