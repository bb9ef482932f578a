//! `nlstorm threshold`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::args::{self, FixedArgs};
use nlstorm::execute::ChildSession;
use nlstorm::exit;
use nlstorm::search::threshold::{Find, ThresholdJob};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindArg {
    /// Largest burst with no loss (given --rcvbuf).
    Burst,
    /// Smallest SO_RCVBUF request with no loss (given --burst).
    Rcvbuf,
    /// Highest sustained rate with no loss (given --rcvbuf, --reader, --duration).
    Rate,
}

/// Find the exact ENOBUFS threshold of one receiver by bisection, measured beside the
/// model's prediction.
#[derive(Debug, Args)]
pub struct ThresholdArgs {
    /// What to find.
    #[arg(long, value_enum, default_value = "burst")]
    find: FindArg,
    #[command(flatten)]
    fixed: FixedArgs,
    /// Bytes per message on the wire.
    #[arg(long, value_parser = args::size, default_value = "512")]
    payload: u64,
    /// SO_RCVBUF request, any C int (default: no setsockopt, net.core.rmem_default).
    #[arg(long, value_parser = args::rcvbuf_request, allow_negative_numbers = true)]
    rcvbuf: Option<i64>,
    /// SO_RCVBUFFORCE request instead, any C int.
    #[arg(
        long,
        value_parser = args::rcvbuf_request,
        allow_negative_numbers = true,
        conflicts_with = "rcvbuf"
    )]
    rcvbuf_force: Option<i64>,
    /// Messages per burst (with --find rcvbuf).
    #[arg(long)]
    burst: Option<u64>,
    /// Trials per value (default: 1 without a reader, where the answer is deterministic; 5 with).
    #[arg(long)]
    trials: Option<u32>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl ThresholdArgs {
    fn job(&self) -> Result<ThresholdJob, String> {
        let find = match self.find {
            FindArg::Burst => Find::Burst,
            FindArg::Rcvbuf => Find::Rcvbuf,
            FindArg::Rate => Find::Rate,
        };
        let burst = match (find, self.burst) {
            (Find::Rcvbuf, None) => {
                return Err("--find rcvbuf needs --burst N: the burst the buffer must hold".into())
            }
            (Find::Rcvbuf, Some(0)) => return Err("--burst must be at least 1".into()),
            (Find::Rcvbuf, Some(b)) if b > 1 << 20 => {
                return Err("--burst is at most 1048576 messages".into())
            }
            (Find::Rcvbuf, Some(b)) => b,
            (_, Some(_)) => {
                return Err(format!(
                "--burst goes with --find rcvbuf; --find {} searches over the burst or rate itself",
                self.find
                    .to_possible_value()
                    .map_or("?".into(), |v| v.get_name().to_string())
            ))
            }
            (_, None) => 1,
        };
        let fixed = self.fixed.fixed(
            self.payload,
            args::rcvbuf(self.rcvbuf, self.rcvbuf_force),
            burst,
        )?;
        let reader = fixed.reader;
        if find == Find::Rcvbuf && (self.rcvbuf.is_some() || self.rcvbuf_force.is_some()) {
            return Err("--find rcvbuf searches over the buffer: drop --rcvbuf".into());
        }
        if find == Find::Rate && !reader.active {
            return Err("--find rate needs an active reader, e.g. --reader delay=20us: without one every rate overflows once the queue is full".into());
        }
        if find == Find::Rate && fixed.duration.is_zero() {
            return Err("--duration must be longer than zero".into());
        }
        let trials = self.trials.unwrap_or(if reader.active { 5 } else { 1 });
        if trials == 0 || trials > 1000 {
            return Err("--trials must be 1..=1000".into());
        }
        Ok(ThresholdJob {
            find,
            fixed,
            trials,
        })
    }
}

pub fn run(a: ThresholdArgs) -> anyhow::Result<i32> {
    if let Some(Err(e)) = a.json.as_deref().map(|p| args::check_output("--json", p)) {
        return Err(super::bad_input(e));
    }
    let job = a.job().map_err(super::bad_input)?;
    let exe =
        std::env::current_exe().context("failed to find the nlstorm binary to run the sandbox")?;
    err!("nlstorm threshold: searching in a sandbox ...");
    let searched = ChildSession::for_emitter(&exe, job.fixed.emitter)
        .and_then(|s| nlstorm::search::threshold::threshold(&s, &job));
    let rep = searched.map_err(super::failed)?;
    out_raw!("{}", nlstorm::report::print_threshold(&rep));
    if let Some(p) = a.json {
        std::fs::write(&p, serde_json::to_string_pretty(&rep)?)
            .with_context(|| format!("failed to write {}", p.display()))?;
    }
    Ok(match (rep.measured, rep.agrees) {
        (Some(_), Some(false)) | (None, _) => exit::FINDING,
        _ => exit::PASS,
    })
}
