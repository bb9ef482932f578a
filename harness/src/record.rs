//! The run record: a directory per run with everything needed to re-check it offline.

use std::io;
use std::path::{Path, PathBuf};

use crate::history::History;
use crate::plan::Plan;
use crate::report::ScenarioReport;

/// Sysctls that shape the results, read inside the sandbox's view where namespaced.
const SYSCTLS: [&str; 4] = [
    "net/core/rmem_default",
    "net/core/rmem_max",
    "net/core/wmem_default",
    "net/core/wmem_max",
];

/// Writes `<root>/<scenario>-<run id prefix>/` and returns its path.
pub fn write(
    root: &Path,
    file: &Path,
    plan: &Plan,
    history: &History,
    report: &ScenarioReport,
) -> io::Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let dir = root.join(format!("{secs}-{}-{}", plan.name, &history.run_id[..8]));
    std::fs::create_dir_all(&dir)?;
    if let Ok(text) = std::fs::read_to_string(file) {
        std::fs::write(dir.join("scenario.toml"), text)?;
    }
    std::fs::write(dir.join("plan.json"), pretty(plan)?)?;
    std::fs::write(dir.join("history.json"), pretty(history)?)?;
    std::fs::write(dir.join("verdict.json"), pretty(report)?)?;
    let mut kernel = format!("release {}\n", history.kernel_release);
    for s in SYSCTLS {
        let v = std::fs::read_to_string(format!("/proc/sys/{s}")).unwrap_or_else(|_| "?".into());
        kernel.push_str(&format!("{} {}\n", s.replace('/', "."), v.trim()));
    }
    kernel.push_str(&format!(
        "sock_min_rcvbuf {}\n",
        history.facts.sock_min_rcvbuf
    ));
    std::fs::write(dir.join("kernel.txt"), kernel)?;
    Ok(dir)
}

fn pretty<T: serde::Serialize>(v: &T) -> io::Result<String> {
    serde_json::to_string_pretty(v).map_err(io::Error::other)
}
