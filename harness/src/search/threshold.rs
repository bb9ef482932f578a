//! `nlstorm threshold`: the exact ENOBUFS threshold of one receiver configuration, by
//! bisection over a monotone parameter, with the model's figure beside the measured one.
//!
//! Without a reader the answer is deterministic: one overflowing trial gives the
//! capacity and two more confirm it. With a reader, every point is tried `trials` times
//! and two bisections find where loss starts in some trials and where it happens in all;
//! the values between are the band.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::bisect::first_true;
use super::case::{self, burst, overflowing_burst, Case, Fixed, Reader, Trial, MAX_BURST};
use crate::check::threshold::{agrees, ModelKind};
use crate::exec::ExecError;
use crate::execute::Execute;
use crate::model::{AdmitRule, BufferFacts, Request};
use crate::plan::{RcvbufPlan, Schedule};

/// What the search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Find {
    /// Largest burst with no loss, for a given rcvbuf.
    Burst,
    /// Smallest SO_RCVBUF request with no loss, for a given burst.
    Rcvbuf,
    /// Highest sustained rate with no loss, for a given rcvbuf and reader.
    Rate,
}

/// A threshold search, as the command line asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdJob {
    /// What to find.
    pub find: Find,
    /// Everything else: the rcvbuf serves `burst` and `rate`, the burst `rcvbuf`, the
    /// duration `rate`.
    #[serde(flatten)]
    pub fixed: Fixed,
    /// Trials per point.
    pub trials: u32,
}

/// One value tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    /// The parameter's value.
    pub value: u64,
    /// Trials run at it.
    pub trials: u32,
    /// Trials that lost messages.
    pub lossy: u32,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdReport {
    /// The search.
    pub job: ThresholdJob,
    /// `uname -r`.
    pub kernel_release: String,
    /// Buffer limits measured in the sandbox.
    pub facts: BufferFacts,
    /// The admission rule fitted in the sandbox.
    pub admit_rule: AdmitRule,
    /// The threshold: largest lossless burst or rate, or smallest lossless request.
    /// Null when the search range holds no answer (see `note`).
    pub measured: Option<u64>,
    /// Values where some trials lost and some did not, `[from, to]`.
    pub band: Option<(u64, u64)>,
    /// Trials behind each figure.
    pub trials_per_point: u32,
    /// The model's figure.
    pub model: Option<u64>,
    /// How measured and model are compared: `exact` (no reader: must match),
    /// `exact-effective` (requests compared as the buffers the kernel sets), `lower-bound`
    /// or `upper-bound` (a reader can only help), `none`.
    pub model_kind: ModelKind,
    /// Whether measured and model agree as `model_kind` says (judged by
    /// [`crate::check::threshold::agrees`]).
    pub agrees: Option<bool>,
    /// Effective SO_RCVBUF at the threshold (for `rcvbuf`: of the answer).
    pub rcvbuf_effective: Option<u64>,
    /// Measured truesize of one message, bytes.
    pub truesize: Option<u64>,
    /// Every value tried, ascending.
    pub points: Vec<Point>,
    /// Wall time of the search.
    pub elapsed_ms: f64,
    /// Why there is no answer, or what to keep in mind.
    pub note: Option<String>,
}

struct Search<'a> {
    session: &'a dyn Execute,
    job: &'a ThresholdJob,
    points: BTreeMap<u64, Point>,
    last: Option<Trial>,
}

impl Search<'_> {
    fn case(&self, value: u64) -> Case {
        let f = &self.job.fixed;
        let mut c = f.case();
        match self.job.find {
            Find::Burst => c.schedule = burst(value),
            Find::Rcvbuf => {
                c.rcvbuf = RcvbufPlan::Request {
                    bytes: value as i64,
                }
            }
            Find::Rate => c.schedule = f.rate(value),
        }
        c
    }

    /// Runs `trials` trials at `value`; returns how many lost messages.
    fn try_value(&mut self, value: u64, trials: u32) -> Result<u32, ExecError> {
        let have = self.points.get(&value).map_or(0, |p| p.trials);
        for _ in have..trials {
            let (_, _, t) = case::run(self.session, &self.case(value))?;
            if let Some(p) = t.problems.first() {
                return Err(ExecError::Io {
                    what: format!("run a trial at {value}"),
                    source: std::io::Error::other(p.clone()),
                });
            }
            let p = self.points.entry(value).or_insert(Point {
                value,
                trials: 0,
                lossy: 0,
            });
            p.trials += 1;
            p.lossy += u32::from(t.lost > 0);
            self.last = Some(t);
        }
        Ok(self.points[&value].lossy)
    }

    fn report(
        &self,
        measured: Option<u64>,
        band: Option<(u64, u64)>,
        started: Instant,
    ) -> ThresholdReport {
        ThresholdReport {
            job: self.job.clone(),
            kernel_release: String::new(),
            facts: *self.session.facts(),
            admit_rule: self.session.rule(),
            measured,
            band,
            trials_per_point: self.job.trials,
            model: None,
            model_kind: ModelKind::None,
            agrees: None,
            rcvbuf_effective: self.last.as_ref().map(|t| t.rcvbuf_effective),
            truesize: self.last.as_ref().and_then(|t| t.truesize),
            points: self.points.values().cloned().collect(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
            note: None,
        }
    }
}

