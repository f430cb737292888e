//! NATS's limits: a server `max_payload` smaller than the body limit (refused at startup,
//! naming the key), events too large for it (stored without `raw`, or dead-lettered), a full
//! stream (`503` + `Retry-After`, a counted reason, a log line saying what to do, readiness),
//! replicas a single server cannot have, and storage settings left alone when unmanaged.

use std::process::Stdio;
use std::time::{Duration, Instant};

use async_nats::jetstream::stream;
use nats_harness::NatsOptions;

use crate::binary::{binary_config, gateway, metrics_on, serve_ready, stop};
use gtt_test_support::*;

const SMALL_PAYLOAD: usize = 64 * 1024;

/// A config file for the binary on `port` against `nats_url`; `nats_extra` lands in `[nats]`.
/// Run `serve` until it exits by itself (bounded); its exit code and everything it printed.
fn serve_until_exit(config: &str) -> (Option<i32>, String) {
    let mut child = gateway(&["--config", config, "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not stop on a configuration NATS cannot honour");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).to_string();
    (out.status.code(), text)
}

#[test]
fn serve_refuses_a_body_limit_the_nats_server_cannot_store() {
    let nats = NatsServer::start_with(&NatsOptions {
        max_payload: Some(SMALL_PAYLOAD),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    // The default server.max_body_bytes (about 1 MiB) cannot fit a 64 KiB max_payload.
    let config = binary_config(dir.path(), free_port(), &nats.url(), "");
    let (code, text) = serve_until_exit(&config);
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("server.max_body_bytes"),
        "key not named: {text}"
    );
    assert!(
        text.contains(&(SMALL_PAYLOAD - 4096).to_string()),
        "no usable value: {text}"
    );
}

#[test]
fn three_replicas_on_a_single_server_are_refused_naming_the_key() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = binary_config(dir.path(), free_port(), &nats.url(), "replicas = 3");
    let (code, text) = serve_until_exit(&config);
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("nats.replicas"), "key not named: {text}");
}

#[tokio::test]
async fn events_too_large_for_max_payload_lose_raw_or_become_dead_letters() {
    let nats = NatsServer::start_with(&NatsOptions {
        max_payload: Some(SMALL_PAYLOAD),
        ..Default::default()
    });
    let mut settings = test_settings(&nats.url(), "");
    settings.server.max_body_bytes = SMALL_PAYLOAD - 4096;
    let app = TestApp::spawn_on(nats, settings).await;

    // 1. Normalized (36 KB of text) plus `raw` (36 KB more) cannot fit 64 KiB: stored without raw.
    let long = "x".repeat(36_000);
    let (status, answer) = json(app.post("create", case_body("CS1", "Open", &long)).await).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["dead_lettered"], false, "{answer}");
    let stored = app.stored().await;
    let event: serde_json::Value = serde_json::from_slice(&stored[0].payload).unwrap();
    assert_eq!(event["gttrawomitted"], true);
    assert_eq!(event["data"]["raw"], serde_json::Value::Null);
    assert_eq!(
        event["data"]["short_description"].as_str().unwrap().len(),
        36_000
    );
    assert_eq!(event["data"]["number"], "CS1");
    let schema = crate::contract::event_validator();
    assert!(
        schema.is_valid(&event),
        "the flagged event fits the published schema"
    );

    // 2. A body at the limit that is not JSON fits as a dead letter.
    let garbage = vec![b'#'; SMALL_PAYLOAD - 4096];
    let (status, answer) = json(app.post("create", garbage.clone()).await).await;
    assert_eq!(
        (status, answer["dead_lettered"].as_bool()),
        (202, Some(true))
    );

    // 3. A change whose `changes` (old and new text) cannot fit even without raw: the body is
    //    kept as a `too_large` dead letter, answered 202.
    let first = "a".repeat(20_000);
    let second = "b".repeat(30_000);
    assert_eq!(
        app.post("update", case_body("CS2", "Open", &first))
            .await
            .status(),
        202
    );
    let (status, answer) = json(app.post("update", case_body("CS2", "Open", &second)).await).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["dead_lettered"], true, "{answer}");
    let stored = app.stored().await;
    let letter = stored.last().unwrap();
    assert_eq!(letter.subject.as_str(), "gtt.deadletter.142033");
    assert_eq!(
        letter
            .headers
            .get("Gtt-Deadletter-Reason")
            .unwrap()
            .as_str(),
        "too_large"
    );
    assert_eq!(letter.payload, case_body("CS2", "Open", &second).as_bytes());
    assert!(
        stored.iter().any(|m| m.payload == garbage),
        "the non-JSON body is stored whole"
    );
    // Sent again: the same dead letter, stored once (never a retryable 503).
    let (status, answer) = json(app.post("update", case_body("CS2", "Open", &second)).await).await;
    assert_eq!((status, answer["duplicate"].as_bool()), (202, Some(true)));
}

