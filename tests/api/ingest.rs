//! The README's table of answers, row by row: each test checks the HTTP answer and the stream.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use gtt_test_support::*;

#[tokio::test]
async fn stored_case_is_a_normalized_cloudevent_with_documented_subject_and_headers() {
    let app = TestApp::spawn().await;
    let body = case_body("CS0074187", "Open", "Link down at Störung – 東京");
    let (status, answer) = json(app.post("create", body.clone()).await).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["subject"], "gtt.142033.case.created.CS0074187");
    assert_eq!(answer["duplicate"], false);
    assert_eq!(answer["dead_lettered"], false);

    let stored = app.stored().await;
    assert_eq!(stored.len(), 1);
    let msg = &stored[0];
    assert_eq!(msg.subject.as_str(), "gtt.142033.case.created.CS0074187");
    assert_eq!(
        msg.headers.get("Content-Type").map(|v| v.as_str()),
        Some("application/cloudevents+json")
    );
    assert_eq!(
        msg.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
        answer["id"].as_str()
    );
    let event: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["id"], answer["id"]);
    assert_eq!(event["type"], "net.gtt.case.created");
    assert_eq!(
        event["source"],
        "https://test.api.gtt.services/apis/v1alpha/namespaces/142033/case"
    );
    assert_eq!(event["subject"], "CS0074187");
    assert_eq!(event["time"], "2025-03-04T10:20:30Z");
    assert_eq!(event["gttnamespace"], NS);
    assert_eq!(event["gttorigin"], "webhook");
    let data = &event["data"];
    assert_eq!(data["state"], "open");
    assert_eq!(data["state_raw"], "Open");
    assert_eq!(data["priority"]["level"], 2);
    assert_eq!(data["priority"]["label"], "High");
    assert_eq!(data["case_type"], "incident");
    assert_eq!(data["number"], "CS0074187");
    assert_eq!(data["short_description"], "Link down at Störung – 東京");
    assert_eq!(data["opened_at"], "2025-03-04T10:20:30Z");
    // `raw` is the resource exactly as received.
    let raw = serde_json::to_string(&data["raw"]).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&raw).unwrap(),
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    );
    let text = String::from_utf8(msg.payload.to_vec()).unwrap();
    assert!(
        text.contains(&format!("\"raw\":{body}")),
        "raw must be byte-faithful"
    );
}

#[tokio::test]
async fn put_is_accepted_like_post() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .put(app.hook_url(NS, "case", "update"))
        .body(case_body("CS1", "In Progress", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let stored = app.stored().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].subject.as_str(), "gtt.142033.case.updated.CS1");
}

#[tokio::test]
async fn same_callback_twice_is_stored_once_and_reported_duplicate() {
    let app = TestApp::spawn().await;
    let body = case_body("CS2", "Resolved", "retry me");
    let (s1, first) = json(app.post("update", body.clone()).await).await;
    let (s2, second) = json(app.post("update", body).await).await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(first["duplicate"], false);
    assert_eq!(second["duplicate"], true);
    assert_eq!(first["id"], second["id"]);
    assert_eq!(app.stored().await.len(), 1);
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"outcome="duplicate"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"outcome="accepted"} 1"#), "{metrics}");
}

