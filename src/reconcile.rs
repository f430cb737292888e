//! The polling fallback (`[reconcile]`): per namespace, a *poll* lists the cases GTT changed
//! since a stored watermark (minus an overlap for clock skew), pages through them and stores each
//! through the ingest pipeline, like a callback, with `gttorigin = poll` and the same ids, so a
//! change that a webhook already delivered is a JetStream duplicate, not a second event.
//!
//! One replica polls each namespace at a time (a lease in the ticket-state bucket); the
//! watermark survives restarts there too. Polling sees each case's *current* state: a change
//! that is superseded before the next poll and whose webhook was lost cannot be recovered (GTT
//! documents no history API).

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use gtt_core::changes::believable;
use gtt_core::event::Origin;
use gtt_core::normalize::parse_timestamp;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::{ReconcileSettings, Settings};
use crate::gtt::GttClient;
use crate::ingest::{Ingested, Pipeline, Received};
use crate::metrics::Metrics;
use crate::nats::{BucketError, Leases};

/// Longest pause after repeated failures (or the interval, when longer).
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The poller of every configured namespace.
#[derive(Clone)]
pub(crate) struct Reconciler {
    client: GttClient,
    pipeline: Pipeline,
    leases: Leases,
    settings: ReconcileSettings,
    namespaces: Vec<String>,
    metrics: Metrics,
    /// This replica's name in leases.
    instance: String,
}

/// Which listed cases a sweep stores: those GTT lists as changed since `since` (whole seconds,
/// in GTT's own form), less those changed after `until`, when set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

/// What a sweep of a namespace's case list did (so far, while it runs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub pages: usize,
    /// Cases listed.
    pub seen: usize,
    /// Stored now: no webhook (or earlier sweep) had delivered them.
    pub stored: usize,
    /// Already stored (JetStream held the id).
    pub already_stored: usize,
    pub dead_lettered: usize,
    /// Listed, but changed after the window's `until`.
    pub after_window: usize,
    /// Not stored (publishing failed); only counted when the sweep goes on past failures.
    pub errors: usize,
    /// The newest believable change time among the cases listed.
    pub newest: Option<DateTime<Utc>>,
}

