//! Ticket state kept in NATS itself (a JetStream key-value bucket, `nats.state_bucket`): the last
//! normalized state of every case, from which each new case event's `changes` are computed, and
//! the poller's watermarks and leases.
//!
//! Keys (each part escaped with [`kv_token`]):
//! - `case.{namespace}.{name}`: `{"event_id", "time", "data"}`, `data` being the normalized case
//!   fields of the latest stored event (consumers may read the bucket as the current state of
//!   every ticket);
//! - `watermark.{namespace}`: the poller's high-water mark (GTT `updated_at`, RFC 3339);
//! - `lease.{namespace}`: which replica polls the namespace, and until when.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{FieldChange, believable};
use crate::normalize::CaseData;
use crate::publish::subjects::kv_token;

/// Most case states kept in memory in front of the bucket (the bucket holds them all); each
/// is its JSON (about 0.5 KiB), so the cache stays within a few MiB.
const CACHE_LIMIT: usize = 8_192;

/// What the bucket holds per case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseRecord {
    pub event_id: String,
    /// The case's latest upstream change time.
    pub time: Option<DateTime<Utc>>,
    /// Normalized fields (no `raw`, no `changes`).
    pub data: Value,
}

impl CaseRecord {
    /// Whether this state is newer than one changed at `time`. A held time too far ahead of
    /// `now` to be believed (stored before that rule, or with a clock far off) orders nothing,
    /// so it cannot hold a ticket's state for good.
    fn is_newer_than(&self, time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        let held = self.time.and_then(|held| believable(held, now));
        matches!((held, time), (Some(held), Some(new)) if new < held)
    }
}

/// Access to the state bucket, with a bounded in-memory cache (of the stored JSON) in front.
#[derive(Clone, Default)]
pub struct TicketStore {
    bucket: Arc<OnceLock<Bucket>>,
    cache: Arc<Mutex<HashMap<String, bytes::Bytes>>>,
}

/// The bucket, and how to write to it without waiting for an ack.
#[derive(Clone)]
struct Bucket {
    store: kv::Store,
    client: async_nats::Client,
    /// `$KV.{bucket}.`: a core-NATS publish to `{prefix}{key}` is a put nobody waits for.
    put_prefix: String,
}

/// Where a new case event stands against the last known state.
#[derive(Debug, PartialEq)]
pub enum Comparison {
    /// No previous state known: `changes` is null.
    First,
    /// Newer than (or as new as) the known state: these fields changed.
    Changed(Vec<FieldChange>),
    /// Older than the known state (arrived out of order): `changes` is null and the known
    /// state is kept.
    Stale,
}

impl TicketStore {
    /// Use `store` (named `name`) from now on (called once the bucket exists).
    pub fn attach(&self, store: kv::Store, client: async_nats::Client, name: &str) {
        let _ = self.bucket.set(Bucket {
            store,
            client,
            put_prefix: format!("$KV.{name}."),
        });
    }

    pub fn is_attached(&self) -> bool {
        self.bucket.get().is_some()
    }

    pub fn bucket(&self) -> Option<&kv::Store> {
        self.bucket.get().map(|b| &b.store)
    }

    fn case_key(namespace: &str, name: &str) -> String {
        format!("case.{}.{}", kv_token(namespace), kv_token(name))
    }

    /// The last known state of a case: from memory, else from the bucket.
    pub async fn previous(&self, namespace: &str, name: &str) -> Option<CaseRecord> {
        let key = Self::case_key(namespace, name);
        let cached = self.cache.lock().expect("cache lock").get(&key).cloned();
        let bytes = match cached {
            Some(bytes) => bytes,
            None => {
                let bucket = self.bucket.get()?;
                match bucket.store.get(key.as_str()).await {
                    Ok(Some(bytes)) => {
                        self.remember(key, bytes.clone());
                        bytes
                    }
                    Ok(None) => return None,
                    Err(e) => {
                        tracing::warn!(error = %e, "Cannot read ticket state; publishing without changes");
                        return None;
                    }
                }
            }
        };
        serde_json::from_slice(&bytes).ok()
    }

