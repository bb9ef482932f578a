//! `nlstorm probe`: the running kernel's netlink buffer facts, measured in a sandbox.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use nlstorm::child::{self, Answer, Job};
use nlstorm::exit;
use nlstorm::probe::ProbeReport;
use nlstorm::report;

/// Runs the probe in a sandbox child. `Err` is the exit code, the reason already said
/// on stderr under `command`'s name.
pub fn measure(command: &str) -> anyhow::Result<Result<ProbeReport, i32>> {
    let exe =
        std::env::current_exe().context("failed to find the nlstorm binary to run the sandbox")?;
    let answer = match child::run_job(&exe, &Job::Probe, Duration::from_secs(120)) {
        Ok(a) => a,
        Err(e) => {
            err!("nlstorm {command}: {}", child::error_chain(&e));
            return Ok(Err(e.exit_code()));
        }
    };
    match answer {
        Answer::Probed(p) => Ok(Ok(*p)),
        Answer::Failed { code, message } => {
            err!("nlstorm {command}: {message}");
            Ok(Err(code))
        }
        _ => anyhow::bail!("the sandbox answered a probe with something else"),
    }
}

pub fn run(json: Option<PathBuf>) -> anyhow::Result<i32> {
    if let Some(Err(e)) = json
        .as_deref()
        .map(|p| super::args::check_output("--json", p))
    {
        err!("nlstorm probe: {e}");
        return Ok(exit::BAD_INPUT);
    }
    let p = match measure("probe")? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    out_raw!("{}", report::print_probe(&p));
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&p)?)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    Ok(exit::PASS)
}
