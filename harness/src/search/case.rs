//! One point of a search space, as the parameters a user thinks in (emitter, payload,
//! burst, buffer, reader), turned into an ordinary [`Plan`]: every trial a search runs is
//! a scenario `nlstorm run` could run too.

use crate::check::ModelVerdict;
use crate::untrusted::Name;
use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::{self, ReceiverResult, Verdict};
use crate::exec::ExecError;
use crate::execute::Execute;
use crate::plan::{
    EmitterKind, EmitterPlan, PayloadPlan, Plan, RcvbufPlan, ReadMode, ReadStart, ReceiverPlan,
    Schedule,
};
use crate::units::parse_duration;

/// How a receiver reads during the flood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reader {
    /// Reads while messages arrive; false means the queue is read only after emission
    /// ends (an unread queue, which the capacity model describes exactly).
    pub active: bool,
    /// Read mode.
    pub mode: ReadMode,
    /// Bytes per recvmsg.
    pub read_buffer: u32,
    /// Time spent per message.
    pub delay: Duration,
    /// Reading starts this long after the first send.
    pub start: Duration,
}

impl Reader {
    /// No reader during the flood.
    pub const NONE: Reader = Reader {
        active: false,
        mode: ReadMode::Poll,
        read_buffer: 64 * 1024,
        delay: Duration::ZERO,
        start: Duration::ZERO,
    };

    /// Parses `none` or `delay=50us,mode=poll|blocking|batch,batch=32,buffer=4096,start=1ms`.
    pub fn parse(text: &str) -> Result<Reader, String> {
        let text = text.trim();
        if text == "none" {
            return Ok(Reader::NONE);
        }
        if text == "active" {
            // explore's `--reader active` draws readers; here one reader is measured.
            return Err("--reader active: give the reader itself here, e.g. --reader delay=50us,mode=poll (`active` is explore's: any drawn reader)".into());
        }
        let mut r = Reader {
            active: true,
            ..Reader::NONE
        };
        let mut batch = None;
        let mut mode = String::from("poll");
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!("--reader {text}: `{part}` is not KEY=VALUE (keys: delay, mode, batch, buffer, start; or `none`)")
            })?;
            let v = v.trim();
            let bad = |e: String| format!("--reader {text}: {}: {e}", k.trim());
            match k.trim() {
                "delay" => r.delay = parse_duration(v).map_err(|e| bad(e.to_string()))?,
                "start" => r.start = parse_duration(v).map_err(|e| bad(e.to_string()))?,
                "buffer" => {
                    r.read_buffer = crate::units::parse_size(v)
                        .ok()
                        .and_then(|b| u32::try_from(b).ok())
                        .filter(|&b| (1..=16 << 20).contains(&b))
                        .ok_or_else(|| bad("must be 1 byte..=16MiB".into()))?
                }
                "batch" => {
                    batch = Some(
                        v.parse::<u32>()
                            .ok()
                            .filter(|b| (1..=1024).contains(b))
                            .ok_or_else(|| bad("must be 1..=1024".into()))?,
                    )
                }
                "mode" => match v {
                    "poll" | "blocking" | "batch" => mode = v.to_string(),
                    _ => return Err(bad(format!("`{v}`: use poll, blocking or batch"))),
                },
                other => {
                    return Err(format!(
                        "--reader {text}: unknown key `{other}` (keys: delay, mode, batch, buffer, start)"
                    ))
                }
            }
        }
        r.mode = match (mode.as_str(), batch) {
            ("batch", b) => ReadMode::Batch {
                size: NonZeroU32::new(b.unwrap_or(32)).expect("nonzero"),
            },
            (_, Some(_)) => return Err(format!("--reader {text}: batch=N goes with mode=batch")),
            ("blocking", None) => ReadMode::Blocking,
            _ => ReadMode::Poll,
        };
        Ok(r)
    }
}

/// What a threshold search or a sweep holds fixed while it varies one parameter or a
/// grid of them: the case every value or cell starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fixed {
    /// Emitter kind.
    pub emitter: EmitterKind,
    /// Bytes per message on the wire.
    pub payload: u32,
    /// Receive buffer.
    pub rcvbuf: RcvbufPlan,
    /// Burst size, where the burst is not what varies.
    pub burst: u64,
    /// How long a rate is held.
    pub duration: Duration,
    /// The reader (`none`: trials measure an unread queue).
    pub reader: Reader,
    /// NETLINK_NO_ENOBUFS.
    pub no_enobufs: bool,
}

