//! GTT sandbox: an in-process stand-in for GTT EnvisionDX's Service Assurance Ticketing API.
//!
//! It serves the OAuth2 token endpoint, cases (`/apis/v1alpha/...`) and webhooks (`/apis/v1/...`)
//! over HTTP on one address, and delivers webhook callbacks with configurable faults. Tests, the
//! benchmark and the demo use it instead of GTT. Every guess about what GTT does not document is
//! listed in `docs/gtt-assumptions.md`.
//!
//! Map of the module:
//! - `config`: [`SandboxConfig`], [`SandboxClient`], [`DeliveryConfig`].
//! - `auth`: token endpoint and bearer checks; `http`: router, outage switch, error bodies.
//! - `cases` (model) and `case_routes` (HTTP); `webhooks` (model and HTTP).
//! - `delivery`: callback delivery; `traffic`: [`spawn_traffic`]; `store`: shared state, stats.

mod auth;
mod case_routes;
mod cases;
mod config;
mod delivery;
mod http;
mod store;
mod traffic;
mod webhooks;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use cases::CASE_STATES;
pub use config::{DeliveryConfig, Outages, SandboxClient, SandboxConfig};
pub use store::{SandboxError, SandboxStats};
pub use traffic::{TrafficConfig, spawn_traffic};

use delivery::DeliveryRuntime;
use store::{Shared, SharedRef, Store, lock};

/// Path of the token endpoint (relative to [`Sandbox::base_url`]).
pub const TOKEN_PATH: &str = http::TOKEN_PATH;

