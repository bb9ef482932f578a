//! `[[dump]]`, `[[churn]]`, `veths` and `tcp-connections`: the hang workloads.

use super::*;
use crate::bpf::drop_types;

const DEFAULT_DUMP_COUNT: u64 = 100;
const DEFAULT_DUMP_INTERVAL: Duration = Duration::from_millis(10);
const DEFAULT_DUMP_READ_BUFFER: u32 = 32 * 1024;
const DEFAULT_DUMP_CALL_DEADLINE: Duration = Duration::from_millis(200);

impl Cx<'_> {
    fn small_count(&mut self, path: &str, v: &Spanned<i64>, max: i64) -> Option<u64> {
        match *v.get_ref() {
            n if (0..=max).contains(&n) => Some(n as u64),
            n => {
                self.error(path, Some(v.span()), format!("{n} is not in 0..={max}"));
                None
            }
        }
    }

    pub(super) fn world(&mut self, h: &RawHeader) -> World {
        World {
            veths: h
                .veths
                .as_ref()
                .and_then(|v| self.small_count("veths", v, Limits::VETHS.into()))
                .unwrap_or(0) as u32,
            tcp_connections: h
                .tcp_connections
                .as_ref()
                .and_then(|v| {
                    self.small_count("tcp-connections", v, Limits::TCP_CONNECTIONS.into())
                })
                .unwrap_or(0) as u32,
        }
    }

    pub(super) fn churn(&mut self, path: &str, raw: &RawChurn) -> Option<Churn> {
        let per_sec = *raw.per_sec.get_ref();
        if !(0.1..=100_000.0).contains(&per_sec) {
            self.error(
                &format!("{path}.per-sec"),
                Some(raw.per_sec.span()),
                "per-sec must be 0.1..=100000",
            );
            return None;
        }
        match raw.kind.get_ref().as_str() {
            "links" => Some(Churn::Links { per_sec }),
            "sockets" => Some(Churn::Sockets { per_sec }),
            other => {
                self.error(
                    &format!("{path}.kind"),
                    Some(raw.kind.span()),
                    format!("unknown churn `{other}`: use links or sockets"),
                );
                None
            }
        }
    }

    fn reaction(
        &mut self,
        path: &str,
        key: &str,
        v: &Option<Spanned<String>>,
        default: Reaction,
    ) -> Option<Reaction> {
        let Some(v) = v else {
            return Some(default);
        };
        match Reaction::ALL.iter().find(|(_, n)| n == v.get_ref()) {
            Some((r, _)) => Some(*r),
            None => {
                let names: Vec<&str> = Reaction::ALL.iter().map(|(_, n)| *n).collect();
                self.error(
                    &format!("{path}.{key}"),
                    Some(v.span()),
                    format!(
                        "unknown reaction `{}`: use {}",
                        v.get_ref(),
                        names.join(", ")
                    ),
                );
                None
            }
        }
    }

    fn dump_buffer(&mut self, path: &str, v: &Spanned<Quantity>) -> Option<u32> {
        let n = self.size(path, v)?;
        match u32::try_from(n)
            .ok()
            .filter(|n| (16..=16 << 20).contains(n))
        {
            Some(n) => Some(n),
            None => {
                self.error(path, Some(v.span()), "must be 16 bytes..=16MiB");
                None
            }
        }
    }

    fn filter(&mut self, path: &str, raw: &RawDump) -> Option<Vec<crate::bpf::Insn>> {
        match (&raw.filter_drop_types, &raw.filter_bpf) {
            (Some(_), Some(b)) => {
                self.error(
                    path,
                    Some(b.span()),
                    "give one of `filter-drop-types`, `filter-bpf`",
                );
                None
            }
            (Some(types), None) => {
                let mut out = Vec::new();
                for t in types.get_ref() {
                    match u16::try_from(*t.get_ref()) {
                        Ok(v) => out.push(v),
                        Err(_) => self.error(
                            &format!("{path}.filter-drop-types"),
                            Some(t.span()),
                            "a netlink message type is 0..=65535",
                        ),
                    }
                }
                if out.is_empty() || out.len() > 32 {
                    self.error(
                        &format!("{path}.filter-drop-types"),
                        Some(types.span()),
                        "give 1..=32 message types",
                    );
                    return None;
                }
                Some(drop_types(&out))
            }
            (None, Some(prog)) => {
                let mut out = Vec::new();
                for ins in prog.get_ref() {
                    let v = ins.get_ref();
                    let ok = v.len() == 4
                        && (0..=0xffff).contains(&v[0])
                        && (0..=255).contains(&v[1])
                        && (0..=255).contains(&v[2])
                        && (0..=u32::MAX as i64).contains(&v[3]);
                    if !ok {
                        self.error(
                            &format!("{path}.filter-bpf"),
                            Some(ins.span()),
                            "each instruction is [code, jt, jf, k] (u16, u8, u8, u32)",
                        );
                        return None;
                    }
                    out.push((v[0] as u16, v[1] as u8, v[2] as u8, v[3] as u32));
                }
                if out.is_empty() || out.len() > 4096 {
                    self.error(
                        &format!("{path}.filter-bpf"),
                        Some(prog.span()),
                        "a program has 1..=4096 instructions",
                    );
                    return None;
                }
                Some(out)
            }
            (None, None) => Some(vec![]),
        }
    }

    pub(super) fn dump(&mut self, path: &str, raw: &RawDump) -> Option<DumpPlan> {
        let before = self.errors.len();
        let request = match raw.request.get_ref().as_str() {
            "getlink" => Some(DumpRequest::Getlink),
            "inet-diag" => Some(DumpRequest::InetDiag),
            other => {
                self.error(
                    &format!("{path}.request"),
                    Some(raw.request.span()),
                    format!("unknown request `{other}`: use getlink or inet-diag"),
                );
                None
            }
        };
        let count = match &raw.count {
            Some(c) => self
                .small_count(&format!("{path}.count"), c, 10_000_000)
                .filter(|&n| n > 0),
            None => Some(DEFAULT_DUMP_COUNT),
        };
        let dur = |cx: &mut Self,
                   key: &str,
                   v: &Option<Spanned<DurationText>>,
                   zero_ok: bool,
                   d: Duration| {
            match v {
                Some(v) => cx.duration(&format!("{path}.{key}"), v, zero_ok),
                None => Some(d),
            }
        };
        let interval = dur(self, "interval", &raw.interval, true, DEFAULT_DUMP_INTERVAL);
        let call_deadline = dur(
            self,
            "call-deadline",
            &raw.call_deadline,
            false,
            DEFAULT_DUMP_CALL_DEADLINE,
        );
        let read_buffer = match &raw.read_buffer {
            Some(v) => self.dump_buffer(&format!("{path}.read-buffer"), v),
            None => Some(DEFAULT_DUMP_READ_BUFFER),
        };
        let event_read_buffer = match &raw.event_read_buffer {
            Some(v) => self
                .dump_buffer(&format!("{path}.event-read-buffer"), v)
                .map(Some),
            None => Some(None),
        };
        let rcvbuf = match (&raw.rcvbuf, &raw.rcvbuf_force) {
            (Some(_), Some(f)) => {
                self.error(path, Some(f.span()), "give one of `rcvbuf`, `rcvbuf-force`");
                None
            }
            (Some(v), None) => self
                .rcvbuf_request(&format!("{path}.rcvbuf"), v)
                .map(|bytes| RcvbufPlan::Request { bytes }),
            (None, Some(v)) => self
                .rcvbuf_request(&format!("{path}.rcvbuf-force"), v)
                .map(|bytes| RcvbufPlan::Force { bytes }),
            (None, None) => Some(RcvbufPlan::Default),
        };
        let blocking = match raw.mode.as_ref().map(|m| m.get_ref().as_str()) {
            None | Some("blocking") => Some(true),
            Some("nonblocking") => Some(false),
            Some(other) => {
                let span = raw.mode.as_ref().map(|m| m.span());
                self.error(
                    &format!("{path}.mode"),
                    span,
                    format!("unknown mode `{other}`: use blocking or nonblocking"),
                );
                None
            }
        };
        let groups = match &raw.groups {
            Some(g) => self
                .group_list(&format!("{path}.groups"), g.get_ref())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let filter = self.filter(path, raw);
        let d = DumpPolicy::default();
        let on_enobufs = self.reaction(path, "on-enobufs", &raw.on_enobufs, d.on_enobufs);
        let on_ebusy = self.reaction(path, "on-ebusy", &raw.on_ebusy, d.on_ebusy);
        let on_truncated = self.reaction(path, "on-truncated", &raw.on_truncated, d.on_truncated);
        let on_error = self.reaction(path, "on-error", &raw.on_error, d.on_error);
        let expectations = self.expectations(path, raw.expect.as_ref());
        if self.errors.len() > before {
            return None;
        }
        Some(DumpPlan {
            name: Name::sanitised(raw.name.get_ref(), "unnamed"),
            request: request?,
            count: count?,
            interval: interval?,
            read_buffer: read_buffer?,
            event_read_buffer: event_read_buffer?,
            rcvbuf: rcvbuf?,
            blocking: blocking?,
            groups,
            no_enobufs: raw.no_enobufs.unwrap_or(false),
            filter: filter?,
            call_deadline: call_deadline?,
            policy: DumpPolicy {
                on_enobufs: on_enobufs?,
                on_ebusy: on_ebusy?,
                on_truncated: on_truncated?,
                on_error: on_error?,
            },
            verify: raw.verify.unwrap_or(false),
            peek: raw.peek.unwrap_or(false),
            expectations,
        })
    }
}
