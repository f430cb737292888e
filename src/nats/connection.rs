//! The NATS connection: one server or a cluster's list (`nats.url`), TLS, credentials
//! ([`Credentials`], presented at every (re)connect, so a reload swaps them), reconnecting
//! forever with a bounded pause, and the client's events, which drive the
//! `gtt_gateway_nats_connected` gauge, the failure streak and the stream keeper. A refused
//! connection is explained with the setting to fix (`diagnosis`).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_nats::{AuthError, ConnectOptions};
use secrecy::ExposeSecret;
use tokio::sync::{Notify, watch};

use super::diagnosis::{self, Refusal};
use super::readiness::FailureStreak;
use crate::config::{NatsAuth, NatsSettings};
use crate::metrics::Metrics;

/// Longest pause between reconnect attempts to NATS.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);
/// Longest wait of a one-off connection check ([`probe`]).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The credentials the connection presents: read at every (re)connect; a reload replaces them.
#[derive(Clone)]
pub(crate) struct Credentials(Arc<ArcSwap<NatsAuth>>);

impl Credentials {
    fn new(auth: NatsAuth) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(auth)))
    }

    /// Present `auth` from the next (re)connect on; the open connection is left alone (the
    /// server closes it if it no longer accepts it, and the client reconnects with `auth`).
    pub(crate) fn replace(&self, auth: NatsAuth) {
        self.0.store(Arc::new(auth));
    }

    fn current(&self) -> Arc<NatsAuth> {
        self.0.load_full()
    }
}

/// What the client sends in its `CONNECT` for `auth`, the server's `nonce` signed where the
/// method needs it.
fn present(auth: &NatsAuth, nonce: &[u8]) -> Result<async_nats::Auth, AuthError> {
    let sign = |seed: &secrecy::SecretString| {
        let pair = nkeys::KeyPair::from_seed(seed.expose_secret()).map_err(AuthError::new)?;
        let signature = pair.sign(nonce).map_err(AuthError::new)?;
        Ok::<_, AuthError>((pair.public_key(), signature))
    };
    let mut out = async_nats::Auth::new();
    match auth {
        NatsAuth::None => {}
        NatsAuth::UserPassword { user, password } => {
            out.username = Some(user.clone());
            out.password = Some(password.expose_secret().to_owned());
        }
        NatsAuth::Token(token) => out.token = Some(token.expose_secret().to_owned()),
        NatsAuth::NKey(seed) => {
            let (public, signature) = sign(seed)?;
            out.nkey = Some(public);
            out.signature = Some(signature);
        }
        NatsAuth::Credentials { jwt, seed } => {
            out.jwt = Some(jwt.clone());
            out.signature = Some(sign(seed)?.1);
        }
    }
    Ok(out)
}

/// The options every connection shares: name, TLS, the credentials of `credentials`.
fn options(settings: &NatsSettings, credentials: &Credentials) -> ConnectOptions {
    let presented = credentials.clone();
    let mut options = ConnectOptions::with_auth_callback(move |nonce| {
        let auth = presented.current();
        async move { present(&auth, &nonce) }
    })
    .name(concat!("gtt-gateway/", env!("CARGO_PKG_VERSION")))
    .require_tls(settings.tls.required);
    if let Some(ca) = &settings.tls.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&settings.tls.cert_file, &settings.tls.key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    options
}

/// Try once to connect with `settings` (their credentials, not the running ones): `Err`
/// explains a refusal with the setting to fix.
pub(crate) async fn probe(settings: &NatsSettings) -> Result<(), String> {
    let attempt = options(settings, &Credentials::new(settings.auth.clone()))
        .connection_timeout(PROBE_TIMEOUT)
        .connect(settings.url.as_slice());
    let refusal = match tokio::time::timeout(2 * PROBE_TIMEOUT, attempt).await {
        Ok(Ok(_client)) => return Ok(()),
        Ok(Err(e)) => diagnosis::explain(&e.to_string(), &settings.auth, &settings.tls),
        Err(_) => None,
    };
    Err(refusal.unwrap_or_else(|| {
        format!(
            "no NATS server accepted a connection at {} (nats.url)",
            settings.url
        )
    }))
}

/// What the connection's events tell the rest of the NATS side.
pub(super) struct Link {
    /// `true` while connected, for publishes waiting for a reconnect.
    pub connected: watch::Sender<bool>,
    /// Wakes the stream keeper: after a (re)connect, or when a publish found no responders.
    pub check_stream: Arc<Notify>,
    /// How long publishing has been failing (a disconnect starts a streak, a connect ends it).
    pub streak: Arc<FailureStreak>,
    /// Why the server refuses the connection, if it does.
    pub refusal: Arc<Refusal>,
}

/// Connect (retrying in the background while NATS is not up yet).
pub(super) async fn connect(
    settings: &NatsSettings,
    metrics: &Metrics,
) -> anyhow::Result<(async_nats::Client, Link, Credentials)> {
    let link = Link {
        connected: watch::Sender::new(false),
        check_stream: Arc::new(Notify::new()),
        streak: Arc::new(FailureStreak::new()),
        refusal: Arc::new(Refusal::default()),
    };
    let credentials = Credentials::new(settings.auth.clone());
    let (connected, check_stream, streak, refusal, metrics) = (
        link.connected.clone(),
        Arc::clone(&link.check_stream),
        Arc::clone(&link.streak),
        Arc::clone(&link.refusal),
        metrics.clone(),
    );
    let explained = (
        Arc::clone(&link.refusal),
        credentials.clone(),
        settings.tls.clone(),
    );
    let client = options(settings, &credentials)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .client_capacity(8192)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(100 * attempts.min(20) as u64).min(MAX_RECONNECT_DELAY)
        })
        // Called before every connection attempt, with each server's last error.
        .reconnect_to_server_callback(move |servers, _| {
            let (refusal, credentials, tls) = &explained;
            let errors = servers.iter().filter(|s| s.failed_attempts > 0);
            for error in errors.filter_map(|s| s.last_error.as_deref()) {
                refusal.observe(error, &credentials.current(), tls);
            }
            std::future::ready(None)
        })
        .event_callback(move |event| {
            let (connected, check_stream, streak, refusal, metrics) = (
                connected.clone(),
                Arc::clone(&check_stream),
                Arc::clone(&streak),
                Arc::clone(&refusal),
                metrics.clone(),
            );
            async move {
                match event {
                    async_nats::Event::Connected => {
                        connected.send_replace(true);
                        metrics.nats_connected.set(1);
                        streak.clear();
                        refusal.clear();
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
        })
        .connect(settings.url.as_slice())
        .await?;
    Ok((client, link, credentials))
}
