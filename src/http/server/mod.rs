//! The HTTP server in front of the router: HTTP/1.1 only (TLS ends at the ingress), an accept
//! loop capped at `server.max_connections`, bounded request-head memory, the header-read and
//! keep-alive idle timeouts, and graceful shutdown (stop accepting, let requests in flight end).
//!
//! An answer given before the whole body was read is sent after the rest of the body (`drain`).
//!
//! At the cap, the connection that has waited longest for a request (idle, or still sending its
//! head) is closed to make room, so connections that send nothing cannot lock callbacks and
//! probes out; when every connection is busy with a request, the new one is closed at once.

mod conn;
mod drain;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServerSettings;
use crate::metrics::Metrics;
use crate::throttle::Throttle;
use conn::{Closed, ConnState, Timeouts, WatchedIo};
use drain::DrainLimits;

/// File descriptors kept free for everything but HTTP connections (NATS, the GTT client,
/// files, the listener itself) when the open-files limit lowers `server.max_connections`.
const RESERVED_FDS: u64 = 128;
/// Pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// How long a new connection waits for the slot of the connection closed for it.
const EVICTION_WAIT: Duration = Duration::from_millis(100);
/// Least time between two warnings of one kind (the ones held back are counted in the next).
const WARN_EVERY: Duration = Duration::from_secs(10);
/// hyper's smallest read buffer.
const MIN_READ_BUFFER: usize = 8192;

/// Raise the soft open-files limit to the hard one, log both, and return the connection cap
/// that fits under it.
pub fn connection_cap(configured: usize) -> usize {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).ok();
    let soft = rlimit::increase_nofile_limit(u64::MAX).ok();
    let hard = before.map(|(_, hard)| hard);
    tracing::info!(
        soft_before = before.map(|(soft, _)| soft),
        soft = soft,
        hard = hard,
        "Open-files limit"
    );
    let Some(soft) = soft else {
        return configured;
    };
    let fits = usize::try_from(soft.saturating_sub(RESERVED_FDS).max(1)).unwrap_or(usize::MAX);
    if fits < configured {
        tracing::warn!(
            configured,
            allowed = fits,
            open_files_limit = soft,
            "server.max_connections lowered to fit the open-files limit"
        );
    }
    configured.min(fits)
}

/// Serve `router` on `listener` until `stop` resolves, then stop accepting, close idle
/// connections, and return once every request in flight has been answered.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    settings: &ServerSettings,
    max_connections: usize,
    metrics: Metrics,
    stop: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.header_read_timeout(None) // conn::TimedIo keeps the time instead
        .max_buf_size(settings.max_header_bytes.max(MIN_READ_BUFFER))
        .max_header_size(settings.max_header_bytes)
        .max_headers(settings.max_headers);
    let shared = Arc::new(Shared {
        http,
        router,
        timeouts: Timeouts {
            header_read: settings.header_read_timeout,
            idle: settings.idle_timeout,
        },
        drain: DrainLimits {
            request_timeout: settings.request_timeout,
            max_bytes: settings.max_drain_bytes,
        },
        metrics,
        open: Mutex::new(HashMap::new()),
        clock: Arc::new(AtomicU64::new(0)),
        shutdown: CancellationToken::new(),
    });
    let slots = Arc::new(Semaphore::new(max_connections));
    let tracker = TaskTracker::new();
    let warnings = Warnings::default();
    let mut next_id = 0u64;
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                if let Some(count) = warnings.accept.due() {
                    tracing::warn!(error = %e, count, "Cannot accept connections");
                }
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let Some(slot) = shared.slot(&slots, &warnings).await else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let state = Arc::new(ConnState::new(shared.timeouts, Arc::clone(&shared.clock)));
        shared.open_conns().insert(id, Arc::clone(&state));
        shared.metrics.connections_open.inc();
        let shared = Arc::clone(&shared);
        tracker.spawn(async move {
            if let Some(closed) = shared.connection(stream, peer, &state).await {
                tracing::debug!(reason = closed.as_str(), "Connection closed by the gateway");
                shared
                    .metrics
                    .connections_closed
                    .with_label_values(&[closed.as_str()])
                    .inc();
            }
            shared.open_conns().remove(&id);
            shared.metrics.connections_open.dec();
            drop(slot);
        });
    }
    drop(listener);
    shared.shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

