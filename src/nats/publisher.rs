//! Publishing to JetStream: a publish only succeeds once JetStream has stored the message
//! (PubAck), and every failure is classified ([`PublishError::reason`]). "No responders" (a
//! stream-leader election, or a missing stream) is a transient refusal that asks the stream
//! keeper to look, never a verdict that the stream is gone.
//!
//! Publishes are independent futures: any number run at once (bounded by the HTTP in-flight
//! limit and `max_ack_inflight`), none waits for another, and none waits for a stream check. A
//! publish whose connection is lost before its PubAck is sent again on the next connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};

use super::connection::Link;
use super::provision;
use crate::config::NatsSettings;
use crate::metrics::Metrics;

/// Header carrying the dead-letter reason.
pub(super) const REASON_HEADER: &str = "Gtt-Deadletter-Reason";
/// Headers of a dead letter carrying the kind and action of its route (as in the path).
pub(super) const KIND_HEADER: &str = "Gtt-Kind";
pub(super) const ACTION_HEADER: &str = "Gtt-Action";
/// Content type of every event message.
pub(super) const CLOUDEVENTS_JSON: &str = "application/cloudevents+json";
/// Room kept in every message for its headers: a body of `server.max_body_bytes` must still fit
/// NATS's `max_payload` as a dead letter with all its headers.
pub(crate) const MESSAGE_HEADROOM: usize = 4096;
/// Longest sender `Content-Type` copied onto a dead letter (longer ones are left out).
const MAX_CONTENT_TYPE: usize = 128;
/// How long a publish waits for a lost connection to come back (the client moving to another
/// node of a cluster takes a few hundred milliseconds) before answering "not connected".
const RECONNECT_GRACE: Duration = Duration::from_secs(1);

/// Why a publish did not end in a PubAck.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("NATS is not connected")]
    NotConnected,
    #[error("the JetStream stream is not ready")]
    StreamNotReady,
    #[error(
        "no JetStream server answered (a stream-leader election, or the stream is missing; \
         the stream keeper checks)"
    )]
    NoResponders,
    #[error("no PubAck within the publish timeout")]
    Timeout,
    #[error(
        "JetStream storage is full ({0}): raise nats.max_bytes or the server's JetStream \
         storage, shorten nats.max_age, or let consumers catch up"
    )]
    StorageFull(String),
    #[error("the message exceeds the NATS server's max_payload")]
    TooLarge,
    #[error("JetStream refused the publish: {0}")]
    Refused(String),
}

impl PublishError {
    /// Label of `gtt_gateway_publish_failures_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            PublishError::NotConnected => "not_connected",
            PublishError::StreamNotReady => "stream_not_ready",
            PublishError::NoResponders => "no_responders",
            PublishError::Timeout => "timeout",
            PublishError::StorageFull(_) => "storage_full",
            PublishError::TooLarge => "too_large",
            PublishError::Refused(_) => "refused",
        }
    }

    /// Every reason label, for documentation checks and pre-registered series.
    pub const REASONS: [&'static str; 7] = [
        "not_connected",
        "stream_not_ready",
        "no_responders",
        "timeout",
        "storage_full",
        "too_large",
        "refused",
    ];
}

/// A stored message: JetStream's answer.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
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
    /// Whether the dead-letter stream copies it (a dead letter): then it goes without
    /// `Nats-Expected-Stream`, which servers before 2.10 keep on the copy and then refuse to
    /// store in the copying stream. (Streams may not overlap, so only the event stream can
    /// capture it either way.)
    pub sourced: bool,
}

/// The JetStream publisher; cheap to clone.
#[derive(Clone)]
pub struct Publisher(pub(super) Arc<Inner>);

pub(super) struct Inner {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub settings: NatsSettings,
    pub metrics: Metrics,
    /// The stream is known to exist (set by the keeper; cleared only when JetStream's API
    /// says the stream does not exist).
    pub stream_ready: AtomicBool,
    pub link: Link,
    /// Largest body this publisher must be able to store as a dead letter.
    pub max_body_bytes: usize,
}

impl Publisher {
    pub(super) fn new(
        client: async_nats::Client,
        link: Link,
        settings: &NatsSettings,
        max_body_bytes: usize,
        metrics: Metrics,
    ) -> Self {
        let js = jetstream::ContextBuilder::new()
            .timeout(settings.publish_timeout)
            .max_ack_inflight(65_536)
            .build(client.clone());
        Self(Arc::new(Inner {
            client,
            js,
            settings: settings.clone(),
            metrics,
            stream_ready: AtomicBool::new(false),
            link,
            max_body_bytes,
        }))
    }

    /// Whether this replica should receive callbacks: the stream was found (or created) and
    /// publishing has not been failing for `nats.unready_after` without a break.
    pub fn is_ready(&self) -> bool {
        self.0.stream_ready.load(Ordering::Acquire)
            && self
                .0
                .link
                .streak
                .failing_for()
                .is_none_or(|(since, _)| since < self.0.settings.unready_after)
    }

    /// How long publishing has been failing without a break, and the last reason, if it is.
    pub fn failing_for(&self) -> Option<(Duration, &'static str)> {
        self.0.link.streak.failing_for()
    }

    /// The metrics it counts in.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub(super) fn is_connected(&self) -> bool {
        self.0.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Connected now, or again within [`RECONNECT_GRACE`] (bounded by the publish timeout).
    async fn connected_soon(&self) -> bool {
        if self.is_connected() {
            return true;
        }
        let grace = RECONNECT_GRACE.min(self.0.settings.publish_timeout);
        let mut watch = self.0.link.connected.subscribe();
        matches!(
            tokio::time::timeout(grace, watch.wait_for(|up| *up)).await,
            Ok(Ok(_))
        )
    }

