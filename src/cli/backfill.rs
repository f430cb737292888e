//! `gtt-gateway backfill --namespace N --since T [--until T]`: store what GTT holds for a
//! window through the poller's own path (same listing, same ids: nothing is stored twice),
//! for onboarding and after long outages. A progress line on a terminal (plain lines
//! otherwise), and a summary at the end.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::gtt::GttClient;
use crate::ingest::Pipeline;
use crate::metrics::Metrics;
use crate::nats::Nats;
use crate::reconcile::{OnStoreError, Reconciler, Tally, Window};

/// Longest wait for NATS and the stream to be usable.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(clap::Args)]
pub(super) struct Args {
    /// The namespace to backfill (one of `namespaces`).
    #[arg(long)]
    namespace: String,
    /// Start of the window: RFC 3339, "YYYY-MM-DD HH:MM:SS" in gtt.timezone, or a duration
    /// ago (e.g. 6h).
    #[arg(long, value_name = "TIME")]
    since: String,
    /// End of the window (same forms; default: now). Cases changed after it are left out.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Print the summary as JSON (and no progress).
    #[arg(long)]
    json: bool,
}

pub(super) fn run(settings: &Settings, args: &Args) -> ExitCode {
    if let Err(code) = super::require(&settings.reconcile_missing(), "to list cases at GTT") {
        return code;
    }
    let window = match window(settings, args) {
        Ok(window) => window,
        Err(message) => return super::usage_error(&message),
    };
    super::block_on(async {
        match backfill(settings, &args.namespace, window, args.json).await {
            Ok(tally) if tally.errors == 0 => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("gtt-gateway: backfill stopped: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The window the arguments name, checked against the configuration.
fn window(settings: &Settings, args: &Args) -> Result<Window, String> {
    if settings.namespace(&args.namespace).is_none() {
        return Err(format!(
            "--namespace: {:?} is not one of the configured namespaces",
            args.namespace
        ));
    }
    let (zone, now) = (settings.gtt.zone, Utc::now());
    let since = super::time::parse("--since", &args.since, zone, now)?;
    let until = match &args.until {
        Some(text) => Some(super::time::parse("--until", text, zone, now)?),
        None => None,
    };
    if until.is_some_and(|until| until < since) {
        return Err("--until: must not be before --since".into());
    }
    Ok(Window { since, until })
}

async fn backfill(
    settings: &Settings,
    namespace: &str,
    window: Window,
    json: bool,
) -> anyhow::Result<Tally> {
    let metrics = Metrics::new();
    let nats = Nats::connect(
        &settings.nats,
        settings.server.max_body_bytes,
        metrics.clone(),
    )
    .await?;
    let stop = CancellationToken::new();
    let keeper = {
        let (keeper, stop) = (nats.keeper, stop.clone());
        tokio::spawn(async move { keeper.run(stop).await })
    };
    let publisher = nats.publisher.clone();
    let pipeline = Pipeline::new(nats.publisher, nats.tickets, settings);
    let ready = async {
        while !pipeline.is_ready() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(READY_TIMEOUT, ready).await.is_err() {
        stop.cancel();
        anyhow::bail!(
            "NATS at {} with stream {} not ready within {READY_TIMEOUT:?} (nats.url, nats.stream)",
            settings.nats.url,
            settings.nats.stream
        );
    }
    let client = GttClient::from_settings(settings, &metrics);
    let reconciler = Reconciler::new(settings, client, pipeline, nats.leases, metrics);
    let progress = Progress::new(json);
    let swept = reconciler
        .sweep(namespace, window, OnStoreError::Count, |tally| {
            progress.show(tally);
        })
        .await;
    progress.done();
    // The ticket records are written without waiting for answers: flush them.
    publisher.drain().await;
    stop.cancel();
    let _ = keeper.await;
    let tally = swept?;
    summary(namespace, window, &tally, json);
    Ok(tally)
}

/// Progress after every page: a spinner line on a terminal, plain lines otherwise, nothing
/// for `--json`.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(json: bool) -> Self {
        let bar = (!json).then(|| {
            if std::io::stdout().is_terminal() {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            } else {
                ProgressBar::hidden()
            }
        });
        Self { bar }
    }

    fn show(&self, tally: &Tally) {
        let Some(bar) = &self.bar else { return };
        let line = format!(
            "page {}: seen {}, stored {}, already stored {}, dead-lettered {}, errors {}",
            tally.pages,
            tally.seen,
            tally.stored,
            tally.already_stored,
            tally.dead_lettered,
            tally.errors
        );
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.set_message(line);
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn summary(namespace: &str, window: Window, tally: &Tally, json: bool) {
    let until = window.until.map(|t| t.to_rfc3339());
    if json {
        return super::output::json(&serde_json::json!({
            "namespace": namespace,
            "since": window.since.to_rfc3339(),
            "until": until,
            "pages": tally.pages,
            "seen": tally.seen,
            "stored": tally.stored,
            "already_stored": tally.already_stored,
            "dead_lettered": tally.dead_lettered,
            "after_until": tally.after_window,
            "errors": tally.errors,
        }));
    }
    println!(
        "Backfill of namespace {namespace}, changes since {} until {}:",
        window.since.to_rfc3339(),
        until.as_deref().unwrap_or("now")
    );
    for (label, count) in [
        ("seen", tally.seen),
        ("stored", tally.stored),
        ("already stored", tally.already_stored),
        ("dead-lettered", tally.dead_lettered),
        ("after --until", tally.after_window),
        ("errors", tally.errors),
    ] {
        println!("  {label:<15} {count:>7}");
    }
    if tally.errors > 0 {
        println!("Some cases were not stored; run the same backfill again to store them.");
    }
}
