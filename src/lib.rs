//! gtt-gateway: receives GTT EnvisionDX ticket callbacks, authenticates them, normalizes them
//! into CloudEvents and publishes them durably on NATS JetStream; registers its own webhook
//! subscriptions at GTT, and polls GTT for what webhooks miss.
//!
//! The pure work (normalization, the event and its id, subjects, changes, tokens, signatures)
//! is the [`gtt_core`] crate; this crate does the I/O around it. Map:
//!
//! - [`cli`]: the command line, one module per subcommand (the binary only calls
//!   [`cli::main`]).
//! - [`config`]: settings from defaults, a TOML file and the environment, one module per
//!   section, checked and parsed once.
//! - [`app`]: builds the gateway from the settings and runs it until shutdown.
//! - [`http`]: the HTTP server and its limits (the in-flight bounds, per namespace too), the
//!   callback endpoint, `/healthz`, `/readyz`, `/metrics`, error answers, the record of refused
//!   callbacks.
//! - [`auth`]: callback authentication (route, capability token, body signature).
//! - [`ingest`]: the pipeline from an authenticated resource to a stored event, shared by
//!   callbacks and the poller.
//! - [`nats`]: the connection, the stream and bucket keeper, the publisher, ticket records and
//!   leases in the bucket, the rejections stream, reading for operator commands.
//! - [`gtt`]: GTT's API: OAuth2 tokens, the REST client, resource shapes.
//! - [`registrar`]: keeps GTT's webhook subscriptions as configured.
//! - [`reconcile`]: the polling fallback (one poll = one sweep of a namespace's changes; a
//!   backfill sweeps a window the same way).
//! - [`reload`]: live secret reload (SIGHUP, changed secret files) without a restart.
//! - `unmapped`: GTT labels no mapping covers, counted and logged once.
//! - `replay`: dead letters and events with unmapped labels, run through the pipeline again.
//! - `status`: what `gtt-gateway status` reports (GTT's webhooks, the poller, NATS's stores).
//! - [`metrics`], [`telemetry`]: Prometheus metrics; logs and traces.
//! - [`backoff`], [`shutdown`], [`throttle`]: retries with jittered backoff, the shutdown
//!   signal, rate-limited warnings.
//! - `demo` (feature `demo`): the embedded default, with the GTT sandbox and a private
//!   nats-server.
//!
//! Words, one meaning each: a *callback* is GTT calling us; a *webhook* is GTT's subscription
//! resource that makes it call; *ingest* is the pipeline; a ticket's *record* is its last known
//! state in the bucket; *origin* is how the gateway learned of a change (`webhook`, `poll`, or an
//! operator's `replay`).

pub mod app;
pub(crate) mod auth;
pub(crate) mod backoff;
pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod gtt;
pub mod http;
pub(crate) mod ingest;
pub mod metrics;
pub(crate) mod nats;
pub(crate) mod reconcile;
pub(crate) mod registrar;
pub(crate) mod reload;
pub(crate) mod replay;
pub(crate) mod shutdown;
pub(crate) mod status;
pub(crate) mod telemetry;
pub(crate) mod throttle;
pub(crate) mod unmapped;
