//! Reading `udevadm monitor --kernel --property` output. Strict where a mistake would
//! change what is replayed (a header that does not parse, a property line without `=`,
//! time going backwards), lenient where udevadm itself varies (its preamble, events
//! printed without `--property`, CRLF line ends).

use super::{Source, Trace, TraceEvent};

/// A malformed trace: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct TraceError {
    /// The trace's name as the user gave it.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

/// The lines udevadm prints before the first event.
const PREAMBLE: [&str; 3] = [
    "monitor will print the received events for:",
    "UDEV - the event which udev sends out after rule processing",
    "KERNEL - the kernel uevent",
];

/// Longest excerpt of a bad line quoted in an error: enough to recognise it, not
/// enough to copy a whole file that was not a trace into the terminal.
const EXCERPT: usize = 60;

/// Parses a trace; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Trace, TraceError> {
    let mut trace = Trace::default();
    let mut current: Option<TraceEvent> = None;
    let mut last_at: Option<(u64, usize)> = None;
    let fail = |line: usize, message: String| TraceError {
        file: file.to_string(),
        line,
        message,
    };
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            trace.events.extend(current.take());
            continue;
        }
        if let Some(header) = header(line) {
            let event = header.map_err(|m| fail(n, m))?;
            if let Some((prev, at)) = last_at {
                if event.at_us < prev {
                    return Err(fail(
                        n,
                        format!(
                            "the timestamp goes back from {} (line {at}) to {}: events must be in the order udevadm received them",
                            seconds(prev),
                            seconds(event.at_us)
                        ),
                    ));
                }
            }
            last_at = Some((event.at_us, n));
            trace.events.extend(current.replace(event));
            continue;
        }
        match current.as_mut() {
            Some(event) => property(event, line).map_err(|m| fail(n, m))?,
            None if line.starts_with('#') => {
                if trace.events.is_empty() {
                    let c = &line[1..];
                    trace
                        .provenance
                        .push(c.strip_prefix(' ').unwrap_or(c).to_string());
                }
            }
            None if PREAMBLE.contains(&line.trim()) => {}
            None => {
                return Err(fail(
                    n,
                    format!(
                        "expected an event header such as `KERNEL[1234.567890] add /devices/... (net)`, found {}",
                        excerpt(line)
                    ),
                ))
            }
        }
    }
    trace.events.extend(current);
    for e in &mut trace.events {
        fill_from_header(e);
    }
    Ok(trace)
}

/// `None` when the line is not a header at all; `Some(Err)` when it starts like one but
/// does not parse.
fn header(line: &str) -> Option<Result<TraceEvent, String>> {
    let (source, rest) = if let Some(r) = line.strip_prefix("KERNEL") {
        (Source::Kernel, r)
    } else if let Some(r) = line.strip_prefix("UDEV") {
        (Source::Udev, r)
    } else {
        return None;
    };
    let rest = rest.trim_start_matches(' ');
    let rest = rest.strip_prefix('[')?;
    Some(header_after_bracket(source, rest, line))
}

fn header_after_bracket(source: Source, rest: &str, line: &str) -> Result<TraceEvent, String> {
    let shape = || {
        format!(
            "expected `{}[SECONDS.MICROSECONDS] ACTION DEVPATH (SUBSYSTEM)`, found {}",
            source.word(),
            excerpt(line)
        )
    };
    let (stamp, rest) = rest.split_once(']').ok_or_else(shape)?;
    let at_us = timestamp(stamp).ok_or_else(|| {
        format!(
            "the timestamp {} is not SECONDS.MICROSECONDS (six digits after the point)",
            excerpt(stamp)
        )
    })?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let [action, devpath, subsystem] = words[..] else {
        return Err(shape());
    };
    let subsystem = subsystem
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(shape)?;
    if !devpath.starts_with('/') {
        return Err(format!(
            "the devpath {} does not start with /",
            excerpt(devpath)
        ));
    }
    Ok(TraceEvent {
        source,
        at_us,
        action: action.to_string(),
        devpath: devpath.to_string(),
        subsystem: subsystem.to_string(),
        seqnum: None,
        properties: Vec::new(),
    })
}

fn timestamp(s: &str) -> Option<u64> {
    let (sec, usec) = s.split_once('.')?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(sec) || usec.len() != 6 || !digits(usec) {
        return None;
    }
    sec.parse::<u64>()
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(usec.parse().ok()?)
}

/// `KEY=VALUE`, split at the first `=`: values may hold `=` and spaces.
fn property(event: &mut TraceEvent, line: &str) -> Result<(), String> {
    let Some((key, value)) = line.split_once('=') else {
        return Err(format!(
            "expected KEY=VALUE (a property of the {} event) or a blank line, found {}",
            event.action,
            excerpt(line)
        ));
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!(
            "{} is not a property name: names have no spaces",
            excerpt(key)
        ));
    }
    if key == "SEQNUM" {
        event.seqnum = Some(
            value
                .parse()
                .map_err(|_| format!("SEQNUM={} is not a number", excerpt(value)))?,
        );
        return Ok(());
    }
    let value = if key == "DEVNAME" {
        value.strip_prefix("/dev/").unwrap_or(value)
    } else {
        value
    };
    event.properties.push((key.to_string(), value.to_string()));
    Ok(())
}

