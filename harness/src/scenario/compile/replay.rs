//! `kind = "replay"`: a recorded `udevadm monitor --kernel --property` trace, read when
//! the scenario is compiled so that the plan carries the events themselves (a run
//! record replays without the trace file, and `check` re-judges it offline).

use super::programs::absolute;
use super::*;
use crate::trace::{Trace, TraceEvent};

/// The keys only a replay takes, for the error on other kinds.
const REPLAY_KEYS: [&str; 6] = ["trace", "speed", "repeat", "path", "filter", "udev-events"];

impl Cx<'_> {
    pub(super) fn replay(
        &mut self,
        path: &str,
        raw: &RawEmitter,
        base: &Path,
    ) -> Option<EmitterPlan> {
        let before = self.errors.len();
        for (key, span) in [
            ("group", raw.group.as_ref().map(|v| v.span())),
            ("payload", raw.payload.as_ref().map(|v| v.span())),
            ("contents", raw.contents.as_ref().map(|v| v.span())),
            ("bare", raw.bare.as_ref().map(|v| v.span())),
            ("schedule", raw.schedule.as_ref().map(|v| v.span())),
        ] {
            if let Some(span) = span {
                self.error(
                    &format!("{path}.{key}"),
                    Some(span),
                    "a replay sends the trace's own events at the trace's own times: use `speed`, `repeat` and `filter` instead",
                );
            }
        }
        let Some(trace_key) = &raw.trace else {
            self.error(
                path,
                Some(raw.kind.span()),
                "a replay needs `trace`: a `udevadm monitor --kernel --property` capture, e.g. trace = \"../fixtures/traces/veth-pairs.txt\"",
            );
            return None;
        };
        let key = format!("{path}.trace");
        let trace = self.read_trace(&key, trace_key, base)?;
        let kind = match raw.path.as_ref().map(|p| *p.get_ref()) {
            None | Some(RawReplayPath::InjectedUevent) => EmitterKind::InjectedUevent,
            Some(RawReplayPath::SyntheticUevent) => EmitterKind::SyntheticUevent,
        };
        let events = self.replayed_events(path, raw, &trace, trace_key)?;
        self.check_event_sizes(&key, trace_key.span(), kind, &events);
        let speed = self.speed(path, raw);
        let repeat = self.repeat(path, raw, events.len());
        let start = self.emitter_start(path, raw);
        let cpu = self.cpu(&format!("{path}.cpu"), raw.cpu.as_ref());
        if self.errors.len() > before {
            return None;
        }
        let (speed, repeat) = (speed?, repeat?);
        let (at, period) = timing(&events, speed);
        Some(EmitterPlan {
            name: Name::sanitised(raw.name.get_ref(), "unnamed"),
            kind,
            schedule: Schedule::Replay {
                at,
                repeat,
                period,
                speed,
            },
            payload: PayloadPlan::Trace {
                trace: trace_key.get_ref().clone(),
                events,
            },
            start,
            cpu,
        })
    }

    /// The error for replay keys on an emitter that is not a replay.
    pub(super) fn no_replay_keys(&mut self, path: &str, raw: &RawEmitter) {
        let spans = [
            raw.trace.as_ref().map(|v| v.span()),
            raw.speed.as_ref().map(|v| v.span()),
            raw.repeat.as_ref().map(|v| v.span()),
            raw.path.as_ref().map(|v| v.span()),
            raw.filter.as_ref().map(|v| v.span()),
            raw.udev_events.as_ref().map(|v| v.span()),
        ];
        for (key, span) in REPLAY_KEYS.iter().zip(spans) {
            if let Some(span) = span {
                self.error(
                    &format!("{path}.{key}"),
                    Some(span),
                    format!("`{key}` is for kind = \"replay\""),
                );
            }
        }
    }

    /// Reads and parses the trace. The path comes from an untrusted file: it is opened
    /// only as a regular file of bounded size (never a FIFO or device that would block or
    /// never end), and a parse error quotes nothing of it: the scenario may name a file
    /// its author could not read (`trace = "/etc/shadow"` run by root).
    fn read_trace(&mut self, key: &str, v: &Spanned<String>, base: &Path) -> Option<Trace> {
        let file = absolute(base, v.get_ref());
        let shown = crate::untrusted::terminal(v.get_ref());
        let text = match crate::untrusted::read_untrusted(&file, crate::untrusted::Bound::Trace) {
            Ok(t) => t,
            Err(e) => {
                self.error(
                    key,
                    Some(v.span()),
                    format!("cannot read the trace {shown} (relative to the scenario file's directory): {e}"),
                );
                return None;
            }
        };
        match crate::trace::parse(&text, &shown) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(
                    key,
                    Some(v.span()),
                    format!(
                        "{shown} is not a udevadm monitor trace: line {} does not parse (nothing of a file a scenario names is quoted; `nlstorm trace show FILE` says why)",
                        e.line
                    ),
                );
                None
            }
        }
    }

    fn replayed_events(
        &mut self,
        path: &str,
        raw: &RawEmitter,
        trace: &Trace,
        trace_key: &Spanned<String>,
    ) -> Option<Vec<TraceEvent>> {
        let udev = raw.udev_events.as_ref().is_some_and(|u| *u.get_ref());
        let filter = raw.filter.as_ref().map(|f| f.get_ref());
        let want =
            |wanted: Option<&Spanned<String>>, got: &str| wanted.is_none_or(|w| w.get_ref() == got);
        let events: Vec<TraceEvent> = trace
            .replayable(udev)
            .filter(|e| {
                filter.is_none_or(|f| {
                    want(f.subsystem.as_ref(), &e.subsystem) && want(f.action.as_ref(), &e.action)
                })
            })
            .cloned()
            .collect();
        if events.is_empty() {
            let span = raw.filter.as_ref().map_or(trace_key.span(), |f| f.span());
            self.error(
                &format!(
                    "{path}.{}",
                    if filter.is_some() { "filter" } else { "trace" }
                ),
                Some(span),
                format!(
                    "no event to replay: the trace has {} kernel and {} udev events{}",
                    trace.replayable(false).count(),
                    trace.events.len() - trace.replayable(false).count(),
                    if filter.is_some() {
                        " and none passes the filter"
                    } else {
                        ""
                    }
                ),
            );
            return None;
        }
        Some(events)
    }

    /// Every event, with the run's keys, must fit what the path carries.
    fn check_event_sizes(
        &mut self,
        key: &str,
        span: Range<usize>,
        kind: EmitterKind,
        events: &[TraceEvent],
    ) {
        let (_, max, why) = kind.payload_limits();
        let too_big = events
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e, e.wire().len() + crate::payload::REPLAY_KEYS_LEN))
            .find(|&(_, _, len)| len as u64 > max);
        if let Some((i, e, len)) = too_big {
            self.error(
                key,
                Some(span),
                format!(
                    "event {} ({} {}) is {len} B with the run's keys ({} B of them), above {max} B: {why}",
                    i + 1,
                    crate::untrusted::terminal(&e.action),
                    crate::untrusted::terminal(&e.devpath),
                    crate::payload::REPLAY_KEYS_LEN
                ),
            );
        }
    }

    fn speed(&mut self, path: &str, raw: &RawEmitter) -> Option<f64> {
        let Some(s) = &raw.speed else {
            return Some(1.0);
        };
        let v = *s.get_ref();
        if v.is_finite() && (0.0..=1e6).contains(&v) {
            return Some(v);
        }
        self.error(
            &format!("{path}.speed"),
            Some(s.span()),
            "speed is 1.0 for the recorded timing, 10 for ten times faster, 0 for as fast as possible (at most 1000000)",
        );
        None
    }

    fn repeat(&mut self, path: &str, raw: &RawEmitter, events: usize) -> Option<NonZeroU64> {
        let n = raw.repeat.as_ref().map_or(1, |r| *r.get_ref());
        let ok = u64::try_from(n)
            .ok()
            .and_then(NonZeroU64::new)
            .filter(|r| r.get().saturating_mul(events as u64) <= Limits::REPLAY_SENDS);
        if ok.is_none() {
            let span = raw.repeat.as_ref().map(|r| r.span());
            self.error(
                &format!("{path}.repeat"),
                span,
                format!(
                    "repeat must be at least 1, and events x repeat at most {} (the trace has {events} events to replay)",
                    Limits::REPLAY_SENDS
                ),
            );
        }
        ok
    }
}