    /// Whether a message with these headers and this many payload bytes fits the server's
    /// `max_payload` once `Nats-Msg-Id` and `Nats-Expected-Stream` are added.
    pub fn fits(&self, headers: &HeaderMap, id: &str, payload_len: usize) -> bool {
        let framing = "NATS/1.0\r\n\r\n".len();
        let header = |name: &str, value: &str| name.len() + ": \r\n".len() + value.len();
        let mut size = framing
            + payload_len
            + header("Nats-Msg-Id", id)
            + header("Nats-Expected-Stream", &self.0.settings.stream);
        for (name, values) in headers.iter() {
            for value in values {
                size += header(name.as_ref(), value.as_str());
            }
        }
        size <= self.0.client.max_payload()
    }

    /// Publish and wait for JetStream to store it. `Ok` means stored (or already stored).
    pub async fn publish(&self, msg: Outgoing<'_>) -> Result<Stored, PublishError> {
        let result = self.publish_once(msg).await;
        match &result {
            Ok(_) => self.0.link.streak.clear(),
            Err(e) => {
                self.0
                    .metrics
                    .publish_failures
                    .with_label_values(&[e.reason()])
                    .inc();
                if !matches!(e, PublishError::TooLarge) {
                    self.0.link.streak.fail(e.reason());
                }
                if matches!(e, PublishError::NoResponders) {
                    // Let the keeper find out whether the stream is gone; this publish does
                    // not wait for it.
                    self.0.link.check_stream.notify_one();
                }
            }
        }
        result
    }

    async fn publish_once(&self, msg: Outgoing<'_>) -> Result<Stored, PublishError> {
        if !self.connected_soon().await {
            return Err(PublishError::NotConnected);
        }
        if !self.0.stream_ready.load(Ordering::Acquire) {
            return Err(PublishError::StreamNotReady);
        }
        let started = Instant::now();
        let ack =
            match tokio::time::timeout(self.0.settings.publish_timeout, self.acked(&msg)).await {
                Ok(result) => result?,
                Err(_) => return Err(PublishError::Timeout),
            };
        self.0
            .metrics
            .publish_duration
            .observe(started.elapsed().as_secs_f64());
        Ok(Stored {
            duplicate: ack.duplicate,
        })
    }

    /// Send `msg` and await its PubAck. When the connection is lost before the PubAck arrives
    /// (a server restarting, or closing the connection because its credentials changed), send
    /// it again once connected: the same `Nats-Msg-Id` makes JetStream store it once. The
    /// caller bounds the whole by the publish timeout.
    async fn acked(
        &self,
        msg: &Outgoing<'_>,
    ) -> Result<jetstream::publish::PublishAck, PublishError> {
        loop {
            let mut link = self.0.link.connected.subscribe();
            let mut publish = PublishMessage::build()
                .payload(msg.payload.clone())
                .headers(msg.headers.clone())
                .message_id(msg.id);
            if !msg.sourced {
                publish = publish.expected_stream(&self.0.settings.stream);
            }
            let acked = async {
                self.0
                    .js
                    .send_publish(msg.subject.clone(), publish)
                    .await
                    .map_err(classify_publish_error)?
                    .await
                    .map_err(classify_publish_error)
            };
            tokio::select! {
                result = acked => return result,
                Ok(_) = link.wait_for(|up| !*up) => {}
            }
            tracing::debug!(
                "NATS connection lost before the PubAck; publishing again once connected"
            );
            if link.wait_for(|up| *up).await.is_err() {
                return Err(PublishError::NotConnected);
            }
        }
    }

    /// Flush and close the connection (graceful shutdown).
    pub async fn drain(&self) {
        if let Err(e) = self.0.client.drain().await {
            tracing::warn!(error = %e, "NATS drain failed");
        }
    }
}

fn classify_publish_error(e: jetstream::context::PublishError) -> PublishError {
    use jetstream::context::PublishErrorKind as K;
    match e.kind() {
        K::TimedOut => PublishError::Timeout,
        K::StreamNotFound => PublishError::NoResponders,
        K::BrokenPipe => PublishError::NotConnected,
        K::MaxPayloadExceeded => PublishError::TooLarge,
        _ => {
            let api =
                std::error::Error::source(&e).and_then(|s| s.downcast_ref::<jetstream::Error>());
            match api {
                Some(api) if provision::is_storage_full(api) => {
                    PublishError::StorageFull(api.to_string())
                }
                _ => PublishError::Refused(e.to_string()),
            }
        }
    }
}

/// Headers of an event message.
pub(crate) fn event_headers(traceparent: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Content-Type", CLOUDEVENTS_JSON);
    if let Some(tp) = traceparent {
        headers.insert("traceparent", tp);
    }
    headers
}

/// Headers of a dead-letter message. The sender's content type is kept when it is short
/// (it bounds the headers' size, see [`MESSAGE_HEADROOM`]).
pub(crate) fn deadletter_headers(
    reason: &str,
    kind: &str,
    action: &str,
    content_type: Option<&str>,
    traceparent: Option<&str>,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(REASON_HEADER, reason);
    headers.insert(KIND_HEADER, kind);
    headers.insert(ACTION_HEADER, action);
    if let Some(ct) = content_type.filter(|ct| ct.len() <= MAX_CONTENT_TYPE) {
        headers.insert("Content-Type", ct);
    }
    if let Some(tp) = traceparent {
        headers.insert("traceparent", tp);
    }
    headers
}
