//! HTTP handlers for `/apis/v1alpha/namespaces/{ns}/case[/{name}]` and list-query parsing.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value};

use super::auth::authorize;
use super::cases::{self, ListQuery};
use super::http::{ApiError, ApiResult, json_response, list_response, parse_form, read_resource};
use super::store::SharedRef;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

/// `POST /apis/v1alpha/namespaces/{ns}/case`.
pub(crate) async fn create(
    State(shared): State<SharedRef>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let caller = authorize(&shared, "create_case", &headers, &ns)?;
    let mut body = read_resource(
        &headers,
        &body,
        &[("kind", "case"), ("version", "v1alpha"), ("namespace", &ns)],
        true,
    )?;
    let spec = take_spec(&mut body)?;
    let resource = cases::create(&shared, &ns, spec, &caller.client_id)?;
    Ok(json_response(StatusCode::CREATED, resource))
}

/// `GET /apis/v1alpha/namespaces/{ns}/case?updated_since=&limit=&continue=`.
pub(crate) async fn list(
    State(shared): State<SharedRef>,
    Path(ns): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    authorize(&shared, "list_cases", &headers, &ns)?;
    let query = parse_list_query(query.as_deref().unwrap_or(""))?;
    let (items, cursor) = cases::list(&shared, &ns, &query);
    Ok(list_response("caseList", "v1alpha", items, cursor))
}

/// `GET /apis/v1alpha/namespaces/{ns}/case/{name}`.
pub(crate) async fn get_one(
    State(shared): State<SharedRef>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    authorize(&shared, "get_case", &headers, &ns)?;
    match cases::get(&shared, &ns, &name) {
        Some(resource) => Ok(json_response(StatusCode::OK, resource)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("case {name} not found"),
        )),
    }
}

/// `PATCH|PUT /apis/v1alpha/namespaces/{ns}/case/{name}` with `{"spec": {...}}` (merged).
pub(crate) async fn update(
    State(shared): State<SharedRef>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let caller = authorize(&shared, "update_case", &headers, &ns)?;
    let mut body = read_resource(
        &headers,
        &body,
        &[
            ("kind", "case"),
            ("version", "v1alpha"),
            ("namespace", &ns),
            ("name", &name),
        ],
        false,
    )?;
    let expected_version = match body.get("metadata").and_then(|m| m.get("resource_version")) {
        None | Some(Value::Null) => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(ApiError::invalid(
                "metadata.resource_version must be a string",
            ));
        }
    };
    let patch = take_spec(&mut body)?;
    let resource = cases::update(
        &shared,
        &ns,
        &name,
        patch,
        expected_version,
        &caller.client_id,
    )?;
    Ok(json_response(StatusCode::OK, resource))
}

fn take_spec(body: &mut Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    match body.remove("spec") {
        Some(Value::Object(spec)) => Ok(spec),
        None | Some(Value::Null) => Err(ApiError::invalid("spec is required")),
        Some(_) => Err(ApiError::invalid("spec must be an object")),
    }
}

fn parse_list_query(raw: &str) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery {
        updated_since: None,
        limit: DEFAULT_LIMIT,
        after: None,
    };
    for (key, value) in parse_form(raw) {
        match key.as_str() {
            "updated_since" if !value.is_empty() => {
                query.updated_since = Some(parse_since(&value).ok_or_else(|| {
                    ApiError::invalid(
                        "updated_since must be \"YYYY-MM-DD HH:MM:SS\" (UTC) or RFC 3339",
                    )
                })?);
            }
            "limit" => {
                query.limit = match value.trim().parse::<u64>() {
                    Ok(0) | Err(_) => {
                        return Err(ApiError::invalid(format!(
                            "limit must be a number from 1 to {MAX_LIMIT}"
                        )));
                    }
                    Ok(n) => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
                };
            }
            "continue" if !value.is_empty() => {
                query.after = Some(
                    cases::decode_cursor(&value)
                        .ok_or_else(|| ApiError::invalid("invalid continue token"))?,
                );
            }
            _ => {}
        }
    }
    Ok(query)
}

/// Unix seconds (floored) from `YYYY-MM-DD HH:MM:SS` (UTC), `YYYY-MM-DDTHH:MM:SS` (UTC) or RFC 3339.
fn parse_since(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(value) {
        return Some(dt.timestamp());
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(value, fmt).ok())
        .map(|dt| dt.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_formats() {
        assert_eq!(parse_since("1970-01-01 00:01:00"), Some(60));
        assert_eq!(parse_since("1970-01-01T00:01:00"), Some(60));
        assert_eq!(parse_since("1970-01-01T01:01:00+01:00"), Some(60));
        assert_eq!(parse_since("1970-01-01T00:01:00.900Z"), Some(60));
        assert_eq!(parse_since("yesterday"), None);
    }

    #[test]
    fn limits() {
        assert_eq!(parse_list_query("").map(|q| q.limit).ok(), Some(100));
        assert_eq!(
            parse_list_query("limit=9999").map(|q| q.limit).ok(),
            Some(500)
        );
        assert!(parse_list_query("limit=0").is_err());
        assert!(parse_list_query("limit=ten").is_err());
        assert!(parse_list_query("limit=-1").is_err());
        assert!(parse_list_query("continue=%%%").is_err());
    }
}
