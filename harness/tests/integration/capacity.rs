//! The probe-calibrated model against bursts actually queued, on all three emitters.

use rstest::rstest;

use crate::support::*;

fn grid(kind: &str, payload: u32) -> String {
    let (emitter, proto) = match kind {
        "usersock" => (
            "kind = \"usersock\"\ngroup = 4",
            "protocol = \"usersock\"\ngroups = [4]",
        ),
        k => (
            if k == "kernel-uevent" {
                "kind = \"kernel-uevent\""
            } else {
                "kind = \"synthetic-uevent\""
            },
            "",
        ),
    };
    let mut s = format!("deadline = \"20s\"\n[[emitter]]\nname = \"e\"\n{emitter}\npayload = {payload}\nschedule = {{ kind = \"flood\", count = 300 }}\n");
    for (i, rcvbuf) in [0u32, 1024, 3000, 8192, 20000, 65536].iter().enumerate() {
        s.push_str(&format!("[[receiver]]\nname = \"r{i}\"\n{proto}\nrcvbuf = {rcvbuf}\nstart-reading-after = \"200ms\"\nno-enobufs = {}\n", i % 2 == 1));
    }
    s
}

#[rstest]
fn unread_queues_hold_what_the_model_says(
    #[values("kernel-uevent", "synthetic-uevent", "usersock")] kind: &str,
    #[values(300, 700, 1800)] payload: u32,
) {
    if !sandbox_or_skip("unread_queues_hold_what_the_model_says") {
        return;
    }
    let (code, v, out) = run_scenario(&grid(kind, payload));
    assert_eq!(
        code,
        0,
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The rule and truesizes `probe` measured, independently of the run's own calibration.
    let rule = probed_rule();
    let truesize = probed_truesize(kind, u64::from(payload));
    for r in v["scenarios"][0]["receivers"].as_array().unwrap() {
        let probe_capacity = rule.capacity(u(&r["rcvbuf_effective"]), truesize);
        assert_eq!(
            u(&r["delivered"]),
            probe_capacity.min(u(&r["sent"])),
            "{kind} {payload}: want: probe's capacity / got: {r}"
        );
        assert_eq!(
            r["model"], "agrees",
            "{kind} {payload}: want: model agrees / got: {r}"
        );
        let sent = u(&r["sent"]);
        assert_eq!(
            u(&r["delivered"]),
            u(&r["predicted_capacity"]).min(sent),
            "{r}"
        );
        assert_eq!(r["kernel_drops"], r["lost"], "{r}");
    }
}
