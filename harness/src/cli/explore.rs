//! `nlstorm explore`: the parent writes what the child found: the shrunk scenario file
//! and the seed in the regression file the test suite replays.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::args::{self, EmitterArg, OnOff};
use nlstorm::execute::ChildSession;
use nlstorm::exit;
use nlstorm::search::explore::{ExploreJob, ExploreReport, Property, Space};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReaderArg {
    /// Only cases where nobody reads during the flood.
    None,
    /// Only cases with a reader.
    Active,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// Bursts only.
    Burst,
    /// Rate, Poisson and ramp schedules only.
    Timed,
}

/// Search the space of buffers, payloads, burst shapes and readers for a case that
/// breaks a property; shrink it to a minimal scenario file and record its seed.
///
/// no-loss, no-enobufs, accounting and model explore broadcasts; no-hang and
/// complete-dumps explore dump clients (request, read and event buffers, rcvbuf,
/// subscriptions, NO_ENOBUFS, socket filters, policies, link churn). Every dimension is
/// open unless restricted. Exit 1 when a failing case was found.
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// What must hold.
    #[arg(long, value_enum)]
    property: Property,
    /// New cases to draw (persisted regressions are replayed first).
    #[arg(long, default_value = "256")]
    cases: u32,
    /// Seed of the case generator.
    #[arg(long, default_value = "0")]
    seed: u64,
    /// Stop drawing new cases after this long (shrinking a failure goes on).
    #[arg(long, value_parser = args::duration, default_value = "5m")]
    time: Duration,
    /// Only this emitter kind.
    #[arg(long, value_enum)]
    emitter: Option<EmitterArg>,
    /// Payload bytes, LO..HI or one value.
    #[arg(long)]
    payload: Option<String>,
    /// SO_RCVBUF requests, LO..HI or one value.
    #[arg(long)]
    rcvbuf: Option<String>,
    /// Receivers, LO..HI or one value.
    #[arg(long)]
    receivers: Option<String>,
    /// `none`: only cases where nobody reads during the flood (as `--reader none` of
    /// threshold and sweep); `active`: only cases with a drawn reader.
    #[arg(long, value_enum)]
    reader: Option<ReaderArg>,
    /// Only receivers with NETLINK_NO_ENOBUFS (`--no-enobufs`, `=on`) or only without
    /// (`=off`); both when not given.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "on")]
    no_enobufs: Option<OnOff>,
    /// Only bursts, or only timed schedules.
    #[arg(long, value_enum)]
    schedule: Option<ScheduleArg>,
    /// no-hang, complete-dumps: only dump clients with a socket filter (on) or only
    /// without (off).
    #[arg(long, value_enum)]
    filters: Option<OnOff>,
    /// Where the shrunk scenario file goes.
    #[arg(long, default_value = "nlstorm-explore")]
    out: PathBuf,
    /// Regression file: its seeds for this property and space are replayed first, and a
    /// new failure's seed is appended (default: regressions.txt in the --out directory;
    /// the repository's fixtures/explore-regressions.txt changes only when named here).
    #[arg(long)]
    regressions: Option<PathBuf>,
    /// Neither replay nor record seeds.
    #[arg(long)]
    no_persist: bool,
    /// Write the exploration's result (runs, the minimal failing case and what it
    /// measured) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn range(
    flag: &str,
    text: &str,
    parse: impl Fn(&str) -> Result<u64, String>,
) -> Result<(u64, u64), String> {
    let fail = |e: String| format!("--{flag} {text}: {e}");
    let (lo, hi) = match text.split_once("..") {
        Some((a, b)) => (
            parse(a.trim()).map_err(fail)?,
            parse(b.trim()).map_err(fail)?,
        ),
        None => {
            let v = parse(text.trim()).map_err(fail)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!("--{flag} {text}: LO must not be above HI"));
    }
    Ok((lo, hi))
}

