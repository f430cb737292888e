//! Where the resource is in a callback body (bare, or under `data`, `object`, `resource` or
//! `payload`), and whether a wrapper's action label names the callback's route.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_json::value::RawValue;

use super::DeadLetterReason;
use crate::subjects::past_tense;

/// Keys under which a sender may wrap the resource instead of sending it bare.
pub const ENVELOPE_KEYS: [&str; 4] = ["data", "object", "resource", "payload"];
/// Keys of a wrapper that may name the action (`update`, `updated`, `case.updated`).
const ACTION_KEYS: [&str; 4] = ["action", "event", "event_type", "type"];

/// The resource inside a body, bare or under one of [`ENVELOPE_KEYS`].
pub(super) struct Located<'a> {
    pub raw: &'a RawValue,
    /// The resource, parsed.
    pub resource: Value,
    /// The action label of a wrapper (`update`, `case.updated`, ...), if it has one.
    pub action: Option<String>,
}

/// One parse for a bare resource (the common case); a wrapped one also needs the raw bytes of
/// the inner object, found with a second, shallow parse.
pub(super) fn locate_resource(body: &[u8]) -> Result<Located<'_>, DeadLetterReason> {
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
pub(super) fn label_names_route(label: &str, kind: &str, action: &str) -> bool {
    let mut tokens = label.trim().rsplit(['.', ':', '/']).map(str::trim);
    let Some(last) = tokens.next().filter(|t| !t.is_empty()) else {
        return true;
    };
    past_tense(&last.to_ascii_lowercase()) == action
        && tokens.next().is_none_or(|k| k.eq_ignore_ascii_case(kind))
}
