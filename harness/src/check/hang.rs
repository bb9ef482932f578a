//! Which kind of hang the evidence the watchdog recorded says it is. The watchdog calls
//! this at the moment it fires; `nlstorm check` can call it again on a stored record, and
//! the C reproducer carries the same rules.

use crate::history::dump::{HangClass, Observation};

/// The class the evidence supports, and the sentence that says why.
pub fn classify(o: &Observation) -> (HangClass, String) {
    let Some(row) = o.row else {
        return (
            HangClass::Unknown,
            "the socket's /proc/net/netlink row could not be read".into(),
        );
    };
    let state = format!("Dump={} Rmem={} Drops={}", row.dump, row.rmem, row.drops);
    if o.client_stopped && (row.dump == 1 || row.rmem > 0) {
        let left = if row.dump == 1 {
            "the kernel's dump still in progress"
        } else {
            "the rest of the reply queued for nobody"
        };
        return (
            HangClass::StoppedMidDump,
            format!("the client stopped reading mid-dump, {left} ({state})"),
        );
    }
    if o.truncated_this_dump {
        return (
            HangClass::Truncated,
            format!("a datagram of this reply came back with MSG_TRUNC, so the rest of it was discarded ({state})"),
        );
    }
    if row.dump == 1 && row.rmem == 0 {
        return (
            HangClass::DumpStalled,
            format!("a dump is in progress but nothing is queued for the waiting reader ({state})"),
        );
    }
    if row.drops > o.drops_at_request {
        return (
            HangClass::ReplyLost,
            format!(
                "{} dropped for the socket since the request ({state})",
                match row.drops - o.drops_at_request {
                    1 => "1 message was".to_string(),
                    n => format!("{n} messages were"),
                }
            ),
        );
    }
    if row.dump == 0 && row.rmem == 0 {
        return (
            HangClass::NothingOutstanding,
            format!("no dump is running and nothing is queued: the kernel has answered ({state})"),
        );
    }
    (HangClass::Unknown, format!("no rule matches ({state})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procnet::NetlinkRow;

    fn row(dump: u32, rmem: u64, drops: u64) -> Option<NetlinkRow> {
        Some(NetlinkRow {
            protocol: 0,
            portid: 1,
            groups: 0,
            rmem,
            wmem: 0,
            dump,
            drops,
            inode: 9,
        })
    }

    fn obs(row: Option<NetlinkRow>) -> Observation {
        Observation {
            client_stopped: false,
            truncated_this_dump: false,
            row,
            drops_at_request: 3,
        }
    }

    #[test]
    fn each_class_from_its_evidence() {
        assert_eq!(classify(&obs(row(1, 0, 3))).0, HangClass::DumpStalled);
        assert_eq!(classify(&obs(row(0, 0, 5))).0, HangClass::ReplyLost);
        assert_eq!(
            classify(&obs(row(0, 0, 3))).0,
            HangClass::NothingOutstanding
        );
        assert_eq!(classify(&obs(row(0, 4096, 3))).0, HangClass::Unknown);
        assert_eq!(classify(&obs(None)).0, HangClass::Unknown);
        let mut t = obs(row(1, 0, 3));
        t.truncated_this_dump = true;
        assert_eq!(classify(&t).0, HangClass::Truncated);
        let mut s = obs(row(1, 8192, 3));
        s.client_stopped = true;
        assert_eq!(classify(&s).0, HangClass::StoppedMidDump);
        assert!(classify(&s).1.contains("Dump=1 Rmem=8192"));
        // The kernel may finish queueing the dump before anyone looks: still left unread.
        let mut done = obs(row(0, 8192, 3));
        done.client_stopped = true;
        assert_eq!(classify(&done).0, HangClass::StoppedMidDump);
        assert!(classify(&done).1.contains("queued for nobody"));
    }
}
