//! HTTP plumbing: the router, the outage switch (503), error bodies, JSON and form parsing.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::store::{SandboxError, SharedRef, bump};
use super::{auth, case_routes, webhooks};

/// Largest request body accepted (413 above).
const MAX_BODY_BYTES: usize = 1 << 20;

pub(crate) const TOKEN_PATH: &str = "/realms/dx/protocol/openid-connect/token";

pub(crate) fn router(shared: SharedRef) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(auth::token))
        .route(
            "/apis/v1alpha/namespaces/{ns}/case",
            post(case_routes::create).get(case_routes::list),
        )
        .route(
            "/apis/v1alpha/namespaces/{ns}/case/{name}",
            get(case_routes::get_one)
                .patch(case_routes::update)
                .put(case_routes::update),
        )
        .route(
            "/apis/v1/namespaces/{ns}/webhook",
            post(webhooks::create).get(webhooks::list),
        )
        .route(
            "/apis/v1/namespaces/{ns}/webhook/{name}",
            get(webhooks::get_one)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            outage_switch,
        ))
        .with_state(shared)
}

/// While `set_available(false)`, every endpoint answers 503.
async fn outage_switch(State(shared): State<SharedRef>, request: Request, next: Next) -> Response {
    if shared.is_available() {
        return next.run(request).await;
    }
    bump(&shared.stats.unavailable);
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "the service is temporarily unavailable",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "method not allowed on this endpoint",
    )
}

/// An API error answered as `{"code": <status>, "reason": "...", "message": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
    }
}

impl From<SandboxError> for ApiError {
    fn from(err: SandboxError) -> Self {
        let message = err.to_string();
        match err {
            SandboxError::NamespaceNotFound(_) => {
                Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
            }
            SandboxError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "NotFound", message),
            SandboxError::Invalid(_) => Self::invalid(message),
            SandboxError::Conflict(_) => Self::new(StatusCode::CONFLICT, "Conflict", message),
            SandboxError::AlreadyExists(_) => {
                Self::new(StatusCode::CONFLICT, "AlreadyExists", message)
            }
            SandboxError::Full(_) => Self::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "InsufficientStorage",
                message,
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.status.as_u16(),
            "reason": self.reason,
            "message": self.message,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// A JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Parse a JSON object body: 415 unless `Content-Type: application/json`, 400 if not JSON,
/// 422 if not an object.
fn json_object(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
        });
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "Content-Type must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("the body must be a JSON object")),
        Err(err) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("the body is not valid JSON: {err}"),
        )),
    }
}

/// Check an envelope's fields (`kind`, `version`, `namespace`, ...) against `expected`; with
/// `required` (a create) each must be present, else (an update) each may be left out.
fn check_envelope(
    body: &serde_json::Map<String, Value>,
    expected: &[(&str, &str)],
    required: bool,
) -> Result<(), ApiError> {
    for (field, want) in expected {
        match body.get(*field) {
            None | Some(Value::Null) if !required => {}
            None | Some(Value::Null) => {
                return Err(ApiError::invalid(format!("{field} is required")));
            }
            Some(Value::String(got)) if got == want => {}
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "{field} must be \"{want}\" (got {other})"
                )));
            }
        }
    }
    Ok(())
}

/// A request body that must be a JSON object whose envelope matches `expected` (see
/// [`check_envelope`]).
pub(crate) fn read_resource(
    headers: &HeaderMap,
    body: &Bytes,
    expected: &[(&str, &str)],
    required: bool,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let object = json_object(headers, body)?;
    check_envelope(&object, expected, required)?;
    Ok(object)
}

/// A list answer: `{kind, version, items, metadata: {continue}}`.
pub(crate) fn list_response(
    kind: &str,
    version: &str,
    items: Vec<Value>,
    cursor: Option<String>,
) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::json!({
            "kind": kind,
            "version": version,
            "items": items,
            "metadata": {"continue": cursor},
        }),
    )
}

/// Decode `application/x-www-form-urlencoded` (also used for query strings). Never fails:
/// malformed percent-escapes are kept literally.
pub(crate) fn parse_form(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match hex::decode(&bytes[i + 1..i + 3]) {
                Ok(decoded) => {
                    out.extend_from_slice(&decoded);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::parse_form;

    #[test]
    fn form_decoding() {
        let parsed = parse_form("grant_type=client_credentials&a=b+c%2Fd&bad=%zz&end=%4");
        assert_eq!(
            parsed[0],
            ("grant_type".into(), "client_credentials".into())
        );
        assert_eq!(parsed[1], ("a".into(), "b c/d".into()));
        assert_eq!(parsed[2], ("bad".into(), "%zz".into()));
        assert_eq!(parsed[3], ("end".into(), "%4".into()));
    }
}
