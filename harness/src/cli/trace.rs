//! `nlstorm trace record` and `nlstorm trace show`: make a trace in a sandbox, and say
//! what a trace holds and what it takes to survive it on this kernel.

use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use nlstorm::child::{self, Answer, Job};
use nlstorm::errors::Kind;
use nlstorm::exit;
use nlstorm::plan::*;
use nlstorm::trace::record::{RecordJob, Recording};
use nlstorm::trace::{self, Summary, Trace, TraceEvent, BURST_WINDOW};
use nlstorm::untrusted::Name;

use super::args;

#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Record the kernel uevents a command makes, inside a fresh sandbox, in the format
    /// of `udevadm monitor --kernel --property`, headed by its provenance.
    #[command(
        after_help = "Examples:\n  nlstorm trace record --out veth.txt -- ip link add v0 type veth peer name v1\n  nlstorm trace record --out storm.txt --duration 5s -- sh -c 'for i in 1 2 3; do ip link add d$i type dummy; done'\n\nThe command runs in the sandbox's own network and mount namespaces (no shell unless\nyou name one), its output on stderr; recording ends --settle after it exits."
    )]
    Record(RecordArgs),
    /// Summarise a trace: events, subsystems, the largest burst in any 10 ms, message
    /// sizes, and (in a sandbox) the smallest SO_RCVBUF that holds that burst unread.
    #[command(
        after_help = "Examples:\n  nlstorm trace show fixtures/traces/veth-pairs.txt\n  nlstorm trace show my-capture.txt --no-kernel      (no sandbox: the trace alone)"
    )]
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where to write the trace.
    #[arg(long)]
    out: PathBuf,
    /// Longest recording.
    #[arg(long, default_value = "10s", value_parser = args::duration)]
    duration: Duration,
    /// How long to go on after the command exits.
    #[arg(long, default_value = "200ms", value_parser = args::duration)]
    settle: Duration,
    /// The command to run in the sandbox, after `--`.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The trace.
    file: PathBuf,
    /// Write the summary as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Do not measure on this kernel (no sandbox, no privilege needed).
    #[arg(long)]
    no_kernel: bool,
    /// Include udevd's `UDEV [...]` events.
    #[arg(long)]
    udev_events: bool,
}

pub fn run(c: TraceCommand) -> anyhow::Result<i32> {
    match c {
        TraceCommand::Record(a) => record(a),
        TraceCommand::Show(a) => show(a),
    }
}

fn record(a: RecordArgs) -> anyhow::Result<i32> {
    args::check_output("--out", &a.out).map_err(super::bad_input)?;
    let exe = std::env::current_exe().context("failed to find the nlstorm binary")?;
    let job = RecordJob {
        command: a.command.clone(),
        duration: a.duration,
        settle: a.settle,
    };
    err!(
        "nlstorm trace record: recording in a sandbox for at most {} ...",
        nlstorm::units::format_duration(a.duration)
    );
    let limit = a.duration + a.settle + child::GRACE;
    let (rec, kernel) = match child::run_job(&exe, &Job::Record(job), limit) {
        Ok(Answer::Recorded {
            recording,
            kernel_release,
        }) => (*recording, kernel_release),
        Ok(Answer::Failed { code, message }) => return Err(super::reported(code, message)),
        Ok(_) => anyhow::bail!("the sandbox process gave an unexpected answer"),
        Err(e) => return Err(super::failed(e)),
    };
    let trace = with_provenance(&a, &rec, &kernel);
    write_atomically(&a.out, &trace::format(&trace))?;
    let refs: Vec<&TraceEvent> = trace.events.iter().collect();
    let s = Summary::of(&refs);
    out!(
        "{}: {} kernel uevents over {} ({}), largest burst {} in {}",
        a.out.display(),
        s.events,
        span(s.span_us),
        subsystems(&s),
        s.largest_burst,
        nlstorm::units::format_duration(BURST_WINDOW)
    );
    if rec.killed {
        err!(
            "nlstorm trace record: the command was still running after {} and was killed",
            nlstorm::units::format_duration(a.duration)
        );
    }
    if rec.overflowed {
        return Err(super::failure(
            Kind::Harness,
            "the recording socket overflowed (ENOBUFS): the trace is missing events",
        ));
    }
    Ok(match rec.exit_code {
        Some(0) | None if !rec.killed => exit::PASS,
        _ => {
            err!(
                "nlstorm trace record: the command failed ({}); the trace holds what it made",
                rec.exit_code
                    .map_or("killed".into(), |c| format!("exit {c}"))
            );
            exit::FINDING
        }
    })
}

