//! `gtt-gateway status [--json]`: the gateway's state as GTT and NATS show it (see
//! [`crate::status`]), as tables, or as JSON. Exits 1 when NATS did not answer, else 0 (what GTT
//! could not tell is listed, not fatal).

use std::process::ExitCode;

use bytesize::ByteSize;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::Settings;
use crate::nats::StoreUsage;
use crate::status::{Namespace, Report, gather};

#[derive(clap::Args)]
pub(super) struct Args {
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(settings: &Settings, args: &Args) -> ExitCode {
    super::block_on(async move {
        let report = gather(settings).await;
        if args.json {
            super::output::json(&report);
        } else {
            print(&report);
        }
        if report.nats_reachable {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    })
}

fn print(report: &Report) {
    if report.namespaces.is_empty() {
        println!("no namespaces configured (namespaces)");
    } else {
        let rows: Vec<Vec<String>> = report
            .namespaces
            .iter()
            .map(|ns| namespace_row(ns, report.nats_reachable))
            .collect();
        super::output::table(
            &[
                "NAMESPACE",
                "WEBHOOKS",
                "WATERMARK",
                "LEASE",
                "LAST EVENT",
                "DEAD LETTERS",
            ],
            &rows,
        );
    }
    if !report.storage.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = report.storage.iter().map(store_row).collect();
        super::output::table(
            &[
                "STORE", "STREAM", "MESSAGES", "SIZE", "LIMIT", "USED", "MAX AGE",
            ],
            &rows,
        );
    }
    if !report.missing.is_empty() {
        println!("\nnot known:");
        for missing in &report.missing {
            println!("  {missing}");
        }
    }
}

/// A namespace's row; what NATS would tell is `?` when it did not answer (else `-` is none).
fn namespace_row(ns: &Namespace, nats_reachable: bool) -> Vec<String> {
    let none = if nats_reachable { "-" } else { "?" };
    let webhooks = ns.webhooks.as_ref().map_or("?".into(), |w| {
        let mut text = format!("{}/{} in place", w.in_place, w.wanted);
        for (n, what) in [
            (w.wrong, "wrong"),
            (w.missing, "missing"),
            (w.others, "other"),
        ] {
            if n > 0 {
                text.push_str(&format!(", {n} {what}"));
            }
        }
        text
    });
    let lease = ns.lease.as_ref().map_or(none.into(), |l| {
        let until = if l.expired { "expired" } else { "until" };
        format!("{} {until} {}", l.owner, time(l.expires_at))
    });
    let last_event = ns.last_event.as_ref().map_or(none.into(), |e| {
        format!("{} {}", time(e.stored_at), e.subject)
    });
    let dead_letters = match &ns.dead_letters {
        None => "?".into(),
        Some(by_reason) if by_reason.is_empty() => "0".into(),
        Some(by_reason) => by_reason
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    vec![
        ns.namespace.clone(),
        webhooks,
        ns.watermark.map_or(none.into(), time),
        lease,
        last_event,
        dead_letters,
    ]
}

fn store_row(store: &StoreUsage) -> Vec<String> {
    if !store.exists {
        return vec![store.store.into(), store.stream.clone(), "missing".into()];
    }
    let used = store
        .max_bytes
        .filter(|max| *max > 0)
        .map_or("-".into(), |max| {
            format!("{:.1}%", store.bytes as f64 * 100.0 / max as f64)
        });
    vec![
        store.store.into(),
        store.stream.clone(),
        store.messages.to_string(),
        ByteSize(store.bytes).to_string(),
        store
            .max_bytes
            .map_or("none".into(), |max| ByteSize(max).to_string()),
        used,
        store.max_age.map_or("forever".into(), |age| {
            humantime_serde::re::humantime::format_duration(age).to_string()
        }),
    ]
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
