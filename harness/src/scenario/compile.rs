//! Raw scenario -> [`Plan`]: defaults applied, every value checked, every problem
//! collected with its location.

use std::collections::HashSet;
use std::num::{NonZeroU32, NonZeroU64};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diag::{ScenarioError, ScenarioErrors, SourceMap};
use super::keys::{fields_of, strip_unknown, Table};
use super::raw::*;
use crate::plan::*;
use crate::schedule::SendTimes;
use crate::units::{parse_duration, parse_size};
use crate::untrusted::Limits;

mod dumps;
mod emitters;
mod expect;
mod programs;
mod receivers;
mod replay;

const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(1);
const DEFAULT_READ_BUFFER: u32 = 64 * 1024;

/// Reads and compiles the scenario at `path`.
pub fn load(path: &Path) -> Result<Plan, ScenarioErrors> {
    load_source(path).map(|s| s.plan)
}

/// A scenario file as read once: its text (what a run record keeps, even if the file
/// changes while the run goes on) and the plan compiled from it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The text read.
    pub text: String,
    /// The plan compiled from it.
    pub plan: Plan,
}

/// Reads and compiles `path` once.
pub fn load_source(path: &Path) -> Result<Source, ScenarioErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioErrors(vec![ScenarioError {
            location: path.display().to_string(),
            key_path: String::new(),
            message: format!("cannot read the file: {e}"),
        }])
    })?;
    let plan = compile_str(path, &text)?;
    Ok(Source { text, plan })
}

