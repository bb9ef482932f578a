//! Hangs made on purpose against this kernel: each class produced, classified with the
//! evidence that puts it there, and every run ending by its deadline.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

fn hangs(d: &Value) -> &Vec<Value> {
    d["hangs"].as_array().expect("hangs array")
}

#[test]
fn a_filter_that_drops_nlmsg_done_leaves_nothing_outstanding() {
    if !sandbox_or_skip("a_filter_that_drops_nlmsg_done") {
        return;
    }
    let v = run_bundled("hang-nothing-outstanding");
    let d = dump(&v, "agent");
    assert_eq!(u(&d["completed"]), 0, "{d}");
    for h in hangs(d) {
        assert_eq!(h["class"], "nothing-outstanding", "{h}");
        let row = &h["observation"]["row"];
        assert_eq!((u(&row["dump"]), u(&row["rmem"])), (0, 0), "{h}");
        // The whole dump arrived but its end: the link messages were read.
        assert!(h["recovered"].as_bool().unwrap(), "{h}");
        assert!(
            h["wchan"].is_string(),
            "the blocked thread's wchan is recorded: {h}"
        );
        assert!(
            h["recent"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().contains("sent request")),
            "{h}"
        );
    }
    assert_eq!(hangs(d).len(), 5);
    // Every call the watchdog interrupted returned: calls started == calls returned.
    assert_eq!(d["calls_started"], d["calls_returned"], "{d}");
}

#[test]
fn a_filter_that_drops_the_dump_parts_stalls_the_dump_in_the_kernel() {
    if !sandbox_or_skip("a_filter_that_drops_the_dump_parts") {
        return;
    }
    let v = run_bundled("hang-dump-stalled");
    let d = dump(&v, "agent");
    let h = &hangs(d)[0];
    assert_eq!(h["class"], "dump-stalled", "{h}");
    let row = &h["observation"]["row"];
    assert_eq!((u(&row["dump"]), u(&row["rmem"])), (1, 0), "{h}");
    // The stalled dump still holds the socket: the next requests are refused.
    assert_eq!(u(&d["ebusy"]), 2, "{d}");
}

#[test]
fn truncation_hangs_are_told_apart_from_a_client_that_stopped_reading() {
    if !sandbox_or_skip("truncation_hangs") {
        return;
    }
    let v = run_bundled("hang-stopped-mid-dump");
    let d = dump(&v, "agent");
    assert!(d["stopped_by_policy"].as_bool().unwrap(), "{d}");
    let h = &hangs(d)[0];
    assert_eq!(h["class"], "stopped-mid-dump", "{h}");
    let row = &h["observation"]["row"];
    assert_eq!(u(&row["dump"]), 1, "{h}");
    assert!(u(&row["rmem"]) > 0, "parts queued for nobody: {h}");

    let v = run_bundled("hang-truncated");
    let d = dump(&v, "agent");
    assert!(u(&d["truncated"]) > 0, "{d}");
    let h = hangs(d)
        .iter()
        .find(|h| h["class"] == "truncated")
        .expect("a truncated hang");
    assert!(
        h["observation"]["truncated_this_dump"].as_bool().unwrap(),
        "{h}"
    );
    // Its restarts were refused while the old dump ran, but every refusal came back after
    // the client had sent a newer request: none could be acted on.
    assert!(u(&d["stale_ebusy"]) > 0, "{d}");
    assert_eq!(u(&d["completed"]), 0, "{d}");
}

#[test]
fn a_reader_blocked_past_the_run_deadline_does_not_hold_the_run() {
    if !sandbox_or_skip("a_reader_blocked_past_the_run_deadline") {
        return;
    }
    // The call deadline is far beyond the run's: the watchdog never fires, the client
    // blocks in recvmsg for NLMSG_DONE that the filter drops, and only the run's
    // deadline can end it.
    let scenario = r#"
deadline = "2s"
veths = 4
[[dump]]
name = "stuck"
request = "getlink"
count = 1
read-buffer = 4096
filter-drop-types = [3]
call-deadline = "60s"
"#;
    let started = Instant::now();
    let (code, v, out) = run_scenario(scenario);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "the run took {took:?}");
    assert_eq!(
        code,
        1,
        "the deadline check fails the run: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let s = &v["scenarios"][0];
    let deadline = s["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["receiver"] == "run")
        .unwrap();
    assert_eq!(deadline["passed"], false, "{deadline}");
    let d = dump(&v, "stuck");
    assert!(d["stopped_by_deadline"].as_bool().unwrap(), "{d}");
    assert_eq!(
        d["calls_started"], d["calls_returned"],
        "the interrupted call returned: {d}"
    );
}

#[test]
fn a_healthy_client_completes_every_dump() {
    if !sandbox_or_skip("a_healthy_client_completes_every_dump") {
        return;
    }
    let (code, v, out) = run_scenario(
        "deadline = \"10s\"\nveths = 40\ntcp-connections = 50\n[[dump]]\nname = \"links\"\nrequest = \"getlink\"\ncount = 20\nread-buffer = 4096\n[[dump]]\nname = \"tcp\"\nrequest = \"inet-diag\"\ncount = 20\nread-buffer = 4096\nmode = \"nonblocking\"\n",
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stdout));
    for name in ["links", "tcp"] {
        let d = dump(&v, name);
        assert_eq!(u(&d["completed"]), 20, "{d}");
        assert!(hangs(d).is_empty(), "{d}");
        // 81 links, 101 sockets: every dump returned more than one message per request.
        assert!(u(&d["messages"]) > 20 * 80, "{d}");
    }
}