#[tokio::test]
async fn concurrent_copies_are_stored_once() {
    let app = TestApp::spawn().await;
    let body = case_body("CS3", "Open", "storm");
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let req = app
            .http
            .post(app.hook_url(NS, "case", "create"))
            .body(body.clone());
        tasks.push(tokio::spawn(async move {
            json(req.send().await.unwrap()).await
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        let (status, answer) = t.await.unwrap();
        assert_eq!(status, 202);
        if answer["duplicate"] == false {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "exactly one copy is new");
    assert_eq!(app.stored().await.len(), 1);
}

#[tokio::test]
async fn distinct_updates_of_one_ticket_are_distinct_events() {
    let app = TestApp::spawn().await;
    for state in [
        "Open",
        "In Progress",
        "Pending Customer",
        "Resolved",
        "Closed",
    ] {
        let (status, _) = json(app.post("update", case_body("CS4", state, "life")).await).await;
        assert_eq!(status, 202);
    }
    let states: Vec<String> = app
        .stored()
        .await
        .iter()
        .map(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            v["data"]["state"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        states,
        [
            "open",
            "in_progress",
            "pending_customer",
            "resolved",
            "closed"
        ]
    );
}

#[tokio::test]
async fn wrapped_body_and_other_kinds() {
    let app = TestApp::spawn().await;
    let wrapped = format!(
        r#"{{"event":"case.updated","data":{}}}"#,
        case_body("CS5", "Open", "w")
    );
    let (status, answer) = json(app.post("update", wrapped).await).await;
    assert_eq!(status, 202);
    assert_eq!(answer["subject"], "gtt.142033.case.updated.CS5");

    let site = r#"{"kind":"site","version":"v1alpha","name":"hq.1","spec":{"friendly":"HQ"}}"#;
    let resp = app
        .http
        .post(app.hook_url(NS, "site", "create"))
        .body(site)
        .send()
        .await
        .unwrap();
    let (status, answer) = json(resp).await;
    assert_eq!(status, 202);
    assert_eq!(answer["subject"], "gtt.142033.site.created.hq%2E1");
    let stored = app.stored().await;
    let event: serde_json::Value = serde_json::from_slice(&stored[1].payload).unwrap();
    assert_eq!(event["data"]["name"], "hq.1");
    assert_eq!(event["data"]["raw"]["spec"]["friendly"], "HQ");
}

#[tokio::test]
async fn authenticated_garbage_is_dead_lettered_with_raw_body_and_reason() {
    let app = TestApp::spawn().await;
    let cases: [(&str, &str); 3] = [
        ("this is not json", "not_json"),
        (r#"{"kind":"case","name":"CS6"}"#, "missing_spec"),
        (
            r#"{"kind":"case","namespace":"999","name":"CS6","spec":{}}"#,
            "namespace_mismatch",
        ),
    ];
    for (i, (body, reason)) in cases.iter().enumerate() {
        let (status, answer) = json(app.post("create", *body).await).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(answer["dead_lettered"], true);
        assert_eq!(answer["subject"], "gtt.deadletter.142033");
        let stored = app.stored().await;
        assert_eq!(stored.len(), i + 1);
        let msg = &stored[i];
        assert_eq!(msg.subject.as_str(), "gtt.deadletter.142033");
        assert_eq!(&msg.payload[..], body.as_bytes());
        assert_eq!(
            msg.headers.get("Gtt-Deadletter-Reason").map(|v| v.as_str()),
            Some(*reason)
        );
        assert_eq!(
            msg.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
            answer["id"].as_str()
        );
    }
    // The same garbage again is a duplicate dead letter, not a second one.
    let (status, answer) = json(app.post("create", "this is not json").await).await;
    assert_eq!(status, 202);
    assert_eq!(answer["duplicate"], true);
    assert_eq!(app.stored().await.len(), 3);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"outcome="dead_lettered"} 3"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"outcome="duplicate"} 1"#), "{metrics}");
}

#[tokio::test]
async fn unauthenticated_callbacks_get_401_and_publish_nothing() {
    let app = TestApp::spawn().await;
    let body = case_body("CS7", "Open", "intruder");
    let good = app.keys().token(NS, "case", "create");
    let other_secret =
        gtt_core::token::TokenKeys::new(vec![secret("some-other-secret-0123456789")])
            .token(NS, "case", "create");
    let urls = [
        // wrong token, right shape
        format!(
            "http://{}/v1/hooks/gtt/{NS}/case/create/{other_secret}",
            app.addr
        ),
        // token for another action
        format!("http://{}/v1/hooks/gtt/{NS}/case/update/{good}", app.addr),
        // unknown namespace (with a token valid for it)
        app.hook_url("999", "case", "create"),
        // malformed tokens
        format!(
            "http://{}/v1/hooks/gtt/{NS}/case/create/{}",
            app.addr,
            &good[..63]
        ),
        format!(
            "http://{}/v1/hooks/gtt/{NS}/case/create/not-a-token",
            app.addr
        ),
    ];
    for url in urls {
        let resp = app.http.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{url}");
        assert_eq!(
            resp.headers().get("content-type").unwrap(),
            "application/problem+json"
        );
        let problem: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(problem["status"], 401);
        assert!(problem.get("detail").is_none(), "no hint about what failed");
    }
    assert!(app.stored().await.is_empty());
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"gtt_gateway_callbacks_total{action="unknown",kind="unknown",namespace="142033",outcome="unauthorized"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"namespace="unknown",outcome="unauthorized"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn body_over_limit_gets_413_and_publishes_nothing() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.server.max_body_bytes = 2048;
    let app = TestApp::spawn_on(nats, settings).await;
    let big = case_body("CS8", "Open", &"x".repeat(4096));
    let resp = app.post("create", big.clone()).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    // Without Content-Length (chunked), the limit holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.as_bytes().chunks(512).map(|c| Ok(c.to_vec())).collect();
    let resp = raw_chunked_post(&app, &app.hook_url(NS, "case", "create"), chunks).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(app.stored().await.is_empty());
    // A body under the limit still works.
    assert_eq!(
        app.post("create", case_body("CS8", "Open", "small"))
            .await
            .status(),
        202
    );
}

/// A callback of `ns` that holds its in-flight slot: its head and the first bytes of its body
/// are sent now; [`finish_slow`] sends the rest and reads the answer.
async fn slow_callback(app: &TestApp, ns: &str, number: &str) -> (tokio::net::TcpStream, String) {
    let body = case_body(number, "Open", "slow").replace(NS, ns);
    let path = app
        .hook_url(ns, "case", "create")
        .replace(&format!("http://{}", app.addr), "");
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body.as_bytes()[..10]).await.unwrap();
    (slow, body)
}

/// The first line of the answer to a [`slow_callback`], once the rest of its body is sent.
async fn finish_slow((mut slow, body): (tokio::net::TcpStream, String)) -> String {
    slow.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = slow.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    answer.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn too_many_in_flight_gets_429_with_retry_after() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.server.max_in_flight = 1;
    let app = TestApp::spawn_on(nats, settings).await;
    // Hold the only permit: send headers and half of the body, then wait.
    let held = slow_callback(&app, NS, "CS9").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let resp = app.post("create", case_body("CS10", "Open", "fast")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");

    assert_eq!(finish_slow(held).await, "HTTP/1.1 202 Accepted");
    let stored = app.stored().await;
    assert_eq!(stored.len(), 1, "only the held request was stored");
    assert!(app.metrics().await.contains(r#"outcome="overloaded"} 1"#));
}

#[tokio::test]
async fn one_namespace_cannot_take_every_in_flight_slot() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.server.max_in_flight = 4;
    settings.server.max_in_flight_per_namespace = Some(2);
    let app = TestApp::spawn_on(nats, settings).await;
    // One namespace's sender is stuck (slow bodies) and keeps opening callbacks.
    let mut held = Vec::new();
    for i in 0..2 {
        held.push(slow_callback(&app, NS, &format!("CS2{i}")).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut refused = 0;
    for i in 0..3 {
        let resp = app
            .post("create", case_body(&format!("CS3{i}"), "Open", "more"))
            .await;
        assert_eq!(resp.status(), 429, "its namespace is at its bound");
        assert_eq!(resp.headers()["retry-after"], "1");
        refused += 1;
    }
    // The other namespace still gets its callbacks stored, while the first is saturated.
    let other = app
        .http
        .post(app.hook_url("7", "case", "create"))
        .body(case_body("CS77", "Open", "other tenant").replace(NS, "7"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 202);
    for slow in held {
        assert_eq!(finish_slow(slow).await, "HTTP/1.1 202 Accepted");
    }
    // And the first namespace gets its slots back.
    assert_eq!(
        app.post("create", case_body("CS40", "Open", "again"))
            .await
            .status(),
        202
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(&format!(
            r#"gtt_gateway_callbacks_total{{action="create",kind="case",namespace="{NS}",outcome="overloaded"}} {refused}"#
        )),
        "{metrics}"
    );
    assert_eq!(app.stored().await.len(), 4);
}

#[tokio::test]
async fn traceparent_is_carried_into_the_message() {
    let app = TestApp::spawn().await;
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let resp = app
        .http
        .post(app.hook_url(NS, "case", "create"))
        .header("traceparent", tp)
        .body(case_body("CS11", "Open", "traced"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let stored = app.stored().await;
    assert_eq!(
        stored[0].headers.get("traceparent").map(|v| v.as_str()),
        Some(tp)
    );
}

#[tokio::test]
async fn health_ready_and_metrics_endpoints() {
    let app = TestApp::spawn().await;
    let health = app
        .http
        .get(format!("http://{}/healthz", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(app.readyz().await, 200);
    let metrics = app.metrics().await;
    for name in [
        "gtt_gateway_nats_connected 1",
        "gtt_gateway_stream_ready 1",
        "gtt_gateway_build_info{version=",
        "gtt_gateway_callbacks_in_flight 0",
    ] {
        assert!(metrics.contains(name), "missing {name}:\n{metrics}");
    }
}

#[tokio::test]
async fn graceful_shutdown_marks_not_ready_and_stops() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.post("create", case_body("CS12", "Open", "x"))
            .await
            .status(),
        202
    );
    app.shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), app.task).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "clean stop");
    assert!(
        app.http
            .get(format!("http://{}/healthz", app.addr))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn unmanaged_stream_must_exist() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.nats.manage_stream = false;
    let app = gtt_gateway::app::Application::build(settings.clone())
        .await
        .unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        app.run_until_stopped(tokio_util::sync::CancellationToken::new()),
    )
    .await
    .expect("fails fast");
    let message = format!("{:#}", result.unwrap_err());
    assert!(message.contains("GTT_EVENTS"), "{message}");
    assert!(message.contains("manage_stream"), "{message}");

    // With the stream created by someone else, the gateway uses it and does not change it.
    create_event_stream(&nats.url()).await;
    let app = TestApp::spawn_on(nats, settings).await;
    assert_eq!(
        app.post("create", case_body("CS13", "Open", "x"))
            .await
            .status(),
        202
    );
}

/// POST with a chunked body, speaking HTTP/1.1 by hand; returns the raw answer head.
async fn raw_chunked_post(
    app: &TestApp,
    url: &str,
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> String {
    let path = url.replace(&format!("http://{}", app.addr), "");
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks.into_iter().flatten() {
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        if conn.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = vec![0u8; 2048];
    let n = conn.read(&mut answer).await.unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).to_string()
}

#[tokio::test]
async fn ticket_state_bucket_holds_the_latest_state_of_each_case() {
    let app = TestApp::spawn().await;
    for state in ["Open", "In Progress"] {
        assert_eq!(
            app.post("update", case_body("CS.14", state, "x"))
                .await
                .status(),
            202
        );
    }
    let bucket = app.js.get_key_value("GTT_STATE").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(bytes) = bucket.get("case.142033.CS=2E14").await.unwrap() {
            let record: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            if record["data"]["state"] == "in_progress" {
                assert_eq!(record["data"]["number"], "CS.14");
                assert_eq!(record["event_id"].as_str().unwrap().len(), 64);
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "state not in the bucket"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
