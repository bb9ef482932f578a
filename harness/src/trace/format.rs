//! Writing a trace exactly as `udevadm monitor --kernel --property` prints it, so that
//! recorded and bundled traces read like captures users make themselves.

use std::fmt::Write as _;

use super::{Source, Trace};

/// The text of `trace`: provenance comments, udevadm's preamble, then each event.
pub fn format(trace: &Trace) -> String {
    let mut out = String::new();
    // A provenance entry of several lines (a multi-line command) stays a comment.
    for line in trace.provenance.iter().flat_map(|p| p.split('\n')) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    out.push_str("monitor will print the received events for:\n");
    if trace.events.iter().any(|e| e.source == Source::Udev) {
        out.push_str("UDEV - the event which udev sends out after rule processing\n");
    }
    out.push_str("KERNEL - the kernel uevent\n\n");
    for e in &trace.events {
        // udevadm's own layout: "%-6s[%lu.%06lu] %-8s %s (%s)".
        let _ = writeln!(
            out,
            "{:<6}[{}.{:06}] {:<8} {} ({})",
            e.source.word(),
            e.at_us / 1_000_000,
            e.at_us % 1_000_000,
            e.action,
            e.devpath,
            e.subsystem
        );
        for (k, v) in &e.properties {
            let dev = if k == "DEVNAME" { "/dev/" } else { "" };
            let _ = writeln!(out, "{k}={dev}{v}");
        }
        if let Some(n) = e.seqnum {
            let _ = writeln!(out, "SEQNUM={n}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Source, Trace, TraceEvent};
    use super::format;
    use proptest::prelude::*;

    fn event() -> impl Strategy<Value = TraceEvent> {
        let word = "[a-z][a-z0-9_-]{0,8}";
        let key =
            "[A-Z_][A-Z0-9_]{0,10}".prop_filter("SEQNUM is not a property", |k| k != "SEQNUM");
        // Values: printable text with spaces and `=`, never a line break.
        let value = "[ -~]{0,40}".prop_filter("no trailing CR", |v: &String| !v.ends_with('\r'));
        (
            prop_oneof![Just(Source::Kernel), Just(Source::Udev)],
            0u64..10_000_000,
            word,
            "(/[a-z0-9:.-]{1,12}){1,5}",
            "[a-z0-9_]{0,8}",
            proptest::option::of(0u64..1_000_000_000),
            proptest::collection::vec((key, value), 1..8),
        )
            .prop_map(
                |(source, at_us, action, devpath, subsystem, seqnum, properties)| TraceEvent {
                    source,
                    at_us,
                    action,
                    devpath,
                    subsystem,
                    seqnum,
                    properties,
                },
            )
    }

    fn trace() -> impl Strategy<Value = Trace> {
        (
            proptest::collection::vec("[ -~]{0,30}", 0..4),
            proptest::collection::vec(event(), 0..12),
        )
            .prop_map(|(provenance, mut events)| {
                // udevadm prints in the order it received, so timestamps never go back.
                let mut t = 0;
                for e in &mut events {
                    t += e.at_us % 50_000;
                    e.at_us = t;
                }
                Trace { provenance, events }
            })
    }

    proptest! {
        #[test]
        fn format_parse_format_is_the_identity(t in trace()) {
            let text = format(&t);
            let back = parse(&text, "generated").map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &t);
            prop_assert_eq!(format(&back), text);
        }
    }

    #[test]
    fn lays_out_a_header_as_udevadm_does() {
        let t = Trace {
            provenance: vec!["nlstorm trace record".into()],
            events: vec![TraceEvent {
                source: Source::Kernel,
                at_us: 3_029_519_452,
                action: "add".into(),
                devpath: "/devices/virtual/net/v0".into(),
                subsystem: "net".into(),
                seqnum: Some(4470),
                properties: vec![("DEVNAME".into(), "net/tun".into())],
            }],
        };
        assert_eq!(
            format(&t),
            "# nlstorm trace record\nmonitor will print the received events for:\nKERNEL - the kernel uevent\n\nKERNEL[3029.519452] add      /devices/virtual/net/v0 (net)\nDEVNAME=/dev/net/tun\nSEQNUM=4470\n\n"
        );
    }
}
