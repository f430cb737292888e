//! Building and running the application: connect NATS, keep the stream, bind the listener,
//! serve until the shutdown token fires, then stop within the grace period.
//!
//! Shutdown order: not ready -> stop accepting -> finish in-flight requests -> drain NATS,
//! all within `server.shutdown_grace`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Settings;
use crate::gtt::{GttClient, TokenSource};
use crate::metrics::Metrics;
use crate::publish::Publisher;
use crate::reconcile::Reconciler;
use crate::registrar::Registrar;
use crate::state::{AppState, IngestSettings, Shared};
use crate::webhook::auth::Authenticator;

/// A built, not yet running gateway.
pub struct Application {
    listener: TcpListener,
    /// `server.max_connections`, lowered to fit the open-files limit.
    max_connections: usize,
    state: AppState,
    settings: Settings,
    registrar: Option<Registrar>,
    reconciler: Option<Reconciler>,
}

impl Application {
    /// Bind the listener and connect to NATS (the connection is retried in the background, so
    /// a NATS outage at startup delays readiness, not startup).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let auth = Authenticator::new(&settings).context("callback authentication settings")?;
        let publisher = Publisher::connect(
            &settings.nats,
            settings.server.max_body_bytes,
            metrics.clone(),
        )
        .await
        .context("NATS connection settings")?;
        let max_connections = crate::server::connection_cap(settings.server.max_connections);
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        // One GTT client (and token cache) shared by the registrar and the poller.
        let gtt = gtt_client(&settings, &metrics);
        let registrar = if settings.registrar.enabled {
            let missing = settings.registrar_missing();
            if missing.is_empty() {
                Registrar::new(&settings, gtt.clone(), metrics.clone())
            } else {
                tracing::warn!(missing = ?missing, "Registrar enabled but not configured; GTT webhooks are not managed");
                None
            }
        } else {
            None
        };
        let reconciler = if settings.reconcile.enabled {
            let missing = settings.reconcile_missing();
            if missing.is_empty() {
                Some(Reconciler::new(
                    &settings,
                    gtt,
                    publisher.clone(),
                    metrics.clone(),
                ))
            } else {
                tracing::warn!(missing = ?missing, "Polling enabled but not configured; GTT is not polled");
                None
            }
        } else {
            None
        };
        let state = AppState::new(Shared {
            auth,
            publisher,
            metrics,
            in_flight: Semaphore::new(settings.server.max_in_flight),
            ingest: IngestSettings::from_settings(&settings),
            shutting_down: AtomicBool::new(false),
        });
        Ok(Self {
            listener,
            max_connections,
            state,
            settings,
            registrar,
            reconciler,
        })
    }

    /// The bound address (port 0 in tests becomes the real port here).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` is cancelled (or the stream can never become ready), then stop
    /// gracefully.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            max_connections,
            state,
            settings,
            registrar,
            reconciler,
        } = self;
        tracing::info!(
            listen = %listener.local_addr()?,
            namespaces = settings.namespaces.len(),
            stream = %settings.nats.stream,
            "gtt-gateway started"
        );
        let keeper = {
            let publisher = state.publisher.clone();
            let token = shutdown.clone();
            tokio::spawn(async move { publisher.keep_stream(token).await })
        };
        // The registrar runs beside ingest and never blocks it; it deletes nothing on shutdown.
        let registrar = registrar.map(|r| tokio::spawn(r.run(shutdown.clone())));
        let reconciler = reconciler.map(|r| tokio::spawn(r.run(shutdown.clone())));
        let stop_accepting = {
            let token = shutdown.clone();
            let state = state.clone();
            async move {
                token.cancelled().await;
                state.shutting_down.store(true, Ordering::Release);
            }
        };
        let publisher = state.publisher.clone();
        let metrics = state.metrics.clone();
        let app = router(state);
        let server = {
            let server_settings = settings.server.clone();
            tokio::spawn(async move {
                crate::server::serve(
                    listener,
                    app,
                    &server_settings,
                    max_connections,
                    metrics,
                    stop_accepting,
                )
                .await;
            })
        };

        let mut fatal = None;
        tokio::select! {
            _ = shutdown.cancelled() => {}
            joined = keeper => {
                if let Ok(Err(e)) = joined {
                    tracing::error!(error = format!("{e:#}"), "JetStream cannot be used as configured; stopping");
                    fatal = Some(e);
                }
                shutdown.cancel();
            }
        }

        let deadline = Instant::now() + settings.server.shutdown_grace;
        match tokio::time::timeout_at(deadline.into(), server).await {
            Ok(Ok(())) => tracing::info!("HTTP server stopped; in-flight requests finished"),
            Ok(Err(e)) => tracing::error!(error = %e, "HTTP server task failed"),
            Err(_) => tracing::warn!("Shutdown grace period over; abandoning open requests"),
        }
        for task in registrar.into_iter().chain(reconciler) {
            let _ = tokio::time::timeout_at(deadline.into(), task).await;
        }
        if tokio::time::timeout_at(deadline.into(), publisher.drain())
            .await
            .is_err()
        {
            tracing::warn!("Shutdown grace period over before NATS drained");
        }
        tracing::info!("gtt-gateway stopped");
        fatal.map_or(Ok(()), Err)
    }
}

/// The GTT API client (with its token source) the settings describe.
pub fn gtt_client(settings: &Settings, metrics: &Metrics) -> GttClient {
    let http = GttClient::http_client();
    let tokens = TokenSource::new(
        http.clone(),
        settings.gtt.auth_url.clone(),
        settings.gtt.client_id.clone(),
        settings.gtt.client_secret.clone(),
        metrics.clone(),
    );
    GttClient::new(
        settings.gtt.api_url.clone(),
        Arc::new(tokens),
        http,
        metrics.clone(),
    )
}

/// Every route with its layers.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .merge(crate::webhook::router())
        .merge(crate::health::router())
        .layer(CatchPanicLayer::new())
        .with_state(state)
}
