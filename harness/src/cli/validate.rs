//! `nlstorm validate`: compile scenario files without running them.

use std::path::PathBuf;

use anyhow::Context;

use nlstorm::exit;

/// One file's result, for `validate --json`.
#[derive(serde::Serialize)]
struct Validated {
    file: String,
    scenario: Option<String>,
    ok: bool,
    problems: Vec<nlstorm::scenario::ScenarioError>,
}

pub fn run(paths: &[PathBuf], json: Option<PathBuf>) -> anyhow::Result<i32> {
    if let Some(Err(e)) = json
        .as_deref()
        .map(|p| super::args::check_output("--json", p))
    {
        return Err(super::bad_input(e));
    }
    let files = nlstorm::scenario::collect(paths).map_err(super::bad_input)?;
    let mut results = Vec::new();
    for f in &files {
        results.push(match nlstorm::scenario::load(f) {
            Ok(p) => {
                out!(
                    "ok  {} ({}: {}, {}, {}{})",
                    f.display(),
                    p.name,
                    super::args::count(p.emitters.len(), "emitter"),
                    super::args::count(p.receivers.len(), "receiver"),
                    super::args::count(p.dumps.len(), "dump client"),
                    if p.programs.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", super::args::count(p.programs.len(), "program"))
                    }
                );
                Validated {
                    file: f.display().to_string(),
                    scenario: Some(p.name.to_string()),
                    ok: true,
                    problems: vec![],
                }
            }
            Err(e) => {
                err!("{e}");
                Validated {
                    file: f.display().to_string(),
                    scenario: None,
                    ok: false,
                    problems: e.0,
                }
            }
        });
    }
    if let Some(p) = json {
        std::fs::write(&p, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("failed to write {}", p.display()))?;
    }
    if results.iter().all(|r| r.ok) {
        Ok(exit::PASS)
    } else {
        Err(super::diagnosed())
    }
}
