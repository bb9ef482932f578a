//! Whole files compiled: what a good one becomes, and every problem of a bad one at its
//! place.

use super::*;

fn compile(text: &str) -> Result<Plan, ScenarioErrors> {
    compile_str(Path::new("t.toml"), text)
}

const GOOD: &str = r#"
name = "t"
seed = 3
deadline = "10s"

[[emitter]]
name = "usb"
kind = "kernel-uevent"
contents = "usb-hotplug"
schedule = { kind = "burst", size = 36 }

[[emitter]]
name = "us"
kind = "usersock"
group = 3
payload = "100B..2KiB"
schedule = { kind = "rate", per-sec = 1000, duration = "1s" }

[[receiver]]
name = "small"
rcvbuf = 1024
expect = { lost = ">= 1", enobufs = 0, kernel-drops = "> 0" }

[[receiver]]
name = "fit"
rcvbuf-fit = "usb"
mode = "batch"
batch = 16
read-buffer = "8KiB"

[[receiver]]
name = "u"
protocol = "usersock"
groups = [3]
rcvbuf-force = "1MiB"
consumer-delay = "50us"
start-reading-after = "200ms"
no-enobufs = true
"#;

#[test]
fn a_good_scenario_compiles() {
    let p = compile(GOOD).unwrap();
    assert_eq!(p.seed, 3);
    assert_eq!(p.emitters[1].kind, EmitterKind::Usersock { group: 3 });
    assert_eq!(
        p.emitters[1].payload,
        PayloadPlan::Uniform {
            min: 100,
            max: 2048
        }
    );
    assert_eq!(p.receivers[0].rcvbuf, RcvbufPlan::Request { bytes: 1024 });
    assert_eq!(p.receivers[0].groups, vec![1]);
    let e: Vec<String> = p.receivers[0]
        .expectations
        .iter()
        .map(|e| e.describe())
        .collect();
    assert_eq!(e, ["lost >= 1", "enobufs == 0", "kernel-drops > 0"]);
    assert_eq!(p.receivers[0].expectations[0].location, "t.toml:22:19");
    assert_eq!(p.receivers[1].rcvbuf, RcvbufPlan::FitBurst { emitter: 0 });
    assert_eq!(
        p.receivers[1].mode,
        ReadMode::Batch {
            size: NonZeroU32::new(16).unwrap()
        }
    );
    assert_eq!(p.receivers[2].rcvbuf, RcvbufPlan::Force { bytes: 1 << 20 });
    assert!(p.receivers[2].no_enobufs);
}

#[test]
fn a_receiver_filter_names_usersock_emitters_that_reach_it() {
    let good = format!(
        "{GOOD}\n[[receiver]]\nname = \"f\"\nprotocol = \"usersock\"\ngroups = [3]\nfilter-drop-emitters = [\"us\"]\n"
    );
    let p = compile(&good).unwrap();
    let f = &p.receivers[3];
    assert_eq!(f.filter_drop_emitters, [Name::internal("us")]);
    assert_eq!(p.filtered(f), [1]);
    assert!(p.feeders(f).is_empty(), "a filtered emitter feeds nothing");
    let mut bare = p.clone();
    // Locations name the file the expectations came from, which a round trip changes.
    bare.receivers
        .iter_mut()
        .for_each(|r| r.expectations.clear());
    crate::scenario::assert_round_trips(&bare);

    let bad = r#"
deadline = "5s"
[[emitter]]
name = "a"
kind = "usersock"
group = 1
payload = 64
schedule = { kind = "burst", size = 1 }
[[emitter]]
name = "b"
kind = "usersock"
group = 2
payload = 64
schedule = { kind = "burst", size = 1 }
[[receiver]]
name = "u"
filter-drop-emitters = ["a"]
[[receiver]]
name = "s"
protocol = "usersock"
groups = [1]
filter-drop-emitters = ["b", "c"]
"#;
    let text: Vec<String> = compile(bad)
        .unwrap_err()
        .0
        .iter()
        .map(|e| e.to_string())
        .collect();
    for needle in [
        "t.toml:17:24: receiver[0].filter-drop-emitters: a socket filter can tell emitters apart only on usersock",
        "t.toml:22:25: receiver[1].filter-drop-emitters: emitter `b` does not reach this receiver",
        "t.toml:22:30: receiver[1].filter-drop-emitters: no emitter named `c` (emitters: a, b)",
    ] {
        assert!(text.iter().any(|t| t.contains(needle)), "{needle} not in {text:#?}");
    }
}

