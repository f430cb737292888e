//! The event stream and the ticket-state bucket, which publishing needs, and the side streams
//! it does without (the dead-letter stream, which sources the dead letters from the event stream
//! and keeps them longer; the stream of refused-callback records): their configured shape,
//! created or updated when `nats.manage_stream` is set (else only checked, and nothing the
//! operator set is changed), and the keeper task that checks them after every (re)connect,
//! whenever a publish finds no responders, and every [`REFRESH`] (storage gauges). Side streams
//! are checked before the gateway first reports ready, but never keep it unready.
//!
//! The keeper never blocks publishing: publishes only read a flag, which the keeper clears only
//! when JetStream's API answers that the stream does not exist. A check that times out or finds
//! no responders (a leader election) changes nothing and is retried.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::context::{CreateStreamErrorKind, GetStreamErrorKind};
use async_nats::jetstream::{self, ErrorCode, stream};
use tokio_util::sync::CancellationToken;

use super::bucket::Bucket;
use super::publisher::{MESSAGE_HEADROOM, Publisher};

/// Longest wait for one JetStream API answer during a check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause before checking again after an inconclusive check.
const RETRY: Duration = Duration::from_millis(500);
/// Pause between routine checks (they refresh the storage gauges).
const REFRESH: Duration = Duration::from_secs(30);

/// Why a check did not end with the stream in place.
enum Problem {
    /// Retrying may help (no answer, an election, a node down).
    Transient(String),
    /// A configuration problem retrying cannot fix; the gateway stops.
    Fatal(anyhow::Error),
}

/// A stream the gateway works without (see [`Keeper::keep_also`]).
struct SideStream {
    config: stream::Config,
    /// Its `store` label on the storage gauges.
    store: &'static str,
    /// What is lost while it is missing.
    without: &'static str,
    /// Its absence was reported.
    reported: AtomicBool,
}

/// What JetStream said about a stream.
enum Found {
    Exists(Box<stream::Info>),
    Missing,
}

/// Storage errors JetStream answers a publish with.
pub(super) fn is_storage_full(error: &jetstream::Error) -> bool {
    matches!(
        error.error_code(),
        ErrorCode::STREAM_STORE_FAILED
            | ErrorCode::STORAGE_RESOURCES_EXCEEDED
            | ErrorCode::ACCOUNT_RESOURCES_EXCEEDED
            | ErrorCode::MEMORY_RESOURCES_EXCEEDED
            | ErrorCode::INSUFFICIENT_RESOURCES
    )
}

/// Keeps the stream and the bucket in shape, in the background (see the module doc).
pub(crate) struct Keeper {
    publisher: Publisher,
    bucket: Bucket,
    /// Streams the gateway works without: a problem with one is logged and never holds
    /// readiness back.
    side_streams: Vec<SideStream>,
}

impl Keeper {
    pub(super) fn new(publisher: Publisher, bucket: Bucket) -> Self {
        let mut keeper = Self {
            publisher,
            bucket,
            side_streams: Vec::new(),
        };
        let deadletters = keeper.deadletter_config();
        keeper.keep_also(
            deadletters,
            "deadletters",
            "dead letters are kept only as long as events (nats.max_age)",
        );
        keeper
    }

    /// Also keep `config` in shape, as a side stream whose storage gauges carry `store`;
    /// `without` says what is lost while it is missing.
    pub(crate) fn keep_also(
        &mut self,
        config: stream::Config,
        store: &'static str,
        without: &'static str,
    ) {
        self.side_streams.push(SideStream {
            config,
            store,
            without,
            reported: AtomicBool::new(false),
        });
    }

    /// The event stream's desired configuration. When full it refuses new events (`503`, the
    /// sender retries) rather than deleting stored ones before `nats.max_age`.
    fn stream_config(&self) -> stream::Config {
        let s = &self.publisher.0.settings;
        stream::Config {
            name: s.stream.clone(),
            subjects: vec![gtt_core::subjects::stream_filter(&s.subject_prefix)],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::New,
            duplicate_window: s.duplicate_window,
            max_age: s.max_age,
            max_bytes: size_limit(s.max_bytes),
            num_replicas: s.replicas,
            description: Some("GTT EnvisionDX events published by gtt-gateway".into()),
            ..Default::default()
        }
    }

