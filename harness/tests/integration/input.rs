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
            err.contains("bad.toml:4:9: emitter[0].group: group must be 1..=32"),
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
