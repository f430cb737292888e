//! `gtt-gateway deadletter replay` (the real binary): after a mapping fix, dead letters and
//! events stored with `unknown` values become correct events (`gttorigin = replay`), under ids
//! that never reuse a stored event's; dry runs store nothing; a second replay stores nothing
//! more, even after JetStream's duplicate window.

use std::time::Duration;

use async_nats::HeaderMap;
use serde_json::Value;

use crate::deadletter_cli::{cli_with, post_dead, wait_for_letters};
use crate::mapping::labelled_case;
use gtt_test_support::*;

const ESCALATED_IS_PENDING: &str = "[mapping.state]\nEscalated = \"pending_customer\"\n";
const ESCALATED_IS_IN_PROGRESS: &str = "[mapping.state]\nEscalated = \"in_progress\"\n";

/// Store `body` as a dead letter the way an older normalizer would have (a body today's
/// normalizer takes): on the dead-letter subject with the gateway's headers and id.
async fn inject_dead_letter(app: &TestApp, action: &str, body: &str, reason: &str) -> String {
    let id = gtt_core::event::id::dead_letter_id(NS, "case", action, body.as_bytes());
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", id.as_str());
    headers.insert("Gtt-Deadletter-Reason", reason);
    headers.insert("Gtt-Kind", "case");
    headers.insert("Gtt-Action", action);
    headers.insert("Content-Type", "application/json");
    app.js
        .publish_with_headers(
            format!("gtt.deadletter.{NS}"),
            headers,
            body.to_string().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    id
}

/// Run `deadletter replay` with `args` and `mapping`; its JSON answer.
fn replay(dir: &std::path::Path, app: &TestApp, mapping: &str, args: &[&str]) -> Value {
    let mut all = vec!["deadletter", "replay", "--json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = cli_with(dir, &app.nats.url(), mapping, &all);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The replay's item for the source id `id`.
fn item<'a>(answer: &'a Value, id: &str) -> &'a Value {
    entry(&answer["items"], "source_id", id)
}

fn events(stored: &[async_nats::jetstream::message::StreamMessage]) -> Vec<Value> {
    stored
        .iter()
        .filter(|m| !m.subject.starts_with("gtt.deadletter."))
        .map(|m| serde_json::from_slice(&m.payload).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_fix_and_a_replay_turn_dead_letters_and_unknown_events_into_correct_events() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.nats.duplicate_window = Duration::from_secs(1);
    let app = TestApp::spawn_on(nats, settings).await;

    // Stored before the fix: an event with an unmapped state, a normal one, a body that is no
    // event at all, and a dead letter an older normalizer made of a good body.
    let (status, unknown) = json(
        app.post(
            "update",
            labelled_case("CS1", "Escalated", "Incident", "2 - High"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202);
    let unknown_id = unknown["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.post("update", case_body("CS2", "Open", "x"))
            .await
            .status(),
        202
    );
    let garbage = post_dead(&app, NS, "update", b"not json").await;
    let letter_body = labelled_case("CS3", "Escalated", "Incident", "1 - Critical");
    let letter = inject_dead_letter(&app, "update", &letter_body, "missing_spec").await;
    wait_for_letters(&app, 2).await;
    let stored_before = app.stored().await.len();
    assert_eq!(events(&app.stored().await)[0]["data"]["state"], "unknown");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // A dry run says what would happen and stores nothing.
    let plan = replay(d, &app, ESCALATED_IS_PENDING, &["--unknown", "--dry-run"]);
    assert_eq!(plan["dry_run"], true);
    assert_eq!(item(&plan, &garbage)["result"], "still_dead");
    assert_eq!(item(&plan, &garbage)["reason"], "not_json");
    assert_eq!(item(&plan, &letter)["result"], "would_store");
    assert_eq!(item(&plan, &unknown_id)["result"], "would_store");
    assert_eq!(item(&plan, &unknown_id)["source"], "event");
    assert_eq!(plan["items"].as_array().unwrap().len(), 3, "{plan:#}");
    assert_eq!(app.stored().await.len(), stored_before);

    // Without --unknown only the dead letters are replayed.
    let plan = replay(d, &app, ESCALATED_IS_PENDING, &["--dry-run"]);
    assert_eq!(plan["items"].as_array().unwrap().len(), 2, "{plan:#}");

    // The replay: the letter and the unknown event become correct events.
    let done = replay(d, &app, ESCALATED_IS_PENDING, &["--unknown"]);
    assert_eq!(done["summary"]["dead_letter"]["stored"], 1, "{done:#}");
    assert_eq!(done["summary"]["dead_letter"]["still_dead"], 1, "{done:#}");
    assert_eq!(done["summary"]["event"]["stored"], 1, "{done:#}");
    let from_letter = item(&done, &letter);
    assert_eq!(from_letter["result"], "stored");
    assert_eq!(from_letter["subject"], "gtt.142033.case.updated.CS3");
    let renormalized = item(&done, &unknown_id);
    assert_eq!(renormalized["result"], "stored");
    assert_eq!(renormalized["subject"], "gtt.142033.case.updated.CS1");
    let new_id = renormalized["event_id"].as_str().unwrap().to_string();
    assert_ne!(
        new_id, unknown_id,
        "a re-normalized event never reuses the stored id"
    );

    let stored = app.stored().await;
    assert_eq!(stored.len(), stored_before + 2);
    let all = events(&stored);
    let replayed: Vec<&Value> = all.iter().filter(|e| e["gttorigin"] == "replay").collect();
    assert_eq!(replayed.len(), 2);
    let schema = crate::contract::event_validator();
    for event in &replayed {
        assert!(schema.is_valid(event), "{event:#}");
    }
    let cs3 = replayed.iter().find(|e| e["subject"] == "CS3").unwrap();
    assert_eq!(cs3["data"]["state"], "pending_customer");
    assert_eq!(cs3["data"]["state_raw"], "Escalated");
    assert_eq!(cs3["data"]["priority"]["level"], 1);
    // A letter becomes the event its content makes: the id a delivery of it would get today.
    assert_eq!(cs3["id"], from_letter["event_id"]);
    let answer = app.post("update", letter_body.clone()).await;
    assert_eq!(json(answer).await.1["id"], cs3["id"]);
    let cs1 = replayed.iter().find(|e| e["subject"] == "CS1").unwrap();
    assert_eq!(cs1["id"], new_id.as_str());
    assert_eq!(cs1["data"]["state"], "pending_customer");
    assert_eq!(
        cs1["data"]["changes"],
        serde_json::json!([{"field": "state", "old": "unknown", "new": "pending_customer"}])
    );
    assert_eq!(cs1["gttstatechanged"], true);
    // The ticket's known state is the corrected one.
    let kv = app.js.get_key_value("GTT_STATE").await.unwrap();
    let record: Value =
        serde_json::from_slice(&kv.get("case.142033.CS1").await.unwrap().unwrap()).unwrap();
    assert_eq!(record["data"]["state"], "pending_customer");

    // A second replay with the same mapping, after the duplicate window: nothing more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stored_after = app.stored().await.len();
    let again = replay(d, &app, ESCALATED_IS_PENDING, &["--unknown"]);
    assert_eq!(item(&again, &letter)["result"], "replayed_before");
    assert_eq!(item(&again, &unknown_id)["result"], "replayed_before");
    assert_eq!(item(&again, &unknown_id)["event_id"], new_id.as_str());
    assert_eq!(item(&again, &garbage)["result"], "still_dead");
    assert_eq!(
        app.stored().await.len(),
        stored_after,
        "a second replay stores nothing"
    );

    // Without the mapping, the unknown event is reported as still unmapped, and nothing moves.
    let unmapped = replay(d, &app, "", &["--unknown"]);
    let still = item(&unmapped, &unknown_id);
    assert_eq!(still["result"], "still_unmapped");
    assert_eq!(
        still["unmapped"],
        serde_json::json!([{"field": "state", "label": "Escalated"}])
    );
    assert_eq!(app.stored().await.len(), stored_after);

    // Another mapping: another outcome, another id, stored once.
    let remapped = replay(d, &app, ESCALATED_IS_IN_PROGRESS, &["--unknown"]);
    let corrected = item(&remapped, &unknown_id);
    assert_eq!(corrected["result"], "stored");
    assert_ne!(corrected["event_id"], new_id.as_str());
    assert_ne!(corrected["event_id"], unknown_id.as_str());
    assert_eq!(app.stored().await.len(), stored_after + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_filters_print_a_table_and_refuse_to_run_without_the_bucket() {
    let app = TestApp::spawn().await;
    let body_ns = labelled_case("CS1", "Open", "Incident", "2 - High");
    let letter = inject_dead_letter(&app, "create", &body_ns, "missing_spec").await;
    let other = post_dead(&app, "7", "update", b"still not json").await;
    wait_for_letters(&app, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let only_7 = replay(d, &app, "", &["--namespace", "7"]);
    assert_eq!(only_7["items"].as_array().unwrap().len(), 1);
    assert_eq!(item(&only_7, &other)["result"], "still_dead");
    let by_reason = replay(d, &app, "", &["--reason", "missing_spec", "--dry-run"]);
    assert_eq!(by_reason["items"].as_array().unwrap().len(), 1);
    assert_eq!(item(&by_reason, &letter)["result"], "would_store");
    let none = replay(d, &app, "", &["--until", "1h"]);
    assert!(none["items"].as_array().unwrap().is_empty());

    let (code, table, stderr) = cli_with(d, &app.nats.url(), "", &["deadletter", "replay"]);
    assert_eq!(code, 0, "{stderr}");
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.contains(&id[..12]))
            .unwrap_or_else(|| panic!("{table}"))
            .to_string()
    };
    assert!(
        row(&letter).contains("stored") && row(&letter).contains("gtt.142033.case.created.CS1")
    );
    assert!(row(&other).contains("still dead") && row(&other).contains("not_json"));
    assert!(
        table.contains("dead letters: 1 still dead, 1 stored"),
        "{table}"
    );

    // Without the streams and the bucket: a message naming what to create, non-zero exit.
    let bare = NatsServer::start();
    let (code, _, stderr) = cli_with(d, &bare.url(), "", &["deadletter", "replay"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("GTT_EVENTS") && stderr.contains("nats.manage_stream"),
        "{stderr}"
    );
    let js = create_event_stream(&bare.url()).await;
    let (code, _, stderr) = cli_with(d, &bare.url(), "", &["deadletter", "replay"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("nats.state_bucket"), "{stderr}");
    assert!(
        js.get_stream("KV_GTT_STATE").await.is_err(),
        "the command creates nothing"
    );
    assert!(
        js.get_stream("GTT_DEADLETTERS").await.is_err(),
        "the command creates nothing"
    );
}
