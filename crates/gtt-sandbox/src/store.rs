//! Shared state: the case/webhook store, the strictly increasing clock, counters and errors.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::auth::TokenStore;
use super::config::SandboxConfig;
use super::delivery::DeliveryRuntime;

/// Cases kept per namespace; above it the oldest Closed/Cancelled case is forgotten.
pub(crate) const MAX_CASES_PER_NAMESPACE: usize = 100_000;
/// Webhooks kept per namespace.
pub(crate) const MAX_WEBHOOKS_PER_NAMESPACE: usize = 1_000;
/// Comments kept per case.
pub(crate) const MAX_COMMENTS_PER_CASE: usize = 1_000;
/// First ticket number handed out (`CS0074187`, the example in GTT's docs).
pub(crate) const FIRST_CASE_NUMBER: u64 = 74_187;

/// Errors of the direct (in-process) API; the HTTP API maps them to status codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// 403 over HTTP: the namespace is not configured.
    #[error("namespace {0} does not exist")]
    NamespaceNotFound(String),
    /// 404.
    #[error("{0} not found")]
    NotFound(String),
    /// 422: a field is missing or has a bad value.
    #[error("{0}")]
    Invalid(String),
    /// 409: `metadata.resource_version` does not match.
    #[error("{0}")]
    Conflict(String),
    /// 409: a resource with that name exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// 507: the bounded store is full.
    #[error("{0}")]
    Full(String),
}

/// Counters exposed by `Sandbox::stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxStats {
    /// Requests to the token endpoint (any outcome).
    pub token_requests: u64,
    /// Tokens issued.
    pub tokens_issued: u64,
    /// API requests by operation (`token`, `create_case`, `list_cases`, `get_case`, `update_case`,
    /// `create_webhook`, `list_webhooks`, `get_webhook`, `update_webhook`, `delete_webhook`),
    /// counted whatever the outcome (except 503 during an outage, see `unavailable`).
    pub api_requests: BTreeMap<String, u64>,
    /// API requests answered 401 (missing, unknown or expired bearer token).
    pub unauthorized: u64,
    /// API requests answered 403 (namespace not allowed or not existing).
    pub forbidden: u64,
    /// Requests answered 503 because of `set_available(false)`.
    pub unavailable: u64,
    /// Delivery attempts (first tries, retries and duplicate copies; lost-in-transit tries too).
    pub deliveries_attempted: u64,
    /// Attempts answered 2xx.
    pub deliveries_succeeded: u64,
    /// Deliveries given up after `max_attempts`.
    pub deliveries_failed: u64,
    /// Deliveries lost entirely by `drop_rate`.
    pub deliveries_dropped: u64,
    /// Extra copies sent by `duplicate_rate`.
    pub deliveries_duplicated: u64,
    /// Deliveries held back by `reorder_rate`.
    pub deliveries_reordered: u64,
    /// Attempts that failed (non-2xx, timeout, connection error, lost in transit).
    pub attempts_failed: u64,
    /// Deliveries not started because too many were already pending (bounded memory).
    pub deliveries_shed: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub token_requests: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    pub unavailable: AtomicU64,
    pub deliveries_attempted: AtomicU64,
    pub deliveries_succeeded: AtomicU64,
    pub deliveries_failed: AtomicU64,
    pub deliveries_dropped: AtomicU64,
    pub deliveries_duplicated: AtomicU64,
    pub deliveries_reordered: AtomicU64,
    pub attempts_failed: AtomicU64,
    pub deliveries_shed: AtomicU64,
    api_requests: Mutex<BTreeMap<&'static str, u64>>,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn api(&self, operation: &'static str) {
        *lock(&self.api_requests).entry(operation).or_insert(0) += 1;
    }

    pub(crate) fn snapshot(&self) -> SandboxStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SandboxStats {
            token_requests: get(&self.token_requests),
            tokens_issued: get(&self.tokens_issued),
            api_requests: lock(&self.api_requests)
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            unauthorized: get(&self.unauthorized),
            forbidden: get(&self.forbidden),
            unavailable: get(&self.unavailable),
            deliveries_attempted: get(&self.deliveries_attempted),
            deliveries_succeeded: get(&self.deliveries_succeeded),
            deliveries_failed: get(&self.deliveries_failed),
            deliveries_dropped: get(&self.deliveries_dropped),
            deliveries_duplicated: get(&self.deliveries_duplicated),
            deliveries_reordered: get(&self.deliveries_reordered),
            attempts_failed: get(&self.attempts_failed),
            deliveries_shed: get(&self.deliveries_shed),
        }
    }
}

