//! Live secret reload: on SIGHUP, and whenever a fresh load of the settings every
//! [`POLL_INTERVAL`] differs (a Kubernetes Secret volume updated in place, a changed file), the
//! changed secrets are swapped in without a restart: the callback keys (the registrar then
//! registers the URLs with the new token), signature keys, the GTT client secret (its cached
//! token dropped, the registrar syncing at once) and the NATS credentials (presented at the next
//! connect, checked at once with a separate connection). Callbacks in flight finish with what
//! they started with. What changed is logged by key name, never by value; a changed key that
//! only a restart applies is logged as such, and its running value stays.

use std::path::PathBuf;
use std::time::Duration;

use gtt_core::token::TokenKeys;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::config::changes::Loaded;
use crate::gtt::GttClient;
use crate::http::Gateway;
use crate::nats::Credentials;

/// How often the settings are loaded again to notice changed files.
const POLL_INTERVAL: Duration = Duration::from_secs(3);

/// What a reload swaps secrets into.
#[derive(Clone)]
pub(crate) struct Targets {
    pub gateway: Gateway,
    pub gtt: GttClient,
    /// The callback keys the registrar signs with (a new value makes it sync at once).
    pub keys: watch::Sender<TokenKeys>,
    pub nats: Credentials,
}

/// Reloads the secrets until shutdown.
pub(crate) struct Reloader {
    /// `--config` (else `GTT_GATEWAY_CONFIG`, as at startup).
    config: Option<PathBuf>,
    running: Loaded,
    targets: Targets,
    hangups: Hangups,
    /// What was last reported about a failed load or keys needing a restart (said once).
    reported: Option<String>,
}

/// What started a reload.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Signal,
    Poll,
}

impl Reloader {
    /// Reload the settings at `config` that `settings` were loaded from; SIGHUP is handled from
    /// now on (it no longer ends the process).
    pub(crate) fn new(config: Option<PathBuf>, settings: Settings, targets: Targets) -> Self {
        let hangups = Hangups::new();
        let running = Loaded::running(settings, Loaded::load(config.as_deref()).ok());
        Self {
            config,
            running,
            targets,
            hangups,
            reported: None,
        }
    }

    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        poll.tick().await;
        loop {
            let trigger = tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.hangups.next() => Trigger::Signal,
                _ = poll.tick() => Trigger::Poll,
            };
            if trigger == Trigger::Signal {
                tracing::info!("SIGHUP: reloading secrets");
            }
            self.reload(trigger).await;
        }
    }

    async fn reload(&mut self, trigger: Trigger) {
        let fresh = match Loaded::load(self.config.as_deref()) {
            Ok(fresh) => fresh,
            Err(e) => return self.failed(trigger, &e),
        };
        let changes = self.running.changes(&fresh);
        if changes.restart.is_empty() {
            self.reported = None;
        } else {
            self.report(trigger, changes.restart.join(", "), |keys| {
                tracing::warn!(
                    keys,
                    "Changed settings take effect only after a restart; their running values stay"
                );
            });
        }
        if changes.secrets.is_empty() {
            if trigger == Trigger::Signal {
                tracing::info!("Reload: no secret changed");
            }
            return;
        }
        let merged = match self.running.settings.with_secrets_of(&fresh.settings) {
            Ok(merged) => merged,
            Err(e) => return self.failed(trigger, &e),
        };
        self.apply(&merged, &changes.secrets).await;
        tracing::info!(keys = changes.secrets.join(", "), "Secrets reloaded");
        let nats_changed = changes.secrets.iter().any(|key| key.starts_with("nats"));
        self.running.settings = merged;
        if nats_changed {
            let nats = &self.running.settings.nats;
            let key = nats.auth.key();
            match crate::nats::probe(nats).await {
                Ok(()) => tracing::info!(key, "NATS accepts the new credentials"),
                Err(problem) => tracing::warn!(
                    key,
                    %problem,
                    "NATS does not accept the new credentials (yet); the open connection keeps \
                     its own, every reconnect presents the new ones"
                ),
            }
        }
    }

    /// Swap the changed secrets (`changed`, by key) of `merged` into what runs.
    async fn apply(&self, merged: &Settings, changed: &[String]) {
        let targets = &self.targets;
        targets.gateway.auth.replace(merged);
        let changed = |wanted: &str| changed.iter().any(|key| key == wanted);
        if changed("gtt.client_secret") {
            targets
                .gtt
                .set_client_secret(merged.gtt.client_secret.clone())
                .await;
        }
        if changed("callbacks.secret") || changed("gtt.client_secret") {
            // The registrar syncs at once: new tokens in the URLs, or a GTT secret that works now.
            targets.keys.send_replace(merged.callbacks.keys());
        }
        targets.nats.replace(merged.nats.auth.clone());
    }

    /// A reload that could not load or merge the settings: nothing changes.
    fn failed(&mut self, trigger: Trigger, error: &crate::config::ConfigError) {
        self.report(trigger, error.to_string(), |problem| {
            tracing::error!(%problem, "Reload failed; the running settings stay");
        });
    }

    /// Log `what` through `log` when it is new, or when an operator asked (SIGHUP).
    fn report(&mut self, trigger: Trigger, what: String, log: impl FnOnce(&str)) {
        if trigger == Trigger::Signal || self.reported.as_deref() != Some(what.as_str()) {
            log(&what);
            self.reported = Some(what);
        }
    }
}

/// SIGHUPs, handled from creation on (so one no longer ends the process); none off Unix.
struct Hangups(Option<Signal>);

#[cfg(unix)]
type Signal = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Signal = std::convert::Infallible;

impl Hangups {
    fn new() -> Self {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
            if let Err(e) = &signal {
                tracing::warn!(error = %e, "SIGHUP cannot be handled; secret files are still polled");
            }
            Self(signal.ok())
        }
        #[cfg(not(unix))]
        Self(None)
    }

    /// The next SIGHUP (never, when they cannot be handled).
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = self.0.as_mut()
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending().await
    }
}
