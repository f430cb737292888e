//! Cases (Service Assurance tickets): validation, create, update (state, fields, comments), list paging.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use serde_json::{Map, Value, json};

use super::delivery;
use super::store::{
    Case, MAX_CASES_PER_NAMESPACE, MAX_COMMENTS_PER_CASE, SandboxError, SharedRef, Store, lock,
    servicenow_time,
};

/// States a case may be set to.
pub const CASE_STATES: &[&str] = &[
    "Open",
    "In Progress",
    "Pending Customer",
    "Resolved",
    "Closed",
    "Cancelled",
];
/// Spec fields a create must carry (non-empty strings).
const REQUIRED: &[&str] = &["short_description", "case_type", "priority", "category"];
/// Spec fields an update may change (besides `state` and `comment`).
const MUTABLE: &[&str] = &[
    "priority",
    "description",
    "short_description",
    "category",
    "subcategory",
];
/// Spec fields the sandbox generates (whatever a create sends for them is replaced).
const GENERATED: &[&str] = &[
    "case_id",
    "number",
    "state",
    "opened_at",
    "updated_at",
    "resolved_at",
    "closed_at",
    "comments",
];
/// Spec fields an update may repeat only with their current value.
const READ_ONLY: &[&str] = &[
    "case_id",
    "number",
    "case_type",
    "opened_at",
    "updated_at",
    "resolved_at",
    "closed_at",
    "comments",
];
/// Author of comments made through the direct API.
pub(crate) const DIRECT_AUTHOR: &str = "GTT Service Desk";

fn invalid(message: impl Into<String>) -> SandboxError {
    SandboxError::Invalid(message.into())
}

fn require_namespace(
    store: &Store,
    shared: &SharedRef,
    namespace: &str,
) -> Result<(), SandboxError> {
    if shared.namespace_exists(namespace) && store.namespaces.contains_key(namespace) {
        Ok(())
    } else {
        Err(SandboxError::NamespaceNotFound(namespace.to_owned()))
    }
}

/// A non-empty string, or 422.
fn non_empty<'a>(field: &str, value: Option<&'a Value>) -> Result<&'a str, SandboxError> {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        None | Some(Value::Null) => Err(invalid(format!("spec.{field} is required"))),
        Some(_) => Err(invalid(format!("spec.{field} must be a non-empty string"))),
    }
}

fn comment(at: &str, author: &str, text: &str) -> Value {
    json!({"at": at, "author": author, "text": text})
}

/// Create a case in `namespace` from its `spec`; returns the full resource and notifies webhooks.
pub(crate) fn create(
    shared: &SharedRef,
    namespace: &str,
    mut spec: Map<String, Value>,
    author: &str,
) -> Result<Value, SandboxError> {
    for field in REQUIRED {
        non_empty(field, spec.get(*field))?;
    }
    for field in ["description", "subcategory"] {
        if !matches!(spec.get(field), None | Some(Value::Null | Value::String(_))) {
            return Err(invalid(format!("spec.{field} must be a string")));
        }
    }
    let first_comment = match spec.remove("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text),
        Some(_) => return Err(invalid("spec.comment must be a non-empty string")),
    };

    let mut store = lock(&shared.store);
    require_namespace(&store, shared, namespace)?;
    make_room(&mut store, namespace)?;
    let now = store.tick();
    let number = store.next_number;
    store.next_number += 1;
    let name = format!("CS{number:07}");
    let case_id = hex::encode(rand::rng().random::<[u8; 16]>());
    let at = servicenow_time(now);
    for field in GENERATED {
        spec.remove(*field);
    }
    spec.insert("case_id".into(), case_id.into());
    spec.insert("number".into(), name.clone().into());
    spec.insert("state".into(), "Open".into());
    spec.insert("opened_at".into(), at.clone().into());
    spec.insert("updated_at".into(), at.clone().into());
    let comments = first_comment
        .map(|text| vec![comment(&at, author, &text)])
        .unwrap_or_default();
    spec.insert("comments".into(), Value::Array(comments));
    let case = Case {
        name: name.clone(),
        namespace: namespace.to_owned(),
        spec,
        created_micros: now,
        updated_micros: now,
        resource_version: 1,
    };
    let resource = case.render();
    let ns = store.namespaces.entry(namespace.to_owned()).or_default();
    ns.cases.insert(name, case);
    let targets = delivery::targets(&ns.webhooks, "case", "v1alpha", "create");
    drop(store);
    delivery::dispatch(shared, &resource, targets);
    Ok(resource)
}

