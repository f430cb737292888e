//! The ingest pipeline: the one path from an authenticated resource to a stored event, for
//! callbacks and polled cases alike. It holds the publisher and the ticket store side by side:
//!
//! prepare (normalize, id, subject; [`gtt_core::event`]) -> compare with the ticket's known state
//! (`changes`; [`gtt_core::changes`]) -> fit NATS's `max_payload` -> publish and await the PubAck
//! -> remember the new state.
//!
//! Bodies that cannot become events are published as dead letters instead, and an event too
//! large for `max_payload` loses its `raw` copy (flagged) or becomes a `too_large` dead letter.
//!
//! Replays take the same path ([`Pipeline::replay`]): a dead letter, or a stored event whose
//! labels a mapping now covers, normalized again and stored with `gttorigin = replay`.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use gtt_core::changes::{CaseRecord, Comparison, compare};
use gtt_core::event::{
    DeadLetterReason, EventContext, Origin, Prepared, RawCopy, dead_letter, prepare,
};
use gtt_core::normalize::{Labels, Mapping, Unmapped};

use crate::config::Settings;
use crate::nats::{
    BucketError, Outgoing, PublishError, Publisher, ReplayLog, TicketStore, deadletter_headers,
    event_headers,
};
use crate::unmapped::UnmappedLabels;

/// How a resource arrived: its route (which its token authorized, or the poller's), how the
/// gateway learned of it, and request headers passed on to the message.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub namespace: &'a str,
    pub kind: &'a str,
    pub action: &'a str,
    pub origin: Origin,
    pub at: DateTime<Utc>,
    pub traceparent: Option<&'a str>,
    pub content_type: Option<&'a str>,
}

/// What was stored.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub id: String,
    pub subject: String,
    /// JetStream already held this id (a retry, or a change seen by webhook and poll).
    pub duplicate: bool,
    /// Why the body went to the dead-letter subject, if it did.
    pub dead_letter: Option<DeadLetterReason>,
}

/// What is replayed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReplayOf {
    /// A dead letter's body: it becomes the event its content makes (the id a delivery of it
    /// would get today).
    DeadLetter,
    /// A stored event's resource, whose labels normalized to these: stored again only when
    /// they normalize otherwise now, under the id of a re-normalized event.
    Event(Labels),
}

