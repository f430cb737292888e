//! The published event: how an authenticated callback body (or a polled resource) becomes a
//! CloudEvents 1.0 JSON envelope with its deterministic id and its subject, or a dead letter.
//!
//! [`prepare`] is the one way in, for callbacks and polled cases alike, so the same change seen
//! by both gets the same id and JetStream stores it once. The callback's route (its namespace,
//! kind and action, which its token authorizes) is the only source of the subject's parts: a
//! body that names another one is a dead letter.
//!
//! - `locate`: where the resource is in the body (bare or wrapped) and what a wrapper names;
//! - [`id`]: the event and dead-letter ids, from the raw text;
//! - `cloudevent`: the envelope and `data`;
//! - `deadletter`: why a body is refused, and its id and subject.

mod cloudevent;
mod deadletter;
pub mod id;
mod locate;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

pub use cloudevent::RawCopy;
pub use deadletter::{DeadLetter, DeadLetterReason, dead_letter};
pub use locate::ENVELOPE_KEYS;

use crate::changes::believable;
use crate::normalize::{CaseData, Mapping, normalize_case};
use crate::subjects::{escape_token, event_subject, past_tense};
use crate::text::{raw_scalar_text, scalar_text};
use id::{event_id, renormalized_event_id};
use locate::{label_names_route, locate_resource};

/// API version assumed when a resource does not state its own.
const DEFAULT_VERSION: &str = "v1alpha";

/// How the gateway learned of a change (CloudEvents extension `gttorigin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Webhook,
    Poll,
    /// An operator's replay: a dead letter, or a stored event re-normalized.
    Replay,
}

/// Everything besides the body that an event is derived from.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    pub namespace: &'a str,
    /// Kind from the callback path: the event's kind (compared case-insensitively, published in
    /// lower case).
    pub kind: &'a str,
    /// Action from the callback path: the event's action (GTT's verb or past tense; published
    /// in lower-case past tense).
    pub action: &'a str,
    pub origin: Origin,
    /// `gtt.api_url`, the base of `source`.
    pub api_url: &'a str,
    pub subject_prefix: &'a str,
    pub zone: chrono_tz::Tz,
    /// The operator's label mappings (over the built-in tables).
    pub mapping: &'a Mapping,
    /// The body is an event already stored, normalized again (a replay after a mapping
    /// change): its id also hashes the labels ([`id::renormalized_event_id`]).
    pub renormalized: bool,
    pub received_at: DateTime<Utc>,
}

/// An event whose id, subject and normalized data are known, before `changes` are added
/// (serialized by [`Prepared::payload`]).
#[derive(Debug)]
pub struct Prepared<'a> {
    pub id: String,
    pub subject: String,
    /// Resource name (the CloudEvents `subject`).
    pub name: String,
    /// Normalized case data (case kind only).
    pub case: Option<CaseData>,
    /// The case's upstream change time as believed (see [`believable`]); orders its states.
    pub change_time: Option<DateTime<Utc>>,
    source: String,
    type_: String,
    time: String,
    namespace: &'a str,
    origin: Origin,
    raw: &'a RawValue,
}

/// Locate, check and normalize the resource in `body` and derive its id and subject, or say
/// why it must be dead-lettered.
pub fn prepare<'a>(
    ctx: &EventContext<'a>,
    body: &'a [u8],
) -> Result<Prepared<'a>, DeadLetterReason> {
    let located = locate_resource(body)?;
    let resource = &located.resource;
    let Value::Object(fields) = resource else {
        return Err(DeadLetterReason::NotAnObject);
    };
    if let Some(ns) = fields.get("namespace").and_then(scalar_text)
        && ns.trim() != ctx.namespace
    {
        return Err(DeadLetterReason::NamespaceMismatch);
    }
    let kind = ctx.kind.to_ascii_lowercase();
    let action = past_tense(&ctx.action.to_ascii_lowercase()).to_string();
    let body_kind = fields
        .get("kind")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|k| !k.is_empty());
    if body_kind.is_some_and(|k| !k.eq_ignore_ascii_case(&kind))
        || located
            .action
            .as_deref()
            .is_some_and(|label| !label_names_route(label, &kind, &action))
    {
        return Err(DeadLetterReason::RouteMismatch);
    }
    let version = fields
        .get("version")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_VERSION);

    // Names and the hashed spec are read from the raw text: a number's digits are its identity.
    let members: BTreeMap<String, &RawValue> =
        serde_json::from_str(located.raw.get()).map_err(|_| DeadLetterReason::NotAnObject)?;
    let name = members
        .get("name")
        .and_then(|raw| raw_scalar_text(raw))
        .map(|n| n.trim().to_string());
    let (name, case) = if kind == "case" {
        let case = normalize_case(ctx.namespace, resource, ctx.zone, ctx.mapping)?;
        let name = name
            .or_else(|| case.number.clone())
            .ok_or(DeadLetterReason::MissingName)?;
        (name, Some(case))
    } else {
        (name.ok_or(DeadLetterReason::MissingName)?, None)
    };
    let subject = event_subject(ctx.subject_prefix, ctx.namespace, &kind, &action, &name)
        .ok_or(DeadLetterReason::NameTooLong)?;
    let hashed = members.get("spec").copied().unwrap_or(located.raw);
    let id = match case.as_ref().filter(|_| ctx.renormalized) {
        Some(case) => renormalized_event_id(ctx.namespace, &kind, &name, hashed, &case.labels()),
        None => event_id(ctx.namespace, &kind, &name, hashed),
    }
    .map_err(|_| DeadLetterReason::NotJson)?;
    let change_time = case
        .as_ref()
        .and_then(CaseData::change_time)
        .map(|t| believable(t, ctx.received_at).unwrap_or(ctx.received_at));
    let time = change_time
        .unwrap_or(ctx.received_at)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Ok(Prepared {
        id,
        subject,
        // Every part escaped (percent-encoding), so `source` is a valid URI whatever the body says.
        source: format!(
            "{}/apis/{}/namespaces/{}/{}",
            ctx.api_url.trim_end_matches('/'),
            escape_token(version),
            escape_token(ctx.namespace),
            escape_token(&kind)
        ),
        type_: format!("net.gtt.{kind}.{action}"),
        name,
        case,
        change_time,
        time,
        namespace: ctx.namespace,
        origin: ctx.origin,
        raw: located.raw,
    })
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
