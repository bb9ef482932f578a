//! `nlstorm sweep`: a grid over up to three parameters, one trial per cell, each cell's
//! figures measured and set beside the model's. The child runs the cells it is given and
//! streams each one back as it finishes; the parent owns files, progress and resuming.

use crate::check::ModelVerdict;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::axis::{grid, Axis, Param, Shard};
use super::case::{self, burst, overflowing_burst, Case, Fixed};
use crate::exec::ExecError;
use crate::execute::Execute;
use crate::model::{AdmitRule, BufferFacts, Request};
use crate::plan::RcvbufPlan;

/// What a sweep varies and what it holds fixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// One to three axes, outermost first.
    pub axes: Vec<Axis>,
    /// What is not an axis. The burst serves cells with a reader and no rate axis; cells
    /// with nobody reading get a burst that overflows them.
    #[serde(flatten)]
    pub fixed: Fixed,
}

impl SweepSpec {
    /// Checks the combination; the message says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.axes.is_empty() || self.axes.len() > 3 {
            return Err(
                "give one to three axes, e.g. --rcvbuf 0..8MiB:log:24 --payload 32..16KiB:log:10"
                    .into(),
            );
        }
        for a in &self.axes {
            if self.axes.iter().filter(|b| b.param == a.param).count() > 1 {
                return Err(format!("--{} is given twice", a.param.name()));
            }
            let bad = |what: String| Err(format!("--{} {}: {what}", a.param.name(), a.spec));
            let (lo, hi) = (a.values[0], *a.values.last().expect("nonempty"));
            match a.param {
                Param::Payload => {
                    if let Some(problem) = self.fixed.emitter.payload_problem(lo, hi) {
                        return bad(problem);
                    }
                }
                Param::Rcvbuf => {
                    if let Err(e) = crate::plan::RcvbufRequest::new(hi) {
                        return bad(e.to_string());
                    }
                }
                Param::Rate if lo == 0 => return bad("a rate must be at least 1/s".into()),
                Param::Receivers if lo == 0 || hi > 64 => {
                    return bad("receivers must be 1..=64".into())
                }
                _ => {}
            }
        }
        if self.has(Param::Rate) && !self.reader_active() {
            return Err("--rate cells need a reader (--reader delay=20us or a --delay axis): without one every rate overflows".into());
        }
        Ok(())
    }

    fn has(&self, p: Param) -> bool {
        self.axes.iter().any(|a| a.param == p)
    }

    fn reader_active(&self) -> bool {
        self.fixed.reader.active || self.has(Param::Delay)
    }

    /// Every cell: `(index, values in axis order)`.
    pub fn cells(&self) -> Vec<(usize, Vec<u64>)> {
        grid(&self.axes).into_iter().enumerate().collect()
    }

    /// The cells `shard` owns.
    pub fn shard_cells(&self, shard: Shard) -> Vec<(usize, Vec<u64>)> {
        self.cells()
            .into_iter()
            .filter(|(i, _)| shard.owns(*i))
            .collect()
    }

    /// The case a cell runs. A cell with nobody reading floods more messages than any
    /// queue of its effective size can hold, so its delivered count is its capacity.
    pub fn case(&self, values: &[u64], facts: &BufferFacts) -> Case {
        let mut c = self.fixed.case();
        for (a, &v) in self.axes.iter().zip(values) {
            match a.param {
                Param::Rcvbuf => c.rcvbuf = RcvbufPlan::Request { bytes: v as i64 },
                Param::Payload => c.payload = v as u32,
                Param::Rate => c.schedule = self.fixed.rate(v),
                Param::Receivers => c.receivers = v as u32,
                Param::Delay => {
                    c.reader.active = true;
                    c.reader.delay = Duration::from_nanos(v);
                }
            }
        }
        if !c.reader.active {
            let effective = facts.effective(Request::of(&c.rcvbuf).unwrap_or(Request::Default));
            c.schedule = burst(overflowing_burst(effective));
        }
        c
    }
}

