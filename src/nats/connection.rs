//! The NATS connection: one server or a cluster's list (`nats.url`), credentials, reconnecting
//! forever with a bounded pause, and the client's events, which drive the
//! `gtt_gateway_nats_connected` gauge, the failure streak and the stream keeper.

use std::sync::Arc;
use std::time::Duration;

use async_nats::ConnectOptions;
use tokio::sync::{Notify, watch};

use super::readiness::FailureStreak;
use crate::config::NatsSettings;
use crate::metrics::Metrics;

/// Longest pause between reconnect attempts to NATS.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// What the connection's events tell the rest of the NATS side.
pub(super) struct Link {
    /// `true` while connected, for publishes waiting for a reconnect.
    pub connected: watch::Sender<bool>,
    /// Wakes the stream keeper: after a (re)connect, or when a publish found no responders.
    pub check_stream: Arc<Notify>,
    /// How long publishing has been failing (a disconnect starts a streak, a connect ends it).
    pub streak: Arc<FailureStreak>,
}

/// Connect (retrying in the background while NATS is not up yet).
pub(super) async fn connect(
    settings: &NatsSettings,
    metrics: &Metrics,
) -> anyhow::Result<(async_nats::Client, Link)> {
    let link = Link {
        connected: watch::Sender::new(false),
        check_stream: Arc::new(Notify::new()),
        streak: Arc::new(FailureStreak::new()),
    };
    let (connected, check_stream, streak, metrics) = (
        link.connected.clone(),
        Arc::clone(&link.check_stream),
        Arc::clone(&link.streak),
        metrics.clone(),
    );
    let mut options = ConnectOptions::new()
        .name(concat!("gtt-gateway/", env!("CARGO_PKG_VERSION")))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .client_capacity(8192)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(100 * attempts.min(20) as u64).min(MAX_RECONNECT_DELAY)
        })
        .event_callback(move |event| {
            let (connected, check_stream, streak, metrics) = (
                connected.clone(),
                Arc::clone(&check_stream),
                Arc::clone(&streak),
                metrics.clone(),
            );
            async move {
                match event {
                    async_nats::Event::Connected => {
                        connected.send_replace(true);
                        metrics.nats_connected.set(1);
                        streak.clear();
                        tracing::info!("NATS connected");
                        check_stream.notify_one();
                    }
                    async_nats::Event::Disconnected => {
                        connected.send_replace(false);
                        metrics.nats_connected.set(0);
                        streak.fail("not_connected");
                        tracing::warn!("NATS disconnected; reconnecting");
                    }
                    other => tracing::info!(event = %other, "NATS client event"),
                }
            }
        });
    if let Some(path) = &settings.credentials_file {
        options = options.credentials_file(path).await?;
    }
    let client = options.connect(settings.url.as_slice()).await?;
    Ok((client, link))
}
