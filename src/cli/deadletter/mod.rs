//! `gtt-gateway deadletter list|show|replay`: the stored dead letters, filtered by namespace,
//! reason and time; one of them with its body (for the operator who asks for it; bodies never
//! go to the logs); and their replay (with `--unknown`, also of the events stored with unmapped
//! labels) through today's normalizer and mappings.

use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Subcommand;
use gtt_core::event::DeadLetterReason;
use serde_json::json;

use crate::config::Settings;
use crate::nats::{Filter, Letter, Letters, Lookup};

mod replay;

#[derive(Subcommand)]
pub(super) enum Action {
    /// List the stored dead letters (newest last).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Show at most this many (the newest).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter with its headers and body.
    Show {
        /// Its id, or the start of it (as `list` prints it).
        id: String,
        /// Print JSON (the body as text, or in base64 when it is not UTF-8).
        #[arg(long)]
        json: bool,
    },
    /// Run the dead letters through today's normalizer and mappings again (gttorigin =
    /// replay); report what became an event and what is still dead, and why. A second replay
    /// stores nothing more.
    Replay {
        #[command(flatten)]
        filter: FilterArgs,
        /// Also re-normalize the case events stored with an unmapped state, case type or
        /// priority (in the namespace and time given; --reason selects dead letters only).
        #[arg(long)]
        unknown: bool,
        /// Only report what would be stored.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Which dead letters (every filter given must match).
#[derive(clap::Args)]
pub(super) struct FilterArgs {
    /// Only this namespace's.
    #[arg(long)]
    namespace: Option<String>,
    /// Only those dead-lettered for this reason.
    #[arg(long, value_parser = reasons())]
    reason: Option<String>,
    /// Only those stored at or after this time: RFC 3339, "YYYY-MM-DD HH:MM:SS" in
    /// gtt.timezone, or a duration ago (2h, 7d).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only those stored at or before this time (the same forms).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
}

impl FilterArgs {
    /// The filter, its times read in `settings`' GTT time zone; `Err` names the wrong flag.
    pub(super) fn filter(&self, settings: &Settings) -> Result<Filter, String> {
        let now = Utc::now();
        let at = |flag: &str, text: &Option<String>| {
            text.as_deref()
                .map(|text| super::time::parse(flag, text, settings.gtt.zone, now))
                .transpose()
        };
        Ok(Filter {
            namespace: self.namespace.clone(),
            reason: self.reason.clone(),
            since: at("--since", &self.since)?,
            until: at("--until", &self.until)?,
        })
    }
}

fn reasons() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(DeadLetterReason::ALL.map(DeadLetterReason::as_str))
}

pub(super) fn run(settings: &Settings, action: Action) -> ExitCode {
    let filter = match &action {
        Action::List { filter, .. } | Action::Replay { filter, .. } => {
            match filter.filter(settings) {
                Ok(filter) => filter,
                Err(message) => return super::usage_error(&message),
            }
        }
        Action::Show { .. } => Filter::default(),
    };
    super::block_on(async move {
        let result = match action {
            Action::List { limit, json, .. } => match open(settings).await {
                Ok(letters) => list(&letters, &filter, limit, json).await,
                Err(e) => Err(e),
            },
            Action::Show { id, json } => match open(settings).await {
                Ok(letters) => show(&letters, &id, json).await,
                Err(e) => Err(e),
            },
            Action::Replay {
                unknown,
                dry_run,
                json,
                ..
            } => replay::run(settings, filter, unknown, dry_run, json).await,
        };
        match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("gtt-gateway: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The dead letters where the settings keep them (read only).
async fn open(settings: &Settings) -> anyhow::Result<Letters> {
    let letters = Letters::open(super::jetstream(settings).await?, &settings.nats).await?;
    note_fallback(&letters, settings);
    Ok(letters)
}

/// Say so when the dead letters are read from the event stream.
pub(super) fn note_fallback(letters: &Letters, settings: &Settings) {
    if letters.fallback {
        eprintln!(
            "gtt-gateway: note: stream {} (nats.deadletter_stream) does not exist; reading the \
             dead letters still in {} (kept only nats.max_age)",
            settings.nats.deadletter_stream, letters.stream
        );
    }
}

async fn list(
    letters: &Letters,
    filter: &Filter,
    limit: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let found = letters.list(filter).await?;
    let shown = &found[found.len().saturating_sub(limit)..];
    if shown.len() < found.len() {
        eprintln!(
            "gtt-gateway: showing the newest {} of {} dead letters (--limit)",
            shown.len(),
            found.len()
        );
    }
    if json {
        let rows: Vec<serde_json::Value> =
            shown.iter().map(|l| describe(l, &letters.stream)).collect();
        super::output::json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|l| {
            vec![
                l.id.chars().take(12).collect(),
                time(l.stored_at),
                l.namespace.clone(),
                l.reason.clone(),
                route(l),
                l.size.to_string(),
            ]
        })
        .collect();
    super::output::table(
        &["ID", "STORED", "NAMESPACE", "REASON", "ROUTE", "BYTES"],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

async fn show(letters: &Letters, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let letter = match letters.find(id).await? {
        Lookup::Found(letter) => letter,
        Lookup::NotFound => anyhow::bail!(
            "no dead letter with id {id:?} in stream {} (`gtt-gateway deadletter list` shows them)",
            letters.stream
        ),
        Lookup::Ambiguous(n) => {
            anyhow::bail!("{n} dead letters have ids starting with {id:?}: give more of the id")
        }
    };
    let body = letter.body.clone().unwrap_or_default();
    let text = std::str::from_utf8(&body).ok();
    if json {
        let mut shown = describe(&letter, &letters.stream);
        shown["body"] = text.map_or(serde_json::Value::Null, Into::into);
        if text.is_none() {
            use base64::Engine as _;
            shown["body_base64"] = base64::engine::general_purpose::STANDARD
                .encode(&body)
                .into();
        }
        super::output::json(&shown);
        return Ok(ExitCode::SUCCESS);
    }
    let none = || "-".to_string();
    for (name, value) in [
        ("id", letter.id.clone()),
        ("stored", time(letter.stored_at)),
        ("stream", format!("{} #{}", letters.stream, letter.sequence)),
        ("namespace", letter.namespace.clone()),
        ("reason", letter.reason.clone()),
        ("route", route(&letter)),
        (
            "content-type",
            letter.content_type.clone().unwrap_or_else(none),
        ),
        (
            "traceparent",
            letter.traceparent.clone().unwrap_or_else(none),
        ),
        ("bytes", letter.size.to_string()),
    ] {
        println!("{name:<13} {value}");
    }
    match text {
        Some(text) => println!("\n{text}"),
        None => println!("\n(not UTF-8 text; `--json` shows the body in base64)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A dead letter's fields as JSON (without its body).
fn describe(letter: &Letter, stream: &str) -> serde_json::Value {
    json!({
        "id": letter.id,
        "stream": stream,
        "sequence": letter.sequence,
        "stored_at": time(letter.stored_at),
        "namespace": letter.namespace,
        "reason": letter.reason,
        "kind": letter.kind,
        "action": letter.action,
        "content_type": letter.content_type,
        "traceparent": letter.traceparent,
        "bytes": letter.size,
    })
}

fn route(letter: &Letter) -> String {
    format!(
        "{}/{}",
        letter.kind.as_deref().unwrap_or("?"),
        letter.action.as_deref().unwrap_or("?")
    )
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}
