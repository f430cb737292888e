//! Hostile and careless input through the real router and a real NATS server: routes a token
//! does not authorize, names too long for a subject, ids that must not collide, change times far
//! in the future, and the poller seeing the same change as a webhook.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use gtt_test_support::*;

fn reason(msg: &async_nats::jetstream::message::StreamMessage) -> Option<&str> {
    msg.headers.get("Gtt-Deadletter-Reason").map(|v| v.as_str())
}

/// `YYYY-MM-DD HH:MM:SS` (GTT's form, read as UTC) of now plus `offset_secs`.
fn gtt_time(offset_secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(offset_secs))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[tokio::test]
async fn a_token_publishes_only_under_its_own_route() {
    let app = TestApp::spawn().await;
    let case = |name: &str| serde_json::from_str::<Value>(&case_body(name, "Open", "x")).unwrap();
    let refused = [
        json!({"kind": "site", "name": "HQ-1", "spec": {"friendly": "HQ"}}),
        json!({"event": "case.deleted", "data": case("CS1")}),
        json!({"action": "site.updated", "data": case("CS1")}),
        json!({"type": "create", "data": case("CS1")}),
    ];
    for (i, body) in refused.iter().enumerate() {
        let (status, answer) = json(app.post("update", body.to_string()).await).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(answer["dead_lettered"], true, "{body}");
        let stored = app.stored().await;
        assert_eq!(stored.len(), i + 1);
        assert_eq!(stored[i].subject.as_str(), "gtt.deadletter.142033");
        assert_eq!(reason(&stored[i]), Some("route_mismatch"), "{body}");
    }
    // The route's own kind and action, in any of their spellings, are accepted.
    let accepted = [
        json!({"event": "case.updated", "data": case("CS2")}),
        json!({"action": "UPDATE", "data": case("CS3")}),
        json!({"type": "net.gtt.case.updated", "data": case("CS4")}),
        json!({"kind": "CASE", "name": "CS5", "spec": {"state": "Open"}}),
    ];
    for body in accepted {
        let (status, answer) = json(app.post("update", body.to_string()).await).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(answer["dead_lettered"], false, "{body}");
    }
    let subjects = app.stored_subjects().await;
    assert_eq!(
        subjects[refused.len()..],
        [
            "gtt.142033.case.updated.CS2",
            "gtt.142033.case.updated.CS3",
            "gtt.142033.case.updated.CS4",
            "gtt.142033.case.updated.CS5",
        ]
    );
}

#[tokio::test]
async fn segments_outside_the_route_alphabet_get_401_even_with_their_token() {
    let app = TestApp::spawn().await;
    let keys = app.keys();
    let body = case_body("CS1", "Open", "x");
    // `{ns}:{kind}:{action}` with a `:` inside a segment is another route's HMAC input.
    let shifted = keys.token(NS, "case:x", "update");
    assert_eq!(shifted, keys.token(NS, "case", "x:update"));
    let long_kind = "k".repeat(5000);
    let paths = [
        format!("{NS}/case/x:update/{shifted}"),
        format!("{NS}/case:x/update/{shifted}"),
        format!("{NS}/case/a%20b/{}", keys.token(NS, "case", "a b")),
        format!("{NS}/case/upd%2Eate/{}", keys.token(NS, "case", "upd.ate")),
        format!(
            "{NS}/{long_kind}/update/{}",
            keys.token(NS, &long_kind, "update")
        ),
        format!("{NS}/case/%FF/{}", keys.token(NS, "case", "update")),
    ];
    for path in &paths {
        let url = format!("http://{}/v1/hooks/gtt/{path}", app.addr);
        let resp = app.http.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{}", &path[..path.len().min(80)]);
        let problem: Value = resp.json().await.unwrap();
        assert!(problem.get("detail").is_none());
    }
    assert!(app.stored().await.is_empty());
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!(
            r#"gtt_gateway_callbacks_total{{action="unknown",kind="unknown",namespace="unknown",outcome="unauthorized"}} {}"#,
            paths.len()
        )),
        "{metrics}"
    );
    // Valid routes keep working (and keep their tokens).
    assert_eq!(app.post("update", body).await.status(), 202);
}

