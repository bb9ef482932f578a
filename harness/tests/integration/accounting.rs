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