impl ExploreArgs {
    /// A restriction the chosen property's space does not have would be silently
    /// ignored: refuse it instead, naming what it applies to.
    fn flags_apply(&self) -> Result<(), String> {
        let p = self.property;
        let flood = [
            ("--emitter", self.emitter.is_some()),
            ("--payload", self.payload.is_some()),
            ("--rcvbuf", self.rcvbuf.is_some()),
            ("--receivers", self.receivers.is_some()),
            ("--reader", self.reader.is_some()),
            ("--no-enobufs", self.no_enobufs.is_some()),
            ("--schedule", self.schedule.is_some()),
        ];
        if p.about_dumps() {
            if let Some((flag, _)) = flood.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "{flag} restricts the broadcast space (no-loss, no-enobufs, accounting, model); --property {} searches the dump space, which only --filters restricts",
                    p.name()
                ));
            }
        } else if self.filters.is_some() {
            return Err(format!(
                "--filters restricts the dump space (no-hang, complete-dumps); --property {} searches broadcast receivers, which have no socket filter",
                p.name()
            ));
        }
        Ok(())
    }

    fn job(&self, replay: Vec<String>) -> Result<ExploreJob, String> {
        let count = |t: &str| {
            t.parse::<u64>()
                .map_err(|_| format!("`{t}` is not a whole number"))
        };
        let space = Space {
            emitter: self.emitter.map(EmitterArg::kind),
            payload: match &self.payload {
                Some(t) => {
                    let (lo, hi) = range("payload", t, args::size)?;
                    if hi > 64 * 1024 || lo == 0 {
                        return Err(format!("--payload {t}: payloads are 1..=65536 bytes"));
                    }
                    Some((lo as u32, hi as u32))
                }
                None => None,
            },
            rcvbuf: match &self.rcvbuf {
                Some(t) => {
                    let (lo, hi) = range("rcvbuf", t, args::size)?;
                    if let Err(e) = nlstorm::plan::RcvbufRequest::new(hi) {
                        return Err(format!("--rcvbuf {t}: {e}"));
                    }
                    Some((lo, hi))
                }
                None => None,
            },
            receivers: match &self.receivers {
                Some(t) => {
                    let (lo, hi) = range("receivers", t, count)?;
                    if lo == 0 || hi > 64 {
                        return Err(format!("--receivers {t}: 1..=64 receivers"));
                    }
                    Some((lo as u32, hi as u32))
                }
                None => None,
            },
            reader: self.reader.map(|r| r == ReaderArg::Active),
            no_enobufs: self.no_enobufs.map(|v| v == OnOff::On),
            schedule: self.schedule.map(|s| match s {
                ScheduleArg::Burst => "burst".into(),
                ScheduleArg::Timed => "timed".into(),
            }),
            filters: self.filters.map(|v| v == OnOff::On),
        };
        self.flags_apply()?;
        if self.seed > i64::MAX as u64 {
            return Err("--seed must be below 2^63 (it is written into scenario files)".into());
        }
        Ok(ExploreJob {
            property: self.property,
            space,
            cases: self.cases,
            seed: self.seed,
            time: self.time,
            replay,
        })
    }
}

/// One line of the regression file: `<property> <space as JSON> cc <hex> # note`.
fn regression_key(property: Property, space: &Space) -> String {
    format!(
        "{} {}",
        property.name(),
        serde_json::to_string(space).expect("spaces serialise")
    )
}

fn load_regressions(path: &Path, key: &str) -> Vec<String> {
    let Ok(text) = nlstorm::untrusted::read_untrusted(path, nlstorm::untrusted::Bound::Seeds)
    else {
        return vec![];
    };
    text.lines()
        .filter_map(|l| l.strip_prefix(key))
        .filter_map(|rest| rest.split('#').next())
        .map(|seed| seed.trim().to_string())
        .filter(|seed| seed.starts_with("cc "))
        .collect()
}

pub fn run(mut a: ExploreArgs) -> anyhow::Result<i32> {
    let regressions = a
        .regressions
        .clone()
        .unwrap_or_else(|| a.out.join("regressions.txt"));
    a.regressions = Some(regressions.clone());
    if let Some(Err(e)) = a.json.as_deref().map(|p| args::check_output("--json", p)) {
        return Err(super::bad_input(e));
    }
    let key_space = a.job(vec![]).map_err(super::bad_input)?.space;
    let key = regression_key(a.property, &key_space);
    let replay = if a.no_persist {
        vec![]
    } else {
        load_regressions(&regressions, &key)
    };
    let job = a.job(replay.clone()).expect("validated above");
    err!(
        "nlstorm explore: property {}, {} new cases from seed {}, {} regression seeds to replay first",
        a.property.name(),
        job.cases,
        job.seed,
        replay.len()
    );
    let exe =
        std::env::current_exe().context("failed to find the nlstorm binary to run the sandbox")?;
    // Every emitter kind may be drawn: the sandbox gets the device for one, and the dump
    // space its links and connections.
    let world = if job.property.about_dumps() {
        nlstorm::search::hang_space::WORLD
    } else {
        Default::default()
    };
    // New cases and replayed seeds; once a case fails, shrinking runs past that count.
    let progress = std::cell::RefCell::new(super::progress::Progress::new(
        u64::from(job.cases) + replay.len() as u64,
        "cases",
        "explore",
    ));
    let explored =
        ChildSession::start(&exe, vec![nlstorm::exec::device_name(0)], world).and_then(|s| {
            nlstorm::search::explore::explore(&s, &job, &|r| {
                let note = match r.failing {
                    0 => String::new(),
                    n => format!("{n} failing: shrinking"),
                };
                progress.borrow_mut().set(r.runs, &note);
            })
        });
    progress.borrow().finish();
    let rep = explored.map_err(super::failed)?;
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&rep)?)
            .with_context(|| format!("failed to write {}", p.display()))?;
    }
    report(&a, &key, &replay, &rep)
}

