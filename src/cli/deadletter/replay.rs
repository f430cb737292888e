//! `gtt-gateway deadletter replay`: runs the replay ([`crate::replay`]) and prints what became of
//! each dead letter (and, with `--unknown`, each event stored with an unmapped label): a table
//! with a count per result, or JSON.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::json;

use crate::config::Settings;
use crate::nats::Filter;
use crate::replay::{Item, Replayer};

pub(super) async fn run(
    settings: &Settings,
    filter: Filter,
    unknown: bool,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let replayer = Replayer::connect(settings, dry_run).await?;
    let letters = replayer.letters(settings).await?;
    super::note_fallback(&letters, settings);
    let mut items = Vec::new();
    let mut done = replayer
        .dead_letters(&letters, filter.clone(), &mut items)
        .await;
    if unknown && done.is_ok() {
        done = replayer.unknown_events(&filter, &mut items).await;
    }
    replayer.finish().await;
    if json {
        crate::cli::output::json(&json!({
            "dry_run": dry_run,
            "items": items,
            "summary": summary(&items),
        }));
    } else {
        print_replay(&items, dry_run);
    }
    done.map(|()| ExitCode::SUCCESS)
}

/// Items counted by source and result.
fn summary(items: &[Item]) -> BTreeMap<&'static str, BTreeMap<&'static str, usize>> {
    let mut counts = BTreeMap::<_, BTreeMap<_, usize>>::new();
    for item in items {
        *counts
            .entry(item.source)
            .or_default()
            .entry(item.result)
            .or_default() += 1;
    }
    counts
}

fn print_replay(items: &[Item], dry_run: bool) {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            let unmapped: Vec<String> = item
                .unmapped
                .iter()
                .map(|u| format!("{} {:?}", u.field, u.label))
                .collect();
            let detail = match (&item.subject, &item.reason) {
                (Some(subject), _) => subject.clone(),
                (None, Some(reason)) => reason.clone(),
                (None, None) => unmapped.join(", "),
            };
            vec![
                item.source.replace('_', " "),
                item.source_id.chars().take(12).collect(),
                item.namespace.clone(),
                item.result.replace('_', " "),
                detail,
            ]
        })
        .collect();
    crate::cli::output::table(&["SOURCE", "ID", "NAMESPACE", "RESULT", "DETAIL"], &rows);
    let suffix = if dry_run {
        " (dry run: nothing stored)"
    } else {
        ""
    };
    for (source, results) in summary(items) {
        let counts: Vec<String> = results
            .iter()
            .map(|(result, n)| format!("{n} {}", result.replace('_', " ")))
            .collect();
        println!(
            "{}: {}{suffix}",
            source.replace('_', " ") + "s",
            counts.join(", ")
        );
    }
    if items.is_empty() {
        println!("nothing to replay{suffix}");
    }
}
