//! The embedded default (`gtt-gateway` with no arguments and no config): the GTT sandbox
//! in-process (with the delivery faults asked for), the gateway with its registrar and poller
//! against it, a ticket traffic generator, and a live tail of the events read back from NATS
//! with a periodic summary (what polling recovered included), until Ctrl-C.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream::Stream};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::config::Settings;
use crate::metrics::{Metrics, Outcome};
use gtt_sandbox::{Sandbox, SandboxConfig, TrafficConfig, spawn_traffic};
use nats_harness::{self as local_nats, LocalNats};

/// Namespaces the demo's sandbox and gateway use.
const NAMESPACES: [&str; 2] = ["142033", "7"];
/// Port the demo gateway prefers (falls back to a free one).
const PREFERRED_PORT: u16 = 8080;
/// How often the summary line is printed.
const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// Run the demo until Ctrl-C. `nats_url` is the NATS to try first; `sandbox` is the GTT
/// sandbox's configuration ([`sandbox_config`], with faults as asked).
pub async fn run(
    nats_url: String,
    sandbox: SandboxConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (nats_url, _private_nats) = find_nats(&nats_url).await?;

    let faults = faults(&sandbox);
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), sandbox).await?;
    let port = if std::net::TcpListener::bind(("127.0.0.1", PREFERRED_PORT)).is_ok() {
        PREFERRED_PORT
    } else {
        local_nats::free_port()?
    };
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let settings = settings_for_sandbox(
        &sandbox,
        &nats_url,
        port,
        &secret,
        &NAMESPACES,
        "[registrar]\ninterval = \"30s\"\n[reconcile]\nenabled = true\ninterval = \"5s\"\n\
         [log]\nformat = \"pretty\"\nlevel = \"warn\"\n",
    )?;
    let stream_name = settings.nats.stream.clone();
    let app = Application::build(settings).await?;
    let metrics = app.gateway().metrics.clone();
    let gateway = app.gateway().clone();
    println!("gtt-gateway demo");
    println!("  GTT sandbox   {}", sandbox.base_url());
    println!("  faults        {faults}");
    println!("  polling       every 5 s (fills in lost webhooks)");
    println!(
        "  gateway       http://{} (metrics at /metrics)",
        app.local_addr()
    );
    println!("  NATS          {nats_url}, stream {stream_name}, subjects gtt.>");
    println!("  Ctrl-C stops. Events below are read back from JetStream.\n");
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));

    // Tail from before the first ticket, once the webhooks are registered, so nothing is missed.
    let js = jetstream::new(async_nats::connect(server_list(&nats_url)).await?);
    let Some(stream) = wait_for_stream(&js, &stream_name, &shutdown).await else {
        return Ok(());
    };
    let wanted = (NAMESPACES.len() * 2) as i64;
    let registered = async {
        while !gateway.is_ready() || metrics.subscriptions_in_place() < wanted {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(15), registered)
        .await
        .is_err()
    {
        println!("(NATS or the webhooks are not ready yet; events may start late)");
    }
    let messages = open_tail(stream).await?;
    let traffic = spawn_traffic(
        sandbox.clone(),
        TrafficConfig {
            namespaces: NAMESPACES.iter().map(ToString::to_string).collect(),
            new_ticket_every: Duration::from_millis(2500),
            step_every: Duration::from_millis(900),
            max_open: 8,
        },
        shutdown.clone(),
    );
    tail(messages, &metrics, &sandbox, &shutdown).await;
    shutdown.cancel();
    let _ = traffic.await;
    running.await??;
    sandbox.shutdown().await;
    Ok(())
}

/// The configured NATS if it answers, else a private `nats-server`.
async fn find_nats(url: &str) -> anyhow::Result<(String, Option<LocalNats>)> {
    let probe = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(1))
        .connect(server_list(url));
    if let Ok(Ok(client)) = tokio::time::timeout(Duration::from_secs(2), probe).await {
        drop(client);
        return Ok((url.to_string(), None));
    }
    match LocalNats::start() {
        Ok(nats) => {
            println!(
                "No NATS answers at {url}; started a private nats-server at {}",
                nats.url()
            );
            Ok((nats.url(), Some(nats)))
        }
        Err(e) => anyhow::bail!(
            "no NATS server answers at {url}, and a private one could not be started ({e}).\n\
             Install one (Debian/Ubuntu: sudo apt-get install nats-server) or point \
             GTT_GATEWAY_NATS__URL at a NATS server with JetStream enabled."
        ),
    }
}

/// `nats.url`'s comma-separated form as a list of servers.
fn server_list(urls: &str) -> Vec<&str> {
    urls.split(',').map(str::trim).collect()
}

