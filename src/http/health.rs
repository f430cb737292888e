//! Operations endpoints: `/healthz` (the process is alive), `/readyz` (stream in place, publishing
//! not failing for longer than `nats.unready_after`, not shutting down) and `/metrics`
//! (Prometheus text format).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::Gateway;

/// Liveness path.
pub const HEALTHZ: &str = "/healthz";
/// Readiness path.
pub const READYZ: &str = "/readyz";
/// Prometheus path.
pub const METRICS: &str = "/metrics";

pub(super) async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

pub(super) async fn readyz(State(gateway): State<Gateway>) -> impl IntoResponse {
    let ready = gateway.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let failing = gateway.pipeline.failing_for();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "nats_connected": gateway.metrics.nats_connected.get() == 1,
        "stream_ready": gateway.metrics.stream_ready.get() == 1,
        "shutting_down": gateway.is_shutting_down(),
        "failing_for_seconds": failing.map(|(d, _)| d.as_secs_f64()),
        "last_failure": failing.map(|(_, reason)| reason),
    });
    (status, axum::Json(body))
}

pub(super) async fn metrics(State(gateway): State<Gateway>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        gateway.metrics.render(),
    )
}
