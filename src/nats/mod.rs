//! The NATS side, in one place: the connection (one server or a cluster's list), the keeper of
//! the event stream and the bucket, the publisher, and what lives in the bucket (the ticket
//! records, the poller's watermarks and leases, what replays stored).
//!
//! - `connection`: connect options (TLS, [`Credentials`]), reconnects, the client's events;
//!   `diagnosis` explains a refused connection with the setting to fix;
//! - [`Publisher`]: publish and await the PubAck, failures classified; `readiness` tracks how
//!   long publishing has been failing;
//! - [`Keeper`] (`provision`): the stream and the bucket in shape, checked in the background;
//! - `bucket`: the bucket handle shared by [`TicketStore`], [`Leases`] and [`ReplayLog`];
//! - `reader`: reading stored messages, for the operator commands ([`client`] connects them);
//!   `letters`: the dead letters among them; `inspect`: what `status` reads;
//! - `rejections`: the stream of refused-callback records.

mod bucket;
mod connection;
mod diagnosis;
mod inspect;
mod leases;
mod letters;
mod provision;
mod publisher;
mod reader;
mod readiness;
pub(crate) mod rejections;
mod replays;
mod tickets;

pub(crate) use bucket::BucketError;
pub(crate) use connection::{Credentials, probe};
pub(crate) use inspect::{Inspector, LastEvent, StoreUsage};
pub(crate) use leases::Leases;
pub(crate) use letters::{Filter, Letter, Letters, Lookup};
pub(crate) use provision::Keeper;
pub(crate) use publisher::{
    MESSAGE_HEADROOM, Outgoing, PublishError, Publisher, deadletter_headers, event_headers,
};
pub(crate) use reader::{Query, Reader, read, utc};
pub(crate) use replays::ReplayLog;
pub(crate) use tickets::{TicketStore, read_record};

use crate::config::NatsSettings;
use crate::metrics::Metrics;

/// How long an operator command waits for NATS to answer before giving up.
pub(crate) const COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A client for an operator command (the same servers and credentials as the gateway), once
/// connected (within `timeout`).
pub(crate) async fn client(
    settings: &NatsSettings,
    timeout: std::time::Duration,
) -> anyhow::Result<async_nats::Client> {
    let (client, link, _) = connection::connect(settings, &Metrics::new()).await?;
    wait_connected(&link, settings, timeout).await?;
    Ok(client)
}

/// Wait (at most `timeout`) until the connection is up.
async fn wait_connected(
    link: &connection::Link,
    settings: &NatsSettings,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let mut connected = link.connected.subscribe();
    tokio::time::timeout(timeout, connected.wait_for(|up| *up))
        .await
        .map_err(|_| match link.refusal.last() {
            Some(problem) => anyhow::anyhow!("NATS refuses the connection: {problem}"),
            None => anyhow::anyhow!(
                "no NATS server answered at {} within {timeout:?} (nats.url)",
                settings.url
            ),
        })?
        .map_err(|_| anyhow::anyhow!("NATS connection closed"))?;
    Ok(())
}

/// Everything `[nats]` describes, connected.
pub(crate) struct Nats {
    pub publisher: Publisher,
    pub tickets: TicketStore,
    pub leases: Leases,
    pub replays: ReplayLog,
    /// What the connection presents; a reload replaces it.
    pub credentials: Credentials,
    /// Run it (in the background) to keep the stream and the bucket ready.
    pub keeper: Keeper,
}

impl Nats {
    /// Connect (retrying in the background while NATS is not up yet). `max_body_bytes` is the
    /// largest body a dead letter may carry: the keeper stops the gateway when the server's
    /// `max_payload` cannot hold it.
    pub(crate) async fn connect(
        settings: &NatsSettings,
        max_body_bytes: usize,
        metrics: Metrics,
    ) -> anyhow::Result<Self> {
        let (client, link, credentials) = connection::connect(settings, &metrics).await?;
        let publisher = Publisher::new(client, link, settings, max_body_bytes, metrics);
        let bucket = bucket::Bucket::default();
        Ok(Self {
            keeper: Keeper::new(publisher.clone(), bucket.clone()),
            tickets: TicketStore::new(bucket.clone()),
            leases: Leases::new(bucket.clone()),
            replays: ReplayLog::new(bucket),
            publisher,
            credentials,
        })
    }

    /// A JetStream context on its connection.
    pub(crate) fn jetstream(&self) -> async_nats::jetstream::Context {
        self.publisher.0.js.clone()
    }

    /// Connected within `timeout`, for an operator command that stores events (replay): the
    /// streams and the bucket checked once, never created or changed (whatever
    /// `nats.manage_stream` says: the command's configuration must not reshape them).
    pub(crate) async fn for_command(
        settings: &NatsSettings,
        max_body_bytes: usize,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let settings = NatsSettings {
            manage_stream: false,
            ..settings.clone()
        };
        let nats = Self::connect(&settings, max_body_bytes, Metrics::new()).await?;
        wait_connected(&nats.publisher.0.link, &settings, timeout).await?;
        nats.keeper.check_once().await?;
        Ok(nats)
    }
}
