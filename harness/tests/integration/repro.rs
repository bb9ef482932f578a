//! `nlstorm repro` turns findings into C programs that reproduce them without nlstorm:
//! built with cc and run here, against the same kernel.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// Writes the reproducer of `scenario`, builds it and runs it; returns its exit code and
/// output.
fn build_and_run(scenario: &Path, dir: &Path) -> (i32, String) {
    let c = dir.join("repro.c");
    let out = Command::new(bin())
        .arg("repro")
        .arg(scenario)
        .arg("--out")
        .arg(&c)
        .output()
        .expect("spawn nlstorm");
    assert_eq!(
        out.status.code(),
        Some(0),
        "repro {}: {}",
        scenario.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let exe = dir.join("repro");
    let cc = Command::new("cc")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(&c)
        .output()
        .expect("cc is installed (ci/test.sh installs it)");
    assert!(
        cc.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let run = Command::new(&exe).output().expect("run the reproducer");
    (
        run.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&run.stdout).into_owned(),
    )
}

/// `nlstorm repro` refuses `file` with exit 2 and a message containing `why`.
fn refused(file: &Path, why: &str) {
    let out = Command::new(bin())
        .arg("repro")
        .arg(file)
        .output()
        .expect("spawn nlstorm");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(why), "want {why:?} in: {err}");
}

#[test]
fn every_bundled_hang_class_reproduces_in_standalone_c() {
    if !sandbox_or_skip("every_bundled_hang_class_reproduces_in_standalone_c") {
        return;
    }
    for (name, class) in [
        ("hang-nothing-outstanding", "nothing-outstanding"),
        ("hang-dump-stalled", "dump-stalled"),
        ("hang-stopped-mid-dump", "stopped-mid-dump"),
        ("hang-truncated", "truncated"),
        ("hang-reply-lost", "reply-lost"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (code, out) = build_and_run(&scenarios().join(format!("{name}.toml")), dir.path());
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.contains(&format!("HANG {class}")), "{name}: {out}");
        assert!(out.contains("REPRODUCED"), "{name}: {out}");
    }
}

#[test]
fn an_overrun_reproduces_in_standalone_c_on_every_emitter() {
    if !sandbox_or_skip("an_overrun_reproduces_in_standalone_c") {
        return;
    }
    for kind in ["usersock", "synthetic-uevent", "kernel-uevent"] {
        let group = if kind == "usersock" {
            "group = 3\n"
        } else {
            ""
        };
        let proto = if kind == "usersock" {
            "protocol = \"usersock\"\ngroups = [3]\n"
        } else {
            ""
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("overrun.toml");
        std::fs::write(
            &file,
            format!("deadline = \"10s\"\n[[emitter]]\nname = \"e\"\nkind = \"{kind}\"\n{group}payload = 700\nschedule = {{ kind = \"burst\", size = 9 }}\n[[receiver]]\nname = \"r\"\n{proto}rcvbuf = 2000\nstart-reading-after = \"emission-end\"\nexpect = {{ lost = 0 }}\n"),
        )
        .unwrap();
        let (code, out) = build_and_run(&file, dir.path());
        assert_eq!(code, 0, "{kind}: {out}");
        // SO_RCVBUF=2000 gives 4000: three 1280-byte messages of nine; C measured it too.
        let want = probed_rule().capacity(4000, probed_truesize(kind, 700));
        assert!(
            out.contains(&format!("delivered {want}, lost {}", 9 - want)),
            "{kind}: want {want} delivered: {out}"
        );
    }
}

#[test]
fn a_short_dump_reproduces_in_standalone_c_with_the_same_count() {
    if !sandbox_or_skip("a_short_dump_reproduces_in_standalone_c") {
        return;
    }
    // Every 4096-byte read of a 32 KiB dump part is cut; read through, the dump still
    // ends with NLMSG_DONE. The C program counts links in its own sysfs, not nlstorm's.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("short.toml");
    std::fs::write(
        &file,
        "deadline = \"10s\"\nveths = 40\n[[churn]]\nkind = \"links\"\nper-sec = 200\n[[dump]]\nname = \"agent\"\nrequest = \"getlink\"\ncount = 2\nread-buffer = 4096\nevent-read-buffer = 32768\ngroups = [1]\non-truncated = \"keep-reading\"\nverify = true\nexpect = { short-dumps = 0 }\n",
    )
    .unwrap();
    let (code, out) = build_and_run(&file, dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("SHORT dump seq 1 ended with NLMSG_DONE"),
        "{out}"
    );
    // 40 veth pairs and lo were there throughout; the cut reads listed far fewer.
    assert!(out.contains("of the 81 present throughout"), "{out}");
    assert!(out.contains("REPRODUCED"), "{out}");
}

#[test]
fn cases_it_cannot_replay_or_that_did_not_fail_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fine.toml");
    std::fs::write(
        &file,
        "deadline = \"10s\"\n[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 3\nschedule = { kind = \"rate\", per-sec = 100, duration = \"10ms\" }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [3]\n",
    )
    .unwrap();
    if !sandbox_or_skip("cases_it_cannot_replay_are_refused") {
        return;
    }
    refused(&file, "timed schedules");
    std::fs::write(
        &file,
        "deadline = \"10s\"\n[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 3\nschedule = { kind = \"burst\", size = 5 }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [3]\nstart-reading-after = \"emission-end\"\nexpect = { lost = 0 }\n",
    )
    .unwrap();
    refused(&file, "nothing to reproduce");
}

#[test]
fn explore_finds_a_hang_shrinks_it_and_repro_reproduces_it_in_c() {
    if !sandbox_or_skip("explore_finds_a_hang") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args([
            "explore",
            "--property",
            "no-hang",
            "--seed",
            "1",
            "--no-persist",
            "--time",
            "120s",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .expect("spawn nlstorm");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let file = dir.path().join("explore-no-hang-seed1.toml");
    let plan = nlstorm::scenario::load(&file).expect("a valid scenario");
    assert_eq!(plan.dumps.len(), 1);
    assert!(
        plan.receivers.is_empty() && plan.emitters.is_empty(),
        "{plan:?}"
    );
    // `nlstorm run` fails it the same way: its dump client hangs.
    let (code, v, _) = run_scenario(file.to_str().unwrap());
    assert_eq!(code, 1);
    assert!(
        !v["scenarios"][0]["dumps"][0]["hangs"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{v}"
    );
    let (code, c_out) = build_and_run(&file, dir.path());
    assert_eq!(code, 0, "{c_out}");
    assert!(c_out.contains("REPRODUCED"), "{c_out}");
}
