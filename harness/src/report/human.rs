//! The terminal table.

use std::fmt::Write;

use super::model::ScenarioReport;
use crate::probe::ProbeReport;

/// Socket rows shown per program; the rest are summed in one line.
const SOCKET_ROWS: usize = 4;

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// One scenario as a table.
pub fn print_scenario(s: &ScenarioReport) -> String {
    let mut o = String::new();
    // Single-line fields keep to one line: a record's kernel_release holding a newline
    // must not print a forged `ok` or `1 passed` line into a CI log.
    let kernel = one_line(s.kernel_release.as_deref().unwrap_or("?"));
    let _ = writeln!(
        o,
        "{}  {}  ({}; kernel {kernel}{})",
        s.scenario,
        s.status.to_uppercase(),
        one_line(&s.file),
        s.elapsed_s.map_or(String::new(), |e| format!(", {e:.3}s"))
    );
    if let Some(e) = &s.error {
        let what = if s.status == crate::report::SKIPPED {
            "skipped"
        } else {
            "error"
        };
        let _ = writeln!(o, "  {what}: {e}");
        return crate::untrusted::terminal(&o);
    }
    if !s.receivers.is_empty() {
        let _ = writeln!(
            o,
            "  {:<16} {:>22} {:>8} {:>8} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9} {:>9}",
            "receiver",
            "rcvbuf req -> eff",
            "sent",
            "deliv",
            "lost",
            "enobufs",
            "drops",
            "truesize",
            "capacity",
            "pred.lost",
            "max_rmem"
        );
    }
    for r in &s.receivers {
        let req = match r.rcvbuf_requested {
            Some(v) => format!(
                "{v}{}",
                if r.rcvbuf_option == crate::model::RcvbufOption::SoRcvbufForce {
                    "F"
                } else {
                    ""
                }
            ),
            None => "default".into(),
        };
        let _ = writeln!(
            o,
            "  {:<16} {:>22} {:>8} {:>8} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9} {:>9}",
            r.name,
            format!("{req} -> {}", r.rcvbuf_effective),
            r.sent,
            r.delivered,
            r.lost,
            r.enobufs,
            opt(r.kernel_drops),
            opt(r.truesize),
            opt(r.predicted_capacity),
            opt(r.predicted_lost),
            r.max_rmem
        );
        let mut notes = Vec::new();
        if r.model == crate::check::ModelVerdict::Disagrees {
            notes.push(format!(
                "MODEL DISAGREES: predicted lost {} vs measured {}",
                opt(r.predicted_lost),
                r.lost
            ));
        }
        if r.truncated > 0 {
            notes.push(format!("{} truncated", r.truncated));
        }
        if r.unnumbered > 0 {
            notes.push(format!(
                "{} without a sequence number (cut or bare)",
                r.unnumbered
            ));
        }
        if r.foreign > 0 {
            notes.push(format!("{} foreign", r.foreign));
        }
        if let Some(cpu) = r.cpu {
            notes.push(format!("ran on cpu {cpu}"));
        }
        for st in &r.steps {
            notes.push(match (st.applied_ns, &st.error) {
                (None, _) => format!("step `{}` not reached", st.step),
                (Some(at), Some(e)) => format!(
                    "step `{}` at {:.1} ms refused: {e}",
                    st.step,
                    at as f64 / 1e6
                ),
                (Some(at), None) => format!(
                    "step `{}` at {:.1} ms (rcvbuf then {})",
                    st.step,
                    at as f64 / 1e6,
                    st.rcvbuf_effective.map_or("-".into(), |b| b.to_string())
                ),
            });
        }
        for f in &r.filtered_out {
            notes.push(format!(
                "socket filter dropped `{}`: {} sent, {} arrived",
                f.emitter, f.sent, f.delivered
            ));
        }
        if r.out_of_order + r.duplicates > 0 {
            notes.push(format!(
                "{} out of order, {} duplicates",
                r.out_of_order, r.duplicates
            ));
        }
        if r.stopped_by_deadline {
            notes.push("reading cut by the deadline".into());
        }
        if !notes.is_empty() {
            let _ = writeln!(o, "  {:<16} {}", "", notes.join("; "));
        }
    }
    for e in &s.emitters {
        let secs = (e.finished_ns.saturating_sub(e.started_ns)) as f64 / 1e9;
        let rate = if secs > 0.0 {
            format!("{:.0}/s", e.sent as f64 / secs)
        } else {
            "burst".into()
        };
        let _ = writeln!(
            o,
            "  emitter {:<12} {:<16} sent {:>8} in {:.4}s ({rate}){}{}",
            e.name,
            e.kind,
            e.sent,
            secs,
            if e.send_errors > 0 {
                format!(", {} send errors", e.send_errors)
            } else {
                String::new()
            },
            e.cpu.map_or(String::new(), |c| format!(", on cpu {c}"))
        );
        if let Some(t) = e.timing {
            let _ = writeln!(
                o,
                "  {:<20} replayed {} sends late by median {}, max {} against the trace's times",
                "",
                t.sends,
                lateness(t.median_ns),
                lateness(t.max_ns),
            );
        }
    }
    for d in &s.dumps {
        let r = &d.record;
        let _ = writeln!(
            o,
            "  dump {:<15} {:<9} requests {:>6}  done {:>6}  calls {}/{}  hangs {:>3}  enobufs {}  trunc {}  ebusy {}{}{}",
            r.name,
            r.request,
            r.requests,
            r.completed,
            r.calls_started,
            r.calls_returned,
            r.hangs.len(),
            r.enobufs,
            r.truncated,
            r.ebusy,
            if r.stale_ebusy > 0 {
                format!(" (+{} stale)", r.stale_ebusy)
            } else {
                String::new()
            },
            if r.stopped_by_policy { "  (stopped by policy)" } else { "" }
        );
        if r.verified > 0 {
            let _ = writeln!(
                o,
                "    verified {} dumps against the namespace: {} short, {} objects missed",
                r.verified, r.short_dumps, r.objects_missed
            );
        }
        if r.error_acks > 0 {
            let _ = writeln!(
                o,
                "    error acks {}, of which {} dumps completed afterwards under the same seq; first: {}",
                r.error_acks,
                r.completed_after_error_ack,
                r.first_error_ack.as_deref().unwrap_or("-")
            );
        }
        if let Some(first) = &r.first_short {
            let _ = writeln!(o, "    first short dump: {}", one_line(first));
        }
        for (class, n) in &d.hang_classes {
            let first = r.hangs.iter().find(|h| h.class.name() == class);
            let _ = writeln!(
                o,
                "    {n} x {class}: {}",
                first.map_or(String::new(), |h| format!(
                    "{} (waited {:.0} ms for seq {}; wchan {})",
                    one_line(&h.reason),
                    h.waited_ns as f64 / 1e6,
                    h.waiting_seq,
                    one_line(h.wchan.as_deref().unwrap_or("?"))
                ))
            );
        }
    }
    for p in &s.programs {
        print_program(&mut o, p);
    }
    for c in &s.churn {
        // Records from before the rate was kept have none to show.
        let rate = if c.requested_per_sec > 0.0 {
            format!(
                " in {:.2}s ({:.0}/s of {}/s asked)",
                c.elapsed_ns as f64 / 1e9,
                c.achieved_per_sec,
                c.requested_per_sec
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "  churn {:<14} {} changes{}{rate}",
            c.kind,
            c.changes,
            if c.errors > 0 {
                format!(", {} failed", c.errors)
            } else {
                String::new()
            },
        );
        if c.far_below_request {
            let _ = writeln!(
                o,
                "  WARNING: churn {} ran at {:.0}/s, under {:.0}% of the {}/s asked: each change waits for the kernel's acknowledgement, so this is as fast as the kernel takes them here",
                c.kind,
                c.achieved_per_sec,
                crate::history::churn::FAR_BELOW * 100.0,
                c.requested_per_sec
            );
        }
    }
    for c in &s.outcomes {
        let mark = if c.passed { "ok  " } else { "FAIL" };
        let loc = if c.location.is_empty() {
            String::new()
        } else {
            format!("  [{}]", one_line(&c.location))
        };
        let _ = writeln!(
            o,
            "  {mark} {}: {} (measured {}){loc}",
            one_line(&c.receiver),
            one_line(&c.check),
            one_line(&c.measured)
        );
    }
    let label = if s.exit_code == crate::exit::BAD_INPUT {
        "BAD INPUT"
    } else {
        "HARNESS ERROR"
    };
    for p in &s.problems {
        let _ = writeln!(o, "  {label}: {p}");
    }
    if let Some(d) = &s.record_dir {
        let _ = writeln!(o, "  record: {}", one_line(d));
    }
    crate::untrusted::terminal(&o)
}

/// The probe's findings.
pub fn print_probe(p: &ProbeReport) -> String {
    let mut o = String::new();
    let f = &p.facts;
    let _ = writeln!(
        o,
        "kernel {}  (sandbox: {})",
        p.kernel_release,
        if p.sandbox.user_namespace {
            "user+net+mount namespaces"
        } else {
            "net+mount namespaces"
        }
    );
    let _ = writeln!(
        o,
        "SOCK_MIN_RCVBUF {}   net.core.rmem_max {}   net.core.rmem_default {}",
        f.sock_min_rcvbuf, f.rmem_max, f.rmem_default
    );
    let _ = writeln!(
        o,
        "measured by socket alone (the fallback where the sysctls are hidden): rmem_default {}   rmem_max {}",
        p.rmem_by_socket[0], p.rmem_by_socket[1]
    );
    let _ = writeln!(
        o,
        "SO_RCVBUF mapping (model: max(2*min((u32)req, rmem_max), SOCK_MIN_RCVBUF); FORCE: max(2*max(req, 0), SOCK_MIN_RCVBUF)): {}",
        if p.doubling_confirmed {
            "confirmed"
        } else {
            "DIFFERS"
        }
    );
    for m in &p.rcvbuf_mapping {
        let _ = writeln!(
            o,
            "  {:<15} {:>9} -> {:>9}  (model {})",
            m.option,
            m.request,
            opt(m.effective),
            m.model
        );
    }
    let _ = writeln!(o, "SO_RCVBUFFORCE permitted: {}", p.rcvbuf_force_permitted);
    let _ = writeln!(
        o,
        "kernel-uevent path (write to /sys/class/net/<dev>/uevent) permitted: {}",
        p.kernel_uevent_permitted
    );
    let _ = writeln!(o, "NETLINK_NO_ENOBUFS honoured (drops counted, no error): {}; ENOBUFS reported without it: {}", p.no_enobufs_honoured, p.enobufs_reported_without_it);
    let e = &p.episodes;
    let _ = writeln!(
        o,
        "ENOBUFS episodes: error before data {}; errors per episode {}; refused while congested with room {}; re-armed once read to empty {}",
        e.error_before_data, e.errors_per_episode, e.refused_while_congested, e.rearmed_after_empty
    );
    let _ = writeln!(
        o,
        "one usersock broadcast, no listener: {} ns (mean of {} sends, per batch)",
        p.broadcast_ns
            .iter()
            .map(|n| format!("{n:.0}"))
            .collect::<Vec<_>>()
            .join(" "),
        crate::probe::SEND_BATCH
    );
    for t in &p.truesize {
        let _ = writeln!(
            o,
            "truesize per message, {} (smallest message {} B{}):",
            t.emitter,
            t.min_payload,
            if t.emitter == "kernel-uevent" {
                " now; one more each time the kernel's SEQNUM gains a digit"
            } else {
                ""
            }
        );
        for b in &t.buckets {
            let _ = writeln!(o, "  {:>6}..={:<6} B -> {} B", b.from, b.to, b.truesize);
        }
    }
    let agree = p
        .capacity
        .iter()
        .filter(|c| {
            Some(c.queued)
                == p.admit_rule
                    .map(|r| r.capacity(c.rcvbuf_effective, c.truesize))
        })
        .count();
    let _ = writeln!(
        o,
        "capacity rule fitted: {} ({agree}/{} flood cases of unread queues explained)",
        p.admit_rule
            .map_or("NONE FITS".into(), |r| format!("{r:?}")),
        p.capacity.len()
    );
    for c in &p.capacity {
        let _ = writeln!(o, "  {:<17} req {:>6} eff {:>6} payload {:>5} truesize {:>5}: sent {:>4} queued {:>4} (model {})", c.emitter, c.rcvbuf_request, c.rcvbuf_effective, c.payload, c.truesize, c.sent, c.queued, p.admit_rule.map_or(0, |r| r.capacity(c.rcvbuf_effective, c.truesize)));
    }
    crate::untrusted::terminal(&o)
}

/// A program's figures: one line of counts, one per netlink socket it held, one of how
/// it behaved.
fn print_program(o: &mut String, p: &crate::check::program::ProgramResult) {
    let ended = match (p.exit_code, p.signal) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "not reaped".into(),
    };
    let measured = |v: u64| {
        if p.loss_measured {
            v.to_string()
        } else {
            "-".into()
        }
    };
    let _ = writeln!(
        o,
        "  program {:<12} sent {:>7}  seen {:>7}  lost {:>6}  kernel drops {:>7}  silent loss {:>6}  hangs {}  {}{}",
        p.name,
        p.sent,
        measured(p.seen),
        measured(p.lost),
        format!(
            "{}{}",
            if p.kernel_drops_lower_bound { ">=" } else { "" },
            p.kernel_drops
        ),
        measured(p.silent_loss),
        p.hangs.len(),
        ended,
        if p.killed { " (killed)" } else { "" }
    );
    // A polling agent opens a socket per poll: hundreds of rows would bury the rest.
    for s in p.sockets.iter().take(SOCKET_ROWS) {
        let _ = writeln!(
            o,
            "    socket {:<14} groups {:#x}  rcvbuf {:>8}  max rmem {:>8}  drops {:>6}  (pid {} fd {}){}",
            crate::plan::Protocol::name_of(s.protocol),
            s.groups,
            s.rcvbuf.map_or("?".into(), |r| r.to_string()),
            s.max_rmem,
            s.drops,
            s.pid,
            s.fd,
            if s.closed { ", closed while it ran" } else { "" }
        );
    }
    let rest = p.sockets.get(SOCKET_ROWS..).unwrap_or_default();
    if !rest.is_empty() {
        let _ = writeln!(
            o,
            "    ... {} ({} closed while it ran, {} drops among them; all in --json)",
            super::count(rest.len() as u64, "more socket"),
            rest.iter().filter(|s| s.closed).count(),
            rest.iter().map(|s| s.drops).sum::<u64>()
        );
    }
    let pct = |c: Option<f64>| c.map_or("-".into(), |c| format!("{c:.0}%"));
    let mut notes = vec![format!(
        "cpu {} during the flood, {} after",
        pct(p.cpu_during_flood),
        pct(p.cpu_after_flood)
    )];
    if p.identity == Some(crate::history::program::Identity::Root) {
        notes.push(format!(
            "ran as root (granted by {})",
            crate::plan::ALLOW_ROOT_FLAG
        ));
    }
    if !p.loss_measured {
        notes.push("loss not measured (output = \"none\": only its sockets are read)".into());
    } else if p.lost > 0 {
        let l = &p.loss;
        let unbound = if l.unbound_ns >= 1_000_000 {
            format!(
                " (it held no bound socket for {:.0} ms of emission)",
                l.unbound_ns as f64 / 1e6
            )
        } else {
            String::new()
        };
        notes.push(format!(
            "lost: {} dropped by the kernel, {} still queued when stopped, {} discarded with a socket it closed, {} unexplained{unbound}",
            l.kernel_drops, l.queued_at_stop, l.discarded_at_close, l.unexplained
        ));
    }
    if p.counts_only {
        notes.push("seen is a count of matching lines, not of identified events".into());
    }
    if let Some(r) = p.stop_reason {
        notes.push(format!("stopped: {}", r.describe()));
    }
    match p.keeps_reading {
        Some(true) => notes.push("printed events again after its first drop".into()),
        Some(false) => notes.push("printed no event after its first drop".into()),
        None => {}
    }
    if p.leaked > 0 {
        notes.push(format!(
            "{} left open, bound and unread after it opened a newer one",
            super::count(p.leaked, "socket")
        ));
    }
    let crashed = p.lost > 0 && p.silent_loss == 0 && p.first_error_line.is_none();
    match &p.first_error_line {
        Some(l) => notes.push(format!(
            "{}, first: {l:?}",
            super::count(p.error_lines, "error line")
        )),
        None if p.silent_loss > 0 => {
            notes.push("it printed no error: the loss it caused was silent".into())
        }
        None if crashed && p.loss_measured && p.loss.queued_at_stop < p.lost => {
            notes.push(format!(
                "it printed no error but ended with {}",
                match (p.exit_code, p.signal) {
                    (Some(c), _) => format!("exit status {c}"),
                    (_, Some(sig)) => format!("signal {sig}"),
                    _ => "an error".into(),
                }
            ))
        }
        None => {}
    }
    if p.foreign > 0 {
        notes.push(super::count(p.foreign, "foreign event"));
    }
    if p.output_truncated {
        notes.push(format!(
            "{} of {} output lines kept in the record (all counted)",
            p.output_lines_kept, p.output_lines
        ));
    }
    let _ = writeln!(o, "    {}", notes.join("; "));
    for (class, n) in &p.hang_classes {
        let first = p.hangs.iter().find(|h| h.class.name() == class);
        let _ = writeln!(
            o,
            "    {n} x {class}: {}",
            first.map_or(String::new(), |h| format!(
                "{} (blocked {:.0} ms; wchan {})",
                one_line(&h.reason),
                h.waited_ns as f64 / 1e6,
                one_line(h.wchan.as_deref().unwrap_or("?"))
            ))
        );
    }
}

