//! `nlstorm vm`: a real Debian kernel booted under qemu with the static nlstorm as its
//! init, the qualification suite run inside, and the guest's profile judged against the
//! model from the guest's own measurements (its truesize and admission rule), never
//! against numbers pasted here. Skips with one line where qemu, the static build or the
//! kernel package cannot be had, unless NLSTORM_REQUIRE_SANDBOX=1 (CI, whose ci/vm.sh
//! installs all three).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// The static nlstorm ci/vm.sh builds beside the test's dynamic one.
fn static_nlstorm() -> PathBuf {
    Path::new(bin())
        .parent()
        .and_then(Path::parent)
        .expect("target/release/nlstorm")
        .join("x86_64-unknown-linux-gnu/release/nlstorm")
}

/// Why a guest cannot be booted here, if it cannot.
fn missing() -> Option<String> {
    let qemu = Command::new("qemu-system-x86_64").arg("--version").output();
    if !qemu.is_ok_and(|o| o.status.success()) {
        return Some("qemu-system-x86_64 is not installed (Debian's qemu-system-x86)".into());
    }
    if !static_nlstorm().is_file() {
        return Some(format!(
            "no static nlstorm at {} (bash ci/vm.sh builds it)",
            static_nlstorm().display()
        ));
    }
    None
}

fn guest_or_skip(test: &str) -> bool {
    match missing() {
        None => true,
        Some(why) if std::env::var("NLSTORM_REQUIRE_SANDBOX").is_ok_and(|v| v == "1") => {
            panic!("{test}: cannot boot a guest and NLSTORM_REQUIRE_SANDBOX=1: {why}")
        }
        Some(why) => {
            skip_line!("skipping {test}: cannot boot a guest kernel ({why})");
            false
        }
    }
}

fn fact<'a>(p: &'a Value, id: &str) -> Option<&'a Value> {
    p["facts"].as_array()?.iter().find(|f| f["id"] == id)
}

fn count(p: &Value, id: &str) -> u64 {
    u(&fact(p, id).unwrap_or_else(|| panic!("no fact {id}"))["count"])
}

#[test]
fn a_debian_kernel_qualified_in_a_guest_agrees_with_its_own_model() {
    if !guest_or_skip("a_debian_kernel_qualified_in_a_guest_agrees_with_its_own_model") {
        return;
    }
    let fetched = Command::new(bin())
        .args(["vm", "fetch", "6.12"])
        .output()
        .unwrap();
    assert_eq!(
        fetched.status.code(),
        Some(0),
        "vm fetch 6.12: {}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let deb = PathBuf::from(String::from_utf8(fetched.stdout).unwrap().trim());
    // linux-image-<release>_<version>_amd64.deb
    let release = deb
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("linux-image-"))
        .and_then(|n| n.split('_').next())
        .expect("a linux-image package name")
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .args(["vm", "--timeout", "600", "--nlstorm"])
        .arg(static_nlstorm())
        .arg("--kernel")
        .arg(&deb)
        .args([
            "--",
            "qualify",
            "--json",
            "guest.json",
            "--junit",
            "../escape.xml",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !dir.path().parent().unwrap().join("escape.xml").exists(),
        "only plain file names come back"
    );
    let p: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("guest.json")).unwrap())
            .unwrap();
    assert_eq!(
        p["kernel"]["release"],
        release.as_str(),
        "the guest ran the package's kernel"
    );
    assert_ne!(release, nlstorm::sandbox::kernel_release());
    assert!(
        p["measured_on"].as_str().unwrap().starts_with("qemu-"),
        "{}",
        p["measured_on"]
    );

    // The guest's unread floods against the model built from the guest's own figures.
    let rule = nlstorm::model::AdmitRule::from_name(
        fact(&p, "admit.rule").unwrap()["text"].as_str().unwrap(),
    )
    .expect("a known admission rule");
    let min = count(&p, "buffer.sock-min-rcvbuf");
    let mut checked = 0;
    for req in [0u64, 1024, 4096, 16384] {
        let rcvbuf = (2 * req).max(min);
        for len in [700u64, 1500, 2048] {
            let id = format!("capacity.usersock.rcvbuf-{req}.len-{len}");
            let want = rule.capacity(rcvbuf, count(&p, &format!("truesize.usersock.len-{len}")));
            assert_eq!(
                count(&p, &id),
                want,
                "{id}: want (model) {want} / got (flood)"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
    // What the host measured for SO_RCVBUF doubling holds in the guest too: the
    // kernel's sock_setsockopt() stores max(2 * val, SOCK_MIN_RCVBUF).
    assert_eq!(count(&p, "rcvbuf.request-4096"), 8192.max(min));
}

#[test]
fn bad_vm_arguments_are_refused_with_the_reason() {
    let run = |args: &[&str]| {
        let o = Command::new(bin()).args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, e) = run(&["vm", "fetch", "6.1; rm -rf /"]);
    assert_eq!(code, Some(2), "{e}");
    assert!(e.contains("not a kernel line"), "{e}");
    let (code, e) = run(&["vm", "--kernel", "/nonexistent/vmlinuz", "--", "probe"]);
    assert_eq!(code, Some(2), "{e}");
    assert!(e.contains("not a file"), "{e}");
    let (code, e) = run(&["vm", "--kernel", "6.1"]);
    assert_eq!(code, Some(2), "{e}");
    assert!(e.contains("no command"), "{e}");
}

#[test]
fn a_timing_bound_scenario_is_not_applicable_under_tcg_and_runs_on_the_host() {
    let test = "a_timing_bound_scenario_is_not_applicable_under_tcg_and_runs_on_the_host";
    if !guest_or_skip(test) || !sandbox_or_skip(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("paced.toml"),
        "name = \"paced\"\ndeadline = \"5s\"\ntiming-bound = true\n[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 3\npayload = 64\nschedule = { kind = \"rate\", per-sec = 1000, duration = \"200ms\" }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [3]\nexpect = { lost = 0 }\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .args(["vm", "--kernel", "6.12", "--accel", "tcg", "--nlstorm"])
        .arg(static_nlstorm())
        .args([
            "--",
            "run",
            "paced.toml",
            "--no-record",
            "--json",
            "paced.json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Every scenario skipped: the run's exit code says the machine could not run it.
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("paced.json")).unwrap())
            .unwrap();
    let s = &r["scenarios"][0];
    assert_eq!(s["status"], "skipped", "{s}");
    assert!(
        s["error"].as_str().unwrap().contains("not applicable"),
        "{s}"
    );
    // The same file on the host's kernel runs, and a reader keeps pace with 1000/s.
    let (code, report, _) = run_scenario(dir.path().join("paced.toml").to_str().unwrap());
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["scenarios"][0]["status"], "pass");
}
