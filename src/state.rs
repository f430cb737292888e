//! Shared application state: cheap, cloneable handles given to every request handler.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::publish::Publisher;
use crate::webhook::auth::Authenticator;

/// Per-process state of the HTTP server: one `Arc`, so the clone every request makes is cheap.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    pub auth: Authenticator,
    pub publisher: Publisher,
    pub metrics: Metrics,
    /// Permits for callbacks in flight (`server.max_in_flight`).
    pub in_flight: Semaphore,
    pub ingest: IngestSettings,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    pub shutting_down: AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The settings the ingest path reads on every request, resolved once.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// `gtt.api_url` without a trailing slash.
    pub api_url: String,
    pub subject_prefix: String,
    pub zone: chrono_tz::Tz,
}

impl IngestSettings {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            max_body_bytes: settings.server.max_body_bytes,
            request_timeout: settings.server.request_timeout,
            api_url: settings
                .gtt
                .api_url
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            subject_prefix: settings.nats.subject_prefix.clone(),
            zone: settings.gtt.zone,
        }
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }

    /// Ready to take callbacks: stream in place, publishing not failing for longer than
    /// `nats.unready_after`, not shutting down.
    pub fn is_ready(&self) -> bool {
        !self.shutting_down.load(Ordering::Acquire) && self.publisher.is_ready()
    }
}
