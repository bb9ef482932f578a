//! A hang: a receive call outstanding past its deadline (or a dump left half-read). What
//! the watchdog records at that moment, and which kind of hang the evidence says it is.

use serde::{Deserialize, Serialize};

use crate::procnet::NetlinkRow;

/// The kinds of hang nlstorm tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HangClass {
    /// A dump is in progress in the kernel (Dump=1), nothing is queued, the reader waits:
    /// the kernel will not produce the next part by itself.
    DumpStalled,
    /// The kernel dropped messages for the socket while the client waited for its
    /// sequence number: the reply or ack was lost.
    ReplyLost,
    /// The client waits, but no dump is running and nothing is queued: from the kernel's
    /// side the request was answered.
    NothingOutstanding,
    /// A datagram of the current reply came back with MSG_TRUNC: whatever followed the
    /// cut, NLMSG_DONE included, is gone.
    Truncated,
    /// The client stopped reading in the middle of a dump, leaving the kernel's dump
    /// running (Dump=1) or its rest queued unread (Rmem > 0).
    StoppedMidDump,
    /// The evidence fits none of the above.
    Unknown,
}

impl HangClass {
    /// Every class, in report order.
    pub const ALL: [HangClass; 6] = [
        HangClass::DumpStalled,
        HangClass::ReplyLost,
        HangClass::NothingOutstanding,
        HangClass::Truncated,
        HangClass::StoppedMidDump,
        HangClass::Unknown,
    ];

    /// As in reports and metric keys.
    pub fn name(self) -> &'static str {
        match self {
            HangClass::DumpStalled => "dump-stalled",
            HangClass::ReplyLost => "reply-lost",
            HangClass::NothingOutstanding => "nothing-outstanding",
            HangClass::Truncated => "truncated",
            HangClass::StoppedMidDump => "stopped-mid-dump",
            HangClass::Unknown => "unknown",
        }
    }
}

/// What the watchdog saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The client had stopped reading (its policy said stop).
    pub client_stopped: bool,
    /// MSG_TRUNC was seen during the current dump.
    pub truncated_this_dump: bool,
    /// The socket's /proc/net/netlink row (None if it could not be read).
    pub row: Option<NetlinkRow>,
    /// The socket's drop count when the current request was sent.
    pub drops_at_request: u64,
}

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

/// One hang, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hang {
    /// When the watchdog fired, ns after the run's start.
    pub at_ns: u64,
    /// How long the call had been outstanding.
    pub waited_ns: u64,
    /// The sequence number the client was waiting for.
    pub waiting_seq: u32,
    /// The class.
    pub class: HangClass,
    /// Why that class.
    pub reason: String,
    /// What was seen.
    pub observation: Observation,
    /// /proc/self/task/<tid>/wchan of the blocked thread.
    pub wchan: Option<String>,
    /// /proc/self/task/<tid>/stack, where readable (root).
    pub stack: Option<String>,
    /// The last messages the client saw and the decisions it took, oldest first.
    pub recent: Vec<String>,
    /// The watchdog interrupted the call and the client went on.
    pub recovered: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

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
