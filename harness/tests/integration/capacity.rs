//! The probe-calibrated model against bursts actually queued, on every emitter path.

use rstest::rstest;

use crate::support::*;

fn grid(kind: &str, payload: u32) -> String {
    let (emitter, proto) = match kind {
        "usersock" => (
            "kind = \"usersock\"\ngroup = 4",
            "protocol = \"usersock\"\ngroups = [4]",
        ),
        "link-alias" => ("kind = \"link-alias\"", "protocol = \"route\""),
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
    unread_queues_match_probe(kind, payload);
}

/// RTM_NEWLINK broadcasts, whose size the alias length (81..=255 B) sets, on both sides
/// of the truesize bucket edge probe finds.
#[rstest]
fn unread_route_queues_hold_what_the_model_says(#[values(81, 150, 255)] payload: u32) {
    if !sandbox_or_skip("unread_route_queues_hold_what_the_model_says") {
        return;
    }
    unread_queues_match_probe("link-alias", payload);
}

fn unread_queues_match_probe(kind: &str, payload: u32) {
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

/// The edges of the one request range (a C int, negative ones included) reach the
/// kernel unchanged, and the effective size the kernel reports is the model's:
/// `sk_setsockopt()` compares a plain request as unsigned against rmem_max (so -1 gets
/// rmem_max), takes `max(val, 0)` for FORCE, caps at INT_MAX / 2, doubles, and never goes
/// below SOCK_MIN_RCVBUF ("The kernel doubles this value", man 7 socket).
#[test]
fn requests_across_the_c_int_get_what_the_model_says() {
    if !sandbox_or_skip("requests_across_the_c_int_get_what_the_model_says") {
        return;
    }
    // Tried on a socket of this process, in the initial user namespace as the sandbox's
    // request is (the sandbox's own user namespace, when rootless, grants no FORCE).
    let force = rcvbufforce_allowed();
    if let Err(why) = &force {
        skip_line!("skipping the SO_RCVBUFFORCE half of requests_across_the_c_int_get_what_the_model_says: {why}");
    }
    let force = force.is_ok();
    let mut s = String::from("[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 3\npayload = 64\nschedule = { kind = \"burst\", size = 3 }\n");
    let mut cases = vec![
        ("plain-max", "rcvbuf", i64::from(i32::MAX)),
        ("plain-0", "rcvbuf", 0),
        ("plain-minus-1", "rcvbuf", -1),
        ("plain-int-min", "rcvbuf", i64::from(i32::MIN)),
    ];
    if force {
        cases.extend([
            ("force-max", "rcvbuf-force", i64::from(i32::MAX)),
            ("force-1g", "rcvbuf-force", 1 << 30),
            ("force-minus-1", "rcvbuf-force", -1),
            ("force-int-min", "rcvbuf-force", i64::from(i32::MIN)),
        ]);
    }
    for (name, key, bytes) in &cases {
        s.push_str(&format!("[[receiver]]\nname = \"{name}\"\nprotocol = \"usersock\"\ngroups = [3]\n{key} = {bytes}\nstart-reading-after = \"emission-end\"\n"));
    }
    let (code, v, out) = run_scenario(&s);
    assert_eq!(
        code,
        0,
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let facts = &v["scenarios"][0]["facts"];
    let (min, rmem_max) = (u(&facts["sock_min_rcvbuf"]), u(&facts["rmem_max"]));
    let half = i32::MAX as u64 / 2;
    for &(name, key, bytes) in &cases {
        let int = bytes as i32;
        let want = match key {
            "rcvbuf" => (u64::from(int as u32).min(rmem_max).min(half) * 2).max(min),
            _ => ((int.max(0) as u64).min(half) * 2).max(min),
        };
        let r = receiver(&v, name);
        assert_eq!(
            u(&r["rcvbuf_effective"]),
            want,
            "{name}: want: {want} / got: {r}"
        );
        assert_eq!(r["rcvbuf_requested"], bytes, "{name}: the request as sent");
    }
}

/// Kernels that hide net.core.rmem_* in a new network namespace get their limits from
/// sockets instead; here both ways are open, and they must agree.
#[test]
fn buffer_limits_read_by_socket_equal_the_sysctls() {
    if !sandbox_or_skip("buffer_limits_read_by_socket_equal_the_sysctls") {
        return;
    }
    let p = probe();
    let by_socket = [u(&p["rmem_by_socket"][0]), u(&p["rmem_by_socket"][1])];
    let sysctls = [u(&p["facts"]["rmem_default"]), u(&p["facts"]["rmem_max"])];
    assert_eq!(by_socket, sysctls, "want: the sysctls / got: by socket");
}

/// Whether SO_RCVBUFFORCE is allowed here (CAP_NET_ADMIN in the initial user namespace):
/// set on a UDP socket, which is made and closed without sending anything.
fn rcvbufforce_allowed() -> Result<(), String> {
    use nix::sys::socket::{setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("cannot open a socket to try it: {e}"))?;
    setsockopt(&fd, sockopt::RcvBufForce, &4096)
        .map_err(|e| format!("SO_RCVBUFFORCE refused here: {e}"))
}