/// What a sweep does when a case cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnStoreError {
    /// End the sweep with the error (a poll: the watermark must not pass the case).
    Stop,
    /// Count it and go on (a backfill: the operator runs it again).
    Count,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PollError {
    #[error("GTT: {0}")]
    Gtt(#[from] crate::gtt::GttError),
    #[error("publish: {0}")]
    Publish(#[from] crate::nats::PublishError),
    #[error("{0}")]
    Bucket(#[from] BucketError),
}

impl Reconciler {
    pub(crate) fn new(
        settings: &Settings,
        client: GttClient,
        pipeline: Pipeline,
        leases: Leases,
        metrics: Metrics,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gateway".into());
        Self {
            client,
            pipeline,
            leases,
            settings: settings.reconcile.clone(),
            namespaces: settings
                .namespaces
                .iter()
                .map(|n| n.name().to_string())
                .collect(),
            metrics,
            instance: format!("{host}-{:08x}", rand::random::<u32>()),
        }
    }

    /// Poll every namespace until `shutdown`.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let loops = self.namespaces.iter().map(|ns| {
            let this = self.clone();
            let ns = ns.clone();
            let shutdown = shutdown.clone();
            async move { this.run_namespace(&ns, shutdown).await }
        });
        futures::future::join_all(loops).await;
    }

    async fn run_namespace(&self, namespace: &str, shutdown: CancellationToken) {
        let interval = self.settings.interval;
        let mut backoff = Backoff::jittered(
            interval,
            interval.saturating_mul(64).min(MAX_BACKOFF.max(interval)),
        );
        let mut last_success: Option<Instant> = None;
        loop {
            let pause = if !self.pipeline.is_ready() || !self.leases.is_available() {
                Duration::from_millis(500)
            } else {
                match self.turn(namespace).await {
                    Ok(None) => {
                        self.count(namespace, "standby");
                        self.settings.interval
                    }
                    Ok(Some((started, tally))) => {
                        self.count(namespace, "ok");
                        backoff.reset();
                        last_success = Some(started);
                        if tally.stored > 0 {
                            tracing::info!(
                                namespace,
                                recovered = tally.stored,
                                seen = tally.seen,
                                "Polling recovered changes webhooks missed"
                            );
                        }
                        self.settings.interval
                    }
                    Err(e) => {
                        self.count(namespace, "error");
                        tracing::warn!(namespace, error = %e, "Poll failed; backing off");
                        backoff.fail()
                    }
                }
            };
            if let Some(started) = last_success {
                self.metrics
                    .reconcile_lag
                    .with_label_values(&[namespace])
                    .set(started.elapsed().as_secs_f64());
            }
            if shutdown
                .run_until_cancelled(tokio::time::sleep(pause))
                .await
                .is_none()
            {
                self.leases.release(namespace, &self.instance).await;
                return;
            }
        }
    }

    fn count(&self, namespace: &str, outcome: &str) {
        self.metrics
            .reconcile_runs
            .with_label_values(&[namespace, outcome])
            .inc();
    }

    /// Poll once if this replica holds (or takes) the namespace's lease.
    async fn turn(&self, namespace: &str) -> Result<Option<(Instant, Tally)>, PollError> {
        if !self
            .leases
            .acquire(namespace, &self.instance, self.settings.lease_ttl)
            .await?
        {
            return Ok(None);
        }
        let started = Instant::now();
        let tally = self.poll_once(namespace).await?;
        Ok(Some((started, tally)))
    }

    /// List everything changed since the watermark (minus the overlap) and store it.
    pub(crate) async fn poll_once(&self, namespace: &str) -> Result<Tally, PollError> {
        let poll_started = Utc::now();
        // A watermark too far ahead to be believed would hide every later change: start over.
        let watermark = match self
            .leases
            .watermark(namespace)
            .await?
            .and_then(|at| believable(at, poll_started))
        {
            Some(at) => at,
            None => poll_started - to_chrono(self.settings.lookback),
        };
        let window = Window {
            since: watermark - to_chrono(self.settings.overlap),
            until: None,
        };
        let tally = self
            .sweep(namespace, window, OnStoreError::Stop, |_| {})
            .await?;
        let newest = tally.newest.map_or(watermark, |at| at.max(watermark));
        self.leases.set_watermark(namespace, newest).await?;
        Ok(tally)
    }

    /// List the cases GTT changed in `window`, page by page (at most
    /// `reconcile.max_requests_per_second` list calls), and store each through the pipeline;
    /// `progress` sees the tally after every page. The poller's and the backfill's one path.
    pub(crate) async fn sweep(
        &self,
        namespace: &str,
        window: Window,
        on_error: OnStoreError,
        mut progress: impl FnMut(&Tally),
    ) -> Result<Tally, PollError> {
        let started = Utc::now();
        // GTT's own timestamp form, in the zone its zone-less timestamps are read in.
        let since_text = window
            .since
            .with_timezone(&self.pipeline.zone())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        let mut tally = Tally::default();
        let mut cursor: Option<String> = None;
        let min_gap = Duration::from_secs(1) / self.settings.max_requests_per_second.max(1);
        let mut last_request: Option<Instant> = None;
        loop {
            if let Some(at) = last_request {
                let wait = min_gap.saturating_sub(at.elapsed());
                tokio::time::sleep(wait).await;
            }
            last_request = Some(Instant::now());
            let page = self
                .client
                .list_cases(
                    namespace,
                    Some(&since_text),
                    self.settings.page_size,
                    cursor.as_deref(),
                )
                .await?;
            tally.pages += 1;
            for item in &page.items {
                tally.seen += 1;
                let parsed: Value = serde_json::from_str(item.get()).unwrap_or_default();
                let changed = updated_at(&parsed, self.pipeline.zone());
                if let Some(at) = changed.and_then(|at| believable(at, started)) {
                    tally.newest = Some(tally.newest.map_or(at, |newest| newest.max(at)));
                }
                if window
                    .until
                    .is_some_and(|until| changed.is_some_and(|at| at > until))
                {
                    tally.after_window += 1;
                    continue;
                }
                match self.store(namespace, item, poll_action(&parsed)).await {
                    Ok(stored) if stored.duplicate => tally.already_stored += 1,
                    Ok(stored) if stored.dead_letter.is_some() => tally.dead_lettered += 1,
                    Ok(_) => {
                        tally.stored += 1;
                        self.metrics
                            .reconcile_recovered
                            .with_label_values(&[namespace])
                            .inc();
                    }
                    Err(e) if on_error == OnStoreError::Stop => return Err(e),
                    Err(e) => {
                        tally.errors += 1;
                        tracing::warn!(namespace, error = %e, "Case not stored; counted");
                    }
                }
            }
            progress(&tally);
            match page.next {
                Some(next) if !page.items.is_empty() && cursor.as_ref() != Some(&next) => {
                    cursor = Some(next);
                }
                _ => break,
            }
        }
        Ok(tally)
    }

    /// Store one listed case, its raw text as the body (as a webhook would have sent it).
    async fn store(
        &self,
        namespace: &str,
        item: &RawValue,
        action: &str,
    ) -> Result<Ingested, PollError> {
        let body = Bytes::copy_from_slice(item.get().as_bytes());
        let received = Received {
            namespace,
            kind: "case",
            action,
            origin: Origin::Poll,
            at: Utc::now(),
            traceparent: None,
            content_type: None,
        };
        Ok(self.pipeline.ingest(&received, body).await?)
    }
}

/// `create` for a case never changed since it was opened, else `update` (the subject a
/// webhook would have used).
fn poll_action(item: &Value) -> &'static str {
    let spec = &item["spec"];
    let first_version = item["metadata"]["resource_version"].as_str().map(str::trim) == Some("1");
    let unchanged = spec["opened_at"].is_string() && spec["opened_at"] == spec["updated_at"];
    if first_version || (item["metadata"]["resource_version"].is_null() && unchanged) {
        "create"
    } else {
        "update"
    }
}

fn updated_at(item: &Value, zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    parse_timestamp(&item["spec"]["updated_at"], zone)
        .or_else(|| parse_timestamp(&item["metadata"]["updated_at"], zone))
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn action_of_a_polled_case() {
        assert_eq!(
            poll_action(&json!({"metadata": {"resource_version": "1"}, "spec": {}})),
            "create"
        );
        assert_eq!(
            poll_action(&json!({"metadata": {"resource_version": "3"}, "spec": {}})),
            "update"
        );
        assert_eq!(
            poll_action(
                &json!({"spec": {"opened_at": "2025-01-01 10:00:00", "updated_at": "2025-01-01 10:00:00"}})
            ),
            "create"
        );
        assert_eq!(
            poll_action(
                &json!({"spec": {"opened_at": "2025-01-01 10:00:00", "updated_at": "2025-01-01 10:05:00"}})
            ),
            "update"
        );
    }
}
