//! Configuration: typed settings loaded from built-in defaults, one TOML file and
//! `GTT_GATEWAY_{SECTION}__{KEY}` environment overrides, validated once at load time.
//!
//! Secrets are [`SecretString`]s (redacted `Debug`, never serialized); durations, URLs, addresses
//! and time zones are parsed here, so the rest of the crate never sees raw strings for them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use figment::Figment;
use figment::error::Actual;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::webhook::token::{MAX_SEGMENT_BYTES, is_route_byte};

/// Prefix of every environment override, e.g. `GTT_GATEWAY_NATS__URL`.
pub const ENV_PREFIX: &str = "GTT_GATEWAY_";
/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "GTT_GATEWAY_CONFIG";
/// Shortest accepted callback secret, in bytes: the capability token is only as strong as it.
pub const MIN_SECRET_BYTES: usize = 16;

/// A configuration problem, always naming the offending key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    /// Dotted key, e.g. `server.listen`.
    pub key: String,
    /// What is wrong with it (never the secret value itself).
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Every setting of the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub nats: NatsSettings,
    #[serde(default)]
    pub callbacks: CallbackSettings,
    #[serde(default)]
    pub gtt: GttSettings,
    /// GTT namespaces (tenants) whose callbacks are accepted.
    #[serde(default)]
    pub namespaces: Vec<NamespaceEntry>,
    /// Webhook subscriptions the registrar keeps in place, per namespace.
    #[serde(default = "default_subscriptions")]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub registrar: RegistrarSettings,
    #[serde(default)]
    pub reconcile: ReconcileSettings,
    #[serde(default)]
    pub log: LogSettings,
}

/// `[server]`: the HTTP listener and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Largest accepted callback body; larger ones get `413`.
    pub max_body_bytes: usize,
    /// Callbacks processed at once; more get `429` with `Retry-After`.
    pub max_in_flight: usize,
    /// Whole-request deadline, from the complete request head to the answer (reading the body,
    /// checking it, storing the event); must exceed `nats.publish_timeout`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Bound on graceful shutdown: finish in-flight requests and drain NATS within it.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// A request head (request line and headers) must arrive within this, counted from the
    /// connection's accept, or from the first byte of a next request on a kept-alive connection.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request is closed after this.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Open connections at most; at the cap, the connection waiting longest for a request is
    /// closed to make room (lowered to what the open-files limit allows).
    pub max_connections: usize,
    /// Largest request head (request line and headers); larger ones get `431`.
    pub max_header_bytes: usize,
    /// Most header fields in a request head; more get `431`.
    pub max_headers: usize,
    /// After an answer given before the whole body was read (`413`, `401`, ...), up to this
    /// many bytes of the rest are read and discarded, so that a sender that writes its whole
    /// body before reading gets the answer; then the connection is closed.
    pub max_drain_bytes: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            // 1 MiB less room for message headers: a body this large still fits NATS's
            // default max_payload (1 MiB) as a dead letter.
            max_body_bytes: 1024 * 1024 - crate::publish::MESSAGE_HEADROOM,
            max_in_flight: 1024,
            request_timeout: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(20),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 2048,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_drain_bytes: 8 * 1024 * 1024,
        }
    }
}

/// `[nats]`: the JetStream connection, the stream and the state bucket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSettings {
    /// Server URL(s): one URL, a comma-separated list, or a TOML array (a cluster's nodes).
    pub url: NatsUrls,
    /// JetStream stream holding every event.
    pub stream: String,
    /// First subject token; the stream captures `{subject_prefix}.>`.
    pub subject_prefix: String,
    /// Create or update the stream and the bucket at startup (else only check that they exist,
    /// and change nothing the operator set).
    pub manage_stream: bool,
    /// JetStream duplicate window: retries and webhook/poll overlaps inside it are stored once.
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// Longest wait for a PubAck before answering `503`.
    #[serde(with = "humantime_serde")]
    pub publish_timeout: Duration,
    /// Stream retention by age (`0s` keeps forever).
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Stream size limit (`0` = none of its own). When full, new events are refused (`503`),
    /// never older ones deleted.
    pub max_bytes: ByteSize,
    /// Size limit of the ticket-state bucket (`0` = none of its own).
    pub state_max_bytes: ByteSize,
    /// Replicas of the stream and the state bucket (1 for a single server, 3 for a cluster).
    pub replicas: usize,
    /// `/readyz` turns `503` only once publishing has failed (or NATS been unreachable) for this
    /// long without a break: a stream-leader election does not take every replica out.
    #[serde(with = "humantime_serde")]
    pub unready_after: Duration,
    /// Optional NATS credentials file (`.creds`).
    pub credentials_file: Option<PathBuf>,
    /// JetStream key-value bucket with the last state of every ticket, watermarks and leases.
    pub state_bucket: String,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: NatsUrls(vec!["nats://127.0.0.1:4222".into()]),
            stream: "GTT_EVENTS".into(),
            subject_prefix: "gtt".into(),
            manage_stream: true,
            duplicate_window: Duration::from_secs(3600),
            publish_timeout: Duration::from_secs(5),
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: ByteSize::gib(1),
            state_max_bytes: ByteSize::mib(256),
            replicas: 1,
            unready_after: Duration::from_secs(20),
            credentials_file: None,
            state_bucket: "GTT_STATE".into(),
        }
    }
}

