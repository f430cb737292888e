//! Rate-limited warnings: a repeated warning goes out at most once per period, and says how
//! many occurrences it stands for. Safe to share between tasks (`static` or in a struct).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `last_ms` before the first warning.
const NEVER: u64 = u64::MAX;

pub(crate) struct Throttle {
    period_ms: u64,
    origin: OnceLock<Instant>,
    /// Milliseconds after `origin` of the last warning let through.
    last_ms: AtomicU64,
    /// Occurrences since then.
    held: AtomicU64,
}

impl Throttle {
    pub(crate) const fn new(period: Duration) -> Self {
        Self {
            period_ms: period.as_millis() as u64,
            origin: OnceLock::new(),
            last_ms: AtomicU64::new(NEVER),
            held: AtomicU64::new(0),
        }
    }

    /// Count one occurrence; `Some(occurrences since the last warning)` when one is due.
    pub(crate) fn due(&self) -> Option<u64> {
        self.held.fetch_add(1, Ordering::AcqRel);
        let now = u64::try_from(self.origin.get_or_init(Instant::now).elapsed().as_millis())
            .unwrap_or(NEVER - 1);
        let last = self.last_ms.load(Ordering::Acquire);
        if last != NEVER && now < last.saturating_add(self.period_ms) {
            return None;
        }
        self.last_ms
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| self.held.swap(0, Ordering::AcqRel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_warning_through_per_period_and_counts_the_rest() {
        let throttle = Throttle::new(Duration::from_millis(50));
        assert_eq!(throttle.due(), Some(1));
        assert_eq!(throttle.due(), None);
        assert_eq!(throttle.due(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(throttle.due(), Some(3));
    }
}
