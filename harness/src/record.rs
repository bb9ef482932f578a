//! The run record: a directory per run with everything needed to re-check it offline.
//!
//! Its name is built from the scenario's [`Name`] and the run
//! id, each checked to be one plain path component, and every file in it is created
//! through [`OutDir`], so a crafted scenario cannot write outside the record root.

use std::path::{Path, PathBuf};

use crate::history::History;
use crate::plan::Plan;
use crate::report::ScenarioReport;
use crate::untrusted::{Name, OutDir, OutDirError};

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Making the directory or a file in it failed.
    #[error(transparent)]
    Out(#[from] OutDirError),
    /// A record part would not serialise.
    #[error("failed to serialise {what}")]
    Json {
        /// Which part.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

/// `20261203T123304Z`: the UTC time, readable and sorting in time order.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The record directory's name: time, scenario, first 8 characters of the run id.
fn dir_name(plan: &Plan, run_id: &str) -> String {
    let id: String = run_id.chars().take(8).collect();
    format!(
        "{}-{}-{}",
        utc_stamp(std::time::SystemTime::now()),
        plan.name,
        Name::sanitised(&id, "run")
    )
}

/// Writes `<root>/<utc time>-<scenario>-<run id prefix>/` and returns its path.
pub fn write(
    root: &Path,
    scenario: &str,
    plan: &Plan,
    history: &History,
    report: &ScenarioReport,
) -> Result<PathBuf, RecordError> {
    let dir = OutDir::create(root)?.subdir(&dir_name(plan, &history.run_id))?;
    dir.write("scenario.toml", scenario.as_bytes())?;
    dir.write("plan.json", &pretty("plan.json", plan)?)?;
    dir.write("history.json", &pretty("history.json", history)?)?;
    dir.write("verdict.json", &pretty("verdict.json", report)?)?;
    // As measured inside the run's sandbox, where the buffer limits may differ from
    // the host's (net.core.rmem_default is per network namespace).
    let f = &history.facts;
    let kernel = format!(
        "release {}\nnet.core.rmem_default {}\nnet.core.rmem_max {}\nsock_min_rcvbuf {}\n",
        history.kernel_release, f.rmem_default, f.rmem_max, f.sock_min_rcvbuf
    );
    dir.write("kernel.txt", kernel.as_bytes())?;
    Ok(dir.path().to_path_buf())
}

fn pretty<T: serde::Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>, RecordError> {
    serde_json::to_vec_pretty(v).map_err(|source| RecordError::Json { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_match_known_dates() {
        let at = |s: u64| utc_stamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "19700101T000000Z");
        // `date -u -d @1796301184 +%Y%m%dT%H%M%SZ`
        assert_eq!(at(1_796_301_184), "20261203T123304Z");
        assert_eq!(at(951_782_400), "20000229T000000Z");
    }
}
