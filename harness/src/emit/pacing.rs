//! Waiting for an absolute deadline precisely: sleep while far away, then spin. A sleep
//! per message would overshoot by the timer slack (50 us by default) and cap the rate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SPIN_BELOW: Duration = Duration::from_micros(200);

/// Waits until `deadline`; returns false early if `stop` is raised.
pub fn wait_until(deadline: Instant, stop: &AtomicBool) -> bool {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let left = deadline - now;
        if left > SPIN_BELOW {
            std::thread::sleep((left - SPIN_BELOW).min(Duration::from_millis(20)));
        } else {
            std::hint::spin_loop();
        }
    }
}
