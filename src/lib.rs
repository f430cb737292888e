//! gtt-gateway: receives GTT EnvisionDX webhook callbacks, authenticates them, normalizes them
//! into CloudEvents and publishes them durably on NATS JetStream.
//!
//! Map of the crate:
//! - [`config`]: settings (TOML + env), validated at load time.
//! - [`webhook`]: the ingest endpoint; [`webhook::auth`], [`webhook::token`] and
//!   [`webhook::verify`] authenticate callbacks.
//! - [`normalize`]: GTT case resources to the documented `data` fields (pure).
//! - [`event`]: the CloudEvent, its deterministic id and subject, dead letters (pure).
//! - [`publish`]: JetStream connection, stream management, publish-and-await-ack;
//!   [`publish::subjects`] owns the subject scheme.
//! - [`health`], [`metrics`], [`error`]: the operations surface and HTTP error answers.
//! - [`server`]: the HTTP/1.1 listener: connection cap, header and idle timeouts, head limits.
//! - [`startup`], [`state`], [`shutdown`], [`telemetry`]: wiring and lifecycle.

pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod error;
pub mod event;
pub mod gtt;
pub mod health;
pub mod ingest;
pub mod metrics;
pub mod normalize;
pub mod publish;
pub mod reconcile;
pub mod registrar;
pub mod server;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tickets;
pub mod webhook;
