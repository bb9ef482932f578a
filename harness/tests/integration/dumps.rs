//! Dumps that end with NLMSG_DONE yet leave objects out: verification against the
//! namespace flags them, and flags nothing for a client that reads whole parts, under
//! the same churn.

use crate::support::*;

#[test]
fn reading_through_truncation_gives_short_dumps_and_whole_reads_do_not() {
    if !sandbox_or_skip("reading_through_truncation_gives_short_dumps") {
        return;
    }
    let v = run_bundled("dump-short-after-truncation");
    let agent = dump(&v, "agent");
    assert_eq!(u(&agent["completed"]), 20, "{agent}");
    assert_eq!(u(&agent["verified"]), 20, "{agent}");
    assert_eq!(u(&agent["short_dumps"]), 20, "{agent}");
    // 201 links (100 veth pairs and lo) were present throughout each dump; the agent
    // listed the first messages of each truncated part and nothing else.
    let missed = u(&agent["objects_missed"]);
    assert!(missed > 20 * 100, "{agent}");
    let first = agent["first_short"].as_str().expect("first_short");
    assert!(
        first.contains("NLMSG_DONE") && first.contains("ifindex"),
        "{first}"
    );

    let careful = dump(&v, "careful");
    assert_eq!(u(&careful["verified"]), 20, "{careful}");
    assert_eq!(u(&careful["short_dumps"]), 0, "{careful}");
    assert!(careful["first_short"].is_null(), "{careful}");
}

#[test]
fn socket_dumps_are_verified_by_inode_under_socket_churn() {
    if !sandbox_or_skip("socket_dumps_are_verified_by_inode") {
        return;
    }
    // Connections open and close while the dumps run: only sockets present before the
    // request and after NLMSG_DONE count, so the whole reader must come out clean while
    // the 1024-byte reader, whose every part is truncated, must not.
    let (code, v, out) = run_scenario(
        r#"
name = "diag-verify"
deadline = "20s"
tcp-connections = 50

[[churn]]
kind = "sockets"
per-sec = 500

[[dump]]
name = "whole"
request = "inet-diag"
count = 50
interval = "1ms"
read-buffer = 32768
verify = true
expect = { completed = 50, short-dumps = 0 }

[[dump]]
name = "cut"
request = "inet-diag"
count = 10
interval = "1ms"
read-buffer = 1024
on-truncated = "keep-reading"
verify = true
expect = { completed = 10, short-dumps = 10 }
"#,
    );
    assert_eq!(
        code,
        0,
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(u(&dump(&v, "whole")["verified"]), 50, "{v}");
    let cut = dump(&v, "cut");
    assert!(u(&cut["truncated"]) >= 10, "{cut}");
    assert!(
        cut["first_short"].as_str().unwrap().contains("inode"),
        "{cut}"
    );
}

#[test]
fn a_dump_requested_over_queued_broadcasts_is_acked_with_enobufs_then_completes() {
    if !sandbox_or_skip("a_dump_requested_over_queued_broadcasts_is_acked_with_enobufs") {
        return;
    }
    let v = run_bundled("dump-error-ack");
    let agent = dump(&v, "agent");
    let acks = u(&agent["error_acks"]);
    assert!(acks >= 1, "{agent}");
    let first = agent["first_error_ack"].as_str().expect("first_error_ack");
    assert!(first.contains("No buffer space available"), "{first}");
    // The dump outlived every error it acked: each acked dump ended with NLMSG_DONE under
    // its own sequence number, and no request was refused with EBUSY.
    assert_eq!(u(&agent["completed_after_error_ack"]), acks, "{agent}");
    assert_eq!(u(&agent["completed"]), 50, "{agent}");
    assert_eq!(u(&agent["ebusy"]), 0, "{agent}");
    // NETLINK_NO_ENOBUFS hides broadcast overruns, not a dump part that could not be
    // queued: recv() still returned ENOBUFS to this socket.
    assert!(u(&agent["enobufs"]) >= 1, "{agent}");

    let quiet = dump(&v, "quiet");
    assert_eq!(u(&quiet["error_acks"]), 0, "{quiet}");
    assert_eq!(u(&quiet["enobufs"]), 0, "{quiet}");
    assert_eq!(u(&quiet["completed"]), 50, "{quiet}");
}