/// A running sandbox. Cheap to clone; all clones drive the same instance.
#[derive(Clone)]
pub struct Sandbox {
    shared: SharedRef,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Bind `listen` (port 0 picks a free port) and serve in a background task.
    /// Fails if the address cannot be bound or the signing secret is not `whsec_` + base64.
    pub async fn start(listen: SocketAddr, config: SandboxConfig) -> anyhow::Result<Sandbox> {
        let delivery = DeliveryRuntime::new(config.delivery.clone())?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(delivery::USER_AGENT)
            .build()?;
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(&config.namespaces, config.first_case_number)),
            config,
            tokens: Mutex::default(),
            stats: store::Counters::default(),
            available: watch::Sender::new(true),
            delivery: Mutex::new(delivery),
            sent_seq: watch::Sender::new(0),
            in_flight: AtomicUsize::new(0),
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            runtime: tokio::runtime::Handle::try_current()?,
            http,
            server: Mutex::new(None),
        });
        let app = http::router(Arc::clone(&shared));
        let cancel = shared.cancel.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app)
                .with_graceful_shutdown(async move { cancel.cancelled().await });
            if let Err(err) = serve.await {
                tracing::error!(%err, "sandbox server stopped");
            }
        });
        *lock(&shared.server) = Some(server);
        tracing::info!(%local_addr, "GTT sandbox listening");
        let sandbox = Sandbox { shared, local_addr };
        if let Some(outages) = sandbox.shared.config.outages {
            let this = sandbox.clone();
            sandbox
                .shared
                .tracker
                .spawn(async move { this.run_outages(outages).await });
        }
        Ok(sandbox)
    }

    /// Switch the sandbox off and on by the clock of `outages`, until shutdown.
    async fn run_outages(&self, outages: Outages) {
        let lasting = outages.lasting.min(outages.every);
        let cancel = self.shared.cancel.clone();
        for (up, pause) in [(true, outages.every - lasting), (false, lasting)]
            .into_iter()
            .cycle()
        {
            if !up {
                tracing::info!(lasting = ?lasting, "GTT sandbox outage: every endpoint answers 503");
            }
            self.set_available(up);
            if cancel
                .run_until_cancelled(tokio::time::sleep(pause))
                .await
                .is_none()
            {
                return;
            }
            if !up {
                tracing::info!("GTT sandbox outage over");
            }
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT`: both the API base and the auth base.
    pub fn base_url(&self) -> String {
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.local_addr.port()))
    }

    /// `base_url() + "/realms/dx/protocol/openid-connect/token"`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url())
    }

    /// The gateway's `[gtt]` config table pointing at this sandbox, with its first client.
    pub fn gtt_config_toml(&self) -> String {
        let client = self.shared.config.clients.first();
        format!(
            "[gtt]\napi_url = \"{}\"\nauth_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
            self.base_url(),
            self.token_url(),
            client.map_or("", |c| c.client_id.as_str()),
            client.map_or("", |c| c.client_secret.as_str()),
        )
    }

    /// Stop serving and delivering. Returns within a few seconds at most; idempotent.
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        let server = lock(&self.shared.server).take();
        if let Some(mut server) = server
            && tokio::time::timeout(Duration::from_secs(3), &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
        self.shared.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.shared.tracker.wait()).await;
    }

    /// Create a case from its `spec` fields (as in the HTTP body's `spec`); notifies webhooks.
    pub fn create_case(&self, namespace: &str, spec: Value) -> Result<Value, SandboxError> {
        cases::create(
            &self.shared,
            namespace,
            into_object(spec, "spec")?,
            cases::DIRECT_AUTHOR,
        )
    }

    /// Merge spec fields into a case; a `"comment"` string appends to `spec.comments`.
    pub fn update_case(
        &self,
        namespace: &str,
        name: &str,
        patch: Value,
    ) -> Result<Value, SandboxError> {
        cases::update(
            &self.shared,
            namespace,
            name,
            into_object(patch, "patch")?,
            None,
            cases::DIRECT_AUTHOR,
        )
    }

    /// One case as GET returns it.
    pub fn case(&self, namespace: &str, name: &str) -> Option<Value> {
        cases::get(&self.shared, namespace, name)
    }

    /// Every case of a namespace, ordered by (updated time, name).
    pub fn cases(&self, namespace: &str) -> Vec<Value> {
        cases::all(&self.shared, namespace)
    }

    /// Every webhook of a namespace, by name.
    pub fn webhooks(&self, namespace: &str) -> Vec<Value> {
        webhooks::all(&self.shared, namespace)
    }

    /// Delete a webhook "behind the gateway's back"; `false` if it did not exist.
    pub fn delete_webhook(&self, namespace: &str, name: &str) -> bool {
        webhooks::remove(&self.shared, namespace, name)
    }

    /// Insert or replace a webhook without validation (e.g. with a wrong URL). `webhook` must be
    /// an object with a string `name`; `kind`, `version`, `namespace` and `metadata` are filled in.
    /// Anything else is ignored (and logged).
    pub fn put_webhook(&self, namespace: &str, webhook: Value) {
        if !webhooks::put(&self.shared, namespace, webhook) {
            tracing::warn!("sandbox put_webhook ignored: not an object with a string name");
        }
    }

    /// Replace the delivery settings; deliveries already under way keep the old ones.
    pub fn set_delivery(&self, delivery: DeliveryConfig) {
        lock(&self.shared.delivery).replace(delivery);
    }

    /// `false`: every HTTP endpoint answers 503 and deliveries pause (without using attempts).
    pub fn set_available(&self, up: bool) {
        self.shared.available.send_replace(up);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SandboxStats {
        self.shared.stats.snapshot()
    }

    /// The configured namespaces.
    pub fn namespaces(&self) -> Vec<String> {
        self.shared.config.namespaces.clone()
    }

    /// Deliveries (and duplicate copies) not yet finished.
    pub fn deliveries_in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Wait until no delivery is in flight; `false` if `timeout` passed first.
    pub async fn wait_deliveries_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.deliveries_in_flight() == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn into_object(value: Value, what: &str) -> Result<Map<String, Value>, SandboxError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(SandboxError::Invalid(format!(
            "{what} must be a JSON object"
        ))),
    }
}
