//! `[reconcile]`: the polling fallback.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// `[reconcile]`: the polling fallback.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileSettings {
    pub enabled: bool,
    /// Pause between polls of a namespace.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Cases per list request.
    pub page_size: usize,
    /// Each poll starts this long before the watermark (clock skew, same-second changes).
    #[serde(with = "humantime_serde")]
    pub overlap: Duration,
    /// How far back the very first poll of a namespace looks.
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
    /// A replica's claim to poll a namespace lasts this long unless renewed.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// Most GTT list requests per second (per replica).
    pub max_requests_per_second: u32,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: Duration::from_secs(60),
            page_size: 100,
            overlap: Duration::from_secs(120),
            lookback: Duration::from_secs(3600),
            lease_ttl: Duration::from_secs(180),
            max_requests_per_second: 5,
        }
    }
}

impl ReconcileSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.interval < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "reconcile.interval",
                "must be at least 100ms",
            ));
        }
        if !(1..=500).contains(&self.page_size) {
            return Err(ConfigError::new(
                "reconcile.page_size",
                "must be between 1 and 500",
            ));
        }
        if self.lease_ttl <= self.interval {
            return Err(ConfigError::new(
                "reconcile.lease_ttl",
                "must be longer than reconcile.interval",
            ));
        }
        if self.max_requests_per_second == 0 {
            return Err(ConfigError::new(
                "reconcile.max_requests_per_second",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