/// The recording headed by what made it: the command, kernel and date, and what it
/// holds, so a bundled trace can be traced back and remade.
fn with_provenance(a: &RecordArgs, rec: &Recording, kernel: &str) -> Trace {
    let command = if a.command.is_empty() {
        String::new()
    } else {
        format!(" -- {}", shell_words(&a.command))
    };
    let mut provenance = vec![
        format!(
            "recorded by: nlstorm trace record --duration {} --settle {}{command}",
            nlstorm::units::format_duration(a.duration),
            nlstorm::units::format_duration(a.settle)
        ),
        format!("kernel: {kernel}"),
        format!(
            "date: {}",
            nlstorm::record::utc_stamp(std::time::SystemTime::now())
        ),
        "where: a fresh network and mount namespace (sysfs of its own); kernel uevents only, as `udevadm monitor --kernel --property` prints them".into(),
    ];
    if rec.not_from_kernel > 0 {
        provenance.push(format!(
            "left out: {} datagrams from user space (not kernel uevents)",
            rec.not_from_kernel
        ));
    }
    if rec.overflowed {
        provenance.push("INCOMPLETE: the recording socket overflowed".into());
    }
    Trace {
        provenance,
        events: rec.trace.events.clone(),
    }
}

/// argv as a shell would need it typed, for the provenance line.
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("failed to create a file in {}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    tmp.persist(path)
        .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(())
}

/// A trace's span for people: `185.6 ms`, `2.41 s`, `448 us`.
fn span(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} us"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