/// One cell's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Row-major index in the whole grid.
    pub index: usize,
    /// The axes' values, in axis order.
    pub values: Vec<u64>,
    /// Messages sent.
    pub sent: u64,
    /// Fewest delivered to any receiver.
    pub delivered: u64,
    /// Most lost by any receiver.
    pub lost: u64,
    /// `lost / sent`.
    pub loss_fraction: f64,
    /// ENOBUFS errors, all receivers.
    pub enobufs: u64,
    /// Kernel drops, all receivers.
    pub kernel_drops: u64,
    /// Effective rcvbuf.
    pub rcvbuf_effective: u64,
    /// Truesize of one message.
    pub truesize: Option<u64>,
    /// Measured capacity: messages an unread queue took (no-reader cells that overflowed).
    pub capacity: Option<u64>,
    /// The model's capacity.
    pub model_capacity: Option<u64>,
    /// `agrees`, `disagrees` or `not-applicable`.
    pub model: ModelVerdict,
    /// Delivered per second of reading.
    pub delivered_rate: f64,
    /// Sent per second.
    pub send_rate: f64,
    /// Wall time of the cell.
    pub elapsed_ms: f64,
}

/// What the child says once every cell is done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepEnv {
    /// `uname -r`.
    pub kernel_release: String,
    /// Buffer limits measured in the sandbox.
    pub facts: BufferFacts,
    /// Admission rule fitted in the sandbox.
    pub admit_rule: AdmitRule,
}

/// Runs `cells` in `session`, handing each to `done` as it finishes.
pub fn run_cells(
    session: &dyn Execute,
    spec: &SweepSpec,
    cells: &[(usize, Vec<u64>)],
    mut done: impl FnMut(Cell),
) -> Result<SweepEnv, ExecError> {
    for (index, values) in cells {
        let started = Instant::now();
        let c = spec.case(values, session.facts());
        let (_, verdict, t) = case::run(session, &c)?;
        if let Some(p) = verdict.problems.first() {
            return Err(ExecError::Io {
                what: format!("run sweep cell {index} {values:?}"),
                source: std::io::Error::other(p.clone()),
            });
        }
        done(Cell {
            index: *index,
            values: values.clone(),
            sent: t.sent,
            delivered: t.delivered,
            lost: t.lost,
            loss_fraction: if t.sent == 0 {
                0.0
            } else {
                t.lost as f64 / t.sent as f64
            },
            enobufs: t.enobufs,
            kernel_drops: t.kernel_drops,
            rcvbuf_effective: t.rcvbuf_effective,
            truesize: t.truesize,
            capacity: (!c.reader.active && t.lost > 0).then_some(t.delivered),
            model_capacity: t.model_capacity,
            model: t.model,
            delivered_rate: t.delivered_rate,
            send_rate: t.send_rate,
            elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
        });
    }
    Ok(SweepEnv {
        kernel_release: session.kernel_release().to_string(),
        facts: *session.facts(),
        admit_rule: session.rule(),
    })
}

/// A finished (or merged) sweep: the JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// The sweep.
    pub spec: SweepSpec,
    /// Which share of the grid this file holds (`1/1` after a complete merge).
    pub shard: Shard,
    /// Where it ran (one entry per distinct kernel after a merge).
    pub environments: Vec<SweepEnv>,
    /// Cells in the grid.
    pub grid_cells: usize,
    /// Cells measured, by index.
    pub cells: Vec<Cell>,
    /// Indices of this shard's cells that are missing.
    pub missing: Vec<usize>,
    /// Cells where the model applies and agrees.
    pub model_agrees: usize,
    /// Cells where the model applies and disagrees.
    pub model_disagrees: usize,
}

impl SweepReport {
    /// Assembles a report and its summary figures.
    pub fn new(
        spec: SweepSpec,
        shard: Shard,
        environments: Vec<SweepEnv>,
        mut cells: Vec<Cell>,
    ) -> Self {
        cells.sort_by_key(|c| c.index);
        cells.dedup_by_key(|c| c.index);
        let have: std::collections::BTreeSet<usize> = cells.iter().map(|c| c.index).collect();
        let missing = spec
            .shard_cells(shard)
            .into_iter()
            .map(|(i, _)| i)
            .filter(|i| !have.contains(i))
            .collect();
        let count = |m: ModelVerdict| cells.iter().filter(|c| c.model == m).count();
        SweepReport {
            grid_cells: grid(&spec.axes).len(),
            model_agrees: count(ModelVerdict::Agrees),
            model_disagrees: count(ModelVerdict::Disagrees),
            spec,
            shard,
            environments,
            cells,
            missing,
        }
    }