/// `nats.url`: the NATS servers to connect to (any one of them will do; the client moves to
/// another when its server goes away).
#[derive(Clone, PartialEq, Eq)]
pub struct NatsUrls(Vec<String>);

impl NatsUrls {
    /// The URLs, in the configured order.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The first URL (for tools that talk to one server).
    pub fn first(&self) -> &str {
        self.0.first().map_or("", String::as_str)
    }

    /// Check that every entry is a NATS URL; the error names the bad entry (password hidden).
    fn validate(&self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            return Err(ConfigError::new(
                "nats.url",
                "must name at least one server",
            ));
        }
        for (i, entry) in self.0.iter().enumerate() {
            let key = format!("nats.url[{i}]");
            let addr: async_nats::ServerAddr = entry.parse().map_err(|e: std::io::Error| {
                ConfigError::new(
                    &key,
                    format!("{} is not a NATS server URL ({e})", redact_url(entry)),
                )
            })?;
            if addr.host().is_empty() {
                return Err(ConfigError::new(
                    key,
                    format!("{} names no host", redact_url(entry)),
                ));
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for NatsUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|u| redact_url(u)))
            .finish()
    }
}

impl std::fmt::Display for NatsUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self.0.iter().map(|u| redact_url(u)).collect();
        f.write_str(&shown.join(","))
    }
}

impl<'de> Deserialize<'de> for NatsUrls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "a URL, a comma-separated list of URLs, or an array"
        )]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let entries = match OneOrMany::deserialize(deserializer)? {
            OneOrMany::One(text) => vec![text],
            OneOrMany::Many(list) => list,
        };
        Ok(Self(
            entries
                .iter()
                .flat_map(|e| e.split(','))
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
}

/// A URL for messages: any password in it replaced by `***`.
fn redact_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(_) => text.to_string(),
        // Unparsable: show only what cannot be a password (no `user:pass@`).
        Err(_) => match text.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => text.to_string(),
        },
    }
}

/// `[callbacks]`: how GTT reaches us and how its calls are authenticated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackSettings {
    /// Base URL GTT calls, e.g. `https://hooks.example.com` (the registrar appends the paths).
    pub public_url: Option<Url>,
    /// Key of the capability tokens in callback URLs (at least 16 bytes).
    pub secret: Option<SecretString>,
    /// File holding `secret` (used when `secret` is not set).
    pub secret_file: Option<PathBuf>,
    /// Former secrets, still accepted during a rotation (a single string is one secret).
    #[serde(deserialize_with = "secret_list")]
    pub previous_secrets: Vec<SecretString>,
    /// Optional body signatures, the default for every namespace.
    pub signature: SignatureSettings,
}

impl CallbackSettings {
    /// The current secret followed by the previous ones (validated non-empty by [`Settings::load`]).
    pub fn all_secrets(&self) -> Vec<SecretString> {
        self.secret
            .iter()
            .chain(self.previous_secrets.iter())
            .cloned()
            .collect()
    }
}

/// Body signature scheme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureScheme {
    /// Capability token only.
    #[default]
    None,
    /// Standard Webhooks 1.0 (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks,
    /// HMAC-SHA256 of the body in one header.
    Hmac,
}

/// Encoding of a generic HMAC signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

