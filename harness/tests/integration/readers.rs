//! Reader behaviours the kernel defines: SO_ERROR before recv, MSG_PEEK first, and where
//! in the stream an ENOBUFS report falls.

use crate::support::*;

#[test]
fn so_error_clears_the_report_not_the_congestion_and_the_report_precedes_the_queue() {
    if !sandbox_or_skip("so_error_clears_the_report_not_the_congestion") {
        return;
    }
    // Burst A overflows three unread queues. Reading starts at 20 ms at one message per
    // 2 ms, so burst B (at 100 ms) finds each queue about 40 messages short of full and
    // about 60 from empty (80 ms of slack either way for a loaded machine).
    // The overrun set NETLINK_S_CONGESTED on the two sockets without NETLINK_NO_ENOBUFS:
    // the kernel drops every broadcast to them until their queue is empty, whether the
    // reader took the error from recv() or cleared it with SO_ERROR. The NO_ENOBUFS
    // socket never becomes congested, so B fills the room the reader made.
    let (code, v, out) = run_scenario(
        r#"
name = "readers"
deadline = "10s"
[[emitter]]
name = "u"
kind = "usersock"
group = 1
payload = 400
schedule = { kind = "burst", size = 300, gap = "100ms", count = 2 }
[[receiver]]
name = "recv"
protocol = "usersock"
groups = [1]
rcvbuf = 65536
start-reading-after = "20ms"
consumer-delay = "2ms"
[[receiver]]
name = "so-error"
protocol = "usersock"
groups = [1]
rcvbuf = 65536
start-reading-after = "20ms"
consumer-delay = "2ms"
so-error-first = true
[[receiver]]
name = "no-enobufs"
protocol = "usersock"
groups = [1]
rcvbuf = 65536
start-reading-after = "20ms"
consumer-delay = "2ms"
no-enobufs = true
[[receiver]]
name = "peek"
protocol = "usersock"
groups = [1]
rcvbuf = 65536
read-buffer = 16
start-reading-after = "emission-end"
peek = true
"#,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let capacity = probed_rule().queued(
        u(&receiver(&v, "recv")["rcvbuf_effective"]),
        std::iter::repeat_n(probed_truesize("usersock", 400), 600),
        false,
    );
    for name in ["recv", "so-error"] {
        let r = receiver(&v, name);
        // Burst B was dropped whole: only A's first `capacity` messages arrived.
        assert_eq!(u(&r["delivered"]), capacity, "{name}: {r}");
        assert_eq!(u(&r["kernel_drops"]), 600 - capacity, "{name}: {r}");
        // One report per congestion episode, read before the first queued message: the
        // gap it announces follows the last message the queue held.
        assert_eq!(u(&r["enobufs"]), 1, "{name}: {r}");
        let at = &r["enobufs_positions"][0];
        assert_eq!(u(&at["read_before"]), 0, "{name}: {r}");
        assert_eq!(at["next"], serde_json::json!([0, 0]), "{name}: {r}");
    }
    assert_eq!(u(&receiver(&v, "recv")["enobufs_by_so_error"]), 0);
    assert_eq!(u(&receiver(&v, "so-error")["enobufs_by_so_error"]), 1);

    let n = receiver(&v, "no-enobufs");
    assert_eq!(u(&n["enobufs"]), 0, "{n}");
    assert!(
        u(&n["delivered"]) > capacity,
        "B fills the room the reader made: {n}"
    );
    assert_eq!(u(&n["delivered"]) + u(&n["kernel_drops"]), 600, "{n}");

    // A peeking reader sizes each read to the datagram: a 16-byte buffer truncates nothing.
    let p = receiver(&v, "peek");
    assert_eq!(u(&p["truncated"]), 0, "{p}");
    assert_eq!(u(&p["delivered"]), capacity, "{p}");
}
