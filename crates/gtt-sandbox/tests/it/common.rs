//! Shared helpers for the sandbox's integration tests: start a sandbox, get tokens, call the API,
//! and a small axum receiver that records webhook deliveries.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gtt_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

pub const NS: &str = "142033";
pub const CLIENT_ID: &str = "sandbox-client";
pub const CLIENT_SECRET: &str = "sandbox-secret";

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A sandbox with fast retries, for tests.
pub async fn start(mut config: SandboxConfig) -> Sandbox {
    config.delivery.backoff_base = Duration::from_millis(20);
    config.delivery.timeout = Duration::from_secs(2);
    Sandbox::start(loopback(), config)
        .await
        .expect("sandbox starts")
}

pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// POST the token endpoint; returns status and JSON body.
pub async fn token_request(
    sandbox: &Sandbox,
    authorization: Option<&str>,
    form: &str,
) -> (u16, Value) {
    let mut request = http()
        .post(sandbox.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some(auth) = authorization {
        request = request.header("authorization", auth);
    }
    let response = request.send().await.expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A client-credentials token request with `id` and `secret`: status and answer.
pub async fn client_credentials(sandbox: &Sandbox, id: &str, secret: &str) -> (u16, Value) {
    token_request(
        sandbox,
        Some(&basic(id, secret)),
        "grant_type=client_credentials",
    )
    .await
}

pub async fn token_for(sandbox: &Sandbox, id: &str, secret: &str) -> String {
    let (status, body) = client_credentials(sandbox, id, secret).await;
    assert_eq!(status, 200, "token: {body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// A client of the sandbox's API with a bearer token.
pub struct Api {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
}

impl Api {
    pub async fn new(sandbox: &Sandbox) -> Self {
        Self {
            base: sandbox.base_url(),
            token: token_for(sandbox, CLIENT_ID, CLIENT_SECRET).await,
            client: http(),
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("api request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }
}

pub fn cases_path(ns: &str) -> String {
    format!("/apis/v1alpha/namespaces/{ns}/case")
}

pub fn webhooks_path(ns: &str) -> String {
    format!("/apis/v1/namespaces/{ns}/webhook")
}

pub fn case_body(ns: &str, short: &str) -> Value {
    json!({
        "kind": "case",
        "version": "v1alpha",
        "namespace": ns,
        "spec": {
            "short_description": short,
            "description": "Customer reports total loss of service.",
            "case_type": "Incident",
            "priority": "1 - Critical",
            "category": "Secure Network",
            "subcategory": "Service Down",
        }
    })
}

pub fn case_spec(short: &str) -> Value {
    case_body(NS, short)["spec"].clone()
}

pub fn webhook_body(ns: &str, name: &str, url: &str, action: &str) -> Value {
    json!({
        "kind": "webhook",
        "version": "v1",
        "namespace": ns,
        "name": name,
        "metadata": {"owner": "gtt-gateway"},
        "spec": {"url": url, "version": "v1alpha", "kind": "case", "action": action},
    })
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("delivery body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Statuses to answer next (then 200); `always` answers that status forever.
    next: Mutex<VecDeque<u16>>,
    always: Mutex<Option<u16>>,
}

/// A webhook receiver on 127.0.0.1 that records every request.
pub struct Receiver {
    pub base: String,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .fallback(record)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind(loopback())
            .await
            .expect("receiver binds");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, state, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn fail_next(&self, statuses: &[u16]) {
        self.state.next.lock().expect("lock").extend(statuses);
    }

    pub fn always(&self, status: Option<u16>) {
        *self.state.always.lock().expect("lock") = status;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("lock").clone()
    }

    /// Wait until at least `n` requests arrived (or `timeout`); returns what arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(state): State<Arc<ReceiverState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.received.lock().expect("lock").push(Received {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let status = state
        .next
        .lock()
        .expect("lock")
        .pop_front()
        .or(*state.always.lock().expect("lock"))
        .unwrap_or(200);
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}