/// udevadm without `--property` prints only headers; the kernel always sends ACTION,
/// DEVPATH and SUBSYSTEM first, so an event without them gets them from its header.
fn fill_from_header(e: &mut TraceEvent) {
    if !e.properties.is_empty() {
        return;
    }
    e.properties = vec![
        ("ACTION".into(), e.action.clone()),
        ("DEVPATH".into(), e.devpath.clone()),
        ("SUBSYSTEM".into(), e.subsystem.clone()),
    ];
}

fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(EXCERPT).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    format!("`{}`", crate::untrusted::terminal(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = "monitor will print the received events for:\nKERNEL - the kernel uevent\n\nKERNEL[3029.519452] add      /devices/virtual/net/v0 (net)\nACTION=add\nDEVPATH=/devices/virtual/net/v0\nSUBSYSTEM=net\nINTERFACE=v0\nIFINDEX=7\nSEQNUM=4470\n\nKERNEL[3029.519611] add      /devices/virtual/net/v0/queues/rx-0 (queues)\nACTION=add\nDEVPATH=/devices/virtual/net/v0/queues/rx-0\nSUBSYSTEM=queues\nSEQNUM=4471\n\n";

    #[test]
    fn reads_udevadm_output() {
        let t = parse(REAL, "t.txt").unwrap();
        assert_eq!(t.events.len(), 2);
        let e = &t.events[0];
        assert_eq!(
            (e.source, e.at_us, e.action.as_str(), e.subsystem.as_str()),
            (Source::Kernel, 3_029_519_452, "add", "net")
        );
        assert_eq!(e.seqnum, Some(4470));
        assert_eq!(e.properties.len(), 5, "SEQNUM is not a property");
        assert_eq!(
            e.wire(),
            b"add@/devices/virtual/net/v0\0ACTION=add\0DEVPATH=/devices/virtual/net/v0\0SUBSYSTEM=net\0INTERFACE=v0\0IFINDEX=7\0"
        );
    }

    #[test]
    fn values_keep_equals_and_spaces_and_devname_loses_dev() {
        let t = parse(
            "# recorded here\nUDEV  [1.000001] add /devices/x (tty)\nDEVNAME=/dev/ttyACM0\nX=a=b c\n",
            "t",
        )
        .unwrap();
        assert_eq!(t.provenance, vec!["recorded here"]);
        let e = &t.events[0];
        assert_eq!(e.source, Source::Udev);
        assert_eq!(
            e.properties,
            vec![
                ("DEVNAME".into(), "ttyACM0".into()),
                ("X".into(), "a=b c".into())
            ]
        );
        assert_eq!(t.replayable(false).count(), 0);
        assert_eq!(t.replayable(true).count(), 1);
    }

    #[test]
    fn headers_without_properties_get_the_kernels_first_keys() {
        let t = parse(
            "KERNEL[5.000000] remove /devices/a (net)\nKERNEL[5.000100] remove /devices/b (net)\n",
            "t",
        )
        .unwrap();
        assert_eq!(t.events.len(), 2);
        assert_eq!(t.events[1].properties[1].1, "/devices/b");
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = parse("KERNEL[1.000000] add /d (net)\nNOEQUALS\n", "my.txt").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string().starts_with("my.txt:2: expected KEY=VALUE"),
            "{e}"
        );
        let e = parse("hello\n", "f").unwrap_err();
        assert!(e.message.contains("expected an event header"), "{e}");
        let e = parse("KERNEL[1.5] add /d (net)\n", "f").unwrap_err();
        assert!(e.message.contains("six digits"), "{e}");
        let e = parse("KERNEL[1.000000] add /d\n", "f").unwrap_err();
        assert!(e.message.contains("ACTION DEVPATH (SUBSYSTEM)"), "{e}");
        let e = parse(
            "KERNEL[2.000000] add /a (x)\n\nKERNEL[1.000000] add /b (x)\n",
            "f",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("goes back from 2.000000 (line 1)"),
            "{e}"
        );
        let e = parse("KERNEL[1.000000] add /a (x)\nSEQNUM=x\n", "f").unwrap_err();
        assert!(e.message.contains("SEQNUM=`x` is not a number"), "{e}");
        // A file that is not a trace is quoted only in part, and escaped.
        let e = parse(&format!("\x1b[31m{}\n", "s".repeat(500)), "f").unwrap_err();
        assert!(e.message.len() < 200 && !e.message.contains('\x1b'), "{e}");
    }
}
