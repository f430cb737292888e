//! Exponential backoff, the one copy every retry loop uses (the registrar, the poller, OAuth
//! token fetches): after the n-th failure in a row, wait `base x 2^n`, at most `max`, and, when
//! jittered, a random 50-100 % of that so that replicas do not retry in step.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    jitter: bool,
    failures: u32,
}

impl Backoff {
    /// Jittered backoff from `base x 2` up to `max`.
    pub(crate) fn jittered(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            jitter: true,
            failures: 0,
        }
    }

    /// The same without jitter.
    pub(crate) fn exact(base: Duration, max: Duration) -> Self {
        Self {
            jitter: false,
            ..Self::jittered(base, max)
        }
    }

    /// One more failure in a row: how long to wait before the next attempt.
    pub(crate) fn fail(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let pause = self
            .base
            .saturating_mul(1 << self.failures.min(16))
            .min(self.max);
        if self.jitter {
            pause.mul_f64(rand::rng().random_range(0.5..1.0))
        } else {
            pause
        }
    }

    /// A success: the next failure starts over.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_starts_over_after_a_success() {
        let mut b = Backoff::exact(Duration::from_millis(500), Duration::from_secs(3));
        let pauses: Vec<u64> = (0..5).map(|_| b.fail().as_millis() as u64).collect();
        assert_eq!(pauses, [1000, 2000, 3000, 3000, 3000]);
        b.reset();
        assert_eq!(b.fail(), Duration::from_secs(1));
        let mut j = Backoff::jittered(Duration::from_secs(1), Duration::from_secs(60));
        let first = j.fail();
        assert!(
            first >= Duration::from_secs(1) && first < Duration::from_secs(2),
            "{first:?}"
        );
    }
}