fn subsystems(s: &Summary) -> String {
    s.subsystems
        .iter()
        .map(|(n, c)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `trace show --json` writes.
#[derive(serde::Serialize)]
struct Shown {
    file: String,
    provenance: Vec<String>,
    summary: Summary,
    kernel: Option<Held>,
}

/// The largest burst replayed flat out into an unread socket sized by the model. The
/// replay tags each event with nlstorm's keys, so its messages are larger than the
/// recorded ones; `recorded` gives the buffer for the events as the kernel sent them.
#[derive(serde::Serialize)]
struct Held {
    kernel_release: String,
    burst: usize,
    /// The buffer for the recorded events at their own size.
    recorded: Recorded,
    /// Bytes the replay adds to each event (nlstorm's run id, source and sequence keys).
    replay_adds: usize,
    rcvbuf_request: Option<i64>,
    rcvbuf_effective: u64,
    queued: u64,
    lost: u64,
    /// The same burst into a socket one request byte smaller.
    below: Option<Below>,
}

/// The smallest buffer that holds the burst at its recorded sizes, by the model, from
/// truesizes measured on this kernel for messages of those lengths (a broadcast of N
/// bytes is charged alike whoever sends it: both are one alloc_skb(N)).
#[derive(serde::Serialize)]
struct Recorded {
    /// Each event's length as the kernel sent it: the recorded text and SEQNUM.
    bytes: Vec<usize>,
    /// The truesize each was measured to cost, in the same order.
    truesize: Vec<u64>,
    rcvbuf_request: Option<i64>,
    rcvbuf_effective: u64,
}

/// What a buffer just under the model's figure did with the burst.
#[derive(serde::Serialize)]
struct Below {
    rcvbuf_request: i64,
    rcvbuf_effective: u64,
    queued: u64,
    lost: u64,
}

fn show(a: ShowArgs) -> anyhow::Result<i32> {
    if let Some(Err(e)) = a.json.as_deref().map(|p| args::check_output("--json", p)) {
        return Err(super::bad_input(e));
    }
    let shown_name = a.file.display().to_string();
    let text = match nlstorm::untrusted::read_untrusted(&a.file, nlstorm::untrusted::Bound::Trace) {
        Ok(t) => t,
        Err(e) => return Err(super::bad_input(format!("cannot read {e}"))),
    };
    let t = trace::parse(&text, &shown_name).map_err(super::bad_input)?;
    let events: Vec<&TraceEvent> = t.replayable(a.udev_events).collect();
    if events.is_empty() {
        return Err(super::bad_input(format!(
            "{shown_name} holds no event to summarise"
        )));
    }
    let s = Summary::of(&events);
    for p in &t.provenance {
        out!("# {p}");
    }
    out!("{} events over {}", s.events, span(s.span_us));
    out!("  subsystems   {}", subsystems(&s));
    out!(
        "  actions      {}",
        s.actions
            .iter()
            .map(|(n, c)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out!(
        "  burst        {} events in the busiest {} (from event {})",
        s.largest_burst,
        nlstorm::units::format_duration(BURST_WINDOW),
        s.largest_burst_at + 1
    );
    out!(
        "  sizes        {} / {} / {} B (smallest / median / largest, as the kernel sends them without SEQNUM)",
        s.wire_bytes.0,
        s.wire_bytes.1,
        s.wire_bytes.2
    );
    let mut held = None;
    if !a.no_kernel {
        let burst: Vec<TraceEvent> = events
            [s.largest_burst_at..s.largest_burst_at + s.largest_burst]
            .iter()
            .map(|e| (*e).clone())
            .collect();
        let h = hold_burst(&shown_name, burst)?;
        let request =
            |r: Option<i64>| r.map_or("none can (SO_RCVBUFFORCE)".into(), |b| format!("{b} B"));
        out!(
            "  on {}, the smallest SO_RCVBUF request that holds that burst unread:",
            h.kernel_release
        );
        out!(
            "    as recorded  {} (effective {} B, by the model: {} B of truesize for its {} B of messages, measured here)",
            request(h.recorded.rcvbuf_request),
            h.recorded.rcvbuf_effective,
            h.recorded.truesize.iter().sum::<u64>(),
            h.recorded.bytes.iter().sum::<usize>()
        );
        out!(
            "    as replayed  {} (effective {} B, by the model; each event carries {} B of nlstorm's keys); replayed flat out into such a socket: {} queued, {} lost",
            request(h.rcvbuf_request),
            h.rcvbuf_effective,
            h.replay_adds,
            h.queued,
            h.lost
        );
        if let Some(b) = &h.below {
            out!(
                "    as replayed, one byte less (SO_RCVBUF {} B, effective {} B): {} queued, {} lost",
                b.rcvbuf_request,
                b.rcvbuf_effective,
                b.queued,
                b.lost
            );
        }
        held = Some(h);
    }
    // The model is wrong if its buffer lost, or if one byte less did not.
    let lost = held
        .as_ref()
        .is_some_and(|h| h.lost > 0 || h.below.as_ref().is_some_and(|b| b.lost == 0));
    if let Some(p) = a.json {
        let doc = Shown {
            file: shown_name,
            provenance: t.provenance.clone(),
            summary: s,
            kernel: held,
        };
        std::fs::write(&p, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("failed to write {}", p.display()))?;
    }
    Ok(if lost { exit::FINDING } else { exit::PASS })
}

/// Replays `burst` flat out (injected-uevent) into one unread receiver whose SO_RCVBUF
/// the model fits to it, and reports what the kernel queued.
fn hold_burst(name: &str, burst: Vec<TraceEvent>) -> anyhow::Result<Held> {
    use nlstorm::execute::{ChildSession, Execute};
    let n = burst.len();
    let recorded_events = burst.clone();
    let plan = one_to_one(
        "trace-show",
        format!("largest burst of {name}"),
        EmitterPlan {
            name: Name::internal("burst"),
            kind: EmitterKind::InjectedUevent,
            schedule: Schedule::Replay {
                at: vec![Duration::ZERO; n],
                repeat: NonZeroU64::MIN,
                period: Duration::ZERO,
                speed: 0.0,
            },
            payload: PayloadPlan::Trace {
                trace: name.to_string(),
                events: burst,
            },
            start: Duration::ZERO,
            cpu: None,
        },
        ReceiverPlan::unread(
            Name::internal("unread"),
            Protocol::KobjectUevent,
            1,
            RcvbufPlan::FitBurst { emitter: 0 },
        ),
    );
    let exe = std::env::current_exe().context("failed to find the nlstorm binary")?;
    let session =
        ChildSession::for_emitter(&exe, EmitterKind::InjectedUevent).map_err(super::failed)?;
    let recorded = recorded_buffer(&session, &recorded_events)?;
    let (setup, queued, lost) = replayed(&session, &plan)?;
    let below = match setup.rcvbuf_requested {
        Some(req) if req > 0 => {
            let mut smaller = plan.clone();
            smaller.receivers[0].rcvbuf = RcvbufPlan::Request { bytes: req - 1 };
            let (s, queued, lost) = replayed(&session, &smaller)?;
            Some(Below {
                rcvbuf_request: req - 1,
                rcvbuf_effective: s.rcvbuf_effective,
                queued,
                lost,
            })
        }
        _ => None,
    };
    Ok(Held {
        kernel_release: session.kernel_release().to_string(),
        burst: n,
        recorded,
        replay_adds: nlstorm::payload::REPLAY_KEYS_LEN,
        rcvbuf_request: setup.rcvbuf_requested,
        rcvbuf_effective: setup.rcvbuf_effective,
        queued,
        lost,
        below,
    })
}

/// A plan of one emitter into one receiver, for the kernel measurements `trace show`
/// makes: a 30 s deadline and nothing else in the sandbox.
fn one_to_one(
    name: &str,
    description: String,
    emitter: EmitterPlan,
    receiver: ReceiverPlan,
) -> Plan {
    Plan {
        name: Name::internal(name),
        description,
        seed: 1,
        deadline: Duration::from_secs(30),
        emitters: vec![emitter],
        receivers: vec![receiver],
        dumps: vec![],
        world: Default::default(),
        churn: vec![],
        programs: vec![],
        timing_bound: false,
    }
}

/// The buffer for `burst` at its recorded sizes: each event's text plus the
/// `SEQNUM=<n>\0` the kernel sent with it (its recorded SEQNUM's digits, or the
/// counter's now), each length's truesize measured by broadcasting one usersock message
/// of that length into an unread socket, then the fitted rule.
fn recorded_buffer(
    session: &impl nlstorm::execute::Execute,
    burst: &[TraceEvent],
) -> anyhow::Result<Recorded> {
    let now = nlstorm::plan::limits::seqnum_soon();
    let bytes: Vec<usize> = burst
        .iter()
        .map(|e| {
            let seqnum = e.seqnum.unwrap_or(now);
            e.wire().len() + format!("SEQNUM={seqnum}").len() + 1
        })
        .collect();
    let mut lengths = bytes.clone();
    lengths.sort_unstable();
    lengths.dedup();
    let mut cost = std::collections::BTreeMap::new();
    truesizes(session, &lengths, &mut cost)?;
    let truesize: Vec<u64> = bytes.iter().map(|b| cost[b]).collect();
    let facts = session.facts();
    let need = session.rule().rcvbuf_for(&truesize);
    let rcvbuf_request = facts.request_for(need);
    let rcvbuf_effective =
        rcvbuf_request.map_or(need, |r| facts.effective(nlstorm::model::Request::Plain(r)));
    Ok(Recorded {
        bytes,
        truesize,
        rcvbuf_request,
        rcvbuf_effective,
    })
}

/// Truesizes of sorted `lengths`, measured at the ends and bisected only where they
/// differ: truesize never falls as a message grows, so equal ends settle the middle.
fn truesizes(
    session: &impl nlstorm::execute::Execute,
    lengths: &[usize],
    cost: &mut std::collections::BTreeMap<usize, u64>,
) -> anyhow::Result<()> {
    let (Some(&lo), Some(&hi)) = (lengths.first(), lengths.last()) else {
        return Ok(());
    };
    for len in [lo, hi] {
        if let std::collections::btree_map::Entry::Vacant(e) = cost.entry(len) {
            e.insert(weigh(session, len)?);
        }
    }
    if cost[&lo] == cost[&hi] {
        for len in lengths {
            cost.insert(*len, cost[&lo]);
        }
    } else if lengths.len() > 2 {
        let mid = lengths.len() / 2;
        truesizes(session, &lengths[..=mid], cost)?;
        truesizes(session, &lengths[mid..], cost)?;
    }
    Ok(())
}

/// What one usersock broadcast of `len` bytes costs an unread socket, as the run's
/// calibration measured it.
fn weigh(session: &impl nlstorm::execute::Execute, len: usize) -> anyhow::Result<u64> {
    const GROUP: u32 = 9;
    let bytes = len.max(nlstorm::plan::USERSOCK_HEADER);
    let plan = one_to_one(
        "trace-show-weigh",
        format!("one {len} B broadcast"),
        EmitterPlan {
            name: Name::internal("weigh"),
            kind: EmitterKind::Usersock { group: GROUP },
            schedule: Schedule::Burst {
                size: NonZeroU64::MIN,
                gap: Duration::ZERO,
                count: NonZeroU64::MIN,
            },
            payload: PayloadPlan::Fixed {
                bytes: bytes as u32,
            },
            start: Duration::ZERO,
            cpu: None,
        },
        ReceiverPlan::unread(
            Name::internal("unread"),
            Protocol::Usersock,
            GROUP,
            RcvbufPlan::Default,
        ),
    );
    let h = session.execute(&plan).map_err(super::failed)?;
    h.calibration
        .iter()
        .find(|p| p.wire_len == bytes)
        .map(|p| p.truesize)
        .ok_or_else(|| {
            super::failure(
                Kind::Harness,
                format!("the run did not weigh a {len} B message"),
            )
        })
}

/// The receiver's setup, and how many of the burst it queued and lost.
fn replayed(
    session: &impl nlstorm::execute::Execute,
    plan: &Plan,
) -> anyhow::Result<(nlstorm::history::ReceiverSetup, u64, u64)> {
    let h = session.execute(plan).map_err(super::failed)?;
    let r = &h
        .receivers
        .first()
        .ok_or_else(|| super::failure(Kind::Harness, "the run recorded no receiver"))?
        .record;
    let got: u64 = r.sources.iter().map(|s| s.delivered()).sum();
    let sent: u64 = h.emitters.iter().map(|e| e.sent).sum();
    Ok((r.setup.clone(), got, sent.saturating_sub(got)))
}
