//! `nlstorm repro`: a standalone C program that reproduces what a run found, without
//! nlstorm: it makes its own namespace with unshare, sets up the same sockets, sends or
//! requests the same traffic, and exits 0 when it sees the same failure (1 when not, 2
//! when it cannot set up). The program is a fixed template; only its configuration
//! block is generated, so every reproducer shares one reviewed body.

use std::fmt::Write;

use crate::plan::{
    EmitterKind, MetricKey, PayloadPlan, Plan, RcvbufPlan, Reaction, ReadStart, Schedule,
};
use crate::report::ScenarioReport;
use crate::untrusted::{c_comment, c_string};

const TEMPLATE: &str = include_str!("template.c");

/// Why a run cannot be turned into a reproducer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

fn unsupported<T>(why: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported(why.into()))
}

fn rcvbuf(r: &RcvbufPlan) -> Result<(u8, i64), Unsupported> {
    match *r {
        RcvbufPlan::Default => Ok((0, 0)),
        RcvbufPlan::Request { bytes } => Ok((1, bytes)),
        RcvbufPlan::Force { bytes } => Ok((2, bytes)),
        RcvbufPlan::FitBurst { .. } => {
            unsupported("rcvbuf-fit: write the request the run resolved as rcvbuf = N")
        }
    }
}

fn reaction(r: Reaction) -> &'static str {
    match r {
        Reaction::KeepReading => "KEEP_READING",
        Reaction::Restart => "RESTART",
        Reaction::RetryLater => "RETRY_LATER",
        Reaction::Stop => "STOP",
    }
}

/// A generated reproducer.
#[derive(Debug, Clone)]
pub struct Reproducer {
    /// The C program.
    pub source: String,
    /// What nlstorm saw, in one line (untrusted text from the run: escape it to print).
    pub summary: String,
}

/// The C source reproducing `report` (a run of `plan`), with `source` named in its header.
///
/// Everything that comes from the scenario or the record is untrusted: text reaches
/// the C only as a [`c_string`] literal or, in the header comment, through
/// [`c_comment`]; every other generated token is a number or one of the template's own
/// names.
pub fn generate(
    plan: &Plan,
    report: &ScenarioReport,
    source: &str,
) -> Result<Reproducer, Unsupported> {
    let (config, what) = if plan.dumps.is_empty() {
        broadcast(plan, report)?
    } else {
        dump(plan, report)?
    };
    let header = format!(
        "/* nlstorm reproducer for `{}` (from {}), kernel {}.\n * What nlstorm saw: {}\n *\n * Build: cc -O2 -o repro repro.c\n * Run as root: ./repro\n * Exit 0: reproduced; 1: not reproduced; 2: could not set up.\n * Everything it creates lives in namespaces it unshares and dies with it. */",
        c_comment(&plan.name),
        c_comment(source),
        c_comment(report.kernel_release.as_deref().unwrap_or("?")),
        c_comment(&what)
    );
    Ok(Reproducer {
        source: TEMPLATE
            .replace("/*@HEADER@*/", &header)
            .replace("/*@CONFIG@*/", &config),
        summary: what,
    })
}

