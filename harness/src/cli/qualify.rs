//! `nlstorm qualify` and `nlstorm diff`: the running kernel's profile, compared with a
//! baseline profile of a kernel qualified before.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use nlstorm::exit;
use nlstorm::qualify::baseline::{self, Match};
use nlstorm::qualify::{self, Diff, KernelId, Profile};

/// Measure the qualification suite on the running kernel and compare it with a baseline.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  nlstorm qualify\n  nlstorm qualify --json profile.json --junit qualify.xml\n  nlstorm qualify --baseline old-kernel.json\n\nWith a directory as --baseline (default fixtures/baselines), the file named after\nthe running kernel's release is the baseline, else one of the same upstream version\n(6.18.44 of 6.18.44-fc-v1272: the same source built again); without one nothing is compared.\nExit codes: 0 the same as the baseline (or no baseline), 1 an exact fact differs."
)]
pub struct QualifyArgs {
    /// Write the kernel profile here (the input of `diff` and `--baseline`).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write JUnit XML here: one test case per fact, failing where it differs.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// A baseline profile, or a directory of them named <release>.json.
    #[arg(long, default_value = "fixtures/baselines")]
    baseline: PathBuf,
}

/// Compare two kernel profiles fact by fact.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  nlstorm diff fixtures/baselines/6.1.0-57-cloud-amd64.json profile.json\n\nExit codes: 0 no exact fact differs (timings outside their band are reported only),\n1 an exact fact differs or is missing on one side, 2 a file is not a profile."
)]
pub struct DiffArgs {
    /// The profile qualified before, or a directory of them (fixtures/baselines): the
    /// one of the current profile's release, else of its upstream version.
    baseline: PathBuf,
    /// The profile to judge.
    current: PathBuf,
    /// Write the differences as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn qualify(a: QualifyArgs) -> anyhow::Result<i32> {
    for (flag, p) in [("--json", &a.json), ("--junit", &a.junit)] {
        if let Some(Err(e)) = p.as_deref().map(|p| super::args::check_output(flag, p)) {
            return Err(super::bad_input(e));
        }
    }
    let baseline = baseline_file(&a.baseline).map_err(super::bad_input)?;
    let baseline = match baseline.map(|(p, m)| qualify::read_profile(&p).map(|b| (p, m, b))) {
        Some(Err(e)) => {
            return Err(super::bad_input(format!("--baseline {e}")));
        }
        Some(Ok(b)) => Some(b),
        None => None,
    };
    err!(
        "nlstorm qualify: measuring suite {} in a sandbox",
        qualify::SUITE
    );
    let probe = super::probe::measure()?;
    let mut profile = Profile::from_probe(
        &probe,
        KernelId::current(),
        nlstorm::record::utc_stamp(std::time::SystemTime::now()),
    );
    err!(
        "nlstorm qualify: dump and hang behaviour ({} scenarios, each in its own sandbox)",
        qualify::dumps::CASES.len()
    );
    let exe = std::env::current_exe().context("failed to find the nlstorm binary")?;
    let (dump_facts, problems) = qualify::dumps::measure(&exe);
    for p in &problems {
        err!("nlstorm qualify: a suite scenario did not run, its facts are missing: {p}");
    }
    profile.facts.extend(dump_facts);
    print_profile(&profile);
    if let Some(path) = &a.json {
        write(path, &serde_json::to_string_pretty(&profile)?)?;
    }
    let d = baseline
        .as_ref()
        .map(|(_, _, b)| qualify::diff(b, &profile));
    match (&baseline, &d) {
        (Some((path, m, b)), Some(d)) => {
            out!();
            out!(
                "baseline {} ({} measured {}{})",
                path.display(),
                b.kernel.release,
                b.measured_at,
                match m {
                    Match::Exact => String::new(),
                    Match::SameUpstream(v) => format!(
                        "; no baseline of {} itself, so another build of upstream {v}",
                        profile.kernel.release
                    ),
                }
            );
            print_diff(d);
        }
        _ => {
            out!();
            out!(
                "no baseline for {} under {}: nothing compared (keep --json as one)",
                profile.kernel.release,
                a.baseline.display()
            );
        }
    }
    if let Some(path) = &a.junit {
        write(path, &nlstorm::report::qualify_junit(&profile, d.as_ref()))?;
    }
    Ok(match d {
        Some(d) if d.failing() > 0 => exit::FINDING,
        _ => exit::PASS,
    })
}

