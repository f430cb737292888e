//! Hostile and careless input through the real router and a real NATS server: routes a token
//! does not authorize, and names too long for a subject.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

fn reason(msg: &async_nats::jetstream::message::StreamMessage) -> Option<&str> {
    msg.headers.get("Gtt-Deadletter-Reason").map(|v| v.as_str())
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
        let path = write_config(dir.path(), &text);
        let out = gateway(&["--config", path.to_str().unwrap(), "check-config"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{key} not named in: {stderr}");
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
    let keys = gtt_gateway::webhook::token::TokenKeys::new(vec![secret("0123456789abcdef0")]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!(
            "https://hooks.example.com/v1/hooks/gtt/142033/case/create/{}",
            keys.token("142033", "case", "create")
        )
    );
}