fn report(
    a: &ExploreArgs,
    key: &str,
    replay: &[String],
    rep: &ExploreReport,
) -> anyhow::Result<i32> {
    let regressions = a.regressions.as_deref().expect("resolved in run");
    let Some(f) = &rep.failure else {
        out!(
            "explore: property {} held in {} ({:.1}s){}",
            a.property.name(),
            args::count(rep.runs as usize, "run"),
            rep.elapsed_s,
            if rep.stopped_by_time {
                format!(
                    "; stopped drawing cases at --time {}",
                    nlstorm::units::format_duration(a.time)
                )
            } else {
                String::new()
            }
        );
        return Ok(exit::PASS);
    };
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("failed to create {}", a.out.display()))?;
    let file = a.out.join(format!("{}.toml", f.plan.name));
    let from_replay = f.seed.is_none() && !replay.is_empty();
    let found_by = if from_replay {
        format!(
            "nlstorm explore --property {}, replaying a seed recorded in {}",
            a.property.name(),
            regressions.display()
        )
    } else {
        format!(
            "nlstorm explore --property {} --seed {}",
            a.property.name(),
            a.seed
        )
    };
    let header = format!(
        "Minimal case found by: {found_by}\nIt broke the property: {}\nRe-run: nlstorm run {}",
        f.reason,
        file.display()
    );
    let toml = nlstorm::scenario::to_toml(&f.plan, &header);
    std::fs::write(&file, &toml).with_context(|| format!("failed to write {}", file.display()))?;
    out!(
        "explore: property {} BROKEN after {} ({} failing while shrinking, {:.1}s){}",
        a.property.name(),
        args::count(rep.runs as usize, "run"),
        rep.failing_runs,
        rep.elapsed_s,
        if from_replay {
            "; found by replaying a recorded regression seed"
        } else {
            ""
        }
    );
    out!("  {}", f.reason);
    for r in &f.receivers {
        out!(
            "  {}: rcvbuf {} -> {}, sent {}, delivered {}, lost {}, enobufs {}, drops {}, model capacity {}",
            r.name,
            r.rcvbuf_requested.map_or("default".into(), |v| v.to_string()),
            r.rcvbuf_effective,
            r.sent,
            r.delivered,
            r.lost,
            r.enobufs,
            r.kernel_drops.map_or("-".into(), |v| v.to_string()),
            r.predicted_capacity.map_or("-".into(), |v| v.to_string())
        );
    }
    for d in &f.dumps {
        let r = &d.record;
        out!(
            "  dump {}: requests {}, completed {}, calls {}/{}, hangs {} {:?}",
            r.name,
            r.requests,
            r.completed,
            r.calls_started,
            r.calls_returned,
            r.hangs.len(),
            d.hang_classes
        );
    }
    out!("\n--- {} ---\n{toml}---", file.display());
    if let (Some(seed), false) = (&f.seed, a.no_persist) {
        record_seed(regressions, key, seed, &f.reason)?;
        err!(
            "explore: seed recorded in {}: later runs with the same --regressions replay it first",
            regressions.display()
        );
    }
    Ok(exit::FINDING)
}

fn record_seed(path: &Path, key: &str, seed: &str, reason: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if load_regressions(path, key).iter().any(|s| s == seed) {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    writeln!(f, "{key} {seed} # {}", reason.replace('\n', " "))
        .with_context(|| format!("failed to append to {}", path.display()))
}
