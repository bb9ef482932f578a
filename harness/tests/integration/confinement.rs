//! A scenario's program is confined: run by root with no grant, a hostile program
//! (fixtures/programs/escape.c) fails at each escape it tries, its whole tree dies with
//! the run, nothing is left on the host, and the run still judges its events. Root is
//! granted only on the command line, and said so in the report.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// `name.c` from fixtures/programs built into `dir` (cc; ci/test.sh installs gcc).
fn build(name: &str, dir: &Path) -> PathBuf {
    let src =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../fixtures/programs/{name}.c"));
    let out = dir.join(name);
    let st = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("cc");
    assert!(st.success(), "cc failed on {}", src.display());
    out
}

/// A directory every uid can search, for the programs and the host file they aim at.
fn open_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// A host process running as nobody, with a secret in its environment: what a
/// confined program must neither see, signal nor read.
fn victim(secret: &str) -> Child {
    let mut c = as_nobody(Path::new("/bin/sleep"));
    c.arg("120").env("NLSTORM_TEST_SECRET", secret);
    c.spawn().expect("setpriv sleep")
}

/// PIDs of processes whose command line holds `token`.
fn holding(token: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(token))
        })
        .collect()
}

/// Waits up to 5 s for every process holding `token` to be gone; the ones left.
fn gone(token: &str) -> Vec<u32> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let left = holding(token);
        if left.is_empty() || Instant::now() > until {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn token() -> String {
    format!(
        "nlstorm-escape-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_ish()
    )
}

fn rand_ish() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The scenario: a burst of `burst` injected uevents, and the escape program that
/// then execs the listener in `dir`, plus `extra` keys for the program.
fn scenario(
    dir: &Path,
    token: &str,
    host_file: &Path,
    victim: u32,
    burst: u32,
    extra: &str,
) -> String {
    let escape = build("escape", dir);
    let listener = build("uevent-listener", dir);
    format!(
        r#"deadline = "20s"
[[emitter]]
name = "plug"
kind = "injected-uevent"
payload = 300
schedule = {{ kind = "burst", size = {burst} }}
[[program]]
name = "hostile"
command = [{:?}, {token:?}, {:?}, "{victim}", "--", {:?}, "0", "report"]
ready-line = "^listening"
output-regex = '^uevent run=(?P<run>\S+) src=(?P<src>\d+) seq=(?P<seq>\d+)$'
error-patterns = ["ESCAPED"]
{extra}
"#,
        escape.display().to_string(),
        host_file.display().to_string(),
        listener.display().to_string(),
    )
}

/// Runs `text` with a record, returning (exit code, JSON report, the program's output
/// lines from the record, stderr).
fn run_recorded(text: &str, args: &[&str]) -> (i32, Value, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, json, records) = (
        dir.path().join("s.toml"),
        dir.path().join("out.json"),
        dir.path().join("records"),
    );
    std::fs::write(&scenario, text).unwrap();
    let out = Command::new(bin())
        .arg("run")
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--record-dir")
        .arg(&records)
        .arg(&scenario)
        .output()
        .unwrap();
    let v: Value = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let mut lines = Vec::new();
    if let Some(rec) = std::fs::read_dir(&records)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
    {
        let h: Value = serde_json::from_str(
            &std::fs::read_to_string(rec.path().join("history.json")).unwrap(),
        )
        .unwrap();
        for l in h["programs"][0]["output"].as_array().into_iter().flatten() {
            lines.push(l["text"].as_str().unwrap_or_default().to_string());
        }
    }
    (
        out.status.code().unwrap_or(-1),
        v,
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn root_or_skip(test: &str) -> bool {
    if !sandbox_or_skip(test) {
        return false;
    }
    match can_become_nobody() {
        Ok(()) => true,
        Err(why) => {
            skip_line!("skipping {test}: needs root to start a victim process as nobody ({why})");
            false
        }
    }
}

#[test]
fn a_hostile_program_run_by_root_without_a_grant_fails_every_escape_and_is_still_judged() {
    if !root_or_skip(
        "a_hostile_program_run_by_root_without_a_grant_fails_every_escape_and_is_still_judged",
    ) {
        return;
    }
    let dir = open_dir();
    let tok = token();
    let host_file = dir.path().join("written-by-the-program");
    let mut victim = victim(&tok);
    let text = scenario(
        dir.path(),
        &tok,
        &host_file,
        victim.id(),
        40,
        "expect = { seen = 40, lost = 0, error-lines = 0 }",
    );
    let (code, v, lines, stderr) = run_recorded(&text, &[]);
    let escapes: Vec<&String> = lines.iter().filter(|l| l.starts_with("escape ")).collect();
    for name in [
        "write-host-file",
        "signal-host-pid",
        "enter-host-netns",
        "read-environ",
        "write-tmp",
    ] {
        let line = escapes
            .iter()
            .find(|l| l.starts_with(&format!("escape {name}:")));
        assert!(
            line.is_some_and(|l| l.contains(": blocked (")),
            "{name} was not blocked: {line:?}\n{lines:#?}"
        );
    }
    assert!(
        escapes
            .iter()
            .any(|l| l.starts_with("escape home-writable: ok")),
        "its work directory must stay writable: {escapes:#?}"
    );
    assert!(!host_file.exists(), "the program wrote a host file");
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the host process the program aimed at was killed"
    );
    let _ = victim.kill();
    let _ = victim.wait();
    // The run judged its events as for any listener, and the run passed.
    assert_eq!(code, 0, "{stderr}\n{v}");
    let p = &v["scenarios"][0]["programs"][0];
    assert_eq!((u(&p["seen"]), u(&p["lost"])), (40, 0), "{p}");
    assert_eq!(p["identity"]["kind"], "unprivileged", "{p}");
    assert_eq!(u(&p["identity"]["uid"]), 65534, "{p}");
    // Its setsid grandchild died with the run.
    assert_eq!(
        gone(&tok),
        Vec::<u32>::new(),
        "processes of the program outlived the run"
    );
}

#[test]
fn root_needs_the_operators_grant_and_the_report_says_who_had_it() {
    if !root_or_skip("root_needs_the_operators_grant_and_the_report_says_who_had_it") {
        return;
    }
    let dir = open_dir();
    let listener = build("uevent-listener", dir.path());
    let text = format!(
        r#"deadline = "10s"
[[emitter]]
name = "plug"
kind = "injected-uevent"
payload = 300
schedule = {{ kind = "burst", size = 20 }}
[[program]]
name = "privileged"
command = [{:?}, "0", "report"]
root = true
ready-line = "^listening"
output-regex = '^uevent run=(?P<run>\S+) src=(?P<src>\d+) seq=(?P<seq>\d+)$'
expect = {{ seen = 20 }}
"#,
        listener.display().to_string()
    );
    // The file alone: skipped, naming the flag.
    let (code, v, _, stderr) = run_recorded(&text, &[]);
    assert_eq!(code, 3, "{stderr}\n{v}");
    skipped_saying(&v, "--allow-root-programs");
    // Granted: it runs, as root, and the report says so.
    let (code, v, _, stderr) = run_recorded(&text, &["--allow-root-programs"]);
    assert_eq!(code, 0, "{stderr}\n{v}");
    let p = &v["scenarios"][0]["programs"][0];
    assert_eq!(p["identity"]["kind"], "root", "{p}");
    assert_eq!(u(&p["seen"]), 20, "{p}");
    let human = Command::new(bin())
        .args(["run", "--no-record", "--allow-root-programs"])
        .arg({
            let f = dir.path().join("s.toml");
            std::fs::write(&f, &text).unwrap();
            f
        })
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&human.stdout);
    assert!(out.contains("ran as root"), "{out}");
}