/// Runs the search in `session`.
pub fn threshold(session: &dyn Execute, job: &ThresholdJob) -> Result<ThresholdReport, ExecError> {
    let started = Instant::now();
    let mut s = Search {
        session,
        job,
        points: BTreeMap::new(),
        last: None,
    };
    let k = job.trials.max(1);
    let mut rep = match job.find {
        Find::Burst => find_burst(&mut s, k, started)?,
        Find::Rcvbuf => find_rcvbuf(&mut s, k, started)?,
        Find::Rate => find_rate(&mut s, k, started)?,
    };
    rep.kernel_release = session.kernel_release().to_string();
    rep.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(rep)
}

/// Finds where loss starts in some of `k` trials and where in all, over `lo..=hi`
/// (`lossy(hi)` in all trials must hold). Returns `(first any-lossy, first all-lossy)`.
fn lossy_edges(s: &mut Search, k: u32, lo: u64, hi: u64) -> Result<(u64, u64), ExecError> {
    let mut any = BTreeMap::new();
    let first_any = first_true(lo, hi, &mut any, |v| {
        Ok::<_, ExecError>(s.try_value(v, k)? > 0)
    })?;
    let mut all = BTreeMap::new();
    let first_all = first_true(first_any, hi, &mut all, |v| {
        Ok::<_, ExecError>(s.try_value(v, k)? == k)
    })?;
    Ok((first_any, first_all))
}

fn band(first_any: u64, first_all: u64) -> Option<(u64, u64)> {
    (first_all > first_any).then(|| (first_any, first_all - 1))
}

fn find_burst(s: &mut Search, k: u32, started: Instant) -> Result<ThresholdReport, ExecError> {
    let facts = *s.session.facts();
    let effective = facts.effective(Request::of(&s.job.fixed.rcvbuf).unwrap_or(Request::Default));
    let overflow = overflowing_burst(effective);
    if !s.job.fixed.reader.active {
        s.try_value(overflow, 1)?;
        let t = s.last.clone().expect("a trial ran");
        let capacity = t.delivered;
        let mut measured = None;
        let mut note = None;
        if t.lost == 0 {
            note = Some(format!("a burst of {overflow} did not overflow the queue"));
        } else {
            // Confirm both sides of the edge with bursts of exactly that size.
            let clean = s.try_value(capacity, 1)? == 0;
            let lossy = s.try_value(capacity + 1, 1)? == 1;
            if clean && lossy {
                measured = Some(capacity);
            } else {
                note = Some(format!(
                    "the kernel held {capacity} of {overflow}, but bursts of {capacity} and {} did not lose 0 and 1 (clean: {clean}, lossy: {lossy})",
                    capacity + 1
                ));
            }
        }
        // The trial's prediction counts at most the messages it sent: when the burst
        // did not overflow, that is the burst, not the queue's capacity. Then the model's
        // figure is the fitted rule applied to the buffer and a message's truesize.
        let model = if t.lost > 0 {
            t.model_capacity
        } else {
            t.truesize
                .map(|ts| s.session.rule().capacity(t.rcvbuf_effective, ts))
        };
        let mut rep = s.report(measured, None, started);
        rep.note = note;
        return Ok(judged(rep, ModelKind::Exact, model, &facts));
    }
    // A reader drains while the burst arrives: find a burst that loses in every trial.
    let mut hi = overflow.max(2);
    while s.try_value(hi, k)? < k {
        if hi >= MAX_BURST {
            let mut rep = s.report(None, None, started);
            rep.note = Some(format!(
                "no burst up to {MAX_BURST} lost messages in all {k} trials: the reader keeps up"
            ));
            return Ok(rep);
        }
        hi = (hi * 2).min(MAX_BURST);
    }
    let (first_any, first_all) = lossy_edges(s, k, 1, hi)?;
    let model = unread_capacity(s)?;
    let measured = first_any - 1;
    let mut rep = s.report(Some(measured), band(first_any, first_all), started);
    rep.note =
        Some("the model gives the unread queue's capacity; a reader can only raise it".into());
    Ok(judged(rep, ModelKind::LowerBound, Some(model), &facts))
}

