//! `nlstorm qualify` and `diff` on this kernel: the profile's facts against a scenario
//! run's independent measurement and against the model, the suite reproducible run to
//! run, and a changed baseline fact named in words with exit 1.

use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::*;

/// `nlstorm qualify --json` once per test binary (in a temporary directory, so no
/// bundled baseline is found): the profile and its path.
fn profile() -> &'static (Value, std::path::PathBuf, tempfile::TempDir) {
    static P: OnceLock<(Value, std::path::PathBuf, tempfile::TempDir)> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("profile.json");
        let out = Command::new(bin())
            .current_dir(dir.path())
            .args(["qualify", "--json"])
            .arg(&json)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("no baseline for"), "{stdout}");
        let v = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        (v, json, dir)
    })
}

fn fact<'a>(p: &'a Value, id: &str) -> &'a Value {
    p["facts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no fact {id} in the profile"))
}

fn count(p: &Value, id: &str) -> u64 {
    u(&fact(p, id)["count"])
}

#[test]
fn capacity_facts_match_what_a_run_queues() {
    if !sandbox_or_skip("capacity_facts_match_what_a_run_queues") {
        return;
    }
    let (p, _, _) = profile();
    for (rcvbuf, payload) in [(4096u64, 700u64), (16384, 1500), (16384, 64)] {
        let scenario = format!(
            "deadline = \"10s\"\n[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 4\npayload = {payload}\nschedule = {{ kind = \"flood\", count = 200 }}\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [4]\nrcvbuf = {rcvbuf}\nstart-reading-after = \"200ms\"\nno-enobufs = true\n"
        );
        let (code, v, out) = run_scenario(&scenario);
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
        let r = receiver(&v, "r");
        let id = format!("capacity.usersock.rcvbuf-{rcvbuf}.len-{payload}");
        assert_eq!(
            count(p, &id),
            u(&r["delivered"]),
            "{id}: qualify vs run {r}"
        );
    }
}

#[test]
fn buffer_facts_follow_the_doubling_rule() {
    if !sandbox_or_skip("buffer_facts_follow_the_doubling_rule") {
        return;
    }
    let (p, _, _) = profile();
    let min = count(p, "buffer.sock-min-rcvbuf");
    let max = count(p, "config.rmem-max");
    assert_eq!(fact(p, "rcvbuf.doubling")["flag"], true);
    for req in [0u64, 1, 512, 1024, 1152, 1153, 2048, 4096, 65536] {
        let want = (2 * req.min(max)).max(min);
        assert_eq!(
            count(p, &format!("rcvbuf.request-{req}")),
            want,
            "request {req}"
        );
    }
    // One ENOBUFS per congestion episode, as netlink_overrun() sets sk_err once.
    assert_eq!(count(p, "enobufs.errors-per-episode"), 1);
}

#[test]
fn the_suite_reproduces_and_a_changed_baseline_fact_is_named() {
    if !sandbox_or_skip("the_suite_reproduces_and_a_changed_baseline_fact_is_named") {
        return;
    }
    let (p, path, dir) = profile();
    let again = |baseline: &std::path::Path, junit: &std::path::Path| {
        Command::new(bin())
            .args(["qualify", "--baseline"])
            .arg(baseline)
            .arg("--junit")
            .arg(junit)
            .output()
            .unwrap()
    };
    let junit = dir.path().join("same.xml");
    let out = again(path, &junit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "exact facts differ between two runs:\n{stdout}"
    );
    assert!(stdout.contains(" 0 differ"), "{stdout}");
    assert!(!std::fs::read_to_string(&junit)
        .unwrap()
        .contains("<failure"));

    // The same profile with one truesize 64 B larger, as another kernel might have it.
    let mut changed = p.clone();
    let id = "truesize.usersock.len-512";
    let ts = count(p, id);
    for f in changed["facts"].as_array_mut().unwrap() {
        if f["id"] == id {
            f["count"] = (ts + 64).into();
        }
    }
    let base = dir.path().join("changed.json");
    std::fs::write(&base, serde_json::to_string(&changed).unwrap()).unwrap();
    let junit = dir.path().join("changed.xml");
    let out = again(&base, &junit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let want = format!(
        "a 512-byte usersock message costs {ts} B here, {} B in the baseline",
        ts + 64
    );
    assert!(stdout.contains(&want), "want {want:?} in:\n{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");

    let diff = Command::new(bin())
        .arg("diff")
        .arg(&base)
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&diff.stdout).contains(&want));
}

/// The bundled baseline for this kernel, where there is one, matches (the Done-when of
/// qualification). Elsewhere the test says which kernel has none.
#[test]
fn the_bundled_baseline_for_this_kernel_matches() {
    if !sandbox_or_skip("the_bundled_baseline_for_this_kernel_matches") {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(bin())
        .current_dir(&root)
        .arg("qualify")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains("no baseline for") {
        skip_line!(
            "skipping the_bundled_baseline_for_this_kernel_matches: fixtures/baselines has no profile of {} nor of its upstream version",
            nlstorm::sandbox::kernel_release()
        );
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(" 0 differ"), "{stdout}");
}
