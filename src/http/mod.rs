//! The HTTP side: the server (connections and their limits, [`server`]), the router, and what
//! every request handler shares ([`Gateway`]).
//!
//! - `callback`: the callback endpoint (authenticate, decode, ingest, answer);
//! - `encoding`: `Content-Encoding` of callback bodies;
//! - `health`: `/healthz`, `/readyz`, `/metrics`;
//! - `problem`: error answers (`application/problem+json`).

mod callback;
mod encoding;
mod health;
mod problem;
pub mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::routing::{get, post};
use tokio::sync::{Semaphore, SemaphorePermit};
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::Authenticator;
use crate::ingest::Pipeline;
use crate::metrics::Metrics;

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
    /// Permits for callbacks in flight (`server.max_in_flight`).
    in_flight: Semaphore,
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
}

impl std::ops::Deref for Gateway {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// A callback in flight: holds its permit and keeps `gtt_gateway_callbacks_in_flight` counted.
pub struct InFlight<'a> {
    _permit: SemaphorePermit<'a>,
    gauge: &'a prometheus::IntGauge,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

impl Gateway {
    pub fn new(auth: Authenticator, pipeline: Pipeline, metrics: Metrics, limits: Limits) -> Self {
        Self(Arc::new(Handles {
            auth,
            pipeline,
            metrics,
            in_flight: Semaphore::new(limits.max_in_flight),
            limits,
            shutting_down: AtomicBool::new(false),
        }))
    }

    /// A slot for one more callback, unless `server.max_in_flight` are in flight.
    pub fn in_flight(&self) -> Option<InFlight<'_>> {
        let permit = self.0.in_flight.try_acquire().ok()?;
        self.metrics.in_flight.inc();
        Some(InFlight {
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