    /// The state bucket's stream, laid out as the key-value convention wants. Built here rather
    /// than with `create_key_value`, which first queries account limits in a shape that NATS
    /// servers before 2.10 do not answer.
    fn bucket_config(&self) -> stream::Config {
        let s = &self.publisher.0.settings;
        let name = &s.state_bucket;
        stream::Config {
            name: format!("KV_{name}"),
            description: Some("Last known state of every GTT ticket (gtt-gateway)".into()),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            max_bytes: size_limit(s.state_max_bytes),
            storage: stream::StorageType::File,
            num_replicas: s.replicas,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        }
    }

    /// The dead-letter stream: no subjects of its own (streams may not overlap, and the event
    /// stream captures every subject under the prefix), it sources the event stream's
    /// `{prefix}.deadletter.>` and keeps them `nats.deadletter_max_age`.
    fn deadletter_config(&self) -> stream::Config {
        let s = &self.publisher.0.settings;
        let window = match s.deadletter_max_age {
            Duration::ZERO => s.duplicate_window,
            max_age => s.duplicate_window.min(max_age),
        };
        stream::Config {
            name: s.deadletter_stream.clone(),
            description: Some("Dead letters of gtt-gateway, kept longer than events".into()),
            sources: Some(vec![stream::Source {
                name: s.stream.clone(),
                filter_subject: Some(gtt_core::subjects::deadletter_filter(&s.subject_prefix)),
                ..Default::default()
            }]),
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::New,
            duplicate_window: window,
            max_age: s.deadletter_max_age,
            max_bytes: size_limit(s.deadletter_max_bytes),
            num_replicas: s.replicas,
            ..Default::default()
        }
    }

    /// Keep the stream ready until `shutdown`. Returns an error only for what retrying cannot
    /// fix: an unmanaged stream that is missing or captures other subjects, replicas a
    /// single server cannot have, or a `server.max_body_bytes` the server cannot store.
    pub(crate) async fn run(&self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut announced = false;
        loop {
            let mut pause = REFRESH;
            if self.publisher.is_connected() {
                match self.check().await {
                    Ok(()) if !announced => {
                        tracing::info!(stream = %self.publisher.0.settings.stream, "JetStream stream ready");
                        announced = true;
                    }
                    Ok(()) => {}
                    Err(Problem::Fatal(e)) => return Err(e),
                    Err(Problem::Transient(why)) => {
                        tracing::warn!(reason = %why, "JetStream stream not confirmed; checking again");
                        pause = RETRY;
                    }
                }
            }
            // After an inconclusive check, wait out the pause even if publishes keep asking.
            let asked = self.publisher.0.link.check_stream.notified();
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = asked, if pause == REFRESH => {}
                _ = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// One check now (for an operator command); `Err` says why the streams cannot be used.
    pub(crate) async fn check_once(&self) -> anyhow::Result<()> {
        self.check().await.map_err(|problem| match problem {
            Problem::Fatal(e) => e,
            Problem::Transient(why) => anyhow::anyhow!("JetStream: {why}"),
        })
    }

    /// One check of everything the gateway needs from the server.
    async fn check(&self) -> Result<(), Problem> {
        self.check_payload_limit()?;
        let settings = &self.publisher.0.settings;
        let wanted = self.stream_config();
        let info = match self.find(&wanted.name).await? {
            Found::Exists(info) => info,
            Found::Missing if !settings.manage_stream => {
                return Err(Problem::Fatal(anyhow::anyhow!(
                    "stream {} does not exist; create it or set nats.manage_stream = true",
                    wanted.name
                )));
            }
            Found::Missing => {
                self.set_stream_ready(false);
                tracing::warn!(stream = %wanted.name, "JetStream stream missing; creating it");
                Box::new(self.create(&wanted).await?)
            }
        };
        let info = if settings.manage_stream {
            self.reshape(&wanted, *info).await?
        } else {
            check_captures(&wanted, &info)?;
            *info
        };
        self.gauge("events", &info);
        // Ready once the bucket is attached too, so that the first events carry `changes`.
        self.check_bucket().await?;
        // Side streams before readiness, so that the first refusals and dead letters find
        // them in place; a problem with one is logged and retried at the next check, and does
        // not keep the gateway unready.
        for side in &self.side_streams {
            if let Err(problem) = self.check_side(side).await {
                let why = match problem {
                    Problem::Transient(why) => why,
                    Problem::Fatal(e) => format!("{e:#}"),
                };
                tracing::warn!(stream = %side.config.name, reason = %why, "Side stream not confirmed; checking again later");
            }
        }
        self.set_stream_ready(true);
        Ok(())
    }

    /// Refuse a `server.max_body_bytes` that cannot be stored (as a dead letter, with its
    /// headers) within the server's `max_payload`.
    fn check_payload_limit(&self) -> Result<(), Problem> {
        let max_payload = self.publisher.0.client.max_payload();
        let needed = self
            .publisher
            .0
            .max_body_bytes
            .saturating_add(MESSAGE_HEADROOM);
        if needed > max_payload {
            return Err(Problem::Fatal(anyhow::anyhow!(
                "invalid configuration: server.max_body_bytes: {} bytes cannot be stored: the NATS \
                 server's max_payload is {max_payload} bytes and a message needs up to \
                 {MESSAGE_HEADROOM} more for its headers; set server.max_body_bytes to at most {} \
                 or raise the server's max_payload",
                self.publisher.0.max_body_bytes,
                max_payload.saturating_sub(MESSAGE_HEADROOM)
            )));
        }
        Ok(())
    }

    /// The bucket: created or reshaped when managed; when unmanaged and missing, events flow
    /// without `changes` and without polling state.
    async fn check_bucket(&self) -> Result<(), Problem> {
        let Some(info) = self.ensure_optional(&self.bucket_config()).await? else {
            tracing::warn!(
                bucket = %self.publisher.0.settings.state_bucket,
                "Ticket-state bucket missing and nats.manage_stream = false; events carry no changes"
            );
            return Ok(());
        };
        self.gauge("state", &info);
        if !self.bucket.is_attached() {
            let name = &self.publisher.0.settings.state_bucket;
            let store = timed(self.publisher.0.js.get_key_value(name))
                .await?
                .map_err(|e| Problem::Transient(format!("cannot open bucket {name}: {e}")))?;
            self.bucket
                .attach(store, self.publisher.0.client.clone(), name);
        }
        Ok(())
    }

    /// A side stream: created or reshaped when managed; when unmanaged and missing, what is
    /// lost is said once.
    async fn check_side(&self, side: &SideStream) -> Result<(), Problem> {
        match self.ensure_optional(&side.config).await? {
            Some(info) => self.gauge(side.store, &info),
            None => {
                if !side.reported.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        stream = %side.config.name,
                        "Stream missing and nats.manage_stream = false; {}", side.without
                    );
                }
            }
        }
        Ok(())
    }

