//! delivered + lost == sent on every receiver, in every read mode, under loss.

use crate::support::*;

#[test]
fn every_receiver_balances_under_loss_in_every_mode() {
    if !sandbox_or_skip("every_receiver_balances_under_loss_in_every_mode") {
        return;
    }
    let s = r#"
deadline = "20s"
[[emitter]]
name = "u"
kind = "usersock"
group = 1
payload = "64B..3KiB"
schedule = { kind = "poisson", per-sec = 200000, duration = "150ms" }
[[emitter]]
name = "s"
kind = "synthetic-uevent"
schedule = { kind = "ramp", from = 1000, to = 50000, duration = "150ms" }
[[receiver]]
name = "blocking"
protocol = "usersock"
groups = [1]
rcvbuf = 4096
consumer-delay = "20us"
[[receiver]]
name = "poll"
protocol = "usersock"
groups = [1]
mode = "poll"
rcvbuf = 8192
[[receiver]]
name = "batch"
protocol = "usersock"
groups = [1]
mode = "batch"
batch = 16
[[receiver]]
name = "uevents"
rcvbuf = 0
consumer-delay = "50us"
"#;
    let (code, v, out) = run_scenario(s);
    assert!(
        code == 0,
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let emitters = v["scenarios"][0]["emitters"].as_array().unwrap();
    let sent_u = u(&emitters[0]["sent"]);
    for r in v["scenarios"][0]["receivers"].as_array().unwrap() {
        assert_eq!(u(&r["delivered"]) + u(&r["lost"]), u(&r["sent"]), "{r}");
        assert_eq!(u(&r["duplicates"]), 0, "{r}");
        assert_eq!(
            r["kernel_drops"], r["lost"],
            "each lost message is a kernel drop: {r}"
        );
        if r["protocol"] == "usersock" {
            assert_eq!(u(&r["sent"]), sent_u, "{r}");
        }
    }
    assert!(
        u(&receiver(&v, "blocking")["lost"]) > 0,
        "a 4KiB queue at 200k/s must lose"
    );
}

/// Two emitters into one unread receiver: the report splits its accounting by emitter,
/// and the parts add up to the whole.
#[test]
fn delivery_is_reported_per_emitter() {
    if !sandbox_or_skip("delivery_is_reported_per_emitter") {
        return;
    }
    let s = "[[emitter]]\nname = \"a\"\nkind = \"usersock\"\ngroup = 6\npayload = 100\nschedule = { kind = \"burst\", size = 30 }\n[[emitter]]\nname = \"b\"\nkind = \"usersock\"\ngroup = 6\npayload = 200\nschedule = { kind = \"burst\", size = 20 }\nstart = \"5ms\"\n[[emitter]]\nname = \"elsewhere\"\nkind = \"usersock\"\ngroup = 7\nschedule = { kind = \"burst\", size = 5 }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [6]\nrcvbuf = 4096\nstart-reading-after = \"emission-end\"\n";
    let (_, v, out) = run_scenario(s);
    let r = receiver(&v, "r");
    let parts = r["per_emitter"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}\n{}", String::from_utf8_lossy(&out.stdout)));
    let names: Vec<&str> = parts
        .iter()
        .map(|p| p["emitter"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"], "only the emitters that feed it: {r}");
    assert_eq!(
        (u(&parts[0]["sent"]), u(&parts[1]["sent"])),
        (30, 20),
        "{r}"
    );
    for key in ["sent", "delivered", "lost"] {
        let sum: u64 = parts.iter().map(|p| u(&p[key])).sum();
        assert_eq!(sum, u(&r[key]), "{key}: {r}");
    }
    // An unread 8 KiB queue fills from the first burst; the later one finds it full.
    assert!(u(&parts[1]["lost"]) > 0, "{r}");
}

#[test]
fn messages_a_socket_filter_drops_are_neither_charged_nor_counted_in_drops() {
    if !sandbox_or_skip("messages_a_socket_filter_drops_are_neither_charged") {
        return;
    }
    // Two emitters share a group; one receiver's filter drops `noise`. The kernel runs the
    // filter in do_one_broadcast() before netlink_broadcast_deliver() charges the queue,
    // so that receiver holds as many of `wanted` as if `noise` had never been sent, and
    // its Drops count only `wanted`'s overflow.
    let (code, v, out) = run_scenario(
        r#"
name = "filtered-receiver"
deadline = "10s"
[[emitter]]
name = "noise"
kind = "usersock"
group = 1
payload = 400
schedule = { kind = "burst", size = 2000 }
[[emitter]]
name = "wanted"
kind = "usersock"
group = 1
payload = 400
schedule = { kind = "burst", size = 300 }
[[receiver]]
name = "filtered"
protocol = "usersock"
groups = [1]
rcvbuf = 65536
start-reading-after = "emission-end"
filter-drop-emitters = ["noise"]
[[receiver]]
name = "plain"
protocol = "usersock"
groups = [1]
rcvbuf = 65536
start-reading-after = "emission-end"
"#,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let truesize = probed_truesize("usersock", 400);
    let f = receiver(&v, "filtered");
    let capacity = probed_rule().queued(
        u(&f["rcvbuf_effective"]),
        std::iter::repeat_n(truesize, 300),
        false,
    );
    assert!(capacity < 300, "the burst must overflow: {f}");
    assert_eq!(u(&f["sent"]), 300, "only `wanted` feeds it: {f}");
    assert_eq!(u(&f["delivered"]), capacity, "{f}");
    assert_eq!(u(&f["kernel_drops"]), 300 - capacity, "{f}");
    assert_eq!(u(&f["lost"]), 300 - capacity, "{f}");
    assert_eq!(f["model"], "agrees", "{f}");
    let out_ = &f["filtered_out"][0];
    assert_eq!(
        (
            out_["emitter"].as_str(),
            u(&out_["sent"]),
            u(&out_["delivered"])
        ),
        (Some("noise"), 2000, 0),
        "{f}"
    );

    // Without the filter the same queue holds the same number of messages, of both
    // emitters, and every one it could not hold is a drop.
    let p = receiver(&v, "plain");
    assert_eq!(u(&p["sent"]), 2300, "{p}");
    assert_eq!(u(&p["delivered"]), capacity, "{p}");
    assert_eq!(u(&p["kernel_drops"]), 2300 - capacity, "{p}");
}
