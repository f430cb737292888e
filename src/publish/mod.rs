//! Publishing to NATS JetStream: the reconnecting client, the stream kept in the configured
//! shape, and a publish that only succeeds once JetStream has stored the message (PubAck).
//!
//! Publishes are independent futures: any number run at once (bounded by the HTTP in-flight
//! limit and `max_ack_inflight`), none waits for another.

pub mod subjects;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage, stream};
use async_nats::{ConnectOptions, HeaderMap};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::NatsSettings;
use crate::metrics::Metrics;
use crate::tickets::TicketStore;

/// Header carrying the dead-letter reason.
pub const REASON_HEADER: &str = "Gtt-Deadletter-Reason";
/// Content type of every event message.
pub const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
/// Longest pause between reconnect attempts to NATS.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// Pause between attempts to create or check the stream while it is not ready.
const STREAM_RETRY_DELAY: Duration = Duration::from_millis(500);

/// Why a publish did not end in a PubAck.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("NATS is not connected")]
    NotConnected,
    #[error("the JetStream stream is not ready")]
    StreamNotReady,
    #[error("no JetStream stream captures the subject")]
    StreamNotFound,
    #[error("no PubAck within the publish timeout")]
    Timeout,
    #[error("JetStream refused the publish: {0}")]
    Refused(String),
}

/// A stored message: JetStream's answer.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub sequence: u64,
    /// JetStream already held a message with this id (inside the duplicate window).
    pub duplicate: bool,
}

/// What to publish.
pub struct Outgoing<'a> {
    pub subject: String,
    /// Becomes `Nats-Msg-Id`.
    pub id: &'a str,
    pub headers: HeaderMap,
    pub payload: bytes::Bytes,
}

/// The JetStream side of the gateway.
#[derive(Clone)]
pub struct Publisher {
    client: async_nats::Client,
    js: jetstream::Context,
    settings: Arc<NatsSettings>,
    metrics: Metrics,
    stream_ready: Arc<AtomicBool>,
    reconnected: Arc<Notify>,
    tickets: TicketStore,
}