/// One line naming the faults in force, e.g. `drop 30%, duplicate 10%, outage 20s every 2m`.
pub fn faults(config: &SandboxConfig) -> String {
    let d = &config.delivery;
    let mut parts: Vec<String> = [
        ("drop", d.drop_rate),
        ("drop first attempt", d.drop_first_attempt_rate),
        ("duplicate", d.duplicate_rate),
        ("reorder", d.reorder_rate),
    ]
    .into_iter()
    .filter(|(_, share)| *share > 0.0)
    .map(|(name, share)| format!("{name} {}%", (share * 1000.0).round() / 10.0))
    .collect();
    if !d.max_delay.is_zero() {
        parts.push(format!(
            "delay up to {}",
            humantime::format_duration(d.max_delay)
        ));
    }
    if let Some(o) = config.outages {
        parts.push(format!(
            "outage {} every {}",
            humantime::format_duration(o.lasting),
            humantime::format_duration(o.every)
        ));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// The demo's sandbox: its namespaces, and a little of real life in its deliveries (the
/// `demo` command's fault flags change them).
pub fn sandbox_config() -> SandboxConfig {
    // Ticket numbers that differ from run to run, so a NATS kept between runs (with its ticket
    // state) never sees a new run's tickets as changes of an old run's.
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
    let mut config = SandboxConfig {
        namespaces: NAMESPACES.iter().map(ToString::to_string).collect(),
        // One number a second at most is used (a ticket every 2.5 s), so runs never overlap.
        first_case_number: 1_000_000 + now % 8_000_000,
        ..SandboxConfig::default()
    };
    // A little of real life: some deliveries arrive twice, some late, some out of order.
    config.delivery.duplicate_rate = 0.1;
    config.delivery.reorder_rate = 0.05;
    config.delivery.max_delay = Duration::from_millis(300);
    config
}

/// Gateway settings against `sandbox`: listening on 127.0.0.1:`port` (also its public URL),
/// publishing to `nats_url`, accepting `namespaces`; `extra` is appended TOML (tables the
/// base does not set). The demo and the tests build their gateways with it.
pub fn settings_for_sandbox(
    sandbox: &Sandbox,
    nats_url: &str,
    port: u16,
    secret: &str,
    namespaces: &[&str],
    extra: &str,
) -> Result<Settings, crate::config::ConfigError> {
    let extra = format!("{}\n{extra}", sandbox.gtt_config_toml());
    Settings::from_toml(&local_gateway_toml(
        nats_url, port, secret, namespaces, &extra,
    ))
}

/// The configuration (TOML) of a gateway on 127.0.0.1:`port` (also its public URL),
/// publishing to `nats_url`, accepting `namespaces`; `extra` is appended.
pub fn local_gateway_toml(
    nats_url: &str,
    port: u16,
    secret: &str,
    namespaces: &[&str],
    extra: &str,
) -> String {
    let namespaces = namespaces
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"
namespaces = [{namespaces}]
[server]
listen = "127.0.0.1:{port}"
[nats]
url = "{nats_url}"
[callbacks]
public_url = "http://127.0.0.1:{port}"
secret = "{secret}"
{extra}
"#
    )
}

async fn wait_for_stream(
    js: &jetstream::Context,
    name: &str,
    shutdown: &CancellationToken,
) -> Option<Stream> {
    loop {
        if let Ok(stream) = js.get_stream(name).await {
            return Some(stream);
        }
        shutdown
            .run_until_cancelled(tokio::time::sleep(Duration::from_millis(200)))
            .await?;
    }
}

/// An ordered consumer of the events published from now on.
async fn open_tail(stream: Stream) -> anyhow::Result<consumer::push::Ordered> {
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: format!("_demo.tail.{}", std::process::id()),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await?;
    Ok(consumer.messages().await?)
}

/// Print each new event as one line, and a summary every [`SUMMARY_EVERY`].
async fn tail(
    mut messages: consumer::push::Ordered,
    metrics: &Metrics,
    sandbox: &Sandbox,
    shutdown: &CancellationToken,
) {
    let mut summary = tokio::time::interval(SUMMARY_EVERY);
    summary.tick().await;
    let mut seen = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = summary.tick() => println!("{}", summary_line(seen, metrics, sandbox)),
            next = messages.next() => match next {
                Some(Ok(msg)) => {
                    seen += 1;
                    println!("{}", event_line(&msg.subject, &msg.payload));
                }
                Some(Err(e)) => tracing::warn!(error = %e, "Tail interrupted; continuing"),
                None => return,
            },
        }
    }
}

/// `10:20:31  webhook  gtt.142033.case.updated.CS0074187  in_progress  P2 High  incident  "MPLS down"`.
fn event_line(subject: &str, payload: &[u8]) -> String {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return format!(
            "{}  {subject}  (dead letter)",
            chrono::Utc::now().format("%H:%M:%S")
        );
    };
    let data = &event["data"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    let priority = match (
        data["priority"]["level"].as_u64(),
        data["priority"]["label"].as_str(),
    ) {
        (Some(level), Some(label)) => format!("P{level} {label}"),
        _ => "-".into(),
    };
    let changed = match data["changes"].as_array() {
        Some(changes) if !changes.is_empty() => {
            let fields: Vec<&str> = changes.iter().filter_map(|c| c["field"].as_str()).collect();
            format!("  changed: {}", fields.join(", "))
        }
        _ => String::new(),
    };
    format!(
        "{}  {:<7}  {:<40} {:<17} {:<12} {:<16} {:?}{changed}",
        chrono::Utc::now().format("%H:%M:%S"),
        text(&event["gttorigin"]),
        subject,
        text(&data["state"]),
        priority,
        text(&data["case_type"]),
        text(&data["short_description"]),
    )
}

fn summary_line(seen: u64, metrics: &Metrics, sandbox: &Sandbox) -> String {
    let stats = sandbox.stats();
    format!(
        "-- {seen} events read back | callbacks: {} stored, {} duplicates suppressed, {} dead-lettered, {} refused | recovered by polling: {} | webhooks in place: {} | sandbox deliveries: {} ok, {} failed, {} dropped",
        metrics.callbacks_with_outcome(Outcome::Accepted),
        metrics.callbacks_with_outcome(Outcome::Duplicate),
        metrics.callbacks_with_outcome(Outcome::DeadLettered),
        metrics.callbacks_with_outcome(Outcome::Unauthorized),
        metrics.recovered_by_polling(),
        metrics.subscriptions_in_place(),
        stats.deliveries_succeeded,
        stats.deliveries_failed,
        stats.deliveries_dropped,
    )
}