#[test]
fn dump_clients_are_checked_key_by_key() {
    let bad = r#"
deadline = "5s"
[[churn]]
kind = "sockets"
per-sec = 10
[[dump]]
name = "a"
request = "getlinks"
read-buffer = 8
on-enobufs = "panic"
filter-drop-types = [70000]
expect = { hangs = "lots" }
"#;
    let errs = compile(bad).unwrap_err();
    let text: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
    for needle in [
        "set `tcp-connections`",
        "t.toml:8:11: dump[0].request: unknown request `getlinks`: use getlink or inet-diag",
        "t.toml:9:15: dump[0].read-buffer: must be 16 bytes",
        "t.toml:10:14: dump[0].on-enobufs: unknown reaction `panic`: use keep-reading, restart, retry-later, stop",
        "dump[0].filter-drop-types: a netlink message type is 0..=65535",
        "dump[0].expect.hangs: cannot read \"lots\"",
    ] {
        assert!(text.iter().any(|t| t.contains(needle)), "no `{needle}` in {text:#?}");
    }
    assert!(
        !text
            .iter()
            .any(|t| t.contains("no [[emitter]] and no [[dump]]")),
        "a dump that failed to compile is still a dump: {text:#?}"
    );
}

#[test]
fn programs_are_checked_before_anything_runs() {
    let bad = r#"
[[emitter]]
name = "e"
kind = "injected-uevent"
schedule = { kind = "burst", size = 1 }
[[program]]
name = "p"
command = []
[[program]]
name = "q"
command = ["./bin/listen", "a\u0000b"]
env = { NLSTORM_RUN_ID = "x" }
uid = -1
ready = "soon"
output-regex = "seq=([0-9]+)"
stop-signal = "STOP"
emitters = ["nope"]
expect = { lots = 1 }
"#;
    let errs = compile(bad).unwrap_err();
    let text: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
    for needle in [
        "program[0].command: is empty",
        "program[1].command: holds a NUL byte",
        "program[1].env.NLSTORM_RUN_ID: NLSTORM_RUN_ID is set by nlstorm",
        "program[1].uid: -1 is not a user or group id",
        "program[1].ready: unknown ready condition \"soon\"",
        "program[1].output-regex: needs a capture group named seq",
        "program[1].stop-signal: unknown signal \"STOP\"",
        "program[1].emitters: no [[emitter]] is named \"nope\"",
        "unknown key \"lots\" in `expect`",
    ] {
        assert!(
            text.iter().any(|t| t.contains(needle)),
            "no `{needle}` in {text:#?}"
        );
    }

    let good = r#"
[[emitter]]
name = "e"
kind = "injected-uevent"
schedule = { kind = "burst", size = 1 }
[[program]]
name = "p"
command = ["../bin/listen", "--flag"]
ready-line = "^listening"
output = "udevadm"
start = "250ms"
expect = { lost = 0, keeps-reading = 1 }
"#;
    let plan = compile(good).unwrap();
    let p = &plan.programs[0];
    // t.toml sits in the current directory: the path is made absolute against it.
    let want = std::env::current_dir()
        .unwrap()
        .parent()
        .unwrap()
        .join("bin/listen");
    assert_eq!(p.command[0], want.to_string_lossy());
    assert_eq!(
        p.ready,
        Ready::Line {
            regex: "^listening".into()
        }
    );
    assert_eq!(p.output, OutputFormat::Udevadm);
    assert_eq!(p.emitters, vec![0]);
    assert_eq!(p.stop.signal, libc::SIGTERM);
    assert_eq!(p.start, Duration::from_millis(250));
    assert_eq!(p.expectations.len(), 2);
}

