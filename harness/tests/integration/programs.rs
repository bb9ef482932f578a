//! Programs under test: incident 1's listener (fixtures/programs/uevent-listener.c, built
//! here with cc) run by nlstorm inside its sandbox, and what nlstorm says of it checked
//! against what the kernel and the program's own output say.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::*;

/// The listener, built once per test binary into Cargo's scratch directory.
pub(crate) fn listener() -> &'static str {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/programs/uevent-listener.c");
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("uevent-listener");
            let st = std::process::Command::new("cc")
                .args(["-O2", "-pthread", "-o"])
                .arg(&out)
                .arg(&src)
                .status()
                .expect("cc (ci/test.sh installs gcc)");
            assert!(st.success(), "cc failed on {}", src.display());
            out
        })
        .to_str()
        .unwrap()
}

const REGEX: &str = r"^uevent run=(?P<run>\S+) src=(?P<src>\d+) seq=(?P<seq>\d+)$";

/// A scenario: one burst of `burst` injected uevents of 300 B, and a `[[program]]`
/// running the listener with `args`, plus `extra` keys for the program table.
fn scenario(burst: u32, args: &str, extra: &str) -> String {
    let argv: Vec<String> = std::iter::once(listener().to_string())
        .chain(args.split_whitespace().map(str::to_string))
        .map(|a| format!("{a:?}"))
        .collect();
    format!(
        "deadline = \"10s\"\n[[emitter]]\nname = \"plug\"\nkind = \"injected-uevent\"\npayload = 300\nschedule = {{ kind = \"burst\", size = {burst} }}\n[[program]]\nname = \"p\"\ncommand = [{}]\nready-line = \"^listening\"\noutput-regex = '{REGEX}'\n{extra}\n",
        argv.join(", ")
    )
}

fn program(v: &Value) -> &Value {
    &v["scenarios"][0]["programs"][0]
}

