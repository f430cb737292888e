//! Sandbox configuration: accepted OAuth2 clients, token lifetime, namespaces and delivery switches.

use std::time::Duration;

/// Everything the sandbox needs to start. `Default` gives one client
/// (`sandbox-client` / `sandbox-secret`), 300 s tokens, namespace `142033` and a clean delivery.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// OAuth2 clients accepted by the token endpoint.
    pub clients: Vec<SandboxClient>,
    /// `expires_in` of issued tokens (GTT documents 300 s). Tokens really stop working after it.
    pub token_ttl: Duration,
    /// Namespaces that exist. Any other namespace answers 403.
    pub namespaces: Vec<String>,
    /// Webhook delivery behaviour (can be changed later with `Sandbox::set_delivery`).
    pub delivery: DeliveryConfig,
    /// Number of the first ticket (`CS` + 7 digits); the default is GTT's example, CS0074187.
    pub first_case_number: u64,
    /// Recurring outages, if any (as if [`Sandbox::set_available`](crate::Sandbox::set_available)
    /// were switched off and on by a clock).
    pub outages: Option<Outages>,
}

/// Recurring outages: every `every`, the sandbox is down for the last `lasting` of it (every
/// endpoint answers 503 and deliveries pause); `lasting` is capped at `every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outages {
    pub every: Duration,
    pub lasting: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            clients: vec![SandboxClient::new("sandbox-client", "sandbox-secret")],
            token_ttl: Duration::from_secs(300),
            namespaces: vec!["142033".to_owned()],
            delivery: DeliveryConfig::default(),
            first_case_number: super::store::FIRST_CASE_NUMBER,
            outages: None,
        }
    }
}

/// One OAuth2 client (client credentials grant).
#[derive(Clone, Debug)]
pub struct SandboxClient {
    pub client_id: String,
    pub client_secret: String,
    /// `None` = may use every existing namespace; `Some(list)` = only these, others get 403.
    pub namespaces: Option<Vec<String>>,
}

impl SandboxClient {
    /// A client allowed in every namespace.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            namespaces: None,
        }
    }

    /// Restrict the client to `namespaces`.
    pub fn with_namespaces<I, S>(mut self, namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.namespaces = Some(namespaces.into_iter().map(Into::into).collect());
        self
    }

    pub(crate) fn may_use(&self, namespace: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|n| n == namespace))
    }
}

/// How webhook callbacks are delivered. Rates are shares in `0.0..=1.0` (values outside are
/// clamped, NaN counts as 0). Each switch is rolled once per delivery (one change x one webhook).
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// `false` = never deliver webhooks (polling-only scenarios).
    pub enabled: bool,
    /// Share of deliveries lost entirely (never arrive, never retried); counted in `deliveries_dropped`.
    pub drop_rate: f64,
    /// Share of deliveries whose first attempt is lost in transit (the receiver never sees it);
    /// the attempt counts in `attempts_failed` and the delivery is retried after the backoff.
    pub drop_first_attempt_rate: f64,
    /// Share of deliveries sent twice (same `webhook-id`; the copy starts 50..250 ms later).
    pub duplicate_rate: f64,
    /// Share of deliveries held back until a later delivery has been sent (at most 2 s + `max_delay`).
    pub reorder_rate: f64,
    /// Random extra delay `0..max_delay` before each delivery's first attempt.
    pub max_delay: Duration,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Attempts per delivery (at least 1); retried on non-2xx, timeout or connection error.
    pub max_attempts: u32,
    /// Backoff before attempt n+1: `backoff_base * 2^(n-1)`, times a jitter in `0.5..1.5`, capped at 60 s.
    pub backoff_base: Duration,
    /// `Some("whsec_<base64>")` = sign with Standard Webhooks (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">`).
    pub signing_secret: Option<String>,
    /// Seed for the random switches (drop, duplicate, reorder, delay), for reproducible runs.
    pub seed: Option<u64>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            drop_rate: 0.0,
            drop_first_attempt_rate: 0.0,
            duplicate_rate: 0.0,
            reorder_rate: 0.0,
            max_delay: Duration::ZERO,
            timeout: Duration::from_secs(5),
            max_attempts: 8,
            backoff_base: Duration::from_millis(200),
            signing_secret: None,
            seed: None,
        }
    }
}

/// Clamp a rate to `0.0..=1.0`; NaN becomes 0.
pub(crate) fn clamp_rate(rate: f64) -> f64 {
    if rate.is_nan() {
        0.0
    } else {
        rate.clamp(0.0, 1.0)
    }
}
