//! The kernel's SEQNUM of each uevent a run sent, for programs that print SEQNUM (what
//! udevadm, pyudev and most agents print) instead of nlstorm's own sequence keys. A
//! reference socket of nlstorm's, bound to the uevent group before emission with a
//! forced 256 MiB queue, reads every uevent the kernel broadcast and pairs its SEQNUM
//! with the emitter and sequence number the uevent carries.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::history::{SeqnumMap, SeqnumRun};
use crate::payload::{decode, RunId, Tag};
use crate::plan::Protocol;
use crate::sys::nlsock::{NlSocket, Received, SockOpt};

/// The reference socket's queue: a burst of a million 1 KiB uevents fits.
const QUEUE: i32 = 256 << 20;

/// The reference reader, running.
pub struct SeqnumReader {
    sock: Arc<NlSocket>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(u64, usize, u64)>>,
}

/// Opens the reference socket and starts reading it.
pub fn start(run: RunId, uuid: String) -> io::Result<SeqnumReader> {
    let sock = NlSocket::open(Protocol::KobjectUevent)?;
    if sock.set(SockOpt::RcvbufForce(QUEUE)).is_err() {
        // A rootless sandbox may not force: rmem_max caps it, and drops say so.
        sock.set(SockOpt::Rcvbuf(QUEUE))?;
    }
    sock.set(SockOpt::RecvTimeout(Duration::from_millis(20)))?;
    sock.bind(&[1])?;
    let sock = Arc::new(sock);
    let stop = Arc::new(AtomicBool::new(false));
    let (s, st) = (sock.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name("seqnums".into())
        .spawn(move || read(&s, &st, &run, &uuid))?;
    Ok(SeqnumReader { sock, stop, thread })
}

fn read(sock: &NlSocket, stop: &AtomicBool, run: &RunId, uuid: &str) -> Vec<(u64, usize, u64)> {
    let mut buf = vec![0u8; 64 << 10];
    let mut out = Vec::new();
    loop {
        match sock.recv(&mut buf, 0) {
            Received::Datagram { len, .. } => {
                let d = &buf[..len];
                if let (Tag::Ours { source, seq }, Some(n)) =
                    (decode(Protocol::KobjectUevent, d, run, uuid), seqnum(d))
                {
                    out.push((n, usize::from(source), seq));
                }
            }
            // Timed out with nothing queued: done once the run has ended.
            Received::Errno(libc::EAGAIN) if stop.load(Ordering::Acquire) => break,
            Received::Errno(_) => {}
        }
    }
    out
}

/// The `SEQNUM=` of a uevent.
pub fn seqnum(d: &[u8]) -> Option<u64> {
    d.split(|&b| b == 0)
        .find_map(|f| f.strip_prefix(b"SEQNUM="))
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
}

impl SeqnumReader {
    /// Reads what is still queued, stops, and returns the map.
    pub fn finish(self) -> SeqnumMap {
        self.stop.store(true, Ordering::Release);
        let drops = self.sock.meminfo().map_or(0, |m| m.drops);
        let pairs = self.thread.join().unwrap_or_default();
        SeqnumMap {
            runs: runs(pairs),
            drops,
        }
    }
}

/// Pairs sorted by SEQNUM, folded into runs where both SEQNUM and sequence go up by
/// one from the same emitter.
pub fn runs(mut pairs: Vec<(u64, usize, u64)>) -> Vec<SeqnumRun> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut out: Vec<SeqnumRun> = Vec::new();
    for (seqnum, emitter, seq) in pairs {
        if let Some(r) = out.last_mut() {
            if r.emitter == emitter && r.seqnum + r.len == seqnum && r.seq + r.len == seq {
                r.len += 1;
                continue;
            }
        }
        out.push(SeqnumRun {
            seqnum,
            emitter,
            seq,
            len: 1,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_fold_into_runs_and_seqnum_is_read_from_the_uevent() {
        let r = runs(vec![
            (12, 0, 2),
            (10, 0, 0),
            (11, 0, 1),
            (13, 1, 0),
            (15, 0, 3),
        ]);
        assert_eq!(
            r.iter()
                .map(|r| (r.seqnum, r.emitter, r.seq, r.len))
                .collect::<Vec<_>>(),
            vec![(10, 0, 0, 3), (13, 1, 0, 1), (15, 0, 3, 1)]
        );
        assert_eq!(seqnum(b"add@/x\0ACTION=add\0SEQNUM=4470\0"), Some(4470));
        assert_eq!(seqnum(b"add@/x\0ACTION=add\0"), None);
    }
}
