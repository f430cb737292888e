//! The subscription registrar: makes GTT's webhook list match the configured subscriptions for
//! every namespace (create missing, fix wrong URL or spec, optionally prune our own stale ones),
//! at startup and every `registrar.interval`, retrying with backoff while GTT is down.
//!
//! Safe with several replicas: all compute the same desired state from the same config, a
//! create that races answers 409 and is fine, and nothing is ever deleted on shutdown. Only
//! webhooks named `{registrar.name_prefix}-...` are ours to change. When a reload brings a new
//! callback secret (or GTT client secret), a pass runs at once: the URLs get the new tokens.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::backoff::Backoff;
use crate::config::{Settings, Subscription};
use crate::gtt::types::{Webhook, WebhookSpec};
use crate::gtt::{GttClient, GttError};
use crate::metrics::Metrics;
use gtt_core::token::TokenKeys;

/// Half the first retry delay after a failed sync; doubles up to the interval.
const MIN_RETRY: Duration = Duration::from_secs(1);

/// One change the registrar makes (or would make, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Already right.
    Keep {
        namespace: String,
        name: String,
    },
    Create {
        namespace: String,
        webhook: Webhook,
    },
    /// Wrong URL or spec: replace with `webhook`.
    Update {
        namespace: String,
        webhook: Webhook,
    },
    /// Ours, no longer desired (prune only).
    Delete {
        namespace: String,
        name: String,
    },
}

impl Change {
    pub(crate) fn verb(&self) -> &'static str {
        match self {
            Change::Keep { .. } => "keep",
            Change::Create { .. } => "create",
            Change::Update { .. } => "update",
            Change::Delete { .. } => "delete",
        }
    }

    pub(crate) fn namespace(&self) -> &str {
        match self {
            Change::Keep { namespace, .. }
            | Change::Create { namespace, .. }
            | Change::Update { namespace, .. }
            | Change::Delete { namespace, .. } => namespace,
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            Change::Keep { name, .. } | Change::Delete { name, .. } => name,
            Change::Create { webhook, .. } | Change::Update { webhook, .. } => &webhook.name,
        }
    }
}

/// Keeps GTT's webhooks right.
#[derive(Clone)]
pub(crate) struct Registrar {
    client: GttClient,
    /// The callback secrets: the current one signs the URLs.
    keys: watch::Receiver<TokenKeys>,
    public_url: Url,
    namespaces: Vec<String>,
    subscriptions: Vec<Subscription>,
    name_prefix: String,
    prune: bool,
    interval: Duration,
    metrics: Metrics,
}

impl Registrar {
    /// `None` when the settings lack what registration needs (see
    /// [`Settings::registrar_missing`]).
    pub(crate) fn new(settings: &Settings, client: GttClient, metrics: Metrics) -> Option<Self> {
        let public_url = settings.callbacks.public_url.clone()?;
        Some(Self {
            client,
            keys: watch::channel(settings.callbacks.keys()).1,
            public_url,
            namespaces: settings
                .namespaces
                .iter()
                .map(|n| n.name().to_string())
                .collect(),
            subscriptions: settings.subscriptions.clone(),
            name_prefix: settings.registrar.name_prefix.clone(),
            prune: settings.registrar.prune,
            interval: settings.registrar.interval,
            metrics,
        })
    }

    /// Sign the URLs with the keys `keys` holds, and sync at once whenever it is updated.
    pub(crate) fn follow(mut self, keys: watch::Receiver<TokenKeys>) -> Self {
        self.keys = keys;
        self
    }

    /// `{prefix}-{kind}-{version}-{action}`, e.g. `gtt-gateway-case-v1alpha-create`.
    pub(crate) fn webhook_name(&self, sub: &Subscription) -> String {
        format!(
            "{}-{}-{}-{}",
            self.name_prefix,
            sub.kind.to_ascii_lowercase(),
            sub.version.to_ascii_lowercase(),
            sub.action.to_ascii_lowercase()
        )
    }

    fn is_ours(&self, name: &str) -> bool {
        name.strip_prefix(&self.name_prefix)
            .is_some_and(|rest| rest.starts_with('-'))
    }

    /// The webhooks this namespace should have.
    pub(crate) fn desired(&self, namespace: &str) -> Vec<Webhook> {
        let keys = self.keys.borrow().clone();
        self.subscriptions
            .iter()
            .map(|sub| Webhook {
                kind: "webhook".into(),
                version: crate::gtt::client::WEBHOOK_VERSION.into(),
                namespace: namespace.to_string(),
                name: self.webhook_name(sub),
                metadata: Some(json!({"labels": {"app.kubernetes.io/managed-by": "gtt-gateway"}})),
                spec: WebhookSpec {
                    url: keys
                        .callback_url(&self.public_url, namespace, &sub.kind, &sub.action)
                        .to_string(),
                    version: sub.version.clone(),
                    kind: sub.kind.clone(),
                    action: sub.action.clone(),
                },
            })
            .collect()
    }

