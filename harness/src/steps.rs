//! Changes made to receivers' sockets while a run goes on (a receiver's `steps`): one
//! thread applies them at their times from outside the reading thread, as another
//! thread of an application would, so a reader blocked in recvmsg sees them at once.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crate::emit::wait_until;
use crate::history::StepRecord;
use crate::plan::{StepAction, StepPlan};
use crate::sys::nlsock::{NlSocket, SockOpt};

/// Applies every receiver's steps at their times (receivers in plan order), and returns
/// per receiver what each step did. Steps whose time the run did not reach are recorded
/// as not applied.
pub fn run(
    receivers: &[(Arc<NlSocket>, Vec<StepPlan>)],
    t0: Instant,
    stop: &AtomicBool,
) -> Vec<Vec<StepRecord>> {
    let mut order: Vec<(usize, usize)> = receivers
        .iter()
        .enumerate()
        .flat_map(|(r, (_, steps))| (0..steps.len()).map(move |s| (r, s)))
        .collect();
    order.sort_by_key(|&(r, s)| receivers[r].1[s].at);
    let mut out: Vec<Vec<StepRecord>> = receivers
        .iter()
        .map(|(_, steps)| {
            steps
                .iter()
                .map(|s| StepRecord {
                    step: s.action.describe(),
                    at_ns: s.at.as_nanos() as u64,
                    applied_ns: None,
                    error: None,
                    rcvbuf_effective: None,
                })
                .collect()
        })
        .collect();
    for (r, s) in order {
        let (sock, steps) = &receivers[r];
        if !wait_until(t0 + steps[s].at, stop) {
            break;
        }
        let rec = &mut out[r][s];
        rec.applied_ns = Some(t0.elapsed().as_nanos() as u64);
        if let Err(e) = apply(sock, &steps[s].action) {
            rec.error = Some(e.to_string());
        }
        rec.rcvbuf_effective = sock.rcvbuf().ok();
    }
    out
}

fn apply(sock: &NlSocket, action: &StepAction) -> std::io::Result<()> {
    match action {
        StepAction::Rcvbuf { bytes } => sock.set(SockOpt::Rcvbuf(crate::model::as_c_int(*bytes))),
        StepAction::RcvbufForce { bytes } => {
            sock.set(SockOpt::RcvbufForce(crate::model::as_c_int(*bytes)))
        }
        StepAction::Join { groups } => groups.iter().try_for_each(|&g| sock.membership(g, true)),
        StepAction::Leave { groups } => groups.iter().try_for_each(|&g| sock.membership(g, false)),
        StepAction::DetachFilter => sock.detach_filter(),
    }
}