#[test]
fn a_sandbox_process_that_ignores_signals_is_killed_by_pid_and_reported() {
    // No sandbox is entered: the child stalls before doing anything.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "deadline = \"1s\"\n[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 3\nschedule = { kind = \"burst\", size = 1 }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [3]\n",
    )
    .unwrap();
    let (_keep, child) = faulty_child("ignores-signals");
    let plan = nlstorm::scenario::load(&file).unwrap();
    let started = Instant::now();
    let rep = nlstorm::run::run_one(&child, &file, &plan, None, Default::default());
    let took = started.elapsed();
    // Deadline 1 s plus the runner's 20 s grace, then SIGKILL.
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert_eq!(rep.exit_code, 4, "{rep:?}");
    let err = rep.error.as_deref().unwrap_or("");
    assert!(err.contains("overran its time limit"), "{rep:?}");
}

/// The test program `examples/faulty_child.rs` under the name of its fault, in a
/// directory that lives as long as the first value.
fn faulty_child(fault: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let exe = std::path::Path::new(bin())
        .parent()
        .unwrap()
        .join("examples/faulty_child");
    assert!(
        exe.exists(),
        "{} is missing: `cargo test --release` builds it (a run of one --test target does not)",
        exe.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join(fault);
    std::os::unix::fs::symlink(&exe, &link).unwrap();
    (dir, link)
}

#[test]
fn a_sender_blocked_for_good_is_abandoned_at_the_deadline() {
    if !sandbox_or_skip("a_sender_blocked_for_good") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "deadline = \"1s\"\n[[emitter]]\nname = \"stuck\"\nkind = \"usersock\"\ngroup = 3\nschedule = { kind = \"rate\", per-sec = 100, duration = \"500ms\" }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [3]\n",
    )
    .unwrap();
    let (_keep, child) = faulty_child("sender-blocks");
    let plan = nlstorm::scenario::load(&file).unwrap();
    let started = Instant::now();
    let rep = nlstorm::run::run_one(&child, &file, &plan, None, Default::default());
    let took = started.elapsed();
    // Deadline 1 s, abandonment 2 s later: well before the runner's 20 s kill.
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(rep.exit_code, 1, "{rep:?}");
    let e = &rep.emitters[0];
    assert!(
        e.first_error.as_deref().unwrap_or("").contains("abandoned"),
        "{e:?}"
    );
    assert_eq!(e.sent, 0, "{e:?}");
}

#[test]
fn an_ebusy_ack_dropped_on_a_full_queue_is_a_lost_reply() {
    if !sandbox_or_skip("an_ebusy_ack_dropped_on_a_full_queue_is_a_lost_reply") {
        return;
    }
    let v = run_bundled("hang-reply-lost");
    let d = dump(&v, "agent");
    let all = hangs(d);
    assert!(!all.is_empty(), "{d}");
    for h in all {
        assert_eq!(h["class"], "reply-lost", "{h}");
        let o = &h["observation"];
        // The kernel answered (no dump running, nothing queued) and dropped something for
        // the socket after the request: the EBUSY ack, which the client never saw.
        assert_eq!(u(&o["row"]["dump"]), 0, "{h}");
        assert_eq!(u(&o["row"]["rmem"]), 0, "{h}");
        assert!(u(&o["row"]["drops"]) > u(&o["drops_at_request"]), "{h}");
    }
    assert_eq!(u(&d["ebusy"]), 0, "{d}");
    // Each lost reply follows an error ack the client took as the end of its dump.
    assert!(u(&d["error_acks"]) >= all.len() as u64, "{d}");
}
