//! Plan -> scenario file: what `explore` writes for a shrunk case, so that the case can
//! be read, edited and re-run with `nlstorm run`. The inverse of [`super::compile_str`]
//! for every plan the compiler can produce (tested as a round trip).

use std::fmt::Write;
use std::time::Duration;

use crate::plan::{
    Churn, Cmp, DumpPlan, EmitterKind, EmitterPlan, Expectation, MetricKey, OutputFormat,
    PayloadPlan, Plan, ProgramPlan, RcvbufPlan, ReadMode, ReadStart, Ready, ReceiverPlan, Schedule,
    STOP_SIGNALS,
};
use crate::units::format_duration;

/// The scenario file for `plan`, headed by `comment` lines.
pub fn to_toml(plan: &Plan, comment: &str) -> String {
    let mut s = String::new();
    for line in comment.lines() {
        let _ = writeln!(s, "# {line}");
    }
    let _ = writeln!(s, "name = {}", quote(&plan.name));
    if !plan.description.is_empty() {
        let _ = writeln!(s, "description = {}", quote(&plan.description));
    }
    let _ = writeln!(s, "seed = {}", plan.seed);
    let _ = writeln!(s, "deadline = {}", dur(plan.deadline));
    if plan.timing_bound {
        let _ = writeln!(s, "timing-bound = true");
    }
    if plan.world.veths > 0 {
        let _ = writeln!(s, "veths = {}", plan.world.veths);
    }
    if plan.world.tcp_connections > 0 {
        let _ = writeln!(s, "tcp-connections = {}", plan.world.tcp_connections);
    }
    for c in &plan.churn {
        let (kind, per_sec) = match c {
            Churn::Links { per_sec } => ("links", per_sec),
            Churn::Sockets { per_sec } => ("sockets", per_sec),
        };
        let _ = writeln!(s, "\n[[churn]]\nkind = \"{kind}\"\nper-sec = {per_sec:?}");
    }
    for e in &plan.emitters {
        emitter(&mut s, e);
    }
    for r in &plan.receivers {
        receiver(&mut s, r, plan);
    }
    for d in &plan.dumps {
        dump(&mut s, d);
    }
    for p in &plan.programs {
        program(&mut s, p, plan);
    }
    s
}

/// `expect = { lost = 0, hangs = ">= 1" }`, or nothing when there are none.
fn expect<M: MetricKey>(s: &mut String, expectations: &[Expectation<M>]) {
    let items: Vec<String> = expectations
        .iter()
        .map(|e| match e.cmp {
            Cmp::Eq => format!("{} = {}", e.metric.key(), e.value),
            c => format!("{} = \"{} {}\"", e.metric.key(), c.symbol(), e.value),
        })
        .collect();
    if !items.is_empty() {
        let _ = writeln!(s, "expect = {{ {} }}", items.join(", "));
    }
}

