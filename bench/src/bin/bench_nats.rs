//! The NATS ceiling for bench/run: JetStream publishes of the benchmark's pre-generated callback
//! bodies, with `Nats-Msg-Id`, keeping `--concurrency` publishes in flight and awaiting every
//! PubAck; no HTTP, no normalization. Prints one JSON line: acked publishes/s and ack latency.
//!
//! ```sh
//! cargo run --release -p gtt-bench --bin bench_nats -- --url nats://127.0.0.1:4222 \
//!     --bodies bench/work/.../data/bodies.ndjson --concurrency 64 --duration 20 --warmup 3
//! ```
//!
//! Like the wrk script, every pass over the file re-stamps each body's `@@REV@@@` marker
//! (`n0p00001`, ...), so every pass is new content while the exact duplicates inside a pass stay
//! duplicates. Message id: `hex(SHA-256(namespace | body))`; subject
//! `gtt.{namespace}.case.updated.{name}`, as the gateway would publish it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sha2::{Digest, Sha256};

const MARKER: &str = "@@REV@@@";

#[derive(Parser)]
struct Args {
    /// NATS server URL.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    url: String,
    /// Stream that must store the messages (`Nats-Expected-Stream`).
    #[arg(long, default_value = "GTT_EVENTS")]
    stream: String,
    /// Pre-generated bodies, one JSON per line (bench/gen_bodies.py).
    #[arg(long)]
    bodies: std::path::PathBuf,
    #[arg(long, default_value = "142033")]
    namespace: String,
    /// Publishes in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Unmeasured seconds before (their messages count in `distinct_ids`).
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// PubAck timeout, seconds.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

struct Body {
    subject: String,
    /// Text before and after the marker.
    head: String,
    tail: String,
}

struct Prepared {
    subject: String,
    id: String,
    payload: Bytes,
}

fn load(args: &Args) -> anyhow::Result<Vec<Body>> {
    let text = std::fs::read_to_string(&args.bodies)
        .with_context(|| format!("reading {}", args.bodies.display()))?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).context("a body is not JSON")?;
        let name = v["name"].as_str().context("a body has no name")?;
        let (head, tail) = line.split_once(MARKER).context("a body has no marker")?;
        out.push(Body {
            subject: format!("gtt.{}.case.updated.{name}", args.namespace),
            head: head.to_string(),
            tail: tail.to_string(),
        });
    }
    anyhow::ensure!(!out.is_empty(), "no bodies");
    Ok(out)
}

fn stamp(bodies: &[Body], namespace: &str, pass: u32) -> Vec<Prepared> {
    let tag = format!("n0p{:05}", pass % 100_000);
    bodies
        .iter()
        .map(|b| {
            let payload = format!("{}{tag}{}", b.head, b.tail);
            let mut hash = Sha256::new();
            hash.update(namespace.as_bytes());
            hash.update(b"|");
            hash.update(payload.as_bytes());
            Prepared {
                subject: b.subject.clone(),
                id: hex::encode(hash.finalize()),
                payload: Bytes::from(payload),
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bodies = load(&args)?;
    let client = async_nats::connect(args.url.as_str()).await?;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs_f64(args.timeout))
        .max_ack_inflight(65_536)
        .build(client.clone());

    let mut pass = 1;
    let mut batch = stamp(&bodies, &args.namespace, pass);
    let mut pos = 0;

    let started = Instant::now();
    let measure_from = started + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);

    let mut in_flight = FuturesUnordered::new();
    let mut latencies_us: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut ids: HashSet<String> = HashSet::new();
    let (mut acked, mut duplicates, mut errors) = (0u64, 0u64, 0u64);
    let mut measured_end = end;

    loop {
        let now = Instant::now();
        while in_flight.len() < args.concurrency && now < end {
            if pos == batch.len() {
                pass += 1;
                batch = stamp(&bodies, &args.namespace, pass);
                pos = 0;
            }
            let msg = &batch[pos];
            pos += 1;
            let js = js.clone();
            let subject = msg.subject.clone();
            let id = msg.id.clone();
            let mut headers = HeaderMap::new();
            headers.insert("Content-Type", "application/json");
            let publish = PublishMessage::build()
                .payload(msg.payload.clone())
                .headers(headers)
                .message_id(&id)
                .expected_stream(&args.stream);
            in_flight.push(async move {
                let sent = Instant::now();
                let result = match js.send_publish(subject, publish).await {
                    Ok(ack) => ack.await,
                    Err(e) => Err(e),
                };
                (sent, result, id)
            });
        }
        let Some((sent, result, id)) = in_flight.next().await else {
            measured_end = measured_end.min(Instant::now());
            break;
        };
        let done = Instant::now();
        let measured = sent >= measure_from && done <= end;
        match result {
            Ok(ack) => {
                ids.insert(id);
                if measured {
                    acked += 1;
                    duplicates += u64::from(ack.duplicate);
                    latencies_us.push(done.duration_since(sent).as_micros() as u32);
                }
            }
            Err(e) => {
                if measured {
                    errors += 1;
                }
                if errors <= 5 {
                    eprintln!("publish failed: {e}");
                }
            }
        }
    }
    client.flush().await.ok();

    let seconds = measured_end.duration_since(measure_from).as_secs_f64();
    latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * latencies_us.len() as f64).ceil() as usize;
        latencies_us[i.clamp(1, latencies_us.len()) - 1] as f64 / 1000.0
    };
    let out = serde_json::json!({
        "system": "nats",
        "concurrency": args.concurrency,
        "duration_s": seconds,
        "acked": acked,
        "acked_per_s": acked as f64 / seconds,
        "duplicates": duplicates,
        "errors": errors,
        "p50_ms": pct(50.0),
        "p90_ms": pct(90.0),
        "p99_ms": pct(99.0),
        "max_ms": latencies_us.last().map_or(0.0, |&v| v as f64 / 1000.0),
        "distinct_ids": ids.len(),
        "passes": pass,
    });
    println!("{out}");
    Ok(())
}
