//! Replays (`gtt-gateway deadletter replay`): dead letters, and optionally the events stored with
//! unmapped labels, run again through today's normalizer and mappings on the ingest pipeline
//! ([`Pipeline::replay`]) with `gttorigin = replay`. What a replay stored is remembered in the
//! bucket, so a second replay stores nothing more. Each item reports what became an event and
//! what is still dead (or unmapped), and why.

use async_nats::jetstream;
use bytes::Bytes;
use gtt_core::event::Origin;
use gtt_core::normalize::{CaseState, CaseType, Labels, Unmapped};
use gtt_core::subjects::escape_token;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::Settings;
use crate::ingest::{Pipeline, Received, ReplayOf, Replayed};
use crate::nats::{Filter, Letter, Letters, Nats, Query, Reader, ReplayLog, utc};

/// The replay of one dead letter or stored event.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Item {
    /// `dead_letter` or `event`.
    pub source: &'static str,
    /// The dead letter's or the stored event's id.
    pub source_id: String,
    pub namespace: String,
    /// `stored`, `already_stored` (JetStream held the id), `replayed_before`, `would_store`
    /// (dry run), `still_dead`, `still_unmapped` or `skipped`.
    pub result: &'static str,
    /// The event stored (or that would be, or was before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Why it is still dead (a dead-letter reason), or skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The labels still unmapped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmapped: Vec<UnmappedLabel>,
}

/// A label no mapping covers.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UnmappedLabel {
    pub field: &'static str,
    pub label: String,
}

impl Item {
    fn new(source: &'static str, source_id: &str, namespace: &str) -> Self {
        Self {
            source,
            source_id: source_id.to_string(),
            namespace: namespace.to_string(),
            result: "skipped",
            event_id: None,
            subject: None,
            reason: None,
            unmapped: Vec::new(),
        }
    }

    fn skipped(mut self, why: &str) -> Self {
        self.reason = Some(why.to_string());
        self
    }

    fn outcome(mut self, replayed: Replayed) -> Self {
        let (result, event) = match replayed {
            Replayed::Stored(stored) if stored.duplicate => {
                ("already_stored", Some((stored.id, stored.subject)))
            }
            Replayed::Stored(stored) => ("stored", Some((stored.id, stored.subject))),
            Replayed::Before { id, subject } => ("replayed_before", Some((id, subject))),
            Replayed::Would { id, subject } => ("would_store", Some((id, subject))),
            Replayed::StillDead(reason) => {
                self.reason = Some(reason.to_string());
                ("still_dead", None)
            }
            Replayed::Unchanged(unmapped) => {
                self.unmapped = unmapped
                    .into_iter()
                    .map(|Unmapped { field, label }| UnmappedLabel {
                        field: field.as_str(),
                        label,
                    })
                    .collect();
                ("still_unmapped", None)
            }
        };
        self.result = result;
        (self.event_id, self.subject) = event.unzip();
        self
    }
}

/// Replays on the ingest pipeline, connected to NATS.
pub(crate) struct Replayer {
    pipeline: Pipeline,
    log: ReplayLog,
    nats: Nats,
    js: jetstream::Context,
    stream: String,
    prefix: String,
    dry_run: bool,
}

impl Replayer {
    /// Connect as `settings` say (the streams and the bucket must exist; nothing is created or
    /// changed); with `dry_run`, nothing will be stored.
    pub(crate) async fn connect(settings: &Settings, dry_run: bool) -> anyhow::Result<Self> {
        let nats = Nats::for_command(
            &settings.nats,
            settings.server.max_body_bytes,
            crate::nats::COMMAND_TIMEOUT,
        )
        .await?;
        if !nats.leases.is_available() {
            anyhow::bail!(
                "the state bucket {} (nats.state_bucket) does not exist, and replays are \
                 remembered there: run the gateway once with nats.manage_stream = true, or \
                 create it",
                settings.nats.state_bucket
            );
        }
        Ok(Self {
            pipeline: Pipeline::new(nats.publisher.clone(), nats.tickets.clone(), settings),
            log: nats.replays.clone(),
            js: nats.jetstream(),
            stream: settings.nats.stream.clone(),
            prefix: settings.nats.subject_prefix.clone(),
            nats,
            dry_run,
        })
    }

    /// The stored dead letters.
    pub(crate) async fn letters(&self, settings: &Settings) -> anyhow::Result<Letters> {
        Letters::open(self.js.clone(), &settings.nats).await
    }

    /// Replay the dead letters `filter` selects, adding an item for each to `items`.
    pub(crate) async fn dead_letters(
        &self,
        letters: &Letters,
        filter: Filter,
        items: &mut Vec<Item>,
    ) -> anyhow::Result<()> {
        let mut reader = letters.read(filter).await?;
        loop {
            let batch = reader.next_batch().await?;
            if batch.is_empty() {
                return Ok(());
            }
            for letter in batch {
                items.push(self.dead_letter(letter).await?);
            }
        }
    }

