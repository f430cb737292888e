//! The dead-letter stream: it sources the dead letters from the event stream and keeps them for
//! its own retention (longer than events); it is created when managed, left alone when not.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

use gtt_test_support::*;

async fn info(js: &jetstream::Context, name: &str) -> stream::Info {
    js.get_stream(name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone()
}

async fn wait_for_messages(js: &jetstream::Context, name: &str, count: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let held = info(js, name).await.state.messages;
        if held == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} holds {held} messages, not {count}: {:?}",
            info(js, name).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn dead_letters_are_kept_longer_than_events_in_their_own_stream() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.nats.max_age = Duration::from_secs(2);
    settings.nats.duplicate_window = Duration::from_secs(1);
    settings.nats.deadletter_max_age = Duration::from_secs(6);
    let app = TestApp::spawn_on(nats, settings).await;

    let dl = info(&app.js, "GTT_DEADLETTERS").await;
    assert!(dl.config.subjects.is_empty(), "{:?}", dl.config.subjects);
    let sources = dl.config.sources.clone().unwrap_or_default();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].name, "GTT_EVENTS");
    assert_eq!(
        sources[0].filter_subject.as_deref(),
        Some("gtt.deadletter.>")
    );
    assert_eq!(dl.config.max_age, Duration::from_secs(6));

    let (status, answer) = json(app.post("update", "not json").await).await;
    assert_eq!(
        (status, answer["dead_lettered"].as_bool()),
        (202, Some(true))
    );
    assert_eq!(
        app.post("update", case_body("CS1", "Open", "x"))
            .await
            .status(),
        202
    );
    wait_for_messages(&app.js, "GTT_DEADLETTERS", 1, Duration::from_secs(5)).await;
    // The events (and the dead letter's first copy) are gone after nats.max_age ...
    wait_for_messages(&app.js, "GTT_EVENTS", 0, Duration::from_secs(8)).await;
    // ... the dead letter is still there, as stored, ...
    let letter = app
        .js
        .get_stream("GTT_DEADLETTERS")
        .await
        .unwrap()
        .get_raw_message(dl.state.first_sequence.max(1))
        .await
        .unwrap();
    assert_eq!(letter.subject.as_str(), "gtt.deadletter.142033");
    assert_eq!(&letter.payload[..], b"not json");
    assert_eq!(
        letter
            .headers
            .get("Gtt-Deadletter-Reason")
            .map(|v| v.as_str()),
        Some("not_json")
    );
    assert_eq!(
        letter.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
        answer["id"].as_str()
    );
    // ... until its own retention runs out.
    wait_for_messages(&app.js, "GTT_DEADLETTERS", 0, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn dead_letters_keep_thirty_days_and_a_gigabyte_by_default() {
    let app = TestApp::spawn().await;
    let dl = info(&app.js, "GTT_DEADLETTERS").await;
    assert_eq!(dl.config.max_age, Duration::from_secs(30 * 24 * 3600));
    assert_eq!(dl.config.max_bytes, 1024 * 1024 * 1024);
    assert_eq!(dl.config.num_replicas, 1);
    assert_eq!(
        info(&app.js, "GTT_EVENTS").await.config.max_age,
        Duration::from_secs(7 * 24 * 3600)
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("gtt_gateway_storage_limit_bytes{store=\"deadletters\"} 1073741824"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unmanaged_gateway_leaves_the_dead_letter_stream_alone() {
    let nats = NatsServer::start();
    let js = create_event_stream(&nats.url()).await;
    let mut settings = test_settings(&nats.url(), "");
    settings.nats.manage_stream = false;
    let app = TestApp::spawn_on(nats, settings).await;
    let (status, answer) = json(app.post("update", "not json").await).await;
    assert_eq!(
        (status, answer["dead_lettered"].as_bool()),
        (202, Some(true))
    );
    assert!(
        js.get_stream("GTT_DEADLETTERS").await.is_err(),
        "no dead-letter stream is created unmanaged"
    );
}

#[test]
fn check_config_refuses_a_dead_letter_stream_named_like_another_stream() {
    let dir = tempfile::tempdir().unwrap();
    for nats in [
        "deadletter_stream = \"GTT_EVENTS\"",
        "deadletter_stream = \"KV_GTT_STATE\"",
        "deadletter_stream = \"dead.letters\"",
        "deadletter_max_age = \"a month\"",
    ] {
        let text = format!("[callbacks]\nsecret = \"{SECRET}\"\n[nats]\n{nats}\n");
        crate::binary::assert_config_refused(dir.path(), &text, "nats.deadletter_");
    }
}
