//! The published event: how an authenticated callback body (or a polled resource) becomes a
//! CloudEvents 1.0 JSON envelope, its deterministic id and its subject, or a dead letter.
//!
//! Pure functions, no I/O: the webhook handler and the poller both call [`build_event`], so the
//! same change seen by both gets the same id and JetStream stores it once.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::normalize::{CaseData, NormalizeError, normalize_case};
use crate::publish::subjects::{deadletter_subject, event_subject, past_tense};

/// Keys under which a sender may wrap the resource instead of sending it bare.
pub const ENVELOPE_KEYS: [&str; 4] = ["data", "object", "resource", "payload"];
/// Keys of a wrapper that may name the action (`update`, `updated`, `case.updated`).
const ACTION_KEYS: [&str; 4] = ["action", "event", "event_type", "type"];
/// API version assumed when a resource does not state its own.
const DEFAULT_VERSION: &str = "v1alpha";

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
    /// Kind from the callback path (used when the body does not say).
    pub kind: &'a str,
    /// Action from the callback path (used when the body does not say).
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
    /// `hex(SHA-256(namespace | raw body))`.
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
    data: D,
}

/// `data` of a case event.
#[derive(Serialize)]
struct CaseEventData<'a> {
    #[serde(flatten)]
    case: &'a CaseData,
    /// Normalized fields that differ from the previous known state; null when none is known.
    changes: Option<&'a [FieldChange]>,
    raw: &'a RawValue,
}

/// `data` of any other kind.
#[derive(Serialize)]
struct GenericEventData<'a> {
    namespace: &'a str,
    name: &'a str,
    raw: &'a RawValue,
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
    source: String,
    type_: String,
    time: String,
    namespace: &'a str,
    origin: Origin,
    raw: &'a RawValue,
}

impl Prepared<'_> {
    /// Serialize the CloudEvent, with `changes` (case events only; `None` = previous unknown).
    pub fn into_event(self, changes: Option<&[FieldChange]>) -> Event {
        let payload = match &self.case {
            Some(case) => {
                let state_changed = changes.map(|c| c.iter().any(|c| c.field == "state"));
                self.serialize(
                    state_changed,
                    CaseEventData {
                        case,
                        changes,
                        raw: self.raw,
                    },
                )
            }
            None => self.serialize(
                None,
                GenericEventData {
                    namespace: self.namespace,
                    name: &self.name,
                    raw: self.raw,
                },
            ),
        };
        Event {
            id: self.id,
            subject: self.subject,
            payload,
        }
    }

    fn serialize<D: Serialize>(&self, gttstatechanged: Option<bool>, data: D) -> Vec<u8> {
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
    let kind = fields
        .get("kind")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| ctx.kind.to_string());
    let action = located.action.unwrap_or_else(|| ctx.action.to_string());
    let action = past_tense(&action);
    let version = fields
        .get("version")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_VERSION);

    let (name, case) = if kind == "case" {
        let case = normalize_case(ctx.namespace, resource, ctx.zone)?;
        let name = fields
            .get("name")
            .and_then(scalar_text)
            .or_else(|| case.number.clone())
            .ok_or(DeadLetterReason::MissingName)?;
        (name, Some(case))
    } else {
        let name = fields
            .get("name")
            .and_then(scalar_text)
            .ok_or(DeadLetterReason::MissingName)?;
        (name, None)
    };
    let hashed = fields.get("spec").unwrap_or(resource);
    let time = case
        .as_ref()
        .and_then(CaseData::change_time)
        .unwrap_or(ctx.received_at)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    Ok(Prepared {
        id: event_id(ctx.namespace, &kind, &name, hashed),
        subject: event_subject(ctx.subject_prefix, ctx.namespace, &kind, action, &name)
            .ok_or(DeadLetterReason::NameTooLong)?,
        source: format!(
            "{}/apis/{version}/namespaces/{}/{kind}",
            ctx.api_url.trim_end_matches('/'),
            ctx.namespace
        ),
        type_: format!("net.gtt.{kind}.{action}"),
        kind,
        name,
        case,
        time,
        namespace: ctx.namespace,
        origin: ctx.origin,
        raw: located.raw,
    })
}

/// The dead letter for a body that [`build_event`] refused.
pub fn dead_letter(ctx: &EventContext<'_>, body: &[u8], reason: DeadLetterReason) -> DeadLetter {
    let mut hash = Sha256::new();
    hash.update(ctx.namespace.as_bytes());
    hash.update(b"|");
    hash.update(body);
    DeadLetter {
        id: hex::encode(hash.finalize()),
        subject: deadletter_subject(ctx.subject_prefix, ctx.namespace),
        reason,
    }
}