impl Publisher {
    /// Connect (retrying in the background if NATS is not up yet) and build the JetStream context.
    pub async fn connect(settings: &NatsSettings, metrics: Metrics) -> anyhow::Result<Self> {
        let reconnected = Arc::new(Notify::new());
        let events_metrics = metrics.clone();
        let events_notify = Arc::clone(&reconnected);
        let mut options = ConnectOptions::new()
            .name(concat!("gtt-gateway/", env!("CARGO_PKG_VERSION")))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .client_capacity(8192)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * attempts.min(20) as u64).min(MAX_RECONNECT_DELAY)
            })
            .event_callback(move |event| {
                let metrics = events_metrics.clone();
                let notify = Arc::clone(&events_notify);
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            metrics.nats_connected.set(1);
                            tracing::info!("NATS connected");
                            notify.notify_one();
                        }
                        async_nats::Event::Disconnected => {
                            metrics.nats_connected.set(0);
                            tracing::warn!("NATS disconnected; reconnecting");
                        }
                        other => tracing::info!(event = %other, "NATS client event"),
                    }
                }
            });
        if let Some(path) = &settings.credentials_file {
            options = options.credentials_file(path).await?;
        }
        let client = options.connect(settings.url.as_str()).await?;
        let js = jetstream::ContextBuilder::new()
            .timeout(settings.publish_timeout)
            .max_ack_inflight(65_536)
            .build(client.clone());
        Ok(Self {
            client,
            js,
            settings: Arc::new(settings.clone()),
            metrics,
            stream_ready: Arc::new(AtomicBool::new(false)),
            reconnected,
            tickets: TicketStore::default(),
        })
    }

    /// Whether NATS is connected and the stream is in place.
    pub fn is_ready(&self) -> bool {
        self.is_connected() && self.stream_ready.load(Ordering::Acquire)
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The stream's desired configuration.
    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.settings.stream.clone(),
            subjects: vec![subjects::stream_filter(&self.settings.subject_prefix)],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            duplicate_window: self.settings.duplicate_window,
            max_age: self.settings.max_age,
            num_replicas: self.settings.replicas,
            description: Some("GTT EnvisionDX events published by gtt-gateway".into()),
            ..Default::default()
        }
    }

    /// Create or update the stream (`manage_stream`), or check that it exists and captures our
    /// subjects. An error here is a configuration problem or NATS being unreachable.
    pub async fn ensure_stream(&self) -> anyhow::Result<()> {
        let wanted = self.stream_config();
        if self.settings.manage_stream {
            self.js
                .create_or_update_stream(wanted)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create or update stream: {e}"))?;
        } else {
            let mut stream = self.js.get_stream(&wanted.name).await.map_err(|e| {
                anyhow::anyhow!(
                    "stream {} is not available ({e}); create it or set nats.manage_stream = true",
                    wanted.name
                )
            })?;
            let info = stream
                .info()
                .await
                .map_err(|e| anyhow::anyhow!("cannot read stream info: {e}"))?;
            let filter = &wanted.subjects[0];
            if !info.config.subjects.iter().any(|s| s == filter) {
                anyhow::bail!(
                    "stream {} does not capture {filter} (its subjects: {:?})",
                    wanted.name,
                    info.config.subjects
                );
            }
        }
        match self.ensure_bucket().await {
            Ok(()) => {}
            Err(e) if self.settings.manage_stream => return Err(e),
            // Unmanaged and missing: events flow, without `changes` and without polling state.
            Err(e) => {
                tracing::warn!(error = %e, "Ticket state unavailable; events carry no changes")
            }
        }
        self.stream_ready.store(true, Ordering::Release);
        self.metrics.stream_ready.set(1);
        Ok(())
    }

    /// Create (managed) or open the ticket-state bucket and hand it to the ticket store.
    async fn ensure_bucket(&self) -> anyhow::Result<()> {
        let name = &self.settings.state_bucket;
        let existing = self.js.get_key_value(name).await;
        let store = if let Ok(store) = existing {
            store
        } else if self.settings.manage_stream {
            // The bucket's stream, as the key-value convention lays it out. Built here rather
            // than with `create_key_value`, which first queries account limits in a shape that
            // NATS servers before 2.10 do not answer.
            self.js
                .create_stream(stream::Config {
                    name: format!("KV_{name}"),
                    description: Some("Last known state of every GTT ticket (gtt-gateway)".into()),
                    subjects: vec![format!("$KV.{name}.>")],
                    max_messages_per_subject: 1,
                    storage: stream::StorageType::File,
                    num_replicas: self.settings.replicas,
                    allow_rollup: true,
                    deny_delete: true,
                    allow_direct: true,
                    discard: stream::DiscardPolicy::New,
                    ..Default::default()
                })
                .await
                .map_err(|e| anyhow::anyhow!("cannot create bucket {name}: {e}"))?;
            self.js
                .get_key_value(name)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open bucket {name}: {e}"))?
        } else {
            let e = existing.err().map(|e| e.to_string()).unwrap_or_default();
            anyhow::bail!(
                "key-value bucket {name} is not available ({e}); create it or set nats.manage_stream = true"
            );
        };
        self.tickets.attach(store, self.client.clone(), name);
        Ok(())
    }

    /// Ticket state (last normalized state per case, watermarks, leases).
    pub fn tickets(&self) -> &TicketStore {
        &self.tickets
    }

    /// Keep the stream ready: retry until it is, and check again after every reconnect (a NATS
    /// server restarted without its store loses the stream). Returns an error only when the
    /// stream is unmanaged and missing, which retrying cannot fix.
    pub async fn keep_stream(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        loop {
            if self.is_connected() {
                match self.ensure_stream().await {
                    Ok(()) => {
                        tracing::info!(stream = %self.settings.stream, "JetStream stream ready");
                        tokio::select! {
                            _ = self.reconnected.notified() => continue,
                            _ = shutdown.cancelled() => return Ok(()),
                        }
                    }
                    Err(e) if !self.settings.manage_stream && self.is_connected() => {
                        return Err(e);
                    }
                    Err(e) => tracing::warn!(error = %e, "JetStream stream not ready; retrying"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(STREAM_RETRY_DELAY) => {}
                _ = self.reconnected.notified() => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// Publish and wait for JetStream to store it. `Ok` means stored (or already stored).
    pub async fn publish(&self, msg: Outgoing<'_>) -> Result<Stored, PublishError> {
        if !self.is_connected() {
            return Err(PublishError::NotConnected);
        }
        if !self.stream_ready.load(Ordering::Acquire) {
            return Err(PublishError::StreamNotReady);
        }
        let started = Instant::now();
        let publish = PublishMessage::build()
            .payload(msg.payload)
            .headers(msg.headers)
            .message_id(msg.id)
            .expected_stream(&self.settings.stream);
        let result = async {
            self.js
                .send_publish(msg.subject, publish)
                .await
                .map_err(classify_publish_error)?
                .await
                .map_err(classify_publish_error)
        };
        let ack = match tokio::time::timeout(self.settings.publish_timeout, result).await {
            Ok(Ok(ack)) => ack,
            Ok(Err(PublishError::StreamNotFound)) => {
                // The stream vanished (e.g. NATS restarted without its store): have it recreated.
                self.stream_ready.store(false, Ordering::Release);
                self.metrics.stream_ready.set(0);
                self.reconnected.notify_one();
                return Err(PublishError::StreamNotFound);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(PublishError::Timeout),
        };
        self.metrics
            .publish_duration
            .observe(started.elapsed().as_secs_f64());
        Ok(Stored {
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// Flush and close the connection (graceful shutdown).
    pub async fn drain(&self) {
        if let Err(e) = self.client.drain().await {
            tracing::warn!(error = %e, "NATS drain failed");
        }
    }

    /// The underlying client (tests and tools).
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }
}

fn classify_publish_error(e: jetstream::context::PublishError) -> PublishError {
    use jetstream::context::PublishErrorKind as K;
    match e.kind() {
        K::TimedOut => PublishError::Timeout,
        K::StreamNotFound => PublishError::StreamNotFound,
        _ => PublishError::Refused(e.to_string()),
    }
}

/// Headers of an event message.
pub fn event_headers(traceparent: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Content-Type", CLOUDEVENTS_JSON);
    if let Some(tp) = traceparent {
        headers.insert("traceparent", tp);
    }
    headers
}

/// Headers of a dead-letter message.
pub fn deadletter_headers(
    reason: &str,
    kind: &str,
    action: &str,
    content_type: Option<&str>,
    traceparent: Option<&str>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(REASON_HEADER, reason);
    headers.insert("Gtt-Kind", kind);
    headers.insert("Gtt-Action", action);
    if let Some(ct) = content_type {
        headers.insert("Content-Type", ct);
    }
    if let Some(tp) = traceparent {
        headers.insert("traceparent", tp);
    }
    headers
}