    /// Compare a new case state (changed at `time`, as believed) with the last known one, at
    /// `now`.
    pub fn compare(
        previous: Option<&CaseRecord>,
        data: &Value,
        time: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Comparison {
        let Some(previous) = previous else {
            return Comparison::First;
        };
        if previous.is_newer_than(time, now) {
            return Comparison::Stale;
        }
        Comparison::Changed(diff(&previous.data, data))
    }

    /// Remember `record` as the latest state of the case: in memory now, and in the bucket by
    /// a publish nobody waits for (the state is derived data: a lost write only makes the next
    /// event's `changes` wider, while the event itself is already stored).
    /// Never rolls back: a record older than the one held (two updates of one ticket racing)
    /// is dropped.
    pub async fn record(&self, namespace: &str, name: &str, record: &CaseRecord) {
        let Ok(bytes) = serde_json::to_vec(record) else {
            return;
        };
        let bytes = bytes::Bytes::from(bytes);
        let key = Self::case_key(namespace, name);
        let held = self.cache.lock().expect("cache lock").get(&key).cloned();
        if let Some(held) = held.and_then(|b| serde_json::from_slice::<CaseRecord>(&b).ok())
            && held.is_newer_than(record.time, Utc::now())
        {
            return;
        }
        if let Some(bucket) = self.bucket.get() {
            let subject = format!("{}{key}", bucket.put_prefix);
            if let Err(e) = bucket.client.publish(subject, bytes.clone()).await {
                tracing::warn!(error = %e, "Cannot store ticket state");
            }
        }
        self.remember(key, bytes);
    }

    fn remember(&self, key: String, record: bytes::Bytes) {
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_LIMIT && !cache.contains_key(&key) {
            cache.clear();
        }
        cache.insert(key, record);
    }
}

/// A replica's claim to poll one namespace.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Lease {
    owner: String,
    expires_at: DateTime<Utc>,
}

/// Failures of the poller's bucket operations.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the ticket-state bucket is not available yet")]
    NoBucket,
    #[error("ticket-state bucket: {0}")]
    Bucket(String),
}

impl TicketStore {
    fn bucket_or_err(&self) -> Result<&kv::Store, StateError> {
        self.bucket().ok_or(StateError::NoBucket)
    }

    /// The poller's watermark for `namespace`, if one was stored.
    pub async fn watermark(&self, namespace: &str) -> Result<Option<DateTime<Utc>>, StateError> {
        let key = format!("watermark.{}", kv_token(namespace));
        let value = self
            .bucket_or_err()?
            .get(key)
            .await
            .map_err(|e| StateError::Bucket(e.to_string()))?;
        Ok(value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
    }

    pub async fn set_watermark(
        &self,
        namespace: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let key = format!("watermark.{}", kv_token(namespace));
        self.bucket_or_err()?
            .put(key, at.to_rfc3339().into_bytes().into())
            .await
            .map_err(|e| StateError::Bucket(e.to_string()))?;
        Ok(())
    }

    /// Take or renew the lease on `namespace` for `owner` until `ttl` from now. `Ok(false)`:
    /// another replica holds an unexpired lease (or won a race for it just now).
    pub async fn acquire_lease(
        &self,
        namespace: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StateError> {
        let bucket = self.bucket_or_err()?;
        let key = format!("lease.{}", kv_token(namespace));
        let now = Utc::now();
        let lease = Lease {
            owner: owner.to_string(),
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
        };
        let value: bytes::Bytes = serde_json::to_vec(&lease)
            .map_err(|e| StateError::Bucket(e.to_string()))?
            .into();
        let current = bucket
            .entry(key.as_str())
            .await
            .map_err(|e| StateError::Bucket(e.to_string()))?;
        let Some(entry) = current else {
            return match bucket.create(key.as_str(), value).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(StateError::Bucket(e.to_string())),
            };
        };
        let held: Option<Lease> = match entry.operation {
            kv::Operation::Put => serde_json::from_slice(&entry.value).ok(),
            _ => None,
        };
        if let Some(held) = held
            && held.owner != owner
            && held.expires_at > now
        {
            return Ok(false);
        }
        match bucket.update(key.as_str(), value, entry.revision).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(StateError::Bucket(e.to_string())),
        }
    }

    /// Give the lease up (shutdown), so another replica takes over without waiting for expiry.
    pub async fn release_lease(&self, namespace: &str, owner: &str) {
        let Ok(bucket) = self.bucket_or_err() else {
            return;
        };
        let key = format!("lease.{}", kv_token(namespace));
        if let Ok(Some(entry)) = bucket.entry(key.as_str()).await
            && let Ok(held) = serde_json::from_slice::<Lease>(&entry.value)
            && held.owner == owner
        {
            let expired = Lease {
                owner: owner.to_string(),
                expires_at: Utc::now() - chrono::Duration::seconds(1),
            };
            if let Ok(value) = serde_json::to_vec(&expired) {
                let _ = bucket
                    .update(key.as_str(), value.into(), entry.revision)
                    .await;
            }
        }
    }
}

/// The normalized fields of a case event's data, as stored (no `raw`, no `changes`).
pub fn case_state(case: &CaseData) -> Value {
    serde_json::to_value(case).unwrap_or(Value::Null)
}