fn dump(s: &mut String, d: &DumpPlan) {
    let _ = writeln!(s, "\n[[dump]]\nname = {}", quote(&d.name));
    let _ = writeln!(s, "request = \"{}\"", d.request.name());
    let _ = writeln!(s, "count = {}", d.count);
    let _ = writeln!(s, "interval = {}", dur(d.interval));
    let _ = writeln!(s, "read-buffer = {}", d.read_buffer);
    if let Some(e) = d.event_read_buffer {
        let _ = writeln!(s, "event-read-buffer = {e}");
    }
    match d.rcvbuf {
        RcvbufPlan::Request { bytes } => {
            let _ = writeln!(s, "rcvbuf = {bytes}");
        }
        RcvbufPlan::Force { bytes } => {
            let _ = writeln!(s, "rcvbuf-force = {bytes}");
        }
        _ => {}
    }
    let _ = writeln!(
        s,
        "mode = \"{}\"",
        if d.blocking {
            "blocking"
        } else {
            "nonblocking"
        }
    );
    if !d.groups.is_empty() {
        let groups: Vec<String> = d.groups.iter().map(u32::to_string).collect();
        let _ = writeln!(s, "groups = [{}]", groups.join(", "));
    }
    if d.no_enobufs {
        let _ = writeln!(s, "no-enobufs = true");
    }
    if d.peek {
        let _ = writeln!(s, "peek = true");
    }
    if d.verify {
        let _ = writeln!(s, "verify = true");
    }
    if !d.filter.is_empty() {
        let ins: Vec<String> = d
            .filter
            .iter()
            .map(|(c, jt, jf, k)| format!("[{c}, {jt}, {jf}, {k}]"))
            .collect();
        let _ = writeln!(s, "filter-bpf = [{}]", ins.join(", "));
    }
    let _ = writeln!(s, "call-deadline = {}", dur(d.call_deadline));
    let p = d.policy;
    for (key, r) in [
        ("on-enobufs", p.on_enobufs),
        ("on-ebusy", p.on_ebusy),
        ("on-truncated", p.on_truncated),
        ("on-error", p.on_error),
    ] {
        let _ = writeln!(s, "{key} = \"{}\"", r.name());
    }
    expect(s, &d.expectations);
}

fn program(s: &mut String, p: &ProgramPlan, plan: &Plan) {
    let _ = writeln!(s, "\n[[program]]\nname = {}", quote(&p.name));
    let _ = writeln!(s, "command = {}", list(p.command.iter()));
    if !p.env.is_empty() {
        let items: Vec<String> = p
            .env
            .iter()
            .map(|(k, v)| format!("{} = {}", quote(k), quote(v)))
            .collect();
        let _ = writeln!(s, "env = {{ {} }}", items.join(", "));
    }
    if let Some(uid) = p.uid {
        let _ = writeln!(s, "uid = {uid}");
    }
    if let Some(gid) = p.gid {
        let _ = writeln!(s, "gid = {gid}");
    }
    if p.root {
        let _ = writeln!(s, "root = true");
    }
    let names = p.emitters.iter().map(|&i| &*plan.emitters[i].name);
    let _ = writeln!(s, "emitters = {}", list(names));
    match &p.ready {
        Ready::Line { regex } => {
            let _ = writeln!(s, "ready = \"line\"\nready-line = {}", quote(regex));
        }
        Ready::NetlinkSocket => {
            let _ = writeln!(s, "ready = \"netlink-socket\"");
        }
        Ready::Started => {
            let _ = writeln!(s, "ready = \"started\"");
        }
    }
    let _ = writeln!(s, "start = {}", dur(p.start));
    let _ = writeln!(s, "ready-timeout = {}", dur(p.ready_timeout));
    match &p.output {
        OutputFormat::None => {
            let _ = writeln!(s, "output = \"none\"");
        }
        OutputFormat::Udevadm => {
            let _ = writeln!(s, "output = \"udevadm\"");
        }
        OutputFormat::IpMonitor => {
            let _ = writeln!(s, "output = \"ip-monitor\"");
        }
        OutputFormat::UeventBlocks => {
            let _ = writeln!(s, "output = \"uevent-blocks\"");
        }
        OutputFormat::Count { regex } => {
            let _ = writeln!(s, "output = \"count\"\noutput-regex = {}", quote(regex));
        }
        OutputFormat::Regex { regex } => {
            let _ = writeln!(s, "output = \"regex\"\noutput-regex = {}", quote(regex));
        }
    }
    let _ = writeln!(s, "error-patterns = {}", list(p.error_patterns.iter()));
    let signal = STOP_SIGNALS
        .iter()
        .find(|(_, n)| *n == p.stop.signal)
        .map_or("TERM", |(name, _)| name);
    let _ = writeln!(s, "stop-signal = \"{signal}\"");
    let _ = writeln!(s, "stop-after = {}", dur(p.stop.after));
    let _ = writeln!(s, "stop-grace = {}", dur(p.stop.grace));
    let _ = writeln!(s, "settle = {}", dur(p.stop.settle));
    let _ = writeln!(s, "call-deadline = {}", dur(p.call_deadline));
    expect(s, &p.expectations);
}

