//! The callback endpoint: `POST|PUT /v1/hooks/gtt/{namespace}/{kind}/{action}/{token}`.
//!
//! authenticate (route, token, then the signature over the bytes as received) -> decode the
//! `Content-Encoding` -> the ingest pipeline (normalize, publish, await the PubAck) -> `202`.
//! A `2xx` is only ever sent after JetStream stored the event (or reported it as a duplicate of
//! a stored one).
//!
//! `server.request_timeout` bounds the whole request from its complete head: `408` while the
//! body is still arriving, `503` + `Retry-After` when the event is not confirmed stored by then.
//! Every callback ends in one [`Verdict`], which is logged, counted, answered and, when it
//! is a refusal, recorded (`rejections`) in one place.

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gtt_core::event::Origin;
use serde::Serialize;
use tracing::Instrument;

use super::encoding::{self, Coding, DecodeError};
use super::problem::Problem;
use super::rejections::Refusal;
use super::{Crowded, Gateway};
use crate::auth::AuthFailure;
use crate::ingest::{Ingested, Received};
use crate::metrics::{Outcome, UNKNOWN};
use crate::nats::PublishError;
use crate::throttle::Throttle;

/// How one callback ended.
enum Verdict {
    Unauthorized(AuthFailure),
    UnsupportedEncoding,
    Overloaded(Crowded),
    TooLarge(usize),
    /// The body could not be read (connection cut, bad framing) or decoded.
    BadBody(Option<Coding>),
    /// The body was still arriving when the request deadline ran out.
    BodyTimeout,
    /// Not confirmed stored within the request deadline.
    NotConfirmed,
    NotStored(PublishError),
    Stored(Ingested),
}

/// Body of a `202`.
#[derive(Debug, Serialize)]
struct Accepted<'a> {
    id: &'a str,
    subject: &'a str,
    duplicate: bool,
    dead_lettered: bool,
}

/// At most one "not stored" warning a second (the others are counted in the next one): a NATS
/// outage under load would otherwise write a line per callback.
static NOT_STORED_LOG: Throttle = Throttle::new(std::time::Duration::from_secs(1));

impl Verdict {
    fn outcome(&self) -> Outcome {
        match self {
            Verdict::Unauthorized(_) => Outcome::Unauthorized,
            Verdict::UnsupportedEncoding
            | Verdict::TooLarge(_)
            | Verdict::BadBody(_)
            | Verdict::BodyTimeout => Outcome::Rejected,
            Verdict::Overloaded(_) => Outcome::Overloaded,
            Verdict::NotConfirmed | Verdict::NotStored(_) => Outcome::Unavailable,
            Verdict::Stored(s) if s.duplicate => Outcome::Duplicate,
            Verdict::Stored(s) if s.dead_letter.is_some() => Outcome::DeadLettered,
            Verdict::Stored(_) => Outcome::Accepted,
        }
    }

    /// Why the callback was refused, for its record; `None` when it was stored, or turned away
    /// for the gateway's own reasons (load, storage).
    fn refusal(&self) -> Option<&'static str> {
        match self {
            Verdict::Unauthorized(failure) => Some(failure.reason()),
            Verdict::UnsupportedEncoding => Some("unsupported_encoding"),
            Verdict::TooLarge(_) => Some("too_large"),
            Verdict::BadBody(None) => Some("unreadable_body"),
            Verdict::BadBody(Some(_)) => Some("corrupt_encoding"),
            Verdict::BodyTimeout => Some("body_timeout"),
            Verdict::Overloaded(_)
            | Verdict::NotConfirmed
            | Verdict::NotStored(_)
            | Verdict::Stored(_) => None,
        }
    }

    /// One log line (never a secret, token or body).
    fn log(&self) {
        match self {
            Verdict::Unauthorized(AuthFailure::BadSignature(e)) => {
                tracing::warn!(reason = e.reason(), "Callback refused: bad signature");
            }
            Verdict::Unauthorized(failure) => {
                tracing::warn!(
                    reason = failure.reason(),
                    "Callback refused: not authenticated"
                );
            }
            Verdict::UnsupportedEncoding => {
                tracing::warn!("Callback refused: unsupported Content-Encoding");
            }
            Verdict::Overloaded(Crowded::Total) => {
                tracing::warn!("Callback refused: too many in flight (server.max_in_flight)");
            }
            Verdict::Overloaded(Crowded::Namespace) => tracing::warn!(
                "Callback refused: too many of its namespace in flight \
                 (server.max_in_flight_per_namespace)"
            ),
            Verdict::TooLarge(_) | Verdict::BodyTimeout | Verdict::BadBody(None) => {}
            Verdict::BadBody(Some(coding)) => tracing::warn!(
                ?coding,
                "Callback refused: body not valid for its Content-Encoding"
            ),
            Verdict::NotConfirmed => {
                if let Some(held) = NOT_STORED_LOG.due() {
                    tracing::warn!(
                        held,
                        "Callback not confirmed stored within server.request_timeout; answering 503"
                    );
                }
            }
            Verdict::NotStored(e) => {
                if let Some(held) = NOT_STORED_LOG.due() {
                    tracing::warn!(error = %e, reason = e.reason(), held, "Callback not stored; answering 503");
                }
            }
            Verdict::Stored(s) => {
                let (id, subject) = (&s.id, &s.subject);
                match (s.dead_letter, s.duplicate) {
                    (_, true) => {
                        tracing::debug!(event.id = %id, %subject, "Callback was a duplicate")
                    }
                    (Some(reason), false) => {
                        tracing::info!(event.id = %id, %subject, %reason, "Callback dead-lettered");
                    }
                    (None, false) => tracing::debug!(event.id = %id, %subject, "Event stored"),
                }
            }
        }
    }
}

