//! `gtt-gateway tickets show NAME [--namespace N] [--json]`: a ticket's current state (its
//! record in the bucket) and its history (its events in the stream: time, origin, action,
//! state, changed fields), in every configured namespace unless one is named.

use std::process::ExitCode;

use clap::Subcommand;
use gtt_core::changes::CaseRecord;
use gtt_core::subjects::resource_filter;
use serde_json::{Value, json};

use crate::config::Settings;

/// Most events of one ticket read.
const MAX_EVENTS: usize = 10_000;

#[derive(Subcommand)]
pub(super) enum Action {
    /// Show a ticket: its current state from the bucket and its events from the stream.
    Show {
        /// The ticket's name (its number), e.g. CS0074187.
        name: String,
        /// Look in this namespace only (default: every configured one).
        #[arg(long, value_parser = super::callback_url::route_segment)]
        namespace: Option<String>,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
}

/// What is known of a ticket in one namespace.
struct Ticket {
    namespace: String,
    record: Option<CaseRecord>,
    /// Its events, oldest first.
    events: Vec<Value>,
}

pub(super) fn run(settings: &Settings, action: Action) -> ExitCode {
    let Action::Show {
        name,
        namespace,
        json,
    } = action;
    let namespaces: Vec<String> = match namespace {
        Some(namespace) => vec![namespace],
        None => settings
            .namespaces
            .iter()
            .map(|n| n.name().into())
            .collect(),
    };
    if namespaces.is_empty() {
        return super::usage_error("--namespace: required, as no namespaces are configured");
    }
    super::block_on(async {
        let found = match look_up(settings, &namespaces, &name).await {
            Ok(found) => found,
            Err(e) => {
                eprintln!("gtt-gateway: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        if found.is_empty() {
            eprintln!(
                "gtt-gateway: no ticket {name:?} in namespace {} (neither in bucket {} nor in stream {})",
                namespaces.join(", "),
                settings.nats.state_bucket,
                settings.nats.stream
            );
            return ExitCode::FAILURE;
        }
        if json {
            super::output::json(&found.iter().map(|t| as_json(&name, t)).collect::<Vec<_>>());
        } else {
            for ticket in &found {
                print_ticket(&name, ticket);
            }
        }
        ExitCode::SUCCESS
    })
}

/// The ticket in each of `namespaces` where anything is known of it.
async fn look_up(
    settings: &Settings,
    namespaces: &[String],
    name: &str,
) -> anyhow::Result<Vec<Ticket>> {
    let js = super::jetstream(settings).await?;
    let nats = &settings.nats;
    let mut found = Vec::new();
    for namespace in namespaces {
        let record = crate::nats::read_record(&js, &nats.state_bucket, namespace, name).await?;
        let events = match resource_filter(&nats.subject_prefix, namespace, "case", name) {
            Some(filter) => crate::nats::read(&js, &nats.stream, &filter, MAX_EVENTS)
                .await?
                .iter()
                .filter_map(|message| serde_json::from_slice(&message.payload).ok())
                .collect(),
            None => Vec::new(),
        };
        if record.is_some() || !events.is_empty() {
            found.push(Ticket {
                namespace: namespace.clone(),
                record,
                events,
            });
        }
    }
    Ok(found)
}

/// One row of a ticket's history.
fn history_row(event: &Value) -> [String; 5] {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let action = event["type"]
        .as_str()
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("-");
    let changed = match event["data"]["changes"].as_array() {
        Some(changes) => changes
            .iter()
            .filter_map(|c| c["field"].as_str())
            .collect::<Vec<_>>()
            .join(", "),
        None => "-".into(),
    };
    [
        text(&event["time"]),
        text(&event["gttorigin"]),
        action.to_string(),
        text(&event["data"]["state"]),
        changed,
    ]
}

fn print_ticket(name: &str, ticket: &Ticket) {
    println!("Ticket {name} in namespace {}", ticket.namespace);
    match &ticket.record {
        Some(record) => {
            let time = record.time.map_or("-".into(), |t| t.to_rfc3339());
            println!("Current state (as of {time}, event {}):", record.event_id);
            let rows: Vec<Vec<String>> = record
                .data
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, value)| !value.is_null())
                .map(|(field, value)| {
                    let value = value
                        .as_str()
                        .map_or_else(|| value.to_string(), String::from);
                    vec![format!("  {field}"), value]
                })
                .collect();
            super::output::table(&["  FIELD", "VALUE"], &rows);
        }
        None => println!("Current state: no record in the bucket"),
    }
    println!("History ({} events):", ticket.events.len());
    let rows: Vec<Vec<String>> = ticket
        .events
        .iter()
        .map(|event| history_row(event).to_vec())
        .collect();
    super::output::table(&["TIME", "ORIGIN", "ACTION", "STATE", "CHANGED"], &rows);
    println!();
}

fn as_json(name: &str, ticket: &Ticket) -> Value {
    let history: Vec<Value> = ticket
        .events
        .iter()
        .map(|event| {
            json!({
                "id": event["id"],
                "time": event["time"],
                "origin": event["gttorigin"],
                "type": event["type"],
                "state": event["data"]["state"],
                "changes": event["data"]["changes"],
            })
        })
        .collect();
    json!({
        "namespace": ticket.namespace,
        "name": name,
        "record": ticket.record,
        "history": history,
    })
}
