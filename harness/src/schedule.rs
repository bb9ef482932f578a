//! Turns a [`Schedule`] into send times. Pure: the emitter paces against these absolute
//! offsets, so rounding never accumulates and 100k+/s stays exact on average.

use std::time::Duration;

use crate::plan::Schedule;
use crate::rng::SplitMix64;

/// Send offsets (nanoseconds after the emitter's start), one per message, in order.
/// Allocation-free: the emitter's hot loop calls `next()` per message.
#[derive(Debug, Clone)]
pub struct SendTimes {
    shape: Shape,
    index: u64,
    rng: SplitMix64,
    poisson_t: f64,
}

#[derive(Debug, Clone)]
enum Shape {
    Burst {
        size: u64,
        gap_ns: u64,
        total: u64,
    },
    Rate {
        interval_ns: f64,
        total: u64,
    },
    Poisson {
        mean_gap_ns: f64,
        end_ns: f64,
    },
    Ramp {
        from: f64,
        to: f64,
        dur_s: f64,
        total: u64,
    },
    Flood {
        total: Option<u64>,
        end_ns: Option<u64>,
    },
    Replay {
        at_ns: std::sync::Arc<[u64]>,
        period_ns: u64,
        total: u64,
    },
}

impl SendTimes {
    /// The send times of `schedule`, with random draws from `seed`/`stream`.
    pub fn new(schedule: &Schedule, seed: u64, stream: u64) -> Self {
        let shape = match *schedule {
            Schedule::Burst { size, gap, count } => Shape::Burst {
                size: size.get(),
                gap_ns: gap.as_nanos() as u64,
                total: size.get().saturating_mul(count.get()),
            },
            Schedule::Rate { per_sec, duration } => Shape::Rate {
                interval_ns: 1e9 / per_sec,
                total: (per_sec * duration.as_secs_f64()).floor() as u64,
            },
            Schedule::Poisson { per_sec, duration } => Shape::Poisson {
                mean_gap_ns: 1e9 / per_sec,
                end_ns: duration.as_nanos() as f64,
            },
            Schedule::Ramp { from, to, duration } => Shape::Ramp {
                from,
                to,
                dur_s: duration.as_secs_f64(),
                total: ((from + to) / 2.0 * duration.as_secs_f64()).floor() as u64,
            },
            Schedule::Flood { count, duration } => Shape::Flood {
                total: count.map(|c| c.get()),
                end_ns: duration.map(|d| d.as_nanos() as u64),
            },
            Schedule::Replay {
                ref at,
                repeat,
                period,
                ..
            } => Shape::Replay {
                at_ns: at.iter().map(|d| d.as_nanos() as u64).collect(),
                period_ns: period.as_nanos() as u64,
                total: (at.len() as u64).saturating_mul(repeat.get()),
            },
        };
        Self {
            shape,
            index: 0,
            rng: SplitMix64::new(seed, stream),
            poisson_t: 0.0,
        }
    }

    /// How many messages the schedule sends, when that is fixed in advance.
    pub fn planned_count(schedule: &Schedule) -> Option<u64> {
        match Self::new(schedule, 0, 0).shape {
            Shape::Burst { total, .. }
            | Shape::Rate { total, .. }
            | Shape::Ramp { total, .. }
            | Shape::Replay { total, .. } => Some(total),
            Shape::Flood { total, end_ns } => total.filter(|_| end_ns.is_none()),
            Shape::Poisson { .. } => None,
        }
    }

    /// Messages in the first burst: what a receiver's queue must hold at once if nobody
    /// reads during a burst.
    pub fn first_burst(schedule: &Schedule) -> Option<u64> {
        match schedule {
            Schedule::Burst { size, .. } => Some(size.get()),
            Schedule::Flood { .. } => Self::planned_count(schedule),
            // A replay sent flat out is one burst: the trace, or every repetition of it.
            Schedule::Replay { at, period, .. } if at.iter().all(|d| d.is_zero()) => {
                if period.is_zero() {
                    Self::planned_count(schedule)
                } else {
                    Some(at.len() as u64)
                }
            }
            _ => None,
        }
    }

    /// Upper bound on how long the schedule lasts (for flood-by-count: unknown).
    pub fn span(schedule: &Schedule) -> Option<Duration> {
        match *schedule {
            Schedule::Burst { gap, count, .. } => Some(gap * (count.get() - 1) as u32),
            Schedule::Rate { duration, .. }
            | Schedule::Poisson { duration, .. }
            | Schedule::Ramp { duration, .. } => Some(duration),
            Schedule::Flood { duration, .. } => duration,
            Schedule::Replay {
                ref at,
                repeat,
                period,
                ..
            } => Some(period * (repeat.get() - 1) as u32 + at.last().copied().unwrap_or_default()),
        }
    }

    /// Whether a flood is bounded only by time: the emitter must check the clock.
    pub fn stop_at_ns(&self) -> Option<u64> {
        match self.shape {
            Shape::Flood { end_ns, .. } => end_ns,
            _ => None,
        }
    }
}

