//! Answers given before the whole request body was read (`413`, `401`, `429`, ...): the rest of
//! the body is read and thrown away, up to `server.max_drain_bytes` and the request deadline,
//! before the answer goes out with `Connection: close`. A sender that writes its whole body
//! before reading (most HTTP client libraries) then reads the answer instead of a reset.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::http::{HeaderValue, Request, Response, header};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::Instant;
use tower::ServiceExt as _;

/// How much of an unread body is drained, at most.
#[derive(Debug, Clone, Copy)]
pub(super) struct DrainLimits {
    /// The request deadline, counted from the complete request head.
    pub request_timeout: Duration,
    pub max_bytes: u64,
}

/// Answer `request` with `router`; drain what the router left unread of the body.
pub(super) async fn answer(
    router: axum::Router,
    request: Request<Incoming>,
    limits: DrainLimits,
) -> Response<axum::body::Body> {
    let deadline = Instant::now() + limits.request_timeout;
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let rest = Arc::new(Mutex::new(Rest::default()));
    let request = request.map(|body| {
        lock(&rest).body = Some(body);
        axum::body::Body::new(Tracked(Arc::clone(&rest)))
    });
    let Ok(mut response) = router.oneshot(request).await;
    let Rest { body, polled } = std::mem::take(&mut *lock(&rest));
    let Some(body) = body.filter(|b| !b.is_end_stream()) else {
        return response;
    };
    // A sender that asked to be told before sending gets the answer instead of `100 Continue`.
    let asked_for = polled || !expects_continue;
    if asked_for && !drain(body, deadline, limits.max_bytes).await {
        tracing::debug!("Answered before the end of the request body; not all of it was read");
    }
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Read and discard the rest of `body`; whether it ended within the bounds.
async fn drain(mut body: Incoming, deadline: Instant, max_bytes: u64) -> bool {
    if body.size_hint().lower() > max_bytes {
        return false; // its Content-Length says more is coming than would be read
    }
    let read = async {
        let mut read = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            read += frame.data_ref().map_or(0, |data| data.len() as u64);
            if read > max_bytes {
                return false;
            }
        }
        true
    };
    tokio::time::timeout_at(deadline, read)
        .await
        .unwrap_or(false)
}

/// The request body where the router left it.
#[derive(Default)]
struct Rest {
    /// `None` once read to its end.
    body: Option<Incoming>,
    /// Whether the router asked for any of it.
    polled: bool,
}

fn lock(rest: &Mutex<Rest>) -> MutexGuard<'_, Rest> {
    rest.lock().unwrap_or_else(|e| e.into_inner())
}

/// The request body as the router sees it; what the router leaves unread stays in [`Rest`].
struct Tracked(Arc<Mutex<Rest>>);

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let mut rest = lock(&self.0);
        rest.polled = true;
        let Some(body) = rest.body.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(body).poll_frame(cx));
        if frame.is_none() {
            rest.body = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.0).body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.0)
            .body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