/// Forget the oldest finished case when the namespace is full; 507 when nothing can go.
fn make_room(store: &mut Store, namespace: &str) -> Result<(), SandboxError> {
    let Some(ns) = store.namespaces.get_mut(namespace) else {
        return Ok(());
    };
    if ns.cases.len() < MAX_CASES_PER_NAMESPACE {
        return Ok(());
    }
    let oldest = ns
        .cases
        .values()
        .filter(|c| c.is_finished())
        .min_by_key(|c| c.updated_micros)
        .map(|c| c.name.clone());
    match oldest {
        Some(name) => {
            ns.cases.remove(&name);
            Ok(())
        }
        None => Err(SandboxError::Full(format!(
            "namespace {namespace} holds {MAX_CASES_PER_NAMESPACE} open cases"
        ))),
    }
}

/// Merge `patch` (spec fields; `comment` appends a comment) into a case.
/// `expected_version` = `metadata.resource_version` from the request, if any (409 if stale).
/// A patch that changes nothing returns the case unchanged (no new version, no webhook).
pub(crate) fn update(
    shared: &SharedRef,
    namespace: &str,
    name: &str,
    patch: Map<String, Value>,
    expected_version: Option<String>,
    author: &str,
) -> Result<Value, SandboxError> {
    let mut store = lock(&shared.store);
    require_namespace(&store, shared, namespace)?;
    let now = store.tick();
    let Some(ns) = store.namespaces.get_mut(namespace) else {
        return Err(SandboxError::NamespaceNotFound(namespace.to_owned()));
    };
    let Some(case) = ns.cases.get_mut(name) else {
        return Err(SandboxError::NotFound(format!("case {name}")));
    };
    if let Some(expected) = expected_version
        && expected != case.resource_version.to_string()
    {
        return Err(SandboxError::Conflict(format!(
            "case {name} is at resource_version {}, not {expected}",
            case.resource_version
        )));
    }

    let mut spec = case.spec.clone();
    let mut new_comment = None;
    for (field, value) in patch {
        match field.as_str() {
            "state" => {
                let state = non_empty("state", Some(&value))?;
                if !CASE_STATES.contains(&state) {
                    return Err(invalid(format!(
                        "spec.state must be one of {}",
                        CASE_STATES.join(", ")
                    )));
                }
                spec.insert(field, value);
            }
            "comment" => match value {
                Value::String(text) if !text.trim().is_empty() => new_comment = Some(text),
                Value::Null => {}
                _ => return Err(invalid("spec.comment must be a non-empty string")),
            },
            f if REQUIRED.contains(&f) && MUTABLE.contains(&f) => {
                non_empty(f, Some(&value))?;
                spec.insert(field, value);
            }
            f if MUTABLE.contains(&f) => match value {
                Value::Null => {
                    spec.remove(f);
                }
                Value::String(_) => {
                    spec.insert(field, value);
                }
                _ => return Err(invalid(format!("spec.{f} must be a string"))),
            },
            f if READ_ONLY.contains(&f) => {
                if case.spec.get(f) != Some(&value) {
                    return Err(invalid(format!("spec.{f} is read-only")));
                }
            }
            _ => {
                if value.is_null() {
                    spec.remove(&field);
                } else {
                    spec.insert(field, value);
                }
            }
        }
    }

    if spec == case.spec && new_comment.is_none() {
        return Ok(case.render());
    }
    let at = servicenow_time(now);
    if let Some(text) = new_comment
        && let Some(Value::Array(comments)) = spec.get_mut("comments")
    {
        if comments.len() >= MAX_COMMENTS_PER_CASE {
            return Err(invalid(format!(
                "case {name} already has {MAX_COMMENTS_PER_CASE} comments"
            )));
        }
        comments.push(comment(&at, author, &text));
    }
    let new_state = spec.get("state").and_then(Value::as_str).map(str::to_owned);
    if new_state.as_deref() != Some(case.state()) {
        match new_state.as_deref() {
            Some("Resolved") => {
                spec.insert("resolved_at".into(), at.clone().into());
            }
            Some("Closed") => {
                spec.insert("closed_at".into(), at.clone().into());
            }
            _ => {}
        }
    }
    spec.insert("updated_at".into(), at.into());
    case.spec = spec;
    case.updated_micros = now;
    case.resource_version += 1;
    let resource = case.render();
    let targets = delivery::targets(&ns.webhooks, "case", "v1alpha", "update");
    drop(store);
    delivery::dispatch(shared, &resource, targets);
    Ok(resource)
}

