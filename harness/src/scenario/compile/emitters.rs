//! `[[emitter]]`: who floods, with what payload, on what schedule.

use super::*;

/// The payload of an emitter that names none, where its path takes that size.
const DEFAULT_PAYLOAD: u64 = 512;

impl Cx<'_> {
    pub(super) fn emitter(
        &mut self,
        index: usize,
        path: &str,
        raw: &RawEmitter,
        base: &Path,
    ) -> Option<EmitterPlan> {
        if *raw.kind.get_ref() == RawEmitterKind::Replay {
            return self.replay(path, raw, base);
        }
        self.no_replay_keys(path, raw);
        let Some(raw_schedule) = &raw.schedule else {
            self.error(
                path,
                Some(raw.kind.span()),
                "needs `schedule`, e.g. schedule = { kind = \"burst\", size = 36 }",
            );
            return None;
        };
        let before = self.errors.len();
        let kind = match (raw.kind.get_ref(), &raw.group) {
            (RawEmitterKind::Usersock, Some(g)) => self
                .group(&format!("{path}.group"), g)
                .map(|group| EmitterKind::Usersock { group }),
            (RawEmitterKind::Usersock, None) => {
                self.error(
                    path,
                    Some(raw.kind.span()),
                    "a usersock emitter needs `group` (1..=32)",
                );
                None
            }
            (_, Some(g)) => {
                self.error(
                    &format!("{path}.group"),
                    Some(g.span()),
                    "uevents and link changes always go to group 1; `group` is only for usersock",
                );
                None
            }
            (RawEmitterKind::KernelUevent, None) => Some(EmitterKind::KernelUevent),
            (RawEmitterKind::SyntheticUevent, None) => Some(EmitterKind::SyntheticUevent),
            (RawEmitterKind::InjectedUevent, None) => Some(EmitterKind::InjectedUevent),
            (RawEmitterKind::LinkAlias, None) => Some(EmitterKind::LinkAlias),
            (RawEmitterKind::Replay, None) => unreachable!("compiled by replay()"),
        };
        let payload = self.payload(index, path, raw);
        let schedule = self.schedule(&format!("{path}.schedule"), raw_schedule.get_ref());
        let start = self.emitter_start(path, raw);
        let cpu = self.cpu(&format!("{path}.cpu"), raw.cpu.as_ref());
        if self.errors.len() > before {
            return None;
        }
        Some(EmitterPlan {
            name: Name::sanitised(raw.name.get_ref(), "unnamed"),
            kind: kind?,
            schedule: schedule?,
            payload: payload?,
            start,
            cpu,
        })
    }

    /// `start`: the delay before an emitter's first message (zero when not written).
    pub(super) fn emitter_start(&mut self, path: &str, raw: &RawEmitter) -> Duration {
        raw.start
            .as_ref()
            .and_then(|s| self.duration(&format!("{path}.start"), s, true))
            .unwrap_or_default()
    }

    pub(super) fn payload(
        &mut self,
        index: usize,
        path: &str,
        raw: &RawEmitter,
    ) -> Option<PayloadPlan> {
        let kind = *raw.kind.get_ref();
        let path_kind = match kind {
            RawEmitterKind::KernelUevent => EmitterKind::KernelUevent,
            RawEmitterKind::SyntheticUevent => EmitterKind::SyntheticUevent,
            RawEmitterKind::InjectedUevent => EmitterKind::InjectedUevent,
            RawEmitterKind::LinkAlias => EmitterKind::LinkAlias,
            RawEmitterKind::Usersock => EmitterKind::Usersock { group: 1 },
            RawEmitterKind::Replay => unreachable!("compiled by replay()"),
        };
        if let Some(bare) = raw.bare.as_ref().filter(|b| *b.get_ref()) {
            return self.bare_payload(path, raw, path_kind, bare.span());
        }
        let plan = match (&raw.payload, &raw.contents) {
            (Some(p), Some(_)) => {
                self.error(
                    &format!("{path}.payload"),
                    Some(p.span()),
                    "give `payload` or `contents`, not both",
                );
                return None;
            }
            (None, Some(c)) => {
                if matches!(kind, RawEmitterKind::Usersock | RawEmitterKind::LinkAlias) {
                    self.error(
                        &format!("{path}.contents"),
                        Some(c.span()),
                        "`contents` is a uevent profile; usersock and link-alias take `payload`",
                    );
                    return None;
                }
                return Some(PayloadPlan::Contents {
                    profile: match c.get_ref() {
                        RawContents::UsbHotplug => ContentsProfile::UsbHotplug,
                    },
                });
            }
            // 512 B, or the nearest size the path takes (link-alias: 255 B, the longest
            // alias the kernel keeps).
            (None, None) => {
                let (min, max, _) = path_kind.payload_limits_at(index);
                PayloadPlan::Fixed {
                    bytes: DEFAULT_PAYLOAD.clamp(min, max) as u32,
                }
            }
            (Some(p), None) => self.payload_size(&format!("{path}.payload"), p)?,
        };
        let (lo, hi) = match plan {
            PayloadPlan::Fixed { bytes } => (bytes, bytes),
            PayloadPlan::Uniform { min, max } => (min, max),
            PayloadPlan::Contents { .. } | PayloadPlan::Trace { .. } | PayloadPlan::Bare { .. } => {
                unreachable!("returned above")
            }
        };
        if let Some(problem) = path_kind.payload_problem_at(index, u64::from(lo), u64::from(hi)) {
            // Said at the payload written, else at the emitter: an emitter is never
            // dropped without a word.
            let (key, span) = match &raw.payload {
                Some(p) => (format!("{path}.payload"), Some(p.span())),
                None => (path.to_string(), Some(raw.kind.span())),
            };
            self.error(&key, span, problem);
            return None;
        }
        Some(plan)
    }

    /// `bare = true`: messages without nlstorm's keys. A kernel-uevent emitter writes the
    /// action alone (the kernel decides the size, so no `payload`); a usersock emitter
    /// sends `payload` zero bytes, from 1 B (no 16-byte header to fit).
    fn bare_payload(
        &mut self,
        path: &str,
        raw: &RawEmitter,
        kind: EmitterKind,
        span: std::ops::Range<usize>,
    ) -> Option<PayloadPlan> {
        let key = format!("{path}.bare");
        if let Some(c) = &raw.contents {
            self.error(&key, Some(c.span()), "a bare emitter has no `contents`");
            return None;
        }
        match kind {
            EmitterKind::KernelUevent => match &raw.payload {
                Some(p) => {
                    self.error(
                        &format!("{path}.payload"),
                        Some(p.span()),
                        "a bare kernel uevent is the kernel's own keys, so its size is the kernel's: leave out `payload`",
                    );
                    None
                }
                None => Some(PayloadPlan::Bare { bytes: 0 }),
            },
            EmitterKind::Usersock { .. } => {
                let bytes = match &raw.payload {
                    None => DEFAULT_PAYLOAD,
                    Some(p) => match self.payload_size(&format!("{path}.payload"), p)? {
                        PayloadPlan::Fixed { bytes } => u64::from(bytes),
                        _ => {
                            self.error(
                                &format!("{path}.payload"),
                                Some(p.span()),
                                "a bare emitter takes one size, not a range",
                            );
                            return None;
                        }
                    },
                };
                if !(1..=crate::plan::USER_PAYLOAD_MAX).contains(&bytes) {
                    self.error(
                        &format!("{path}.payload"),
                        raw.payload.as_ref().map(|p| p.span()),
                        format!(
                            "a bare usersock message is 1..={} bytes",
                            crate::plan::USER_PAYLOAD_MAX
                        ),
                    );
                    return None;
                }
                Some(PayloadPlan::Bare {
                    bytes: bytes as u32,
                })
            }
            other => {
                self.error(
                    &key,
                    Some(span),
                    format!(
                        "`bare` is for kernel-uevent and usersock emitters, not {}",
                        other.name()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn payload_size(
        &mut self,
        key_path: &str,
        p: &Spanned<Quantity>,
    ) -> Option<PayloadPlan> {
        if let Quantity::Text(t) = p.get_ref() {
            if let Some((a, b)) = t.split_once("..") {
                let lo = parse_size(a)
                    .map_err(|e| self.error(key_path, Some(p.span()), e.to_string()))
                    .ok()?;
                let hi = parse_size(b)
                    .map_err(|e| self.error(key_path, Some(p.span()), e.to_string()))
                    .ok()?;
                if lo > hi || hi > u64::from(u32::MAX) {
                    self.error(
                        key_path,
                        Some(p.span()),
                        format!("range {t} is empty or too large"),
                    );
                    return None;
                }
                return Some(PayloadPlan::Uniform {
                    min: lo as u32,
                    max: hi as u32,
                });
            }
        }
        let n = self.size(key_path, p)?;
        Some(PayloadPlan::Fixed {
            bytes: u32::try_from(n).unwrap_or(u32::MAX),
        })
    }

    pub(super) fn schedule(&mut self, path: &str, s: &RawSchedule) -> Option<Schedule> {
        let kind = *s.kind.get_ref();
        let allowed: &[&str] = match kind {
            RawScheduleKind::Burst => &["size", "gap", "count"],
            RawScheduleKind::Rate | RawScheduleKind::Poisson => &["per-sec", "duration"],
            RawScheduleKind::Ramp => &["from", "to", "duration"],
            RawScheduleKind::Flood => &["count", "duration"],
        };
        let present = [
            ("size", s.size.as_ref().map(|v| v.span())),
            ("gap", s.gap.as_ref().map(|v| v.span())),
            ("count", s.count.as_ref().map(|v| v.span())),
            ("per-sec", s.per_sec.as_ref().map(|v| v.span())),
            ("from", s.from.as_ref().map(|v| v.span())),
            ("to", s.to.as_ref().map(|v| v.span())),
            ("duration", s.duration.as_ref().map(|v| v.span())),
        ];
        let before = self.errors.len();
        for (key, span) in present {
            if let Some(span) = span {
                if !allowed.contains(&key) {
                    self.error(
                        &format!("{path}.{key}"),
                        Some(span),
                        format!(
                            "a {} schedule takes {}; not `{key}`",
                            kind_str(kind),
                            allowed.join(", ")
                        ),
                    );
                }
            }
        }
        let missing = |cx: &mut Self, key: &str| {
            cx.error(
                path,
                Some(s.kind.span()),
                format!("a {} schedule needs `{key}`", kind_str(kind)),
            )
        };
        let dur = |cx: &mut Self| match &s.duration {
            Some(d) => cx.duration(&format!("{path}.duration"), d, false),
            None => {
                missing(cx, "duration");
                None
            }
        };
        let rate = |cx: &mut Self, key: &str, v: &Option<Spanned<f64>>| match v {
            Some(r) => cx.positive_rate(&format!("{path}.{key}"), r),
            None => {
                missing(cx, key);
                None
            }
        };
        let out = match kind {
            RawScheduleKind::Burst => {
                let size = match &s.size {
                    Some(v) => self.count(&format!("{path}.size"), v),
                    None => {
                        missing(self, "size");
                        None
                    }
                };
                let count = s.count.as_ref().map_or(NonZeroU64::new(1), |c| {
                    self.count(&format!("{path}.count"), c)
                });
                let gap = s.gap.as_ref().map_or(Some(Duration::ZERO), |g| {
                    self.duration(&format!("{path}.gap"), g, true)
                });
                if count.is_some_and(|c| c.get() > 1) && gap == Some(Duration::ZERO) {
                    self.error(
                        path,
                        Some(s.kind.span()),
                        "several bursts need a `gap` longer than zero, or they are one burst",
                    );
                }
                Schedule::Burst {
                    size: size?,
                    gap: gap?,
                    count: count?,
                }
            }
            RawScheduleKind::Rate => Schedule::Rate {
                per_sec: rate(self, "per-sec", &s.per_sec)?,
                duration: dur(self)?,
            },
            RawScheduleKind::Poisson => Schedule::Poisson {
                per_sec: rate(self, "per-sec", &s.per_sec)?,
                duration: dur(self)?,
            },
            RawScheduleKind::Ramp => {
                let from = rate(self, "from", &s.from);
                let to = rate(self, "to", &s.to);
                Schedule::Ramp {
                    from: from?,
                    to: to?,
                    duration: dur(self)?,
                }
            }
            RawScheduleKind::Flood => {
                let count = s
                    .count
                    .as_ref()
                    .and_then(|c| self.count(&format!("{path}.count"), c));
                let duration = s
                    .duration
                    .as_ref()
                    .and_then(|d| self.duration(&format!("{path}.duration"), d, false));
                if s.count.is_none() && s.duration.is_none() {
                    self.error(
                        path,
                        Some(s.kind.span()),
                        "a flood needs `count`, `duration`, or both (whichever ends first)",
                    );
                }
                Schedule::Flood { count, duration }
            }
        };
        (self.errors.len() == before).then_some(out)
    }
}

pub(super) fn kind_str(k: RawScheduleKind) -> &'static str {
    match k {
        RawScheduleKind::Burst => "burst",
        RawScheduleKind::Rate => "rate",
        RawScheduleKind::Poisson => "poisson",
        RawScheduleKind::Ramp => "ramp",
        RawScheduleKind::Flood => "flood",
    }
}
