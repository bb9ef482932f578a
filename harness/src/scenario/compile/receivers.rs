//! `[[receiver]]`: the sockets that listen, how they read, and what they filter.

use super::*;

impl Cx<'_> {
    pub(super) fn receiver(
        &mut self,
        path: &str,
        raw: &RawReceiver,
        emitter_names: &[&str],
        emitters: &[EmitterPlan],
    ) -> Option<ReceiverPlan> {
        let before = self.errors.len();
        let protocol = match raw.protocol.as_ref().map(|p| *p.get_ref()) {
            None | Some(RawProtocol::KobjectUevent) => Protocol::KobjectUevent,
            Some(RawProtocol::Usersock) => Protocol::Usersock,
            Some(RawProtocol::Route) => Protocol::Route,
        };
        let groups = match &raw.groups {
            // Group 1 is the uevent group, and RTNLGRP_LINK on NETLINK_ROUTE.
            None if protocol != Protocol::Usersock => vec![1],
            None => {
                self.error(
                    path,
                    Some(raw.name.span()),
                    "a usersock receiver needs `groups`, e.g. groups = [1]",
                );
                vec![]
            }
            Some(g) => {
                let out = self
                    .group_list(&format!("{path}.groups"), g.get_ref())
                    .unwrap_or_default();
                if g.get_ref().is_empty() {
                    self.error(
                        &format!("{path}.groups"),
                        Some(g.span()),
                        "a receiver must join at least one group",
                    );
                }
                out
            }
        };
        let rcvbuf = self.rcvbuf(path, raw, emitter_names, emitters);
        let read_buffer = match &raw.read_buffer {
            None => NonZeroU32::new(DEFAULT_READ_BUFFER),
            Some(v) => self.size(&format!("{path}.read-buffer"), v).and_then(|n| {
                let r = u32::try_from(n)
                    .ok()
                    .filter(|&n| n <= 16 << 20)
                    .and_then(NonZeroU32::new);
                if r.is_none() {
                    self.error(
                        &format!("{path}.read-buffer"),
                        Some(v.span()),
                        "read-buffer must be 1 byte..=16MiB",
                    );
                }
                r
            }),
        };
        let mode = match (raw.mode.as_ref().map(|m| *m.get_ref()), &raw.batch) {
            (Some(RawMode::Batch), Some(b)) => match u32::try_from(*b.get_ref())
                .ok()
                .filter(|&n| n <= 1024)
                .and_then(NonZeroU32::new)
            {
                Some(size) => Some(ReadMode::Batch { size }),
                None => {
                    self.error(
                        &format!("{path}.batch"),
                        Some(b.span()),
                        "batch must be 1..=1024 messages",
                    );
                    None
                }
            },
            (Some(RawMode::Batch), None) => Some(ReadMode::Batch {
                size: NonZeroU32::new(32).expect("nonzero"),
            }),
            (_, Some(b)) => {
                self.error(
                    &format!("{path}.batch"),
                    Some(b.span()),
                    "`batch` goes with mode = \"batch\"",
                );
                None
            }
            (None | Some(RawMode::Blocking), None) => Some(ReadMode::Blocking),
            (Some(RawMode::Poll), None) => Some(ReadMode::Poll),
        };
        let dur = |cx: &mut Self,
                   key: &str,
                   v: &Option<Spanned<DurationText>>,
                   zero_ok: bool,
                   default: Duration| match v {
            Some(v) => cx.duration(&format!("{path}.{key}"), v, zero_ok),
            None => Some(default),
        };
        let call_deadline = dur(
            self,
            "call-deadline",
            &raw.call_deadline,
            false,
            DEFAULT_CALL_DEADLINE,
        );
        let consumer_delay = dur(
            self,
            "consumer-delay",
            &raw.consumer_delay,
            true,
            Duration::ZERO,
        );
        let start_reading = match &raw.start_reading_after {
            Some(v) if &**v.get_ref() == "emission-end" => Some(ReadStart::EmissionEnd),
            v => dur(self, "start-reading-after", v, true, Duration::ZERO)
                .map(|delay| ReadStart::After { delay }),
        };
        let filter_drop_emitters =
            self.filter_drop_emitters(path, raw, protocol, &groups, emitter_names, emitters);
        let flag = |v: &Option<Spanned<bool>>| v.as_ref().is_some_and(|b| *b.get_ref());
        for (key, v) in [("so-error-first", &raw.so_error_first), ("peek", &raw.peek)] {
            if let (Some(v), Some(ReadMode::Batch { .. })) = (v, mode) {
                self.error(
                    &format!("{path}.{key}"),
                    Some(v.span()),
                    format!("`{key}` changes each recvmsg; it does not go with mode = \"batch\" (recvmmsg)"),
                );
            }
        }
        let expectations = self.expectations(path, raw.expect.as_ref());
        let cpu = self.cpu(&format!("{path}.cpu"), raw.cpu.as_ref());
        let steps = self.steps(path, raw);
        if self.errors.len() > before {
            return None;
        }
        Some(ReceiverPlan {
            name: Name::sanitised(raw.name.get_ref(), "unnamed"),
            protocol,
            groups,
            rcvbuf: rcvbuf?,
            read_buffer: read_buffer?,
            mode: mode?,
            call_deadline: call_deadline?,
            consumer_delay: consumer_delay?,
            start_reading: start_reading?,
            no_enobufs: raw.no_enobufs.unwrap_or(false),
            so_error_first: flag(&raw.so_error_first),
            peek: flag(&raw.peek),
            filter_drop_emitters,
            cpu,
            steps,
            broadcast_error: raw.broadcast_error.unwrap_or(false),
            expectations,
        })
    }

    /// `steps`: changes to the socket while the run goes on, each at its time and with
    /// exactly one action, kept in time order.
    fn steps(&mut self, path: &str, raw: &RawReceiver) -> Vec<StepPlan> {
        let Some(list) = &raw.steps else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (n, step) in list.get_ref().iter().enumerate() {
            let key = format!("{path}.steps[{n}]");
            let s = step.get_ref();
            let at = self.duration(&format!("{key}.at"), &s.at, true);
            let mut actions = Vec::new();
            if let Some(v) = &s.rcvbuf {
                actions.push(
                    self.rcvbuf_request(&format!("{key}.rcvbuf"), v)
                        .map(|bytes| StepAction::Rcvbuf { bytes }),
                );
            }
            if let Some(v) = &s.rcvbuf_force {
                actions.push(
                    self.rcvbuf_request(&format!("{key}.rcvbuf-force"), v)
                        .map(|bytes| StepAction::RcvbufForce { bytes }),
                );
            }
            if let Some(g) = &s.join {
                actions.push(
                    self.step_groups(&format!("{key}.join"), g)
                        .map(|groups| StepAction::Join { groups }),
                );
            }
            if let Some(g) = &s.leave {
                actions.push(
                    self.step_groups(&format!("{key}.leave"), g)
                        .map(|groups| StepAction::Leave { groups }),
                );
            }
            if let Some(d) = &s.detach_filter {
                actions.push(d.get_ref().then_some(StepAction::DetachFilter));
                if !*d.get_ref() {
                    self.error(
                        &format!("{key}.detach-filter"),
                        Some(d.span()),
                        "write detach-filter = true, or leave the step out",
                    );
                }
                if raw.filter_drop_emitters.is_none() {
                    self.error(
                        &format!("{key}.detach-filter"),
                        Some(d.span()),
                        "the receiver has no filter to detach (`filter-drop-emitters`)",
                    );
                }
            }
            match (actions.len(), at) {
                (1, Some(at)) => {
                    if let Some(Some(action)) = actions.pop() {
                        out.push(StepPlan { at, action });
                    }
                }
                (1, None) => {}
                _ => self.error(
                    &key,
                    Some(step.span()),
                    "a step does one thing: rcvbuf, rcvbuf-force, join, leave or detach-filter",
                ),
            }
        }
        out.sort_by_key(|s| s.at);
        out
    }

    fn step_groups(&mut self, key: &str, g: &Spanned<Vec<Spanned<i64>>>) -> Option<Vec<u32>> {
        let out = self.group_list(key, g.get_ref())?;
        if out.is_empty() {
            self.error(key, Some(g.span()), "name at least one group");
            return None;
        }
        Some(out)
    }

    /// `filter-drop-emitters`: names of usersock emitters that reach this receiver. Only
    /// usersock carries the emitter at a fixed offset a classic BPF filter can read; a
    /// uevent is text whose keys move with the device path.
    pub(super) fn filter_drop_emitters(
        &mut self,
        path: &str,
        raw: &RawReceiver,
        protocol: Protocol,
        groups: &[u32],
        emitter_names: &[&str],
        emitters: &[EmitterPlan],
    ) -> Vec<Name> {
        let Some(list) = &raw.filter_drop_emitters else {
            return vec![];
        };
        let key = format!("{path}.filter-drop-emitters");
        if protocol != Protocol::Usersock {
            self.error(
                &key,
                Some(list.span()),
                "a socket filter can tell emitters apart only on usersock, whose header has the emitter at a fixed offset; a uevent's keys have none",
            );
            return vec![];
        }
        let mut out = Vec::new();
        for n in list.get_ref() {
            if !emitter_names.contains(&n.get_ref().as_str()) {
                self.error(
                    &key,
                    Some(n.span()),
                    format!(
                        "no emitter named `{}` (emitters: {})",
                        n.get_ref(),
                        emitter_names.join(", ")
                    ),
                );
                continue;
            }
            // An emitter with errors of its own is reported there.
            let Some(e) = emitters.iter().find(|e| e.name == *n.get_ref()) else {
                continue;
            };
            let (p, g) = e.kind.destination();
            if p != protocol || !groups.contains(&g) {
                self.error(
                    &key,
                    Some(n.span()),
                    format!(
                        "emitter `{}` does not reach this receiver (another family or group): there is nothing to filter",
                        e.name
                    ),
                );
                continue;
            }
            out.push(e.name.clone());
        }
        if list.get_ref().is_empty() {
            self.error(&key, Some(list.span()), "name at least one emitter");
        }
        out
    }

    pub(super) fn rcvbuf(
        &mut self,
        path: &str,
        raw: &RawReceiver,
        emitter_names: &[&str],
        emitters: &[EmitterPlan],
    ) -> Option<RcvbufPlan> {
        let set: Vec<Range<usize>> = [
            raw.rcvbuf.as_ref().map(|v| v.span()),
            raw.rcvbuf_force.as_ref().map(|v| v.span()),
            raw.rcvbuf_fit.as_ref().map(|v| v.span()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if set.len() > 1 {
            self.error(
                path,
                Some(set[1].clone()),
                "give one of `rcvbuf`, `rcvbuf-force`, `rcvbuf-fit`",
            );
            return None;
        }
        if let Some(v) = &raw.rcvbuf {
            return self
                .rcvbuf_request(&format!("{path}.rcvbuf"), v)
                .map(|bytes| RcvbufPlan::Request { bytes });
        }
        if let Some(v) = &raw.rcvbuf_force {
            return self
                .rcvbuf_request(&format!("{path}.rcvbuf-force"), v)
                .map(|bytes| RcvbufPlan::Force { bytes });
        }
        if let Some(v) = &raw.rcvbuf_fit {
            let Some(i) = emitter_names.iter().position(|n| n == v.get_ref()) else {
                self.error(
                    &format!("{path}.rcvbuf-fit"),
                    Some(v.span()),
                    format!(
                        "no emitter named `{}` (emitters: {})",
                        v.get_ref(),
                        emitter_names.join(", ")
                    ),
                );
                return None;
            };
            if let Some(e) = emitters.iter().find(|e| e.name == *v.get_ref()) {
                if SendTimes::first_burst(&e.schedule).is_none() {
                    self.error(
                        &format!("{path}.rcvbuf-fit"),
                        Some(v.span()),
                        format!(
                            "emitter `{}` has no burst to fit: use a burst or a flood with a count",
                            e.name
                        ),
                    );
                    return None;
                }
            }
            return Some(RcvbufPlan::FitBurst { emitter: i });
        }
        Some(RcvbufPlan::Default)
    }
}
