//! `nlstorm probe`: the running kernel's netlink buffer facts, measured in a sandbox.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use nlstorm::child::{self, Answer, Job};
use nlstorm::exit;
use nlstorm::probe::ProbeReport;
use nlstorm::report;

/// Runs the probe in a sandbox child.
pub fn measure() -> anyhow::Result<ProbeReport> {
    let exe =
        std::env::current_exe().context("failed to find the nlstorm binary to run the sandbox")?;
    let answer =
        child::run_job(&exe, &Job::Probe, Duration::from_secs(120)).map_err(super::failed)?;
    match answer {
        Answer::Probed(p) => Ok(*p),
        Answer::Failed { code, message } => Err(super::reported(code, message)),
        _ => anyhow::bail!("the sandbox answered a probe with something else"),
    }
}

pub fn run(json: Option<PathBuf>) -> anyhow::Result<i32> {
    if let Some(Err(e)) = json
        .as_deref()
        .map(|p| super::args::check_output("--json", p))
    {
        return Err(super::bad_input(e));
    }
    let p = measure()?;
    out_raw!("{}", report::print_probe(&p));
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&p)?)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    Ok(exit::PASS)
}
