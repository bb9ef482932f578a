//! `nlstorm sweep` and `nlstorm merge`: cells stream to a partial file as they finish, so
//! an interrupted sweep keeps them and `--resume` runs only the rest.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::args::{self, FixedArgs};
use nlstorm::errors::Kind;
use nlstorm::execute::ChildSession;
use nlstorm::exit;
use nlstorm::search::axis::{parse_axis, Axis, Param, Shard};
use nlstorm::search::svg::sweep_svg;
use nlstorm::search::sweep::{Cell, SweepEnv, SweepReport, SweepSpec};

/// Measure a grid of up to three parameters (rcvbuf, payload, rate, receivers, delay).
///
/// An axis is LO..HI:log:N, LO..HI:lin:N, a list A,B,C or one value. Without a reader
/// each cell floods an unread queue and its capacity is compared with the model.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// SO_RCVBUF requests, e.g. 0..8MiB:log:24.
    #[arg(long)]
    rcvbuf: Option<String>,
    /// Message sizes, e.g. 32..16KiB:log:10.
    #[arg(long)]
    payload: Option<String>,
    /// Send rates in messages/s (cells need a reader).
    #[arg(long)]
    rate: Option<String>,
    /// Numbers of identical receivers.
    #[arg(long)]
    receivers: Option<String>,
    /// Reader delays per message, e.g. 0us,20us,50us (makes the reader active).
    #[arg(long)]
    delay: Option<String>,
    /// Payload when it is not an axis.
    #[arg(long, value_parser = args::size, default_value = "512")]
    fixed_payload: u64,
    /// Burst size for cells with a reader and no --rate axis.
    #[arg(long, default_value = "1000")]
    burst: u64,
    #[command(flatten)]
    fixed: FixedArgs,
    /// Run only this share of the cells, I/N (for spreading a sweep over machines).
    #[arg(long, value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Continue an interrupted sweep from its partial file.
    #[arg(long)]
    resume: bool,
    /// The JSON result; cells stream to <json>.partial while the sweep runs.
    #[arg(long, default_value = "sweep.json")]
    json: PathBuf,
    /// Also write the cells as CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Also write plots (capacity vs model, loss heatmap) as SVG here.
    #[arg(long)]
    svg: Option<PathBuf>,
}

