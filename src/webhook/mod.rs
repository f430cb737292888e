//! The ingest edge: `POST|PUT /v1/hooks/gtt/{namespace}/{kind}/{action}/{token}`.
//!
//! authenticate (token, then signature over the bytes as received) -> decode the
//! `Content-Encoding` -> normalize -> publish and await the PubAck -> `202`. A `2xx` is only ever sent after JetStream stored the event (or reported it
//! as a duplicate of a stored one).
//!
//! `server.request_timeout` bounds the whole request from its complete head: `408` while the
//! body is still arriving, `503` + `Retry-After` when the event is not confirmed stored by then.

pub mod auth;
pub mod encoding;
pub mod token;
pub mod verify;

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use tracing::Instrument;

use crate::error::Problem;
use crate::event::{EventContext, Origin};
use crate::ingest::{Origin as IngestOrigin, ingest};
use crate::metrics::{Outcome, UNKNOWN};
use crate::state::AppState;
use encoding::DecodeError;

/// Route pattern of the ingest endpoint.
pub const ROUTE: &str = "/v1/hooks/gtt/{namespace}/{kind}/{action}/{token}";

/// The ingest routes.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route(ROUTE, post(receive_callback).put(receive_callback))
}

/// Body of a `202`.
#[derive(Debug, Serialize)]
struct Accepted<'a> {
    id: &'a str,
    subject: &'a str,
    duplicate: bool,
    dead_lettered: bool,
}

async fn receive_callback(
    State(state): State<AppState>,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    // A route no token can authorize gets the answer of a bad token; its segments are not logged.
    let Some((namespace, kind, action, token)) = path.ok().map(|Path(p)| p).filter(|p| {
        [&p.0, &p.1, &p.2]
            .into_iter()
            .all(|s| token::is_route_segment(s))
    }) else {
        tracing::warn!(
            reason = "invalid_route",
            "Callback refused: not authenticated"
        );
        state
            .metrics
            .record_callback([UNKNOWN; 3], Outcome::Unauthorized, started.elapsed());
        return Problem::unauthorized().into_response();
    };
    let deadline = tokio::time::Instant::from_std(started + state.ingest.request_timeout);
    // The span continues the caller's trace; its parent must be set before it is entered.
    let span =
        tracing::info_span!("callback", namespace = %namespace, kind = %kind, action = %action);
    crate::telemetry::continue_trace(&span, &headers);
    let route = [namespace.as_str(), kind.as_str(), action.as_str()];
    let (outcome, response) = handle(&state, route, &token, &headers, body, deadline)
        .instrument(span)
        .await;
    let labels = if outcome == Outcome::Unauthorized {
        // Never label with unauthenticated input: it would let anyone create series.
        let ns = if state.auth.knows(&namespace) {
            namespace.as_str()
        } else {
            UNKNOWN
        };
        [ns, UNKNOWN, UNKNOWN]
    } else {
        [namespace.as_str(), kind.as_str(), action.as_str()]
    };
    state
        .metrics
        .record_callback(labels, outcome, started.elapsed());
    response
}

async fn handle(
    state: &AppState,
    [namespace, kind, action]: [&str; 3],
    token: &str,
    headers: &HeaderMap,
    body: Body,
    deadline: tokio::time::Instant,
) -> (Outcome, Response) {
    let route = match state.auth.check_route(namespace, kind, action, token) {
        Ok(route) => route,
        Err(failure) => {
            tracing::warn!(
                reason = failure.reason(),
                "Callback refused: not authenticated"
            );
            return (
                Outcome::Unauthorized,
                Problem::unauthorized().into_response(),
            );
        }
    };
    let Some(coding) = encoding::coding(headers) else {
        tracing::warn!("Callback refused: unsupported Content-Encoding");
        return (
            Outcome::Rejected,
            Problem::unsupported_encoding(encoding::ACCEPTED).into_response(),
        );
    };
    let Ok(_permit) = state.in_flight.try_acquire() else {
        tracing::warn!("Callback refused: too many in flight");
        return (Outcome::Overloaded, Problem::overloaded().into_response());
    };
    state.metrics.in_flight.inc();
    let _gauge = GaugeGuard(&state.metrics.in_flight);

    let limit = state.ingest.max_body_bytes;
    if content_length(headers).is_some_and(|len| len > limit) {
        return (Outcome::Rejected, Problem::too_large(limit).into_response());
    }
    let bytes = match tokio::time::timeout_at(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_length_limit(&e) => {
            return (Outcome::Rejected, Problem::too_large(limit).into_response());
        }
        Ok(Err(_)) => return (Outcome::Rejected, Problem::bad_request().into_response()),
        Err(_) => return (Outcome::Rejected, Problem::timeout().into_response()),
    };
    if let Err(failure) = route.verify_body(headers, &bytes) {
        tracing::warn!(reason = failure.reason(), "Callback refused: bad signature");
        return (
            Outcome::Unauthorized,
            Problem::unauthorized().into_response(),
        );
    }
    // Only authenticated bytes are decompressed.
    let bytes = match encoding::decode(coding, bytes, limit) {
        Ok(bytes) => bytes,
        Err(DecodeError::TooLarge) => {
            return (Outcome::Rejected, Problem::too_large(limit).into_response());
        }
        Err(DecodeError::Corrupt) => {
            tracing::warn!(
                ?coding,
                "Callback refused: body not valid for its Content-Encoding"
            );
            return (Outcome::Rejected, Problem::bad_request().into_response());
        }
    };

    let ctx = EventContext {
        namespace,
        kind,
        action,
        origin: Origin::Webhook,
        api_url: &state.ingest.api_url,
        subject_prefix: &state.ingest.subject_prefix,
        zone: state.ingest.zone,
        received_at: chrono::Utc::now(),
    };
    let origin = IngestOrigin {
        traceparent: traceparent(headers),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    };
    let Ok(stored) =
        tokio::time::timeout_at(deadline, ingest(&state.publisher, &ctx, bytes, origin)).await
    else {
        tracing::warn!(
            "Callback not confirmed stored within server.request_timeout; answering 503"
        );
        return (Outcome::Unavailable, Problem::unavailable().into_response());
    };
    match stored {
        Ok(stored) => {
            let (id, subject) = (&stored.id, &stored.subject);
            let outcome = match (stored.dead_letter, stored.duplicate) {
                (_, true) => {
                    tracing::debug!(event.id = %id, %subject, "Callback was a duplicate");
                    Outcome::Duplicate
                }
                (Some(reason), false) => {
                    tracing::info!(event.id = %id, %subject, %reason, "Callback dead-lettered");
                    Outcome::DeadLettered
                }
                (None, false) => {
                    tracing::debug!(event.id = %id, %subject, "Event stored");
                    Outcome::Accepted
                }
            };
            let body = Accepted {
                id,
                subject,
                duplicate: stored.duplicate,
                dead_lettered: stored.dead_letter.is_some(),
            };
            (outcome, (StatusCode::ACCEPTED, Json(body)).into_response())
        }
        Err(e) => {
            tracing::warn!(error = %e, "Callback not stored; answering 503");
            (Outcome::Unavailable, Problem::unavailable().into_response())
        }
    }
}

/// Decrements a gauge when dropped.
struct GaugeGuard<'a>(&'a prometheus::IntGauge);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// A W3C `traceparent` worth passing on (printable ASCII, sane length), if present.
fn traceparent(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    (value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())).then_some(value)
}