/// A TOML array of strings.
fn list<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    let quoted: Vec<String> = items.map(|i| quote(i.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
}

fn quote(text: &str) -> String {
    // TOML basic strings escape like JSON strings.
    serde_json::to_string(text).expect("strings serialise")
}

fn dur(d: Duration) -> String {
    quote(&format_duration(d))
}

fn emitter(s: &mut String, e: &EmitterPlan) {
    let _ = writeln!(s, "\n[[emitter]]\nname = {}", quote(&e.name));
    if let (PayloadPlan::Trace { trace, .. }, Schedule::Replay { repeat, speed, .. }) =
        (&e.payload, &e.schedule)
    {
        let _ = writeln!(
            s,
            "kind = \"replay\"\npath = \"{}\"\ntrace = {}\nspeed = {speed:?}\nrepeat = {repeat}",
            e.kind.name(),
            quote(trace)
        );
        if !e.start.is_zero() {
            let _ = writeln!(s, "start = {}", dur(e.start));
        }
        return;
    }
    let _ = writeln!(s, "kind = \"{}\"", e.kind.name());
    if let EmitterKind::Usersock { group } = e.kind {
        let _ = writeln!(s, "group = {group}");
    }
    match e.payload {
        PayloadPlan::Fixed { bytes } => {
            let _ = writeln!(s, "payload = {bytes}");
        }
        PayloadPlan::Uniform { min, max } => {
            let _ = writeln!(s, "payload = \"{min}B..{max}B\"");
        }
        PayloadPlan::Contents { .. } => {
            let _ = writeln!(s, "contents = \"usb-hotplug\"");
        }
        PayloadPlan::Bare { bytes } => {
            let _ = writeln!(s, "bare = true");
            if bytes > 0 {
                let _ = writeln!(s, "payload = {bytes}");
            }
        }
        PayloadPlan::Trace { .. } => unreachable!("written above"),
    }
    if !e.start.is_zero() {
        let _ = writeln!(s, "start = {}", dur(e.start));
    }
    if let Some(cpu) = e.cpu {
        let _ = writeln!(s, "cpu = {cpu}");
    }
    let _ = writeln!(s, "schedule = {}", schedule(&e.schedule));
}

fn schedule(sch: &Schedule) -> String {
    match sch {
        Schedule::Burst { size, gap, count } if count.get() == 1 => {
            let _ = gap;
            format!("{{ kind = \"burst\", size = {size} }}")
        }
        Schedule::Burst { size, gap, count } => format!(
            "{{ kind = \"burst\", size = {size}, gap = {}, count = {count} }}",
            dur(*gap)
        ),
        Schedule::Rate { per_sec, duration } => format!(
            "{{ kind = \"rate\", per-sec = {per_sec:?}, duration = {} }}",
            dur(*duration)
        ),
        Schedule::Poisson { per_sec, duration } => format!(
            "{{ kind = \"poisson\", per-sec = {per_sec:?}, duration = {} }}",
            dur(*duration)
        ),
        Schedule::Ramp { from, to, duration } => format!(
            "{{ kind = \"ramp\", from = {from:?}, to = {to:?}, duration = {} }}",
            dur(*duration)
        ),
        Schedule::Replay { .. } => unreachable!("a replay's timing is its trace's"),
        Schedule::Flood { count, duration } => {
            let mut parts = vec!["kind = \"flood\"".to_string()];
            if let Some(c) = count {
                parts.push(format!("count = {c}"));
            }
            if let Some(d) = duration {
                parts.push(format!("duration = {}", dur(*d)));
            }
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

fn receiver(s: &mut String, r: &ReceiverPlan, plan: &Plan) {
    let _ = writeln!(s, "\n[[receiver]]\nname = {}", quote(&r.name));
    let _ = writeln!(s, "protocol = \"{}\"", r.protocol.name());
    let groups: Vec<String> = r.groups.iter().map(u32::to_string).collect();
    let _ = writeln!(s, "groups = [{}]", groups.join(", "));
    match &r.rcvbuf {
        RcvbufPlan::Default => {}
        RcvbufPlan::Request { bytes } => {
            let _ = writeln!(s, "rcvbuf = {bytes}");
        }
        RcvbufPlan::Force { bytes } => {
            let _ = writeln!(s, "rcvbuf-force = {bytes}");
        }
        RcvbufPlan::FitBurst { emitter } => {
            let _ = writeln!(s, "rcvbuf-fit = {}", quote(&plan.emitters[*emitter].name));
        }
    }
    let _ = writeln!(s, "read-buffer = {}", r.read_buffer);
    match r.mode {
        ReadMode::Blocking => {
            let _ = writeln!(s, "mode = \"blocking\"");
        }
        ReadMode::Poll => {
            let _ = writeln!(s, "mode = \"poll\"");
        }
        ReadMode::Batch { size } => {
            let _ = writeln!(s, "mode = \"batch\"\nbatch = {size}");
        }
    }
    let _ = writeln!(s, "call-deadline = {}", dur(r.call_deadline));
    if !r.consumer_delay.is_zero() {
        let _ = writeln!(s, "consumer-delay = {}", dur(r.consumer_delay));
    }
    match r.start_reading {
        ReadStart::After { delay } if delay.is_zero() => {}
        ReadStart::After { delay } => {
            let _ = writeln!(s, "start-reading-after = {}", dur(delay));
        }
        ReadStart::EmissionEnd => {
            let _ = writeln!(s, "start-reading-after = \"emission-end\"");
        }
    }
    if r.no_enobufs {
        let _ = writeln!(s, "no-enobufs = true");
    }
    if r.broadcast_error {
        let _ = writeln!(s, "broadcast-error = true");
    }
    if let Some(cpu) = r.cpu {
        let _ = writeln!(s, "cpu = {cpu}");
    }
    if r.so_error_first {
        let _ = writeln!(s, "so-error-first = true");
    }
    if r.peek {
        let _ = writeln!(s, "peek = true");
    }
    if !r.filter_drop_emitters.is_empty() {
        let names: Vec<String> = r.filter_drop_emitters.iter().map(|n| quote(n)).collect();
        let _ = writeln!(s, "filter-drop-emitters = [{}]", names.join(", "));
    }
    if !r.steps.is_empty() {
        let steps: Vec<String> = r
            .steps
            .iter()
            .map(|st| format!("{{ at = {}, {} }}", dur(st.at), st.action.describe()))
            .collect();
        let _ = writeln!(s, "steps = [{}]", steps.join(", "));
    }
    expect(s, &r.expectations);
}

/// Asserts that `plan` written out and compiled again is `plan` (test helper).
#[cfg(test)]
pub(crate) fn assert_round_trips(plan: &Plan) {
    let text = to_toml(plan, "round trip");
    let again = super::compile_str(std::path::Path::new("written.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&again, plan, "{text}");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scenario::compile_str;

    fn strip_locations(mut p: Plan) -> Plan {
        for r in &mut p.receivers {
            for e in &mut r.expectations {
                e.location.clear();
            }
        }
        for d in &mut p.dumps {
            for e in &mut d.expectations {
                e.location.clear();
            }
        }
        for program in &mut p.programs {
            for e in &mut program.expectations {
                e.location.clear();
            }
        }
        p
    }

    #[test]
    fn bundled_scenarios_round_trip() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let plan = compile_str(&path, &text).unwrap();
            let written = to_toml(&plan, "round trip");
            let again = compile_str(Path::new("written.toml"), &written)
                .unwrap_or_else(|e| panic!("{}: {e}\n{written}", path.display()));
            assert_eq!(
                strip_locations(again),
                strip_locations(plan),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 3, "only {seen} bundled scenarios found");
    }
}