impl SweepArgs {
    fn spec(&self) -> Result<SweepSpec, String> {
        let mut axes: Vec<Axis> = Vec::new();
        for (param, text) in [
            (Param::Rcvbuf, &self.rcvbuf),
            (Param::Payload, &self.payload),
            (Param::Rate, &self.rate),
            (Param::Receivers, &self.receivers),
            (Param::Delay, &self.delay),
        ] {
            if let Some(t) = text {
                axes.push(parse_axis(param, t)?);
            }
        }
        let spec = SweepSpec {
            axes,
            fixed: self.fixed.fixed(
                self.fixed_payload,
                nlstorm::plan::RcvbufPlan::Default,
                self.burst.clamp(1, 1 << 20),
            )?,
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// First line of a partial file: which sweep the cells below it belong to.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct PartialHeader {
    spec: SweepSpec,
    shard: Shard,
}

fn partial_path(json: &Path) -> PathBuf {
    let mut p = json.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

/// Reads the finished cells of a partial file written for `header`.
fn read_partial(path: &Path, header: &PartialHeader) -> Result<Vec<Cell>, String> {
    let text = nlstorm::untrusted::read_untrusted(path, nlstorm::untrusted::Bound::Sweep)
        .map_err(|e| format!("cannot read {e}"))?;
    let mut lines = text.lines().map(|l| Ok::<_, std::io::Error>(l.to_string()));
    let first = lines
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| format!("{} is empty", path.display()))?;
    let found: PartialHeader = serde_json::from_str(&first)
        .map_err(|e| format!("{}: line 1 is not a sweep header: {e}", path.display()))?;
    if &found != header {
        return Err(format!(
            "{} belongs to a different sweep (other axes, fixed values or shard): delete it or rerun that sweep with --resume",
            path.display()
        ));
    }
    // A line cut off by an interruption is the last one; it is dropped and rerun.
    Ok(lines
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Cell>(&l).ok())
        .collect())
}

pub fn run(a: SweepArgs) -> anyhow::Result<i32> {
    let spec = a.spec().map_err(super::bad_input)?;
    outputs_writable(&a.json, a.csv.as_deref(), a.svg.as_deref()).map_err(super::bad_input)?;
    let shard = a.shard.unwrap_or(Shard::ALL);
    let header = PartialHeader {
        spec: spec.clone(),
        shard,
    };
    let partial = partial_path(&a.json);
    let mut cells: Vec<Cell> = Vec::new();
    if partial.exists() {
        if !a.resume {
            return Err(super::bad_input(format!("an interrupted sweep left {}: pass --resume to continue it, or delete it to start over",
                partial.display())));
        }
        cells = read_partial(&partial, &header).map_err(super::bad_input)?;
        // Rewrite without a torn last line, so appends stay parseable.
        let mut f = File::create(&partial)
            .with_context(|| format!("failed to write {}", partial.display()))?;
        writeln!(f, "{}", serde_json::to_string(&header)?)?;
        for c in &cells {
            writeln!(f, "{}", serde_json::to_string(c)?)?;
        }
    } else {
        if a.resume {
            err!(
                "nlstorm sweep: --resume: no partial file at {}; starting afresh",
                partial.display()
            );
        }
        let mut f = File::create(&partial)
            .with_context(|| format!("failed to write {}", partial.display()))?;
        writeln!(f, "{}", serde_json::to_string(&header)?)?;
    }
    let have: std::collections::BTreeSet<usize> = cells.iter().map(|c| c.index).collect();
    let todo: Vec<(usize, Vec<u64>)> = spec
        .shard_cells(shard)
        .into_iter()
        .filter(|(i, _)| !have.contains(i))
        .collect();
    err!(
        "nlstorm sweep: {} in the grid, {} in shard {}/{}, {} already done, {} to run",
        args::count(spec.cells().len(), "cell"),
        spec.shard_cells(shard).len(),
        shard.index,
        shard.count,
        have.len(),
        todo.len()
    );
    let mut env: Vec<SweepEnv> = Vec::new();
    if !todo.is_empty() {
        let exe = std::env::current_exe()
            .context("failed to find the nlstorm binary to run the sandbox")?;
        let mut out = OpenOptions::new()
            .append(true)
            .open(&partial)
            .with_context(|| format!("failed to append to {}", partial.display()))?;
        let mut progress = super::progress::Progress::new(todo.len() as u64, "cells", "sweep");
        let mut write_err = None;
        let answer = ChildSession::for_emitter(&exe, spec.fixed.emitter).and_then(|s| {
            nlstorm::search::sweep::run_cells(&s, &spec, &todo, |c| {
                let line = serde_json::to_string(&c).expect("cells serialise");
                if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
                    write_err.get_or_insert(e);
                }
                cells.push(c);
                progress.tick("");
            })
        });
        progress.finish();
        if let Some(e) = write_err {
            anyhow::bail!("failed to append to {}: {e}", partial.display());
        }
        match answer {
            Ok(e) => env.push(e),
            Err(e) => {
                keep_or_remove(&partial, cells.len());
                return Err(super::failed(e));
            }
        }
    }
    let report = SweepReport::new(spec, shard, env, cells);
    write_outputs(&report, &a.json, a.csv.as_deref(), a.svg.as_deref())?;
    std::fs::remove_file(&partial)
        .with_context(|| format!("failed to remove {}", partial.display()))?;
    summarise(
        &report,
        (
            Kind::Harness,
            "the sweep did not finish; run it again with --resume",
        ),
    )
}

/// After a failure: a partial file with finished cells is kept for --resume (said here,
/// before the failure itself); one with none would only stand in the way of the next
/// attempt.
fn keep_or_remove(partial: &Path, finished: usize) {
    if finished == 0 {
        let _ = std::fs::remove_file(partial);
    } else {
        err!(
            "  {finished} finished cells are kept in {}; rerun with --resume to continue",
            partial.display()
        );
    }
}

fn write_outputs(
    r: &SweepReport,
    json: &Path,
    csv: Option<&Path>,
    svg: Option<&Path>,
) -> anyhow::Result<()> {
    let write = |p: &Path, text: String| {
        std::fs::write(p, text).with_context(|| format!("failed to write {}", p.display()))
    };
    write(json, serde_json::to_string_pretty(r)?)?;
    if let Some(p) = csv {
        write(p, r.csv())?;
    }
    if let Some(p) = svg {
        write(p, sweep_svg(r))?;
    }
    Ok(())
}

