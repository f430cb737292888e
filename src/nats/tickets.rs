//! The last known state of every ticket ([`CaseRecord`]), kept in the bucket under
//! `case.{namespace}.{name}` (consumers may read the bucket as the current state of every
//! ticket), with a bounded in-memory cache of the stored JSON in front of it. The pipeline
//! compares each new case event with it to fill `changes`; operator commands read a record
//! with [`read_record`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use gtt_core::changes::CaseRecord;
use gtt_core::subjects::kv_token;

use super::bucket::Bucket;

/// Most records kept in memory in front of the bucket (the bucket holds them all); each is its
/// JSON (about 0.5 KiB), so the cache stays within a few MiB.
const CACHE_LIMIT: usize = 8_192;

/// The ticket records; cheap to clone.
#[derive(Clone, Default)]
pub struct TicketStore {
    bucket: Bucket,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

/// A record in memory: its JSON as stored, and its change time (ordering without a parse).
#[derive(Clone)]
struct Cached {
    time: Option<DateTime<Utc>>,
    json: bytes::Bytes,
}

impl TicketStore {
    pub(super) fn new(bucket: Bucket) -> Self {
        Self {
            bucket,
            cache: Arc::default(),
        }
    }

    fn case_key(namespace: &str, name: &str) -> String {
        format!("case.{}.{}", kv_token(namespace), kv_token(name))
    }

    /// The last known state of a case: from memory, else from the bucket.
    pub async fn previous(&self, namespace: &str, name: &str) -> Option<CaseRecord> {
        let key = Self::case_key(namespace, name);
        let cached = self.cache.lock().expect("cache lock").get(&key).cloned();
        if let Some(cached) = cached {
            return serde_json::from_slice(&cached.json).ok();
        }
        match self.bucket.store().ok()?.get(key.as_str()).await {
            Ok(Some(json)) => {
                let record: CaseRecord = serde_json::from_slice(&json).ok()?;
                self.remember(key, record.time, json);
                Some(record)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read ticket state; publishing without changes");
                None
            }
        }
    }

    /// Remember `record` as the latest state of the case: in memory now, and in the bucket by
    /// a publish nobody waits for (the state is derived data: a lost write only makes the next
    /// event's `changes` wider, while the event itself is already stored).
    /// Never rolls back: a record older than the one held (two updates of one ticket racing)
    /// is dropped.
    pub async fn record(&self, namespace: &str, name: &str, record: &CaseRecord) {
        let key = Self::case_key(namespace, name);
        let held = self
            .cache
            .lock()
            .expect("cache lock")
            .get(&key)
            .map(|c| c.time);
        if let Some(held) = held
            && CaseRecord::time_is_newer(held, record.time, Utc::now())
        {
            return;
        }
        let Ok(json) = serde_json::to_vec(record) else {
            return;
        };
        let json = bytes::Bytes::from(json);
        self.bucket.put_unconfirmed(&key, json.clone()).await;
        self.remember(key, record.time, json);
    }

    fn remember(&self, key: String, time: Option<DateTime<Utc>>, json: bytes::Bytes) {
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_LIMIT && !cache.contains_key(&key) {
            cache.clear();
        }
        cache.insert(key, Cached { time, json });
    }
}

/// The record of a case, read from the bucket `bucket` (for an operator command).
pub(crate) async fn read_record(
    js: &jetstream::Context,
    bucket: &str,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Option<CaseRecord>> {
    let store = js
        .get_key_value(bucket)
        .await
        .with_context(|| format!("bucket {bucket} (nats.state_bucket)"))?;
    let Some(bytes) = store
        .get(TicketStore::case_key(namespace, name))
        .await
        .with_context(|| format!("cannot read bucket {bucket}"))?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .with_context(|| format!("the record of {name} in bucket {bucket} is not a ticket record"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn record(data: Value, time: &str) -> CaseRecord {
        CaseRecord {
            event_id: "x".into(),
            time: Some(time.parse().unwrap()),
            data,
        }
    }

    #[tokio::test]
    async fn recording_never_rolls_the_state_back() {
        let store = TicketStore::default();
        let put = |name: &'static str, state: &'static str, time: &'static str| {
            let store = store.clone();
            async move {
                store
                    .record("1", name, &record(json!({ "state": state }), time))
                    .await;
            }
        };
        put("CS1", "resolved", "2025-01-01T10:05:00Z").await;
        put("CS1", "open", "2025-01-01T10:00:00Z").await;
        let held = store.previous("1", "CS1").await.unwrap();
        assert_eq!(held.data["state"], "resolved");
        put("CS1", "closed", "2025-01-01T10:06:00Z").await;
        assert_eq!(
            store.previous("1", "CS1").await.unwrap().data["state"],
            "closed"
        );
        // A held far-future time does not keep newer states out.
        put("CS2", "open", "9999-12-31T23:59:59Z").await;
        put("CS2", "resolved", "2025-01-01T10:06:00Z").await;
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
