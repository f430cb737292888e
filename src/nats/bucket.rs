//! The key-value bucket `nats.state_bucket`, once the keeper has found or created it: shared by
//! the ticket records and the poller's leases. Keys are escaped with
//! [`gtt_core::subjects::kv_token`].

use std::sync::{Arc, OnceLock};

use async_nats::jetstream::kv;

/// A handle that is empty until the bucket is attached; cheap to clone.
#[derive(Clone, Default)]
pub(super) struct Bucket(Arc<OnceLock<Attached>>);

struct Attached {
    store: kv::Store,
    client: async_nats::Client,
    /// `$KV.{bucket}.`: a core-NATS publish to `{prefix}{key}` is a put nobody waits for.
    put_prefix: String,
}

/// The bucket is not usable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BucketError {
    #[error("the ticket-state bucket is not available yet")]
    NotAttached,
    #[error("ticket-state bucket: {0}")]
    Failed(String),
}

impl BucketError {
    /// A failed bucket operation.
    pub(super) fn failed(e: impl std::fmt::Display) -> Self {
        BucketError::Failed(e.to_string())
    }
}

impl Bucket {
    /// Use `store` (named `name`) from now on (called once, when the bucket exists).
    pub(super) fn attach(&self, store: kv::Store, client: async_nats::Client, name: &str) {
        let _ = self.0.set(Attached {
            store,
            client,
            put_prefix: format!("$KV.{name}."),
        });
    }

    pub(super) fn is_attached(&self) -> bool {
        self.0.get().is_some()
    }

    /// The attached store.
    pub(super) fn store(&self) -> Result<&kv::Store, BucketError> {
        self.0
            .get()
            .map(|a| &a.store)
            .ok_or(BucketError::NotAttached)
    }

    /// The value under `key`, if any.
    pub(super) async fn get(&self, key: String) -> Result<Option<bytes::Bytes>, BucketError> {
        self.store()?.get(key).await.map_err(BucketError::failed)
    }

    /// Put `value` under `key` without waiting for JetStream's answer (for derived data only).
    pub(super) async fn put_unconfirmed(&self, key: &str, value: bytes::Bytes) {
        let Some(attached) = self.0.get() else {
            return;
        };
        let subject = format!("{}{key}", attached.put_prefix);
        if let Err(e) = attached.client.publish(subject, value).await {
            tracing::warn!(error = %e, "Cannot store ticket state");
        }
    }
}