#[test]
fn every_problem_is_reported_with_its_location() {
    let bad = r#"
deadline = "10 parsecs"

[[emitter]]
name = "e"
kind = "usersock"
schedule = { kind = "burst", size = 0, per-sec = 5 }

[[receiver]]
name = "r"
rcvbuf = "4kb"
rcvbufx = 1

[[receiver]]
name = "r2"
expect = { lsot = 1 }

[[receiver]]
name = "r3"
rcvbuf-fit = "nope"
expect = { lost = "about 3" }
"#;
    let errs = compile(bad).unwrap_err();
    let text: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
    let has = |needle: &str| {
        assert!(
            text.iter().any(|t| t.contains(needle)),
            "no `{needle}` in {text:#?}"
        )
    };
    has("t.toml:2:12: deadline: `10 parsecs` has unknown unit");
    has("t.toml:6:8: emitter[0]: a usersock emitter needs `group`");
    has("t.toml:7:37: emitter[0].schedule.size: must be at least 1");
    has("emitter[0].schedule.per-sec: a burst schedule takes size, gap, count");
    has("t.toml:12:1: receiver[0].rcvbufx: unknown key \"rcvbufx\" in [[receiver]]: did you mean `rcvbuf`?");
    has("t.toml:16:12: receiver[1].expect.lsot: unknown key \"lsot\" in `expect`: did you mean `lost`?");
    has("receiver[2].rcvbuf-fit: no emitter named `nope`");
    has("receiver[2].expect.lost: cannot read \"about 3\"");
    assert!(text.len() >= 8, "{text:#?}");
}

#[test]
fn syntax_errors_point_at_the_line() {
    let errs = compile("name = \"x\"\n[[receiver]\n").unwrap_err();
    assert_eq!(errs.0.len(), 1);
    assert!(errs.0[0].location.starts_with("t.toml:2:"), "{:?}", errs.0);
}

#[test]
fn payload_limits_name_the_reason() {
    let s = r#"
[[emitter]]
name = "k"
kind = "kernel-uevent"
payload = "4KiB"
schedule = { kind = "flood", count = 10 }
[[receiver]]
name = "r"
"#;
    let e = compile(s).unwrap_err().to_string();
    assert!(e.contains("UEVENT_BUFFER_SIZE"), "{e}");
}

#[test]
fn deadline_must_outlast_the_schedule() {
    let s = r#"
deadline = "1s"
[[emitter]]
name = "k"
kind = "synthetic-uevent"
schedule = { kind = "rate", per-sec = 10, duration = "2s" }
[[receiver]]
name = "r"
"#;
    let e = compile(s).unwrap_err().to_string();
    assert!(
        e.contains("t.toml:2:12: deadline: deadline 1s is not longer than the schedule (2s)"),
        "{e}"
    );
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let errs = compile(include_str!(
        "../../../../fixtures/scenarios/every-mistake.toml"
    ))
    .unwrap_err()
    .to_string();
    for want in [
        "t.toml:4:1: dedline: unknown key \"dedline\" in the top level: did you mean `deadline`?",
        "t.toml:8:9: emitter[0].group: group 40 is not in 1..=32",
        "t.toml:9:40: emitter[0].schedule.gapp: unknown key \"gapp\" in `schedule`: did you mean `gap`?",
        "t.toml:10:3: reciever: unknown key \"reciever\" in the top level: did you mean `receiver`?",
        "t.toml:16:1: receiver[0].rcvbuff: unknown key \"rcvbuff\" in [[receiver]]: did you mean `rcvbuf`?",
        "t.toml:17:18: receiver[0].consumer-delay: 20 has no unit: write a duration as text with its unit, e.g. \"20us\"",
        "t.toml:18:12: receiver[0].expect.deliverd: unknown key \"deliverd\" in `expect`: did you mean `delivered`?",
    ] {
        assert!(errs.contains(want), "want: {want}\ngot: {errs}");
    }
    assert!(errs.starts_with("7 problems in scenario"), "{errs}");
}

#[test]
fn a_link_alias_emitter_without_payload_gets_the_longest_alias() {
    let p = compile(
        "[[emitter]]\nname = \"alias\"\nkind = \"link-alias\"\nschedule = { kind = \"burst\", size = 2 }\n[[receiver]]\nname = \"r\"\nprotocol = \"route\"\n",
    )
    .unwrap();
    assert_eq!(p.emitters.len(), 1, "{p:?}");
    assert_eq!(p.emitters[0].payload, PayloadPlan::Fixed { bytes: 255 });
}