/// Compiles scenario text; `path` is used for locations and the default name.
pub fn compile_str(path: &Path, text: &str) -> Result<Plan, ScenarioErrors> {
    let mut cx = Cx {
        map: SourceMap::new(path, text),
        errors: Vec::new(),
    };
    let root = match DeTable::parse(text) {
        Ok(t) => {
            let span = t.span();
            Spanned::new(span, DeValue::Table(t.into_inner()))
        }
        Err(e) => {
            cx.toml_error("", &e);
            return Err(cx.finish());
        }
    };
    let header: Option<RawHeader> = cx.element("", root.clone());
    let emitters_raw: Vec<(String, RawEmitter)> = cx.array(&root, "emitter");
    let receivers_raw: Vec<(String, RawReceiver)> = cx.array(&root, "receiver");
    let dumps_raw: Vec<(String, RawDump)> = cx.array(&root, "dump");
    let churn_raw: Vec<(String, RawChurn)> = cx.array(&root, "churn");
    let programs_raw: Vec<(String, RawProgram)> = cx.array(&root, "program");

    // The file's own name is the user's choice, so it is made valid rather than refused.
    let default_name = Name::sanitised(
        &path
            .file_stem()
            .map_or(String::new(), |s| s.to_string_lossy().into_owned()),
        "scenario",
    );
    let (name, description, seed, deadline) = match &header {
        Some(h) => (
            h.name.as_ref().map_or(default_name.clone(), |n| {
                match Name::new(n.get_ref().as_str()) {
                    Ok(name) => name,
                    Err(e) => {
                        cx.error(
                            "name",
                            Some(n.span()),
                            format!("scenario name {}: {e}", quoted(n.get_ref())),
                        );
                        default_name.clone()
                    }
                }
            }),
            h.description.clone().unwrap_or_default(),
            cx.seed(h.seed.as_ref()),
            h.deadline
                .as_ref()
                .and_then(|d| cx.duration("deadline", d, false))
                .unwrap_or(DEFAULT_DEADLINE),
        ),
        None => (default_name, String::new(), 0, DEFAULT_DEADLINE),
    };

    // Written at all, even if an element failed to parse (that error is reported).
    let written = |key: &str| root.get_ref().get(key).is_some();
    let (has_emitters, has_receivers, has_dumps) = (
        written("emitter"),
        written("receiver") || written("program"),
        written("dump"),
    );
    if !has_emitters && !has_dumps && header.is_some() {
        cx.error(
            "",
            None,
            "no [[emitter]] and no [[dump]]: a scenario needs at least one",
        );
    }
    if has_emitters && !has_receivers && !has_dumps && header.is_some() {
        cx.error(
            "",
            None,
            "no [[receiver]], [[program]] or [[dump]]: nobody would listen to the emitters",
        );
    }
    let world = header.as_ref().map(|h| cx.world(h)).unwrap_or_default();

    let base = path.parent().unwrap_or(Path::new("."));
    let mut seen = HashSet::new();
    let emitters: Vec<EmitterPlan> = emitters_raw
        .iter()
        .filter_map(|(path, raw)| {
            cx.unique(&mut seen, path, &raw.name, "emitter");
            cx.emitter(path, raw, base)
        })
        .collect();
    let emitter_names: Vec<&str> = emitters_raw
        .iter()
        .map(|(_, e)| e.name.get_ref().as_str())
        .collect();
    let mut seen = HashSet::new();
    let receivers: Vec<ReceiverPlan> = receivers_raw
        .iter()
        .filter_map(|(path, raw)| {
            cx.unique(&mut seen, path, &raw.name, "receiver");
            cx.receiver(path, raw, &emitter_names, &emitters)
        })
        .collect();

    let mut seen = HashSet::new();
    let dumps: Vec<DumpPlan> = dumps_raw
        .iter()
        .filter_map(|(path, raw)| {
            cx.unique(&mut seen, path, &raw.name, "dump client");
            cx.dump(path, raw)
        })
        .collect();
    let churn: Vec<Churn> = churn_raw
        .iter()
        .filter_map(|(path, raw)| cx.churn(path, raw))
        .collect();
    let mut seen = HashSet::new();
    let programs: Vec<ProgramPlan> = programs_raw
        .iter()
        .filter_map(|(path, raw)| {
            cx.unique(&mut seen, path, &raw.name, "program");
            cx.program(path, raw, base, &emitter_names, &emitters)
        })
        .collect();
    if !programs.is_empty() && emitters.is_empty() {
        cx.error(
            "program",
            None,
            "a [[program]] is judged by what it makes of the emitters' messages: add an [[emitter]]",
        );
    }
    if churn.iter().any(|c| matches!(c, Churn::Links { .. })) && world.veths == 0 {
        cx.error(
            "churn",
            None,
            "links churn toggles the sandbox's veths: set `veths` (e.g. veths = 8)",
        );
    }
    if churn.iter().any(|c| matches!(c, Churn::Sockets { .. })) && world.tcp_connections == 0 {
        cx.error("churn", None, "sockets churn connects to the sandbox's listener: set `tcp-connections` (e.g. tcp-connections = 16)");
    }
    if let (Some(h), true) = (&header, cx.errors.is_empty()) {
        cx.check_deadline(h, deadline, &emitters, &receivers);
    }
    if cx.errors.is_empty() {
        cx.check_limits(&root, &emitters, &receivers, &dumps, churn.len());
        cx.check_program_limits(&root, &programs);
    }
    if !cx.errors.is_empty() {
        return Err(cx.finish());
    }
    Ok(Plan {
        name,
        description,
        seed,
        deadline,
        emitters,
        receivers,
        dumps,
        world,
        churn,
        programs,
        timing_bound: header
            .as_ref()
            .and_then(|h| h.timing_bound)
            .unwrap_or(false),
    })
}

/// A value from the file quoted in a message, its control characters escaped.
fn quoted(v: &str) -> String {
    format!("{v:?}")
}

struct Cx<'a> {
    map: SourceMap<'a>,
    /// Problems with the byte offset they point at, so they can be listed in file order.
    errors: Vec<(usize, ScenarioError)>,
}

impl Cx<'_> {
    fn finish(mut self) -> ScenarioErrors {
        self.errors.sort_by_key(|(at, _)| *at);
        ScenarioErrors(self.errors.into_iter().map(|(_, e)| e).collect())
    }
}