/// `hex(SHA-256(namespace | kind | name | canonical JSON of spec))`.
pub fn event_id(namespace: &str, kind: &str, name: &str, spec: &Value) -> String {
    let mut hash = Sha256::new();
    for part in [namespace, kind, name] {
        hash.update(part.as_bytes());
        hash.update(b"|");
    }
    let mut canonical = Vec::with_capacity(512);
    write_canonical(&mut canonical, spec);
    hash.update(&canonical);
    hex::encode(hash.finalize())
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant whitespace,
/// strings escaped as serde_json does, numbers as parsed.
pub fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_canonical(out, value);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(out, s),
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A string, or a number's text, trimmed and non-empty.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The resource inside a body, bare or under one of [`ENVELOPE_KEYS`].
struct Located<'a> {
    raw: &'a RawValue,
    /// The resource, parsed.
    resource: Value,
    /// Action named by a wrapper, in GTT's verb or past-tense form.
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
    let action = ACTION_KEYS
        .iter()
        .find_map(|k| top.get(*k).and_then(Value::as_str))
        .and_then(action_from_label);
    let shallow: BTreeMap<String, &RawValue> =
        serde_json::from_str(whole.get()).map_err(|_| DeadLetterReason::NotJson)?;
    let raw = shallow
        .get(*key)
        .copied()
        .ok_or(DeadLetterReason::NotJson)?;
    Ok(Located {
        raw,
        resource,
        action,
    })
}