/// A field that must stay on its line, with its line breaks shown as escapes.
fn one_line(s: &str) -> String {
    crate::untrusted::terminal_line(s)
}

/// A send's lateness for people: `12 us`, `1.18 ms`.
fn lateness(ns: u64) -> String {
    match ns {
        0..1_000 => "<1 us".into(),
        1_000..1_000_000 => format!("{} us", ns / 1_000),
        _ => format!("{:.2} ms", ns as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table a user reads, for stored records of a loss, a stalled dump and a
    /// truncated one (their figures measured on the kernel named in fixtures/records).
    #[test]
    fn the_terminal_table_of_stored_verdicts() {
        let verdicts = [
            include_str!("../../../fixtures/records/overrun-one-receiver/verdict.json"),
            include_str!("../../../fixtures/records/hang-dump-stalled/verdict.json"),
            include_str!("../../../fixtures/records/hang-truncated/verdict.json"),
        ];
        let table: String = verdicts
            .iter()
            .map(|v| print_scenario(&serde_json::from_str(v).unwrap()))
            .collect::<Vec<_>>()
            .join("\n");
        // Durations are the one part a re-recorded fixture changes without a change of
        // behaviour; the layout and every count stay.
        insta::with_settings!({filters => vec![
            (r"\b\d+\.\d+s\b", "[time]"),
            (r"\b\d+ ms for seq", "[time] for seq"),
        ]}, {
            insta::assert_snapshot!(table);
        });
    }
}