    /// The cells as CSV, one row per cell, axis values first. A merged file's text is
    /// untrusted, so text fields are quoted by the CSV writer and guarded against
    /// spreadsheet formulas.
    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<&str> = self.spec.axes.iter().map(|a| a.param.name()).collect();
        header.extend([
            "index",
            "sent",
            "delivered",
            "lost",
            "loss_fraction",
            "enobufs",
            "kernel_drops",
            "rcvbuf_effective",
            "truesize",
            "capacity",
            "model_capacity",
            "model",
            "delivered_rate",
            "send_rate",
            "elapsed_ms",
        ]);
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
        for c in &self.cells {
            let mut row: Vec<String> = c.values.iter().map(|v| v.to_string()).collect();
            row.extend([
                c.index.to_string(),
                c.sent.to_string(),
                c.delivered.to_string(),
                c.lost.to_string(),
                format!("{:.6}", c.loss_fraction),
                c.enobufs.to_string(),
                c.kernel_drops.to_string(),
                c.rcvbuf_effective.to_string(),
                opt(c.truesize),
                opt(c.capacity),
                opt(c.model_capacity),
                c.model.to_string(),
                format!("{:.1}", c.delivered_rate),
                format!("{:.1}", c.send_rate),
                format!("{:.3}", c.elapsed_ms),
            ]);
            rows.push(row);
        }
        for r in rows {
            w.write_record(&r).expect("writing to memory cannot fail");
        }
        String::from_utf8(w.into_inner().expect("writing to memory cannot fail"))
            .expect("every field is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{EmitterKind, Schedule};
    use crate::search::axis::parse_axis;

    fn spec() -> SweepSpec {
        SweepSpec {
            axes: vec![
                parse_axis(Param::Rcvbuf, "0..8MiB:log:24").unwrap(),
                parse_axis(Param::Payload, "32..16KiB:log:10").unwrap(),
            ],
            fixed: Fixed::unread(EmitterKind::Usersock { group: 5 }),
        }
    }

    const FACTS: BufferFacts = BufferFacts {
        sock_min_rcvbuf: 2304,
        rmem_max: 4 << 20,
        rmem_default: 212_992,
    };

    #[test]
    fn unread_cells_always_overflow() {
        let s = spec();
        assert_eq!(s.cells().len(), 240);
        for (_, v) in s.cells() {
            let c = s.case(&v, &FACTS);
            let eff = FACTS.effective(Request::Plain(v[0] as i64));
            let Schedule::Burst { size, .. } = c.schedule else {
                panic!("burst expected")
            };
            assert!(size.get() > eff / 256, "{v:?}");
            assert_eq!(c.payload as u64, v[1]);
        }
    }

    #[test]
    fn bad_combinations_say_what_to_change() {
        let mut s = spec();
        s.axes
            .push(parse_axis(Param::Rate, "100..1000:lin:3").unwrap());
        assert!(s.validate().unwrap_err().contains("need a reader"));
        let mut s = spec();
        s.fixed.emitter = EmitterKind::KernelUevent;
        assert!(s.validate().unwrap_err().contains("2048"));
        let mut s = spec();
        s.axes.push(parse_axis(Param::Payload, "64").unwrap());
        assert!(s.validate().unwrap_err().contains("twice"));
        assert!(spec().validate().is_ok());
    }

    #[test]
    fn report_counts_and_missing_cells() {
        let s = spec();
        let cell = |index: usize, model: ModelVerdict| Cell {
            index,
            values: s.cells()[index].1.clone(),
            sent: 10,
            delivered: 5,
            lost: 5,
            loss_fraction: 0.5,
            enobufs: 1,
            kernel_drops: 5,
            rcvbuf_effective: 2304,
            truesize: Some(832),
            capacity: Some(5),
            model_capacity: Some(5),
            model,
            delivered_rate: 0.0,
            send_rate: 0.0,
            elapsed_ms: 0.0,
        };
        let shard = Shard {
            index: 1,
            count: 80,
        };
        let r = SweepReport::new(
            s.clone(),
            shard,
            vec![],
            vec![
                cell(80, ModelVerdict::Agrees),
                cell(0, ModelVerdict::Disagrees),
                cell(0, ModelVerdict::Disagrees),
            ],
        );
        assert_eq!(r.cells.len(), 2);
        assert_eq!(r.cells[0].index, 0);
        assert_eq!(r.missing, vec![160]);
        assert_eq!((r.model_agrees, r.model_disagrees), (1, 1));
        let csv = r.csv();
        assert!(csv.starts_with("rcvbuf,payload,index,"));
        assert_eq!(csv.lines().count(), 3);
    }
}