/// `update`, `Updated`, `case.updated`, `net.gtt.case.updated` -> `update`/`updated` (last token,
/// lower-case); empty -> None.
fn action_from_label(label: &str) -> Option<String> {
    let last = label.rsplit(['.', ':', '/']).next()?.trim();
    (!last.is_empty()).then(|| last.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> EventContext<'static> {
        EventContext {
            namespace: "142033",
            kind: "case",
            action: "update",
            origin: Origin::Webhook,
            api_url: "https://test.api.gtt.services/",
            subject_prefix: "gtt",
            zone: chrono_tz::UTC,
            received_at: DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    const CASE: &str = r#"{"kind":"case","version":"v1alpha","namespace":"142033","name":"CS0074187",
        "spec":{"case_id":"0123456789abcdef0123456789abcdef","state":"Open","priority":"1 - Critical",
        "case_type":"Incident","category":"Secure Network","short_description":"Link down",
        "opened_at":"2025-03-04 10:20:30"}}"#;

    fn parse(e: &Event) -> Value {
        serde_json::from_slice(&e.payload).unwrap()
    }

    #[test]
    fn bare_case_becomes_cloudevent() {
        let e = build_event(&ctx(), CASE.as_bytes()).unwrap();
        assert_eq!(e.subject, "gtt.142033.case.updated.CS0074187");
        let v = parse(&e);
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["id"], e.id);
        assert_eq!(v["type"], "net.gtt.case.updated");
        assert_eq!(
            v["source"],
            "https://test.api.gtt.services/apis/v1alpha/namespaces/142033/case"
        );
        assert_eq!(v["subject"], "CS0074187");
        assert_eq!(v["time"], "2025-03-04T10:20:30Z");
        assert_eq!(v["gttnamespace"], "142033");
        assert_eq!(v["gttorigin"], "webhook");
        assert_eq!(v["data"]["state"], "open");
        assert_eq!(v["data"]["priority"]["level"], 1);
        assert_eq!(v["data"]["case_type"], "incident");
        assert_eq!(v["data"]["changes"], Value::Null);
        assert_eq!(v["data"]["raw"]["spec"]["priority"], "1 - Critical");
    }

    #[test]
    fn raw_is_byte_faithful() {
        let body = br#"{ "kind" : "case", "name":"CS1", "spec": {"z":1.50, "a":"\u00e9", "state":"Open"} }"#;
        let e = build_event(&ctx(), body).unwrap();
        let text = String::from_utf8(e.payload).unwrap();
        assert!(
            text.contains(r#""raw":{ "kind" : "case", "name":"CS1", "spec": {"z":1.50, "a":"\u00e9", "state":"Open"} }"#),
            "{text}"
        );
    }

    #[test]
    fn wrapped_resource_and_wrapper_action() {
        for key in ENVELOPE_KEYS {
            let body = format!(r#"{{"action":"case.created","{key}":{CASE}}}"#);
            let e = build_event(&ctx(), body.as_bytes()).unwrap();
            assert_eq!(e.subject, "gtt.142033.case.created.CS0074187", "{key}");
            let v = parse(&e);
            assert_eq!(v["type"], "net.gtt.case.created");
            assert_eq!(v["data"]["raw"]["name"], "CS0074187");
            // Same change, same id, whether wrapped or bare.
            assert_eq!(e.id, build_event(&ctx(), CASE.as_bytes()).unwrap().id);
        }
    }

    #[test]
    fn kind_and_action_fall_back_to_path() {
        let body = r#"{"name":"CS9","spec":{"state":"Resolved"}}"#;
        let e = build_event(&ctx(), body.as_bytes()).unwrap();
        assert_eq!(e.subject, "gtt.142033.case.updated.CS9");
        assert_eq!(parse(&e)["data"]["state"], "resolved");
    }

    #[test]
    fn receive_time_when_no_upstream_time() {
        let body = r#"{"name":"CS9","spec":{"state":"Resolved"}}"#;
        let v = parse(&build_event(&ctx(), body.as_bytes()).unwrap());
        assert_eq!(v["time"], "2026-01-02T03:04:05Z");
    }

    #[test]
    fn other_kinds_are_published_generically() {
        let body = r#"{"kind":"site","version":"v1alpha","name":"hq-1","spec":{"friendly":"HQ"}}"#;
        let e = build_event(&ctx(), body.as_bytes()).unwrap();
        assert_eq!(e.subject, "gtt.142033.site.updated.hq-1");
        let v = parse(&e);
        assert_eq!(v["type"], "net.gtt.site.updated");
        assert_eq!(v["data"]["name"], "hq-1");
        assert_eq!(v["data"]["namespace"], "142033");
        assert_eq!(v["data"]["raw"]["spec"]["friendly"], "HQ");
        assert!(v["data"].get("state").is_none());
    }

    #[test]
    fn id_ignores_key_order_and_whitespace_but_not_content() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "é"}});
        let b: Value =
            serde_json::from_str(r#"{ "a" : { "x" : "\u00e9", "y" : [1,2] }, "b" : 1 }"#).unwrap();
        assert_eq!(
            event_id("n", "case", "CS1", &a),
            event_id("n", "case", "CS1", &b)
        );
        let c = json!({"b": 2, "a": {"y": [1, 2], "x": "é"}});
        assert_ne!(
            event_id("n", "case", "CS1", &a),
            event_id("n", "case", "CS1", &c)
        );
        assert_ne!(
            event_id("n", "case", "CS1", &a),
            event_id("n", "case", "CS2", &a)
        );
        assert_ne!(
            event_id("n", "case", "CS1", &a),
            event_id("m", "case", "CS1", &a)
        );
        let mut out = Vec::new();
        write_canonical(&mut out, &b);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"x":"é","y":[1,2]},"b":1}"#
        );
    }

    #[test]
    fn id_matches_documented_formula() {
        let e = build_event(&ctx(), CASE.as_bytes()).unwrap();
        let v: Value = serde_json::from_str(CASE).unwrap();
        let mut canonical = Vec::new();
        write_canonical(&mut canonical, &v["spec"]);
        let mut h = Sha256::new();
        h.update(b"142033|case|CS0074187|");
        h.update(&canonical);
        assert_eq!(e.id, hex::encode(h.finalize()));
    }

    #[test]
    fn same_change_by_poll_has_same_id() {
        let mut poll = ctx();
        poll.origin = Origin::Poll;
        poll.action = "create";
        let a = build_event(&ctx(), CASE.as_bytes()).unwrap();
        let b = build_event(&poll, CASE.as_bytes()).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(parse(&b)["gttorigin"], "poll");
    }

    #[test]
    fn dead_letter_reasons() {
        let long_name = format!(r#"{{"name":"{}","spec":{{}}}}"#, "x".repeat(257));
        let cases: [(&[u8], DeadLetterReason); 7] = [
            (b"not json", DeadLetterReason::NotJson),
            (b"", DeadLetterReason::NotJson),
            (b"[1,2]", DeadLetterReason::NotAnObject),
            (
                br#"{"kind":"case","name":"CS1"}"#,
                DeadLetterReason::MissingSpec,
            ),
            (
                br#"{"kind":"case","spec":{"state":"Open"}}"#,
                DeadLetterReason::MissingName,
            ),
            (
                br#"{"kind":"case","namespace":"999","name":"CS1","spec":{}}"#,
                DeadLetterReason::NamespaceMismatch,
            ),
            (long_name.as_bytes(), DeadLetterReason::NameTooLong),
        ];
        for (body, reason) in cases {
            assert_eq!(
                build_event(&ctx(), body).unwrap_err(),
                reason,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn dead_letter_id_and_subject() {
        let d = dead_letter(&ctx(), b"garbage", DeadLetterReason::NotJson);
        assert_eq!(d.subject, "gtt.deadletter.142033");
        let mut h = Sha256::new();
        h.update(b"142033|garbage");
        assert_eq!(d.id, hex::encode(h.finalize()));
    }
}
