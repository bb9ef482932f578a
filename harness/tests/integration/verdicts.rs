//! Verdicts about a user's own program are true: each way a real client was misjudged
//! (a userspace queue stopped mid-way, output nlstorm cannot read, output past the
//! record's cap, an idle listener, an exit on ENOBUFS, a leaked socket, output = none,
//! a kernel without the family), rebuilt with the suite's own listener
//! (fixtures/programs/uevent-listener.c) and judged against the kernel.

use serde_json::Value;

use crate::programs::listener;
use crate::support::*;

const REGEX: &str = r"^uevent run=(?P<run>\S+) src=(?P<src>\d+) seq=(?P<seq>\d+)$";

/// A scenario: `schedule` of injected uevents of 300 B, and the listener with `args`
/// plus `extra` keys (`output-regex` unless `extra` says otherwise).
fn scenario(schedule: &str, args: &str, extra: &str) -> String {
    let argv: Vec<String> = std::iter::once(listener().to_string())
        .chain(args.split_whitespace().map(str::to_string))
        .map(|a| format!("{a:?}"))
        .collect();
    let output = if extra.contains("output") {
        String::new()
    } else {
        format!("output-regex = '{REGEX}'\n")
    };
    format!(
        "deadline = \"30s\"\n[[emitter]]\nname = \"plug\"\nkind = \"injected-uevent\"\npayload = 300\nschedule = {schedule}\n[[program]]\nname = \"p\"\ncommand = [{}]\nready-line = \"^listening\"\n{output}{extra}\n",
        argv.join(", ")
    )
}

fn program(v: &Value) -> &Value {
    &v["scenarios"][0]["programs"][0]
}