impl Iterator for SendTimes {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let i = self.index;
        let t = match self.shape {
            Shape::Burst {
                size,
                gap_ns,
                total,
            } => {
                if i >= total {
                    return None;
                }
                (i / size) * gap_ns
            }
            Shape::Rate { interval_ns, total } => {
                if i >= total {
                    return None;
                }
                (i as f64 * interval_ns) as u64
            }
            Shape::Poisson {
                mean_gap_ns,
                end_ns,
            } => {
                // Inverse-CDF draw of an exponential gap.
                let u = 1.0 - self.rng.next_f64();
                self.poisson_t += -u.ln() * mean_gap_ns;
                if self.poisson_t >= end_ns {
                    return None;
                }
                self.poisson_t as u64
            }
            Shape::Ramp {
                from,
                to,
                dur_s,
                total,
            } => {
                if i >= total {
                    return None;
                }
                (ramp_time(from, to, dur_s, i as f64) * 1e9) as u64
            }
            Shape::Flood { total, .. } => {
                if total.is_some_and(|n| i >= n) {
                    return None;
                }
                0
            }
            Shape::Replay {
                ref at_ns,
                period_ns,
                total,
            } => {
                if i >= total {
                    return None;
                }
                let n = at_ns.len() as u64;
                (i / n).saturating_mul(period_ns) + at_ns[(i % n) as usize]
            }
        };
        self.index += 1;
        Some(t)
    }
}

/// Time at which the `n`th message of a linear ramp is due: the root of
/// `from*t + (to-from)*t^2/(2*dur) = n`.
fn ramp_time(from: f64, to: f64, dur: f64, n: f64) -> f64 {
    let a = (to - from) / (2.0 * dur);
    if a.abs() < 1e-12 {
        return n / from;
    }
    let disc = from * from + 4.0 * a * n;
    (-from + disc.max(0.0).sqrt()) / (2.0 * a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU64;

    fn nz(n: u64) -> NonZeroU64 {
        NonZeroU64::new(n).unwrap()
    }

    #[test]
    fn a_replay_repeats_its_offsets_a_period_apart() {
        let s = Schedule::Replay {
            at: vec![
                Duration::ZERO,
                Duration::from_micros(5),
                Duration::from_micros(9),
            ],
            repeat: nz(2),
            period: Duration::from_micros(100),
            speed: 1.0,
        };
        let t: Vec<u64> = SendTimes::new(&s, 0, 0).collect();
        assert_eq!(t, vec![0, 5_000, 9_000, 100_000, 105_000, 109_000]);
        assert_eq!(SendTimes::planned_count(&s), Some(6));
        assert_eq!(SendTimes::span(&s), Some(Duration::from_micros(109)));
    }

    #[test]
    fn bursts_share_a_start_time() {
        let s = Schedule::Burst {
            size: nz(3),
            gap: Duration::from_millis(10),
            count: nz(2),
        };
        let t: Vec<u64> = SendTimes::new(&s, 0, 0).collect();
        assert_eq!(t, vec![0, 0, 0, 10_000_000, 10_000_000, 10_000_000]);
        assert_eq!(SendTimes::planned_count(&s), Some(6));
        assert_eq!(SendTimes::first_burst(&s), Some(3));
    }

    #[test]
    fn rate_is_exact_on_absolute_times() {
        let s = Schedule::Rate {
            per_sec: 100_000.0,
            duration: Duration::from_secs(1),
        };
        let t: Vec<u64> = SendTimes::new(&s, 0, 0).collect();
        assert_eq!(t.len(), 100_000);
        assert_eq!(t[1], 10_000);
        assert_eq!(t[99_999], 999_990_000);
    }

    #[test]
    fn poisson_mean_rate_is_close_and_seeded() {
        let s = Schedule::Poisson {
            per_sec: 10_000.0,
            duration: Duration::from_secs(10),
        };
        let a: Vec<u64> = SendTimes::new(&s, 42, 0).collect();
        let b: Vec<u64> = SendTimes::new(&s, 42, 0).collect();
        assert_eq!(a, b);
        // 100k expected; a Poisson count has sd ~316, so 2% is > 6 sigma.
        let n = a.len() as f64;
        assert!((n - 100_000.0).abs() < 2_000.0, "got {n}");
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(SendTimes::planned_count(&s), None);
    }

    #[test]
    fn ramp_covers_its_duration_and_speeds_up() {
        let s = Schedule::Ramp {
            from: 1000.0,
            to: 3000.0,
            duration: Duration::from_secs(2),
        };
        let t: Vec<u64> = SendTimes::new(&s, 0, 0).collect();
        assert_eq!(t.len(), 4000);
        let last = *t.last().unwrap() as f64 / 1e9;
        assert!((last - 2.0).abs() < 0.01, "last send at {last}s");
        let first_gap = t[1] - t[0];
        let last_gap = t[3999] - t[3998];
        assert!(first_gap > 2 * last_gap, "{first_gap} vs {last_gap}");
    }

    #[test]
    fn flat_ramp_is_a_rate() {
        assert!((ramp_time(100.0, 100.0, 1.0, 50.0) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn flood_by_count_is_all_at_once() {
        let s = Schedule::Flood {
            count: Some(nz(5)),
            duration: None,
        };
        assert_eq!(SendTimes::new(&s, 0, 0).collect::<Vec<_>>(), vec![0; 5]);
        let timed = Schedule::Flood {
            count: None,
            duration: Some(Duration::from_millis(5)),
        };
        assert_eq!(SendTimes::new(&timed, 0, 0).stop_at_ns(), Some(5_000_000));
        assert_eq!(SendTimes::planned_count(&timed), None);
    }
}