#[test]
fn uid_zero_in_a_file_is_refused_and_points_at_the_grant() {
    let err = validate_refuses(
        "uid-zero",
        "[[emitter]]\nname = \"e\"\nkind = \"synthetic-uevent\"\nschedule = { kind = \"burst\", size = 1 }\n[[program]]\nname = \"p\"\ncommand = [\"true\"]\nuid = 0\n",
    );
    assert!(
        err.contains("root = true") && err.contains("--allow-root-programs"),
        "{err}"
    );
}

/// Interrupted runs leave nothing: no process of the program, no temporary directory,
/// and (since they live in namespaces that die with their processes) no mount or
/// namespace. SIGINT, SIGTERM and SIGKILL at a few moments of a run.
#[test]
fn interrupted_runs_leave_no_process_directory_or_namespace() {
    if !root_or_skip("interrupted_runs_leave_no_process_directory_or_namespace") {
        return;
    }
    let dir = open_dir();
    let tmp_before = leftovers();
    let signals = [libc::SIGINT, libc::SIGTERM, libc::SIGKILL];
    let delays = [150u64, 400, 900];
    for (i, (&sig, &ms)) in signals
        .iter()
        .zip(delays.iter().cycle())
        .chain(signals.iter().zip(delays.iter().rev()))
        .enumerate()
    {
        let tok = format!("{}-{i}", token());
        let mut victim = victim(&tok);
        // A long, slow flood, so the signal lands while the program runs.
        let text = scenario(dir.path(), &tok, &dir.path().join("f"), victim.id(), 1, "").replace(
            "{ kind = \"burst\", size = 1 }",
            "{ kind = \"rate\", per-sec = 100, duration = \"5s\" }",
        );
        let f = dir.path().join(format!("s{i}.toml"));
        std::fs::write(&f, &text).unwrap();
        let mut run = Command::new(bin())
            .args(["run", "--no-record"])
            .arg(&f)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(run.id() as i32),
            nix::sys::signal::Signal::try_from(sig).unwrap(),
        );
        let _ = run.wait();
        assert_eq!(
            gone(&tok),
            Vec::<u32>::new(),
            "signal {sig} after {ms} ms left processes"
        );
        let _ = victim.kill();
        let _ = victim.wait();
    }
    assert_eq!(leftovers(), tmp_before, "temporary directories were left");
}

