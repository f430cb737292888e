//! Refused callbacks leave evidence: a record per refusal in its own stream (route without the
//! token, reason, source, header names, body length and SHA-256 when read; never a token, a
//! header value or a body), read with `gtt-gateway rejections`; bounded and rate-limited, and
//! counted, without slowing any callback.

use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::binary::{operator_config, run_command};
use gtt_test_support::*;

const MARKER: &str = "BODY-MARKER-never-recorded";
const HEADER_VALUE: &str = "header-value-never-recorded";

/// `gtt-gateway --config CONFIG rejections ARGS` against the app's NATS: exit code, stdout,
/// stderr.
async fn rejections(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = operator_config(dir.path(), &app.nats.url(), "");
    run_command(&config, &[&["rejections"], args].concat()).await
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_recorded_without_tokens_values_or_bodies() {
    let app = TestApp::spawn().await;
    let good = app.hook_url(NS, "case", "create");
    let token = good.rsplit('/').next().unwrap().to_string();
    let base = format!("http://{}/v1/hooks/gtt", app.addr);
    let post = |url: String| {
        app.http
            .post(url)
            .header("x-custom-header", HEADER_VALUE)
            .body(format!("{{\"note\":\"{MARKER}\"}}"))
    };
    // A wrong token (for a configured namespace), an unknown namespace, a path no token can
    // authorize, and a body that is not what its Content-Encoding says.
    let wrong_token = format!("{base}/{NS}/case/update/{token}");
    assert_eq!(post(wrong_token).send().await.unwrap().status(), 401);
    let unknown = format!("{base}/999/case/create/{token}");
    assert_eq!(post(unknown).send().await.unwrap().status(), 401);
    let invalid = format!("{base}/{NS}/ca.se/create/{token}");
    assert_eq!(post(invalid).send().await.unwrap().status(), 401);
    let corrupt = app
        .http
        .post(&good)
        .header("content-encoding", "gzip")
        .body(format!("not gzip {MARKER}"))
        .send()
        .await
        .unwrap();
    assert_eq!(corrupt.status(), 400);
    // Stored callbacks leave no record.
    assert_eq!(
        app.post("create", case_body("CS1", "Open", "fine"))
            .await
            .status(),
        202
    );

    let recorded = r#"gtt_gateway_rejection_records_total{outcome="recorded"}"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&app.metrics().await, recorded) < 4.0 {
        assert!(Instant::now() < deadline, "{}", app.metrics().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (code, out, err) = rejections(&app, &["--json"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let records: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(records.len(), 4, "{out}");
    let by_reason = |reason: &str| {
        records
            .iter()
            .find(|r| r["reason"] == reason)
            .unwrap_or_else(|| panic!("no {reason} in {out}"))
    };
    let bad_token = by_reason("bad_token");
    assert_eq!(bad_token["namespace"], NS);
    assert_eq!(
        bad_token["route"],
        format!("/v1/hooks/gtt/{NS}/case/update")
    );
    assert_eq!(bad_token["status"], 401);
    assert!(
        bad_token["source"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    let headers = bad_token["headers"].as_array().unwrap();
    assert!(headers.contains(&"x-custom-header".into()), "{bad_token}");
    assert!(bad_token["body_bytes"].is_null(), "the body was not read");
    let unknown = by_reason("unknown_namespace");
    assert!(unknown["namespace"].is_null(), "not configured: {unknown}");
    assert_eq!(unknown["route"], "/v1/hooks/gtt/999/case/create");
    let invalid = by_reason("invalid_route");
    assert!(invalid["route"].is_null() && invalid["namespace"].is_null());
    let corrupt = by_reason("corrupt_encoding");
    let body = format!("not gzip {MARKER}");
    assert_eq!(corrupt["status"], 400);
    assert_eq!(corrupt["body_bytes"], body.len());
    assert_eq!(corrupt["body_sha256"], hex::encode(Sha256::digest(&body)));

    // The table, and the filters.
    let (code, table, _) = rejections(&app, &[]).await;
    assert_eq!(code, Some(0));
    assert!(table.starts_with("TIME"), "{table}");
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(table.contains("bad_token") && table.contains("x-custom-header"));
    let (_, mine, _) = rejections(&app, &["--namespace", NS, "--json"]).await;
    let mine: Vec<serde_json::Value> = serde_json::from_str(&mine).unwrap();
    assert_eq!(mine.len(), 2, "bad token and corrupt body");
    let (_, later, _) = rejections(&app, &["--since", "2099-01-01T00:00:00Z", "--json"]).await;
    assert_eq!(later.trim(), "[]");
    let (_, recent, _) = rejections(&app, &["--since", "10m", "--limit", "1", "--json"]).await;
    let recent: Vec<serde_json::Value> = serde_json::from_str(&recent).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0]["reason"], "corrupt_encoding", "the newest");

    // Nothing secret anywhere: not the token, not a header value, not a body.
    let stored = crate::rejections::stream_text(&app).await;
    for text in [&out, &table, &stored] {
        for secret in [token.as_str(), HEADER_VALUE, MARKER, SECRET] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }
    let (code, _, err) = rejections(&app, &["--since", "last tuesday"]).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("--since"), "{err}");
}

/// Every record in the stream, as text.
pub async fn stream_text(app: &TestApp) -> String {
    stream_messages(&app.js, "GTT_REJECTIONS")
        .await
        .iter()
        .map(|m| format!("{} {}", m.subject, String::from_utf8_lossy(&m.payload)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refusals_is_bounded_counted_and_not_slowed() {
    let app = TestApp::spawn_with("[rejections]\nper_second = 2\nmax_records = 5\n").await;
    let url = app
        .hook_url(NS, "case", "create")
        .replace("/create/", "/update/");
    let started = Instant::now();
    let answers = futures::future::join_all((0..300).map(|_| {
        let request = app.http.post(&url).body("{}");
        async move { request.send().await.unwrap().status().as_u16() }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 401));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusals answered in {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let metrics = app.metrics().await;
    let dropped = metric(
        &metrics,
        r#"gtt_gateway_rejection_records_total{outcome="dropped"}"#,
    );
    let recorded = metric(
        &metrics,
        r#"gtt_gateway_rejection_records_total{outcome="recorded"}"#,
    );
    // A burst fills the queue; the writer takes two a second; the rest is only counted.
    assert!(dropped >= 300.0 - 64.0 - 20.0, "{metrics}");
    assert!((6.0..=20.0).contains(&recorded), "{metrics}");
    // The stream keeps the newest `max_records`.
    assert_eq!(stream_messages(&app.js, "GTT_REJECTIONS").await.len(), 5);
}
