//! A minimal consumer of gtt-gateway's events, written from docs/asyncapi.json and
//! docs/schemas/: a durable JetStream pull consumer that prints every ticket change and acks it.
//!
//! cargo run --example consumer -- --nats nats://127.0.0.1:4222 --durable ticket-printer

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull};
use clap::Parser;
use futures::StreamExt;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    #[arg(long, default_value = "GTT_EVENTS")]
    stream: String,
    /// Durable consumer name: restarts resume where the last run stopped.
    #[arg(long, default_value = "ticket-printer")]
    durable: String,
    /// Subject filter (see docs/asyncapi.json), e.g. gtt.*.case.> or gtt.142033.case.updated.>
    #[arg(long, default_value = "gtt.*.case.>")]
    filter: String,
    /// Stop after this many messages (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    max: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let js = jetstream::new(async_nats::connect(&args.nats).await?);
    let stream = js.get_stream(&args.stream).await.context("stream")?;
    let consumer = stream
        .get_or_create_consumer(
            &args.durable,
            pull::Config {
                durable_name: Some(args.durable.clone()),
                filter_subject: args.filter.clone(),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await
        .context("consumer")?;
    let mut messages = consumer.messages().await?;
    let mut seen = 0;
    while let Some(message) = messages.next().await {
        let message = message?;
        let event: serde_json::Value = serde_json::from_slice(&message.payload)?;
        let data = &event["data"];
        let changes = data["changes"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| {
                        format!(
                            "{}: {} -> {}",
                            c["field"].as_str().unwrap_or("?"),
                            c["old"],
                            c["new"]
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_else(|| "(no earlier state to compare)".into());
        println!(
            "{} {} {} [{}] {} | {}",
            event["time"].as_str().unwrap_or("-"),
            event["type"].as_str().unwrap_or("-"),
            event["subject"].as_str().unwrap_or("-"),
            data["state"].as_str().unwrap_or("-"),
            data["short_description"].as_str().unwrap_or(""),
            changes
        );
        // Ack only after the change is handled: unacked messages are redelivered.
        message
            .ack()
            .await
            .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        seen += 1;
        if args.max > 0 && seen >= args.max {
            break;
        }
    }
    Ok(())
}
