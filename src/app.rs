//! Building and running the gateway: connect NATS, bind the listener, build the pipeline and
//! the background tasks (stream keeper, registrar, poller, and the secret reload when asked
//! for), serve until the shutdown token fires, then stop within the grace period.
//!
//! Shutdown order: not ready -> stop accepting -> finish in-flight requests -> drain NATS,
//! all within `server.shutdown_grace`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::gtt::GttClient;
use crate::http::rejections::{Recorder, Writer};
use crate::http::{Gateway, Limits};
use crate::ingest::Pipeline;
use crate::metrics::Metrics;
use crate::nats::{Keeper, Nats, Publisher};
use crate::reconcile::Reconciler;
use crate::registrar::Registrar;
use crate::reload::{Reloader, Targets};

/// A built, not yet running gateway.
pub struct Application {
    listener: TcpListener,
    /// `server.max_connections`, lowered to fit the open-files limit.
    max_connections: usize,
    gateway: Gateway,
    publisher: Publisher,
    keeper: Keeper,
    settings: Settings,
    registrar: Option<Registrar>,
    reconciler: Option<Reconciler>,
    /// What a secret reload swaps secrets into.
    targets: Targets,
    reloader: Option<Reloader>,
    /// Writes the records of refused callbacks (`[rejections]`).
    rejections: Option<Writer>,
}

impl Application {
    /// Bind the listener and connect to NATS (the connection is retried in the background, so
    /// a NATS outage at startup delays readiness, not startup).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let mut nats = Nats::connect(
            &settings.nats,
            settings.server.max_body_bytes,
            metrics.clone(),
        )
        .await
        .context("NATS connection settings")?;
        let (recorder, rejections) = Recorder::new(&settings, &metrics);
        if rejections.is_some() {
            let stream =
                crate::nats::rejections::stream_config(&settings.nats, &settings.rejections);
            nats.keeper.keep_also(
                stream,
                "rejections",
                "refused callbacks are only counted, not recorded",
            );
        }
        let max_connections = crate::http::server::connection_cap(settings.server.max_connections);
        let listener = TcpListener::bind(settings.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen))?;
        let pipeline = Pipeline::new(nats.publisher.clone(), nats.tickets, &settings);
        // One GTT client (and token cache) shared by the registrar and the poller.
        let gtt = GttClient::from_settings(&settings, &metrics);
        let keys = watch::Sender::new(settings.callbacks.keys());
        let registrar = settings
            .registrar
            .enabled
            .then(|| enabled("Registrar", settings.registrar_missing()))
            .flatten()
            .and_then(|()| Registrar::new(&settings, gtt.clone(), metrics.clone()))
            .map(|registrar| registrar.follow(keys.subscribe()));
        let reconciler = settings
            .reconcile
            .enabled
            .then(|| enabled("Polling", settings.reconcile_missing()))
            .flatten()
            .map(|()| {
                Reconciler::new(
                    &settings,
                    gtt.clone(),
                    pipeline.clone(),
                    nats.leases,
                    metrics.clone(),
                )
            });
        let limits = Limits {
            max_body_bytes: settings.server.max_body_bytes,
            request_timeout: settings.server.request_timeout,
            max_in_flight: settings.server.max_in_flight,
            max_in_flight_per_namespace: settings.server.namespace_in_flight(),
        };
        let namespaces = settings.namespaces.iter().map(|ns| ns.name().to_string());
        let gateway = Gateway::new(
            Authenticator::new(&settings),
            pipeline,
            metrics,
            recorder,
            limits,
            namespaces,
        );
        let targets = Targets {
            gateway: gateway.clone(),
            gtt,
            keys,
            nats: nats.credentials,
        };
        Ok(Self {
            listener,
            max_connections,
            gateway,
            publisher: nats.publisher,
            keeper: nats.keeper,
            settings,
            registrar,
            reconciler,
            targets,
            reloader: None,
            rejections,
        })
    }

    /// While running, reload the secrets on SIGHUP and when the settings at `config` (what they
    /// were loaded from; `None`: `GTT_GATEWAY_CONFIG`, or the defaults) change. SIGHUP is
    /// handled from this call on.
    pub fn reload_secrets_from(mut self, config: Option<&Path>) -> Self {
        self.reloader = Some(Reloader::new(
            config.map(Path::to_path_buf),
            self.settings.clone(),
            self.targets.clone(),
        ));
        self
    }

    /// The bound address (port 0 in tests becomes the real port here).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// What the request handlers share (readiness, metrics).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Serve until `shutdown` is cancelled (or NATS cannot be used as configured), then stop
    /// gracefully.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            listener,
            max_connections,
            gateway,
            publisher,
            keeper,
            settings,
            registrar,
            reconciler,
            targets: _,
            reloader,
            rejections,
        } = self;
        tracing::info!(
            listen = %listener.local_addr()?,
            namespaces = settings.namespaces.len(),
            stream = %settings.nats.stream,
            "gtt-gateway started"
        );
        let keeper = {
            let token = shutdown.clone();
            tokio::spawn(async move { keeper.run(token).await })
        };
        // The registrar runs beside ingest and never blocks it; it deletes nothing on shutdown.
        let registrar = registrar.map(|r| tokio::spawn(r.run(shutdown.clone())));
        let reconciler = reconciler.map(|r| tokio::spawn(r.run(shutdown.clone())));
        let reloader = reloader.map(|r| tokio::spawn(r.run(shutdown.clone())));
        let rejections =
            rejections.map(|w| tokio::spawn(w.run(publisher.clone(), shutdown.clone())));
        let stop_accepting = {
            let (token, gateway) = (shutdown.clone(), gateway.clone());
            async move {
                token.cancelled().await;
                gateway.begin_shutdown();
            }
        };
        let metrics = gateway.metrics.clone();
        let server_settings = settings.server.clone();
        let server = tokio::spawn(async move {
            crate::http::server::serve(
                listener,
                crate::http::router(gateway),
                &server_settings,
                max_connections,
                metrics,
                stop_accepting,
            )
            .await;
        });

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
        for task in registrar
            .into_iter()
            .chain(reconciler)
            .chain(reloader)
            .chain(rejections)
        {
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

/// `Some(())` when a component that is enabled has every key it needs; else a warning naming
/// what is missing.
fn enabled(component: &str, missing: Vec<&'static str>) -> Option<()> {
    if missing.is_empty() {
        return Some(());
    }
    tracing::warn!(missing = ?missing, "{component} enabled but not configured; it does not run");
    None
}
