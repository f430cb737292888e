//! `subscriptions` and `[registrar]`: the webhooks kept in place at GTT, and how.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, check_token, is_route_char};

/// One webhook subscription: GTT calls us when `action` happens to a `kind` resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub kind: String,
    pub version: String,
    pub action: String,
}

pub(super) fn default_subscriptions() -> Vec<Subscription> {
    ["create", "update"]
        .into_iter()
        .map(|action| Subscription {
            kind: "case".into(),
            version: "v1alpha".into(),
            action: action.into(),
        })
        .collect()
}

/// `[registrar]`: keeping GTT's webhook list right.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrarSettings {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Delete our own webhooks that are no longer desired.
    pub prune: bool,
    /// Our webhooks are named `{name_prefix}-{kind}-{version}-{action}`; only names with this
    /// prefix are ever updated or pruned. Give each deployment watching the same namespaces
    /// its own prefix.
    pub name_prefix: String,
}

impl Default for RegistrarSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(300),
            prune: false,
            name_prefix: "gtt-gateway".into(),
        }
    }
}

impl RegistrarSettings {
    pub(super) fn validate(&self, subscriptions: &[Subscription]) -> Result<(), ConfigError> {
        for (i, sub) in subscriptions.iter().enumerate() {
            for (field, value) in [
                ("kind", &sub.kind),
                ("version", &sub.version),
                ("action", &sub.action),
            ] {
                check_token(&format!("subscriptions[{i}].{field}"), value, is_route_char)?;
            }
        }
        check_token("registrar.name_prefix", &self.name_prefix, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
        })?;
        if self.interval < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "registrar.interval",
                "must be at least 1s",
            ));
        }
        Ok(())
    }
}
