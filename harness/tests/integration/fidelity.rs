//! Figures the fidelity audit found were not the kernel's (issue 27), each shown right
//! against the kernel or refused: a synthetic uevent below its smallest size, and the
//! model's figure for a burst the search could not make overflow.

use std::process::Command;

use crate::support::*;

#[test]
fn a_synthetic_uevent_below_its_smallest_message_is_refused_naming_the_minimum() {
    let err = validate_refuses(
        "synthetic-32",
        "[[emitter]]\nname = \"s\"\nkind = \"synthetic-uevent\"\npayload = 32\nschedule = { kind = \"burst\", size = 3 }\n[[receiver]]\nname = \"r\"\n",
    );
    assert!(err.contains("242"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args([
            "sweep",
            "--emitter",
            "synthetic-uevent",
            "--payload",
            "32",
            "--rcvbuf",
            "4096",
            "--json",
        ])
        .arg(dir.path().join("s.json"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("242..="), "{err}");
}

#[test]
fn threshold_reports_the_models_capacity_not_its_search_limit() {
    if !sandbox_or_skip("threshold_reports_the_models_capacity_not_its_search_limit") {
        return;
    }
    if can_become_nobody().is_err() {
        skip_line!("skipping threshold_reports_the_models_capacity_not_its_search_limit: SO_RCVBUFFORCE needs root");
        return;
    }
    // 512 MiB forced (1 GiB effective) holds more 100 B messages than the largest
    // burst the search sends, so no burst overflows: the model's figure is still the
    // rule applied to the buffer, not the burst that was sent.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("t.json");
    let out = Command::new(bin())
        .args([
            "threshold",
            "--rcvbuf-force",
            "536870912",
            "--payload",
            "100",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    // Exit 1: no burst overflowed, so nothing was measured; the JSON still says what the
    // model gives.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let want = probed_rule().capacity(2 * 536_870_912, probed_truesize("usersock", 100));
    assert_eq!(u(&v["model"]), want, "{v}");
}

#[test]
fn poll_and_batch_receivers_keep_a_ledger_of_their_calls() {
    if !sandbox_or_skip("poll_and_batch_receivers_keep_a_ledger_of_their_calls") {
        return;
    }
    let (code, v, out) = run_scenario(
        "deadline = \"10s\"\n[[emitter]]\nname = \"u\"\nkind = \"usersock\"\ngroup = 1\npayload = 100\nschedule = { kind = \"burst\", size = 200 }\n[[receiver]]\nname = \"poll\"\nprotocol = \"usersock\"\ngroups = [1]\nrcvbuf = 1048576\nmode = \"poll\"\n[[receiver]]\nname = \"batch\"\nprotocol = \"usersock\"\ngroups = [1]\nrcvbuf = 1048576\nmode = \"batch\"\nbatch = 16\n",
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    for (name, per_call) in [("poll", 1), ("batch", 16)] {
        let r = receiver(&v, name);
        let calls = &r["calls"];
        assert_eq!(u(&calls["started"]), u(&calls["returned"]), "{name}: {r}");
        // Each call takes at most `per_call` datagrams, and the last finds the queue empty.
        assert!(
            u(&calls["started"]) > u(&r["delivered"]).div_ceil(per_call),
            "{name}: {r}"
        );
    }
}
