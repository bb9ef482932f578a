//! threshold, sweep, merge and explore against this kernel, with the model recomputed
//! here from what `probe` measured rather than taken from the command's own output.

use std::path::Path;
use std::process::{Command, Output};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::support::*;

fn nlstorm(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("spawn nlstorm")
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("output written")).expect("JSON")
}

/// The effective size of a plain SO_RCVBUF request, from the probe's facts.
fn effective(request: u64) -> u64 {
    let f = &probe()["facts"];
    (2 * request.min(u(&f["rmem_max"]))).max(u(&f["sock_min_rcvbuf"]))
}

#[test]
fn threshold_capacity_equals_the_probe_model_on_every_emitter() {
    if !sandbox_or_skip("threshold_capacity_equals_the_probe_model_on_every_emitter") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.json");
    let kinds = prop_oneof![
        (Just("kernel-uevent"), 400u64..=2048),
        (Just("synthetic-uevent"), 300u64..=16 * 1024),
        (Just("usersock"), 16u64..=64 * 1024),
    ];
    let rcvbuf = prop_oneof![0u64..=1152, 1153u64..=64 * 1024, 64 * 1024..=1u64 << 20];
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&(kinds, rcvbuf), |((kind, payload), rcvbuf)| {
        let o = nlstorm(
            &[
                "threshold",
                "--emitter",
                kind,
                "--payload",
                &payload.to_string(),
                "--rcvbuf",
                &rcvbuf.to_string(),
                "--json",
                out.to_str().unwrap(),
            ],
            dir.path(),
        );
        prop_assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        let r = json(&out);
        let want = probed_rule().capacity(effective(rcvbuf), probed_truesize(kind, payload));
        prop_assert_eq!(
            u(&r["measured"]),
            want,
            "{} {} B rcvbuf {}: {}",
            kind,
            payload,
            rcvbuf,
            r
        );
        prop_assert_eq!(u(&r["model"]), want);
        // Exactly one trial on each side of the edge backs it.
        let points = r["points"].as_array().unwrap();
        prop_assert!(points
            .iter()
            .any(|p| u(&p["value"]) == want && u(&p["lossy"]) == 0));
        prop_assert!(points
            .iter()
            .any(|p| u(&p["value"]) == want + 1 && u(&p["lossy"]) == 1));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn threshold_finds_the_smallest_rcvbuf_for_a_burst() {
    if !sandbox_or_skip("threshold_finds_the_smallest_rcvbuf_for_a_burst") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.json");
    let o = nlstorm(
        &[
            "threshold",
            "--find",
            "rcvbuf",
            "--burst",
            "40",
            "--payload",
            "400",
            "--json",
            "t.json",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = json(&out);
    let req = u(&r["measured"]);
    let ts = probed_truesize("usersock", 400);
    assert!(probed_rule().capacity(effective(req), ts) >= 40, "{r}");
    assert!(
        req == 0 || probed_rule().capacity(effective(req - 1), ts) < 40,
        "{r}"
    );
}

#[test]
fn threshold_with_a_reader_reports_its_trials_and_never_undercuts_the_unread_queue() {
    if !sandbox_or_skip("threshold_with_a_reader") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let o = nlstorm(
        &[
            "threshold",
            "--payload",
            "400",
            "--rcvbuf",
            "8KiB",
            "--reader",
            "delay=50us",
            "--trials",
            "3",
            "--json",
            "t.json",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = json(&dir.path().join("t.json"));
    // Bursts no larger than an unread queue holds cannot lose, whatever the reader does.
    let unread = probed_rule().capacity(effective(8192), probed_truesize("usersock", 400));
    assert!(u(&r["measured"]) >= unread, "{r}");
    assert_eq!(u(&r["trials_per_point"]), 3);
    let points = r["points"].as_array().unwrap();
    assert!(points.iter().all(|p| u(&p["trials"]) == 3), "{r}");
    assert!(
        points.iter().any(|p| u(&p["lossy"]) == 3),
        "the search must reach a burst that always loses: {r}"
    );
}

#[test]
fn bad_search_input_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["threshold", "--find", "rcvbuf"], "needs --burst"),
        (
            vec!["threshold", "--find", "rate"],
            "needs an active reader",
        ),
        (
            vec![
                "threshold",
                "--emitter",
                "kernel-uevent",
                "--payload",
                "4KiB",
            ],
            "2048",
        ),
        (vec!["threshold", "--reader", "delay=5"], "unit"),
        (vec!["sweep", "--rcvbuf", "0..8MiB:log"], "number of points"),
        (vec!["sweep", "--rcvbuf", "8MiB..0:log:4"], "must be below"),
        (
            vec!["sweep", "--payload", "32..16KiB:cubic:3"],
            "use log or lin",
        ),
        (vec!["sweep", "--rate", "100..1000:lin:3"], "need a reader"),
        (vec!["sweep", "--rcvbuf", "1,2", "--shard", "3/2"], "I/N"),
        (
            vec!["explore", "--property", "no-loss", "--receivers", "0..3"],
            "1..=64",
        ),
    ] {
        let o = nlstorm(&args, dir.path());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: want {needle:?} in: {err}");
    }
}

fn cells_by_index(report: &Value) -> Vec<(u64, u64)> {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (u(&c["index"]), u(&c["delivered"])))
        .collect()
}

#[test]
fn sweep_cells_agree_with_the_probe_model_and_shards_merge_to_the_whole() {
    if !sandbox_or_skip("sweep_cells_agree_with_the_probe_model") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let axes = ["--rcvbuf", "0..256KiB:log:6", "--payload", "64..4096:log:4"];
    let full = [
        &["sweep"][..],
        &axes,
        &["--json", "all.json", "--svg", "all.svg", "--csv", "all.csv"],
    ]
    .concat();
    let o = nlstorm(&full, d);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let all = json(&d.join("all.json"));
    let cells = all["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 24);
    for c in cells {
        let (req, payload) = (u(&c["values"][0]), u(&c["values"][1]));
        let want = probed_rule().capacity(effective(req), probed_truesize("usersock", payload));
        assert_eq!(u(&c["capacity"]), want, "{c}");
        assert_eq!(c["model"], "agrees", "{c}");
        assert_eq!(u(&c["lost"]), u(&c["kernel_drops"]), "{c}");
    }
    let svg = std::fs::read_to_string(d.join("all.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("model agrees in 24, disagrees in 0"));
    assert_eq!(
        std::fs::read_to_string(d.join("all.csv"))
            .unwrap()
            .lines()
            .count(),
        25
    );

    for i in 1..=2 {
        let shard = format!("{i}/2");
        let part = format!("part{i}.json");
        let args = [&["sweep"][..], &axes, &["--shard", &shard, "--json", &part]].concat();
        let o = nlstorm(&args, d);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    }
    let o = nlstorm(
        &["merge", "part1.json", "part2.json", "--json", "merged.json"],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    // Without a reader every cell is deterministic: the merged shards equal the whole.
    assert_eq!(
        cells_by_index(&json(&d.join("merged.json"))),
        cells_by_index(&all)
    );
    let o = nlstorm(&["merge", "part1.json", "--json", "half.json"], d);
    // Missing shards are incomplete input, not a finding about the kernel.
    assert_eq!(
        o.status.code(),
        Some(2),
        "a merge with missing cells is incomplete: {}",
        show(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not measured: merge every shard"),
        "{}",
        show(&o)
    );
}

#[test]
fn an_interrupted_sweep_resumes_where_it_stopped() {
    if !sandbox_or_skip("an_interrupted_sweep_resumes_where_it_stopped") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = [
        "sweep",
        "--rcvbuf",
        "0..64KiB:log:4",
        "--payload",
        "64,1024,8192",
        "--json",
        "s.json",
    ];
    let o = nlstorm(&args, d);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let done = json(&d.join("s.json"));
    // What an interruption leaves: the header and the first cells, the last line torn.
    let header = serde_json::json!({"spec": done["spec"], "shard": done["shard"]});
    let mut partial = format!("{header}\n");
    for c in done["cells"].as_array().unwrap().iter().take(5) {
        partial.push_str(&format!("{c}\n"));
    }
    partial.push_str("{\"index\": 7, \"valu");
    std::fs::write(d.join("s.json.partial"), &partial).unwrap();
    std::fs::remove_file(d.join("s.json")).unwrap();

    let o = nlstorm(&args, d);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a leftover partial needs --resume: {}",
        show(&o)
    );
    let o = nlstorm(&[&args[..], &["--resume"]].concat(), d);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("5 already done, 7 to run"),
        "{}",
        show(&o)
    );
    assert_eq!(
        cells_by_index(&json(&d.join("s.json"))),
        cells_by_index(&done)
    );
    assert!(
        !d.join("s.json.partial").exists(),
        "the partial file is removed when done"
    );

    // A partial from another sweep is refused rather than mixed in.
    std::fs::write(d.join("s.json.partial"), &partial).unwrap();
    let other = [
        "sweep",
        "--rcvbuf",
        "0..64KiB:log:5",
        "--payload",
        "64",
        "--json",
        "s.json",
        "--resume",
    ];
    let o = nlstorm(&other, d);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("different sweep"));
}

/// Runs `explore --property P --seed S ARGS` (no persisted seeds), which must find a
/// failure; loads the shrunk scenario it wrote and runs it, which must fail too. Returns
/// the scenario and `run`'s report.
fn explore_then_run(property: &str, seed: &str, args: &[&str]) -> (nlstorm::plan::Plan, Value) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut all = vec![
        "explore",
        "--property",
        property,
        "--seed",
        seed,
        "--no-persist",
        "--out",
        "found",
    ];
    all.extend_from_slice(args);
    let o = nlstorm(&all, d);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let file = d.join(format!("found/explore-{property}-seed{seed}.toml"));
    let plan = nlstorm::scenario::load(&file).expect("the written scenario is valid");
    let (code, v, out) = run_scenario(file.to_str().unwrap());
    assert_eq!(
        code,
        1,
        "nlstorm run must fail the same way: {}",
        show(&out)
    );
    (plan, v)
}

#[test]
fn explore_shrinks_a_loss_to_one_receiver_and_one_burst_that_run_reproduces() {
    if !sandbox_or_skip("explore_shrinks_a_loss") {
        return;
    }
    let (plan, v) = explore_then_run("no-loss", "7", &["--cases", "200"]);
    assert_eq!(plan.receivers.len(), 1, "{plan:?}");
    assert!(
        matches!(plan.emitters[0].schedule, nlstorm::plan::Schedule::Burst { count, .. } if count.get() == 1),
        "{plan:?}"
    );
    let r = &v["scenarios"][0]["receivers"][0];
    assert!(u(&r["lost"]) >= 1, "{r}");
    assert_eq!(r["model"], "agrees", "{r}");
}

#[test]
fn explore_finds_a_short_dump_and_shrinks_it_to_the_incident_reader() {
    if !sandbox_or_skip("explore_finds_a_short_dump") {
        return;
    }
    let (plan, v) = explore_then_run("complete-dumps", "1", &["--filters", "off"]);
    let c = &plan.dumps[0];
    // Whatever the search drew, a short dump that ends with NLMSG_DONE needs reads smaller
    // than the kernel's dump parts, read through MSG_TRUNC.
    assert_eq!(
        c.policy.on_truncated,
        nlstorm::plan::Reaction::KeepReading,
        "{c:?}"
    );
    let r = &v["scenarios"][0]["dumps"][0];
    assert!(u(&r["short_dumps"]) >= 1 && u(&r["truncated"]) >= 1, "{r}");
}

#[test]
fn explore_finds_no_accounting_or_model_violation_on_random_floods() {
    if !sandbox_or_skip("explore_accounting_and_model") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seed = std::env::var("NLSTORM_EXPLORE_SEED").unwrap_or_else(|_| "11".into());
    for property in ["accounting", "model"] {
        let o = nlstorm(
            &[
                "explore",
                "--property",
                property,
                "--cases",
                "40",
                "--seed",
                &seed,
                "--no-persist",
                "--time",
                "60s",
            ],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(0), "{property}: {}", show(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(s.contains("held in 40 runs"), "{property}: {s}");
    }
}

#[test]
fn recorded_regression_seeds_still_fail() {
    if !sandbox_or_skip("recorded_regression_seeds_still_fail") {
        return;
    }
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/explore-regressions.txt");
    let text = std::fs::read_to_string(&fixtures).expect("fixtures/explore-regressions.txt");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("regressions.txt");
    std::fs::write(&copy, &text).unwrap();
    let default_space = r#"{"emitter":null,"payload":null,"rcvbuf":null,"receivers":null,"reader":null,"no_enobufs":null,"schedule":null,"filters":null}"#;
    let mut replayed = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(default_space))
    {
        let property = line.split_whitespace().next().unwrap();
        let o = nlstorm(
            &[
                "explore",
                "--property",
                property,
                "--cases",
                "0",
                "--regressions",
                copy.to_str().unwrap(),
                "--out",
                "out",
            ],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(1), "{line}: {}", show(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("found by replaying"),
            "{}",
            show(&o)
        );
        replayed += 1;
    }
    assert!(
        replayed >= 1,
        "no default-space regression in {}",
        fixtures.display()
    );
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        text,
        "replays append nothing"
    );
}
