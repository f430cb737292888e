//! `[rejections]`: the record of refused callbacks (evidence for onboarding: wrong URL, wrong
//! secret), kept in a small stream of its own.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, check_token, is_route_char};

/// `[rejections]`: the record of refused callbacks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RejectionSettings {
    /// Record refused callbacks.
    pub enabled: bool,
    /// The stream holding the records (subjects `{nats.subject_prefix}-rejections.>`).
    pub stream: String,
    /// Most records kept; the oldest go first.
    pub max_records: i64,
    /// Records older than this are deleted.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Most records written per second; refusals beyond it are counted, not recorded.
    pub per_second: u32,
}

impl Default for RejectionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            stream: "GTT_REJECTIONS".into(),
            max_records: 10_000,
            max_age: Duration::from_secs(7 * 24 * 3600),
            per_second: 10,
        }
    }
}

impl RejectionSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        check_token("rejections.stream", &self.stream, is_route_char)?;
        if self.max_records < 1 {
            return Err(ConfigError::new(
                "rejections.max_records",
                "must be at least 1",
            ));
        }
        if self.max_age.is_zero() {
            return Err(ConfigError::new("rejections.max_age", "must be above zero"));
        }
        if self.per_second == 0 {
            return Err(ConfigError::new(
                "rejections.per_second",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
