//! What replays stored, remembered in the bucket (`replay.{event id}` =
//! `{"subject", "replayed_at"}`), so that a second replay stores nothing more, even after
//! JetStream's duplicate window.

use chrono::Utc;
use serde_json::json;

use super::bucket::{Bucket, BucketError};

/// The replayed events; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct ReplayLog {
    bucket: Bucket,
}

fn key(id: &str) -> String {
    format!("replay.{}", gtt_core::subjects::kv_token(id))
}

impl ReplayLog {
    pub(super) fn new(bucket: Bucket) -> Self {
        Self { bucket }
    }

    /// Whether a replay stored the event `id` before.
    pub(crate) async fn contains(&self, id: &str) -> Result<bool, BucketError> {
        Ok(self.bucket.get(key(id)).await?.is_some())
    }

    /// Remember that a replay stored the event `id` on `subject` (once JetStream confirmed it).
    pub(crate) async fn remember(&self, id: &str, subject: &str) -> Result<(), BucketError> {
        let value = json!({ "subject": subject, "replayed_at": Utc::now() }).to_string();
        self.bucket
            .store()?
            .put(key(id), value.into_bytes().into())
            .await
            .map_err(BucketError::failed)?;
        Ok(())
    }
}