impl Cx<'_> {
    /// The machine-wide bounds of [`Limits`]: counts point at the first table over the
    /// bound, totals at the file.
    fn check_limits(
        &mut self,
        root: &Spanned<DeValue<'_>>,
        emitters: &[EmitterPlan],
        receivers: &[ReceiverPlan],
        dumps: &[DumpPlan],
        churn: usize,
    ) {
        for (key, n, max) in [
            ("emitter", emitters.len(), Limits::EMITTERS),
            ("receiver", receivers.len(), Limits::RECEIVERS),
            ("dump", dumps.len(), Limits::DUMPS),
            ("churn", churn, Limits::CHURN),
        ] {
            if n > max {
                let span = root.get_ref().get(key).and_then(|v| {
                    v.get_ref()
                        .as_array()
                        .and_then(|a| a.get(max))
                        .map(|t| t.span())
                });
                self.error(
                    &format!("{key}[{max}]"),
                    span,
                    format!("{n} [[{key}]] tables: a scenario has at most {max}"),
                );
            }
        }
        let threads = emitters.len() + receivers.len() + dumps.len() + churn;
        if threads > Limits::THREADS {
            self.error(
                "",
                None,
                format!(
                    "{threads} emitters, receivers, dump clients and churn in all: a run starts a thread for each, at most {}",
                    Limits::THREADS
                ),
            );
        }
        let read: u64 =
            receivers
                .iter()
                .map(|r| {
                    let batch = match r.mode {
                        ReadMode::Batch { size } => u64::from(size.get()),
                        _ => 1,
                    };
                    u64::from(r.read_buffer.get()) * batch
                })
                .chain(dumps.iter().map(|d| {
                    u64::from(d.read_buffer) + u64::from(d.event_read_buffer.unwrap_or(0))
                }))
                .sum();
        if read > Limits::READ_MEMORY {
            self.error(
                "",
                None,
                format!(
                    "the read buffers add up to {read} bytes (read-buffer x batch per receiver, plus each dump client's buffers): at most {} (1GiB)",
                    Limits::READ_MEMORY
                ),
            );
        }
        let forced: u64 = receivers
            .iter()
            .map(|r| &r.rcvbuf)
            .chain(dumps.iter().map(|d| &d.rcvbuf))
            .map(|b| match *b {
                RcvbufPlan::Force { bytes } => 2 * bytes.min(i32::MAX as u64 / 2),
                _ => 0,
            })
            .sum();
        if forced > Limits::FORCED_QUEUE_MEMORY {
            self.error(
                "",
                None,
                format!(
                    "the rcvbuf-force requests let the queues pin {forced} bytes of kernel memory (twice each request): at most {} (4GiB)",
                    Limits::FORCED_QUEUE_MEMORY
                ),
            );
        }
    }

    /// Programs are processes, not threads: their own bound, and the time before the
    /// first send they may take (start delays and ready timeouts), which the run's
    /// deadline does not cover.
    fn check_program_limits(&mut self, root: &Spanned<DeValue<'_>>, programs: &[ProgramPlan]) {
        let max = Limits::PROGRAMS;
        if programs.len() > max {
            let span = root.get_ref().get("program").and_then(|v| {
                v.get_ref()
                    .as_array()
                    .and_then(|a| a.get(max))
                    .map(|t| t.span())
            });
            self.error(
                &format!("program[{max}]"),
                span,
                format!(
                    "{} [[program]] tables: a scenario has at most {max}",
                    programs.len()
                ),
            );
        }
        let setup: Duration = programs.iter().map(|p| p.start + p.ready_timeout).sum();
        if setup > Limits::PROGRAM_SETUP {
            self.error(
                "program",
                None,
                format!(
                    "the programs' start delays and ready timeouts add up to {}: at most {} may pass before the first send",
                    crate::units::format_duration(setup),
                    crate::units::format_duration(Limits::PROGRAM_SETUP)
                ),
            );
        }
    }

    fn error(&mut self, key_path: &str, span: Option<Range<usize>>, message: impl Into<String>) {
        let at = span.as_ref().map_or(0, |s| s.start);
        self.errors.push((
            at,
            ScenarioError {
                location: self.map.locate(span),
                key_path: key_path.to_string(),
                message: message.into(),
            },
        ));
    }

    fn toml_error(&mut self, key_path: &str, e: &toml::de::Error) {
        let message = e.message().trim().to_string();
        self.error(key_path, e.span(), message);
    }

    /// Deserialises one table; its unknown keys are all reported (and left out, so the
    /// rest is still checked), a structural error is recorded and yields `None`.
    fn element<T: Table>(&mut self, key_path: &str, mut v: Spanned<DeValue<'_>>) -> Option<T> {
        // The errors recorded here fail the compilation, so the rest of the table is
        // compiled only to find its other problems.
        let nested = T::nested();
        let nested: Vec<(&str, &[&str])> = nested.iter().map(|(k, f)| (*k, &f[..])).collect();
        for u in strip_unknown(&mut v, key_path, T::WHAT, fields_of::<T>(), &nested) {
            self.error(&u.key_path, Some(u.span), u.message);
        }
        // serde's error has a span but no key: name the key whose value holds the span.
        let keys: Vec<(String, Range<usize>)> = match v.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .map(|(k, x)| (k.get_ref().to_string(), x.span()))
                .collect(),
            _ => Vec::new(),
        };
        match T::deserialize(ValueDeserializer::from(v)) {
            Ok(t) => Some(t),
            Err(e) => {
                let at = e.span().map(|s| s.start);
                let key = keys
                    .iter()
                    .find(|(_, span)| at.is_some_and(|a| span.contains(&a)))
                    .map(|(k, _)| k.as_str());
                match key {
                    Some(k) if key_path.is_empty() => self.toml_error(k, &e),
                    Some(k) => self.toml_error(&format!("{key_path}.{k}"), &e),
                    None => self.toml_error(key_path, &e),
                }
                None
            }
        }
    }

    fn array<T: Table>(&mut self, root: &Spanned<DeValue<'_>>, key: &str) -> Vec<(String, T)> {
        let Some(v) = root.get_ref().get(key) else {
            return Vec::new();
        };
        let Some(items) = v.get_ref().as_array() else {
            self.error(
                key,
                Some(v.span()),
                format!("`{key}` must be an array of tables: write [[{key}]]"),
            );
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let path = format!("{key}[{i}]");
                self.element(&path, item.clone()).map(|t| (path, t))
            })
            .collect()
    }

    /// Checks an element's name; its plan takes the name only when this recorded no
    /// error, since any error fails the whole compilation.
    fn unique(
        &mut self,
        seen: &mut HashSet<String>,
        path: &str,
        name: &Spanned<String>,
        what: &str,
    ) {
        let n = name.get_ref();
        if let Err(e) = Name::new(n.as_str()) {
            self.error(
                &format!("{path}.name"),
                Some(name.span()),
                format!("{what} name {}: {e}", quoted(n)),
            );
        } else if !seen.insert(n.clone()) {
            self.error(
                &format!("{path}.name"),
                Some(name.span()),
                format!("another {what} is already named `{n}`"),
            );
        }
    }

    fn seed(&mut self, seed: Option<&Spanned<i64>>) -> u64 {
        match seed {
            None => 0,
            Some(s) if *s.get_ref() >= 0 => *s.get_ref() as u64,
            Some(s) => {
                self.error("seed", Some(s.span()), "seed must be zero or positive");
                0
            }
        }
    }

    fn duration(
        &mut self,
        key_path: &str,
        v: &Spanned<DurationText>,
        zero_ok: bool,
    ) -> Option<Duration> {
        match parse_duration(v.get_ref()) {
            Ok(d) if d.is_zero() && !zero_ok => {
                self.error(key_path, Some(v.span()), "must be longer than zero");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(key_path, Some(v.span()), e.to_string());
                None
            }
        }
    }

    fn size(&mut self, key_path: &str, v: &Spanned<Quantity>) -> Option<u64> {
        match v.get_ref() {
            Quantity::Int(i) if *i >= 0 => Some(*i as u64),
            Quantity::Text(t) => match parse_size(t) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.error(key_path, Some(v.span()), e.to_string());
                    None
                }
            },
            other => {
                self.error(
                    key_path,
                    Some(v.span()),
                    format!("{other} is not a size: write bytes (1024) or \"4KiB\""),
                );
                None
            }
        }
    }

    /// A size that is a buffer request: in [`RcvbufRequest`]'s range.
    fn rcvbuf_request(&mut self, key_path: &str, v: &Spanned<Quantity>) -> Option<u64> {
        let n = self.size(key_path, v)?;
        match RcvbufRequest::new(n) {
            Ok(r) => Some(r.bytes()),
            Err(e) => {
                self.error(key_path, Some(v.span()), e.to_string());
                None
            }
        }
    }

    fn count(&mut self, key_path: &str, v: &Spanned<i64>) -> Option<NonZeroU64> {
        let n = NonZeroU64::new(u64::try_from(*v.get_ref()).unwrap_or(0));
        if n.is_none() {
            self.error(
                key_path,
                Some(v.span()),
                format!("must be at least 1, got {}", v.get_ref()),
            );
        }
        n
    }

    fn positive_rate(&mut self, key_path: &str, v: &Spanned<f64>) -> Option<f64> {
        let r = *v.get_ref();
        if r.is_finite() && r > 0.0 && r <= 1e8 {
            Some(r)
        } else {
            self.error(
                key_path,
                Some(v.span()),
                format!("rate must be in (0, 1e8] messages/s, got {r}"),
            );
            None
        }
    }

    fn check_deadline(
        &mut self,
        h: &RawHeader,
        deadline: Duration,
        emitters: &[EmitterPlan],
        receivers: &[ReceiverPlan],
    ) {
        let emit_end = emitters
            .iter()
            .filter_map(|e| SendTimes::span(&e.schedule).map(|s| e.start + s))
            .max()
            .unwrap_or_default();
        let read_start = receivers
            .iter()
            .filter_map(|r| match r.start_reading {
                ReadStart::After { delay } => Some(delay),
                ReadStart::EmissionEnd => None,
            })
            .max()
            .unwrap_or_default();
        let need = emit_end.max(read_start);
        if need >= deadline {
            let span = h.deadline.as_ref().map(|d| d.span());
            self.error(
                "deadline",
                span,
                format!(
                    "deadline {} is not longer than the schedule ({}): raise it",
                    crate::units::format_duration(deadline),
                    crate::units::format_duration(need)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<Plan, ScenarioErrors> {
        compile_str(Path::new("t.toml"), text)
    }

    const GOOD: &str = r#"
name = "t"
seed = 3
deadline = "10s"

[[emitter]]
name = "usb"
kind = "kernel-uevent"
contents = "usb-hotplug"
schedule = { kind = "burst", size = 36 }

[[emitter]]
name = "us"
kind = "usersock"
group = 3
payload = "100B..2KiB"
schedule = { kind = "rate", per-sec = 1000, duration = "1s" }

[[receiver]]
name = "small"
rcvbuf = 1024
expect = { lost = ">= 1", enobufs = 0, kernel-drops = "> 0" }

[[receiver]]
name = "fit"
rcvbuf-fit = "usb"
mode = "batch"
batch = 16
read-buffer = "8KiB"

[[receiver]]
name = "u"
protocol = "usersock"
groups = [3]
rcvbuf-force = "1MiB"
consumer-delay = "50us"
start-reading-after = "200ms"
no-enobufs = true
"#;

    #[test]
    fn a_good_scenario_compiles() {
        let p = compile(GOOD).unwrap();
        assert_eq!(p.seed, 3);
        assert_eq!(p.emitters[1].kind, EmitterKind::Usersock { group: 3 });
        assert_eq!(
            p.emitters[1].payload,
            PayloadPlan::Uniform {
                min: 100,
                max: 2048
            }
        );
        assert_eq!(p.receivers[0].rcvbuf, RcvbufPlan::Request { bytes: 1024 });
        assert_eq!(p.receivers[0].groups, vec![1]);
        let e: Vec<String> = p.receivers[0]
            .expectations
            .iter()
            .map(|e| e.describe())
            .collect();
        assert_eq!(e, ["lost >= 1", "enobufs == 0", "kernel-drops > 0"]);
        assert_eq!(p.receivers[0].expectations[0].location, "t.toml:22:19");
        assert_eq!(p.receivers[1].rcvbuf, RcvbufPlan::FitBurst { emitter: 0 });
        assert_eq!(
            p.receivers[1].mode,
            ReadMode::Batch {
                size: NonZeroU32::new(16).unwrap()
            }
        );
        assert_eq!(p.receivers[2].rcvbuf, RcvbufPlan::Force { bytes: 1 << 20 });
        assert!(p.receivers[2].no_enobufs);
    }

    #[test]
    fn a_receiver_filter_names_usersock_emitters_that_reach_it() {
        let good = format!(
            "{GOOD}\n[[receiver]]\nname = \"f\"\nprotocol = \"usersock\"\ngroups = [3]\nfilter-drop-emitters = [\"us\"]\n"
        );
        let p = compile(&good).unwrap();
        let f = &p.receivers[3];
        assert_eq!(f.filter_drop_emitters, [Name::internal("us")]);
        assert_eq!(p.filtered(f), [1]);
        assert!(p.feeders(f).is_empty(), "a filtered emitter feeds nothing");
        let mut bare = p.clone();
        // Locations name the file the expectations came from, which a round trip changes.
        bare.receivers
            .iter_mut()
            .for_each(|r| r.expectations.clear());
        crate::scenario::assert_round_trips(&bare);

        let bad = r#"
deadline = "5s"
[[emitter]]
name = "a"
kind = "usersock"
group = 1
payload = 64
schedule = { kind = "burst", size = 1 }
[[emitter]]
name = "b"
kind = "usersock"
group = 2
payload = 64
schedule = { kind = "burst", size = 1 }
[[receiver]]
name = "u"
filter-drop-emitters = ["a"]
[[receiver]]
name = "s"
protocol = "usersock"
groups = [1]
filter-drop-emitters = ["b", "c"]
"#;
        let text: Vec<String> = compile(bad)
            .unwrap_err()
            .0
            .iter()
            .map(|e| e.to_string())
            .collect();
        for needle in [
            "t.toml:17:24: receiver[0].filter-drop-emitters: a socket filter can tell emitters apart only on usersock",
            "t.toml:22:25: receiver[1].filter-drop-emitters: emitter `b` does not reach this receiver",
            "t.toml:22:30: receiver[1].filter-drop-emitters: no emitter named `c` (emitters: a, b)",
        ] {
            assert!(text.iter().any(|t| t.contains(needle)), "{needle} not in {text:#?}");
        }
    }

    #[test]
    fn dump_clients_are_checked_key_by_key() {
        let bad = r#"
deadline = "5s"
[[churn]]
kind = "sockets"
per-sec = 10
[[dump]]
name = "a"
request = "getlinks"
read-buffer = 8
on-enobufs = "panic"
filter-drop-types = [70000]
expect = { hangs = "lots" }
"#;
        let errs = compile(bad).unwrap_err();
        let text: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
        for needle in [
            "set `tcp-connections`",
            "t.toml:8:11: dump[0].request: unknown request `getlinks`: use getlink or inet-diag",
            "t.toml:9:15: dump[0].read-buffer: must be 16 bytes",
            "t.toml:10:14: dump[0].on-enobufs: unknown reaction `panic`: use keep-reading, restart, retry-later, stop",
            "dump[0].filter-drop-types: a netlink message type is 0..=65535",
            "dump[0].expect.hangs: cannot read \"lots\"",
        ] {
            assert!(text.iter().any(|t| t.contains(needle)), "no `{needle}` in {text:#?}");
        }
        assert!(
            !text
                .iter()
                .any(|t| t.contains("no [[emitter]] and no [[dump]]")),
            "a dump that failed to compile is still a dump: {text:#?}"
        );
    }

    #[test]
    fn programs_are_checked_before_anything_runs() {
        let bad = r#"
[[emitter]]
name = "e"
kind = "injected-uevent"
schedule = { kind = "burst", size = 1 }
[[program]]
name = "p"
command = []
[[program]]
name = "q"
command = ["./bin/listen", "a\u0000b"]
env = { NLSTORM_RUN_ID = "x" }
uid = -1
ready = "soon"
output-regex = "seq=([0-9]+)"
stop-signal = "STOP"
emitters = ["nope"]
expect = { lots = 1 }
"#;
        let errs = compile(bad).unwrap_err();
        let text: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
        for needle in [
            "program[0].command: is empty",
            "program[1].command: holds a NUL byte",
            "program[1].env.NLSTORM_RUN_ID: NLSTORM_RUN_ID is set by nlstorm",
            "program[1].uid: -1 is not a user or group id",
            "program[1].ready: unknown ready condition \"soon\"",
            "program[1].output-regex: needs a capture group named seq",
            "program[1].stop-signal: unknown signal \"STOP\"",
            "program[1].emitters: no [[emitter]] is named \"nope\"",
            "unknown key \"lots\" in `expect`",
        ] {
            assert!(
                text.iter().any(|t| t.contains(needle)),
                "no `{needle}` in {text:#?}"
            );
        }

        let good = r#"
[[emitter]]
name = "e"
kind = "injected-uevent"
schedule = { kind = "burst", size = 1 }
[[program]]
name = "p"
command = ["../bin/listen", "--flag"]
ready-line = "^listening"
output = "udevadm"
start = "250ms"
expect = { lost = 0, keeps-reading = 1 }
"#;
        let plan = compile(good).unwrap();
        let p = &plan.programs[0];
        // t.toml sits in the current directory: the path is made absolute against it.
        let want = std::env::current_dir()
            .unwrap()
            .parent()
            .unwrap()
            .join("bin/listen");
        assert_eq!(p.command[0], want.to_string_lossy());
        assert_eq!(
            p.ready,
            Ready::Line {
                regex: "^listening".into()
            }
        );
        assert_eq!(p.output, OutputFormat::Udevadm);
        assert_eq!(p.emitters, vec![0]);
        assert_eq!(p.stop.signal, libc::SIGTERM);
        assert_eq!(p.start, Duration::from_millis(250));
        assert_eq!(p.expectations.len(), 2);
    }

    #[test]
    fn every_problem_is_reported_with_its_location() {
        let bad = r#"
deadline = "10 parsecs"

[[emitter]]
name = "e"
kind = "usersock"
schedule = { kind = "burst", size = 0, per-sec = 5 }

[[receiver]]
name = "r"
rcvbuf = "4kb"
rcvbufx = 1

[[receiver]]
name = "r2"
expect = { lsot = 1 }

[[receiver]]
name = "r3"
rcvbuf-fit = "nope"
expect = { lost = "about 3" }
"#;
        let errs = compile(bad).unwrap_err();
        let text: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
        let has = |needle: &str| {
            assert!(
                text.iter().any(|t| t.contains(needle)),
                "no `{needle}` in {text:#?}"
            )
        };
        has("t.toml:2:12: deadline: `10 parsecs` has unknown unit");
        has("t.toml:6:8: emitter[0]: a usersock emitter needs `group`");
        has("t.toml:7:37: emitter[0].schedule.size: must be at least 1");
        has("emitter[0].schedule.per-sec: a burst schedule takes size, gap, count");
        has("t.toml:12:1: receiver[0].rcvbufx: unknown key \"rcvbufx\" in [[receiver]]: did you mean `rcvbuf`?");
        has("t.toml:16:12: receiver[1].expect.lsot: unknown key \"lsot\" in `expect`: did you mean `lost`?");
        has("receiver[2].rcvbuf-fit: no emitter named `nope`");
        has("receiver[2].expect.lost: cannot read \"about 3\"");
        assert!(text.len() >= 8, "{text:#?}");
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let errs = compile("name = \"x\"\n[[receiver]\n").unwrap_err();
        assert_eq!(errs.0.len(), 1);
        assert!(errs.0[0].location.starts_with("t.toml:2:"), "{:?}", errs.0);
    }

    #[test]
    fn payload_limits_name_the_reason() {
        let s = r#"
[[emitter]]
name = "k"
kind = "kernel-uevent"
payload = "4KiB"
schedule = { kind = "flood", count = 10 }
[[receiver]]
name = "r"
"#;
        let e = compile(s).unwrap_err().to_string();
        assert!(e.contains("UEVENT_BUFFER_SIZE"), "{e}");
    }

    #[test]
    fn deadline_must_outlast_the_schedule() {
        let s = r#"
deadline = "1s"
[[emitter]]
name = "k"
kind = "synthetic-uevent"
schedule = { kind = "rate", per-sec = 10, duration = "2s" }
[[receiver]]
name = "r"
"#;
        let e = compile(s).unwrap_err().to_string();
        assert!(
            e.contains("t.toml:2:12: deadline: deadline 1s is not longer than the schedule (2s)"),
            "{e}"
        );
    }

    #[test]
    fn every_problem_of_a_file_is_reported_at_once() {
        let errs = compile(include_str!(
            "../../../fixtures/scenarios/every-mistake.toml"
        ))
        .unwrap_err()
        .to_string();
        for want in [
            "t.toml:4:1: dedline: unknown key \"dedline\" in the top level: did you mean `deadline`?",
            "t.toml:8:9: emitter[0].group: group must be 1..=32",
            "t.toml:9:40: emitter[0].schedule.gapp: unknown key \"gapp\" in `schedule`: did you mean `gap`?",
            "t.toml:10:3: reciever: unknown key \"reciever\" in the top level: did you mean `receiver`?",
            "t.toml:16:1: receiver[0].rcvbuff: unknown key \"rcvbuff\" in [[receiver]]: did you mean `rcvbuf`?",
            "t.toml:17:18: receiver[0].consumer-delay: 20 has no unit: write a duration as text with its unit, e.g. \"20us\"",
            "t.toml:18:12: receiver[0].expect.deliverd: unknown key \"deliverd\" in `expect`: did you mean `delivered`?",
        ] {
            assert!(errs.contains(want), "want: {want}\ngot: {errs}");
        }
        assert!(errs.starts_with("7 problems in scenario"), "{errs}");
    }
}
