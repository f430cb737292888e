//! What `gtt-gateway status` reads from NATS, read only: each store's size against its limits,
//! a namespace's last event, and the poller's state in the bucket.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, context::GetStreamErrorKind, stream::LastRawMessageErrorKind};
use chrono::{DateTime, Utc};
use gtt_core::subjects::escape_token;
use serde::Serialize;

use super::Leases;
use super::bucket::Bucket;
use super::reader::utc;
use crate::config::NatsSettings;

/// One store (a stream) against its limits.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StoreUsage {
    /// `events`, `state` or `deadletters` (as in `gtt_gateway_storage_bytes{store}`).
    pub store: &'static str,
    pub stream: String,
    /// `false`: the stream does not exist (the other numbers are zero).
    pub exists: bool,
    pub messages: u64,
    pub bytes: u64,
    /// Its own size limit, if it has one.
    pub max_bytes: Option<u64>,
    /// Its retention, if it has one.
    #[serde(with = "humantime_serde")]
    pub max_age: Option<Duration>,
}

/// A namespace's newest event.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LastEvent {
    pub stored_at: DateTime<Utc>,
    pub subject: String,
}

/// NATS as an operator command sees it.
pub(crate) struct Inspector {
    js: jetstream::Context,
    client: async_nats::Client,
    settings: NatsSettings,
}

impl Inspector {
    pub(crate) fn new(client: async_nats::Client, settings: &NatsSettings) -> Self {
        Self {
            js: jetstream::new(client.clone()),
            client,
            settings: settings.clone(),
        }
    }

    pub(crate) fn jetstream(&self) -> jetstream::Context {
        self.js.clone()
    }

    /// The event stream, the bucket's stream and the dead-letter stream.
    pub(crate) async fn usage(&self) -> anyhow::Result<Vec<StoreUsage>> {
        let s = &self.settings;
        let mut usage = Vec::new();
        for (store, stream) in [
            ("events", s.stream.clone()),
            ("state", format!("KV_{}", s.state_bucket)),
            ("deadletters", s.deadletter_stream.clone()),
        ] {
            usage.push(self.store_usage(store, stream).await?);
        }
        Ok(usage)
    }

    async fn store_usage(&self, store: &'static str, stream: String) -> anyhow::Result<StoreUsage> {
        let info = match self.js.get_stream(&stream).await {
            Ok(found) => Some(found.cached_info().clone()),
            Err(e)
                if matches!(e.kind(), GetStreamErrorKind::JetStream(api)
                    if api.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                None
            }
            Err(e) => return Err(anyhow::anyhow!("stream {stream}: {e}")),
        };
        Ok(StoreUsage {
            store,
            exists: info.is_some(),
            messages: info.as_ref().map_or(0, |i| i.state.messages),
            bytes: info.as_ref().map_or(0, |i| i.state.bytes),
            max_bytes: info
                .as_ref()
                .and_then(|i| u64::try_from(i.config.max_bytes).ok()),
            max_age: info
                .as_ref()
                .map(|i| i.config.max_age)
                .filter(|age| !age.is_zero()),
            stream,
        })
    }

    /// The newest event of `namespace` in the event stream, if any.
    pub(crate) async fn last_event(&self, namespace: &str) -> anyhow::Result<Option<LastEvent>> {
        let stream = self
            .js
            .get_stream(&self.settings.stream)
            .await
            .with_context(|| format!("stream {}", self.settings.stream))?;
        let filter = format!(
            "{}.{}.>",
            self.settings.subject_prefix,
            escape_token(namespace)
        );
        match stream.get_last_raw_message_by_subject(&filter).await {
            Ok(message) => Ok(Some(LastEvent {
                stored_at: utc(message.time),
                subject: message.subject.to_string(),
            })),
            Err(e) if matches!(e.kind(), LastRawMessageErrorKind::NoMessageFound) => Ok(None),
            Err(e) => Err(anyhow::anyhow!("last event of {namespace}: {e}")),
        }
    }

    /// The poller's watermarks and leases (read only).
    pub(crate) async fn leases(&self) -> anyhow::Result<Leases> {
        let name = &self.settings.state_bucket;
        let store = self
            .js
            .get_key_value(name)
            .await
            .with_context(|| format!("bucket {name} (nats.state_bucket)"))?;
        let bucket = Bucket::default();
        bucket.attach(store, self.client.clone(), name);
        Ok(Leases::new(bucket))
    }
}
