//! Terminal output of the search commands.

use std::fmt::Write;

use crate::plan::RcvbufPlan;
use crate::search::threshold::{Find, ThresholdReport};

fn rcvbuf_text(r: &RcvbufPlan) -> String {
    match r {
        RcvbufPlan::Default => "default rcvbuf".into(),
        RcvbufPlan::Request { bytes } => format!("SO_RCVBUF={bytes}"),
        RcvbufPlan::Force { bytes } => format!("SO_RCVBUFFORCE={bytes}"),
        RcvbufPlan::FitBurst { .. } => "rcvbuf-fit".into(),
    }
}

/// A threshold report as a few lines.
pub fn print_threshold(r: &ThresholdReport) -> String {
    let (j, f) = (&r.job, &r.job.fixed);
    let mut o = String::new();
    let reader = if f.reader.active {
        format!(
            "reader {:?} delay {}",
            f.reader.mode,
            crate::units::format_duration(f.reader.delay)
        )
        .to_lowercase()
    } else {
        "no reader".into()
    };
    let (what, unit, given) = match j.find {
        Find::Burst => (
            "largest burst with no loss",
            "messages",
            rcvbuf_text(&f.rcvbuf),
        ),
        Find::Rcvbuf => (
            "smallest SO_RCVBUF request with no loss",
            "bytes",
            format!("burst {}", f.burst),
        ),
        Find::Rate => (
            "highest rate with no loss",
            "messages/s",
            format!(
                "{} for {}",
                rcvbuf_text(&f.rcvbuf),
                crate::units::format_duration(f.duration)
            ),
        ),
    };
    let _ = writeln!(
        o,
        "threshold: {what}\n  {} {} B, {given}, {reader}{}; kernel {}",
        f.emitter.name(),
        f.payload,
        if f.no_enobufs { ", NO_ENOBUFS" } else { "" },
        r.kernel_release
    );
    let eff = r
        .rcvbuf_effective
        .map_or(String::new(), |e| format!(" (effective rcvbuf {e})"));
    match r.measured {
        Some(m) => {
            let _ = writeln!(o, "  measured  {m} {unit}{eff}");
        }
        None => {
            let _ = writeln!(o, "  measured  none");
        }
    }
    if let Some((a, b)) = r.band {
        let _ = writeln!(
            o,
            "  band      {a}..={b}: loss in some of the {} trials at each value, not all",
            r.trials_per_point
        );
    }
    let verdict = match r.agrees {
        Some(true) => "agrees",
        Some(false) => "DISAGREES",
        None => "-",
    };
    let _ = writeln!(
        o,
        "  model     {} ({}; rule {}, truesize {}) {verdict}",
        r.model.map_or("-".into(), |m| m.to_string()),
        r.model_kind.name(),
        r.admit_rule.name(),
        r.truesize.map_or("-".into(), |t| t.to_string()),
    );
    // The values around the answer matter most; the JSON has every point.
    const SHOWN: usize = 12;
    let near = |p: &&crate::search::threshold::Point| r.measured.map_or(0, |m| p.value.abs_diff(m));
    let mut shown: Vec<_> = r.points.iter().collect();
    if shown.len() > SHOWN {
        shown.sort_by_key(near);
        shown.truncate(SHOWN);
        shown.sort_by_key(|p| p.value);
    }
    let mut evidence: Vec<String> = shown
        .iter()
        .map(|p| format!("{}:{}/{}", p.value, p.lossy, p.trials))
        .collect();
    if r.points.len() > SHOWN {
        evidence.push(format!("(+{} more in --json)", r.points.len() - SHOWN));
    }
    let trials: u32 = r.points.iter().map(|p| p.trials).sum();
    let _ = writeln!(
        o,
        "  evidence  {trials} trials in {:.1} ms; value:lossy/trials {}",
        r.elapsed_ms,
        evidence.join(" ")
    );
    if let Some(n) = &r.note {
        let _ = writeln!(o, "  note      {n}");
    }
    o
}
