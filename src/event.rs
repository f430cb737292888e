//! The published event: how an authenticated callback body (or a polled resource) becomes a
//! CloudEvents 1.0 JSON envelope, its deterministic id and its subject, or a dead letter.
//!
//! Pure functions, no I/O: the webhook handler and the poller both call [`build_event`], so the
//! same change seen by both gets the same id and JetStream stores it once.
//!
//! The callback's route (its namespace, kind and action, which its token authorizes) is the only
//! source of the subject's parts: a body that names another one is a dead letter.

pub mod id;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::normalize::{CaseData, NormalizeError, normalize_case};
use crate::publish::subjects::{deadletter_subject, escape_token, event_subject, past_tense};
use id::{dead_letter_id, event_id};

/// Keys under which a sender may wrap the resource instead of sending it bare.
pub const ENVELOPE_KEYS: [&str; 4] = ["data", "object", "resource", "payload"];
/// Keys of a wrapper that may name the action (`update`, `updated`, `case.updated`).
const ACTION_KEYS: [&str; 4] = ["action", "event", "event_type", "type"];
/// API version assumed when a resource does not state its own.
const DEFAULT_VERSION: &str = "v1alpha";
/// How far ahead of the receive time an upstream change time is still believed (see
/// [`believable`]).
pub const MAX_FUTURE_SKEW: TimeDelta = TimeDelta::minutes(5);

/// How the gateway learned of a change (CloudEvents extension `gttorigin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Webhook,
    Poll,
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
    pub received_at: DateTime<Utc>,
}

/// A normalized event, ready to publish.
#[derive(Debug, Clone)]
pub struct Event {
    /// Deterministic id; also the `Nats-Msg-Id`.
    pub id: String,
    pub subject: String,
    /// The CloudEvent, structured JSON mode.
    pub payload: Vec<u8>,
}

/// A body that was authenticated but could not be turned into an event.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// See [`id::dead_letter_id`].
    pub id: String,
    pub subject: String,
    pub reason: DeadLetterReason,
}

/// Why a body was dead-lettered (also the value of the reason header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    NotJson,
    NotAnObject,
    MissingSpec,
    MissingName,
    NamespaceMismatch,
    /// Even without its `raw` copy the event exceeds NATS's `max_payload`: the body is kept.
    TooLarge,
    /// The body names another kind or action than the route its token authorizes.
    RouteMismatch,
    /// The escaped name does not fit a subject or key (see
    /// [`crate::publish::subjects::MAX_NAME_TOKEN_BYTES`]).
    NameTooLong,
}

impl DeadLetterReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::NotJson => "not_json",
            DeadLetterReason::NotAnObject => "not_an_object",
            DeadLetterReason::MissingSpec => "missing_spec",
            DeadLetterReason::MissingName => "missing_name",
            DeadLetterReason::NamespaceMismatch => "namespace_mismatch",
            DeadLetterReason::TooLarge => "too_large",
            DeadLetterReason::RouteMismatch => "route_mismatch",
            DeadLetterReason::NameTooLong => "name_too_long",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<NormalizeError> for DeadLetterReason {
    fn from(e: NormalizeError) -> Self {
        match e {
            NormalizeError::NotAnObject => DeadLetterReason::NotAnObject,
            NormalizeError::MissingSpec => DeadLetterReason::MissingSpec,
            NormalizeError::MissingNumber => DeadLetterReason::MissingName,
        }
    }
}

/// The CloudEvents 1.0 envelope.
#[derive(Serialize)]
struct CloudEvent<'a, D: Serialize> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    type_: &'a str,
    subject: &'a str,
    time: &'a str,
    datacontenttype: &'static str,
    gttnamespace: &'a str,
    gttorigin: Origin,
    /// On case events whose previous state is known: whether the normalized `state` changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    gttstatechanged: Option<bool>,
    /// Set when `data.raw` was left out to fit NATS's `max_payload`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    gttrawomitted: bool,
    data: D,
}

/// `data` of a case event.
#[derive(Serialize)]
struct CaseEventData<'a> {
    #[serde(flatten)]
    case: &'a CaseData,
    /// Normalized fields that differ from the previous known state; null when none is known.
    changes: Option<&'a [FieldChange]>,
    raw: Option<&'a RawValue>,
}

/// `data` of any other kind.
#[derive(Serialize)]
struct GenericEventData<'a> {
    namespace: &'a str,
    name: &'a str,
    raw: Option<&'a RawValue>,
}

/// One normalized field that changed: `{"field", "old", "new"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// An event whose id, subject and normalized data are known, before `changes` are added.
#[derive(Debug)]
pub struct Prepared<'a> {
    pub id: String,
    pub subject: String,
    pub kind: String,
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

/// Whether an event carries the resource as received in `data.raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawCopy {
    Included,
    /// Left out (and the event flagged `gttrawomitted`) to fit NATS's `max_payload`.
    Omitted,
}

