//! HTTP error answers: one [`Problem`] type rendered as `application/problem+json` (RFC 9457).
//! Titles and details are fixed texts chosen here; no secret, token, body or internal error
//! text ever reaches a response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An RFC 9457 problem answer.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Problem {
    #[serde(rename = "type")]
    type_: &'static str,
    title: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip)]
    retry_after_secs: Option<u32>,
    /// `Accept-Encoding` of a `415`: the content codings that would be accepted.
    #[serde(skip)]
    accept_encoding: Option<&'static str>,
}

impl Problem {
    fn new(status: StatusCode, title: &'static str) -> Self {
        Self {
            type_: "about:blank",
            title,
            status: status.as_u16(),
            detail: None,
            retry_after_secs: None,
            accept_encoding: None,
        }
    }

    /// `401`: no detail, so a caller learns nothing about which check failed.
    pub(super) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    /// `413`.
    pub(super) fn too_large(limit: usize) -> Self {
        let mut p = Self::new(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large");
        p.detail = Some(format!("the body exceeds {limit} bytes"));
        p
    }

    /// `429` with `Retry-After`.
    pub(super) fn overloaded() -> Self {
        let mut p = Self::new(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        p.detail = Some("too many callbacks in flight; retry later".into());
        p.retry_after_secs = Some(1);
        p
    }

    /// `503` with `Retry-After`: the event was not stored; the sender should retry.
    pub(super) fn unavailable() -> Self {
        let mut p = Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        p.detail = Some("the event could not be stored; retry later".into());
        p.retry_after_secs = Some(5);
        p
    }

    /// `408`: the body did not arrive within the request timeout.
    pub(super) fn timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "Request Timeout")
    }

    /// `415`: a `Content-Encoding` the gateway does not decode; `accepted` lists those it does.
    pub(super) fn unsupported_encoding(accepted: &'static str) -> Self {
        let mut p = Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type");
        p.detail = Some(format!(
            "Content-Encoding must be one of: {accepted}, identity"
        ));
        p.accept_encoding = Some(accepted);
        p
    }

    /// `400`: the body could not be read (connection cut, bad framing), or is not valid data of
    /// its `Content-Encoding`.
    pub(super) fn bad_request() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad Request")
    }

    pub(super) fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let (retry_after, accept_encoding) = (self.retry_after_secs, self.accept_encoding);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            )],
            body,
        )
            .into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(accepted) = accept_encoding {
            response
                .headers_mut()
                .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accepted));
        }
        response
    }
}
