//! Operations endpoints: `/healthz` (the process is alive), `/readyz` (stream in place, publishing
//! not failing for longer than `nats.unready_after`, not shutting down) and `/metrics`
//! (Prometheus text format).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// Liveness path.
pub const HEALTHZ: &str = "/healthz";
/// Readiness path.
pub const READYZ: &str = "/readyz";
/// Prometheus path.
pub const METRICS: &str = "/metrics";

/// The operations routes.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route(HEALTHZ, get(healthz))
        .route(READYZ, get(readyz))
        .route(METRICS, get(metrics))
}

async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let ready = state.is_ready();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let failing = state.publisher.failing_for();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "nats_connected": state.metrics.nats_connected.get() == 1,
        "stream_ready": state.metrics.stream_ready.get() == 1,
        "shutting_down": state.shutting_down.load(std::sync::atomic::Ordering::Acquire),
        "failing_for_seconds": failing.map(|(d, _)| d.as_secs_f64()),
        "last_failure": failing.map(|(_, reason)| reason),
    });
    (status, axum::Json(body))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