    async fn dead_letter(&self, letter: Letter) -> anyhow::Result<Item> {
        let item = Item::new("dead_letter", &letter.id, &letter.namespace);
        let (Some(kind), Some(action)) = (&letter.kind, &letter.action) else {
            return Ok(item.skipped("no Gtt-Kind and Gtt-Action headers"));
        };
        let received = Received {
            namespace: &letter.namespace,
            kind,
            action,
            origin: Origin::Replay,
            at: letter.stored_at,
            traceparent: letter.traceparent.as_deref(),
            content_type: letter.content_type.as_deref(),
        };
        let body = letter.body.clone().unwrap_or_default();
        let replayed = self
            .pipeline
            .replay(
                &received,
                body,
                ReplayOf::DeadLetter,
                &self.log,
                self.dry_run,
            )
            .await?;
        Ok(item.outcome(replayed))
    }

    /// Re-normalize the case events stored with an unmapped label (in `filter`'s namespace
    /// and time; it has no reason for events), adding an item for each one that still has
    /// an unmapped label or that normalizes otherwise now.
    pub(crate) async fn unknown_events(
        &self,
        filter: &Filter,
        items: &mut Vec<Item>,
    ) -> anyhow::Result<()> {
        let subject = format!(
            "{}.{}.case.>",
            self.prefix,
            filter.namespace.as_deref().map_or("*".into(), escape_token)
        );
        let query = Query {
            filter: &subject,
            since: filter.since,
            headers_only: false,
        };
        let mut reader = Reader::open(&self.js, &self.stream, query, usize::MAX).await?;
        loop {
            let batch = reader.next_batch().await?;
            if batch.is_empty() {
                return Ok(());
            }
            for message in batch {
                let stored_at = utc(message
                    .info()
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .published);
                if filter.until.is_some_and(|until| stored_at > until) {
                    return Ok(());
                }
                if let Some(item) = self.stored_event(&message, stored_at).await? {
                    items.push(item);
                }
            }
        }
    }

    /// Replay one stored event if it has an unmapped label.
    async fn stored_event(
        &self,
        message: &jetstream::Message,
        stored_at: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<Option<Item>> {
        let Ok(event) = serde_json::from_slice::<StoredEvent<'_>>(&message.payload) else {
            return Ok(None);
        };
        if !event.data.has_unmapped_label() {
            return Ok(None);
        }
        let item = Item::new("event", &event.id, &event.gttnamespace);
        let Some(raw) = event.data.raw else {
            return Ok(Some(
                item.skipped("stored without its raw copy (gttrawomitted)"),
            ));
        };
        let Some((kind, action)) = event
            .type_
            .strip_prefix("net.gtt.")
            .and_then(|t| t.split_once('.'))
        else {
            return Ok(Some(item.skipped("not a net.gtt.{kind}.{action} event")));
        };
        let received = Received {
            namespace: &event.gttnamespace,
            kind,
            action,
            origin: Origin::Replay,
            at: stored_at,
            traceparent: message
                .headers
                .as_ref()
                .and_then(|h| h.get("traceparent"))
                .map(|v| v.as_str()),
            content_type: None,
        };
        let body = Bytes::copy_from_slice(raw.get().as_bytes());
        let of = ReplayOf::Event(event.data.labels());
        let replayed = self
            .pipeline
            .replay(&received, body, of, &self.log, self.dry_run)
            .await?;
        // A label mapped to `other` on purpose normalizes as before and is not unmapped.
        if matches!(&replayed, Replayed::Unchanged(unmapped) if unmapped.is_empty()) {
            return Ok(None);
        }
        Ok(Some(item.outcome(replayed)))
    }

    /// Let the last ticket-state updates reach NATS, and close the connection.
    pub(crate) async fn finish(self) {
        self.nats.publisher.drain().await;
    }
}

/// What a replay reads of a stored case event.
#[derive(Deserialize)]
struct StoredEvent<'a> {
    id: String,
    #[serde(rename = "type")]
    type_: String,
    gttnamespace: String,
    #[serde(borrow)]
    data: StoredCase<'a>,
}

#[derive(Deserialize)]
struct StoredCase<'a> {
    state: CaseState,
    state_raw: Option<String>,
    case_type: CaseType,
    case_type_raw: Option<String>,
    priority: StoredPriority,
    #[serde(borrow)]
    raw: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct StoredPriority {
    level: Option<u8>,
    raw: Option<String>,
}

impl StoredCase<'_> {
    /// A label that normalized to `unknown`, `other` or no priority level.
    fn has_unmapped_label(&self) -> bool {
        (self.state == CaseState::Unknown && self.state_raw.is_some())
            || (self.case_type == CaseType::Other && self.case_type_raw.is_some())
            || (self.priority.level.is_none() && self.priority.raw.is_some())
    }

    fn labels(&self) -> Labels {
        Labels {
            case_type: self.case_type,
            priority: self.priority.level,
            state: self.state,
        }
    }
}
