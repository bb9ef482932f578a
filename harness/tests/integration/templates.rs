//! The listener templates a user starts from (fixtures/listeners/: C, Python, Go) keep
//! nlstorm's contract: each, run as a program under a burst, is accounted exactly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

const REGEX: &str = r"^uevent run=(?P<run>\S+) src=(?P<src>\d+) seq=(?P<seq>\d+)$";

fn template(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/listeners")
        .join(name)
}

/// A directory every uid can search: programs run as nobody.
fn open_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// The tool a template needs, or why the test cannot run here (a failure in CI).
fn have(test: &str, tool: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok()
        || Command::new(tool).arg("version").output().is_ok()
    {
        return true;
    }
    if std::env::var("NLSTORM_REQUIRE_SANDBOX").is_ok_and(|v| v == "1") {
        panic!("{test}: {tool} is not installed (ci/test.sh installs it)");
    }
    skip_line!("skipping {test}: {tool} is not installed");
    false
}

/// Runs `argv` as a program under a burst of 100 injected uevents, which the default
/// buffer holds even unread (a slow interpreter on a busy machine must not lose any);
/// it must see all.
fn accounted(argv: &[String]) {
    let command: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    let text = format!(
        "deadline = \"20s\"\n[[emitter]]\nname = \"plug\"\nkind = \"injected-uevent\"\npayload = 300\nschedule = {{ kind = \"burst\", size = 100 }}\n[[program]]\nname = \"template\"\ncommand = [{}]\nready-line = \"^listening\"\noutput-regex = '{REGEX}'\nexpect = {{ seen = 100, lost = 0, foreign = 0, error-lines = 0 }}\n",
        command.join(", ")
    );
    let (code, v, out) = run_scenario(&text);
    assert_eq!(
        code,
        0,
        "{argv:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let p = &v["scenarios"][0]["programs"][0];
    assert_eq!((u(&p["seen"]), u(&p["lost"])), (100, 0), "{p}");
}

#[test]
fn the_c_template_is_accounted_exactly() {
    if !sandbox_or_skip("the_c_template_is_accounted_exactly") {
        return;
    }
    let dir = open_dir();
    let out = dir.path().join("listener");
    let st = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(template("listener.c"))
        .status()
        .unwrap();
    assert!(st.success());
    accounted(&[out.display().to_string()]);
}

#[test]
fn the_python_template_is_accounted_exactly() {
    if !sandbox_or_skip("the_python_template_is_accounted_exactly")
        || !have("the_python_template_is_accounted_exactly", "python3")
    {
        return;
    }
    let dir = open_dir();
    let script = dir.path().join("listener.py");
    std::fs::copy(template("listener.py"), &script).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The system's interpreter by its path: PATH may lead to a per-user shim (pyenv)
    // under a home directory nobody cannot search.
    let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("python3");
    accounted(&[python.into(), script.display().to_string()]);
}

#[test]
fn the_go_template_is_accounted_exactly() {
    if !sandbox_or_skip("the_go_template_is_accounted_exactly")
        || !have("the_go_template_is_accounted_exactly", "go")
    {
        return;
    }
    let dir = open_dir();
    let out = dir.path().join("listener");
    let cache = tempfile::tempdir().unwrap();
    let st = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(template("listener.go"))
        .env("GOCACHE", cache.path().join("cache"))
        .env("GOPATH", cache.path().join("path"))
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "off")
        .status()
        .unwrap();
    assert!(st.success(), "go build failed");
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o755)).unwrap();
    accounted(&[out.display().to_string()]);
}
