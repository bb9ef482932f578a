//! Each receiver's capacity predicted before the flood: the emitters' messages are
//! calibrated (their truesize measured on this kernel) and charged against each
//! receiver's effective buffer under the fitted admission rule; `rcvbuf-fit` is resolved
//! to the smallest request that holds its burst.

use super::error::{io, ExecError};
use super::session::device_name;
use crate::calibrate::{self, Calibrator, Scale};
use crate::emit::Emitter;
use crate::history::{Charge, TruesizePoint};
use crate::model::{AdmitRule, BufferFacts, Request};
use crate::plan::{EmitterKind, EmitterPlan, PayloadPlan, Plan, RcvbufPlan};
use crate::schedule::SendTimes;

type Modelled = (Vec<Vec<Charge>>, Vec<Request>, Vec<TruesizePoint>);

/// Calibrates the emitters and predicts each receiver's capacity; resolves `rcvbuf-fit`.
pub(super) fn model_receivers(
    plan: &Plan,
    facts: &BufferFacts,
    rule: AdmitRule,
    emitters: &mut [Emitter],
) -> Result<Modelled, ExecError> {
    let mut scales = Vec::new();
    for (e, em) in plan.emitters.iter().zip(emitters.iter_mut()) {
        let (proto, group) = e.kind.destination();
        let mut scale = Scale::new(proto, group).map_err(io("open a calibration socket"))?;
        if e.kind.kernel_adds_keys() {
            kernel_payload_fits(e, em, &mut scale)?;
        }
        scales.push(scale);
    }
    let mut cal = Calibrator::new(scales);
    let mut preds = Vec::new();
    let mut requests = Vec::new();
    for rp in &plan.receivers {
        let req = match rp.rcvbuf {
            RcvbufPlan::FitBurst { emitter } => {
                let burst =
                    SendTimes::first_burst(&plan.emitters[emitter].schedule).unwrap_or(1) as usize;
                let need = rule.rcvbuf_for(
                    &cal.truesizes(&mut emitters[emitter], burst)
                        .map_err(io("measure a message's truesize"))?,
                );
                Request::Plain(facts.request_for(need).ok_or_else(|| {
                    ExecError::Unsupported(format!(
                        "receiver `{}`: a burst of {burst} needs an effective rcvbuf of {need} B, above 2 x net.core.rmem_max ({}); use rcvbuf-force",
                        rp.name,
                        2 * facts.rmem_max
                    ))
                })?)
            }
            ref fixed => Request::of(fixed).expect("only rcvbuf-fit needs resolving"),
        };
        let rcvbuf = facts.effective(req);
        let limit = crate::model::overflow_bound(rcvbuf) as usize;
        let feeders = plan.feeders(rp);
        let mut ts = Vec::new();
        for &i in &feeders {
            let room = limit.saturating_sub(ts.len());
            let n = SendTimes::planned_count(&plan.emitters[i].schedule)
                .map_or(room, |c| (c as usize).min(room));
            ts.extend(
                cal.truesizes(&mut emitters[i], n)
                    .map_err(io("measure a message's truesize"))?,
            );
        }
        preds.push(crate::history::charges(ts));
        requests.push(req);
    }
    // A program's queue, in messages, is its bytes over a message's truesize: weigh one
    // of every emitter a program is meant to see.
    let watched: std::collections::BTreeSet<usize> = plan
        .programs
        .iter()
        .flat_map(|p| p.emitters.iter().copied())
        .collect();
    for i in watched {
        cal.truesizes(&mut emitters[i], 1)
            .map_err(io("measure a message's truesize"))?;
    }
    let points = cal
        .points()
        .map(|(e, variant, wire_len, truesize)| TruesizePoint {
            emitter: plan.emitters[usize::from(e)].name.to_string(),
            variant,
            wire_len,
            truesize,
        })
        .collect();
    Ok((preds, requests, points))
}

/// Measures what the kernel adds around a sysfs-written uevent and refuses payloads the
/// kernel cannot make that small.
fn kernel_payload_fits(
    e: &EmitterPlan,
    em: &mut Emitter,
    scale: &mut Scale,
) -> Result<(), ExecError> {
    let dev = device_name(usize::from(em.index()));
    calibrate::kernel_overhead(scale, em).map_err(|err| match e.kind {
        EmitterKind::InjectedUevent => io(format!(
            "inject a uevent for `{}` through the namespace's kernel uevent socket",
            e.name
        ))(err),
        _ => io(format!(
            "write a uevent for `{}` (is /sys/class/net/{dev}/uevent writable?)",
            e.name
        ))(err),
    })?;
    let smallest = (0..em.variants())
        .map(|v| em.min_wire(v))
        .max()
        .unwrap_or(0);
    let want = match e.payload {
        PayloadPlan::Fixed { bytes } => Some(bytes),
        PayloadPlan::Uniform { min, .. } => Some(min),
        PayloadPlan::Contents { .. } | PayloadPlan::Trace { .. } | PayloadPlan::Bare { .. } => None,
    };
    match want.filter(|&w| (w as usize) < smallest) {
        Some(w) => Err(ExecError::Unsupported(format!(
            "emitter `{}`: payload {w} B is below the smallest uevent the kernel makes on this path ({smallest} B now: the kernel adds SEQNUM=<its global counter>, so the figure grows by one byte each time that counter gains a digit): raise `payload`",
            e.name
        ))),
        None => Ok(()),
    }
}
