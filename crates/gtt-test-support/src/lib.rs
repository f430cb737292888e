//! The shared setup of gtt-gateway's integration tests: a private `nats-server` per test
//! (stoppable and restartable on the same port and store, from `nats-harness`), the gateway built
//! in-process on a free port, and helpers to post callbacks and read back what the stream holds.

pub use nats_harness::{Authorization, LocalCluster, LocalNats, NatsOptions, ServerTls};

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::message::StreamMessage;
use gtt_core::token::TokenKeys;
use gtt_gateway::app::Application;
use gtt_gateway::config::Settings;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "test-callback-secret-0123456789abcdef";
pub const NS: &str = "142033";

pub fn free_port() -> u16 {
    nats_harness::free_port().unwrap()
}

/// A private JetStream server for one test (see `nats_harness`).
pub struct NatsServer(LocalNats);

impl NatsServer {
    pub fn start() -> Self {
        Self::start_with(&NatsOptions::default())
    }

    /// A server with non-default limits (`max_payload`, JetStream storage).
    pub fn start_with(options: &NatsOptions) -> Self {
        Self(LocalNats::start_with(options).expect("start nats-server (scripts/test installs it)"))
    }

    pub fn url(&self) -> String {
        self.0.url()
    }

    pub fn stop(&mut self) {
        self.0.stop();
    }

    pub fn restart(&mut self) {
        self.0.restart().expect("restart nats-server");
    }

    pub fn pid(&self) -> u32 {
        self.0.pid().expect("nats-server is running")
    }

    /// Reload the running server with `options` (new credentials, TLS files).
    pub fn reconfigure(&mut self, options: &NatsOptions) {
        self.0.reconfigure(options).expect("reload nats-server");
    }
}

/// Settings for tests: free port, the given NATS, two namespaces; `extra` is appended TOML.
pub fn test_settings(nats_url: &str, extra: &str) -> Settings {
    let text = format!(
        r#"
namespaces = ["{NS}", "7"]
[server]
listen = "127.0.0.1:0"
[nats]
url = "{nats_url}"
[callbacks]
secret = "{SECRET}"
[log]
level = "warn"
{extra}
"#
    );
    Settings::from_toml(&text).unwrap()
}

/// A running gateway with its own NATS server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub nats: NatsServer,
    pub http: reqwest::Client,
    pub js: jetstream::Context,
    pub settings: Settings,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with("").await
    }

    /// Spawn with extra TOML (a later table of the same name is not allowed in TOML, so extra
    /// may only add tables the base does not have, or use dotted keys).
    pub async fn spawn_with(extra: &str) -> Self {
        let nats = NatsServer::start();
        let settings = test_settings(&nats.url(), extra);
        Self::spawn_on(nats, settings).await
    }

    pub async fn spawn_on(nats: NatsServer, settings: Settings) -> Self {
        let app = Application::build(settings.clone()).await.unwrap();
        let addr = app.local_addr();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let client = async_nats::connect(nats.url()).await.unwrap();
        let test_app = Self {
            addr,
            nats,
            http: reqwest::Client::new(),
            js: jetstream::new(client),
            settings,
            shutdown,
            task,
        };
        test_app.wait_ready().await;
        test_app
    }

    pub async fn readyz(&self) -> u16 {
        self.http
            .get(format!("http://{}/readyz", self.addr))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.readyz().await != 200 {
            assert!(Instant::now() < deadline, "gateway did not become ready");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn keys(&self) -> TokenKeys {
        self.settings.callbacks.keys()
    }

    pub fn hook_url(&self, ns: &str, kind: &str, action: &str) -> String {
        let token = self.keys().token(ns, kind, action);
        format!(
            "http://{}/v1/hooks/gtt/{ns}/{kind}/{action}/{token}",
            self.addr
        )
    }

    pub async fn post(&self, action: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(self.hook_url(NS, "case", action))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// How many messages the stream holds, without async (for polling conditions).
    pub fn stored_now(&self) -> usize {
        let js = self.js.clone();
        let name = self.settings.nats.stream.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move { stream_messages(&js, &name).await.len() })
        })
        .join()
        .unwrap()
    }

    /// The subjects of every message in the stream, in order.
    pub async fn stored_subjects(&self) -> Vec<String> {
        self.stored()
            .await
            .iter()
            .map(|m| m.subject.to_string())
            .collect()
    }

    /// Every message in the gateway's stream, in order.
    pub async fn stored(&self) -> Vec<StreamMessage> {
        stream_messages(&self.js, &self.settings.nats.stream).await
    }
}

pub async fn stream_messages(js: &jetstream::Context, stream: &str) -> Vec<StreamMessage> {
    let mut stream = js.get_stream(stream).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    for seq in state.first_sequence..=state.last_sequence {
        if let Some(msg) = message_at(&stream, seq).await {
            out.push(msg);
        }
    }
    out
}

/// The message at `seq`, `None` when the stream has none there (deleted); other errors (a
/// timeout on a loaded machine, a cluster still settling) are retried for 10 s, then fail the
/// test: a read-back that skipped them would report stored messages as lost.
async fn message_at(stream: &jetstream::stream::Stream, seq: u64) -> Option<StreamMessage> {
    use async_nats::jetstream::stream::LastRawMessageErrorKind as Kind;
    let mut attempts = 0;
    loop {
        match stream.get_raw_message(seq).await {
            Ok(msg) => return Some(msg),
            Err(e) if matches!(e.kind(), Kind::NoMessageFound) => return None,
            Err(e)
                if matches!(e.kind(), Kind::JetStream(ref js)
                    if js.error_code() == jetstream::ErrorCode::NO_MESSAGE_FOUND) =>
            {
                return None;
            }
            Err(e) => {
                attempts += 1;
                assert!(attempts < 100, "cannot read message {seq}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The event stream as an operator creates it for a gateway with `nats.manage_stream = false`
/// (`GTT_EVENTS` capturing `gtt.>`, nothing else); a JetStream context on that server.
pub async fn create_event_stream(nats_url: &str) -> jetstream::Context {
    let js = jetstream::new(async_nats::connect(nats_url).await.unwrap());
    js.create_stream(jetstream::stream::Config {
        name: "GTT_EVENTS".into(),
        subjects: vec!["gtt.>".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    js
}

/// The member of the JSON array `array` whose `key` is `value`.
pub fn entry<'a>(array: &'a serde_json::Value, key: &str, value: &str) -> &'a serde_json::Value {
    array
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {array:#}"))
        .iter()
        .find(|member| member[key] == value)
        .unwrap_or_else(|| panic!("no {key} = {value} in {array:#}"))
}

/// A case body in GTT's documented shape.
pub fn case_body(number: &str, state: &str, description: &str) -> String {
    serde_json::json!({
        "kind": "case",
        "version": "v1alpha",
        "namespace": NS,
        "name": number,
        "spec": {
            "case_id": format!("{:0>32}", number.trim_start_matches("CS")),
            "state": state,
            "priority": "2 - High",
            "case_type": "Incident",
            "category": "Secure Network",
            "subcategory": "Service Down",
            "short_description": description,
            "opened_at": "2025-03-04 10:20:30"
        }
    })
    .to_string()
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

pub async fn json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}
