//! The GTT REST client: paths under `/apis/{version}/namespaces/{namespace}/{kind}[/{name}]`,
//! bearer tokens from [`TokenSource`] (a `401` refreshes the token once and retries), timeouts,
//! typed errors and `gtt_gateway_gtt_requests_total{operation,status}`. Bodies are never logged.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use url::Url;

use super::oauth::{TokenError, TokenSource, transport_error};
use super::types::{ListPage, Webhook};
use crate::metrics::Metrics;

/// Timeout of one API request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Timeout for establishing a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// API version of webhook resources (GTT documents `/apis/v1/.../webhook`).
pub const WEBHOOK_VERSION: &str = "v1";
/// API version of case resources.
pub const CASE_VERSION: &str = "v1alpha";

/// A failed GTT call.
#[derive(Debug, thiserror::Error)]
pub enum GttError {
    #[error("no GTT token: {0}")]
    Token(#[from] TokenError),
    #[error("GTT refused the token (401) twice")]
    Unauthorized,
    #[error("GTT denied access to namespace (403)")]
    Forbidden,
    #[error("not found at GTT (404)")]
    NotFound,
    #[error("already exists at GTT (409)")]
    Conflict,
    #[error("GTT rejected the request ({0})")]
    Rejected(u16),
    #[error("GTT is unavailable ({0})")]
    Unavailable(String),
    #[error("unexpected answer from GTT: {0}")]
    Decode(String),
}

/// A typed GTT API client; cheap to clone.
#[derive(Clone, Debug)]
pub struct GttClient {
    http: reqwest::Client,
    api_url: Url,
    tokens: Arc<TokenSource>,
    metrics: Metrics,
}

/// One page of cases, each exactly as GTT sent it (its numbers' digits are part of its id).
pub type CasePage = ListPage<Box<RawValue>>;

impl GttClient {
    pub fn new(
        api_url: Url,
        tokens: Arc<TokenSource>,
        http: reqwest::Client,
        metrics: Metrics,
    ) -> Self {
        Self {
            http,
            api_url,
            tokens,
            metrics,
        }
    }

    /// The client `[gtt]` describes (API base, OAuth2 credentials), with its own token source.
    pub fn from_settings(settings: &crate::config::Settings, metrics: &Metrics) -> Self {
        let http = Self::http_client();
        let tokens = TokenSource::new(
            http.clone(),
            settings.gtt.auth_url.clone(),
            settings.gtt.client_id.clone(),
            settings.gtt.client_secret.clone(),
            metrics.clone(),
        );
        Self::new(
            settings.gtt.api_url.clone(),
            Arc::new(tokens),
            http,
            metrics.clone(),
        )
    }

    /// Use `client_secret` for tokens from now on (a reload).
    pub(crate) async fn set_client_secret(&self, client_secret: Option<SecretString>) {
        self.tokens.set_client_secret(client_secret).await;
    }

    /// The HTTP client shared by the token source and the API client.
    fn http_client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("gtt-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("static HTTP client settings are valid")
    }

    fn url(&self, version: &str, namespace: &str, kind: &str, name: Option<&str>) -> Url {
        let mut url = self.api_url.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .expect("gtt.api_url is an http(s) URL");
            segments.pop_if_empty();
            segments.extend(["apis", version, "namespaces", namespace, kind]);
            if let Some(name) = name {
                segments.push(name);
            }
        }
        url
    }

    /// Send with a bearer token; on 401 refresh the token once and retry.
    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, GttError> {
        let mut refreshed = false;
        loop {
            let token = self.tokens.token().await?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(secrecy::ExposeSecret::expose_secret(&token));
            if let Some(body) = body {
                request = request.json(body);
            }
            let result = request.send().await;
            let status_label = match &result {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) if e.is_timeout() => "timeout".to_string(),
                Err(_) => "error".to_string(),
            };
            self.metrics
                .gtt_requests
                .with_label_values(&[operation, &status_label])
                .inc();
            let response = result.map_err(|e| GttError::Unavailable(transport_error(&e)))?;
            match response.status() {
                StatusCode::UNAUTHORIZED if !refreshed => {
                    tracing::info!(operation, "GTT answered 401; refreshing the token once");
                    self.tokens.invalidate(&token).await;
                    refreshed = true;
                }
                StatusCode::UNAUTHORIZED => return Err(GttError::Unauthorized),
                StatusCode::FORBIDDEN => return Err(GttError::Forbidden),
                StatusCode::NOT_FOUND => return Err(GttError::NotFound),
                StatusCode::CONFLICT => return Err(GttError::Conflict),
                s if s.is_success() => return Ok(response),
                s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
                    return Err(GttError::Unavailable(format!("HTTP {}", s.as_u16())));
                }
                s => return Err(GttError::Rejected(s.as_u16())),
            }
        }
    }

    async fn json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, GttError> {
        response
            .json()
            .await
            .map_err(|e| GttError::Decode(e.without_url().to_string()))
    }

    async fn list<T: DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<ListPage<T>, GttError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GttError::Decode(e.without_url().to_string()))?;
        ListPage::from_slice(&bytes).map_err(|e| GttError::Decode(e.to_string()))
    }

    /// Every webhook of a namespace (following pages).
    pub async fn list_webhooks(&self, namespace: &str) -> Result<Vec<Webhook>, GttError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = self.url(WEBHOOK_VERSION, namespace, "webhook", None);
            if let Some(c) = &cursor {
                url.query_pairs_mut().append_pair("continue", c);
            }
            let response = self.send("list_webhooks", Method::GET, url, None).await?;
            let page: ListPage<Webhook> = Self::list(response).await?;
            all.extend(page.items);
            match page.next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }

    pub async fn create_webhook(
        &self,
        namespace: &str,
        webhook: &Webhook,
    ) -> Result<Webhook, GttError> {
        let url = self.url(WEBHOOK_VERSION, namespace, "webhook", None);
        let body = to_body(webhook)?;
        let response = self
            .send("create_webhook", Method::POST, url, Some(&body))
            .await?;
        Self::json(response).await
    }

    pub async fn update_webhook(
        &self,
        namespace: &str,
        webhook: &Webhook,
    ) -> Result<Webhook, GttError> {
        let url = self.url(WEBHOOK_VERSION, namespace, "webhook", Some(&webhook.name));
        let body = to_body(webhook)?;
        let response = self
            .send("update_webhook", Method::PUT, url, Some(&body))
            .await?;
        Self::json(response).await
    }

    pub async fn delete_webhook(&self, namespace: &str, name: &str) -> Result<(), GttError> {
        let url = self.url(WEBHOOK_VERSION, namespace, "webhook", Some(name));
        self.send("delete_webhook", Method::DELETE, url, None)
            .await?;
        Ok(())
    }

    /// One page of cases changed at or after `updated_since` (GTT's `YYYY-MM-DD HH:MM:SS`).
    pub async fn list_cases(
        &self,
        namespace: &str,
        updated_since: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<CasePage, GttError> {
        let mut url = self.url(CASE_VERSION, namespace, "case", None);
        {
            let mut query = url.query_pairs_mut();
            if let Some(since) = updated_since {
                query.append_pair("updated_since", since);
            }
            query.append_pair("limit", &limit.to_string());
            if let Some(c) = cursor {
                query.append_pair("continue", c);
            }
        }
        let response = self.send("list_cases", Method::GET, url, None).await?;
        Self::list(response).await
    }
}

fn to_body(value: &impl Serialize) -> Result<Value, GttError> {
    serde_json::to_value(value).map_err(|e| GttError::Decode(e.to_string()))
}
