//! `nlstorm check`: judge a stored run record again, offline, from its plan.json and
//! history.json: no sandbox, no privilege, the kernel is not asked anything. A record
//! from another machine, or checked by a newer nlstorm, gets the verdict the checker
//! gives it now.

use std::path::{Path, PathBuf};

use clap::Args;

use nlstorm::history::History;
use nlstorm::plan::Plan;
use nlstorm::report::{self, Report};

/// Judge a run record again from its plan.json and history.json, without running it.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  nlstorm check nlstorm-records/20261203T125851Z-hang-dump-stalled-a6494262\n  nlstorm check RECORD_DIR --json verdict-now.json\n\nExit codes as for run: 0 pass, 1 an expectation failed, 2 not a readable record."
)]
pub struct CheckArgs {
    /// Run record directories (as `run` writes under nlstorm-records/).
    #[arg(required = true)]
    records: Vec<PathBuf>,
    /// Write the JSON report here (the same schema as `run --json`).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The record's plan and history; both are untrusted, so names are checked as they
/// are read (a [`Plan`] cannot hold an invalid name).
fn read(dir: &Path) -> Result<(Plan, History), String> {
    use nlstorm::untrusted::{read_untrusted, Bound};
    let part =
        |name: &str, bound| read_untrusted(&dir.join(name), bound).map_err(|e| e.to_string());
    let plan = serde_json::from_str(&part("plan.json", Bound::RecordPart)?)
        .map_err(|e| format!("{}: not a plan: {e}", dir.join("plan.json").display()))?;
    let history = serde_json::from_str(&part("history.json", Bound::History)?)
        .map_err(|e| format!("{}: not a history: {e}", dir.join("history.json").display()))?;
    Ok((plan, history))
}

pub fn run(a: CheckArgs) -> anyhow::Result<i32> {
    if let Some(Err(e)) = a
        .json
        .as_deref()
        .map(|p| super::args::check_output("--json", p))
    {
        return Err(super::bad_input(e));
    }
    let mut scenarios = Vec::new();
    for dir in &a.records {
        let (plan, history) = match read(dir) {
            Ok(x) => x,
            Err(e) => {
                return Err(super::bad_input(format!(
                    "{} is not a readable run record: {e}",
                    dir.display()
                )));
            }
        };
        if let Err(e) = nlstorm::check::record_fits(&plan, &history) {
            return Err(super::bad_input(format!(
                "{} is not a consistent run record: {e}",
                dir.display()
            )));
        }
        let mut rep = nlstorm::report::blank_report(&plan, dir);
        nlstorm::report::judge(&mut rep, &plan, &history);
        // Nothing ran now: what would be nlstorm failing during a run is the record
        // contradicting itself, and a record is input.
        if rep.exit_code == nlstorm::exit::HARNESS {
            rep.exit_code = nlstorm::exit::BAD_INPUT;
            rep.status = nlstorm::report::status_name(nlstorm::exit::BAD_INPUT).into();
            rep.problems = std::mem::take(&mut rep.problems)
                .into_iter()
                .map(|p| format!("the record contradicts itself: {p}"))
                .collect();
        }
        rep.record_dir = Some(dir.display().to_string());
        out_raw!("{}", report::print_scenario(&rep));
        out!();
        scenarios.push(rep);
    }
    let code = nlstorm::report::overall(&scenarios, false);
    out!("{}", nlstorm::report::summary(&scenarios));
    if let Some(p) = a.json {
        let report = Report {
            nlstorm_version: env!("CARGO_PKG_VERSION").into(),
            exit_code: code,
            scenarios,
        };
        report::write_json(&p, &report)?;
    }
    Ok(code)
}