/// nlstorm-program-* directories in the temporary directory.
fn leftovers() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(std::env::temp_dir())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("nlstorm-program-")
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A scenario running `program` (a path) with a ready line and a short stop.
fn script_scenario(program: &Path, expect: &str) -> String {
    format!(
        r#"deadline = "10s"
[[emitter]]
name = "plug"
kind = "injected-uevent"
payload = 300
schedule = {{ kind = "burst", size = 5 }}
[[program]]
name = "script"
command = [{:?}]
uid = 65534
ready-line = "^listening"
stop-after = "200ms"
{expect}
"#,
        program.display().to_string()
    )
}

fn write_script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn a_script_runs_as_its_uid_even_where_that_uid_cannot_reach_it() {
    if !root_or_skip("a_script_runs_as_its_uid_even_where_that_uid_cannot_reach_it") {
        return;
    }
    let script = "#!/bin/sh\necho listening\nid -u\nexec sleep 5\n";
    // Reachable by nobody, then in a directory only root may search (a checkout under
    // /root): executed from a descriptor, the interpreter reads it via /proc/self/fd.
    let open = open_dir();
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    for dir in [open.path(), private.path()] {
        let p = write_script(dir, "listener.sh", script);
        let (code, v, lines, stderr) =
            run_recorded(&script_scenario(&p, "expect = { exit-code = 143 }"), &[]);
        assert_eq!(code, 0, "{}: {stderr}\n{v}\n{lines:?}", dir.display());
        assert!(
            lines.iter().any(|l| l == "65534"),
            "it ran as nobody: {lines:?}"
        );
    }
    // A `#!` line naming a missing interpreter is the scenario's mistake, said so.
    let p = write_script(open.path(), "broken.sh", "#!/nonexistent/interpreter\n");
    let (code, v, _, stderr) = run_recorded(&script_scenario(&p, ""), &[]);
    assert_eq!(code, 2, "{stderr}\n{v}");
    let e = v["scenarios"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(e.contains("interpreter"), "{e}");
}

#[test]
fn an_argument_exec_cannot_carry_is_refused_by_validate() {
    let long = "x".repeat(200 * 1024);
    let err = validate_refuses(
        "long-argument",
        &format!("[[emitter]]\nname = \"e\"\nkind = \"synthetic-uevent\"\nschedule = {{ kind = \"burst\", size = 1 }}\n[[program]]\nname = \"p\"\ncommand = [\"true\", \"{long}\"]\n"),
    );
    assert!(
        err.contains("exec(2) takes at most 131071 B"),
        "{}",
        &err[..err.len().min(400)]
    );
}

#[test]
fn a_rootless_sandbox_confines_its_programs_too() {
    if let Err(why) = can_become_nobody() {
        skip_line!("skipping a_rootless_sandbox_confines_its_programs_too: cannot switch to an unprivileged uid here ({why})");
        return;
    }
    let dir = open_dir();
    let tok = token();
    let host_file = dir.path().join("written-by-the-program");
    // The build tree may sit under a directory the unprivileged uid cannot enter.
    let exe = dir.path().join("nlstorm");
    std::fs::copy(bin(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The victim is this test process: a host process the program must not reach.
    let text = scenario(
        dir.path(),
        &tok,
        &host_file,
        std::process::id(),
        20,
        "expect = { seen = 20, lost = 0, error-lines = 0 }",
    );
    let f = dir.path().join("s.toml");
    std::fs::write(&f, text).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let records = dir.path().join("records");
    let out = as_nobody(&exe)
        .args(["run", "--record-dir"])
        .arg(&records)
        .arg(&f)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(3) && stdout.contains("user namespaces") {
        skip_line!("skipping a_rootless_sandbox_confines_its_programs_too: unprivileged user namespaces unavailable");
        return;
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !host_file.exists(),
        "a rootless sandbox's program wrote a host file"
    );
    let rec = std::fs::read_dir(&records)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let h: Value =
        serde_json::from_str(&std::fs::read_to_string(rec.join("history.json")).unwrap()).unwrap();
    let lines: Vec<&str> = h["programs"][0]["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["text"].as_str())
        .collect();
    for name in [
        "write-host-file",
        "signal-host-pid",
        "enter-host-netns",
        "read-environ",
        "write-tmp",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("escape {name}: blocked"))),
            "{name}: {lines:#?}"
        );
    }
    assert_eq!(
        gone(&tok),
        Vec::<u32>::new(),
        "processes of the program outlived the run"
    );
}
