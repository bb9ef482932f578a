//! The sampler: a thread that records each receiver's queue charge and drops over time
//! (its [`Series`]), and the peak charge, while the flood runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::error::{io, ExecError};
use crate::history::Series;
use crate::receive::Receiver;

/// How often the queue of each receiver is recorded into its [`Series`].
const SERIES_INTERVAL: Duration = Duration::from_millis(5);

/// How often the queues are read; the series keeps one point per [`SERIES_INTERVAL`].
const POLL: Duration = Duration::from_micros(500);

/// A running sampler of every receiver's queue.
pub(super) struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Series>>,
}

impl Sampler {
    /// Starts sampling `receivers`' sockets; times count from `t0`.
    pub(super) fn start(receivers: &[Receiver], t0: Instant) -> Result<Sampler, ExecError> {
        let handles: Vec<_> = receivers.iter().map(Receiver::sampler_handle).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                let mut series =
                    vec![Series::new(SERIES_INTERVAL.as_nanos() as u64); handles.len()];
                while !stopped.load(Ordering::Relaxed) {
                    let t = Instant::now().saturating_duration_since(t0).as_nanos() as u64;
                    for ((sock, max), s) in handles.iter().zip(&mut series) {
                        if let Ok(m) = sock.meminfo() {
                            max.fetch_max(m.rmem_alloc, Ordering::Relaxed);
                            s.offer(t, m.rmem_alloc, m.drops);
                        }
                    }
                    thread::sleep(POLL);
                }
                series
            })
            .map_err(io("start the sampler thread"))?;
        Ok(Sampler { stop, thread })
    }

    /// Stops sampling; one series per receiver, in order (none if the thread died).
    pub(super) fn finish(self) -> Vec<Series> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}