#[tokio::test]
async fn names_too_long_for_a_subject_are_dead_letters_and_nats_stays_connected() {
    let app = TestApp::spawn().await;
    let long_names = ["x".repeat(4100), "é".repeat(1400), "ab.".repeat(86)];
    let mut calls = Vec::new();
    for round in 0..20 {
        for name in &long_names {
            let body = json!({"kind": "case", "name": name, "spec": {"state": "Open", "r": round}});
            calls.push((true, body.to_string()));
        }
        calls.push((false, case_body(&format!("CS{round}"), "Open", "x")));
    }
    let app = &app;
    let answers = futures::future::join_all(calls.iter().map(|(long, body)| async move {
        let (status, answer) = json(app.post("update", body.clone()).await).await;
        (*long, status, answer)
    }))
    .await;
    for (long, status, answer) in &answers {
        assert_eq!(*status, 202, "{answer}");
        assert_eq!(answer["dead_lettered"], *long, "{answer}");
    }
    let stored = app.stored().await;
    assert_eq!(stored.len(), calls.len());
    let dead: Vec<_> = stored
        .iter()
        .filter(|m| m.subject.as_str() == "gtt.deadletter.142033")
        .collect();
    assert_eq!(dead.len(), 60);
    assert!(dead.iter().all(|m| reason(m) == Some("name_too_long")));
    // The longest name that fits is published, and its ticket state kept in the bucket.
    let longest = "N".repeat(256);
    let (status, answer) = json(app.post("update", case_body(&longest, "Open", "x")).await).await;
    assert_eq!((status, &answer["dead_lettered"]), (202, &json!(false)));
    let bucket = app.js.get_key_value("GTT_STATE").await.unwrap();
    let key = format!("case.{NS}.{longest}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while bucket.get(key.as_str()).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "state of the longest name kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn updates_differing_only_in_digits_beyond_f64_are_distinct_events() {
    let app = TestApp::spawn().await;
    let body =
        |n: &str| format!(r#"{{"kind":"case","name":"CS1","spec":{{"state":"Open","n":{n}}}}}"#);
    let numbers = [
        "123456789012345678901234567890",
        "123456789012345678901234567891",
        "0.1",
        "0.1000000000000000055511151231257827",
        "18446744073709551616",
        "18446744073709551617",
    ];
    let mut ids = Vec::new();
    for n in numbers {
        let (status, answer) = json(app.post("update", body(n)).await).await;
        assert_eq!(status, 202);
        assert_eq!(answer["duplicate"], false, "{n}");
        ids.push(answer["id"].as_str().unwrap().to_string());
    }
    assert_eq!(app.stored().await.len(), numbers.len());
    // The same update again, keys reordered and spaced, is the same event.
    let again = format!(
        r#"{{ "spec" : {{ "n" : {}, "state" : "Open" }}, "name" : "CS1", "kind" : "case" }}"#,
        numbers[0]
    );
    let (status, answer) = json(app.post("update", again).await).await;
    assert_eq!((status, &answer["duplicate"]), (202, &json!(true)));
    assert_eq!(answer["id"], ids[0]);
}

#[tokio::test]
async fn a_change_time_far_in_the_future_does_not_freeze_the_ticket() {
    let app = TestApp::spawn().await;
    let body = |name: &str, state: &str, updated_at: &str| {
        json!({"kind": "case", "name": name, "spec": {
            "state": state, "opened_at": "2025-03-04 10:20:30", "updated_at": updated_at}})
        .to_string()
    };
    let event = |msg: &async_nats::jetstream::message::StreamMessage| -> Value {
        serde_json::from_slice(&msg.payload).unwrap()
    };
    let received = chrono::Utc::now();
    assert_eq!(
        app.post("update", body("CS1", "Open", "9999-12-31 23:59:59"))
            .await
            .status(),
        202
    );
    let first = event(&app.stored().await[0]);
    let time: chrono::DateTime<chrono::Utc> = first["time"].as_str().unwrap().parse().unwrap();
    assert!(
        (time - received).num_seconds().abs() < 60,
        "receive time stands in: {time}"
    );
    assert_eq!(first["data"]["updated_at"], "9999-12-31T23:59:59Z");
    // It is ordered by its receive time: a change made after that is newer.
    assert_eq!(
        app.post("update", body("CS1", "Resolved", &gtt_time(2)))
            .await
            .status(),
        202
    );
    let second = event(&app.stored().await[1]);
    assert_eq!(second["gttstatechanged"], true, "{second}");

    // A far-future time already in the bucket (an older gateway stored it) does not win either.
    let bucket = app.js.get_key_value("GTT_STATE").await.unwrap();
    let held = json!({"event_id": "0", "time": "9999-12-31T23:59:59Z", "data": {"state": "open"}});
    bucket
        .put("case.142033.CS2", held.to_string().into())
        .await
        .unwrap();
    assert_eq!(
        app.post("update", body("CS2", "Closed", &gtt_time(-5)))
            .await
            .status(),
        202
    );
    let third = event(&app.stored().await[2]);
    assert_eq!(third["gttstatechanged"], true, "{third}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let record: Value =
            serde_json::from_slice(&bucket.get("case.142033.CS2").await.unwrap().unwrap()).unwrap();
        if record["data"]["state"] == "closed" {
            break;
        }
        assert!(Instant::now() < deadline, "newer state stored: {record}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the GTT stand-in was asked: (namespace, `updated_since`) of every list call.
type Listed = Arc<Mutex<Vec<(String, String)>>>;

/// A stand-in for GTT that lists the same raw cases on every call.
async fn raw_gtt(items: String) -> (String, Listed) {
    use axum::extract::{Path, Query, State};
    use axum::routing::{get, post};

    let listed: Listed = Arc::default();
    let list = get(
        |State((listed, items)): State<(Listed, Arc<String>)>,
         Path(ns): Path<String>,
         Query(query): Query<std::collections::HashMap<String, String>>| async move {
            let since = query.get("updated_since").cloned().unwrap_or_default();
            listed.lock().unwrap().push((ns, since));
            (
                [("content-type", "application/json")],
                format!(r#"{{"items":[{items}]}}"#),
            )
        },
    );
    let token = post(|| async {
        axum::Json(json!({"access_token": "t", "token_type": "Bearer", "expires_in": 300}))
    });
    let router = axum::Router::new()
        .route("/token", token)
        .route("/apis/v1alpha/namespaces/{ns}/case", list)
        .with_state((Arc::clone(&listed), Arc::new(items)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, listed)
}

/// Wait until the stand-in was asked `calls` times for namespace 142033; their `updated_since`.
async fn polls_of_ns(listed: &Listed, calls: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let since: Vec<String> = listed
            .lock()
            .unwrap()
            .iter()
            .filter(|(ns, _)| ns == NS)
            .map(|(_, since)| since.clone())
            .collect();
        if since.len() >= calls {
            return since;
        }
        assert!(Instant::now() < deadline, "the poller listed cases");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_poller_keeps_raw_numbers_and_ignores_far_future_watermarks() {
    let changed = gtt_time(-60);
    let item = |spaced: bool| {
        let (sp, nl) = if spaced { (" ", "\n  ") } else { ("", "") };
        format!(
            r#"{{{nl}"kind":{sp}"case",{nl}"name":{sp}"CS1",{nl}"spec":{sp}{{"state":"Open","n":{sp}123456789012345678901234567890,"f":0.1000000000000000055511151231257827,"opened_at":"{changed}","updated_at":"{changed}"}}}}"#
        )
    };
    let future = r#"{"kind":"case","name":"CS2","spec":{"state":"Open","opened_at":"9999-12-31 23:59:59","updated_at":"9999-12-31 23:59:59"}}"#;
    let (gtt_url, listed) = raw_gtt(format!("{},{future}", item(false))).await;
    let extra = format!(
        "[gtt]\napi_url = \"{gtt_url}\"\nauth_url = \"{gtt_url}/token\"\n\
         client_id = \"c\"\nclient_secret = \"s\"\n\
         [reconcile]\nenabled = true\ninterval = \"300ms\"\n[registrar]\nenabled = false\n"
    );
    let nats = NatsServer::start();
    let settings = test_settings(&nats.url(), &extra);
    let app = TestApp::spawn_on(nats, settings.clone()).await;
    // The same change as a webhook delivers it: another layout, the same digits.
    let (status, answer) = json(app.post("create", item(true)).await).await;
    assert_eq!(status, 202, "{answer}");
    polls_of_ns(&listed, 3).await;
    let stored = app.stored().await;
    let on = |subject: &str| {
        stored
            .iter()
            .filter(|m| m.subject.as_str() == subject)
            .collect::<Vec<_>>()
    };
    let cs1 = on("gtt.142033.case.created.CS1");
    assert_eq!(cs1.len(), 1, "webhook and poll give one id");
    assert_eq!(
        cs1[0].headers.get("Nats-Msg-Id").map(|v| v.as_str()),
        answer["id"].as_str()
    );
    assert_eq!(on("gtt.142033.case.created.CS2").len(), 1);
    // The far-future `updated_at` did not become the watermark.
    let bucket = app.js.get_key_value("GTT_STATE").await.unwrap();
    let key = format!("watermark.{NS}");
    let watermark = bucket.get(key.as_str()).await.unwrap().unwrap();
    assert!(
        watermark.as_ref() < b"9000".as_slice(),
        "{}",
        String::from_utf8_lossy(&watermark)
    );

    // A far-future watermark already stored (by an older version) is dropped, not obeyed.
    app.shutdown.cancel();
    let TestApp { nats, task, .. } = app;
    task.await.unwrap().unwrap();
    bucket
        .put(key.as_str(), "9999-12-31T23:59:59+00:00".into())
        .await
        .unwrap();
    listed.lock().unwrap().clear();
    let _app = TestApp::spawn_on(nats, settings).await;
    let since = polls_of_ns(&listed, 2).await;
    assert!(
        since.iter().all(|s| s.as_str() < "9000"),
        "updated_since: {since:?}"
    );
}

#[test]
fn config_and_callback_url_accept_only_route_segments() {
    use crate::binary::{gateway, write_config};

    let dir = tempfile::tempdir().unwrap();
    let base =
        "[callbacks]\nsecret = \"0123456789abcdef0\"\npublic_url = \"https://hooks.example.com\"\n";
    let long = "u".repeat(65);
    let cases = [
        (
            format!("namespaces = [\"1\", \"a b\"]\n{base}"),
            "namespaces[1]",
        ),
        (format!("namespaces = [\"a:b\"]\n{base}"), "namespaces[0]"),
        (
            format!(
                "{base}[[subscriptions]]\nkind = \"case\"\nversion = \"v1alpha\"\naction = \"{long}\"\n"
            ),
            "subscriptions[0].action",
        ),
        (
            format!("{base}[nats]\nsubject_prefix = \"{long}\"\n"),
            "nats.subject_prefix",
        ),
    ];
    for (text, key) in cases {
        crate::binary::assert_config_refused(dir.path(), &text, key);
    }

    let path = write_config(dir.path(), &format!("namespaces = [\"142033\"]\n{base}"));
    let config = path.to_str().unwrap();
    let callback_url = |namespace: &str, kind: &str, action: &str| {
        gateway(&[
            "--config",
            config,
            "callback-url",
            "--namespace",
            namespace,
            "--kind",
            kind,
            "--action",
            action,
        ])
        .output()
        .unwrap()
    };
    for (flag, out) in [
        ("--namespace", callback_url("a b", "case", "create")),
        ("--kind", callback_url("142033", "case:x", "create")),
        ("--action", callback_url("142033", "case", &long)),
    ] {
        assert!(!out.status.success(), "{flag}");
        assert!(out.stdout.is_empty(), "no URL printed");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{flag} not named in: {stderr}");
    }
    let out = callback_url("142033", "case", "create");
    assert!(out.status.success());
    let keys = gtt_core::token::TokenKeys::new(vec![secret("0123456789abcdef0")]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!(
            "https://hooks.example.com/v1/hooks/gtt/142033/case/create/{}",
            keys.token("142033", "case", "create")
        )
    );
}