/// Offsets from the first event divided by `speed` (all zero for 0), and the period of
/// a repetition: the trace's span plus its mean gap, so a repeated trace keeps its rhythm
/// across the seam.
fn timing(events: &[TraceEvent], speed: f64) -> (Vec<Duration>, Duration) {
    let first = events.first().map_or(0, |e| e.at_us);
    let scale = |us: u64| {
        if speed == 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(us as f64 / 1e6 / speed)
        }
    };
    let at: Vec<Duration> = events.iter().map(|e| scale(e.at_us - first)).collect();
    let span = at.last().copied().unwrap_or_default();
    let gap = if at.len() > 1 {
        span / (at.len() as u32 - 1)
    } else {
        Duration::ZERO
    };
    (at, span + gap)
}

/// The file's text if it is a regular file of at most [`Limits::TRACE_BYTES`].
#[cfg(test)]
mod tests {
    use super::super::compile_str;
    use super::*;

    /// A scenario beside a trace in a fresh directory, compiled.
    fn compile(trace: &str, emitter: &str) -> Result<Plan, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t.txt"), trace).unwrap();
        let text = format!(
            "name = \"r\"\n[[emitter]]\nname = \"e\"\nkind = \"replay\"\n{emitter}\n[[receiver]]\nname = \"r\"\n"
        );
        compile_str(&dir.path().join("s.toml"), &text).map_err(|e| e.to_string())
    }

    const TRACE: &str = "KERNEL[10.000000] add /devices/a (net)\nACTION=add\n\nKERNEL[10.002000] add /devices/a/q (queues)\nACTION=add\n\nKERNEL[10.004000] remove /devices/a (net)\nACTION=remove\n\nUDEV  [10.005000] add /devices/a (net)\nACTION=add\n";

    #[test]
    fn a_three_line_table_replays_the_kernel_events_at_their_times() {
        let p = compile(TRACE, "trace = \"t.txt\"").unwrap();
        let e = &p.emitters[0];
        assert_eq!(e.kind, EmitterKind::InjectedUevent);
        let PayloadPlan::Trace { events, .. } = &e.payload else {
            panic!("{e:?}")
        };
        assert_eq!(events.len(), 3, "udev events are skipped");
        let Schedule::Replay { at, period, .. } = &e.schedule else {
            panic!()
        };
        let ms = Duration::from_millis;
        assert_eq!(at, &vec![ms(0), ms(2), ms(4)]);
        assert_eq!(*period, ms(6), "span plus the mean gap");
    }

    #[test]
    fn speed_filter_repeat_and_path() {
        let p = compile(
            TRACE,
            "trace = \"t.txt\"\nspeed = 2\nrepeat = 3\npath = \"synthetic-uevent\"\nfilter = { subsystem = \"net\" }\nudev-events = true",
        )
        .unwrap();
        let e = &p.emitters[0];
        assert_eq!(e.kind, EmitterKind::SyntheticUevent);
        let Schedule::Replay { at, repeat, .. } = &e.schedule else {
            panic!()
        };
        let ms = Duration::from_micros;
        assert_eq!(at, &vec![ms(0), ms(2000), ms(2500)]);
        assert_eq!(repeat.get(), 3);
        let flat = compile(TRACE, "trace = \"t.txt\"\nspeed = 0").unwrap();
        let Schedule::Replay { at, .. } = &flat.emitters[0].schedule else {
            panic!()
        };
        assert!(at.iter().all(|d| d.is_zero()));
    }

    #[test]
    fn bad_replays_are_refused_with_the_place_and_the_reason() {
        let e = compile(TRACE, "trace = \"missing.txt\"").unwrap_err();
        assert!(
            e.contains("emitter[0].trace: cannot read the trace missing.txt"),
            "{e}"
        );
        let e = compile(
            "KERNEL[1.000000] add /a (x)\nnoequals\n",
            "trace = \"t.txt\"",
        )
        .unwrap_err();
        assert!(
            e.contains("t.txt is not a udevadm monitor trace: line 2 does not parse"),
            "{e}"
        );
        // Nothing of a file the scenario names is quoted: it may be one its author could
        // not read.
        let e = compile(
            "root:$6$secret-hash:19000:0:99999:7:::\n",
            "trace = \"t.txt\"",
        )
        .unwrap_err();
        assert!(!e.contains("secret") && !e.contains("root:"), "{e}");
        let e = compile(TRACE, "trace = \"t.txt\"\nfilter = { action = \"bind\" }").unwrap_err();
        assert!(e.contains("none passes the filter"), "{e}");
        let e = compile(
            TRACE,
            "trace = \"t.txt\"\nschedule = { kind = \"burst\", size = 2 }",
        )
        .unwrap_err();
        assert!(
            e.contains("emitter[0].schedule: a replay sends the trace's own events"),
            "{e}"
        );
        let e = compile(TRACE, "trace = \"t.txt\"\nspeed = -1").unwrap_err();
        assert!(e.contains("emitter[0].speed"), "{e}");
        let e = compile(TRACE, "trace = \"t.txt\"\nrepeat = 400000").unwrap_err();
        assert!(e.contains("events x repeat at most 1000000"), "{e}");
        let e = compile(TRACE, "").unwrap_err();
        assert!(e.contains("a replay needs `trace`"), "{e}");
        let big = format!(
            "KERNEL[1.000000] add /a (x)\nACTION=add\nBIG={}\n",
            "v".repeat(2000)
        );
        let e = compile(&big, "trace = \"t.txt\"").unwrap_err();
        assert!(e.contains("event 1 (add /a) is"), "{e}");
        // A path that is not a regular file is not opened for reading.
        let e = compile(TRACE, "trace = \"/dev/zero\"").unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        // Keys of a replay on another kind.
        let text = "name = \"r\"\n[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 2\ntrace = \"t.txt\"\nschedule = { kind = \"burst\", size = 1 }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [2]\n";
        let e = compile_str(Path::new("s.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`trace` is for kind = \"replay\""), "{e}");
    }
}