impl Fixed {
    /// 512-byte messages from `emitter` into an unread default buffer: the CLI's defaults.
    pub fn unread(emitter: EmitterKind) -> Fixed {
        Fixed {
            emitter,
            payload: 512,
            rcvbuf: RcvbufPlan::Default,
            burst: 1000,
            duration: Duration::from_millis(200),
            reader: Reader::NONE,
            no_enobufs: false,
        }
    }

    /// One receiver taking one burst of `burst` messages.
    pub fn case(&self) -> Case {
        Case {
            emitter: self.emitter,
            payload: self.payload,
            schedule: burst(self.burst),
            receivers: 1,
            rcvbuf: self.rcvbuf.clone(),
            no_enobufs: self.no_enobufs,
            reader: self.reader,
        }
    }

    /// `per_sec` messages a second, held for `duration`.
    pub fn rate(&self, per_sec: u64) -> Schedule {
        Schedule::Rate {
            per_sec: per_sec.max(1) as f64,
            duration: self.duration,
        }
    }
}

/// Everything one trial varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Path into the kernel.
    pub emitter: EmitterKind,
    /// Wire size of each message, bytes.
    pub payload: u32,
    /// When messages are sent.
    pub schedule: Schedule,
    /// Identical receivers.
    pub receivers: u32,
    /// Their buffer.
    pub rcvbuf: RcvbufPlan,
    /// NETLINK_NO_ENOBUFS.
    pub no_enobufs: bool,
    /// How they read.
    pub reader: Reader,
}

/// Largest burst one trial sends: an 8 MiB queue of the smallest messages holds ~10k.
pub const MAX_BURST: u64 = 1 << 20;

/// A burst that overflows an unread queue of `effective` bytes, chosen from the kernel's
/// structures, never from the model under test.
pub fn overflowing_burst(effective: u64) -> u64 {
    crate::model::overflow_bound(effective).min(MAX_BURST)
}

/// The usersock group search trials use.
pub const GROUP: u32 = 5;

/// A single burst of `n` messages.
pub fn burst(n: u64) -> Schedule {
    Schedule::Burst {
        size: NonZeroU64::new(n.max(1)).expect("nonzero"),
        gap: Duration::ZERO,
        count: NonZeroU64::new(1).expect("nonzero"),
    }
}

impl Case {
    /// The plan that runs this case.
    pub fn plan(&self, name: &str) -> Plan {
        let span = crate::schedule::SendTimes::span(&self.schedule).unwrap_or_default();
        let (protocol, group) = self.emitter.destination();
        Plan {
            name: Name::internal(name),
            description: String::new(),
            seed: 1,
            // Untimed floods of slow paths (sysfs writes) need room; timed ones their span.
            deadline: span + self.reader.start + Duration::from_secs(30),
            emitters: vec![EmitterPlan {
                name: Name::internal("flood"),
                kind: self.emitter,
                schedule: self.schedule.clone(),
                payload: PayloadPlan::Fixed {
                    bytes: self.payload,
                },
                start: Duration::ZERO,
                cpu: None,
            }],
            receivers: (0..self.receivers.max(1))
                .map(|i| ReceiverPlan {
                    read_buffer: NonZeroU32::new(self.reader.read_buffer.max(1)).expect("nonzero"),
                    mode: self.reader.mode,
                    consumer_delay: self.reader.delay,
                    start_reading: if self.reader.active {
                        ReadStart::After {
                            delay: self.reader.start,
                        }
                    } else {
                        ReadStart::EmissionEnd
                    },
                    no_enobufs: self.no_enobufs,
                    ..ReceiverPlan::unread(
                        Name::internal(format!("r{i}")),
                        protocol,
                        group,
                        self.rcvbuf.clone(),
                    )
                })
                .collect(),
            dumps: vec![],
            world: Default::default(),
            churn: vec![],
            programs: vec![],
            timing_bound: false,
        }
    }
}

