//! `[gtt]`: the upstream API, its OAuth2 client credentials, and the zone of its timestamps.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{ConfigError, check_http_url, secret_or_file};

/// `[gtt]`: the upstream API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GttSettings {
    /// API base URL; also the base of every event's CloudEvents `source`.
    pub api_url: Url,
    /// OAuth2 token endpoint (client credentials).
    pub auth_url: Url,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    /// File holding `client_secret` (used when `client_secret` is not set).
    pub client_secret_file: Option<PathBuf>,
    /// IANA zone in which GTT's zone-less timestamps (`YYYY-MM-DD HH:MM:SS`) are read.
    pub timezone: String,
    /// Parsed `timezone` (filled in by [`Settings::load`]).
    #[serde(skip)]
    pub zone: chrono_tz::Tz,
}

impl Default for GttSettings {
    fn default() -> Self {
        Self {
            api_url: Url::parse("https://test.api.gtt.services").expect("static URL"),
            auth_url: Url::parse(
                "https://test.auth.gtt.services/realms/dx/protocol/openid-connect/token",
            )
            .expect("static URL"),
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            timezone: "UTC".into(),
            zone: chrono_tz::UTC,
        }
    }
}

impl GttSettings {
    /// The OAuth2 client-credential keys that are not set.
    pub(super) fn missing_credentials(&self) -> Vec<&'static str> {
        [
            (self.client_id.is_none(), "gtt.client_id"),
            (self.client_secret.is_none(), "gtt.client_secret"),
        ]
        .into_iter()
        .filter_map(|(missing, key)| missing.then_some(key))
        .collect()
    }

    /// Read `client_secret_file`, parse the zone, check the URLs.
    pub(super) fn resolve(&mut self) -> Result<(), ConfigError> {
        self.client_secret = secret_or_file(
            &self.client_secret,
            &self.client_secret_file,
            "gtt.client_secret_file",
        )?;
        self.zone = self.timezone.parse().map_err(|_| {
            ConfigError::new(
                "gtt.timezone",
                "not an IANA time zone (e.g. UTC, Europe/London)",
            )
        })?;
        check_http_url("gtt.api_url", &self.api_url)?;
        check_http_url("gtt.auth_url", &self.auth_url)
    }
}
