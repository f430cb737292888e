//! The bare row of bench/run: the least any HTTP-to-JetStream receiver must do, to measure what
//! the gateway's features cost. `POST|PUT /v1/hooks/gtt/{namespace}/{kind}/{action}/{token}`:
//! route, constant-time check of the capability token (the gateway's formula,
//! `hex(HMAC-SHA256(secret, "{namespace}:{kind}:{action}"))`), read the body, publish it with
//! `Nats-Msg-Id` = `hex(SHA-256(namespace | body))` (the message is the body itself), await the
//! PubAck, answer `202 {"id","subject","duplicate"}`; `401` on a bad token, `503` when the
//! publish fails. No JSON parsing, no normalization, no state, no metrics, no logs.
//!
//! ```sh
//! cargo run --release -p gtt-bench --bin bare -- --listen 127.0.0.1:8082 \
//!     --url nats://127.0.0.1:4222 --secret "$SECRET" --namespace 142033   # or BARE_SECRET=...
//! ```

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: std::net::SocketAddr,
    /// NATS server URL.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    url: String,
    /// Stream that must store the messages (`Nats-Expected-Stream`).
    #[arg(long, default_value = "GTT_EVENTS")]
    stream: String,
    /// Key of the capability tokens (as `callbacks.secret`); bench/run passes it in the
    /// environment, so it is not on the command line.
    #[arg(long, env = "BARE_SECRET", hide_env_values = true)]
    secret: String,
    /// The one namespace accepted.
    #[arg(long, default_value = "142033")]
    namespace: String,
    /// Largest body, bytes.
    #[arg(long, default_value_t = 1_044_480)]
    max_body_bytes: usize,
    /// PubAck timeout, seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

struct Shared {
    js: jetstream::Context,
    secret: Vec<u8>,
    namespace: String,
    stream: String,
    timeout: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = async_nats::ConnectOptions::new()
        .client_capacity(8192)
        .connect(&args.url)
        .await
        .context("connecting to NATS")?;
    let shared = Arc::new(Shared {
        js: jetstream::ContextBuilder::new()
            .max_ack_inflight(65_536)
            .build(client),
        secret: args.secret.into_bytes(),
        namespace: args.namespace,
        stream: args.stream,
        timeout: Duration::from_secs_f64(args.timeout),
    });
    let app = axum::Router::new()
        .route(
            "/v1/hooks/gtt/{namespace}/{kind}/{action}/{token}",
            axum::routing::post(receive).put(receive),
        )
        .route("/readyz", axum::routing::get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(args.max_body_bytes))
        .with_state(shared);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path((namespace, kind, action, token)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Response {
    if namespace != shared.namespace
        || !token_ok(&shared.secret, [&namespace, &kind, &action], &token)
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut hash = Sha256::new();
    hash.update(namespace.as_bytes());
    hash.update(b"|");
    hash.update(&body);
    let id = hex::encode(hash.finalize());
    let subject = format!("gtt.{namespace}.{kind}.{action}");
    let message = PublishMessage::build()
        .payload(body)
        .headers(HeaderMap::new())
        .message_id(&id)
        .expected_stream(&shared.stream);
    let stored = async {
        shared
            .js
            .send_publish(subject.clone(), message)
            .await
            .ok()?
            .await
            .ok()
    };
    match tokio::time::timeout(shared.timeout, stored).await {
        Ok(Some(ack)) => (
            StatusCode::ACCEPTED,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"id": id, "subject": subject, "duplicate": ack.duplicate})
                .to_string(),
        )
            .into_response(),
        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Whether `token` is the route's capability token, compared in constant time.
fn token_ok(secret: &[u8], [namespace, kind, action]: [&str; 3], token: &str) -> bool {
    let mut given = [0u8; 32];
    if hex::decode_to_slice(token, &mut given).is_err() {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(format!("{namespace}:{kind}:{action}").as_bytes());
    let expected: [u8; 32] = mac.finalize().into_bytes().into();
    bool::from(expected.ct_eq(&given))
}
