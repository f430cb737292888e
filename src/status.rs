//! `gtt-gateway status`: per configured namespace, the webhooks at GTT, the poller's watermark
//! and lease, the last event and the dead letters by reason; each store's size against its
//! limits. What cannot be reached or is not configured (GTT, NATS, a stream, the bucket) is
//! listed as missing, never fatal.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Settings;
use crate::gtt::GttClient;
use crate::metrics::Metrics;
use crate::nats::{Filter, Inspector, LastEvent, Letters, StoreUsage};
use crate::registrar::{Listed, Registrar};

/// How long GTT may take to list a namespace's webhooks.
const GTT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything `status` reports.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub namespaces: Vec<Namespace>,
    /// The event stream, the bucket's stream and the dead-letter stream.
    pub storage: Vec<StoreUsage>,
    /// What could not be found out, and why.
    pub missing: Vec<String>,
    /// Whether NATS answered.
    pub nats_reachable: bool,
}

/// One namespace.
#[derive(Debug, Serialize)]
pub(crate) struct Namespace {
    pub namespace: String,
    /// `None` when GTT could not be asked (see `missing`).
    pub webhooks: Option<Webhooks>,
    pub watermark: Option<DateTime<Utc>>,
    pub lease: Option<LeaseStatus>,
    pub last_event: Option<LastEvent>,
    /// Stored dead letters by reason (`None` when they could not be counted).
    pub dead_letters: Option<BTreeMap<String, usize>>,
}

/// The namespace's webhooks at GTT against the configured subscriptions.
#[derive(Debug, Serialize)]
pub(crate) struct Webhooks {
    /// Webhooks the registrar keeps here.
    pub wanted: usize,
    /// Of those, in place as configured.
    pub in_place: usize,
    /// Present, but not as configured.
    pub wrong: usize,
    /// Absent.
    pub missing: usize,
    /// Other webhooks (someone else's, or our own no longer configured).
    pub others: usize,
}

/// Who polls the namespace.
#[derive(Debug, Serialize)]
pub(crate) struct LeaseStatus {
    pub owner: String,
    pub expires_at: DateTime<Utc>,
    pub expired: bool,
}

/// Find out everything `status` reports, as far as GTT and NATS answer.
pub(crate) async fn gather(settings: &Settings) -> Report {
    let mut report = Report {
        namespaces: settings
            .namespaces
            .iter()
            .map(|ns| Namespace {
                namespace: ns.name().to_string(),
                webhooks: None,
                watermark: None,
                lease: None,
                last_event: None,
                dead_letters: None,
            })
            .collect(),
        storage: Vec::new(),
        missing: Vec::new(),
        nats_reachable: false,
    };
    webhooks(settings, &mut report).await;
    match crate::nats::client(&settings.nats, crate::nats::COMMAND_TIMEOUT).await {
        Ok(client) => {
            report.nats_reachable = true;
            from_nats(
                &Inspector::new(client, &settings.nats),
                settings,
                &mut report,
            )
            .await;
        }
        Err(e) => report.missing.push(format!("NATS: {e:#}")),
    }
    let mut seen = std::collections::HashSet::new();
    report.missing.retain(|m| seen.insert(m.clone()));
    report
}

/// The webhooks at GTT, per namespace (asked at once, each within [`GTT_TIMEOUT`]).
async fn webhooks(settings: &Settings, report: &mut Report) {
    let keys = settings.registrar_missing();
    if !keys.is_empty() {
        report.missing.push(format!(
            "GTT webhooks: not checked ({} not set)",
            keys.join(", ")
        ));
        return;
    }
    let metrics = Metrics::new();
    let client = GttClient::from_settings(settings, &metrics);
    let Some(registrar) = Registrar::new(settings, client, metrics) else {
        return;
    };
    let asked =
        report.namespaces.iter().map(|ns| {
            let registrar = &registrar;
            async move {
                tokio::time::timeout(GTT_TIMEOUT, registrar.list_namespace(&ns.namespace)).await
            }
        });
    let answers = futures::future::join_all(asked).await;
    for (ns, answer) in report.namespaces.iter_mut().zip(answers) {
        match answer {
            Ok(Ok(listed)) => ns.webhooks = Some(count(&registrar, &ns.namespace, &listed)),
            Ok(Err(e)) => report
                .missing
                .push(format!("GTT webhooks of {}: {e}", ns.namespace)),
            Err(_) => report.missing.push(format!(
                "GTT webhooks of {}: no answer within {GTT_TIMEOUT:?} (gtt.api_url)",
                ns.namespace
            )),
        }
    }
}

