//! Webhook subscriptions: validation, storage and the `/apis/v1/namespaces/{ns}/webhook` handlers.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::auth::authorize;
use super::http::{ApiError, ApiResult, json_response, list_response, read_resource};
use super::store::{MAX_WEBHOOKS_PER_NAMESPACE, SandboxError, SharedRef, lock};

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid(message)
}

fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// Validate `metadata` and `spec` of a create/replace body and build the stored resource.
fn build(body: &mut Map<String, Value>, namespace: &str, name: &str) -> Result<Value, ApiError> {
    let metadata = match body.remove("metadata") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(m)) => Value::Object(m),
        Some(_) => return Err(invalid("metadata must be an object")),
    };
    let spec = match body.remove("spec") {
        Some(Value::Object(spec)) => spec,
        None | Some(Value::Null) => return Err(invalid("spec is required")),
        Some(_) => return Err(invalid("spec must be an object")),
    };
    for field in ["url", "version", "kind", "action"] {
        match spec.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            None | Some(Value::Null) => return Err(invalid(format!("spec.{field} is required"))),
            Some(_) => {
                return Err(invalid(format!("spec.{field} must be a non-empty string")));
            }
        }
    }
    let url = spec.get("url").and_then(Value::as_str).unwrap_or_default();
    if !valid_url(url) {
        return Err(invalid("spec.url must be an absolute http or https URL"));
    }
    Ok(json!({
        "kind": "webhook",
        "version": "v1",
        "namespace": namespace,
        "name": name,
        "metadata": metadata,
        "spec": Value::Object(spec),
    }))
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("webhook {name} not found"),
    )
}

/// `POST /apis/v1/namespaces/{ns}/webhook`.
pub(crate) async fn create(
    State(shared): State<SharedRef>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    authorize(&shared, "create_webhook", &headers, &ns)?;
    let mut body = read_resource(
        &headers,
        &body,
        &[("kind", "webhook"), ("version", "v1"), ("namespace", &ns)],
        true,
    )?;
    let name = match body.get("name") {
        Some(Value::String(name)) if valid_name(name) => name.clone(),
        None | Some(Value::Null) => return Err(invalid("name is required")),
        Some(_) => return Err(invalid("name must match [a-z0-9-]{1,63}")),
    };
    let resource = build(&mut body, &ns, &name)?;
    let mut store = lock(&shared.store);
    let webhooks = &mut store.namespaces.entry(ns.clone()).or_default().webhooks;
    if webhooks.contains_key(&name) {
        return Err(SandboxError::AlreadyExists(format!("webhook {name} already exists")).into());
    }
    if webhooks.len() >= MAX_WEBHOOKS_PER_NAMESPACE {
        return Err(invalid(format!(
            "namespace {ns} already has {MAX_WEBHOOKS_PER_NAMESPACE} webhooks"
        )));
    }
    webhooks.insert(name, resource.clone());
    Ok(json_response(StatusCode::CREATED, resource))
}

/// `GET /apis/v1/namespaces/{ns}/webhook`.
pub(crate) async fn list(
    State(shared): State<SharedRef>,
    Path(ns): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    authorize(&shared, "list_webhooks", &headers, &ns)?;
    Ok(list_response("webhookList", "v1", all(&shared, &ns), None))
}

/// `GET /apis/v1/namespaces/{ns}/webhook/{name}`.
pub(crate) async fn get_one(
    State(shared): State<SharedRef>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    authorize(&shared, "get_webhook", &headers, &ns)?;
    let store = lock(&shared.store);
    let found = store
        .namespaces
        .get(&ns)
        .and_then(|n| n.webhooks.get(&name));
    match found {
        Some(resource) => Ok(json_response(StatusCode::OK, resource.clone())),
        None => Err(not_found(&name)),
    }
}

/// `PUT /apis/v1/namespaces/{ns}/webhook/{name}`: replaces `metadata` and `spec`.
pub(crate) async fn update(
    State(shared): State<SharedRef>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    authorize(&shared, "update_webhook", &headers, &ns)?;
    let mut body = read_resource(
        &headers,
        &body,
        &[
            ("kind", "webhook"),
            ("version", "v1"),
            ("namespace", &ns),
            ("name", &name),
        ],
        false,
    )?;
    let resource = build(&mut body, &ns, &name)?;
    let mut store = lock(&shared.store);
    let slot = store
        .namespaces
        .get_mut(&ns)
        .and_then(|n| n.webhooks.get_mut(&name));
    match slot {
        Some(slot) => {
            *slot = resource.clone();
            Ok(json_response(StatusCode::OK, resource))
        }
        None => Err(not_found(&name)),
    }
}

/// `DELETE /apis/v1/namespaces/{ns}/webhook/{name}`: 204.
pub(crate) async fn delete(
    State(shared): State<SharedRef>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    authorize(&shared, "delete_webhook", &headers, &ns)?;
    if remove(&shared, &ns, &name) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(not_found(&name))
    }
}

/// All webhooks of a namespace, by name.
pub(crate) fn all(shared: &SharedRef, namespace: &str) -> Vec<Value> {
    let store = lock(&shared.store);
    store
        .namespaces
        .get(namespace)
        .map(|n| n.webhooks.values().cloned().collect())
        .unwrap_or_default()
}

/// Remove a webhook; `false` if it was not there.
pub(crate) fn remove(shared: &SharedRef, namespace: &str, name: &str) -> bool {
    let mut store = lock(&shared.store);
    store
        .namespaces
        .get_mut(namespace)
        .is_some_and(|n| n.webhooks.remove(name).is_some())
}

/// Insert or replace a webhook without validation (for tests: wrong URLs, odd specs).
/// The envelope fields are filled in; a webhook without a string `name` is ignored.
pub(crate) fn put(shared: &SharedRef, namespace: &str, webhook: Value) -> bool {
    let Value::Object(mut webhook) = webhook else {
        return false;
    };
    let Some(name) = webhook
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return false;
    };
    webhook.insert("namespace".into(), namespace.into());
    webhook.entry("kind").or_insert_with(|| "webhook".into());
    webhook.entry("version").or_insert_with(|| "v1".into());
    webhook
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let mut store = lock(&shared.store);
    store
        .namespaces
        .entry(namespace.to_owned())
        .or_default()
        .webhooks
        .insert(name, Value::Object(webhook));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert!(valid_name("case-v1alpha-create"));
        assert!(!valid_name("Case"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(64)));
        assert!(valid_url(
            "https://gw.example/v1/hooks/gtt/1/case/create/ab"
        ));
        assert!(!valid_url("ftp://x/y"));
        assert!(!valid_url("/relative"));
    }
}
