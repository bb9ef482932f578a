//! Two concurrent sandboxes do not see each other; the host gains nothing.

use std::collections::BTreeSet;

use crate::support::*;

fn host_links() -> BTreeSet<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn host_netlink_inodes() -> BTreeSet<String> {
    std::fs::read_to_string("/proc/net/netlink")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(9).map(String::from))
        .collect()
}

#[test]
fn concurrent_runs_are_isolated_and_leave_nothing() {
    if !sandbox_or_skip("concurrent_runs_are_isolated_and_leave_nothing") {
        return;
    }
    let links = host_links();
    let socks = host_netlink_inodes();
    let s = |n: u32| {
        format!("deadline = \"20s\"\n[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 7\nschedule = {{ kind = \"flood\", count = {n} }}\n[[emitter]]\nname = \"k\"\nkind = \"kernel-uevent\"\nschedule = {{ kind = \"burst\", size = {n} }}\n[[receiver]]\nname = \"u\"\nprotocol = \"usersock\"\ngroups = [7]\nrcvbuf-force = \"4MiB\"\n[[receiver]]\nname = \"k\"\nrcvbuf-force = \"4MiB\"\n")
    };
    let a = std::thread::spawn(move || run_scenario(&s(3000)));
    let b = run_scenario(&s(2000).replace("3000", "2000"));
    let a = a.join().unwrap();
    for ((code, v, _), n) in [(a, 3000), (b, 2000)] {
        assert_eq!(code, 0, "{v}");
        for r in v["scenarios"][0]["receivers"].as_array().unwrap() {
            assert_eq!(u(&r["sent"]), n, "{r}");
            assert_eq!(u(&r["delivered"]), n, "{r}");
            // Only messages of its own run: the other sandbox's floods never arrive.
            assert!(u(&r["foreign"]) < 10, "{r}");
            assert_eq!(u(&r["duplicates"]), 0);
        }
    }
    assert_eq!(host_links(), links, "host interfaces changed");
    let after = host_netlink_inodes();
    assert!(
        after.difference(&socks).count() <= 2,
        "host netlink sockets left behind: {:?}",
        after.difference(&socks).collect::<Vec<_>>()
    );
}