pub fn diff(a: DiffArgs) -> anyhow::Result<i32> {
    if let Some(Err(e)) = a
        .json
        .as_deref()
        .map(|p| super::args::check_output("--json", p))
    {
        return Err(super::bad_input(e));
    }
    let cur = qualify::read_profile(&a.current).map_err(super::bad_input)?;
    let baseline_path = if a.baseline.is_dir() {
        match baseline_in(&a.baseline, &cur.kernel.release) {
            Ok(Some((p, _))) => p,
            Ok(None) => {
                out!(
                    "no baseline for {} under {}: nothing compared",
                    nlstorm::untrusted::terminal_line(&cur.kernel.release),
                    a.baseline.display()
                );
                return Ok(exit::PASS);
            }
            Err(e) => {
                return Err(super::bad_input(e));
            }
        }
    } else {
        a.baseline.clone()
    };
    let base = qualify::read_profile(&baseline_path).map_err(super::bad_input)?;
    out!(
        "baseline {} ({} measured {} on {}), current {} ({} measured {} on {})",
        baseline_path.display(),
        base.kernel.release,
        base.measured_at,
        base.measured_on,
        a.current.display(),
        cur.kernel.release,
        cur.measured_at,
        cur.measured_on
    );
    let d = qualify::diff(&base, &cur);
    print_diff(&d);
    if let Some(path) = &a.json {
        write(path, &serde_json::to_string_pretty(&d)?)?;
    }
    Ok(if d.failing() > 0 {
        exit::FINDING
    } else {
        exit::PASS
    })
}

/// The baseline to compare with: the file itself, or in a directory the profile of this
/// release, else one of the same upstream version (`None` when there is neither). The
/// release names a file, so one that could reach outside the directory is not used.
fn baseline_file(arg: &Path) -> Result<Option<(PathBuf, Match)>, String> {
    if !arg.is_dir() {
        return if arg.exists() || arg != Path::new("fixtures/baselines") {
            Ok(Some((arg.to_path_buf(), Match::Exact)))
        } else {
            Ok(None)
        };
    }
    baseline_in(arg, &nlstorm::sandbox::kernel_release())
}

/// The baseline for `release` in the directory `dir`.
fn baseline_in(dir: &Path, release: &str) -> Result<Option<(PathBuf, Match)>, String> {
    if !baseline::names_a_file(release) {
        return Err(format!(
            "the kernel release {:?} cannot name a baseline file: give the baseline file itself",
            nlstorm::untrusted::terminal_line(release)
        ));
    }
    let names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    Ok(baseline::choose(release, &names).map(|(n, m)| (dir.join(n), m)))
}

/// True if `path` reads as a kernel profile (a JSON object with a `suite`), so that
/// `merge` can tell profiles from sweep shards; the profile itself is checked later.
pub fn is_profile(path: &Path) -> bool {
    nlstorm::untrusted::read_bounded(path, qualify::PROFILE_BYTES)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("suite").is_some() && v.get("facts").is_some())
}

/// `nlstorm merge` of kernel profiles: one column per kernel, the differing rows marked.
pub fn merge_profiles(inputs: &[PathBuf], json: &Path, html: Option<&Path>) -> anyhow::Result<i32> {
    for (flag, p) in [("--json", Some(json)), ("--html", html)] {
        if let Some(Err(e)) = p.map(|p| super::args::check_output(flag, p)) {
            return Err(super::bad_input(e));
        }
    }
    let mut profiles = Vec::new();
    for p in inputs {
        match qualify::read_profile(p) {
            Ok(pr) => profiles.push(pr),
            Err(e) => {
                return Err(super::bad_input(e));
            }
        }
    }
    let t = qualify::table(&profiles);
    out!("{}", nlstorm::report::kernel_table_text(&t).trim_end());
    write(json, &serde_json::to_string_pretty(&t)?)?;
    if let Some(h) = html {
        write(h, &nlstorm::report::kernel_table_html(&t))?;
    }
    Ok(exit::PASS)
}

fn print_profile(p: &Profile) {
    out!(
        "kernel {} ({}, {}), suite {}, {} facts{}",
        p.kernel.release,
        p.kernel.machine,
        p.measured_on,
        p.suite,
        p.facts.len(),
        p.kernel
            .config_sha256
            .as_deref()
            .map(|h| format!(", config sha256 {}", &h[..h.len().min(12)]))
            .unwrap_or_default()
    );
    for f in &p.facts {
        out!(
            "  {:<44} {}",
            f.id,
            qualify::with_unit(&f.value, f.unit.as_deref())
        );
    }
}

fn print_diff(d: &Diff) {
    for x in &d.differences {
        let mark = if x.change.fails() { "!" } else { "~" };
        out!("  {mark} {}", x.words);
    }
    let reported = d.differences.len() - d.failing();
    out!(
        "{} facts the same, {} differ{}",
        d.same,
        d.failing(),
        if reported > 0 {
            format!(", {reported} timings or machine settings differ (marked ~, reported only)")
        } else {
            String::new()
        }
    );
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))
}
