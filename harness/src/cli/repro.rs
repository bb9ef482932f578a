//! `nlstorm repro`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use nlstorm::exit;
use nlstorm::report::ScenarioReport;
use nlstorm::untrusted::terminal;

/// Write a standalone C program that reproduces what a run found, without nlstorm.
///
/// PATH is a scenario file (run once now to see what fails) or a run record directory
/// (its scenario.toml and verdict.json). Supported: one emitter and one unread receiver
/// (ENOBUFS and loss), or one dump client that hung.
#[derive(Debug, Args)]
pub struct ReproArgs {
    /// Scenario file or run record directory.
    path: PathBuf,
    /// Where to write the C file (default: <scenario name>-repro.c).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write `{source, out, summary}` as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The record's resolved plan (what ran, names checked as it is read) and its verdict;
/// records older than plan.json fall back to compiling their scenario.toml.
fn from_record(dir: &Path) -> Result<(nlstorm::plan::Plan, ScenarioReport), String> {
    let plan_json = dir.join("plan.json");
    use nlstorm::untrusted::{read_untrusted, Bound, FileError};
    let plan = match read_untrusted(&plan_json, Bound::RecordPart) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a plan: {e}", plan_json.display()))?,
        Err(FileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            nlstorm::scenario::load(&dir.join("scenario.toml")).map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    let text =
        read_untrusted(&dir.join("verdict.json"), Bound::RecordPart).map_err(|e| e.to_string())?;
    let report = serde_json::from_str(&text).map_err(|e| format!("verdict.json: {e}"))?;
    Ok((plan, report))
}

pub fn run(a: ReproArgs) -> anyhow::Result<i32> {
    let outputs = [("--json", a.json.as_deref()), ("--out", a.out.as_deref())];
    for (flag, p) in outputs {
        if let Some(Err(e)) = p.map(|p| super::args::check_output(flag, p)) {
            return Err(super::bad_input(e));
        }
    }
    let (plan, report) = if a.path.is_dir() {
        from_record(&a.path).map_err(|e| {
            super::bad_input(format!(
                "{} is not a readable run record: {e}",
                a.path.display()
            ))
        })?
    } else {
        let plan = nlstorm::scenario::load(&a.path).map_err(|e| {
            err!("{e}");
            super::diagnosed()
        })?;
        let exe = std::env::current_exe()
            .context("failed to find the nlstorm binary to run the sandbox")?;
        err!(
            "nlstorm repro: running {} once to see what it finds ...",
            a.path.display()
        );
        let report =
            nlstorm::run::run_one(&exe, &a.path, &plan, None, nlstorm::run::Grant::default());
        if let Some(e) = &report.error {
            let kind = super::Kind::from_exit_code(report.exit_code);
            return Err(super::failure(kind, format!("the run failed: {e}")));
        }
        (plan, report)
    };
    let repro = nlstorm::repro::generate(&plan, &report, &a.path.display().to_string())
        .map_err(|e| super::bad_input(format!("cannot reproduce {}: {e}", plan.name)))?;
    let out = match a.out {
        // The user's own path: overwritten as asked.
        Some(out) => {
            std::fs::write(&out, &repro.source)
                .with_context(|| format!("failed to write {}", out.display()))?;
            out
        }
        // A name taken from the record: created, never overwritten, and never through a
        // symlink someone left at that name.
        None => {
            let out = PathBuf::from(format!("{}-repro.c", plan.name));
            write_new(&out, repro.source.as_bytes())?;
            out
        }
    };
    if let Some(p) = &a.json {
        let doc = serde_json::json!({
            "source": a.path.display().to_string(),
            "out": out.display().to_string(),
            "summary": repro.summary,
        });
        std::fs::write(p, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("failed to write {}", p.display()))?;
    }
    out!(
        "wrote {}: {}",
        out.display(),
        terminal(&repro.summary.replace('\n', " "))
    );
    out!(
        "build and run (as root): cc -O2 -o repro {} && ./repro",
        out.display()
    );
    Ok(exit::PASS)
}

/// Creates `path` (O_CREAT | O_EXCL | O_NOFOLLOW) and writes `bytes`; an existing file
/// or link is bad input naming --out.
fn write_new(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(super::bad_input(format!(
                "{} already exists: remove it, or choose the file with --out",
                path.display()
            )))
        }
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("failed to create {}", path.display()))
            )
        }
    };
    f.write_all(bytes)
        .with_context(|| format!("failed to write {}", path.display()))
}
