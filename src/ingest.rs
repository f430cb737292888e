//! The one path from an authenticated resource to a stored event, shared by the webhook
//! endpoint and the poller: prepare (normalize, id, subject) -> compare with the known ticket
//! state (`changes`) -> publish and await the PubAck -> remember the new state.
//! Bodies that cannot become events are published as dead letters instead.

use bytes::Bytes;

use crate::event::{DeadLetterReason, EventContext, dead_letter, prepare};
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
    let name = prepared.name.clone();
    let event = prepared.into_event(changes.as_deref());
    let stored = publisher
        .publish(Outgoing {
            subject: event.subject.clone(),
            id: &event.id,
            headers: event_headers(origin.traceparent),
            payload: Bytes::from(event.payload),
        })
        .await?;
    if !stored.duplicate
        && let Some((data, time)) = remember
    {
        let record = CaseRecord {
            event_id: event.id.clone(),
            time,
            data,
        };
        tickets.record(ctx.namespace, &name, &record).await;
    }
    Ok(Ingested {
        id: event.id,
        subject: event.subject,
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
