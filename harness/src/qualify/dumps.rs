//! The suite's dump and hang facts: fixed scenarios (copies of the bundled ones, frozen
//! under `suite/` so that the suite changes only with its version) run in a sandbox like
//! any scenario, and what the kernel did read from their dump clients' counts: which
//! hang classes of incident 2 this kernel can produce, and how netlink_dump() behaves
//! under a filter, a full queue and a short read.

use std::path::Path;

use super::profile::{Fact, Value};
use crate::check::DumpResult;

/// One scenario of the suite and the facts read from it.
pub struct Case {
    /// The scenario's file name under `suite/` (shown in each fact's `how`).
    pub file: &'static str,
    /// Its text.
    pub text: &'static str,
    /// The facts: (id, dump client, what is read, how it is said).
    pub facts: &'static [(&'static str, &'static str, Reading, &'static str)],
}

/// What a fact reads from a dump client.
#[derive(Debug, Clone, Copy)]
pub enum Reading {
    /// At least one hang of this class.
    Hang(&'static str),
    /// At least one EBUSY ack.
    Ebusy,
    /// At least one error ack (ENOBUFS) to a request.
    ErrorAck,
    /// A dump completed after its request's error ack.
    CompletedAfterErrorAck,
    /// At least one truncated read (MSG_TRUNC).
    Truncated,
    /// At least one dump that ended missing objects.
    ShortDump,
    /// No error ack at all.
    NoErrorAck,
    /// Some dump completed, and no read was truncated. (Not "no short dump": under link
    /// churn a 6.1 kernel's link dump, which walks hash buckets by position, can skip a
    /// link even for a 32 KiB reader; seen once in 10 TCG runs, so not an exact fact.)
    Untruncated,
}

impl Reading {
    fn read(self, d: &DumpResult) -> bool {
        let r = &d.record;
        match self {
            Reading::Hang(class) => d.hang_classes.get(class).is_some_and(|&n| n > 0),
            Reading::Ebusy => r.ebusy > 0,
            Reading::ErrorAck => r.error_acks > 0,
            Reading::CompletedAfterErrorAck => r.completed_after_error_ack > 0,
            Reading::Truncated => r.truncated > 0,
            Reading::ShortDump => r.short_dumps > 0,
            Reading::NoErrorAck => r.error_acks == 0,
            Reading::Untruncated => r.completed > 0 && r.truncated == 0,
        }
    }
}

macro_rules! case {
    ($file:literal, [$(($id:literal, $client:literal, $reading:expr, $how:literal)),+ $(,)?]) => {
        Case {
            file: $file,
            text: include_str!(concat!("suite/", $file)),
            facts: &[$(($id, $client, $reading, $how)),+],
        }
    };
}

/// The suite's dump scenarios.
pub const CASES: [Case; 7] = [
    case!("hang-dump-stalled.toml", [
        ("hang.dump-stalled", "agent", Reading::Hang("dump-stalled"),
         "a socket filter drops every part of a link dump: Dump=1, nothing queued, the reader waits"),
        ("dump.ebusy-while-running", "agent", Reading::Ebusy,
         "a second request while a stalled dump holds the socket is acked with EBUSY"),
    ]),
    case!("hang-nothing-outstanding.toml", [
        ("hang.nothing-outstanding", "agent", Reading::Hang("nothing-outstanding"),
         "a socket filter drops NLMSG_DONE: the dump ended (Dump=0), the reader waits for its end"),
    ]),
    case!("hang-reply-lost.toml", [
        ("hang.reply-lost", "agent", Reading::Hang("reply-lost"),
         "an error ack taken as final, the retry's EBUSY ack dropped on a full queue: Drops grew, the reader waits"),
    ]),
    case!("hang-stopped-mid-dump.toml", [
        ("hang.stopped-mid-dump", "agent", Reading::Hang("stopped-mid-dump"),
         "a reader that stops after a truncated part while the dump runs"),
    ]),
    case!("hang-truncated.toml", [
        ("hang.truncated", "agent", Reading::Hang("truncated"),
         "a 4096-byte read truncates a dump part (MSG_TRUNC) and the reader waits for what was cut"),
    ]),
    case!("dump-error-ack.toml", [
        ("dump.error-ack-when-queued", "agent", Reading::ErrorAck,
         "a dump request on a NO_ENOBUFS socket holding queued broadcasts is acked with ENOBUFS"),
        ("dump.completes-after-error-ack", "agent", Reading::CompletedAfterErrorAck,
         "the dump so acked keeps running in the kernel and arrives complete"),
        ("dump.no-error-ack-on-quiet-socket", "quiet", Reading::NoErrorAck,
         "the same dumps on a socket subscribed to nothing get no error ack"),
    ]),
    case!("dump-short-after-truncation.toml", [
        ("dump.truncated-by-4k-read", "agent", Reading::Truncated,
         "a 4096-byte read buffer truncates link dump parts (the kernel sizes them from NLMSG_GOODSIZE)"),
        ("dump.short-after-truncation", "agent", Reading::ShortDump,
         "a dump read through truncation misses links that exist before and after it"),
        ("dump.32k-read-untruncated", "careful", Reading::Untruncated,
         "the same dumps read with 32 KiB buffers complete with no read truncated"),
    ]),
];

/// The facts of one case from its dump clients' results (no fact for a client the
/// run did not report: the case failed, and the profile says so by its absence).
pub fn facts_of(case: &Case, dumps: &[DumpResult]) -> Vec<Fact> {
    case.facts
        .iter()
        .filter_map(|(id, client, reading, how)| {
            let d = dumps.iter().find(|d| d.record.name == *client)?;
            Some(Fact {
                id: (*id).into(),
                value: Value::Flag(reading.read(d)),
                unit: None,
                how: format!("{how} (suite scenario {})", case.file),
            })
        })
        .collect()
}

/// Runs every case in a sandbox child of `exe` and judges its history with `check`
/// (not through `run`, which reports and records); returns the facts and, per case that
/// could not run, why.
pub fn measure(exe: &Path) -> (Vec<Fact>, Vec<String>) {
    let mut facts = Vec::new();
    let mut problems = Vec::new();
    for case in &CASES {
        let file = Path::new("suite").join(case.file);
        let plan = match crate::scenario::compile_str(&file, case.text) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{}: {e}", case.file));
                continue;
            }
        };
        let job = crate::child::Job::Run(plan.clone());
        let history = match crate::child::run_job(exe, &job, plan.budget()) {
            Ok(crate::child::Answer::Ran(h)) => h,
            Ok(crate::child::Answer::Failed { message, .. }) => {
                problems.push(format!("{}: {message}", case.file));
                continue;
            }
            Ok(_) => {
                problems.push(format!(
                    "{}: the sandbox answered with something else",
                    case.file
                ));
                continue;
            }
            Err(e) => {
                problems.push(format!("{}: {}", case.file, crate::errors::chain(&e)));
                continue;
            }
        };
        let verdict = crate::check::check(&plan, &history);
        if let Some(why) = verdict
            .dumps
            .iter()
            .find_map(|d| d.record.unsupported.clone())
        {
            problems.push(format!("{}: {why}", case.file));
            continue;
        }
        facts.extend(facts_of(case, &verdict.dumps));
    }
    (facts, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_compiles_and_names_clients_it_has() {
        let mut ids = std::collections::HashSet::new();
        for case in &CASES {
            let plan = crate::scenario::compile_str(Path::new(case.file), case.text)
                .unwrap_or_else(|e| panic!("{}: {e}", case.file));
            for (id, client, _, _) in case.facts {
                assert!(ids.insert(*id), "{id} twice");
                assert!(
                    plan.dumps.iter().any(|d| d.name.as_str() == *client),
                    "{}: no dump client {client}",
                    case.file
                );
            }
        }
    }
}