fn broadcast(plan: &Plan, report: &ScenarioReport) -> Result<(String, String), Unsupported> {
    let [e] = plan.emitters.as_slice() else {
        return unsupported(
            "a broadcast reproducer needs exactly one emitter (shrink the case with explore)",
        );
    };
    let [r] = plan.receivers.as_slice() else {
        return unsupported(
            "a broadcast reproducer needs exactly one receiver (shrink the case with explore)",
        );
    };
    if !r.filter_drop_emitters.is_empty() {
        return unsupported(
            "the receiver's socket filter drops the only emitter: nothing reaches it to overrun",
        );
    }
    if !r.steps.is_empty() {
        return unsupported("the reproducer has no counterpart for a receiver's `steps` yet");
    }
    let (burst, bursts, gap) = match e.schedule {
        Schedule::Burst { size, gap, count } => (size.get(), count.get(), gap),
        Schedule::Flood {
            count: Some(c),
            duration: None,
        } => (c.get(), 1, Default::default()),
        _ => {
            return unsupported(
                "a broadcast reproducer replays bursts and counted floods, not timed schedules: use schedule = { kind = \"burst\", size = N }",
            )
        }
    };
    let PayloadPlan::Fixed { bytes: payload } = e.payload else {
        return unsupported(
            "a broadcast reproducer needs a fixed payload: write payload = N (bytes)",
        );
    };
    let reads_late = r.start_reading == ReadStart::EmissionEnd
        || report
            .receivers
            .first()
            .is_some_and(|x| x.model != crate::check::ModelVerdict::NotApplicable);
    if !reads_late {
        return unsupported("a broadcast reproducer replays unread queues: the receiver read during emission (use start-reading-after = \"emission-end\")");
    }
    let (emitter, group) = match e.kind {
        EmitterKind::Usersock { group } => (0, group),
        EmitterKind::SyntheticUevent => (1, 1),
        EmitterKind::KernelUevent => (2, 1),
        EmitterKind::InjectedUevent => (3, 1),
        EmitterKind::LinkAlias => {
            return unsupported(
                "a reproducer for link-alias emitters is not written yet: it needs a veth and RTM_SETLINK in the C body",
            )
        }
    };
    let failed: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| !o.passed && r.name == o.receiver)
        .collect();
    if failed.is_empty() {
        return unsupported("every expectation held in this run: there is nothing to reproduce");
    }
    let expects: Vec<String> = r
        .expectations
        .iter()
        .filter(|x| failed.iter().any(|o| o.check == x.describe()))
        .map(|x| {
            format!(
                "{{{}, {}, {}}}",
                c_string(x.metric.key()),
                c_string(x.cmp.symbol()),
                x.value
            )
        })
        .collect();
    let (opt, bytes) = rcvbuf(&r.rcvbuf)?;
    let mut c = String::new();
    let _ = writeln!(c, "#define MODE 0\n#define EMITTER {emitter}\n#define GROUP {group}\n#define PAYLOAD {payload}");
    let _ = writeln!(
        c,
        "#define BURST {burst}L\n#define BURSTS {bursts}L\n#define GAP_US {}",
        gap.as_micros()
    );
    socket_config(&mut c, opt, bytes, r.no_enobufs);
    let _ = writeln!(
        c,
        "/* The expectations that failed in nlstorm's run: reproduced when they fail here. */"
    );
    let _ = writeln!(
        c,
        "static const struct expect EXPECT[] = {{{}}};",
        expects.join(", ")
    );
    dump_defaults(&mut c);
    let got = report.receivers.first();
    let what = format!(
        "receiver `{}` lost {} of {} (ENOBUFS {}), failing {}",
        r.name,
        got.map_or(0, |x| x.lost),
        got.map_or(0, |x| x.sent),
        got.map_or(0, |x| x.enobufs),
        failed
            .iter()
            .map(|o| o.check.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok((c, what))
}

/// The receiving socket's buffer request and NETLINK_NO_ENOBUFS, for either half.
fn socket_config(c: &mut String, opt: u8, bytes: i64, no_enobufs: bool) {
    let _ = writeln!(
        c,
        "#define RCVBUF_OPT {opt}\n#define RCVBUF {bytes}LL\n#define NO_ENOBUFS {}",
        u8::from(no_enobufs)
    );
}

/// The dump half's constants, unused in a broadcast reproducer.
fn dump_defaults(c: &mut String) {
    let _ = writeln!(c, "#define REQUEST 0\n#define VETHS 0\n#define CHURN_LINKS 0\n#define TCP_CONNS 0\n#define COUNT 0\n#define INTERVAL_US 0\n#define READ_BUFFER 4096\n#define EVENT_READ_BUFFER 0\n#define GROUPS 0u\n#define CALL_DEADLINE_MS 100\n#define ON_ENOBUFS KEEP_READING\n#define ON_EBUSY KEEP_READING\n#define ON_TRUNCATED KEEP_READING\n#define ON_ERROR KEEP_READING\n#define EXPECT_CLASS \"\"\n#define VERIFY 0\n#define EXPECT_SHORT 0\nstatic const struct bpf_ins FILTER[] = {{{{0, 0, 0, 0}}}};");
}

fn dump(plan: &Plan, report: &ScenarioReport) -> Result<(String, String), Unsupported> {
    let [d] = plan.dumps.as_slice() else {
        return unsupported(
            "a dump reproducer replays one dump client: keep only the [[dump]] that hung or was short",
        );
    };
    let Some(result) = report.dumps.iter().find(|x| d.name == x.record.name) else {
        return unsupported("the run has no result for the dump client");
    };
    // A hang is what a reproducer is for first; a dump that ended short is the other
    // failure a client can show.
    let hang = result.hang_classes.iter().max_by_key(|(_, n)| **n);
    let short = result.record.short_dumps;
    if hang.is_none() && short == 0 {
        return unsupported(if d.verify {
            "the dump client neither hung nor ended a dump short in this run: there is nothing to reproduce"
        } else {
            "the dump client never hung in this run (`verify = true` would also check its dumps for missing objects): there is nothing to reproduce"
        });
    }
    if d.peek {
        return unsupported(
            "the reproducer reads with fixed buffers; a dump client with `peek` has no C counterpart yet",
        );
    }
    let (opt, bytes) = rcvbuf(&d.rcvbuf)?;
    let groups = d.groups.iter().fold(0u32, |m, g| m | 1 << (g - 1));
    let mut c = String::new();
    let _ = writeln!(c, "#define MODE 1\n#define EMITTER 0\n#define GROUP 1\n#define PAYLOAD 0\n#define BURST 0L\n#define BURSTS 0L\n#define GAP_US 0");
    socket_config(&mut c, opt, bytes, d.no_enobufs);
    let _ = writeln!(
        c,
        "static const struct expect EXPECT[] = {{{{\"\", \"==\", 0}}}};"
    );
    let _ = writeln!(
        c,
        "#define REQUEST {}\n#define VETHS {}\n#define CHURN_LINKS {}\n#define TCP_CONNS {}\n#define COUNT {}\n#define INTERVAL_US {}",
        u8::from(d.request == crate::plan::DumpRequest::InetDiag),
        plan.world.veths,
        u8::from(
            plan.churn
                .iter()
                .any(|c| matches!(c, crate::plan::Churn::Links { .. })),
        ),
        plan.world.tcp_connections,
        d.count,
        d.interval.as_micros()
    );
    let _ = writeln!(
        c,
        "#define READ_BUFFER {}\n#define EVENT_READ_BUFFER {}\n#define GROUPS {groups}u\n#define CALL_DEADLINE_MS {}",
        d.read_buffer,
        d.event_read_buffer.unwrap_or(0),
        d.call_deadline.as_millis().max(1)
    );
    let p = d.policy;
    let _ = writeln!(
        c,
        "#define ON_ENOBUFS {}\n#define ON_EBUSY {}\n#define ON_TRUNCATED {}\n#define ON_ERROR {}",
        reaction(p.on_enobufs),
        reaction(p.on_ebusy),
        reaction(p.on_truncated),
        reaction(p.on_error)
    );
    match hang {
        Some((class, _)) => {
            let _ = writeln!(
                c,
                "/* Reproduced when a hang of this class is seen. */\n#define EXPECT_CLASS {}\n#define VERIFY {}\n#define EXPECT_SHORT 0",
                c_string(class),
                u8::from(d.verify)
            );
        }
        None => {
            let _ = writeln!(
                c,
                "/* Reproduced when a dump ends with NLMSG_DONE but lists fewer objects than were present throughout. */\n#define EXPECT_CLASS \"\"\n#define VERIFY 1\n#define EXPECT_SHORT 1"
            );
        }
    }
    let mut ins = vec!["{0, 0, 0, 0}".to_string()];
    ins.extend(
        d.filter
            .iter()
            .map(|(code, jt, jf, k)| format!("{{{code}, {jt}, {jf}, {k}u}}")),
    );
    let _ = writeln!(c, "/* Socket filter; the first entry is a placeholder. */\nstatic const struct bpf_ins FILTER[] = {{{}}};", ins.join(", "));
    let what = match hang {
        Some((class, n)) => {
            let first = result.record.hangs.iter().find(|h| h.class.name() == class);
            format!(
                "dump client `{}` hung {n} times as {class}{}",
                d.name,
                first.map_or(String::new(), |h| format!(": {}", h.reason))
            )
        }
        None => format!(
            "dump client `{}` ended {short} dumps short: {}",
            d.name,
            result.record.first_short.as_deref().unwrap_or("")
        ),
    };
    Ok((c, what))
}

#[cfg(test)]
mod untrusted_tests;