impl IntoResponse for Verdict {
    fn into_response(self) -> Response {
        match self {
            Verdict::Unauthorized(_) => Problem::unauthorized().into_response(),
            Verdict::UnsupportedEncoding => {
                Problem::unsupported_encoding(encoding::ACCEPTED).into_response()
            }
            Verdict::Overloaded(_) => Problem::overloaded().into_response(),
            Verdict::TooLarge(limit) => Problem::too_large(limit).into_response(),
            Verdict::BadBody(_) => Problem::bad_request().into_response(),
            Verdict::BodyTimeout => Problem::timeout().into_response(),
            Verdict::NotConfirmed | Verdict::NotStored(_) => Problem::unavailable().into_response(),
            Verdict::Stored(s) => {
                let body = Accepted {
                    id: &s.id,
                    subject: &s.subject,
                    duplicate: s.duplicate,
                    dead_lettered: s.dead_letter.is_some(),
                };
                (StatusCode::ACCEPTED, Json(body)).into_response()
            }
        }
    }
}

pub(super) async fn receive(
    State(gateway): State<Gateway>,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    // A path that cannot be decoded gets the answer of a bad token; its segments are not logged.
    let Ok(Path((namespace, kind, action, token))) = path else {
        let verdict = Verdict::Unauthorized(AuthFailure::InvalidRoute);
        verdict.log();
        gateway
            .metrics
            .record_callback([UNKNOWN; 3], verdict.outcome(), started.elapsed());
        return answer(&gateway, verdict, None, &headers, None);
    };
    // The span continues the caller's trace; its parent must be set before it is entered.
    let span =
        tracing::info_span!("callback", namespace = %namespace, kind = %kind, action = %action);
    crate::telemetry::continue_trace(&span, &headers);
    let route = [namespace.as_str(), kind.as_str(), action.as_str()];
    let mut refused_body = None;
    let verdict = handle(
        &gateway,
        route,
        &token,
        &headers,
        body,
        started,
        &mut refused_body,
    )
    .instrument(span.clone())
    .await;
    span.in_scope(|| verdict.log());
    let outcome = verdict.outcome();
    let labels = match verdict {
        // Never label with unauthenticated input: it would let anyone create series.
        Verdict::Unauthorized(AuthFailure::InvalidRoute) => [UNKNOWN; 3],
        Verdict::Unauthorized(_) if gateway.auth.knows(&namespace) => [route[0], UNKNOWN, UNKNOWN],
        Verdict::Unauthorized(_) => [UNKNOWN; 3],
        _ => route,
    };
    gateway
        .metrics
        .record_callback(labels, outcome, started.elapsed());
    answer(
        &gateway,
        verdict,
        Some(route),
        &headers,
        refused_body.as_deref(),
    )
}

/// The answer to a callback, with the record of a refusal attached.
fn answer(
    gateway: &Gateway,
    verdict: Verdict,
    route: Option<[&str; 3]>,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Response {
    let refusal = verdict.refusal();
    let mut response = verdict.into_response();
    if let Some(reason) = refusal {
        let refusal = Refusal {
            route,
            namespace_known: route.is_some_and(|[namespace, ..]| gateway.auth.knows(namespace)),
            reason,
            headers,
            body,
        };
        gateway.rejections.attach(&mut response, &refusal);
    }
    response
}

/// `refused_body`: set to the body as received when it was read and then refused.
async fn handle(
    gateway: &Gateway,
    route: [&str; 3],
    token: &str,
    headers: &HeaderMap,
    body: Body,
    started: Instant,
    refused_body: &mut Option<Bytes>,
) -> Verdict {
    let deadline = tokio::time::Instant::from_std(started + gateway.limits.request_timeout);
    let accepted = match gateway.auth.check_route(route, token) {
        Ok(accepted) => accepted,
        Err(failure) => return Verdict::Unauthorized(failure),
    };
    let Some(coding) = encoding::coding(headers) else {
        return Verdict::UnsupportedEncoding;
    };
    let _slot = match gateway.in_flight(route[0]) {
        Ok(slot) => slot,
        Err(crowded) => return Verdict::Overloaded(crowded),
    };
    let limit = gateway.limits.max_body_bytes;
    if content_length(headers).is_some_and(|len| len > limit) {
        return Verdict::TooLarge(limit);
    }
    let bytes = match tokio::time::timeout_at(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_length_limit(&e) => return Verdict::TooLarge(limit),
        Ok(Err(_)) => return Verdict::BadBody(None),
        Err(_) => return Verdict::BodyTimeout,
    };
    if let Err(failure) = accepted.verify_body(headers, &bytes) {
        *refused_body = Some(bytes);
        return Verdict::Unauthorized(failure);
    }
    // Only authenticated bytes are decompressed (a refused body is recorded as received).
    let received = (coding != Coding::Identity).then(|| bytes.clone());
    let bytes = match encoding::decode(coding, bytes, limit) {
        Ok(bytes) => bytes,
        Err(error) => {
            *refused_body = received;
            return match error {
                DecodeError::TooLarge => Verdict::TooLarge(limit),
                DecodeError::Corrupt => Verdict::BadBody(Some(coding)),
            };
        }
    };
    let [namespace, kind, action] = route;
    let received = Received {
        namespace,
        kind,
        action,
        origin: Origin::Webhook,
        at: chrono::Utc::now(),
        traceparent: traceparent(headers),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    };
    match tokio::time::timeout_at(deadline, gateway.pipeline.ingest(&received, bytes)).await {
        Ok(Ok(stored)) => Verdict::Stored(stored),
        Ok(Err(e)) => Verdict::NotStored(e),
        Err(_) => Verdict::NotConfirmed,
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