fn count(registrar: &Registrar, namespace: &str, listed: &[Listed]) -> Webhooks {
    let wanted: Vec<String> = registrar
        .desired(namespace)
        .into_iter()
        .map(|w| w.name)
        .collect();
    let present = |name: &String| listed.iter().find(|l| l.webhook.name == *name);
    let in_place = wanted
        .iter()
        .filter(|n| present(n).is_some_and(|l| l.correct))
        .count();
    let found = wanted.iter().filter(|n| present(n).is_some()).count();
    Webhooks {
        wanted: wanted.len(),
        in_place,
        wrong: found - in_place,
        missing: wanted.len() - found,
        others: listed.len() - found,
    }
}

/// Storage, the poller's state, the last events and the dead letters.
async fn from_nats(inspector: &Inspector, settings: &Settings, report: &mut Report) {
    match inspector.usage().await {
        Ok(usage) => {
            for store in usage.iter().filter(|s| !s.exists) {
                report
                    .missing
                    .push(format!("NATS: stream {} does not exist", store.stream));
            }
            report.storage = usage;
        }
        Err(e) => report.missing.push(format!("NATS: {e:#}")),
    }
    let leases = match inspector.leases().await {
        Ok(leases) => Some(leases),
        Err(e) => {
            report
                .missing
                .push(format!("NATS: {e:#}: no watermarks or leases"));
            None
        }
    };
    let now = Utc::now();
    for ns in &mut report.namespaces {
        if let Some(leases) = &leases {
            match leases.watermark(&ns.namespace).await {
                Ok(watermark) => ns.watermark = watermark,
                Err(e) => report.missing.push(format!("NATS: watermark: {e}")),
            }
            match leases.lease(&ns.namespace).await {
                Ok(lease) => {
                    ns.lease = lease.map(|l| LeaseStatus {
                        expired: l.expires_at <= now,
                        owner: l.owner,
                        expires_at: l.expires_at,
                    });
                }
                Err(e) => report.missing.push(format!("NATS: lease: {e}")),
            }
        }
        match inspector.last_event(&ns.namespace).await {
            Ok(last) => ns.last_event = last,
            Err(e) => report.missing.push(format!("NATS: {e:#}: no last event")),
        }
    }
    dead_letters(inspector, settings, report).await;
}

/// The dead letters of each namespace, by reason.
async fn dead_letters(inspector: &Inspector, settings: &Settings, report: &mut Report) {
    let listed = match Letters::open(inspector.jetstream(), &settings.nats).await {
        Ok(letters) => {
            if letters.fallback {
                report.missing.push(format!(
                    "dead letters: counted in {} (the dead-letter stream does not exist)",
                    letters.stream
                ));
            }
            letters.list(&Filter::default()).await
        }
        Err(e) => Err(e),
    };
    match listed {
        Ok(listed) => {
            for ns in &mut report.namespaces {
                let mut by_reason = BTreeMap::new();
                for letter in listed.iter().filter(|l| l.namespace == ns.namespace) {
                    *by_reason.entry(letter.reason.clone()).or_default() += 1;
                }
                ns.dead_letters = Some(by_reason);
            }
        }
        Err(e) => report
            .missing
            .push(format!("NATS: {e:#}: dead letters not counted")),
    }
}