/// What a replay did with one body.
#[derive(Debug, Clone)]
pub(crate) enum Replayed {
    /// Stored (or JetStream already held the id: `duplicate`).
    Stored(Ingested),
    /// A replay stored this event before: nothing more to do.
    Before { id: String, subject: String },
    /// Would be stored (a dry run).
    Would { id: String, subject: String },
    /// Still cannot be an event.
    StillDead(DeadLetterReason),
    /// A stored event whose labels normalize as they did: these are still unmapped.
    Unchanged(Vec<Unmapped>),
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplayError {
    #[error("cannot store: {0}")]
    Publish(#[from] PublishError),
    #[error("{0} (replays are remembered there)")]
    Bucket(#[from] BucketError),
}

/// The pipeline; cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    publisher: Publisher,
    tickets: TicketStore,
    /// `gtt.api_url` without a trailing slash: the base of every event's `source`.
    api_url: String,
    subject_prefix: String,
    zone: chrono_tz::Tz,
    mapping: Arc<Mapping>,
    unmapped: UnmappedLabels,
}

impl Pipeline {
    pub fn new(publisher: Publisher, tickets: TicketStore, settings: &Settings) -> Self {
        Self {
            unmapped: UnmappedLabels::new(publisher.metrics().clone()),
            publisher,
            tickets,
            api_url: settings.gtt.api_url.as_str().trim_end_matches('/').into(),
            subject_prefix: settings.nats.subject_prefix.clone(),
            zone: settings.gtt.zone,
            mapping: Arc::new(settings.mapping.resolved.clone()),
        }
    }

    /// The time zone GTT's zone-less timestamps are read in.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.zone
    }

    /// Whether events can be stored now (see [`Publisher::is_ready`]).
    pub fn is_ready(&self) -> bool {
        self.publisher.is_ready()
    }

    /// How long publishing has been failing without a break, and the last reason, if it is.
    pub fn failing_for(&self) -> Option<(std::time::Duration, &'static str)> {
        self.publisher.failing_for()
    }

    /// Store `body` as an event (or a dead letter). `Ok` only once JetStream has stored it.
    pub async fn ingest(
        &self,
        received: &Received<'_>,
        body: Bytes,
    ) -> Result<Ingested, PublishError> {
        let ctx = self.context(received, false);
        let prepared = match prepare(&ctx, &body) {
            Ok(prepared) => prepared,
            Err(reason) => return self.dead_letter(&ctx, received, body, reason).await,
        };
        match self.store(&ctx, received, prepared).await? {
            Some(ingested) => Ok(ingested),
            None => {
                let reason = DeadLetterReason::TooLarge;
                self.dead_letter(&ctx, received, body, reason).await
            }
        }
    }

    /// Replay `body` (a dead letter's, or a stored event's resource when `of` says so) through
    /// today's normalizer and mappings, as [`ingest`](Self::ingest) would store it, except that
    /// nothing is dead-lettered again, an event `log` says a replay stored is not stored
    /// again, and with `dry_run` nothing is stored at all. `received.origin` should be
    /// [`Origin::Replay`].
    pub(crate) async fn replay(
        &self,
        received: &Received<'_>,
        body: Bytes,
        of: ReplayOf,
        log: &ReplayLog,
        dry_run: bool,
    ) -> Result<Replayed, ReplayError> {
        let ctx = self.context(received, matches!(of, ReplayOf::Event(_)));
        let prepared = match prepare(&ctx, &body) {
            Ok(prepared) => prepared,
            Err(reason) => return Ok(Replayed::StillDead(reason)),
        };
        if let (ReplayOf::Event(stored), Some(case)) = (of, &prepared.case)
            && case.labels() == stored
        {
            return Ok(Replayed::Unchanged(case.unmapped.clone()));
        }
        let (id, subject) = (prepared.id.clone(), prepared.subject.clone());
        if log.contains(&id).await? {
            return Ok(Replayed::Before { id, subject });
        }
        if dry_run {
            return Ok(Replayed::Would { id, subject });
        }
        match self.store(&ctx, received, prepared).await? {
            Some(stored) => {
                log.remember(&stored.id, &stored.subject).await?;
                Ok(Replayed::Stored(stored))
            }
            None => Ok(Replayed::StillDead(DeadLetterReason::TooLarge)),
        }
    }

    /// What an event is derived from besides its body.
    fn context<'a>(&'a self, received: &Received<'a>, renormalized: bool) -> EventContext<'a> {
        EventContext {
            namespace: received.namespace,
            kind: received.kind,
            action: received.action,
            origin: received.origin,
            api_url: &self.api_url,
            subject_prefix: &self.subject_prefix,
            zone: self.zone,
            mapping: &self.mapping,
            renormalized,
            received_at: received.at,
        }
    }

    /// Store a prepared event (with `changes`, fitted to `max_payload`) and remember the
    /// ticket's new state; `None` when even without its `raw` copy it is too large.
    async fn store(
        &self,
        ctx: &EventContext<'_>,
        received: &Received<'_>,
        prepared: Prepared<'_>,
    ) -> Result<Option<Ingested>, PublishError> {
        if let Some(case) = &prepared.case {
            self.unmapped
                .report(ctx.namespace, &prepared.id, &case.unmapped);
        }
        // A case event carries `changes` against the ticket's last known state; a stale one
        // (arrived after a newer one) neither has them nor replaces the known state.
        let mut record = prepared
            .case
            .as_ref()
            .map(|case| CaseRecord::new(prepared.id.clone(), case, prepared.change_time));
        let changes = match &record {
            Some(new) => {
                let previous = self.tickets.previous(ctx.namespace, &prepared.name).await;
                match compare(previous.as_ref(), new, received.at) {
                    Comparison::First => None,
                    Comparison::Changed(changes) => Some(changes),
                    Comparison::Stale => {
                        record = None;
                        None
                    }
                }
            }
            None => None,
        };
        let headers = event_headers(received.traceparent);
        // Both copies of the case (normalized and `raw`) if they fit NATS's max_payload, else
        // the normalized event alone (flagged), else nothing (the caller dead-letters it).
        let fits = |payload: &[u8]| self.publisher.fits(&headers, &prepared.id, payload.len());
        let mut payload = prepared.payload(changes.as_deref(), RawCopy::Included);
        if !fits(&payload) {
            payload = prepared.payload(changes.as_deref(), RawCopy::Omitted);
            if !fits(&payload) {
                return Ok(None);
            }
            tracing::info!(event.id = %prepared.id, "Event stored without its raw copy to fit max_payload");
        }
        let stored = self
            .publisher
            .publish(Outgoing {
                subject: prepared.subject.clone(),
                id: &prepared.id,
                headers,
                payload: Bytes::from(payload),
                sourced: false,
            })
            .await?;
        if !stored.duplicate
            && let Some(record) = record
        {
            self.tickets
                .record(ctx.namespace, &prepared.name, &record)
                .await;
        }
        Ok(Some(Ingested {
            id: prepared.id,
            subject: prepared.subject,
            duplicate: stored.duplicate,
            dead_letter: None,
        }))
    }

    async fn dead_letter(
        &self,
        ctx: &EventContext<'_>,
        received: &Received<'_>,
        body: Bytes,
        reason: DeadLetterReason,
    ) -> Result<Ingested, PublishError> {
        let letter = dead_letter(ctx, &body, reason);
        let headers = deadletter_headers(
            reason.as_str(),
            ctx.kind,
            ctx.action,
            received.content_type,
            received.traceparent,
        );
        let stored = self
            .publisher
            .publish(Outgoing {
                subject: letter.subject.clone(),
                id: &letter.id,
                headers,
                payload: body,
                sourced: true,
            })
            .await?;
        Ok(Ingested {
            id: letter.id,
            subject: letter.subject,
            duplicate: stored.duplicate,
            dead_letter: Some(reason),
        })
    }
}