/// `[callbacks.signature]` (or a namespace's own `signature` table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignatureSettings {
    pub scheme: SignatureScheme,
    /// Keys; several = rotation. `whsec_...` for Standard Webhooks (a single string is one key).
    #[serde(deserialize_with = "secret_list")]
    pub secrets: Vec<SecretString>,
    /// Header carrying the signature (hmac scheme).
    pub header: String,
    /// `hex` or `base64` (hmac scheme).
    pub encoding: SignatureEncoding,
    /// Text before the signature, e.g. `sha256=` (hmac scheme).
    pub prefix: Option<String>,
    /// Accepted clock difference for `webhook-timestamp` (Standard Webhooks).
    #[serde(with = "humantime_serde")]
    pub tolerance: Duration,
}

impl Default for SignatureSettings {
    fn default() -> Self {
        Self {
            scheme: SignatureScheme::None,
            secrets: Vec::new(),
            header: "x-gtt-signature".into(),
            encoding: SignatureEncoding::Hex,
            prefix: None,
            tolerance: Duration::from_secs(300),
        }
    }
}

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

/// One entry of `namespaces`: a bare name, or a table with its own signature settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NamespaceEntry {
    Name(String),
    Table {
        name: String,
        #[serde(default)]
        signature: Option<SignatureSettings>,
    },
}

impl NamespaceEntry {
    pub fn name(&self) -> &str {
        match self {
            NamespaceEntry::Name(name) | NamespaceEntry::Table { name, .. } => name,
        }
    }

    /// This namespace's signature settings, falling back to `callbacks.signature`.
    pub fn signature<'a>(&'a self, default: &'a SignatureSettings) -> &'a SignatureSettings {
        match self {
            NamespaceEntry::Table {
                signature: Some(signature),
                ..
            } => signature,
            _ => default,
        }
    }
}

/// One webhook subscription: GTT calls us when `action` happens to a `kind` resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub kind: String,
    pub version: String,
    pub action: String,
}

fn default_subscriptions() -> Vec<Subscription> {
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

/// Log output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (production).
    #[default]
    Json,
    /// Human-readable lines (local runs).
    Pretty,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. `info` or `gtt_gateway=debug,info`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".into(),
        }
    }
}

