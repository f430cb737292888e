//! `gtt-gateway rejections [--since T] [--namespace N] [--limit N] [--json]`: the records of
//! refused callbacks (time, namespace, route without the token, reason, status, source, header
//! names, body length and SHA-256), newest last.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::Settings;

/// Most records read (the stream keeps `rejections.max_records`).
const MAX_READ: usize = 100_000;

#[derive(clap::Args)]
pub(super) struct Args {
    /// Only records since then: RFC 3339, "YYYY-MM-DD HH:MM:SS" in gtt.timezone, or a
    /// duration ago (e.g. 1h).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only refusals of this configured namespace.
    #[arg(long, value_parser = super::callback_url::route_segment)]
    namespace: Option<String>,
    /// Show the newest N records at most.
    #[arg(long, value_name = "N", default_value_t = 100)]
    limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(settings: &Settings, args: &Args) -> ExitCode {
    if !settings.rejections.enabled {
        eprintln!("gtt-gateway: refused callbacks are not recorded: rejections.enabled = false");
        return ExitCode::from(super::EXIT_CONFIG);
    }
    let since = match &args.since {
        Some(text) => match super::time::parse("--since", text, settings.gtt.zone, Utc::now()) {
            Ok(since) => Some(since),
            Err(message) => return super::usage_error(&message),
        },
        None => None,
    };
    super::block_on(async {
        match read(settings, args.namespace.as_deref(), since).await {
            Ok(mut records) => {
                records.drain(..records.len().saturating_sub(args.limit));
                print(&records, args.json);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gtt-gateway: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The records (of `namespace`, since `since`), oldest first.
async fn read(
    settings: &Settings,
    namespace: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<Vec<Value>> {
    let js = super::jetstream(settings).await?;
    let filter = crate::nats::rejections::filter(&settings.nats.subject_prefix, namespace);
    let messages = crate::nats::read(&js, &settings.rejections.stream, &filter, MAX_READ).await?;
    Ok(messages
        .iter()
        .filter_map(|message| serde_json::from_slice::<Value>(&message.payload).ok())
        .filter(|record| {
            let time = record["time"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok());
            since.is_none_or(|since| time.is_some_and(|time| time >= since))
        })
        .collect())
}

fn print(records: &[Value], json: bool) {
    if json {
        return super::output::json(&records);
    }
    let text = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let headers: Vec<&str> = r["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let body = match (r["body_bytes"].as_u64(), r["body_sha256"].as_str()) {
                (Some(len), Some(sha)) => format!("{len} B sha256:{}", &sha[..sha.len().min(12)]),
                _ => "-".into(),
            };
            vec![
                text(&r["time"]),
                text(&r["namespace"]),
                text(&r["source"]),
                text(&r["status"]),
                text(&r["reason"]),
                text(&r["route"]),
                body,
                headers.join(","),
            ]
        })
        .collect();
    super::output::table(
        &[
            "TIME",
            "NAMESPACE",
            "SOURCE",
            "STATUS",
            "REASON",
            "ROUTE",
            "BODY",
            "HEADERS",
        ],
        &rows,
    );
}