impl Prepared<'_> {
    /// Serialize the CloudEvent, with `changes` (case events only; `None` = previous unknown).
    pub fn into_event(self, changes: Option<&[FieldChange]>) -> Event {
        let payload = self.payload(changes, RawCopy::Included);
        Event {
            id: self.id,
            subject: self.subject,
            payload,
        }
    }

    /// The CloudEvent's JSON, with `changes` (case events only; `None` = previous unknown).
    pub fn payload(&self, changes: Option<&[FieldChange]>, raw: RawCopy) -> Vec<u8> {
        let omitted = raw == RawCopy::Omitted;
        let raw = (!omitted).then_some(self.raw);
        match &self.case {
            Some(case) => {
                let state_changed = changes.map(|c| c.iter().any(|c| c.field == "state"));
                self.serialize(state_changed, omitted, CaseEventData { case, changes, raw })
            }
            None => self.serialize(
                None,
                omitted,
                GenericEventData {
                    namespace: self.namespace,
                    name: &self.name,
                    raw,
                },
            ),
        }
    }

    fn serialize<D: Serialize>(
        &self,
        gttstatechanged: Option<bool>,
        gttrawomitted: bool,
        data: D,
    ) -> Vec<u8> {
        let event = CloudEvent {
            specversion: "1.0",
            id: &self.id,
            source: &self.source,
            type_: &self.type_,
            subject: &self.name,
            time: &self.time,
            datacontenttype: "application/json",
            gttnamespace: self.namespace,
            gttorigin: self.origin,
            gttstatechanged,
            gttrawomitted,
            data,
        };
        // Our own structs with string keys and no floats: serialization cannot fail.
        serde_json::to_vec(&event).expect("CloudEvent serializes")
    }
}

/// Turn an authenticated body into an event without `changes` (see [`prepare`]).
pub fn build_event(ctx: &EventContext<'_>, body: &[u8]) -> Result<Event, DeadLetterReason> {
    prepare(ctx, body).map(|p| p.into_event(None))
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
        && ns != ctx.namespace
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
    let name = members.get("name").and_then(|raw| raw_scalar_text(raw));
    let (name, case) = if kind == "case" {
        let case = normalize_case(ctx.namespace, resource, ctx.zone)?;
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
    let id =
        event_id(ctx.namespace, &kind, &name, hashed).map_err(|_| DeadLetterReason::NotJson)?;
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
        kind,
        name,
        case,
        change_time,
        time,
        namespace: ctx.namespace,
        origin: ctx.origin,
        raw: located.raw,
    })
}

/// `Some(time)` when `time` is at most [`MAX_FUTURE_SKEW`] ahead of `now`, else `None`: a change
/// time further ahead is not believed (it would win every later comparison), and the receive
/// time stands in for it.
pub fn believable(time: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let limit = now.checked_add_signed(MAX_FUTURE_SKEW).unwrap_or(now);
    (time <= limit).then_some(time)
}

/// The dead letter for a body that [`build_event`] refused.
pub fn dead_letter(ctx: &EventContext<'_>, body: &[u8], reason: DeadLetterReason) -> DeadLetter {
    DeadLetter {
        id: dead_letter_id(ctx.namespace, ctx.kind, ctx.action, body),
        subject: deadletter_subject(ctx.subject_prefix, ctx.namespace),
        reason,
    }
}

/// A string, or a number's text, trimmed and non-empty.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// As [`scalar_text`], with a number's text exactly as received.
fn raw_scalar_text(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).ok()?;
        let s = s.trim();
        (!s.is_empty()).then(|| s.to_string())
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(text.to_string())
    } else {
        None
    }
}

/// The resource inside a body, bare or under one of [`ENVELOPE_KEYS`].
struct Located<'a> {
    raw: &'a RawValue,
    /// The resource, parsed.
    resource: Value,
    /// The action label of a wrapper (`update`, `case.updated`, ...), if it has one.
    action: Option<String>,
}

/// One parse for a bare resource (the common case); a wrapped one also needs the raw bytes of
/// the inner object, found with a second, shallow parse.
fn locate_resource(body: &[u8]) -> Result<Located<'_>, DeadLetterReason> {
    let whole: &RawValue = serde_json::from_slice(body).map_err(|_| DeadLetterReason::NotJson)?;
    let mut value: Value =
        serde_json::from_str(whole.get()).map_err(|_| DeadLetterReason::NotJson)?;
    let Value::Object(top) = &mut value else {
        return Err(DeadLetterReason::NotAnObject);
    };
    let wrapped = !top.contains_key("spec")
        && ENVELOPE_KEYS
            .iter()
            .any(|key| top.get(*key).is_some_and(Value::is_object));
    if !wrapped {
        return Ok(Located {
            raw: whole,
            resource: value,
            action: None,
        });
    }
    let key = ENVELOPE_KEYS
        .iter()
        .find(|key| top.get(**key).is_some_and(Value::is_object))
        .expect("checked above");
    let resource = top.remove(*key).unwrap_or_default();
    let shallow: BTreeMap<String, &RawValue> =
        serde_json::from_str(whole.get()).map_err(|_| DeadLetterReason::NotJson)?;
    let raw = shallow
        .get(*key)
        .copied()
        .ok_or(DeadLetterReason::NotJson)?;
    let action = ACTION_KEYS
        .iter()
        .find_map(|k| top.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    Ok(Located {
        raw,
        resource,
        action,
    })
}

/// Whether a wrapper's action label names the route (`kind`, and `action` in lower-case past
/// tense): its last token (after `.`, `:` or `/`) is the action, in GTT's verb or past tense,
/// and the token before it, if any, is the kind; case-insensitive. `update`, `Updated`,
/// `case.updated`, `net.gtt.case.updated` and `case:update` all name `case`/`updated`. An empty
/// label names nothing.
fn label_names_route(label: &str, kind: &str, action: &str) -> bool {
    let mut tokens = label.trim().rsplit(['.', ':', '/']).map(str::trim);
    let Some(last) = tokens.next().filter(|t| !t.is_empty()) else {
        return true;
    };
    past_tense(&last.to_ascii_lowercase()) == action
        && tokens.next().is_none_or(|k| k.eq_ignore_ascii_case(kind))
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
