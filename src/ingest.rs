//! The one path from an authenticated resource to a stored event, shared by the webhook
//! endpoint and the poller: prepare (normalize, id, subject) -> compare with the known ticket
//! state (`changes`) -> publish and await the PubAck -> remember the new state.
//! Bodies that cannot become events are published as dead letters instead, and an event too
//! large for NATS's `max_payload` loses its `raw` copy (flagged) or becomes a dead letter.

use bytes::Bytes;

use crate::event::{DeadLetterReason, EventContext, Prepared, RawCopy, dead_letter, prepare};
use crate::publish::{Outgoing, PublishError, Publisher, deadletter_headers, event_headers};
use crate::tickets::{CaseRecord, Comparison, TicketStore, case_state};

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

/// Request details passed through to the message headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub traceparent: Option<&'a str>,
    pub content_type: Option<&'a str>,
}

/// Store `body` as an event (or a dead letter). `Ok` only once JetStream has stored it.
pub async fn ingest(
    publisher: &Publisher,
    ctx: &EventContext<'_>,
    body: Bytes,
    origin: Origin<'_>,
) -> Result<Ingested, PublishError> {
    let prepared = match prepare(ctx, &body) {
        Ok(prepared) => prepared,
        Err(reason) => return store_dead_letter(publisher, ctx, body, reason, origin).await,
    };
    let tickets = publisher.tickets();
    // Case events carry `changes` against the last known state of the ticket.
    let mut remember = None;
    let changes = match &prepared.case {
        Some(case) => {
            let data = case_state(case);
            let time = prepared.change_time;
            let previous = tickets.previous(ctx.namespace, &prepared.name).await;
            match TicketStore::compare(previous.as_ref(), &data, time, ctx.received_at) {
                Comparison::First => {
                    remember = Some((data, time));
                    None
                }
                Comparison::Changed(changes) => {
                    remember = Some((data, time));
                    Some(changes)
                }
                Comparison::Stale => None,
            }
        }
        None => None,
    };
    let headers = event_headers(origin.traceparent);
    // Both copies of the case (normalized and `raw`) if they fit NATS's max_payload, else the
    // normalized event alone (flagged), else the body as a `too_large` dead letter.
    let mut payload = prepared.payload(changes.as_deref(), RawCopy::Included);
    if !publisher.fits(&headers, &prepared.id, payload.len()) {
        payload = prepared.payload(changes.as_deref(), RawCopy::Omitted);
        if !publisher.fits(&headers, &prepared.id, payload.len()) {
            let reason = DeadLetterReason::TooLarge;
            return store_dead_letter(publisher, ctx, body, reason, origin).await;
        }
        tracing::info!(event.id = %prepared.id, "Event stored without its raw copy to fit max_payload");
    }
    let Prepared {
        id, subject, name, ..
    } = prepared;
    let stored = publisher
        .publish(Outgoing {
            subject: subject.clone(),
            id: &id,
            headers,
            payload: Bytes::from(payload),
        })
        .await?;
    if !stored.duplicate
        && let Some((data, time)) = remember
    {
        let record = CaseRecord {
            event_id: id.clone(),
            time,
            data,
        };
        tickets.record(ctx.namespace, &name, &record).await;
    }
    Ok(Ingested {
        id,
        subject,
        duplicate: stored.duplicate,
        dead_letter: None,
    })
}

async fn store_dead_letter(
    publisher: &Publisher,
    ctx: &EventContext<'_>,
    body: Bytes,
    reason: DeadLetterReason,
    origin: Origin<'_>,
) -> Result<Ingested, PublishError> {
    let letter = dead_letter(ctx, &body, reason);
    let headers = deadletter_headers(
        reason.as_str(),
        ctx.kind,
        ctx.action,
        origin.content_type,
        origin.traceparent,
    );
    let stored = publisher
        .publish(Outgoing {
            subject: letter.subject.clone(),
            id: &letter.id,
            headers,
            payload: body,
        })
        .await?;
    Ok(Ingested {
        id: letter.id,
        subject: letter.subject,
        duplicate: stored.duplicate,
        dead_letter: Some(reason),
    })
}