/// What one trial measured, for every receiver combined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Messages sent.
    pub sent: u64,
    /// Fewest delivered to any receiver.
    pub delivered: u64,
    /// Most lost by any receiver.
    pub lost: u64,
    /// ENOBUFS seen by all receivers.
    pub enobufs: u64,
    /// Kernel drop counts summed.
    pub kernel_drops: u64,
    /// Effective rcvbuf (first receiver).
    pub rcvbuf_effective: u64,
    /// Truesize of the first message (calibrated).
    pub truesize: Option<u64>,
    /// The model's unread-queue capacity.
    pub model_capacity: Option<u64>,
    /// `agrees`, `disagrees` or `not-applicable` for every receiver combined.
    pub model: ModelVerdict,
    /// Send rate achieved, messages per second.
    pub send_rate: f64,
    /// Delivered messages per second of reading, first receiver.
    pub delivered_rate: f64,
    /// Harness problems (a trial with any is not evidence).
    pub problems: Vec<String>,
}

impl Trial {
    /// Summarises a verdict.
    pub fn from_verdict(v: &Verdict) -> Trial {
        let rs: &[ReceiverResult] = &v.receivers;
        let first = rs.first();
        let model = if rs.iter().any(|r| r.model == ModelVerdict::Disagrees) {
            ModelVerdict::Disagrees
        } else if !rs.is_empty() && rs.iter().all(|r| r.model == ModelVerdict::Agrees) {
            ModelVerdict::Agrees
        } else {
            ModelVerdict::NotApplicable
        };
        let e = v.emitters.first();
        let send_rate = e.map_or(0.0, |e| {
            let ns = e.finished_ns.saturating_sub(e.started_ns).max(1);
            e.sent as f64 * 1e9 / ns as f64
        });
        Trial {
            sent: e.map_or(0, |e| e.sent),
            delivered: rs.iter().map(|r| r.delivered).min().unwrap_or(0),
            lost: rs.iter().map(|r| r.lost).max().unwrap_or(0),
            enobufs: rs.iter().map(|r| r.enobufs).sum(),
            kernel_drops: rs.iter().filter_map(|r| r.kernel_drops).sum(),
            rcvbuf_effective: first.map_or(0, |r| r.rcvbuf_effective),
            truesize: first.and_then(|r| r.truesize),
            model_capacity: first.and_then(|r| r.predicted_capacity),
            model,
            send_rate,
            delivered_rate: 0.0,
            problems: v.problems.clone(),
        }
    }
}

/// Runs `case` once in `session` and checks it.
pub fn run(session: &dyn Execute, case: &Case) -> Result<(Plan, Verdict, Trial), ExecError> {
    let plan = case.plan("trial");
    let h = session.execute(&plan)?;
    let v = check::check(&plan, &h);
    let mut t = Trial::from_verdict(&v);
    if let Some(r) = h.receivers.first() {
        let ns = r
            .record
            .read_finished_ns
            .saturating_sub(r.record.read_started_ns)
            .max(1);
        t.delivered_rate = t.delivered as f64 * 1e9 / ns as f64;
    }
    Ok((plan, v, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_specs() {
        assert_eq!(Reader::parse("none").unwrap(), Reader::NONE);
        let r = Reader::parse("delay=50us").unwrap();
        assert!(r.active);
        assert_eq!(r.delay, Duration::from_micros(50));
        assert_eq!(r.mode, ReadMode::Poll);
        let b = Reader::parse("mode=batch,batch=8,buffer=4096").unwrap();
        assert_eq!(
            b.mode,
            ReadMode::Batch {
                size: NonZeroU32::new(8).unwrap()
            }
        );
        assert_eq!(b.read_buffer, 4096);
        for (bad, needle) in [
            ("delay=50", "unit"),
            ("speed=3", "unknown key"),
            ("mode=fast", "poll, blocking or batch"),
            ("batch=4", "goes with mode=batch"),
            ("delay", "KEY=VALUE"),
        ] {
            let e = Reader::parse(bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn cases_become_valid_scenarios() {
        let c = Case {
            emitter: EmitterKind::Usersock { group: GROUP },
            payload: 400,
            schedule: burst(40),
            receivers: 2,
            rcvbuf: RcvbufPlan::Request { bytes: 1024 },
            no_enobufs: false,
            reader: Reader::parse("delay=50us").unwrap(),
        };
        let plan = c.plan("case");
        crate::scenario::assert_round_trips(&plan);
        assert_eq!(plan.receivers.len(), 2);
    }
}