fn ok(code: i32, out: &std::process::Output) {
    assert_eq!(
        code,
        0,
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn counts_are_exact_against_the_programs_output_and_its_sockets_drops() {
    if !sandbox_or_skip("counts_are_exact_against_the_programs_output") {
        return;
    }
    // Default buffer, reading flat out: every uevent printed once. 150 of 1280 B truesize
    // fit rmem_default (212992 B) even if the program gets no CPU during the burst, as
    // on a CI machine running other tests (200 lost 33 there once).
    let (code, v, out) = run_scenario(&scenario(150, "0 report", ""));
    ok(code, &out);
    let p = program(&v);
    assert_eq!(
        (u(&p["sent"]), u(&p["seen"]), u(&p["lost"])),
        (150, 150, 0),
        "{p}"
    );
    assert_eq!(u(&p["kernel_drops"]), 0, "{p}");
    assert_eq!(u(&p["duplicates"]) + u(&p["foreign"]), 0, "{p}");

    // SO_RCVBUF 1024 and 20 ms per event: the kernel's floor sets the buffer, and what
    // the listener did not print is exactly what the kernel dropped for its socket.
    let (code, v, out) = run_scenario(&scenario(30, "1024 report delay-us=20000", ""));
    ok(code, &out);
    let p = program(&v);
    let socks = p["sockets"].as_array().unwrap();
    assert_eq!(socks.len(), 1, "{p}");
    let floor = u(&probe()["facts"]["sock_min_rcvbuf"]);
    assert_eq!(u(&socks[0]["rcvbuf"]), floor.max(2048), "{p}");
    assert!(u(&p["lost"]) >= 1, "{p}");
    assert_eq!(u(&p["lost"]), u(&p["kernel_drops"]), "{p}");
    assert_eq!(u(&p["seen"]) + u(&p["lost"]), 30, "{p}");
    // It printed the error, so the loss is not silent.
    assert!(u(&p["error_lines"]) >= 1, "{p}");
    assert_eq!(u(&p["silent_loss"]), 0, "{p}");
}

#[test]
fn a_program_that_reopens_its_socket_still_has_its_drops_counted() {
    if !sandbox_or_skip("a_program_that_reopens_its_socket") {
        return;
    }
    // 60 uevents over 100 ms against 20 ms per event: every socket it opens overflows
    // and lives long enough (about 20 ms) to be sampled many times before it is closed.
    let text = scenario(60, "1024 reopen delay-us=20000", "").replace(
        "{ kind = \"burst\", size = 60 }",
        "{ kind = \"rate\", per-sec = 600, duration = \"100ms\" }",
    );
    let (code, v, out) = run_scenario(&text);
    ok(code, &out);
    let p = program(&v);
    let socks = p["sockets"].as_array().unwrap();
    assert!(socks.len() >= 2, "the old socket and a new one: {p}");
    let closed: Vec<&Value> = socks.iter().filter(|s| s["closed"] == true).collect();
    assert_eq!(
        closed.len(),
        socks.len() - 1,
        "all but the last were closed: {p}"
    );
    assert!(
        u(&closed[0]["drops"]) >= 1,
        "the closed socket's drops are kept: {p}"
    );
    let sum: u64 = socks.iter().map(|s| u(&s["drops"])).sum();
    assert_eq!(u(&p["kernel_drops"]), sum, "{p}");
    assert_eq!(p["kernel_drops_lower_bound"], true, "{p}");
    assert_eq!(u(&p["reopened"]), closed.len() as u64, "{p}");
    // What it lost is at least what the kernel dropped: closing a socket also throws
    // away what was still queued on it.
    assert!(u(&p["lost"]) >= sum, "{p}");
    assert_eq!(p["keeps_reading"], true, "{p}");
}

#[test]
fn a_program_that_ignores_its_stop_signal_is_killed_and_leaves_nothing() {
    if !sandbox_or_skip("a_program_that_ignores_its_stop_signal") {
        return;
    }
    let (code, v, out) = run_scenario(&scenario(
        5,
        "0 report ignore-term",
        "stop-after = \"10ms\"\nstop-grace = \"200ms\"",
    ));
    ok(code, &out);
    let p = program(&v);
    assert_eq!(p["killed"], true, "{p}");
    assert_eq!(u(&p["signal"]), 9, "{p}");
    let pid = u(&p["sockets"][0]["pid"]);
    let left = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        !left.contains("uevent-listener"),
        "pid {pid} survived the run"
    );

    // One that outlives the run's deadline is killed at the deadline, not waited for.
    let (code, v, _) = run_scenario(
        &scenario(5, "0 report ignore-term", "stop-after = \"30s\"")
            .replace("deadline = \"10s\"", "deadline = \"1s\""),
    );
    assert_eq!(code, 1, "the deadline check fails: {v}");
    let p = program(&v);
    assert_eq!(p["killed"], true, "{p}");
    let deadline = v["scenarios"][0]["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["receiver"] == "run")
        .unwrap();
    assert_eq!(deadline["passed"], false, "{deadline}");
}

#[test]
fn a_program_that_spins_without_reading_is_flagged() {
    if !sandbox_or_skip("a_program_that_spins_without_reading") {
        return;
    }
    let (code, v, out) = run_scenario(&scenario(
        30,
        "1024 spin delay-us=20000",
        "stop-after = \"500ms\"",
    ));
    ok(code, &out);
    let p = program(&v);
    assert_eq!(p["keeps_reading"], false, "{p}");
    let cpu = p["cpu_after_flood"].as_f64().unwrap();
    // A busy poll loop takes a whole CPU when it has one; other tests share the
    // machine's cores with it, so only a clear share is required here.
    assert!(cpu >= 25.0, "a busy poll loop burns CPU: {p}");
    // It stopped with its queue full: no read after the first drop brought it down.
    let s = &p["sockets"][0];
    assert!(
        u(&s["min_rmem_after_drop"]) >= u(&s["rmem_at_first_drop"]),
        "{s}"
    );
}

#[test]
fn a_program_that_never_becomes_ready_is_a_clear_error() {
    if !sandbox_or_skip("a_program_that_never_becomes_ready") {
        return;
    }
    let text = scenario(5, "0 report", "ready-timeout = \"300ms\"").replace(
        "ready-line = \"^listening\"",
        "ready-line = \"^never printed\"",
    );
    let (code, v, out) = run_scenario(&text);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code, 2, "{stdout}");
    let err = v["scenarios"][0]["error"].as_str().unwrap_or_default();
    assert!(err.contains("did not become ready within 300ms"), "{err}");
    assert!(
        err.contains("listening rcvbuf="),
        "its output is quoted: {err}"
    );
}

#[test]
fn a_program_that_is_not_installed_skips_the_scenario_with_the_reason() {
    if !sandbox_or_skip("a_program_that_is_not_installed") {
        return;
    }
    let text = scenario(5, "0 report", "").replace(listener(), "/nonexistent/listener");
    let (code, v, _) = run_scenario(&text);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["scenarios"][0]["status"], "skipped", "{v}");
    let err = v["scenarios"][0]["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("/nonexistent/listener is not installed here"),
        "{err}"
    );
}