    /// A stream the gateway can work without: created or reshaped when managed, left as it is
    /// when not; `None` when unmanaged and missing.
    async fn ensure_optional(
        &self,
        wanted: &stream::Config,
    ) -> Result<Option<stream::Info>, Problem> {
        let info = match (
            self.find(&wanted.name).await?,
            self.publisher.0.settings.manage_stream,
        ) {
            (Found::Exists(info), false) => *info,
            (Found::Exists(info), true) => self.reshape(wanted, *info).await?,
            (Found::Missing, true) => self.create(wanted).await?,
            (Found::Missing, false) => return Ok(None),
        };
        Ok(Some(info))
    }

    /// Look a stream up: it exists, JetStream says it does not, or no answer (transient).
    async fn find(&self, name: &str) -> Result<Found, Problem> {
        match timed(self.publisher.0.js.get_stream(name)).await? {
            Ok(stream) => Ok(Found::Exists(Box::new(stream.cached_info().clone()))),
            Err(e) => match e.kind() {
                GetStreamErrorKind::JetStream(api)
                    if api.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(Found::Missing)
                }
                _ => Err(Problem::Transient(format!("stream {name}: {e}"))),
            },
        }
    }

    async fn create(&self, wanted: &stream::Config) -> Result<stream::Info, Problem> {
        match timed(self.publisher.0.js.create_stream(wanted.clone())).await? {
            Ok(stream) => Ok(stream.cached_info().clone()),
            Err(e) => Err(self.placement_problem(&wanted.name, &e.kind(), e.to_string())),
        }
    }

    /// Update a managed stream whose configuration differs from the wanted one (only then:
    /// an update is a cluster-wide proposal).
    async fn reshape(
        &self,
        wanted: &stream::Config,
        info: stream::Info,
    ) -> Result<stream::Info, Problem> {
        if same_shape(wanted, &info.config) {
            return Ok(info);
        }
        tracing::info!(stream = %wanted.name, "Updating the stream to the configured shape");
        match timed(self.publisher.0.js.update_stream(wanted.clone())).await? {
            Ok(info) => Ok(info),
            Err(e) => Err(self.placement_problem(&wanted.name, &e.kind(), e.to_string())),
        }
    }

    /// Turn a failed create or update into a problem that names the key to change.
    fn placement_problem(&self, name: &str, kind: &CreateStreamErrorKind, text: String) -> Problem {
        let replicas = self.publisher.0.settings.replicas;
        match kind {
            CreateStreamErrorKind::JetStream(api)
                if api.error_code() == ErrorCode::STREAM_REPLICAS_NOT_SUPPORTED =>
            {
                Problem::Fatal(anyhow::anyhow!(
                    "invalid configuration: nats.replicas: {replicas} replicas need a JetStream \
                     cluster, and this NATS server is not clustered; set nats.replicas = 1 \
                     ({text})"
                ))
            }
            CreateStreamErrorKind::JetStream(api)
                if api.error_code() == ErrorCode::INSUFFICIENT_RESOURCES =>
            {
                // Also what a full cluster answers while one node is down: retry, loudly.
                tracing::error!(
                    stream = %name,
                    "nats.replicas = {replicas}: the NATS cluster cannot place {replicas} replicas \
                     of stream {name} right now (fewer servers with JetStream than replicas, or \
                     not enough storage for nats.max_bytes); lower nats.replicas or add servers"
                );
                Problem::Transient(text)
            }
            CreateStreamErrorKind::JetStream(api)
                if api.error_code() == ErrorCode::STORAGE_RESOURCES_EXCEEDED =>
            {
                Problem::Fatal(anyhow::anyhow!(
                    "invalid configuration: nats.max_bytes / nats.state_max_bytes / \
                     nats.deadletter_max_bytes: the NATS server cannot reserve that much \
                     JetStream storage for stream {name}; lower the limit or raise the server's \
                     max_file_store ({text})"
                ))
            }
            _ => Problem::Transient(text),
        }
    }

    fn set_stream_ready(&self, ready: bool) {
        self.publisher
            .0
            .stream_ready
            .store(ready, Ordering::Release);
        self.publisher.0.metrics.stream_ready.set(i64::from(ready));
    }

    /// `gtt_gateway_storage_bytes{store}` and `gtt_gateway_storage_limit_bytes{store}`.
    fn gauge(&self, store: &str, info: &stream::Info) {
        let metrics = &self.publisher.0.metrics;
        metrics
            .storage_bytes
            .with_label_values(&[store])
            .set(i64::try_from(info.state.bytes).unwrap_or(i64::MAX));
        metrics
            .storage_limit_bytes
            .with_label_values(&[store])
            .set(info.config.max_bytes.max(0));
    }
}

