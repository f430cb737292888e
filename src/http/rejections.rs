//! Evidence of refused callbacks (`[rejections]`): for each refusal (`401`, and the `4xx` of a
//! body that could not be taken), a record of when, which route (never the token), why, from
//! where, which header names, and the body's length and SHA-256 when it was read; never a
//! token, a header value or a body.
//!
//! Recording never slows or fails a callback: the handler attaches the record to its answer
//! (only when the queue has room, so a flood of refusals costs no hashing), the server adds
//! the peer address and hands it to a bounded queue without waiting, and one task writes the
//! queue to the stream at most `rejections.per_second` a second. What does not fit is counted
//! (`gtt_gateway_rejection_records_total{outcome="dropped"}`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::nats::Publisher;

/// Records waiting to be written, at most (a burst of refusals).
const QUEUE: usize = 64;

/// Label values of `gtt_gateway_rejection_records_total`.
pub(crate) const OUTCOMES: [&str; 3] = ["recorded", "dropped", "failed"];

/// One refused callback.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Rejection {
    pub time: DateTime<Utc>,
    /// The path's namespace, when it is configured.
    pub namespace: Option<String>,
    /// `/v1/hooks/gtt/{namespace}/{kind}/{action}` (the token left out); none when a segment
    /// is not a valid route segment.
    pub route: Option<String>,
    pub reason: &'static str,
    pub status: u16,
    /// The peer's address (a proxy's, behind one).
    pub source: Option<SocketAddr>,
    /// The request's header names.
    pub headers: Vec<String>,
    /// The body's length and SHA-256 (hex), when it was read.
    pub body_bytes: Option<usize>,
    pub body_sha256: Option<String>,
}

/// A refusal as the handler knows it.
pub(super) struct Refusal<'a> {
    /// Namespace, kind and action of the path, if it could be decoded.
    pub route: Option<[&'a str; 3]>,
    pub namespace_known: bool,
    pub reason: &'static str,
    pub headers: &'a HeaderMap,
    /// The body as received, when it was read.
    pub body: Option<&'a [u8]>,
}

/// Hands records to the writer task; cheap to clone. Disabled: records nothing.
#[derive(Clone)]
pub struct Recorder {
    queue: Option<mpsc::Sender<Rejection>>,
    metrics: Metrics,
}

/// A record attached to an answer, for the server to complete with the peer address.
#[derive(Clone)]
struct Pending {
    record: Rejection,
    queue: mpsc::Sender<Rejection>,
    metrics: Metrics,
}

impl Recorder {
    /// A recorder and, when `[rejections]` is enabled, the writer to run beside it.
    pub(crate) fn new(settings: &Settings, metrics: &Metrics) -> (Self, Option<Writer>) {
        if !settings.rejections.enabled {
            let recorder = Self {
                queue: None,
                metrics: metrics.clone(),
            };
            return (recorder, None);
        }
        let (queue, records) = mpsc::channel(QUEUE);
        let writer = Writer {
            records,
            prefix: settings.nats.subject_prefix.clone(),
            pause: Duration::from_secs(1) / settings.rejections.per_second,
            metrics: metrics.clone(),
        };
        let recorder = Self {
            queue: Some(queue),
            metrics: metrics.clone(),
        };
        (recorder, Some(writer))
    }

    /// Attach the record of `refusal` to its `answer`, if the queue has room (else count it
    /// as dropped).
    pub(super) fn attach(&self, answer: &mut Response, refusal: &Refusal<'_>) {
        let Some(queue) = &self.queue else { return };
        if queue.capacity() == 0 {
            self.metrics
                .rejection_records
                .with_label_values(&["dropped"])
                .inc();
            return;
        }
        let route = refusal
            .route
            .filter(|route| route.iter().all(|s| gtt_core::token::is_route_segment(s)));
        let record = Rejection {
            time: Utc::now(),
            namespace: route
                .filter(|_| refusal.namespace_known)
                .map(|[namespace, ..]| namespace.to_string()),
            route: route.map(|[namespace, kind, action]| {
                format!("/v1/hooks/gtt/{namespace}/{kind}/{action}")
            }),
            reason: refusal.reason,
            status: answer.status().as_u16(),
            source: None,
            headers: refusal
                .headers
                .keys()
                .map(|name| name.to_string())
                .collect(),
            body_bytes: refusal.body.map(<[u8]>::len),
            body_sha256: refusal.body.map(|body| hex::encode(Sha256::digest(body))),
        };
        answer.extensions_mut().insert(Pending {
            record,
            queue: queue.clone(),
            metrics: self.metrics.clone(),
        });
    }
}

/// Queue the record attached to `answer`, if any, with the peer's address (never waits).
pub(super) fn send_attached(answer: &mut Response, peer: SocketAddr) {
    let Some(Pending {
        mut record,
        queue,
        metrics,
    }) = answer.extensions_mut().remove::<Pending>()
    else {
        return;
    };
    record.source = Some(peer);
    if queue.try_send(record).is_err() {
        metrics
            .rejection_records
            .with_label_values(&["dropped"])
            .inc();
    }
}

/// Writes queued records to the stream, paced by `rejections.per_second`.
pub(crate) struct Writer {
    records: mpsc::Receiver<Rejection>,
    prefix: String,
    pause: Duration,
    metrics: Metrics,
}

impl Writer {
    /// Write records until `shutdown` (what is still queued then is dropped, uncounted).
    pub(crate) async fn run(mut self, publisher: Publisher, shutdown: CancellationToken) {
        while let Some(Some(record)) = shutdown.run_until_cancelled(self.records.recv()).await {
            let subject =
                crate::nats::rejections::subject(&self.prefix, record.namespace.as_deref());
            let outcome = match serde_json::to_vec(&record) {
                Ok(json) => {
                    match crate::nats::rejections::write(&publisher, subject, json.into()).await {
                        Ok(()) => "recorded",
                        Err(e) => {
                            tracing::debug!(error = format!("{e:#}"), "Refusal not recorded");
                            "failed"
                        }
                    }
                }
                Err(_) => "failed",
            };
            self.metrics
                .rejection_records
                .with_label_values(&[outcome])
                .inc();
            if shutdown
                .run_until_cancelled(tokio::time::sleep(self.pause))
                .await
                .is_none()
            {
                return;
            }
        }
    }
}