impl Settings {
    /// Load from `path` (or `GTT_GATEWAY_CONFIG`, or nothing) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
        let mut figment = Figment::new();
        if let Some(path) = &path {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("no such file: {}", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).ignore(&["config"]).split("__"));
        Self::from_figment(figment)
    }

    /// Load from TOML text alone (tests and tools; no environment).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let mut settings: Settings = figment.extract().map_err(figment_error)?;
        settings.resolve_files()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Read the `*_file` secrets into their values.
    fn resolve_files(&mut self) -> Result<(), ConfigError> {
        if self.callbacks.secret.is_none()
            && let Some(path) = &self.callbacks.secret_file
        {
            self.callbacks.secret = Some(read_secret_file("callbacks.secret_file", path)?);
        }
        if self.gtt.client_secret.is_none()
            && let Some(path) = &self.gtt.client_secret_file
        {
            self.gtt.client_secret = Some(read_secret_file("gtt.client_secret_file", path)?);
        }
        Ok(())
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        self.gtt.zone = self.gtt.timezone.parse().map_err(|_| {
            ConfigError::new(
                "gtt.timezone",
                "not an IANA time zone (e.g. UTC, Europe/London)",
            )
        })?;
        let Some(secret) = &self.callbacks.secret else {
            return Err(ConfigError::new(
                "callbacks.secret",
                "missing: set callbacks.secret, callbacks.secret_file or GTT_GATEWAY_CALLBACKS__SECRET",
            ));
        };
        check_secret_len("callbacks.secret", secret)?;
        for (i, secret) in self.callbacks.previous_secrets.iter().enumerate() {
            check_secret_len(&format!("callbacks.previous_secrets[{i}]"), secret)?;
        }
        if let Some(url) = &self.callbacks.public_url {
            check_http_url("callbacks.public_url", url)?;
        }
        check_http_url("gtt.api_url", &self.gtt.api_url)?;
        check_http_url("gtt.auth_url", &self.gtt.auth_url)?;
        check_token("nats.stream", &self.nats.stream, is_route_char)?;
        check_token("nats.subject_prefix", &self.nats.subject_prefix, |c| {
            c.is_ascii_graphic() && !matches!(c, '.' | '*' | '>')
        })?;
        self.nats.url.validate()?;
        if self.nats.publish_timeout.is_zero() {
            return Err(ConfigError::new(
                "nats.publish_timeout",
                "must be above zero",
            ));
        }
        if self.server.request_timeout <= self.nats.publish_timeout {
            return Err(ConfigError::new(
                "server.request_timeout",
                "must be longer than nats.publish_timeout",
            ));
        }
        if self.server.max_in_flight == 0 {
            return Err(ConfigError::new(
                "server.max_in_flight",
                "must be at least 1",
            ));
        }
        if self.server.max_body_bytes == 0 {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            (
                "server.header_read_timeout",
                self.server.header_read_timeout,
            ),
            ("server.idle_timeout", self.server.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(key, "must be above zero"));
            }
        }
        for (key, value, min) in [
            ("server.max_connections", self.server.max_connections, 1),
            (
                "server.max_header_bytes",
                self.server.max_header_bytes,
                1024,
            ),
            ("server.max_headers", self.server.max_headers, 8),
        ] {
            if value < min {
                return Err(ConfigError::new(key, format!("must be at least {min}")));
            }
        }
        if self.nats.replicas == 0 || self.nats.replicas > 5 {
            return Err(ConfigError::new("nats.replicas", "must be between 1 and 5"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, ns) in self.namespaces.iter().enumerate() {
            let key = format!("namespaces[{i}]");
            check_token(&key, ns.name(), is_route_char)?;
            if !seen.insert(ns.name()) {
                return Err(ConfigError::new(key, "namespace listed twice"));
            }
            if let NamespaceEntry::Table {
                signature: Some(signature),
                ..
            } = ns
            {
                crate::webhook::auth::build_verifier(signature)
                    .map_err(|e| ConfigError::new(format!("{key}.signature"), e.to_string()))?;
            }
        }
        crate::webhook::auth::build_verifier(&self.callbacks.signature)
            .map_err(|e| ConfigError::new("callbacks.signature", e.to_string()))?;
        for (i, sub) in self.subscriptions.iter().enumerate() {
            for (field, value) in [
                ("kind", &sub.kind),
                ("version", &sub.version),
                ("action", &sub.action),
            ] {
                check_token(&format!("subscriptions[{i}].{field}"), value, is_route_char)?;
            }
        }
        check_token("registrar.name_prefix", &self.registrar.name_prefix, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
        })?;
        if self.registrar.interval < Duration::from_secs(1) {
            return Err(ConfigError::new(
                "registrar.interval",
                "must be at least 1s",
            ));
        }
        if self.reconcile.interval < Duration::from_millis(100) {
            return Err(ConfigError::new(
                "reconcile.interval",
                "must be at least 100ms",
            ));
        }
        if !(1..=500).contains(&self.reconcile.page_size) {
            return Err(ConfigError::new(
                "reconcile.page_size",
                "must be between 1 and 500",
            ));
        }
        if self.reconcile.lease_ttl <= self.reconcile.interval {
            return Err(ConfigError::new(
                "reconcile.lease_ttl",
                "must be longer than reconcile.interval",
            ));
        }
        if self.reconcile.max_requests_per_second == 0 {
            return Err(ConfigError::new(
                "reconcile.max_requests_per_second",
                "must be at least 1",
            ));
        }
        check_token("nats.state_bucket", &self.nats.state_bucket, is_route_char)?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::new("log.level", e.to_string()))?;
        Ok(())
    }

    /// What keeps the poller from running although enabled: the missing keys, if any.
    pub fn reconcile_missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.gtt.client_id.is_none() {
            missing.push("gtt.client_id");
        }
        if self.gtt.client_secret.is_none() {
            missing.push("gtt.client_secret");
        }
        missing
    }

    /// What keeps the registrar from running although enabled: the missing keys, if any.
    pub fn registrar_missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.callbacks.public_url.is_none() {
            missing.push("callbacks.public_url");
        }
        if self.gtt.client_id.is_none() {
            missing.push("gtt.client_id");
        }
        if self.gtt.client_secret.is_none() {
            missing.push("gtt.client_secret");
        }
        missing
    }

    /// The configured namespace called `name`, if any.
    pub fn namespace(&self, name: &str) -> Option<&NamespaceEntry> {
        self.namespaces.iter().find(|ns| ns.name() == name)
    }
}

