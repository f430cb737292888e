//! The poller's state in the bucket: `watermark.{namespace}` (the newest GTT `updated_at` seen,
//! RFC 3339) and `lease.{namespace}` (which replica polls the namespace, and until when), taken
//! with compare-and-set so that one replica polls each namespace.

use chrono::{DateTime, Utc};
use gtt_core::subjects::kv_token;
use serde::{Deserialize, Serialize};

use async_nats::jetstream::kv;

use super::bucket::{Bucket, BucketError};

/// A replica's claim to poll one namespace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Lease {
    pub owner: String,
    pub expires_at: DateTime<Utc>,
}

fn lease_key(namespace: &str) -> String {
    format!("lease.{}", kv_token(namespace))
}

fn watermark_key(namespace: &str) -> String {
    format!("watermark.{}", kv_token(namespace))
}

/// Watermarks and leases; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Leases {
    bucket: Bucket,
}

impl Leases {
    pub(super) fn new(bucket: Bucket) -> Self {
        Self { bucket }
    }

    /// Whether the bucket is there to hold them.
    pub(crate) fn is_available(&self) -> bool {
        self.bucket.is_attached()
    }

    /// The watermark of `namespace`, if one was stored.
    pub(crate) async fn watermark(
        &self,
        namespace: &str,
    ) -> Result<Option<DateTime<Utc>>, BucketError> {
        let value = self.bucket.get(watermark_key(namespace)).await?;
        Ok(value.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
    }

    pub(crate) async fn set_watermark(
        &self,
        namespace: &str,
        at: DateTime<Utc>,
    ) -> Result<(), BucketError> {
        let key = watermark_key(namespace);
        self.bucket
            .store()?
            .put(key, at.to_rfc3339().into_bytes().into())
            .await
            .map_err(BucketError::failed)?;
        Ok(())
    }

    /// The lease on `namespace` as stored (possibly expired), if any.
    pub(crate) async fn lease(&self, namespace: &str) -> Result<Option<Lease>, BucketError> {
        let value = self.bucket.get(lease_key(namespace)).await?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// Take or renew the lease on `namespace` for `owner` until `ttl` from now. `Ok(false)`:
    /// another replica holds an unexpired lease (or won a race for it just now).
    pub(crate) async fn acquire(
        &self,
        namespace: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, BucketError> {
        let bucket = self.bucket.store()?;
        let key = lease_key(namespace);
        let now = Utc::now();
        let lease = Lease {
            owner: owner.to_string(),
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
        };
        let value: bytes::Bytes = serde_json::to_vec(&lease)
            .map_err(BucketError::failed)?
            .into();
        let current = bucket
            .entry(key.as_str())
            .await
            .map_err(BucketError::failed)?;
        let Some(entry) = current else {
            return match bucket.create(key.as_str(), value).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(BucketError::failed(e)),
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
            Err(e) => Err(BucketError::failed(e)),
        }
    }

    /// Give the lease up (shutdown), so another replica takes over without waiting for expiry.
    pub(crate) async fn release(&self, namespace: &str, owner: &str) {
        let Ok(bucket) = self.bucket.store() else {
            return;
        };
        let key = lease_key(namespace);
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
