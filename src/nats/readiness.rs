//! How long publishing has been failing without a break: started by the first failure (or a
//! NATS disconnect), ended by the next PubAck (or a reconnect). `/readyz` turns `503` only when
//! the streak outlasts `nats.unready_after`, so a stream-leader election, which every replica
//! sees at once, does not take them all out of the load balancer.
//!
//! The hot path pays one atomic load per successful publish.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The current failure streak, if any.
pub(super) struct FailureStreak {
    /// Reference point of `since_ms`.
    origin: Instant,
    /// Milliseconds after `origin` when the streak began, plus one; 0 = not failing.
    since_ms: AtomicU64,
    /// Reason of the latest failure (only written on failures).
    last_reason: Mutex<&'static str>,
}

impl FailureStreak {
    pub(super) fn new() -> Self {
        Self {
            origin: Instant::now(),
            since_ms: AtomicU64::new(0),
            last_reason: Mutex::new(""),
        }
    }

    /// A failure: starts the streak unless one is running.
    pub(super) fn fail(&self, reason: &'static str) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        let _ = self
            .since_ms
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        *self.last_reason.lock().expect("reason lock") = reason;
    }

    /// A success: ends the streak.
    pub(super) fn clear(&self) {
        if self.since_ms.load(Ordering::Acquire) != 0 {
            self.since_ms.store(0, Ordering::Release);
        }
    }

    /// How long the current streak has lasted, and its latest reason.
    pub(super) fn failing_for(&self) -> Option<(Duration, &'static str)> {
        let since = self.since_ms.load(Ordering::Acquire);
        if since == 0 {
            return None;
        }
        let began = self.origin + Duration::from_millis(since - 1);
        let reason = *self.last_reason.lock().expect("reason lock");
        Some((began.elapsed(), reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_runs_from_the_first_failure_to_the_next_success() {
        let streak = FailureStreak::new();
        assert!(streak.failing_for().is_none());
        streak.fail("no_responders");
        std::thread::sleep(Duration::from_millis(30));
        streak.fail("timeout");
        let (for_, reason) = streak.failing_for().unwrap();
        assert!(
            for_ >= Duration::from_millis(30),
            "{for_:?}: the first failure counts"
        );
        assert_eq!(reason, "timeout");
        streak.clear();
        assert!(streak.failing_for().is_none());
        streak.fail("timeout");
        assert!(streak.failing_for().unwrap().0 < Duration::from_millis(30));
    }
}
