//! Stored dead letters, read back for the operator commands: from the dead-letter stream, or
//! from the event stream where that does not exist (unmanaged), decoded from the headers the
//! publisher wrote ([`super::deadletter_headers`]) and filtered by namespace, reason and time.

use anyhow::Context as _;
use async_nats::jetstream::{self, context::GetStreamErrorKind};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use gtt_core::subjects::{deadletter_filter, deadletter_subject};

use super::publisher::{ACTION_HEADER, KIND_HEADER, REASON_HEADER};
use super::read;
use super::reader::{Query, Reader, utc};
use crate::config::NatsSettings;

/// Most dead letters a listing reads.
const MAX_LISTED: usize = 1_000_000;

/// One stored dead letter.
#[derive(Debug, Clone)]
pub(crate) struct Letter {
    /// Its sequence in the stream it was read from.
    pub sequence: u64,
    /// Its id (`Nats-Msg-Id`).
    pub id: String,
    pub namespace: String,
    pub reason: String,
    /// The route's kind and action, as in the callback's path.
    pub kind: Option<String>,
    pub action: Option<String>,
    /// When it was stored (in the stream it was read from).
    pub stored_at: DateTime<Utc>,
    /// The sender's `Content-Type`, when it was kept.
    pub content_type: Option<String>,
    pub traceparent: Option<String>,
    /// Body size in bytes.
    pub size: usize,
    /// The body as received (`None` when only the headers were read).
    pub body: Option<Bytes>,
}

/// Which dead letters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub namespace: Option<String>,
    pub reason: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    fn keeps(&self, letter: &Letter) -> bool {
        self.reason.as_ref().is_none_or(|r| *r == letter.reason)
            && self.since.is_none_or(|since| letter.stored_at >= since)
            && self.until.is_none_or(|until| letter.stored_at <= until)
    }
}

/// The stored dead letters.
pub(crate) struct Letters {
    js: jetstream::Context,
    /// The stream they are read from.
    pub stream: String,
    /// Read from the event stream, the dead-letter stream being missing.
    pub fallback: bool,
    prefix: String,
}

/// What looking a dead letter up by its id (or the start of it) found.
pub(crate) enum Lookup {
    Found(Box<Letter>),
    NotFound,
    /// The id prefix matches several.
    Ambiguous(usize),
}

impl Letters {
    /// The dead letters where `settings` keeps them.
    pub(crate) async fn open(
        js: jetstream::Context,
        settings: &NatsSettings,
    ) -> anyhow::Result<Self> {
        let (stream, fallback) = match js.get_stream(&settings.deadletter_stream).await {
            Ok(_) => (settings.deadletter_stream.clone(), false),
            Err(e)
                if matches!(e.kind(), GetStreamErrorKind::JetStream(api)
                    if api.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND) =>
            {
                (settings.stream.clone(), true)
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "stream {} (nats.deadletter_stream): {e}",
                    settings.deadletter_stream
                ));
            }
        };
        Ok(Self {
            js,
            stream,
            fallback,
            prefix: settings.subject_prefix.clone(),
        })
    }

    fn subject(&self, filter: &Filter) -> String {
        match &filter.namespace {
            Some(ns) => deadletter_subject(&self.prefix, ns),
            None => deadletter_filter(&self.prefix),
        }
    }

    /// The dead letters `filter` keeps, oldest first, without their bodies.
    pub(crate) async fn list(&self, filter: &Filter) -> anyhow::Result<Vec<Letter>> {
        let subject = self.subject(filter);
        let messages = read(
            &self.js,
            &self.stream,
            query(filter, &subject, true),
            MAX_LISTED,
        )
        .await?;
        Ok(messages
            .iter()
            .filter_map(|m| decode(m, false))
            .filter(|l| filter.keeps(l))
            .collect())
    }

    /// Read the dead letters `filter` keeps, with their bodies, batch by batch.
    pub(crate) async fn read(&self, filter: Filter) -> anyhow::Result<LetterReader> {
        let subject = self.subject(&filter);
        let reader = Reader::open(
            &self.js,
            &self.stream,
            query(&filter, &subject, false),
            usize::MAX,
        )
        .await?;
        Ok(LetterReader { reader, filter })
    }

    /// The dead letter whose id is `id` or starts with it, with its body.
    pub(crate) async fn find(&self, id: &str) -> anyhow::Result<Lookup> {
        let listed = self.list(&Filter::default()).await?;
        let matching: Vec<&Letter> = listed.iter().filter(|l| l.id.starts_with(id)).collect();
        let letter = match matching.as_slice() {
            [] => return Ok(Lookup::NotFound),
            [letter] => letter,
            many => return Ok(Lookup::Ambiguous(many.len())),
        };
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .with_context(|| format!("stream {}", self.stream))?;
        let message = stream
            .get_raw_message(letter.sequence)
            .await
            .with_context(|| format!("dead letter {} in {}", letter.id, self.stream))?;
        Ok(Lookup::Found(Box::new(Letter {
            body: Some(message.payload.clone()),
            size: message.payload.len(),
            ..(*letter).clone()
        })))
    }
}

fn query<'a>(filter: &Filter, subject: &'a str, headers_only: bool) -> Query<'a> {
    Query {
        filter: subject,
        since: filter.since,
        headers_only,
    }
}

/// Dead letters with their bodies, batch by batch (see [`Letters::read`]).
pub(crate) struct LetterReader {
    reader: Reader,
    filter: Filter,
}

impl LetterReader {
    /// The next dead letters the filter keeps; empty once all were read.
    pub(crate) async fn next_batch(&mut self) -> anyhow::Result<Vec<Letter>> {
        loop {
            let messages = self.reader.next_batch().await?;
            if messages.is_empty() {
                return Ok(Vec::new());
            }
            let letters: Vec<Letter> = messages
                .iter()
                .filter_map(|m| decode(m, true))
                .filter(|l| self.filter.keeps(l))
                .collect();
            if !letters.is_empty() {
                return Ok(letters);
            }
        }
    }
}

/// A stored message as a dead letter; `None` when it is not one (no reason header).
fn decode(message: &jetstream::Message, with_body: bool) -> Option<Letter> {
    let info = message.info().ok()?;
    let headers = message.headers.as_ref()?;
    let header = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
    let size = match with_body {
        true => message.payload.len(),
        false => header("Nats-Msg-Size")
            .and_then(|s| s.parse().ok())
            .unwrap_or(message.payload.len()),
    };
    Some(Letter {
        sequence: info.stream_sequence,
        id: header("Nats-Msg-Id").unwrap_or_default(),
        namespace: message
            .subject
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string(),
        reason: header(REASON_HEADER)?,
        kind: header(KIND_HEADER),
        action: header(ACTION_HEADER),
        stored_at: utc(info.published),
        content_type: header("Content-Type"),
        traceparent: header("traceparent"),
        size,
        body: with_body.then(|| message.payload.clone()),
    })
}