fn figment_error(error: figment::Error) -> ConfigError {
    use figment::error::Kind;
    let key = if error.path.is_empty() {
        "(top level)".to_string()
    } else {
        error.path.join(".")
    };
    // Never echo a value: any key may hold a secret (a list of secrets given as one string, an
    // all-digit secret read as a number, a secret on a line with a TOML syntax error), so only
    // types, expectations and key names are described.
    let message = match error.kind {
        Kind::InvalidType(actual, expected) => {
            let mut message = format!("expected {expected}, found {}", describe(&actual));
            if matches!(
                actual,
                Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_)
            ) && expected.contains("string")
            {
                message.push_str(
                    " (a value of only digits is read as a number: quote it, or use a *_file key)",
                );
            }
            message
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value ({}): expected {expected}", describe(&actual))
        }
        Kind::InvalidLength(len, expected) => format!("{len} entries, expected {expected}"),
        Kind::UnknownVariant(_, expected) => {
            format!("unknown value: expected one of {}", expected.join(", "))
        }
        Kind::UnknownField(field, _) => format!("unknown key `{field}`"),
        Kind::MissingField(field) => format!("missing key `{field}`"),
        Kind::DuplicateField(field) => format!("key `{field}` given twice"),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".into(),
        Kind::Unsupported(actual) | Kind::UnsupportedKey(actual, _) => {
            format!("unsupported {}", describe(&actual))
        }
        // At the top level, a message is the TOML parser's, which quotes the offending line:
        // keep only its position.
        Kind::Message(message) if error.path.is_empty() => message
            .lines()
            .next()
            .filter(|line| line.starts_with("TOML parse error at line"))
            .map_or("not valid TOML".into(), |line| {
                format!("not valid TOML: {}", &line["TOML parse error ".len()..])
            }),
        // Elsewhere messages come from typed (non-secret) parsers and name no value.
        Kind::Message(message) => message,
    };
    ConfigError::new(key, message)
}

/// The type of a configured value, never the value itself.
fn describe(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map | Actual::StructVariant => "a table",
        Actual::NewtypeStruct
        | Actual::Enum
        | Actual::UnitVariant
        | Actual::NewtypeVariant
        | Actual::TupleVariant
        | Actual::Other(_) => "a value of another type",
    }
}

/// A list of secrets, also accepted as one string (one secret; never split on commas): the
/// natural way to put a single key into an environment variable or a Kubernetes Secret.
fn secret_list<'de, D>(deserializer: D) -> Result<Vec<SecretString>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(SecretString),
        Many(Vec<SecretString>),
    }
    match OneOrMany::deserialize(deserializer) {
        Ok(OneOrMany::One(secret)) => Ok(vec![secret]),
        Ok(OneOrMany::Many(secrets)) => Ok(secrets),
        Err(_) => Err(serde::de::Error::custom(
            "expected a string or a list of strings",
        )),
    }
}

fn read_secret_file(key: &str, path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))?;
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

fn check_secret_len(key: &str, secret: &SecretString) -> Result<(), ConfigError> {
    if secret.expose_secret().len() < MIN_SECRET_BYTES {
        return Err(ConfigError::new(
            key,
            format!("too short: use at least {MIN_SECRET_BYTES} random bytes"),
        ));
    }
    Ok(())
}

fn check_http_url(key: &str, url: &Url) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(key, "must be an http(s) URL with a host"));
    }
    Ok(())
}

/// A name that becomes a path segment, subject token or key token: 1 to 64 bytes of `allowed`.
fn check_token(key: &str, value: &str, allowed: impl Fn(char) -> bool) -> Result<(), ConfigError> {
    if value.is_empty() || value.len() > MAX_SEGMENT_BYTES || !value.chars().all(allowed) {
        return Err(ConfigError::new(
            key,
            format!(
                "{value:?} is not a valid name here (1-{MAX_SEGMENT_BYTES} letters, digits, '-' or '_')"
            ),
        ));
    }
    Ok(())
}

