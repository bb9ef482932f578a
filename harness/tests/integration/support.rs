//! Running the binary and reading its JSON report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_nlstorm")
}

pub fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Runs `nlstorm run` on `scenario` (a path or TOML text) and returns (exit code, JSON).
pub fn run_scenario(scenario: &str) -> (i32, Value, Output) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = if scenario.contains('\n') {
        let p = dir.path().join("s.toml");
        std::fs::write(&p, scenario).unwrap();
        p
    } else {
        PathBuf::from(scenario)
    };
    let json = dir.path().join("out.json");
    let out = Command::new(bin())
        .args(["run", "--no-record", "--json"])
        .arg(&json)
        .arg(&path)
        .output()
        .expect("spawn nlstorm");
    let code = out.status.code().unwrap_or(-1);
    let v = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (code, v, out)
}

/// Runs the bundled scenario `name`, which must pass; returns its JSON report.
pub fn run_bundled(name: &str) -> Value {
    let path = scenarios().join(format!("{name}.toml"));
    let (code, v, out) = run_scenario(path.to_str().unwrap());
    assert_eq!(
        code,
        0,
        "{name}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

/// The dump client `name` in a one-scenario report.
pub fn dump<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["scenarios"][0]["dumps"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["name"] == name))
        .unwrap_or_else(|| panic!("no dump client {name} in {v}"))
}

/// True when sandboxes can be made here; otherwise prints one skip line (or panics in CI).
pub fn sandbox_or_skip(test: &str) -> bool {
    static CAN: OnceLock<Result<(), String>> = OnceLock::new();
    let can = CAN.get_or_init(|| {
        let out = Command::new(bin())
            .arg("probe")
            .output()
            .expect("spawn nlstorm");
        match out.status.code() {
            Some(0) => Ok(()),
            _ => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        }
    });
    match can {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("NLSTORM_REQUIRE_SANDBOX").is_ok_and(|v| v == "1") {
                panic!("{test}: cannot create a sandbox and NLSTORM_REQUIRE_SANDBOX=1: {why}");
            }
            skip_line!("skipping {test}: cannot create a network namespace ({why})");
            false
        }
    }
}

/// The receiver object named `name` in the first scenario of a report.
pub fn receiver<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["scenarios"][0]["receivers"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no receiver {name} in {report}"))
}

pub fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// `nlstorm probe --json`, once per test binary.
pub fn probe() -> &'static Value {
    static PROBE: OnceLock<Value> = OnceLock::new();
    PROBE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = dir.path().join("probe.json");
        let out = Command::new(bin())
            .args(["probe", "--json"])
            .arg(&json)
            .output()
            .expect("spawn nlstorm");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
    })
}

/// The admission rule `probe` fitted.
pub fn probed_rule() -> nlstorm::model::AdmitRule {
    serde_json::from_value(probe()["admit_rule"].clone()).expect("probe fitted a rule")
}

/// Truesize of a `payload`-byte message on `kind`'s path, from the probe's buckets.
pub fn probed_truesize(kind: &str, payload: u64) -> u64 {
    let path = probe()["truesize"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["emitter"] == kind)
        .unwrap_or_else(|| panic!("probe has no {kind}"));
    let bucket = path["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| u(&b["from"]) <= payload && payload <= u(&b["to"]));
    u(&bucket.unwrap_or_else(|| panic!("no bucket for {payload} B in {path}"))["truesize"])
}

/// `nlstorm validate` on scenario `text` (as `name` in a fresh directory), which must be
/// refused with exit 2; returns what it printed on stderr.
pub fn validate_refuses(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    let out = Command::new(bin())
        .arg("validate")
        .arg(&p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

/// A command that runs `exe` as uid/gid 65534 with no capabilities (setpriv from
/// util-linux; the caller must be root).
pub fn as_nobody(exe: &std::path::Path) -> Command {
    let mut c = Command::new("setpriv");
    c.args(AS_NOBODY).arg(exe);
    c
}

/// setpriv's arguments for running as nobody with no capability.
const AS_NOBODY: [&str; 4] = [
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
];

/// setpriv's arguments for root without any capability (a container without
/// --privileged).
pub const NO_CAPABILITIES: [&str; 2] = ["--bounding-set=-all", "--inh-caps=-all"];

/// Whether this process may run a program under `setpriv ARGS`: tried (`setpriv ARGS
/// true`), not inferred from the euid. `Err` says why not, for the skip line.
pub fn setpriv_works(args: &[&str]) -> Result<(), String> {
    let out = Command::new("setpriv")
        .args(args)
        .arg("true")
        .output()
        .map_err(|e| format!("cannot run setpriv from util-linux: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "setpriv {} refused: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether this process may become nobody (see [`setpriv_works`]).
pub fn can_become_nobody() -> Result<(), String> {
    setpriv_works(&AS_NOBODY)
}

/// The first scenario of `v` was skipped, and its reason says `words`.
pub fn skipped_saying(v: &Value, words: &str) {
    let s = &v["scenarios"][0];
    assert_eq!(s["status"], "skipped", "{s}");
    let why = s["error"].as_str().unwrap_or_default();
    assert!(why.contains(words), "the reason must say {words:?}: {s}");
}
