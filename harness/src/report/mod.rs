//! Reports: the terminal table, the JSON document, JUnit XML.

mod human;
mod junit;
mod kernels;
mod model;
mod qualify;
mod scenario;
mod search;

pub use human::{print_probe, print_scenario};
pub use junit::junit;
pub use kernels::{kernel_table_html, kernel_table_text};
pub use model::{Report, ScenarioReport};
pub use qualify::qualify_junit;
pub use scenario::{blank_report, combine, judge, overall, status_name, summary};
pub use search::print_threshold;

/// The status of a scenario this machine cannot run (no privilege for something it
/// needs): reported with its reason, and the runner goes on with the next one.
pub const SKIPPED: &str = "skipped";

/// `1 cell`, `3 cells`: a count with its noun, for every message that prints one.
pub fn count(n: impl Into<u64>, what: &str) -> String {
    let n = n.into();
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Writes the JSON report to `path`.
pub fn write_json(path: &std::path::Path, report: &Report) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(report).expect("reports serialise");
    std::fs::write(path, text).map_err(|e| {
        std::io::Error::new(e.kind(), format!("failed to write {}: {e}", path.display()))
    })
}
