//! Replayed traces against the kernel: what a raw listener receives is the recording
//! itself (plus the run's keys and the kernel's SEQNUM), at the recorded times within
//! what the report claims; the recorder writes what udevadm writes; rootless replays.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::programs::listener;
use crate::support::*;

fn traces() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/traces")
}

/// Runs a replay of `trace` at `speed` into incident 1's listener in raw mode with the
/// default buffer, keeping the run record; returns the JSON report and the history.
fn replay_into_raw_listener(trace: &Path, speed: f64) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "deadline = \"20s\"\n[[emitter]]\nname = \"t\"\nkind = \"replay\"\ntrace = {:?}\nspeed = {speed:?}\n[[program]]\nname = \"raw\"\ncommand = [{:?}, \"0\", \"report\", \"raw\"]\nready-line = \"^listening\"\noutput-regex = '^uevent run=(?P<run>\\S+) src=(?P<src>\\d+) seq=(?P<seq>\\d+)$'\nexpect = {{ lost = 0 }}\n",
            trace.to_str().unwrap(),
            listener()
        ),
    )
    .unwrap();
    let (json, records) = (dir.path().join("out.json"), dir.path().join("rec"));
    let out = Command::new(bin())
        .args(["run", "--json"])
        .arg(&json)
        .arg("--record-dir")
        .arg(&records)
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let run_dir = std::fs::read_dir(&records)
        .unwrap()
        .next()
        .expect("one run record")
        .unwrap()
        .path();
    let history: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("history.json")).unwrap())
            .unwrap();
    (report, history)
}

