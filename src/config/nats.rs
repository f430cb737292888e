//! `[nats]`: the servers to connect to (with TLS and credentials, see [`nats_auth`](super::nats_auth)),
//! the event stream, the state bucket, their limits.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::nats_auth::{self, NatsAuth, NatsTls};
use super::{ConfigError, check_token, is_route_char};

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
    /// JetStream key-value bucket with the last state of every ticket, watermarks and leases.
    pub state_bucket: String,
    /// Stream keeping the dead letters (sourced from the event stream) for longer than events.
    pub deadletter_stream: String,
    /// Retention of the dead-letter stream (`0s` keeps forever).
    #[serde(with = "humantime_serde")]
    pub deadletter_max_age: Duration,
    /// Size limit of the dead-letter stream (`0` = none of its own).
    pub deadletter_max_bytes: ByteSize,
    /// TLS to the servers.
    pub tls: NatsTls,
    /// User name (with `password`).
    pub user: Option<String>,
    pub password: Option<SecretString>,
    /// File holding `password` (used when `password` is not set).
    pub password_file: Option<PathBuf>,
    pub token: Option<SecretString>,
    /// File holding `token` (used when `token` is not set).
    pub token_file: Option<PathBuf>,
    /// File holding a user nkey seed (`SU...`).
    pub nkey_seed_file: Option<PathBuf>,
    /// NATS credentials file (`.creds`: a user JWT and its nkey seed).
    pub credentials_file: Option<PathBuf>,
    /// The authentication method these keys describe, read at load.
    #[serde(skip)]
    pub auth: NatsAuth,
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
            state_bucket: "GTT_STATE".into(),
            deadletter_stream: "GTT_DEADLETTERS".into(),
            deadletter_max_age: Duration::from_secs(30 * 24 * 3600),
            deadletter_max_bytes: ByteSize::gib(1),
            tls: NatsTls::default(),
            user: None,
            password: None,
            password_file: None,
            token: None,
            token_file: None,
            nkey_seed_file: None,
            credentials_file: None,
            auth: NatsAuth::None,
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

impl NatsSettings {
    /// Check every key, read the TLS and credential files.
    pub(super) fn validate(&mut self) -> Result<(), ConfigError> {
        self.url.validate()?;
        self.tls.validate()?;
        self.auth = nats_auth::resolve(self)?;
        check_token("nats.stream", &self.stream, is_route_char)?;
        check_token("nats.subject_prefix", &self.subject_prefix, |c| {
            c.is_ascii_graphic() && !matches!(c, '.' | '*' | '>')
        })?;
        check_token("nats.state_bucket", &self.state_bucket, is_route_char)?;
        check_token(
            "nats.deadletter_stream",
            &self.deadletter_stream,
            is_route_char,
        )?;
        if [self.stream.clone(), format!("KV_{}", self.state_bucket)]
            .contains(&self.deadletter_stream)
        {
            return Err(ConfigError::new(
                "nats.deadletter_stream",
                "must differ from nats.stream and from the state bucket's stream (KV_{nats.state_bucket})",
            ));
        }
        if self.publish_timeout.is_zero() {
            return Err(ConfigError::new(
                "nats.publish_timeout",
                "must be above zero",
            ));
        }
        if self.replicas == 0 || self.replicas > 5 {
            return Err(ConfigError::new("nats.replicas", "must be between 1 and 5"));
        }
        Ok(())
    }
}
