//! `gtt-gateway deadletter list|show` (the real binary) against a gateway's NATS: filters by
//! namespace, reason and time, JSON, bodies shown on request, and errors that say what to fix.

use std::time::{Duration, Instant};

use crate::binary::{gateway, write_config};
use gtt_test_support::*;

/// Run the binary with a config for `nats_url`; (exit code, stdout, stderr).
pub fn cli(dir: &std::path::Path, nats_url: &str, args: &[&str]) -> (i32, String, String) {
    cli_with(dir, nats_url, "", args)
}

/// Like [`cli`], with `extra` TOML (new tables) in the config.
pub fn cli_with(
    dir: &std::path::Path,
    nats_url: &str,
    extra: &str,
    args: &[&str],
) -> (i32, String, String) {
    let config = write_config(
        dir,
        &format!(
            "namespaces = [\"{NS}\", \"7\"]\n[nats]\nurl = \"{nats_url}\"\n[callbacks]\nsecret = \"{SECRET}\"\n{extra}"
        ),
    );
    let out = gateway(&["--config", config.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The JSON a successful command printed.
pub fn cli_json(dir: &std::path::Path, nats_url: &str, args: &[&str]) -> serde_json::Value {
    let (code, stdout, stderr) = cli(dir, nats_url, args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// Wait until the dead-letter stream holds `count` letters (it copies them from the event stream).
pub async fn wait_for_letters(app: &TestApp, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held = match app.js.get_stream("GTT_DEADLETTERS").await {
            Ok(mut stream) => stream.info().await.unwrap().state.messages,
            Err(_) => 0,
        };
        if held == count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{held} dead letters, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Post `body` on `ns`'s case route `action`; the answer must be a dead letter.
pub async fn post_dead(app: &TestApp, ns: &str, action: &str, body: &[u8]) -> String {
    let answer = app
        .http
        .post(app.hook_url(ns, "case", action))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let (status, answer) = json(answer).await;
    assert_eq!(status, 202);
    assert_eq!(answer["dead_lettered"], true, "{answer}");
    answer["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_show_dead_letters_with_filters() {
    let app = TestApp::spawn().await;
    let not_json = post_dead(&app, NS, "update", b"not json").await;
    let missing_spec = post_dead(&app, NS, "create", br#"{"kind":"case","name":"CS1"}"#).await;
    let binary = post_dead(&app, "7", "update", b"\xff\xfe binary").await;
    wait_for_letters(&app, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let url = app.nats.url();
    let d = dir.path();

    let (code, table, _) = cli(d, &url, &["deadletter", "list"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for column in ["ID", "STORED", "NAMESPACE", "REASON", "ROUTE", "BYTES"] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(lines[1].starts_with(&not_json[..12]), "{table}");
    assert!(
        lines[1].contains("not_json") && lines[1].contains("case/update"),
        "{table}"
    );
    assert!(
        lines[2].contains("missing_spec") && lines[2].contains("case/create"),
        "{table}"
    );

    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["deadletter", "list", "--json"];
        all.extend_from_slice(args);
        cli_json(d, &url, &all)
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&[]),
        [not_json.as_str(), missing_spec.as_str(), binary.as_str()]
    );
    assert_eq!(ids(&["--namespace", "7"]), [binary.as_str()]);
    assert_eq!(ids(&["--reason", "missing_spec"]), [missing_spec.as_str()]);
    assert_eq!(
        ids(&["--namespace", NS, "--reason", "not_json"]),
        [not_json.as_str()]
    );
    assert_eq!(ids(&["--since", "1h"]).len(), 3);
    assert!(ids(&["--until", "1h"]).is_empty());
    assert!(ids(&["--since", "2999-01-01T00:00:00Z"]).is_empty());
    assert_eq!(ids(&["--limit", "1"]), [binary.as_str()]);
    let listed = cli_json(
        d,
        &url,
        &["deadletter", "list", "--json", "--namespace", NS],
    );
    assert_eq!(listed[0]["namespace"], NS);
    assert_eq!(listed[0]["reason"], "not_json");
    assert_eq!(listed[0]["stream"], "GTT_DEADLETTERS");
    assert_eq!(listed[0]["kind"], "case");
    assert_eq!(listed[0]["action"], "update");
    assert_eq!(listed[0]["bytes"], 8);

    // One letter, with its body: as text, or in base64 when it is not UTF-8.
    let (code, shown, _) = cli(d, &url, &["deadletter", "show", &missing_spec[..10]]);
    assert_eq!(code, 0);
    assert!(
        shown.contains(&missing_spec) && shown.contains("missing_spec"),
        "{shown}"
    );
    assert!(shown.contains(r#"{"kind":"case","name":"CS1"}"#), "{shown}");
    let shown = cli_json(d, &url, &["deadletter", "show", &not_json, "--json"]);
    assert_eq!(shown["body"], "not json");
    assert_eq!(shown["reason"], "not_json");
    let shown = cli_json(d, &url, &["deadletter", "show", &binary, "--json"]);
    assert_eq!(shown["body"], serde_json::Value::Null);
    assert_eq!(shown["body_base64"], "//4gYmluYXJ5");

    // Errors say what to fix, with a non-zero exit.
    let (code, _, err) = cli(d, &url, &["deadletter", "show", "0000000000"]);
    assert_eq!(code, 1);
    assert!(err.contains("deadletter list"), "{err}");
    let (code, _, err) = cli(d, &url, &["deadletter", "list", "--reason", "bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("not_json"), "{err}");
    let (code, _, err) = cli(d, &url, &["deadletter", "list", "--since", "yesterday"]);
    assert_eq!(code, 2);
    assert!(err.contains("RFC 3339"), "{err}");
    let closed = format!("nats://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let (code, _, err) = cli(d, &closed, &["deadletter", "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("nats.url"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_dead_letter_stream_they_are_read_from_the_event_stream() {
    let nats = NatsServer::start();
    create_event_stream(&nats.url()).await;
    let mut settings = test_settings(&nats.url(), "");
    settings.nats.manage_stream = false;
    let app = TestApp::spawn_on(nats, settings).await;
    let id = post_dead(&app, NS, "update", b"not json").await;
    assert_eq!(
        app.post("update", case_body("CS1", "Open", "x"))
            .await
            .status(),
        202
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = cli(
        dir.path(),
        &app.nats.url(),
        &["deadletter", "list", "--json"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("GTT_DEADLETTERS") && stderr.contains("GTT_EVENTS"),
        "{stderr}"
    );
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["stream"], "GTT_EVENTS");
}

#[test]
fn every_deadletter_command_has_help() {
    for command in [
        &["deadletter", "--help"][..],
        &["deadletter", "list", "--help"],
        &["deadletter", "show", "--help"],
    ] {
        let out = gateway(command).output().unwrap();
        assert!(out.status.success(), "{command:?}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Usage: gtt-gateway deadletter"), "{help}");
    }
}