/// `(CLOCK_MONOTONIC ns, bytes)` of every datagram the raw listener printed.
fn raw_datagrams(history: &Value) -> Vec<(u64, Vec<u8>)> {
    history["programs"][0]["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["text"].as_str()?.strip_prefix("raw "))
        .map(|rest| {
            let (ns, hex) = rest.split_once(' ').unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (ns.parse().unwrap(), bytes)
        })
        .collect()
}

#[test]
fn a_replayed_trace_arrives_byte_for_byte_apart_from_seqnum_and_the_run_keys() {
    if !sandbox_or_skip("a_replayed_trace_arrives_byte_for_byte") {
        return;
    }
    let path = traces().join("tunnels.txt");
    let trace =
        nlstorm::trace::parse(&std::fs::read_to_string(&path).unwrap(), "tunnels.txt").unwrap();
    let (_, history) = replay_into_raw_listener(&path, 0.0);
    let run = history["run_id"].as_str().unwrap();
    let got = raw_datagrams(&history);
    let events: Vec<_> = trace.replayable(false).collect();
    assert_eq!(got.len(), events.len(), "one datagram per recorded event");
    for (i, (e, (_, bytes))) in events.iter().zip(&got).enumerate() {
        let keys =
            format!("SYNTH_UUID={run}\0SYNTH_ARG_NLSTORMSRC=000\0SYNTH_ARG_NLSTORMSEQ={i:020}\0");
        let mut want = e.wire();
        want.extend_from_slice(keys.as_bytes());
        assert!(
            bytes.starts_with(&want),
            "event {i}: want {:?}\n got {:?}",
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(bytes)
        );
        // Then only the kernel's own SEQNUM (uevent_net_broadcast() appends it; 6.18
        // includes its NUL).
        let tail = std::str::from_utf8(&bytes[want.len()..]).unwrap();
        let n = tail.strip_prefix("SEQNUM=").expect(tail);
        let n = n.strip_suffix('\0').unwrap_or(n);
        assert!(
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
            "{tail:?}"
        );
    }
}

#[test]
fn a_recorded_speed_replay_keeps_the_traces_timing_within_what_the_report_claims() {
    if !sandbox_or_skip("a_recorded_speed_replay_keeps_the_traces_timing") {
        return;
    }
    let path = traces().join("veth-pairs.txt");
    let trace = nlstorm::trace::parse(&std::fs::read_to_string(&path).unwrap(), "veth").unwrap();
    let (report, history) = replay_into_raw_listener(&path, 1.0);
    let timing = &report["scenarios"][0]["emitters"][0]["timing"];
    let (median, max) = (u(&timing["median_ns"]), u(&timing["max_ns"]));
    let got = raw_datagrams(&history);
    let events: Vec<_> = trace.replayable(false).collect();
    assert_eq!(got.len(), events.len());
    // Offsets from the first event, as recorded and as the listener received them.
    let want: Vec<i64> = events
        .iter()
        .map(|e| ((e.at_us - events[0].at_us) * 1000) as i64)
        .collect();
    let seen: Vec<i64> = got.iter().map(|(t, _)| (t - got[0].0) as i64).collect();
    let mut errors: Vec<i64> = want.iter().zip(&seen).map(|(w, s)| s - w).collect();
    // Sends are paced against absolute deadlines and never leave early, so nothing
    // arrives much before its recorded offset (the first send's own lateness aside).
    let early = *errors.iter().min().unwrap();
    assert!(
        early >= -(max as i64) - 1_000_000,
        "an event arrived {early} ns before its recorded offset (report max lateness {max} ns)"
    );
    // The listener's wake-ups add to the emitter's lateness; the typical error must
    // still be of the order the report claims.
    errors.sort_unstable();
    let typical = errors[errors.len() / 2].unsigned_abs();
    assert!(
        typical <= median + 2_000_000,
        "median arrival error {typical} ns, report claims median lateness {median} ns"
    );
    assert_eq!(u(&timing["sends"]), events.len() as u64, "{timing}");
}

#[test]
fn the_recorder_writes_what_udevadm_monitor_writes() {
    if !sandbox_or_skip("the_recorder_writes_what_udevadm_monitor_writes") {
        return;
    }
    let udevadm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/programs/udev/bin/udevadm");
    if !udevadm.exists() {
        if std::env::var("NLSTORM_REQUIRE_SANDBOX").is_ok_and(|v| v == "1") {
            panic!("{} is missing: run ci/programs.sh", udevadm.display());
        }
        skip_line!(
            "skipping the_recorder_writes_what_udevadm_monitor_writes: no {} (ci/programs.sh extracts it)",
            udevadm.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours.txt"), dir.path().join("udevadm.txt"));
    // udevadm listens beside the recorder in the same sandbox, for the same command.
    let script = format!(
        "{} monitor --kernel --property > {} & sleep 0.5; ip link add v0 type veth peer name v1; ip link add b0 type bridge; ip link set v0 master b0; ip link del b0; ip link del v0; sleep 0.5; kill $!",
        udevadm.display(),
        theirs.display()
    );
    let out = Command::new(bin())
        .args(["trace", "record", "--out"])
        .arg(&ours)
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |p: &Path| {
        nlstorm::trace::parse(
            &std::fs::read_to_string(p).unwrap(),
            &p.display().to_string(),
        )
        .unwrap()
    };
    let (mut a, mut b) = (read(&ours), read(&theirs));
    assert!(a.events.len() >= 14, "{} events", a.events.len());
    // Times differ by when each socket was read; everything else is the same text.
    for e in a.events.iter_mut().chain(b.events.iter_mut()) {
        e.at_us = 0;
    }
    assert_eq!(a.events, b.events);
    assert!(a.provenance.iter().any(|l| l.starts_with("kernel: ")));
}

#[test]
fn a_rootless_replay_works_where_user_namespaces_are_allowed() {
    if let Err(why) = can_become_nobody() {
        skip_line!(
            "skipping a_rootless_replay_works: cannot switch to an unprivileged uid here ({why})"
        );
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("nlstorm");
    std::fs::copy(bin(), &exe).unwrap();
    std::fs::copy(traces().join("usb-hotplug.txt"), dir.path().join("t.txt")).unwrap();
    let scenario = dir.path().join("r.toml");
    std::fs::write(&scenario, "[[emitter]]\nname = \"plug\"\nkind = \"replay\"\ntrace = \"t.txt\"\nrepeat = 2\n[[receiver]]\nname = \"r\"\nexpect = { lost = 0, sent = 24 }\n").unwrap();
    for p in [&exe, &scenario, &dir.path().join("t.txt")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = as_nobody(&exe)
        .args(["run", "--no-record"])
        .arg(&scenario)
        .output()
        .expect("setpriv from util-linux");
    let stdout = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => assert!(stdout.contains("1 passed, 0 failed"), "{stdout}"),
        Some(3)
            if std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
                .is_ok_and(|v| v.trim() == "0") =>
        {
            skip_line!("skipping a_rootless_replay_works: user namespaces are disabled here")
        }
        c => panic!(
            "want exit 0 (or 3 where user namespaces are off) / got {c:?}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}
