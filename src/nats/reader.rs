//! Reading stored messages for the operator commands: the messages of a stream on a subject
//! filter, oldest first (optionally from a time on, optionally headers only), in batches through
//! a short-lived consumer that acknowledges nothing (reading changes nothing in the stream).

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer};
use chrono::{DateTime, Utc};
use futures::StreamExt;

/// Messages fetched per request.
const BATCH: usize = 256;

/// What to read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    /// A subject, wildcards allowed.
    pub filter: &'a str,
    /// Only messages stored at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Headers only (the body's size is in the `Nats-Msg-Size` header).
    pub headers_only: bool,
}

impl<'a> From<&'a str> for Query<'a> {
    fn from(filter: &'a str) -> Self {
        Self {
            filter,
            since: None,
            headers_only: false,
        }
    }
}

impl<'a> From<&'a String> for Query<'a> {
    fn from(filter: &'a String) -> Self {
        Self::from(filter.as_str())
    }
}

/// Up to `limit` messages of `stream` matching `query` (a subject filter, or a [`Query`]),
/// oldest first.
pub(crate) async fn read<'a>(
    js: &jetstream::Context,
    stream: &str,
    query: impl Into<Query<'a>>,
    limit: usize,
) -> anyhow::Result<Vec<jetstream::Message>> {
    let mut reader = Reader::open(js, stream, query.into(), limit).await?;
    let mut messages = Vec::new();
    loop {
        let batch = reader.next_batch().await?;
        if batch.is_empty() {
            return Ok(messages);
        }
        messages.extend(batch);
    }
}

/// Reads a stream batch by batch (for more messages than should be held at once).
pub(crate) struct Reader {
    consumer: consumer::PullConsumer,
    /// Messages still to read before the limit.
    left: usize,
}

impl Reader {
    /// Start reading `stream` as `query` says, at most `limit` messages in all.
    pub(crate) async fn open(
        js: &jetstream::Context,
        stream: &str,
        query: Query<'_>,
        limit: usize,
    ) -> anyhow::Result<Self> {
        let stream = js
            .get_stream(stream)
            .await
            .with_context(|| format!("stream {stream}"))?;
        let deliver_policy = match query.since {
            Some(start_time) => consumer::DeliverPolicy::ByStartTime {
                start_time: async_nats::datetime::from_nanos(
                    i128::from(start_time.timestamp()) * 1_000_000_000
                        + i128::from(start_time.timestamp_subsec_nanos()),
                )
                .map_err(|e| anyhow::anyhow!("start time {start_time}: {e}"))?,
            },
            None => consumer::DeliverPolicy::All,
        };
        let consumer = stream
            .create_consumer(consumer::pull::Config {
                filter_subject: query.filter.to_string(),
                ack_policy: consumer::AckPolicy::None,
                deliver_policy,
                headers_only: query.headers_only,
                inactive_threshold: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .context("cannot read the stream")?;
        Ok(Self {
            consumer,
            left: limit,
        })
    }

    /// The next messages, oldest first; empty once everything (or the limit) was read.
    pub(crate) async fn next_batch(&mut self) -> anyhow::Result<Vec<jetstream::Message>> {
        if self.left == 0 {
            return Ok(Vec::new());
        }
        let pending = self
            .consumer
            .info()
            .await
            .context("consumer info")?
            .num_pending;
        if pending == 0 {
            return Ok(Vec::new());
        }
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(BATCH.min(self.left))
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .context("cannot fetch messages")?;
        let mut messages = Vec::new();
        while let Some(message) = batch.next().await {
            messages.push(message.map_err(|e| anyhow::anyhow!("cannot fetch messages: {e}"))?);
        }
        self.left -= messages.len().min(self.left);
        Ok(messages)
    }
}

/// A time as JetStream gives it (when a message was stored), in UTC.
pub(crate) fn utc(time: async_nats::datetime::DateTime) -> DateTime<Utc> {
    let nanos = i64::try_from(time.unix_timestamp_nanos()).unwrap_or(i64::MAX);
    DateTime::from_timestamp_nanos(nanos)
}
