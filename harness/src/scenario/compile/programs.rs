//! `[[program]]`: the user's own program under the flood. Its argv and environment go
//! to execve() as they are, with no shell; what is checked here is what execve() and
//! the regex engine would refuse later with a worse message.

use std::path::PathBuf;

use super::*;

const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_STOP_AFTER: Duration = Duration::from_secs(5);
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(1);
/// Keys nlstorm sets for every program; the scenario may not override them.
const RESERVED_ENV: [&str; 2] = ["NLSTORM_RUN_ID", "NLSTORM_PROGRAM"];

impl Cx<'_> {
    pub(super) fn program(
        &mut self,
        path: &str,
        raw: &RawProgram,
        base: &Path,
        emitter_names: &[&str],
        emitters: &[EmitterPlan],
    ) -> Option<ProgramPlan> {
        let name = Name::new(raw.name.get_ref()).ok();
        let command = self.command(path, &raw.command, base);
        let env = self.env(path, raw.env.as_ref());
        let uid = raw
            .uid
            .as_ref()
            .and_then(|v| self.id(&format!("{path}.uid"), v));
        let gid = raw
            .gid
            .as_ref()
            .and_then(|v| self.id(&format!("{path}.gid"), v));
        let root = self.root(path, raw);
        self.args_total(path, raw, command.as_deref(), env.as_deref());
        let seen = self.program_emitters(path, raw, emitter_names, emitters);
        let start = self.duration_or(&format!("{path}.start"), &raw.start, Duration::ZERO);
        let ready = self.ready(path, raw);
        let ready_timeout = self.duration_or(
            &format!("{path}.ready-timeout"),
            &raw.ready_timeout,
            DEFAULT_READY_TIMEOUT,
        );
        let output = self.output(path, raw);
        let error_patterns = match &raw.error_patterns {
            None => DEFAULT_ERROR_PATTERNS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Some(list) => list
                .get_ref()
                .iter()
                .filter_map(|p| self.text(&format!("{path}.error-patterns"), p))
                .collect(),
        };
        let signal = self.signal(path, raw.stop_signal.as_ref());
        let stop_after = self.duration_or(
            &format!("{path}.stop-after"),
            &raw.stop_after,
            DEFAULT_STOP_AFTER,
        );
        let stop_grace = self.duration_or(
            &format!("{path}.stop-grace"),
            &raw.stop_grace,
            DEFAULT_STOP_GRACE,
        );
        let settle = self.duration_or(
            &format!("{path}.settle"),
            &raw.settle,
            crate::plan::DEFAULT_SETTLE,
        );
        let call_deadline = self.duration_or(
            &format!("{path}.call-deadline"),
            &raw.call_deadline,
            DEFAULT_CALL_DEADLINE,
        );
        let expectations = self.expectations(path, raw.expect.as_ref());
        if let (Some(OutputFormat::Regex { regex }), Some(seen)) = (&output, &seen) {
            self.seqnum_needs_kernel_uevents(path, raw, regex, seen, emitters);
        }
        Some(ProgramPlan {
            name: name?,
            command: command?,
            env: env?,
            uid,
            gid,
            root: root?,
            emitters: seen?,
            start: start?,
            ready: ready?,
            ready_timeout: ready_timeout?,
            output: output?,
            error_patterns,
            stop: Stop {
                signal: signal?,
                after: stop_after?,
                grace: stop_grace?,
                settle: settle?,
            },
            call_deadline: call_deadline?,
            expectations,
        })
    }

    fn duration_or(
        &mut self,
        key_path: &str,
        v: &Option<Spanned<DurationText>>,
        default: Duration,
    ) -> Option<Duration> {
        match v {
            None => Some(default),
            Some(d) => self.duration(key_path, d, true),
        }
    }

    /// A string execve() can carry: no NUL byte, at most the kernel's MAX_ARG_STRLEN.
    fn text(&mut self, key_path: &str, v: &Spanned<String>) -> Option<String> {
        if v.get_ref().contains('\0') {
            self.error(
                key_path,
                Some(v.span()),
                "holds a NUL byte, which no argument, environment entry or pattern can carry",
            );
            return None;
        }
        if v.get_ref().len() > Limits::PROGRAM_ARG_BYTES {
            self.error(
                key_path,
                Some(v.span()),
                format!(
                    "is {} B long; exec(2) takes at most {} B per argument or environment entry",
                    v.get_ref().len(),
                    Limits::PROGRAM_ARG_BYTES
                ),
            );
            return None;
        }
        Some(v.get_ref().clone())
    }

    /// `root = true`: the scenario asks for real root, which only the operator grants.
    /// It names no uid or gid then: root is root.
    fn root(&mut self, path: &str, raw: &RawProgram) -> Option<bool> {
        let Some(root) = &raw.root else {
            return Some(false);
        };
        if *root.get_ref() && (raw.uid.is_some() || raw.gid.is_some()) {
            self.error(
                &format!("{path}.root"),
                Some(root.span()),
                "root = true runs the program as root: drop uid and gid",
            );
            return None;
        }
        Some(*root.get_ref())
    }

    /// argv and environment together within what nlstorm passes to exec(2).
    fn args_total(
        &mut self,
        path: &str,
        raw: &RawProgram,
        argv: Option<&[String]>,
        env: Option<&[(String, String)]>,
    ) {
        let bytes = argv
            .unwrap_or_default()
            .iter()
            .map(|a| a.len() + 1)
            .sum::<usize>()
            + env
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>();
        if bytes > Limits::PROGRAM_ARGS_TOTAL {
            self.error(
                &format!("{path}.command"),
                Some(raw.command.span()),
                format!(
                    "argv and env take {bytes} B; nlstorm passes at most {} B to exec(2)",
                    Limits::PROGRAM_ARGS_TOTAL
                ),
            );
        }
    }

    /// argv, with a relative program path made absolute against the scenario's own
    /// directory (a bare name is looked up in PATH when it runs).
    fn command(
        &mut self,
        path: &str,
        v: &Spanned<Vec<Spanned<String>>>,
        base: &Path,
    ) -> Option<Vec<String>> {
        let key = format!("{path}.command");
        let Some(first) = v.get_ref().first() else {
            self.error(
                &key,
                Some(v.span()),
                "is empty: write the program and its arguments, e.g. [\"udevadm\", \"monitor\", \"--kernel\"]",
            );
            return None;
        };
        if first.get_ref().is_empty() {
            self.error(&key, Some(first.span()), "the program name is empty");
            return None;
        }
        let mut argv = Vec::new();
        for a in v.get_ref() {
            argv.push(self.text(&key, a)?);
        }
        if argv[0].contains('/') && !argv[0].starts_with('/') {
            argv[0] = absolute(base, &argv[0]).to_string_lossy().into_owned();
        }
        Some(argv)
    }

    fn env(
        &mut self,
        path: &str,
        v: Option<&Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    ) -> Option<Vec<(String, String)>> {
        let Some(v) = v else {
            return Some(Vec::new());
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (k, val) in v.get_ref() {
            let key = format!("{path}.env.{k}");
            if k.is_empty() || k.contains(['=', '\0']) {
                self.error(
                    &key,
                    Some(val.span()),
                    "an environment name must be non-empty and hold no `=` or NUL",
                );
                ok = false;
            } else if RESERVED_ENV.contains(&k.as_str()) {
                self.error(
                    &key,
                    Some(val.span()),
                    format!("{k} is set by nlstorm for every program"),
                );
                ok = false;
            } else if let Some(t) = self.text(&key, val) {
                out.push((k.clone(), t));
            } else {
                ok = false;
            }
        }
        ok.then_some(out)
    }

    fn id(&mut self, key_path: &str, v: &Spanned<i64>) -> Option<u32> {
        match u32::try_from(*v.get_ref()) {
            Ok(0) => {
                self.error(
                    key_path,
                    Some(v.span()),
                    "0 is root: a scenario asks for root with `root = true`, and only the person running nlstorm grants it (--allow-root-programs)",
                );
                None
            }
            Ok(id) if id != u32::MAX => Some(id),
            _ => {
                self.error(
                    key_path,
                    Some(v.span()),
                    format!("{} is not a user or group id (0..=4294967294)", v.get_ref()),
                );
                None
            }
        }
    }

    /// The emitters the program is meant to see: named, or by default every emitter
    /// whose messages reach a uevent listener (all uevent kinds) or, with only usersock
    /// emitters, all of them.
    fn program_emitters(
        &mut self,
        path: &str,
        raw: &RawProgram,
        names: &[&str],
        emitters: &[EmitterPlan],
    ) -> Option<Vec<usize>> {
        let Some(list) = &raw.emitters else {
            return Some((0..emitters.len()).collect());
        };
        let mut out = Vec::new();
        for n in list.get_ref() {
            match names.iter().position(|x| x == n.get_ref()) {
                Some(i) => out.push(i),
                None => {
                    self.error(
                        &format!("{path}.emitters"),
                        Some(n.span()),
                        format!("no [[emitter]] is named {}", quoted(n.get_ref())),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    fn regex(&mut self, key_path: &str, v: &Spanned<String>) -> Option<String> {
        let text = self.text(key_path, v)?;
        match regex::Regex::new(&text) {
            Ok(_) => Some(text),
            Err(e) => {
                self.error(
                    key_path,
                    Some(v.span()),
                    format!("not a regular expression: {e}"),
                );
                None
            }
        }
    }

    fn ready(&mut self, path: &str, raw: &RawProgram) -> Option<Ready> {
        let word = raw.ready.as_ref().map(|w| (w.get_ref().as_str(), w.span()));
        match (word, &raw.ready_line) {
            (None | Some(("line", _)), Some(line)) => Some(Ready::Line {
                regex: self.regex(&format!("{path}.ready-line"), line)?,
            }),
            (Some(("line", span)), None) => {
                self.error(
                    &format!("{path}.ready"),
                    Some(span),
                    "ready = \"line\" needs ready-line = \"REGEX\"",
                );
                None
            }
            (None | Some(("netlink-socket", _)), None) => Some(Ready::NetlinkSocket),
            (Some(("started", _)), None) => Some(Ready::Started),
            (Some((w @ ("netlink-socket" | "started"), span)), Some(_)) => {
                self.error(
                    &format!("{path}.ready"),
                    Some(span),
                    format!("ready = \"{w}\" takes no ready-line"),
                );
                None
            }
            (Some((other, span)), _) => {
                self.error(&format!("{path}.ready"), Some(span), format!("unknown ready condition {}: use line (with ready-line), netlink-socket or started", quoted(other)));
                None
            }
        }
    }

    fn output(&mut self, path: &str, raw: &RawProgram) -> Option<OutputFormat> {
        let word = raw
            .output
            .as_ref()
            .map(|w| (w.get_ref().as_str(), w.span()));
        match (word, &raw.output_regex) {
            (None | Some(("regex", _)), Some(r)) => Some(OutputFormat::Regex {
                regex: self.seq_regex(&format!("{path}.output-regex"), r)?,
            }),
            (Some(("regex", span)), None) => {
                self.error(
                    &format!("{path}.output"),
                    Some(span),
                    "output = \"regex\" needs output-regex = \"...(?P<seq>[0-9]+)...\"",
                );
                None
            }
            (Some(("count", _)), Some(r)) => Some(OutputFormat::Count {
                regex: self.regex(&format!("{path}.output-regex"), r)?,
            }),
            (Some(("count", span)), None) => {
                self.error(
                    &format!("{path}.output"),
                    Some(span),
                    "output = \"count\" needs output-regex = \"...\" matching one line per event",
                );
                None
            }
            (None | Some(("none", _)), None) => Some(OutputFormat::None),
            (Some(("udevadm", _)), None) => Some(OutputFormat::Udevadm),
            (Some(("ip-monitor", _)), None) => Some(OutputFormat::IpMonitor),
            (Some(("uevent-blocks", _)), None) => Some(OutputFormat::UeventBlocks),
            (Some((w @ ("none" | "udevadm" | "ip-monitor" | "uevent-blocks"), span)), Some(_)) => {
                self.error(
                    &format!("{path}.output"),
                    Some(span),
                    format!("output = \"{w}\" takes no output-regex"),
                );
                None
            }
            (Some((other, span)), _) => {
                self.error(
                    &format!("{path}.output"),
                    Some(span),
                    format!(
                        "unknown output format {}: use udevadm, uevent-blocks, ip-monitor, regex or count (with output-regex) or none",
                        quoted(other)
                    ),
                );
                None
            }
        }
    }

    /// An output expression must capture nlstorm's sequence number (`seq`) or the
    /// kernel's SEQNUM of a uevent (`seqnum`), not both.
    fn seq_regex(&mut self, key_path: &str, v: &Spanned<String>) -> Option<String> {
        let text = self.regex(key_path, v)?;
        let has = |name: &str| {
            regex::Regex::new(&text).is_ok_and(|r| r.capture_names().any(|n| n == Some(name)))
        };
        match (has("seq"), has("seqnum")) {
            (true, false) | (false, true) => Some(text),
            (true, true) => {
                self.error(
                    key_path,
                    Some(v.span()),
                    "captures both seq and seqnum: keep one",
                );
                None
            }
            (false, false) => {
                self.error(key_path, Some(v.span()), "needs a capture group named seq for nlstorm's sequence number, e.g. \"seq=(?P<seq>[0-9]+)\", or seqnum for the kernel's SEQNUM of a uevent, e.g. \"SEQNUM=(?P<seqnum>[0-9]+)\"");
                None
            }
        }
    }

    /// Only the kernel numbers uevents: a `seqnum` capture needs the program's
    /// emitters to be kernel uevents (injected-uevent, kernel-uevent).
    fn seqnum_needs_kernel_uevents(
        &mut self,
        path: &str,
        raw: &RawProgram,
        regex: &str,
        seen: &[usize],
        emitters: &[EmitterPlan],
    ) {
        let by_seqnum = OutputFormat::Regex {
            regex: regex.to_string(),
        }
        .by_seqnum();
        let kernel = |e: &EmitterPlan| {
            matches!(
                e.kind,
                EmitterKind::InjectedUevent | EmitterKind::KernelUevent
            )
        };
        if by_seqnum && seen.iter().any(|&i| !emitters.get(i).is_some_and(kernel)) {
            let span = raw.output_regex.as_ref().map(|r| r.span());
            self.error(
                &format!("{path}.output-regex"),
                span,
                "captures seqnum, which only kernel uevents carry: its emitters must be injected-uevent or kernel-uevent (or capture seq)",
            );
        }
    }

    fn signal(&mut self, path: &str, v: Option<&Spanned<String>>) -> Option<i32> {
        let Some(v) = v else {
            return Some(libc::SIGTERM);
        };
        let word = v.get_ref().trim_start_matches("SIG");
        match STOP_SIGNALS.iter().find(|(n, _)| *n == word) {
            Some((_, s)) => Some(*s),
            None => {
                self.error(
                    &format!("{path}.stop-signal"),
                    Some(v.span()),
                    format!(
                        "unknown signal {}: use TERM, INT, HUP, QUIT, USR1, USR2 or KILL",
                        quoted(v.get_ref())
                    ),
                );
                None
            }
        }
    }
}

/// `rel` against `base`, lexically: `..` and `.` are resolved without touching the file
/// system, so a program that is not installed yet still compiles (the run says so).
pub(super) fn absolute(base: &Path, rel: &str) -> PathBuf {
    let start = if base.is_absolute() {
        base.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(base)
    };
    let mut out = PathBuf::new();
    for c in start.join(rel).components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
