//! `gtt-gateway subscriptions list|sync|prune`: the webhooks at GTT, as the registrar sees them.

use std::process::ExitCode;

use clap::Subcommand;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::registrar::{Change, Registrar, redact_url};

#[derive(Subcommand)]
pub(super) enum Action {
    /// List the webhooks GTT has in the configured namespaces (tokens redacted).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create missing webhooks and fix wrong ones.
    Sync {
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Like sync, and also delete our own webhooks that are no longer configured.
    Prune {
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
}

pub(super) fn run(settings: &Settings, action: Action) -> ExitCode {
    if let Err(code) = super::require(&settings.registrar_missing(), "to manage subscriptions") {
        return code;
    }
    let metrics = Metrics::new();
    let client = crate::gtt::GttClient::from_settings(settings, &metrics);
    let Some(registrar) = Registrar::new(settings, client, metrics) else {
        return ExitCode::from(super::EXIT_CONFIG);
    };
    super::block_on(async {
        let result = match action {
            Action::List { json } => registrar.list().await.map(|rows| print_list(&rows, json)),
            Action::Sync { dry_run } => registrar
                .sync_once(false, dry_run)
                .await
                .map(|c| print_changes(&c, dry_run)),
            Action::Prune { dry_run } => registrar
                .sync_once(true, dry_run)
                .await
                .map(|c| print_changes(&c, dry_run)),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gtt-gateway: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn print_list(rows: &[crate::registrar::Listed], json: bool) {
    if json {
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|row| {
                serde_json::json!({
                    "namespace": row.namespace,
                    "name": row.webhook.name,
                    "ours": row.ours,
                    "correct": row.correct,
                    "kind": row.webhook.spec.kind,
                    "version": row.webhook.spec.version,
                    "action": row.webhook.spec.action,
                    "url": redact_url(&row.webhook.spec.url),
                })
            })
            .collect();
        return super::output::json(&rows);
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let w = &row.webhook;
            let ours = match (row.ours, row.correct) {
                (true, true) => "yes",
                (true, false) => "WRONG",
                (false, _) => "no",
            };
            vec![
                row.namespace.clone(),
                w.name.clone(),
                ours.into(),
                w.spec.kind.clone(),
                w.spec.version.clone(),
                w.spec.action.clone(),
                redact_url(&w.spec.url),
            ]
        })
        .collect();
    super::output::table(
        &[
            "NAMESPACE",
            "NAME",
            "OURS",
            "KIND",
            "VERSION",
            "ACTION",
            "URL",
        ],
        &rows,
    );
}

fn print_changes(changes: &[Change], dry_run: bool) {
    let suffix = if dry_run { " (dry run)" } else { "" };
    for change in changes {
        println!(
            "{:<12} {:<40} {}{suffix}",
            change.namespace(),
            change.name(),
            change.verb()
        );
    }
}