/// What every connection task shares.
struct Shared {
    http: http1::Builder,
    router: axum::Router,
    timeouts: Timeouts,
    drain: DrainLimits,
    metrics: Metrics,
    /// Open connections by id (to choose whom to close at the cap).
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
    clock: Arc<AtomicU64>,
    /// Cancelled when the server stops accepting: connections finish their request and close.
    shutdown: CancellationToken,
}

impl Shared {
    fn open_conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection slot: a free one, else the one of the connection waiting longest for a
    /// request, closed for it. `None` when every open connection is busy.
    async fn slot(
        &self,
        slots: &Arc<Semaphore>,
        warnings: &Warnings,
    ) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = Arc::clone(slots).try_acquire_owned() {
            return Some(slot);
        }
        let victim = self
            .open_conns()
            .values()
            .filter(|c| !c.is_busy() && !c.evict.is_cancelled())
            .min_by_key(|c| c.waiting_since())
            .cloned();
        let freed = match victim {
            Some(victim) => {
                victim.evict.cancel();
                tokio::time::timeout(EVICTION_WAIT, Arc::clone(slots).acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            None => None,
        };
        if freed.is_some() {
            if let Some(count) = warnings.evicted.due() {
                tracing::warn!(
                    count,
                    "Connection cap reached: closed the connections waiting longest for a request"
                );
            }
        } else {
            self.metrics
                .connections_closed
                .with_label_values(&["refused"])
                .inc();
            if let Some(count) = warnings.refused.due() {
                tracing::warn!(
                    count,
                    "Connection cap reached with every connection busy: refused new connections"
                );
            }
        }
        freed
    }

    /// Serve one connection to its end; the reason when the gateway closed it on its own.
    async fn connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        state: &Arc<ConnState>,
    ) -> Option<Closed> {
        let expired = state.expired();
        tokio::pin!(expired);
        // Wait for the first byte before hyper allocates its buffers, so a connection that
        // sends nothing costs little.
        tokio::select! {
            biased;
            () = state.evict.cancelled() => return Some(Closed::Evicted),
            () = self.shutdown.cancelled() => return None,
            closed = expired.as_mut() => return Some(closed),
            _ = stream.readable() => {}
        }
        let io = TokioIo::new(WatchedIo::new(stream, Arc::clone(state)));
        let (router, limits) = (self.router.clone(), self.drain);
        let service = {
            let state = Arc::clone(state);
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let answered = state.begin();
                let router = router.clone();
                async move {
                    let mut response = drain::answer(router, request, limits).await;
                    // A refusal's record learns where the request came from.
                    super::rejections::send_attached(&mut response, peer);
                    drop(answered);
                    Ok::<_, std::convert::Infallible>(response)
                }
            })
        };
        // Boxed: only connections that have sent something carry hyper's state.
        let mut connection = Box::pin(self.http.serve_connection(io, service));
        let mut stopping = false;
        loop {
            tokio::select! {
                biased;
                () = state.evict.cancelled() => return Some(Closed::Evicted),
                closed = expired.as_mut() => return Some(closed),
                () = self.shutdown.cancelled(), if !stopping => {
                    stopping = true;
                    connection.as_mut().graceful_shutdown();
                }
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "Connection ended with an error");
                    }
                    return None;
                }
            }
        }
    }
}

/// Warnings the accept loop rate-limits.
struct Warnings {
    accept: Throttle,
    evicted: Throttle,
    refused: Throttle,
}

impl Default for Warnings {
    fn default() -> Self {
        Self {
            accept: Throttle::new(WARN_EVERY),
            evicted: Throttle::new(WARN_EVERY),
            refused: Throttle::new(WARN_EVERY),
        }
    }
}
