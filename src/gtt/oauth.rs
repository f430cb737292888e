//! OAuth2 client-credentials tokens for the GTT API: fetched with HTTP Basic auth, cached,
//! refreshed [`REFRESH_MARGIN`] before expiry, one fetch at a time however many callers wait,
//! and backed off after failures. A reload replaces the client secret (and drops the cached
//! token). Neither the secret nor a token is ever logged.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use crate::backoff::Backoff;
use crate::metrics::Metrics;

/// Refresh this long before the token expires (GTT tokens live 300 s).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(30);
/// Timeout of one token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a first failed fetch, halved; doubles with each failure up to [`MAX_BACKOFF`].
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Why no token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("GTT client credentials are not configured (gtt.client_id, gtt.client_secret)")]
    NotConfigured,
    #[error("the token endpoint rejected the client credentials ({status}: {error})")]
    Rejected { status: u16, error: String },
    #[error("the token endpoint failed: {0}")]
    Unavailable(String),
    #[error("backing off after a failed token fetch ({0})")]
    BackingOff(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenErrorAnswer {
    #[serde(default)]
    error: String,
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

struct Cache {
    /// `gtt.client_secret`, as last (re)loaded.
    client_secret: Option<SecretString>,
    token: Option<Cached>,
    backoff: Backoff,
    retry_at: Option<Instant>,
    last_error: Option<TokenError>,
}

impl Cache {
    fn new(client_secret: Option<SecretString>) -> Self {
        Self {
            client_secret,
            token: None,
            backoff: Backoff::exact(BACKOFF_BASE, MAX_BACKOFF),
            retry_at: None,
            last_error: None,
        }
    }
}

/// A cached client-credentials token source.
pub struct TokenSource {
    http: reqwest::Client,
    auth_url: Url,
    client_id: Option<String>,
    cache: Mutex<Cache>,
    metrics: Metrics,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("auth_url", &self.auth_url.as_str())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(
        http: reqwest::Client,
        auth_url: Url,
        client_id: Option<String>,
        client_secret: Option<SecretString>,
        metrics: Metrics,
    ) -> Self {
        Self {
            http,
            auth_url,
            client_id,
            cache: Mutex::new(Cache::new(client_secret)),
            metrics,
        }
    }

    /// Use `client_secret` from now on: the cached token and any backoff are dropped, so the
    /// next call fetches a token with it.
    pub async fn set_client_secret(&self, client_secret: Option<SecretString>) {
        *self.cache.lock().await = Cache::new(client_secret);
    }

    /// A valid token: the cached one, or a fresh one (only one fetch runs at a time; the
    /// others wait for it and share its result).
    pub async fn token(&self) -> Result<SecretString, TokenError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = &cache.token
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        if let Some(retry_at) = cache.retry_at
            && Instant::now() < retry_at
        {
            let last = cache.last_error.as_ref().map(ToString::to_string);
            return Err(TokenError::BackingOff(last.unwrap_or_default()));
        }
        match self.fetch(cache.client_secret.as_ref()).await {
            Ok((token, lifetime)) => {
                self.metrics
                    .token_refreshes
                    .with_label_values(&["ok"])
                    .inc();
                let usable = lifetime.saturating_sub(REFRESH_MARGIN).max(lifetime / 2);
                cache.token = Some(Cached {
                    token: token.clone(),
                    refresh_at: Instant::now() + usable,
                });
                cache.backoff.reset();
                cache.retry_at = None;
                cache.last_error = None;
                tracing::debug!(lifetime_secs = lifetime.as_secs(), "GTT token refreshed");
                Ok(token)
            }
            Err(e) => {
                let outcome = match e {
                    TokenError::Rejected { .. } | TokenError::NotConfigured => "rejected",
                    _ => "error",
                };
                self.metrics
                    .token_refreshes
                    .with_label_values(&[outcome])
                    .inc();
                cache.token = None;
                let backoff = cache.backoff.fail();
                cache.retry_at = Some(Instant::now() + backoff);
                cache.last_error = Some(e.clone());
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "GTT token fetch failed");
                Err(e)
            }
        }
    }

    /// Forget `token` after GTT answered 401 with it, so the next call fetches a new one
    /// (unless another caller already replaced it).
    pub async fn invalidate(&self, token: &SecretString) {
        let mut cache = self.cache.lock().await;
        if cache
            .token
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == token.expose_secret())
        {
            cache.token = None;
        }
    }

    async fn fetch(
        &self,
        client_secret: Option<&SecretString>,
    ) -> Result<(SecretString, Duration), TokenError> {
        let (Some(id), Some(secret)) = (&self.client_id, client_secret) else {
            return Err(TokenError::NotConfigured);
        };
        let response = self
            .http
            .post(self.auth_url.clone())
            .basic_auth(id, Some(secret.expose_secret()))
            .form(&[("grant_type", "client_credentials")])
            .timeout(TOKEN_TIMEOUT)
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(transport_error(&e)))?;
        let status = response.status();
        if status.is_success() {
            let answer: TokenAnswer = response
                .json()
                .await
                .map_err(|_| TokenError::Unavailable("unreadable token answer".into()))?;
            let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300).max(1));
            return Ok((SecretString::from(answer.access_token), lifetime));
        }
        let error = response
            .json::<TokenErrorAnswer>()
            .await
            .map(|a| a.error)
            .unwrap_or_default();
        if status.is_client_error() {
            Err(TokenError::Rejected {
                status: status.as_u16(),
                error,
            })
        } else {
            Err(TokenError::Unavailable(format!("HTTP {}", status.as_u16())))
        }
    }
}

/// A transport error's kind, without the URL (which is not secret, but noisy) or any body.
pub(crate) fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "transport error".into()
    }
}
