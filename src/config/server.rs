//! `[server]`: the HTTP listener, its connection and request limits.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// `[server]`: the HTTP listener and its limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Largest accepted callback body; larger ones get `413`.
    pub max_body_bytes: usize,
    /// Callbacks processed at once; more get `429` with `Retry-After`.
    pub max_in_flight: usize,
    /// Callbacks of one namespace processed at once (default: half of `max_in_flight`), so
    /// that one namespace cannot take every slot; more get `429` for that namespace only.
    pub max_in_flight_per_namespace: Option<usize>,
    /// Whole-request deadline, from the complete request head to the answer (reading the body,
    /// checking it, storing the event); must exceed `nats.publish_timeout`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Bound on graceful shutdown: finish in-flight requests and drain NATS within it.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// A request head (request line and headers) must arrive within this, counted from the
    /// connection's accept, or from the first byte of a next request on a kept-alive connection.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request is closed after this.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Open connections at most; at the cap, the connection waiting longest for a request is
    /// closed to make room (lowered to what the open-files limit allows).
    pub max_connections: usize,
    /// Largest request head (request line and headers); larger ones get `431`.
    pub max_header_bytes: usize,
    /// Most header fields in a request head; more get `431`.
    pub max_headers: usize,
    /// After an answer given before the whole body was read (`413`, `401`, ...), up to this
    /// many bytes of the rest are read and discarded, so that a sender that writes its whole
    /// body before reading gets the answer; then the connection is closed.
    pub max_drain_bytes: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            // 1 MiB less room for message headers: a body this large still fits NATS's
            // default max_payload (1 MiB) as a dead letter.
            max_body_bytes: 1024 * 1024 - crate::nats::MESSAGE_HEADROOM,
            max_in_flight: 1024,
            max_in_flight_per_namespace: None,
            request_timeout: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(20),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 2048,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_drain_bytes: 8 * 1024 * 1024,
        }
    }
}

impl ServerSettings {
    /// The per-namespace in-flight bound in force: as set, else half of `max_in_flight`.
    pub fn namespace_in_flight(&self) -> usize {
        self.max_in_flight_per_namespace
            .unwrap_or(self.max_in_flight.div_ceil(2))
    }

    /// `publish_timeout`: a request must have time for one publish.
    pub(super) fn validate(&self, publish_timeout: Duration) -> Result<(), ConfigError> {
        if self.request_timeout <= publish_timeout {
            return Err(ConfigError::new(
                "server.request_timeout",
                "must be longer than nats.publish_timeout",
            ));
        }
        for (key, value) in [
            ("server.header_read_timeout", self.header_read_timeout),
            ("server.idle_timeout", self.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::new(key, "must be above zero"));
            }
        }
        for (key, value, min) in [
            ("server.max_in_flight", self.max_in_flight, 1),
            ("server.max_body_bytes", self.max_body_bytes, 1),
            ("server.max_connections", self.max_connections, 1),
            ("server.max_header_bytes", self.max_header_bytes, 1024),
            ("server.max_headers", self.max_headers, 8),
        ] {
            if value < min {
                return Err(ConfigError::new(key, format!("must be at least {min}")));
            }
        }
        if let Some(bound) = self.max_in_flight_per_namespace
            && !(1..=self.max_in_flight).contains(&bound)
        {
            return Err(ConfigError::new(
                "server.max_in_flight_per_namespace",
                "must be between 1 and server.max_in_flight",
            ));
        }
        Ok(())
    }
}
