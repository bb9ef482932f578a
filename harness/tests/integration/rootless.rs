//! A run as an unprivileged user: a user namespace where the kernel allows it, or exit 3
//! with a message saying what is missing.

use crate::support::*;

#[test]
fn rootless_run_works_or_says_why() {
    if let Err(why) = can_become_nobody() {
        skip_line!("skipping rootless_run_works_or_says_why: cannot switch to an unprivileged uid here ({why})");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.toml");
    std::fs::write(&p, "deadline = \"10s\"\n[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 2\nschedule = { kind = \"burst\", size = 50 }\n[[emitter]]\nname = \"k\"\nkind = \"kernel-uevent\"\nschedule = { kind = \"burst\", size = 20 }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [2]\nrcvbuf = 0\nstart-reading-after = \"100ms\"\n[[receiver]]\nname = \"k\"\nexpect = { lost = 0 }\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The build tree may sit under a directory the unprivileged uid cannot enter.
    let exe = dir.path().join("nlstorm");
    std::fs::copy(bin(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_nobody(&exe)
        .args(["run", "--no-record"])
        .arg(&p)
        .output()
        .expect("setpriv from util-linux");
    let stdout = String::from_utf8_lossy(&out.stdout);
    match out.status.code() {
        Some(0) => {
            assert!(stdout.contains("PASS"), "{stdout}");
            assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
        }
        Some(3) => {
            assert!(
                stdout.contains("user namespaces") || stdout.contains("Not root"),
                "exit 3 must say why: {stdout}"
            );
            if std::env::var("NLSTORM_REQUIRE_SANDBOX").is_ok_and(|v| v == "1")
                && std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
                    .is_ok_and(|v| v.trim() != "0")
            {
                panic!("user namespaces look enabled but the rootless run gave exit 3: {stdout}");
            }
            skip_line!(
                "skipping rootless_run_works_or_says_why: unprivileged user namespaces unavailable"
            );
        }
        c => panic!(
            "want: exit 0 or 3 / got: {c:?}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The main job rootless: a scenario that needs real root (SO_RCVBUFFORCE needs
/// CAP_NET_ADMIN in the initial user namespace) is skipped with its reason, the runner
/// goes on, and the summary and exit code count only what ran.
#[test]
fn rootless_run_skips_what_needs_root_and_goes_on() {
    if let Err(why) = can_become_nobody() {
        skip_line!("skipping rootless_run_skips_what_needs_root_and_goes_on: cannot switch to an unprivileged uid here ({why})");
        return;
    }
    if std::fs::read_to_string("/proc/sys/user/max_user_namespaces").is_ok_and(|v| v.trim() == "0")
    {
        skip_line!("skipping rootless_run_skips_what_needs_root_and_goes_on: unprivileged user namespaces are off");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let exe = dir.path().join("nlstorm");
    std::fs::copy(bin(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut files = Vec::new();
    for name in ["model-grid", "hang-dump-stalled"] {
        let p = dir.path().join(format!("{name}.toml"));
        std::fs::copy(scenarios().join(format!("{name}.toml")), &p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        files.push(p);
    }
    let json = dir.path().join("out.json");
    let junit = dir.path().join("out.xml");
    let out = as_nobody(&exe)
        .args(["run", "--no-record", "--json"])
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .args(&files)
        .env_remove("NLSTORM_REQUIRE_SANDBOX")
        .output()
        .expect("setpriv from util-linux");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed, 0 failed, 1 skipped"), "{stdout}");
    assert!(
        stdout.contains("skipped: failed to set SO_RCVBUFFORCE (needs CAP_NET_ADMIN"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let status: Vec<&str> = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["skipped", "pass"], "{v}");
    let x = std::fs::read_to_string(&junit).unwrap();
    assert!(
        x.contains("<skipped message=\"failed to set SO_RCVBUFFORCE"),
        "{x}"
    );
}

/// An unprivileged sender cannot raise SO_SNDBUF past 2 x net.core.wmem_max, and the
/// kernel refuses a netlink message longer than SO_SNDBUF - 32: a usersock payload past
/// that skips the scenario (exit 3) with the figure, as the machine's limit, not the
/// file's fault.
#[test]
fn a_payload_past_an_unprivileged_senders_buffer_skips_with_the_figure() {
    let test = "a_payload_past_an_unprivileged_senders_buffer_skips_with_the_figure";
    if let Err(why) = can_become_nobody() {
        skip_line!("skipping {test}: cannot switch to an unprivileged uid here ({why})");
        return;
    }
    let wmem_max: u64 = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u64::MAX / 4);
    let payload = 2 * wmem_max - 31;
    if payload > nlstorm::plan::limits::BROADCAST_MAX {
        skip_line!("skipping {test}: net.core.wmem_max {wmem_max} lets an unprivileged sender reach every usersock size");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = dir.path().join("big.toml");
    std::fs::write(&p, format!("[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 2\npayload = {payload}\nschedule = {{ kind = \"burst\", size = 1 }}\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [2]\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let exe = dir.path().join("nlstorm");
    std::fs::copy(bin(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_nobody(&exe)
        .args(["run", "--no-record"])
        .arg(&p)
        .env_remove("NLSTORM_REQUIRE_SANDBOX")
        .output()
        .expect("setpriv from util-linux");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("user namespaces") {
        skip_line!("skipping {test}: unprivileged user namespaces unavailable");
        return;
    }
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains(&format!("{} B at most here", 2 * wmem_max - 32)),
        "{stdout}"
    );
}
