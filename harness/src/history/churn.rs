//! What a churn thread did.

use serde::{Deserialize, Serialize};

/// What one churn thread did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChurnRecord {
    /// `links` or `sockets`.
    pub kind: String,
    /// Changes made.
    pub changes: u64,
    /// Changes that failed.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// The rate the scenario asked for, changes per second.
    #[serde(default)]
    pub requested_per_sec: f64,
    /// From the first change to the thread's end, ns.
    #[serde(default)]
    pub elapsed_ns: u64,
    /// Changes (made and failed) per second over `elapsed_ns`: what the kernel let the
    /// thread do, each change waiting for its acknowledgement.
    #[serde(default)]
    pub achieved_per_sec: f64,
    /// True when the achieved rate is below [`FAR_BELOW`] of the requested one.
    #[serde(default)]
    pub far_below_request: bool,
}

/// The fraction of the requested rate under which a churn is called far below it.
pub const FAR_BELOW: f64 = 0.5;

impl ChurnRecord {
    /// Fills the rate fields once the thread has stopped.
    pub fn finish(&mut self, requested_per_sec: f64, elapsed: std::time::Duration) {
        self.requested_per_sec = requested_per_sec;
        self.elapsed_ns = elapsed.as_nanos() as u64;
        let secs = elapsed.as_secs_f64();
        self.achieved_per_sec = if secs > 0.0 {
            (self.changes + self.errors) as f64 / secs
        } else {
            0.0
        };
        // Under a tenth of a second the count is too small to call a rate far off.
        self.far_below_request =
            secs >= 0.1 && self.achieved_per_sec < FAR_BELOW * requested_per_sec;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_churn_far_below_its_rate_is_flagged() {
        let mut r = ChurnRecord {
            changes: 212,
            ..Default::default()
        };
        r.finish(100_000.0, Duration::from_millis(920));
        assert!((r.achieved_per_sec - 230.4).abs() < 0.1, "{r:?}");
        assert!(r.far_below_request);
        let mut ok = ChurnRecord {
            changes: 99,
            ..Default::default()
        };
        ok.finish(100.0, Duration::from_secs(1));
        assert!(!ok.far_below_request);
        let mut short = ChurnRecord::default();
        short.finish(1e6, Duration::from_millis(5));
        assert!(!short.far_below_request, "too short to tell");
    }
}