    /// Compare GTT's list with the desired state.
    pub(crate) fn plan(&self, namespace: &str, existing: &[Webhook], prune: bool) -> Vec<Change> {
        let desired = self.desired(namespace);
        let mut changes = Vec::new();
        for want in &desired {
            let change = match existing.iter().find(|w| w.name == want.name) {
                None => Change::Create {
                    namespace: namespace.to_string(),
                    webhook: want.clone(),
                },
                Some(have) if have.spec == want.spec => Change::Keep {
                    namespace: namespace.to_string(),
                    name: want.name.clone(),
                },
                Some(_) => Change::Update {
                    namespace: namespace.to_string(),
                    webhook: want.clone(),
                },
            };
            changes.push(change);
        }
        if prune {
            for have in existing {
                if self.is_ours(&have.name) && !desired.iter().any(|w| w.name == have.name) {
                    changes.push(Change::Delete {
                        namespace: namespace.to_string(),
                        name: have.name.clone(),
                    });
                }
            }
        }
        changes
    }

    /// One pass over every namespace. With `dry_run`, only plans. Returns what was (or would
    /// be) done; the first GTT error stops the pass for that namespace and is returned after
    /// the other namespaces were tried.
    pub(crate) async fn sync_once(
        &self,
        prune: bool,
        dry_run: bool,
    ) -> Result<Vec<Change>, GttError> {
        let mut done = Vec::new();
        let mut first_error = None;
        for namespace in &self.namespaces {
            match self.sync_namespace(namespace, prune, dry_run).await {
                Ok(changes) => done.extend(changes),
                Err(e) => {
                    for sub in &self.subscriptions {
                        self.set_gauge(namespace, sub, false);
                    }
                    tracing::warn!(namespace = %namespace, error = %e, "Webhook sync failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(done), Err)
    }

    async fn sync_namespace(
        &self,
        namespace: &str,
        prune: bool,
        dry_run: bool,
    ) -> Result<Vec<Change>, GttError> {
        let existing = self.client.list_webhooks(namespace).await?;
        let changes = self.plan(namespace, &existing, prune);
        if dry_run {
            return Ok(changes);
        }
        for change in &changes {
            match change {
                Change::Keep { .. } => {}
                Change::Create { webhook, .. } => {
                    match self.client.create_webhook(namespace, webhook).await {
                        // Another replica won the race; the next pass checks its spec.
                        Ok(_) | Err(GttError::Conflict) => {}
                        Err(e) => return Err(e),
                    }
                }
                Change::Update { webhook, .. } => {
                    match self.client.update_webhook(namespace, webhook).await {
                        Ok(_) => {}
                        Err(GttError::NotFound) => {
                            match self.client.create_webhook(namespace, webhook).await {
                                Ok(_) | Err(GttError::Conflict) => {}
                                Err(e) => return Err(e),
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                Change::Delete { name, .. } => {
                    match self.client.delete_webhook(namespace, name).await {
                        Ok(()) | Err(GttError::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            if !matches!(change, Change::Keep { .. }) {
                tracing::info!(
                    namespace,
                    webhook = change.name(),
                    change = change.verb(),
                    "Webhook changed at GTT"
                );
            }
        }
        for sub in &self.subscriptions {
            self.set_gauge(namespace, sub, true);
        }
        Ok(changes)
    }

    fn set_gauge(&self, namespace: &str, sub: &Subscription, in_place: bool) {
        self.metrics
            .subscriptions
            .with_label_values(&[namespace, &sub.kind, &sub.action])
            .set(i64::from(in_place));
    }

    /// Sync now, every interval and whenever the callback keys change, until `shutdown`; while
    /// GTT fails, retry sooner with exponential backoff and jitter. Never deletes anything on
    /// the way out.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::jittered(MIN_RETRY, self.interval);
        let mut keys = self.keys.clone();
        loop {
            let pause = match self.sync_once(self.prune, false).await {
                Ok(changes) => {
                    backoff.reset();
                    let changed = changes
                        .iter()
                        .filter(|c| !matches!(c, Change::Keep { .. }))
                        .count();
                    tracing::info!(
                        webhooks = changes.len(),
                        changed,
                        "Webhook subscriptions in place"
                    );
                    self.interval
                }
                Err(_) => backoff.fail(),
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
                Ok(()) = keys.changed() => {
                    backoff.reset();
                    tracing::info!("Syncing the webhooks at GTT now: secrets were reloaded");
                }
            }
        }
    }

    /// Every webhook GTT has in our namespaces, each with whether it is ours and right.
    pub(crate) async fn list(&self) -> Result<Vec<Listed>, GttError> {
        let mut out = Vec::new();
        for namespace in &self.namespaces {
            out.extend(self.list_namespace(namespace).await?);
        }
        Ok(out)
    }

    /// Every webhook GTT has in `namespace`, each with whether it is ours and right.
    pub(crate) async fn list_namespace(&self, namespace: &str) -> Result<Vec<Listed>, GttError> {
        let desired = self.desired(namespace);
        let listed = self.client.list_webhooks(namespace).await?;
        Ok(listed
            .into_iter()
            .map(|webhook| {
                let want = desired.iter().find(|w| w.name == webhook.name);
                Listed {
                    namespace: namespace.to_string(),
                    ours: self.is_ours(&webhook.name),
                    correct: want.is_some_and(|w| w.spec == webhook.spec),
                    webhook,
                }
            })
            .collect())
    }
}

/// A row of `subscriptions list`.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub namespace: String,
    pub webhook: Webhook,
    /// Named with our prefix.
    pub ours: bool,
    /// Ours and exactly as desired.
    pub correct: bool,
}

/// A callback URL with its token replaced, for printing.
pub(crate) fn redact_url(url: &str) -> String {
    match url.rsplit_once('/') {
        Some((head, token))
            if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            format!("{head}/<token>")
        }
        _ => url.to_string(),
    }
}