/// A character of a callback route segment (see [`is_route_segment`](crate::webhook::token::is_route_segment)).
fn is_route_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(is_route_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        namespaces = ["142033"]
        [callbacks]
        secret = "0123456789abcdef0123456789abcdef"
    "#;

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let s = Settings::from_toml(MINIMAL).unwrap();
        assert_eq!(s.server.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(s.server.max_body_bytes, 1_044_480);
        assert_eq!(s.nats.url.as_slice(), ["nats://127.0.0.1:4222"]);
        assert_eq!(s.nats.max_bytes, ByteSize::gib(1));
        assert_eq!(s.nats.state_max_bytes, ByteSize::mib(256));
        assert_eq!(s.nats.unready_after, Duration::from_secs(20));
        assert_eq!(s.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.server.idle_timeout, Duration::from_secs(75));
        assert_eq!(s.server.max_connections, 2048);
        assert_eq!(s.server.max_header_bytes, 16 * 1024);
        assert_eq!(s.server.max_headers, 100);
        assert_eq!(s.server.max_drain_bytes, 8 * 1024 * 1024);
        assert_eq!(s.nats.stream, "GTT_EVENTS");
        assert_eq!(s.nats.subject_prefix, "gtt");
        assert!(s.nats.manage_stream);
        assert_eq!(s.nats.duplicate_window, Duration::from_secs(3600));
        assert_eq!(s.subscriptions.len(), 2);
        assert_eq!(s.subscriptions[1].action, "update");
        assert_eq!(s.gtt.zone, chrono_tz::UTC);
        assert_eq!(s.callbacks.signature.scheme, SignatureScheme::None);
        assert_eq!(s.callbacks.signature.tolerance, Duration::from_secs(300));
    }

    #[test]
    fn durations_zones_and_namespace_tables_parse() {
        let s = Settings::from_toml(
            r#"
            namespaces = ["1", { name = "2", signature = { scheme = "hmac", secrets = ["k-0123456789abcdef"], prefix = "sha256=" } }]
            [callbacks]
            secret = "0123456789abcdef0123456789abcdef"
            [nats]
            duplicate_window = "2m"
            [gtt]
            timezone = "Europe/London"
            "#,
        )
        .unwrap();
        assert_eq!(s.nats.duplicate_window, Duration::from_secs(120));
        assert_eq!(s.gtt.zone, chrono_tz::Europe::London);
        let sig = s.namespaces[1].signature(&s.callbacks.signature);
        assert_eq!(sig.scheme, SignatureScheme::Hmac);
        assert_eq!(
            s.namespaces[0].signature(&s.callbacks.signature).scheme,
            SignatureScheme::None
        );
    }

    fn err_key(text: &str) -> String {
        Settings::from_toml(text).unwrap_err().key
    }

    #[test]
    fn errors_name_the_offending_key() {
        assert_eq!(err_key("[callbacks]\n"), "callbacks.secret");
        assert_eq!(
            err_key(&format!("{MINIMAL}\n[server]\nlisten = \"nope\"\n")),
            "server.listen"
        );
        assert_eq!(
            err_key(&format!("{MINIMAL}\n[nats]\nduplicate_window = \"soon\"\n")),
            "nats.duplicate_window"
        );
        assert_eq!(
            err_key(&format!("{MINIMAL}\n[gtt]\ntimezone = \"Mars/Olympus\"\n")),
            "gtt.timezone"
        );
        assert_eq!(
            err_key(&format!("{MINIMAL}\n[server]\nlisten_on = \"x\"\n")),
            "server.listen_on"
        );
        assert_eq!(
            err_key("[callbacks]\nsecret = \"short\"\n"),
            "callbacks.secret"
        );
        assert_eq!(
            err_key(&format!("{MINIMAL}\n[nats]\nsubject_prefix = \"a.b\"\n")),
            "nats.subject_prefix"
        );
        assert_eq!(
            err_key(&format!(
                "{MINIMAL}\n[callbacks.signature]\nscheme = \"standard-webhooks\"\n"
            )),
            "callbacks.signature"
        );
        for (key, value) in [
            ("header_read_timeout", "\"0s\""),
            ("idle_timeout", "\"0s\""),
            ("max_connections", "0"),
            ("max_header_bytes", "512"),
            ("max_headers", "2"),
        ] {
            assert_eq!(
                err_key(&format!("{MINIMAL}\n[server]\n{key} = {value}\n")),
                format!("server.{key}")
            );
        }
    }

    #[test]
    fn nats_url_takes_one_url_a_list_or_an_array() {
        let urls = |value: &str| {
            Settings::from_toml(&format!("{MINIMAL}\n[nats]\nurl = {value}\n"))
                .map(|s| s.nats.url.as_slice().to_vec())
        };
        assert_eq!(urls(r#""nats://a:4222""#).unwrap(), ["nats://a:4222"]);
        assert_eq!(
            urls(r#""nats://a:4222, nats://b:4222,nats://c:4222""#).unwrap(),
            ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
        );
        assert_eq!(
            urls(r#"["nats://a:4222", "tls://b:4222"]"#).unwrap(),
            ["nats://a:4222", "tls://b:4222"]
        );
        let bad = urls(r#"["nats://a:4222", "nats://b:port"]"#).unwrap_err();
        assert_eq!(bad.key, "nats.url[1]");
        let bad = urls(r#""nats://a:4222,http://b:4222""#).unwrap_err();
        assert_eq!(bad.key, "nats.url[1]");
        assert_eq!(urls(r#""""#).unwrap_err().key, "nats.url");
        // A password in a URL never shows in an error or in Debug output.
        let bad = urls(r#""nats://user:s3cret-pw@a:port""#).unwrap_err();
        assert!(!bad.to_string().contains("s3cret-pw"), "{bad}");
        let ok = Settings::from_toml(&format!(
            "{MINIMAL}\n[nats]\nurl = \"nats://user:s3cret-pw@a:4222\"\n"
        ))
        .unwrap();
        assert!(!format!("{ok:?}").contains("s3cret-pw"));
        assert!(!ok.nats.url.to_string().contains("s3cret-pw"));
    }

    #[test]
    fn storage_limits_take_sizes_with_units() {
        let s = Settings::from_toml(&format!(
            "{MINIMAL}\n[nats]\nmax_bytes = \"2GiB\"\nstate_max_bytes = 1048576\n"
        ))
        .unwrap();
        assert_eq!(s.nats.max_bytes, ByteSize::gib(2));
        assert_eq!(s.nats.state_max_bytes, ByteSize::mib(1));
        let e = Settings::from_toml(&format!("{MINIMAL}\n[nats]\nmax_bytes = \"lots\"\n"));
        assert_eq!(e.unwrap_err().key, "nats.max_bytes");
    }

    #[test]
    fn route_segments_and_subject_tokens_are_checked() {
        const SECRET: &str = "[callbacks]\nsecret = \"0123456789abcdef0123456789abcdef\"\n";
        let long = "x".repeat(65);
        let sub = |field: &str, value: &str| {
            let mut fields = [
                ("kind", "case"),
                ("version", "v1alpha"),
                ("action", "create"),
            ];
            fields.iter_mut().find(|f| f.0 == field).unwrap().1 = value;
            let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
            format!("{SECRET}[[subscriptions]]\n{}\n", fields.join("\n"))
        };
        let cases = [
            (
                format!("namespaces = [\"1\", \"a b\"]\n{SECRET}"),
                "namespaces[1]",
            ),
            (format!("namespaces = [\"a:b\"]\n{SECRET}"), "namespaces[0]"),
            (format!("namespaces = [\"\"]\n{SECRET}"), "namespaces[0]"),
            (
                format!("namespaces = [{long:?}]\n{SECRET}"),
                "namespaces[0]",
            ),
            (
                format!("namespaces = [{{ name = \"é\" }}]\n{SECRET}"),
                "namespaces[0]",
            ),
            (sub("kind", &long), "subscriptions[0].kind"),
            (sub("action", "up:date"), "subscriptions[0].action"),
            (
                format!("{SECRET}[nats]\nsubject_prefix = {long:?}\n"),
                "nats.subject_prefix",
            ),
            (
                format!("{SECRET}[nats]\nstate_bucket = {long:?}\n"),
                "nats.state_bucket",
            ),
        ];
        for (text, key) in cases {
            assert_eq!(err_key(&text), key, "{text}");
        }
        let ok = format!(
            "namespaces = [\"142033\", \"a-b_C\", \"{}\"]\n{SECRET}",
            "x".repeat(64)
        );
        Settings::from_toml(&ok).unwrap();
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = Settings::from_toml(MINIMAL).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
    }

    #[test]
    fn secret_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "fedcba9876543210fedcba9876543210\n").unwrap();
        let s = Settings::from_toml(&format!(
            "[callbacks]\nsecret_file = {:?}\n",
            path.display().to_string()
        ))
        .unwrap();
        assert_eq!(
            s.callbacks.secret.unwrap().expose_secret(),
            "fedcba9876543210fedcba9876543210"
        );
    }
}