/// One case as GET returns it.
pub(crate) fn get(shared: &SharedRef, namespace: &str, name: &str) -> Option<Value> {
    let store = lock(&shared.store);
    store
        .namespaces
        .get(namespace)?
        .cases
        .get(name)
        .map(Case::render)
}

/// A list query: `updated_since` (whole seconds, inclusive), page size, position after a cursor.
pub(crate) struct ListQuery {
    pub updated_since: Option<i64>,
    pub limit: usize,
    pub after: Option<(i64, String)>,
}

/// One page of cases ordered by (updated time, name) and the cursor of the next page.
pub(crate) fn list(
    shared: &SharedRef,
    namespace: &str,
    query: &ListQuery,
) -> (Vec<Value>, Option<String>) {
    let store = lock(&shared.store);
    let Some(ns) = store.namespaces.get(namespace) else {
        return (Vec::new(), None);
    };
    let since_micros = query
        .updated_since
        .map_or(i64::MIN, |s| s.saturating_mul(1_000_000));
    let mut matching: Vec<&Case> = ns
        .cases
        .values()
        .filter(|c| c.updated_micros >= since_micros)
        .filter(|c| {
            query.after.as_ref().is_none_or(|(micros, name)| {
                (c.updated_micros, c.name.as_str()) > (*micros, name.as_str())
            })
        })
        .collect();
    matching.sort_by(|a, b| (a.updated_micros, &a.name).cmp(&(b.updated_micros, &b.name)));
    let more = matching.len() > query.limit;
    matching.truncate(query.limit);
    let cursor = if more {
        matching
            .last()
            .map(|c| encode_cursor(c.updated_micros, &c.name))
    } else {
        None
    };
    (matching.into_iter().map(Case::render).collect(), cursor)
}

/// All cases of a namespace in list order.
pub(crate) fn all(shared: &SharedRef, namespace: &str) -> Vec<Value> {
    let store = lock(&shared.store);
    let Some(ns) = store.namespaces.get(namespace) else {
        return Vec::new();
    };
    let mut cases: Vec<&Case> = ns.cases.values().collect();
    cases.sort_by(|a, b| (a.updated_micros, &a.name).cmp(&(b.updated_micros, &b.name)));
    cases.into_iter().map(Case::render).collect()
}

fn encode_cursor(micros: i64, name: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{micros}:{name}"))
}

/// Decode a `continue` cursor; `None` if it is not one of ours.
pub(crate) fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let rest = raw.strip_prefix("v1:")?;
    let (micros, name) = rest.split_once(':')?;
    Some((micros.parse().ok()?, name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = encode_cursor(1_700_000_000_123_456, "CS0074187");
        assert_eq!(
            decode_cursor(&c),
            Some((1_700_000_000_123_456, "CS0074187".to_owned()))
        );
        assert_eq!(decode_cursor("not a cursor!"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("v2:1:x")), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("v1:x:y")), None);
    }
}