#[tokio::test]
async fn a_full_stream_refuses_with_503_counts_why_logs_what_to_do_and_turns_unready() {
    let nats = NatsServer::start();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = binary_config(
        dir.path(),
        port,
        &nats.url(),
        "max_bytes = \"64KiB\"\nunready_after = \"1s\"",
    );
    let mut child = serve_ready(&config, port, Stdio::piped()).await;
    let http = reqwest::Client::new();
    let url = format!(
        "http://127.0.0.1:{port}/v1/hooks/gtt/{NS}/case/update/{}",
        gtt_core::token::TokenKeys::new(vec![secret(SECRET)]).token(NS, "case", "update")
    );
    let post = |n: usize| {
        http.post(&url)
            .body(case_body(&format!("CS{n}"), "Open", &"y".repeat(1500)))
            .send()
    };
    let mut refused = None;
    for n in 0..200 {
        let resp = post(n).await.unwrap();
        if resp.status() != 202 {
            refused = Some(resp);
            break;
        }
    }
    let resp = refused.expect("64 KiB filled up");
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));

    let metrics = metrics_on(&http, port).await;
    assert!(
        !metrics.contains("gtt_gateway_publish_failures_total{reason=\"storage_full\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("gtt_gateway_publish_failures_total{reason=\"storage_full\"}"));
    assert!(metrics.contains("gtt_gateway_storage_limit_bytes{store=\"events\"} 65536"));

    // Still full a second later: no longer ready, and /readyz says why.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(post(1000).await.unwrap().status(), 503);
    let ready = http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["last_failure"], "storage_full", "{body}");

    stop(&mut child, "-TERM").await;
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut logs).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("storage is full"))
        .unwrap_or_else(|| panic!("no log line about the full stream in:\n{logs}"));
    assert!(line.contains("nats.max_bytes"), "{line}");
}

#[tokio::test]
async fn unmanaged_stream_and_bucket_keep_what_the_operator_set() {
    let nats = NatsServer::start();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    js.create_stream(stream::Config {
        name: "GTT_EVENTS".into(),
        subjects: vec!["gtt.>".into()],
        max_bytes: 12_345_678,
        max_age: Duration::from_secs(3600),
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut settings = test_settings(&nats.url(), "");
    settings.nats.manage_stream = false;
    let app = TestApp::spawn_on(nats, settings).await;
    assert_eq!(
        app.post("create", case_body("CS3", "Open", "x"))
            .await
            .status(),
        202
    );
    let info = js
        .get_stream("GTT_EVENTS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.max_bytes, 12_345_678);
    assert_eq!(info.config.max_age, Duration::from_secs(3600));
    assert_eq!(info.config.discard, stream::DiscardPolicy::Old);
    assert!(
        js.get_stream("KV_GTT_STATE").await.is_err(),
        "no bucket is created unmanaged"
    );
}

#[tokio::test]
async fn managed_stream_and_bucket_take_the_configured_limits() {
    let nats = NatsServer::start();
    // A stream from an earlier version: no size limit, oldest discarded first.
    let js = create_event_stream(&nats.url()).await;
    let mut settings = test_settings(&nats.url(), "");
    settings.nats.max_bytes = bytesize::ByteSize::mib(5);
    settings.nats.state_max_bytes = bytesize::ByteSize::mib(3);
    let app = TestApp::spawn_on(nats, settings).await;
    let info = js
        .get_stream("GTT_EVENTS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.max_bytes, 5 * 1024 * 1024);
    assert_eq!(info.config.discard, stream::DiscardPolicy::New);
    let bucket = js
        .get_stream("KV_GTT_STATE")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(bucket.config.max_bytes, 3 * 1024 * 1024);
    let metrics = app.metrics().await;
    assert!(metrics.contains("gtt_gateway_storage_limit_bytes{store=\"state\"} 3145728"));
    assert!(metrics.contains("gtt_gateway_storage_bytes{store=\"events\"}"));
    app.shutdown.cancel();
}

#[tokio::test]
async fn readiness_survives_a_short_failure_and_ends_after_unready_after() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.nats.unready_after = Duration::from_secs(3);
    let mut app = TestApp::spawn_on(nats, settings).await;
    let down = Instant::now();
    app.nats.stop();
    // A refused callback starts the streak; readiness holds for `unready_after`.
    assert_eq!(
        app.post("update", case_body("CS4", "Open", "x"))
            .await
            .status(),
        503
    );
    while down.elapsed() < Duration::from_secs(2) {
        assert_eq!(app.readyz().await, 200, "unready before nats.unready_after");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.readyz().await == 200 {
        assert!(
            Instant::now() < deadline,
            "still ready long after unready_after"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(down.elapsed() >= Duration::from_secs(3));
    app.nats.restart();
    app.wait_ready().await;
}