/// Lock a mutex, ignoring poisoning (the data stays consistent: no code panics while holding it).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One stored case. `spec` holds every spec field, including the system-generated ones.
pub(crate) struct Case {
    pub name: String,
    pub namespace: String,
    pub spec: Map<String, Value>,
    pub created_micros: i64,
    /// Strictly increasing across all changes of the sandbox; orders the list.
    pub updated_micros: i64,
    pub resource_version: u64,
}

impl Case {
    /// The resource exactly as GET returns it (and as webhook deliveries carry it).
    pub(crate) fn render(&self) -> Value {
        serde_json::json!({
            "kind": "case",
            "version": "v1alpha",
            "namespace": self.namespace,
            "name": self.name,
            "metadata": {
                "resource_version": self.resource_version.to_string(),
                "created_at": rfc3339(self.created_micros),
                "updated_at": rfc3339(self.updated_micros),
            },
            "spec": Value::Object(self.spec.clone()),
        })
    }

    pub(crate) fn state(&self) -> &str {
        self.spec.get("state").and_then(Value::as_str).unwrap_or("")
    }

    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.state(), "Closed" | "Cancelled")
    }
}

#[derive(Default)]
pub(crate) struct Namespace {
    pub cases: BTreeMap<String, Case>,
    pub webhooks: BTreeMap<String, Value>,
}

pub(crate) struct Store {
    pub namespaces: BTreeMap<String, Namespace>,
    pub next_number: u64,
    last_micros: i64,
}

impl Store {
    pub(crate) fn new(namespaces: &[String], first_number: u64) -> Self {
        Self {
            namespaces: namespaces
                .iter()
                .map(|n| (n.clone(), Namespace::default()))
                .collect(),
            next_number: first_number,
            last_micros: 0,
        }
    }

    /// The current time in microseconds, strictly greater than any value returned before.
    pub(crate) fn tick(&mut self) -> i64 {
        let now = Utc::now().timestamp_micros().max(self.last_micros + 1);
        self.last_micros = now;
        now
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC (GTT's documented `opened_at` format), whole seconds.
pub(crate) fn servicenow_time(micros: i64) -> String {
    to_datetime(micros).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// RFC 3339 UTC with whole seconds (`metadata.created_at` / `updated_at`).
pub(crate) fn rfc3339(micros: i64) -> String {
    to_datetime(micros).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn to_datetime(micros: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default()
}

/// Everything the sandbox shares between the server, the handle and the delivery tasks.
pub(crate) struct Shared {
    pub config: SandboxConfig,
    pub store: Mutex<Store>,
    pub tokens: Mutex<TokenStore>,
    pub stats: Counters,
    pub available: watch::Sender<bool>,
    pub delivery: Mutex<DeliveryRuntime>,
    /// Highest delivery sequence number whose attempt has completed (releases held deliveries).
    pub sent_seq: watch::Sender<u64>,
    pub in_flight: AtomicUsize,
    pub cancel: CancellationToken,
    pub tracker: TaskTracker,
    pub runtime: tokio::runtime::Handle,
    pub http: reqwest::Client,
    pub server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn is_available(&self) -> bool {
        *self.available.borrow()
    }

    pub(crate) fn namespace_exists(&self, namespace: &str) -> bool {
        self.config.namespaces.iter().any(|n| n == namespace)
    }
}

pub(crate) type SharedRef = Arc<Shared>;
