//! `nlstorm run`: each scenario in a fresh sandbox, its record, the table, JSON and JUnit.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;

use nlstorm::report::{self, Report};
use nlstorm::run;

pub fn run(
    paths: &[PathBuf],
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    records: Option<PathBuf>,
    grant: run::Grant,
) -> anyhow::Result<i32> {
    let plans = load(paths)?;
    let outputs = [("--json", &json), ("--junit", &junit)];
    let checked = outputs
        .iter()
        .filter_map(|(flag, p)| p.as_deref().map(|p| super::args::check_output(flag, p)))
        .chain(records.as_deref().map(super::args::check_record_root))
        .collect::<Result<Vec<()>, String>>();
    checked.map_err(super::bad_input)?;
    let exe =
        std::env::current_exe().context("failed to find the nlstorm binary to run the sandbox")?;
    let tty = std::io::stderr().is_terminal();
    let mut scenarios = Vec::new();
    for (i, (file, source)) in plans.iter().enumerate() {
        let plan = &source.plan;
        emit!(
            std::io::stderr().lock(),
            "",
            "[{}/{}] {} ...{}",
            i + 1,
            plans.len(),
            plan.name,
            if tty { "" } else { "\n" }
        );
        let record = records.as_deref().map(|root| run::RecordTo {
            root,
            scenario: &source.text,
        });
        let rep = run::run_one(&exe, file, plan, record, grant);
        if tty {
            progress!("");
        }
        out_raw!("{}", report::print_scenario(&rep));
        out!();
        scenarios.push(rep);
    }
    let require_all = std::env::var_os("NLSTORM_REQUIRE_SANDBOX").is_some_and(|v| v == "1");
    let code = report::overall(&scenarios, require_all);
    out!("{}", report::summary(&scenarios));
    let report = Report {
        nlstorm_version: env!("CARGO_PKG_VERSION").into(),
        exit_code: code,
        scenarios,
    };
    if let Some(p) = json {
        report::write_json(&p, &report)?;
    }
    if let Some(p) = junit {
        std::fs::write(&p, report::junit(&report))
            .with_context(|| format!("failed to write {}", p.display()))?;
    }
    Ok(code)
}

fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, nlstorm::scenario::Source)>> {
    let files = nlstorm::scenario::collect(paths).map_err(super::bad_input)?;
    nlstorm::scenario::load_all(&files).map_err(|errs| {
        for e in errs {
            err!("{e}");
        }
        super::diagnosed()
    })
}