fn shown(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_program_printing_from_a_queue_of_its_own_is_waited_for() {
    if !sandbox_or_skip("a_program_printing_from_a_queue_of_its_own_is_waited_for") {
        return;
    }
    // The socket (4 MiB asked, so a busy machine cannot make it drop) is read flat out,
    // the events printed one per 4 ms: 300 of them take 1.2 s after the burst, far past
    // 50 ms of empty queues.
    let (code, v, out) = run_scenario(&scenario(
        "{ kind = \"burst\", size = 300 }",
        "4194304 report queue-us=4000",
        "",
    ));
    assert_eq!(code, 0, "{}", shown(&out));
    let p = program(&v);
    assert_eq!(
        (u(&p["sent"]), u(&p["seen"]), u(&p["lost"])),
        (300, 300, 0),
        "{p}"
    );
    assert_eq!(p["stop_reason"], "all-accounted", "{p}");
    assert_eq!(u(&p["silent_loss"]), 0, "{p}");
}

#[test]
fn a_program_still_printing_at_stop_after_is_not_charged_with_loss() {
    if !sandbox_or_skip("a_program_still_printing_at_stop_after_is_not_charged_with_loss") {
        return;
    }
    // 2 s of printing, stopped after 300 ms: what it had not printed yet is in its own
    // queue, not lost by the kernel and not silent loss of the program... unless the
    // kernel dropped it; here the socket never fills.
    let (code, v, out) = run_scenario(&scenario(
        "{ kind = \"burst\", size = 200 }",
        "4194304 report queue-us=10000",
        "stop-after = \"300ms\"",
    ));
    assert_eq!(code, 0, "{}", shown(&out));
    let p = program(&v);
    assert_eq!(p["stop_reason"], "stop-after", "{p}");
    assert!(u(&p["seen"]) < 200, "{p}");
    assert_eq!(u(&p["kernel_drops"]), 0, "{p}");
    let loss = &p["loss"];
    assert_eq!(
        u(&loss["kernel_drops"])
            + u(&loss["queued_at_stop"])
            + u(&loss["discarded_at_close"])
            + u(&loss["unexplained"]),
        u(&p["lost"]),
        "the classes add up: {p}"
    );
}

#[test]
fn output_its_adapter_cannot_read_is_bad_input_not_loss() {
    if !sandbox_or_skip("output_its_adapter_cannot_read_is_bad_input_not_loss") {
        return;
    }
    // The listener's own lines read as udevadm output; then a regex whose `run`
    // capture holds 8 characters of the run id.
    for extra in [
        "output = \"udevadm\"".to_string(),
        r"output-regex = '^uevent run=(?P<run>\w{8})\S* src=(?P<src>\d+) seq=(?P<seq>\d+)$'"
            .to_string(),
    ] {
        let (code, v, out) = run_scenario(&scenario(
            "{ kind = \"burst\", size = 20 }",
            "0 report",
            &extra,
        ));
        assert_eq!(code, 2, "{extra}: {}", shown(&out));
        let s = &v["scenarios"][0];
        assert_eq!(s["status"], "bad-input", "{s}");
        let why = s["problems"][0].as_str().unwrap_or_default();
        assert!(
            why.contains("program `p`") && why.contains("could not be read"),
            "{why}"
        );
        let p = program(&v);
        assert_eq!(
            (u(&p["silent_loss"]), u(&p["lost"])),
            (0, 0),
            "never called loss: {s}"
        );
        assert_eq!(p["loss_measured"], false, "{s}");
    }
}

#[test]
fn events_past_the_records_line_cap_are_still_counted() {
    if !sandbox_or_skip("events_past_the_records_line_cap_are_still_counted") {
        return;
    }
    // 45000 uevents over 3 s into a 4 MiB request (8 MiB at most with rmem_max 4 MiB):
    // more lines than the record keeps even if a busy machine makes it drop some; seen
    // counts every one it printed.
    let (code, v, out) = run_scenario(&scenario(
        "{ kind = \"rate\", per-sec = 15000, duration = \"3s\" }",
        "4194304 report",
        "",
    ));
    assert_eq!(code, 0, "{}", shown(&out));
    let p = program(&v);
    assert!(u(&p["output_lines"]) > u(&p["output_lines_kept"]), "{p}");
    assert!(u(&p["seen"]) > u(&p["output_lines_kept"]), "{p}");
    assert_eq!(u(&p["seen"]) + u(&p["lost"]), u(&p["sent"]), "{p}");
    assert_eq!(
        u(&p["lost"]),
        u(&p["loss"]["kernel_drops"])
            + u(&p["loss"]["unexplained"])
            + u(&p["loss"]["discarded_at_close"])
            + u(&p["loss"]["queued_at_stop"]),
        "{p}"
    );
}

#[test]
fn an_idle_listener_between_sparse_events_is_not_a_hang() {
    if !sandbox_or_skip("an_idle_listener_between_sparse_events_is_not_a_hang") {
        return;
    }
    // One uevent every 600 ms with a 200 ms call deadline: the listener waits in recv
    // on an empty group socket between them, which is listening, not hanging.
    let (code, v, out) = run_scenario(&scenario(
        "{ kind = \"rate\", per-sec = 1.6, duration = \"2s\" }",
        "0 report",
        "call-deadline = \"200ms\"\nexpect = { hangs = 0 }",
    ));
    assert_eq!(code, 0, "{}", shown(&out));
    let p = program(&v);
    assert_eq!(p["hangs"].as_array().map(Vec::len), Some(0), "{p}");
    assert_eq!(u(&p["seen"]), u(&p["sent"]), "{p}");
}

#[test]
fn an_exit_on_enobufs_is_a_report_and_keeps_reading_is_never_a_null_read_as_one() {
    if !sandbox_or_skip(
        "an_exit_on_enobufs_is_a_report_and_keeps_reading_is_never_a_null_read_as_one",
    ) {
        return;
    }
    // Uevents go on for 500 ms; it overruns within the first tens of ms and exits while
    // they still arrive, taking its socket (and drops not yet sampled) with it.
    let (code, v, out) = run_scenario(&scenario(
        "{ kind = \"rate\", per-sec = 300, duration = \"500ms\" }",
        "1024 exit delay-us=20000",
        "expect = { keeps-reading = 1 }",
    ));
    let p = program(&v);
    assert_eq!(code, 1, "keeps-reading = 1 must fail: {}", shown(&out));
    assert_eq!(p["exit_code"], 1, "{p}");
    assert_eq!(p["keeps_reading"], false, "{p}");
    // Its socket went with its exit before emission ended: drops are a lower bound.
    assert_eq!(p["kernel_drops_lower_bound"], true, "{p}");
    assert_eq!(u(&p["silent_loss"]), 0, "it said so: {p}");
}

#[test]
fn a_reconnect_that_leaks_its_socket_is_reported() {
    if !sandbox_or_skip("a_reconnect_that_leaks_its_socket_is_reported") {
        return;
    }
    let (code, v, out) = run_scenario(&scenario(
        "{ kind = \"rate\", per-sec = 600, duration = \"100ms\" }",
        "1024 leak delay-us=20000",
        "",
    ));
    assert_eq!(code, 0, "{}", shown(&out));
    let p = program(&v);
    assert!(u(&p["reopened"]) >= 1, "{p}");
    assert!(u(&p["leaked"]) >= 1, "{p}");
}

#[test]
fn output_none_measures_no_loss_and_says_so() {
    if !sandbox_or_skip("output_none_measures_no_loss_and_says_so") {
        return;
    }
    let (code, v, out) = run_scenario(&scenario(
        "{ kind = \"burst\", size = 20 }",
        "0 report",
        "output = \"none\"\nexpect = { lost = 0 }",
    ));
    assert_eq!(
        code,
        1,
        "an expectation on unmeasured loss cannot pass: {}",
        shown(&out)
    );
    let p = program(&v);
    assert_eq!(p["loss_measured"], false, "{p}");
    let o = &v["scenarios"][0]["outcomes"][0];
    assert!(
        o["measured"]
            .as_str()
            .unwrap_or_default()
            .contains("not measured"),
        "{o}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("loss not measured"));
}

#[test]
fn a_program_that_finds_its_family_missing_means_this_machine_cannot_run_it() {
    if !sandbox_or_skip("a_program_that_finds_its_family_missing_means_this_machine_cannot_run_it")
    {
        return;
    }
    let text = "deadline = \"10s\"\n[[emitter]]\nname = \"e\"\nkind = \"injected-uevent\"\nschedule = { kind = \"burst\", size = 1 }\n[[program]]\nname = \"wifi\"\ncommand = [\"/bin/sh\", \"-c\", \"echo 'nl80211 not found.' >&2; exit 1\"]\n";
    let (code, v, out) = run_scenario(text);
    assert_eq!(code, 3, "{}", shown(&out));
    skipped_saying(&v, "nl80211 not found");
}

#[test]
fn a_listener_printing_only_seqnum_is_accounted_exactly() {
    if !sandbox_or_skip("a_listener_printing_only_seqnum_is_accounted_exactly") {
        return;
    }
    // What a newcomer's listener prints: the kernel's SEQNUM. A burst of 50 into SO_RCVBUF
    // 1024 (the kernel's floor) with 20 ms per event: most are dropped.
    let (code, v, out) = run_scenario(&scenario(
        "{ kind = \"burst\", size = 50 }",
        "1024 report seqnum delay-us=20000",
        "output-regex = '^uevent seqnum=(?P<seqnum>[0-9]+)$'",
    ));
    assert_eq!(code, 0, "{}", shown(&out));
    let p = program(&v);
    assert_eq!(u(&p["seen"]) + u(&p["lost"]), 50, "{p}");
    assert!(u(&p["lost"]) >= 1, "{p}");
    assert_eq!(u(&p["lost"]), u(&p["kernel_drops"]), "{p}");
    assert_eq!(u(&p["foreign"]), 0, "{p}");
}
