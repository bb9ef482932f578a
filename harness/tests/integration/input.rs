//! Bad input: exit 2 with every problem located. Needs no privilege.

use std::process::Command;

use crate::support::*;

#[test]
fn bad_scenarios_exit_2_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 40\nschedule = { kind = \"burst\", size = 3 }\n[[receiver]]\nname = \"r\"\nrcvbuf = \"2 lightyears\"\n").unwrap();
    for cmd in ["validate", "run"] {
        let out = Command::new(bin()).arg(cmd).arg(&p).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("bad.toml:4:9: emitter[0].group: group 40 is not in 1..=32"),
            "{err}"
        );
        assert!(err.contains("bad.toml:8:10: receiver[0].rcvbuf:"), "{err}");
    }
}

#[test]
fn missing_files_and_bad_flags_exit_2() {
    let out = Command::new(bin())
        .args(["run", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(bin())
        .args(["run", "--frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bundled_scenarios_validate() {
    let out = Command::new(bin())
        .arg("validate")
        .arg(scenarios())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `validate --json`: per file, the scenario name or every problem with its location.
#[test]
fn validate_writes_every_problem_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let bad = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/scenarios/every-mistake.toml");
    let json = dir.path().join("v.json");
    let out = Command::new(bin())
        .arg("validate")
        .arg(scenarios().join("hang-dump-stalled.toml"))
        .arg(&bad)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v[0]["ok"], true, "{v}");
    assert_eq!(v[0]["scenario"], "hang-dump-stalled", "{v}");
    assert_eq!(v[1]["ok"], false, "{v}");
    let problems = v[1]["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 7, "{v}");
    assert!(
        problems
            .iter()
            .any(|p| p["key_path"] == "receiver[0].rcvbuff"
                && p["location"]
                    .as_str()
                    .unwrap()
                    .ends_with("every-mistake.toml:16:1")),
        "{v}"
    );
}

/// One range for a buffer request everywhere: a value setsockopt's int cannot carry is
/// refused with the range (exit 2), never sent mangled and reported as a finding.
#[test]
fn buffer_requests_outside_a_c_int_are_refused_everywhere() {
    let range = "requests are -2147483648..=2147483647";
    for args in [
        vec!["threshold", "--rcvbuf", "4GiB"],
        vec!["threshold", "--rcvbuf-force", "3GiB"],
        vec!["threshold", "--rcvbuf-force", "4294967295"],
        vec!["threshold", "--rcvbuf=-2147483649"],
        vec![
            "sweep",
            "--rcvbuf",
            "1KiB..4GiB:log:4",
            "--json",
            "/tmp/nlstorm-never.json",
        ],
        vec!["explore", "--property", "no-loss", "--rcvbuf", "1KiB..3GiB"],
    ] {
        let out = Command::new(bin()).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(range),
            "{args:?}: want: {range:?} / got: {err}"
        );
    }
    let err = validate_refuses("big.toml", "[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 1\nschedule = { kind = \"burst\", size = 1 }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [1]\nrcvbuf = \"2GiB\"\n[[dump]]\nname = \"d\"\nrequest = \"getlink\"\nrcvbuf-force = \"3GiB\"\n");
    assert!(
        err.contains(
            "big.toml:10:10: receiver[0].rcvbuf: 2147483648 bytes is not a buffer request"
        ),
        "{err}"
    );
    assert!(
        err.contains("dump[0].rcvbuf-force: 3221225472 bytes is not a buffer request"),
        "{err}"
    );
}

/// Output paths are checked before anything runs, with the flag, the path and what to do.
#[test]
fn unwritable_outputs_are_refused_before_the_run() {
    let s = scenarios().join("hang-dump-stalled.toml");
    for (args, want) in [
        (
            vec!["--json", "/proc/nlstorm-x.json"],
            "--json /proc/nlstorm-x.json: cannot write there",
        ),
        (
            vec!["--junit", "/proc/nlstorm-x.xml"],
            "--junit /proc/nlstorm-x.xml: cannot write there",
        ),
        (
            vec!["--record-dir", "/proc/nlstorm-records"],
            "cannot write run records under /proc/nlstorm-records",
        ),
    ] {
        let out = Command::new(bin())
            .arg("run")
            .args(&args)
            .arg(&s)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "want: {want:?} / got: {err}");
        assert!(
            out.stdout.is_empty(),
            "nothing ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = Command::new(bin())
        .args([
            "sweep",
            "--rcvbuf",
            "0..8KiB:lin:2",
            "--json",
            "/proc/nlstorm-sweep.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--json /proc/nlstorm-sweep.json: cannot write there"));
}

/// `nlstorm ... | head` closes the pipe early: no command may panic on EPIPE.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    let mut child = Command::new(bin())
        .arg("validate")
        .arg(scenarios())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// `nlstorm check` judges a stored record again, offline, and gives the verdict the run
/// gave: the same status and the same outcome for every expectation.
#[test]
fn check_rejudges_stored_records_to_the_same_verdict() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/records");
    for name in [
        "overrun-one-receiver",
        "hang-dump-stalled",
        "hang-truncated",
    ] {
        let dir = root.join(name);
        let out_dir = tempfile::tempdir().unwrap();
        let json = out_dir.path().join("now.json");
        let out = Command::new(bin())
            .arg("check")
            .arg(&dir)
            .arg("--json")
            .arg(&json)
            .output()
            .unwrap();
        let now: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let then: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("verdict.json")).unwrap())
                .unwrap();
        let now = &now["scenarios"][0];
        assert_eq!(now["status"], then["status"], "{name}");
        assert_eq!(now["outcomes"], then["outcomes"], "{name}");
        // Fields added since the record was written are new; every stored one holds.
        for (n, t) in now["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .zip(then["receivers"].as_array().unwrap())
        {
            for (k, v) in t.as_object().unwrap() {
                assert_eq!(&n[k], v, "{name}: receiver field {k}");
            }
        }
        assert_eq!(
            out.status.code(),
            then["exit_code"].as_i64().map(|c| c as i32),
            "{name}"
        );
    }
}

/// A restriction the chosen property's space does not have is refused, not ignored.
#[test]
fn explore_refuses_flags_its_property_does_not_search() {
    for (args, want) in [
        (
            vec!["--property", "no-loss", "--filters", "on"],
            "--filters restricts the dump space",
        ),
        (
            vec!["--property", "no-hang", "--payload", "1..2"],
            "--payload restricts the broadcast space",
        ),
        (
            vec!["--property", "complete-dumps", "--reader", "active"],
            "--reader restricts the broadcast space",
        ),
    ] {
        let out = Command::new(bin())
            .arg("explore")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "want: {want:?} / got: {err}");
    }
}

/// `--no-enobufs` and `--reader` are spelt and mean the same in threshold, sweep and
/// explore: `--no-enobufs` alone is `=on`, `--reader none` is no reader everywhere, and
/// the one word that exists only in explore is refused elsewhere with what to write.
#[test]
fn shared_flags_parse_the_same_in_every_search_command() {
    let exit = |args: &[&str]| {
        let out = Command::new(bin()).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for cmd in ["threshold", "sweep"] {
        let (code, err) = exit(&[
            cmd,
            "--reader",
            "active",
            "--rcvbuf",
            "4096",
            "--payload",
            "64",
        ]);
        assert_eq!(code, Some(2), "{cmd}: {err}");
        assert!(err.contains("give the reader itself here"), "{cmd}: {err}");
    }
    for cmd in ["threshold", "sweep", "explore"] {
        let (code, err) = exit(&[cmd, "--no-enobufs=maybe"]);
        assert_eq!(code, Some(2), "{cmd}: {err}");
        assert!(err.contains("[possible values: on, off]"), "{cmd}: {err}");
        // Accepted by the parser in both spellings: whatever fails next is not the flag.
        for spelling in ["--no-enobufs", "--no-enobufs=on", "--no-enobufs=off"] {
            let (_, err) = exit(&[cmd, spelling, "--frobnicate"]);
            assert!(
                err.contains("unexpected argument '--frobnicate'"),
                "{cmd} {spelling}: {err}"
            );
        }
    }
}