/// Prints the summary; the exit code says whether the model held in every cell.
/// Says what the sweep measured; its verdict, or, when cells are missing, a failure of
/// `missing`'s kind that says what to do (`missing`'s words).
fn summarise(r: &SweepReport, missing: (Kind, &str)) -> anyhow::Result<i32> {
    let na = r.cells.len() - r.model_agrees - r.model_disagrees;
    out!(
        "sweep: {} of {} measured ({} missing); model agrees in {}, disagrees in {}, not applicable in {}",
        r.cells.len(),
        args::count(r.grid_cells, "cell"),
        r.missing.len(),
        r.model_agrees,
        r.model_disagrees,
        na
    );
    for e in &r.environments {
        out!(
            "  kernel {}: SOCK_MIN_RCVBUF {}, rmem_max {}, rule {}",
            e.kernel_release,
            e.facts.sock_min_rcvbuf,
            e.facts.rmem_max,
            e.admit_rule.name()
        );
    }
    let names: Vec<&str> = r.spec.axes.iter().map(|a| a.param.name()).collect();
    for c in r
        .cells
        .iter()
        .filter(|c| c.model == nlstorm::check::ModelVerdict::Disagrees)
        .take(20)
    {
        out!(
            "  DISAGREES {:?} = {:?}: measured {} (sent {}), model {}",
            names,
            c.values,
            c.delivered,
            c.sent,
            c.model_capacity.map_or("-".into(), |m| m.to_string())
        );
    }
    // Missing cells are not a finding about the kernel: the measurement is incomplete.
    if !r.missing.is_empty() {
        let (kind, what_to_do) = missing;
        return Err(super::failure(
            kind,
            format!(
                "{} not measured: {what_to_do}",
                args::count(r.missing.len(), "cell")
            ),
        ));
    }
    Ok(if r.model_disagrees > 0 {
        exit::FINDING
    } else {
        exit::PASS
    })
}

/// Join shards of one sweep into one result.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Sweep JSON files written with --shard (or partial sweeps of the same grid).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The merged JSON.
    #[arg(long)]
    json: PathBuf,
    /// Also write CSV here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Also write SVG plots here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Kernel profiles only: also write the table as an HTML page here.
    #[arg(long)]
    html: Option<PathBuf>,
}

/// Every file a sweep or merge will write (the JSON, its `.partial`, CSV, SVG) can be
/// written now.
fn outputs_writable(json: &Path, csv: Option<&Path>, svg: Option<&Path>) -> Result<(), String> {
    args::check_output("--json", json)?;
    args::check_output("--json", &partial_path(json))?;
    if let Some(p) = csv {
        args::check_output("--csv", p)?;
    }
    if let Some(p) = svg {
        args::check_output("--svg", p)?;
    }
    Ok(())
}

pub fn merge(a: MergeArgs) -> anyhow::Result<i32> {
    if super::qualify::is_profile(&a.inputs[0]) {
        if a.csv.is_some() || a.svg.is_some() {
            return Err(super::bad_input(
                "--csv and --svg are for sweeps; kernel profiles merge into --json and --html",
            ));
        }
        return super::qualify::merge_profiles(&a.inputs, &a.json, a.html.as_deref());
    }
    if a.html.is_some() {
        return Err(super::bad_input(
            "--html is for kernel profiles (nlstorm qualify --json); a sweep takes --csv and --svg",
        ));
    }
    outputs_writable(&a.json, a.csv.as_deref(), a.svg.as_deref()).map_err(super::bad_input)?;
    let mut reports = Vec::new();
    for p in &a.inputs {
        let text = match nlstorm::untrusted::read_untrusted(p, nlstorm::untrusted::Bound::Sweep) {
            Ok(t) => t,
            Err(e) => return Err(super::bad_input(format!("cannot read {e}"))),
        };
        match serde_json::from_str::<SweepReport>(&text) {
            Ok(r) => reports.push(r),
            Err(e) => {
                return Err(super::bad_input(format!(
                    "{} is not a sweep JSON file: {e}",
                    p.display()
                )));
            }
        }
    }
    let spec = reports[0].spec.clone();
    for (r, p) in reports.iter().zip(&a.inputs).skip(1) {
        if r.spec != spec {
            return Err(super::bad_input(format!(
                "{} is a different sweep from {} (axes or fixed values differ)",
                p.display(),
                a.inputs[0].display()
            )));
        }
    }
    let mut env: Vec<SweepEnv> = Vec::new();
    let mut cells = Vec::new();
    for r in reports {
        for e in r.environments {
            if !env.contains(&e) {
                env.push(e);
            }
        }
        cells.extend(r.cells);
    }
    let merged = SweepReport::new(spec, Shard::ALL, env, cells);
    write_outputs(&merged, &a.json, a.csv.as_deref(), a.svg.as_deref())?;
    summarise(&merged, (Kind::BadInput, "merge every shard of the sweep"))
}