/// The model's capacity for the job's buffer with nobody reading: the rule fitted on
/// entry applied to the effective size and the truesize one calibrated message costs.
fn unread_capacity(s: &mut Search) -> Result<u64, ExecError> {
    let mut c = s.case(1);
    c.reader = Reader::NONE;
    c.schedule = burst(1);
    let (_, _, t) = case::run(s.session, &c)?;
    Ok(t.truesize
        .map_or(0, |ts| s.session.rule().capacity(t.rcvbuf_effective, ts)))
}

fn find_rcvbuf(s: &mut Search, k: u32, started: Instant) -> Result<ThresholdReport, ExecError> {
    let facts = *s.session.facts();
    let top = facts.rmem_max;
    if s.try_value(top, k)? > 0 {
        let mut rep = s.report(None, None, started);
        rep.note = Some(format!(
            "even SO_RCVBUF={top} (net.core.rmem_max) lost messages: a burst of {} needs SO_RCVBUFFORCE or a faster reader",
            s.job.fixed.burst
        ));
        return Ok(rep);
    }
    // Lossless requests: those where some trial was clean, and those where all were.
    let mut some_clean = BTreeMap::new();
    let first_some = first_true(0, top, &mut some_clean, |v| {
        Ok::<_, ExecError>(s.try_value(v, k)? < k)
    })?;
    let mut all_clean = BTreeMap::new();
    let first_all = first_true(first_some, top, &mut all_clean, |v| {
        Ok::<_, ExecError>(s.try_value(v, k)? == 0)
    })?;
    // The model: the smallest effective size holding the burst unread, as a request.
    let t = s.last.clone().expect("a trial ran");
    let model = t.truesize.map(|ts| {
        let need = s
            .session
            .rule()
            .rcvbuf_for(&vec![ts; s.job.fixed.burst as usize]);
        if need <= facts.sock_min_rcvbuf {
            0
        } else {
            need.div_ceil(2)
        }
    });
    let mut rep = s.report(Some(first_all), band(first_some, first_all), started);
    rep.rcvbuf_effective = Some(facts.effective(Request::Plain(first_all as i64)));
    let kind = if s.job.fixed.reader.active {
        ModelKind::UpperBound
    } else {
        ModelKind::ExactEffective
    };
    Ok(judged(rep, kind, model, &facts))
}

fn find_rate(s: &mut Search, k: u32, started: Instant) -> Result<ThresholdReport, ExecError> {
    // How fast can this path send at all? A flood with the reader attached says.
    let mut flood = s.case(1);
    flood.schedule = Schedule::Flood {
        count: None,
        duration: Some(s.job.fixed.duration),
    };
    let (_, _, ft) = case::run(s.session, &flood)?;
    let top = (ft.send_rate as u64).max(2);
    if s.try_value(top, k)? < k {
        let mut rep = s.report(None, None, started);
        rep.note = Some(format!(
            "the reader kept up with the fastest rate this path sends ({top}/s) in some trials: no rate threshold below it"
        ));
        return Ok(rep);
    }
    let (first_any, first_all) = lossy_edges(s, k, 1, top)?;
    let capacity = unread_capacity(s)?;
    // Fluid bound: the reader drains at most 1/delay, the queue absorbs `capacity` more.
    let model = (!s.job.fixed.reader.delay.is_zero()).then(|| {
        (1.0 / s.job.fixed.reader.delay.as_secs_f64()
            + capacity as f64 / s.job.fixed.duration.as_secs_f64().max(1e-9)) as u64
    });
    let measured = first_any - 1;
    let mut rep = s.report(Some(measured), band(first_any, first_all), started);
    rep.note = Some(format!(
        "model: 1/delay + capacity/duration with an unread capacity of {capacity}; the reader's own cost per message lowers the real figure"
    ));
    let facts = *s.session.facts();
    Ok(judged(rep, ModelKind::UpperBound, model, &facts))
}

/// The report with the model's figure and check's judgement of the two.
fn judged(
    mut rep: ThresholdReport,
    kind: ModelKind,
    model: Option<u64>,
    facts: &BufferFacts,
) -> ThresholdReport {
    rep.model = model;
    rep.model_kind = kind;
    rep.agrees = agrees(kind, rep.measured, model, facts);
    rep
}