/// A configured byte limit as JetStream wants it (`-1` = none).
fn size_limit(limit: bytesize::ByteSize) -> i64 {
    match limit.as_u64() {
        0 => -1,
        bytes => i64::try_from(bytes).unwrap_or(i64::MAX),
    }
}

/// Whether an existing stream already has every setting the gateway manages.
fn same_shape(wanted: &stream::Config, have: &stream::Config) -> bool {
    wanted.subjects == have.subjects
        && wanted.max_age == have.max_age
        && wanted.max_bytes == have.max_bytes
        && wanted.max_messages == have.max_messages
        && wanted.discard == have.discard
        && wanted.duplicate_window == have.duplicate_window
        && wanted.num_replicas == have.num_replicas
        && wanted.max_messages_per_subject == have.max_messages_per_subject
        && wanted.allow_rollup == have.allow_rollup
        && wanted.deny_delete == have.deny_delete
        && wanted.allow_direct == have.allow_direct
        && wanted.description == have.description
        && same_sources(wanted, have)
}

/// Whether `have` sources what `wanted` sources (by stream and filter; the server adds
/// defaults of its own).
fn same_sources(wanted: &stream::Config, have: &stream::Config) -> bool {
    let sourced = |config: &stream::Config| -> Vec<(String, Option<String>)> {
        config
            .sources
            .iter()
            .flatten()
            .map(|s| (s.name.clone(), s.filter_subject.clone()))
            .collect()
    };
    sourced(wanted) == sourced(have)
}

/// An unmanaged stream must at least capture the gateway's subjects.
fn check_captures(wanted: &stream::Config, info: &stream::Info) -> Result<(), Problem> {
    let filter = &wanted.subjects[0];
    if info.config.subjects.iter().any(|s| s == filter) {
        return Ok(());
    }
    Err(Problem::Fatal(anyhow::anyhow!(
        "stream {} does not capture {filter} (its subjects: {:?})",
        wanted.name,
        info.config.subjects
    )))
}

/// Bound one API call by [`CHECK_TIMEOUT`].
async fn timed<T>(call: impl Future<Output = T>) -> Result<T, Problem> {
    tokio::time::timeout(CHECK_TIMEOUT, call)
        .await
        .map_err(|_| Problem::Transient("no answer from JetStream in time".into()))
}
