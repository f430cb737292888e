//! The stream of refused-callback records (`[rejections]`): its shape (bounded by count and
//! age, the oldest discarded), its subjects `{nats.subject_prefix}-rejections.{namespace}`
//! (`%` for a namespace that is not configured; the event stream's `{prefix}.>` does not
//! capture them: JetStream streams may not overlap), and writing one record.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::stream;
use bytes::Bytes;
use gtt_core::subjects::escape_token;

use super::Publisher;
use crate::config::{NatsSettings, RejectionSettings};

/// Longest wait for JetStream to store a record.
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// The subject of a record: per configured namespace, `%` for none.
pub(crate) fn subject(prefix: &str, namespace: Option<&str>) -> String {
    format!(
        "{prefix}-rejections.{}",
        escape_token(namespace.unwrap_or(""))
    )
}

/// The records of `namespace`, or every record.
pub(crate) fn filter(prefix: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(namespace) => subject(prefix, Some(namespace)),
        None => format!("{prefix}-rejections.>"),
    }
}

/// The stream's desired configuration.
pub(crate) fn stream_config(nats: &NatsSettings, rejections: &RejectionSettings) -> stream::Config {
    stream::Config {
        name: rejections.stream.clone(),
        description: Some("Refused GTT callbacks, without bodies (gtt-gateway)".into()),
        subjects: vec![filter(&nats.subject_prefix, None)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        max_messages: rejections.max_records,
        max_age: rejections.max_age,
        num_replicas: nats.replicas,
        ..Default::default()
    }
}

/// Store one record (JSON) on `subject`, waiting for JetStream's answer.
pub(crate) async fn write(
    publisher: &Publisher,
    subject: String,
    record: Bytes,
) -> anyhow::Result<()> {
    let ack = publisher
        .0
        .js
        .publish(subject, record)
        .await
        .context("cannot send")?;
    tokio::time::timeout(WRITE_TIMEOUT, ack)
        .await
        .context("no answer from JetStream in time")?
        .context("not stored")?;
    Ok(())
}
