//! Reading stored messages for the operator commands: every message of a stream on a subject
//! filter, in order, through a short-lived consumer that acknowledges nothing (reading changes
//! nothing in the stream).

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;

/// Messages fetched per request.
const BATCH: usize = 256;

#[allow(dead_code)] // the operator commands use it
/// Up to `limit` messages of `stream` on `filter` (a subject with wildcards), oldest first.
pub(crate) async fn read(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
    limit: usize,
) -> anyhow::Result<Vec<jetstream::Message>> {
    let stream = js
        .get_stream(stream)
        .await
        .with_context(|| format!("stream {stream}"))?;
    let mut consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: filter.to_string(),
            ack_policy: consumer::AckPolicy::None,
            deliver_policy: consumer::DeliverPolicy::All,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .context("cannot read the stream")?;
    let mut messages = Vec::new();
    while messages.len() < limit {
        let pending = consumer.info().await.context("consumer info")?.num_pending;
        if pending == 0 {
            break;
        }
        let wanted = BATCH.min(limit - messages.len());
        let mut batch = consumer
            .fetch()
            .max_messages(wanted)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .context("cannot fetch messages")?;
        while let Some(message) = batch.next().await {
            messages.push(message.map_err(|e| anyhow::anyhow!("cannot fetch messages: {e}"))?);
        }
    }
    Ok(messages)
}