/// Fields whose values differ between two normalized states (top-level keys of `new`).
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = new.keys().chain(old.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !k.ends_with("_raw") && k.as_str() != "namespace")
        .filter_map(|k| {
            let before = old.get(k).cloned().unwrap_or(Value::Null);
            let after = new.get(k).cloned().unwrap_or(Value::Null);
            (before != after).then(|| FieldChange {
                field: k.clone(),
                old: before,
                new: after,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(data: Value, time: &str) -> CaseRecord {
        CaseRecord {
            event_id: "x".into(),
            time: Some(time.parse().unwrap()),
            data,
        }
    }

    #[test]
    fn diff_lists_changed_fields_with_old_and_new() {
        let old = json!({"namespace": "1", "state": "open", "state_raw": "Open", "priority": {"level": 2}, "category": "A"});
        let new = json!({"namespace": "1", "state": "resolved", "state_raw": "Resolved", "priority": {"level": 1}, "category": "A", "service_id": "S1"});
        let changes = diff(&old, &new);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["priority", "service_id", "state"]);
        assert_eq!(changes[2].old, "open");
        assert_eq!(changes[2].new, "resolved");
        assert_eq!(changes[1].old, Value::Null);
        assert!(diff(&new, &new).is_empty());
    }

    fn at(time: &str) -> Option<DateTime<Utc>> {
        Some(time.parse().unwrap())
    }

    #[test]
    fn comparison_first_changed_and_stale() {
        let now = at("2025-01-01T12:00:00Z").unwrap();
        let compare = |prev: &CaseRecord, time: &str| {
            TicketStore::compare(Some(prev), &json!({"state": "in_progress"}), at(time), now)
        };
        let data = json!({"state": "open"});
        assert_eq!(
            TicketStore::compare(None, &data, None, now),
            Comparison::First
        );
        let prev = record(json!({"state": "open"}), "2025-01-01T10:00:00Z");
        match compare(&prev, "2025-01-01T10:05:00Z") {
            Comparison::Changed(c) => assert_eq!(c.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(compare(&prev, "2025-01-01T09:00:00Z"), Comparison::Stale);
        // Same second: not stale (GTT timestamps have whole seconds).
        assert!(matches!(
            compare(&prev, "2025-01-01T10:00:00Z"),
            Comparison::Changed(_)
        ));
    }

    #[test]
    fn a_held_time_far_ahead_of_the_clock_orders_nothing() {
        let now = at("2025-01-01T12:00:00Z").unwrap();
        let compare = |held: &str| {
            let prev = record(json!({"state": "open"}), held);
            TicketStore::compare(
                Some(&prev),
                &json!({"state": "resolved"}),
                at("2025-01-01T11:00:00Z"),
                now,
            )
        };
        assert!(matches!(
            compare("9999-12-31T23:59:59Z"),
            Comparison::Changed(_)
        ));
        assert!(matches!(
            compare("2025-01-01T12:05:01Z"),
            Comparison::Changed(_)
        ));
        // Within the believed skew it still orders.
        assert_eq!(compare("2025-01-01T12:05:00Z"), Comparison::Stale);
    }

    #[tokio::test]
    async fn recording_never_rolls_the_state_back() {
        let store = TicketStore::default();
        store
            .record(
                "1",
                "CS1",
                &record(json!({"state": "resolved"}), "2025-01-01T10:05:00Z"),
            )
            .await;
        store
            .record(
                "1",
                "CS1",
                &record(json!({"state": "open"}), "2025-01-01T10:00:00Z"),
            )
            .await;
        let held = store.previous("1", "CS1").await.unwrap();
        assert_eq!(held.data["state"], "resolved");
        store
            .record(
                "1",
                "CS1",
                &record(json!({"state": "closed"}), "2025-01-01T10:06:00Z"),
            )
            .await;
        assert_eq!(
            store.previous("1", "CS1").await.unwrap().data["state"],
            "closed"
        );
        // A held far-future time does not keep newer states out.
        store
            .record(
                "1",
                "CS2",
                &record(json!({"state": "open"}), "9999-12-31T23:59:59Z"),
            )
            .await;
        store
            .record(
                "1",
                "CS2",
                &record(json!({"state": "resolved"}), "2025-01-01T10:06:00Z"),
            )
            .await;
        assert_eq!(
            store.previous("1", "CS2").await.unwrap().data["state"],
            "resolved"
        );
    }

    #[test]
    fn keys_are_valid_kv_keys() {
        assert_eq!(
            TicketStore::case_key("142033", "CS0074187"),
            "case.142033.CS0074187"
        );
        assert_eq!(TicketStore::case_key("a b", "CS.1"), "case.a=20b.CS=2E1");
    }
}
