//! The HTTP side: the server (connections and their limits, [`server`]), the router, and what
//! every request handler shares ([`Gateway`]).
//!
//! - `callback`: the callback endpoint (authenticate, decode, ingest, answer);
//! - `encoding`: `Content-Encoding` of callback bodies;
//! - `health`: `/healthz`, `/readyz`, `/metrics`;
//! - `problem`: error answers (`application/problem+json`);
//! - `rejections`: the record of refused callbacks.

mod callback;
mod encoding;
mod health;
mod problem;
pub(crate) mod rejections;
pub mod server;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::routing::{get, post};
use tokio::sync::{Semaphore, SemaphorePermit};
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::Authenticator;
use crate::ingest::Pipeline;
use crate::metrics::Metrics;
use rejections::Recorder;

pub use health::{HEALTHZ, METRICS, READYZ};

pub use gtt_core::token::CALLBACK_ROUTE;

/// What every request handler shares: one `Arc`, so the clone each request makes is cheap.
#[derive(Clone)]
pub struct Gateway(Arc<Handles>);

/// What [`Gateway`] shares.
pub struct Handles {
    pub auth: Authenticator,
    pub pipeline: Pipeline,
    pub metrics: Metrics,
    /// Records refused callbacks.
    pub rejections: Recorder,
    /// Permits for callbacks in flight (`server.max_in_flight`).
    in_flight: Semaphore,
    /// Permits for each namespace's callbacks in flight (`server.max_in_flight_per_namespace`).
    namespace_in_flight: HashMap<String, Semaphore>,
    pub limits: Limits,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    shutting_down: AtomicBool,
}

/// What a callback may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// From the complete request head to the answer.
    pub request_timeout: Duration,
    pub max_in_flight: usize,
    pub max_in_flight_per_namespace: usize,
}

/// Which in-flight bound refused a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crowded {
    /// `server.max_in_flight`: the gateway as a whole.
    Total,
    /// `server.max_in_flight_per_namespace`: the callback's namespace.
    Namespace,
}

impl std::ops::Deref for Gateway {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// A callback in flight: holds its permit and keeps `gtt_gateway_callbacks_in_flight` counted.
pub struct InFlight<'a> {
    _namespace: Option<SemaphorePermit<'a>>,
    _permit: SemaphorePermit<'a>,
    gauge: &'a prometheus::IntGauge,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Gateway {
    /// `namespaces`: the configured ones, each with its own in-flight bound.
    pub fn new(
        auth: Authenticator,
        pipeline: Pipeline,
        metrics: Metrics,
        rejections: Recorder,
        limits: Limits,
        namespaces: impl IntoIterator<Item = String>,
    ) -> Self {
        let namespace_in_flight = namespaces
            .into_iter()
            .map(|ns| (ns, Semaphore::new(limits.max_in_flight_per_namespace)))
            .collect();
        Self(Arc::new(Handles {
            auth,
            pipeline,
            metrics,
            rejections,
            in_flight: Semaphore::new(limits.max_in_flight),
            namespace_in_flight,
            limits,
            shutting_down: AtomicBool::new(false),
        }))
    }

    /// A slot for one more callback of `namespace`, unless `server.max_in_flight` callbacks,
    /// or `server.max_in_flight_per_namespace` of this namespace, are in flight.
    pub fn in_flight(&self, namespace: &str) -> Result<InFlight<'_>, Crowded> {
        let namespace = match self.0.namespace_in_flight.get(namespace) {
            Some(slots) => Some(slots.try_acquire().map_err(|_| Crowded::Namespace)?),
            None => None,
        };
        let permit = self.0.in_flight.try_acquire().map_err(|_| Crowded::Total)?;
        self.metrics.in_flight.inc();
        Ok(InFlight {
            _namespace: namespace,
            _permit: permit,
            gauge: &self.metrics.in_flight,
        })
    }

    /// From now on `/readyz` answers 503 (shutdown has begun).
    pub fn begin_shutdown(&self) {
        self.0.shutting_down.store(true, Ordering::Release);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.0.shutting_down.load(Ordering::Acquire)
    }

    /// Ready to take callbacks: events can be stored and shutdown has not begun.
    pub fn is_ready(&self) -> bool {
        !self.is_shutting_down() && self.pipeline.is_ready()
    }
}

/// Every route with its layers.
pub fn router(gateway: Gateway) -> axum::Router {
    axum::Router::new()
        .route(
            CALLBACK_ROUTE,
            post(callback::receive).put(callback::receive),
        )
        .route(HEALTHZ, get(health::healthz))
        .route(READYZ, get(health::readyz))
        .route(METRICS, get(health::metrics))
        .layer(CatchPanicLayer::new())
        .with_state(gateway)
}
