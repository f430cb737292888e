//! NATS outages: 503 while NATS is down, 202 again after it returns without restarting the
//! gateway, and nothing answered 202 missing from the stream.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use gtt_test_support::*;

#[tokio::test]
async fn nats_down_gives_503_and_recovery_needs_no_restart() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.nats.unready_after = Duration::from_secs(1);
    let mut app = TestApp::spawn_on(nats, settings).await;
    assert_eq!(
        app.post("create", case_body("CS50", "Open", "before"))
            .await
            .status(),
        202
    );

    app.nats.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = app
            .post("update", case_body("CS51", "Open", "during"))
            .await;
        if resp.status() == 503 {
            assert_eq!(resp.headers()["retry-after"], "5");
            assert_eq!(resp.headers()["content-type"], "application/problem+json");
            break;
        }
        assert!(Instant::now() < deadline, "no 503 while NATS is down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Not ready once NATS has been down for `nats.unready_after`.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.readyz().await == 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(app.readyz().await, 200, "not ready while NATS is down");

    app.nats.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = app
            .post("update", case_body("CS51", "Open", "during"))
            .await;
        if resp.status() == 202 {
            break;
        }
        assert_eq!(resp.status(), 503);
        assert!(Instant::now() < deadline, "gateway did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.wait_ready().await;
    // Test's own client reconnects too; read back.
    let subjects = app.stored_subjects().await;
    assert_eq!(
        subjects,
        [
            "gtt.142033.case.created.CS50",
            "gtt.142033.case.updated.CS51"
        ]
    );
    assert!(app.metrics().await.contains(r#"outcome="unavailable"}"#));
}

#[tokio::test]
async fn nothing_answered_202_is_lost_across_an_outage() {
    let mut app = TestApp::spawn().await;
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(HashSet::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    // Four senders post distinct tickets continuously, retrying each on 503 as GTT would.
    let mut senders = Vec::new();
    for worker in 0..4 {
        let http = app.http.clone();
        let url = app.hook_url(NS, "case", "update");
        let accepted = std::sync::Arc::clone(&accepted);
        let stop = stop.clone();
        senders.push(tokio::spawn(async move {
            let mut n = 0;
            let mut sent = 0usize;
            while !stop.is_cancelled() && n < 2000 {
                let body = case_body(&format!("CS{worker}{n:05}"), "Open", "load");
                let resp = http
                    .post(&url)
                    .body(body)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                sent += 1;
                if let Ok(resp) = resp
                    && resp.status() == 202
                {
                    let v: serde_json::Value = resp.json().await.unwrap();
                    accepted
                        .lock()
                        .unwrap()
                        .insert(v["id"].as_str().unwrap().to_string());
                    n += 1;
                } else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.nats.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.nats.restart();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.cancel();
    let mut attempts = 0;
    for s in senders {
        attempts += s.await.unwrap();
    }
    app.wait_ready().await;
    let accepted = accepted.lock().unwrap().clone();
    let stored: HashSet<String> = app
        .stored()
        .await
        .iter()
        .map(|m| m.headers.get("Nats-Msg-Id").unwrap().to_string())
        .collect();
    assert!(accepted.len() > 50, "load ran: {} accepted", accepted.len());
    // Requests in flight when NATS died may still have been acked after the reconnect (the
    // client buffers them), so how many got a 503 varies; what must hold is that every 202
    // is in the stream.
    assert!(attempts >= accepted.len());
    let missing: Vec<_> = accepted.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} accepted events missing from the stream",
        missing.len()
    );
}

#[tokio::test]
async fn a_connection_lost_before_the_pub_ack_is_published_again_not_refused() {
    let mut app = TestApp::spawn().await;
    // Frozen, the server takes the publish and never answers it (a dead letter: no bucket read
    // comes before its publish).
    let pid = app.nats.pid().to_string();
    let frozen = std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    assert!(frozen.success());
    let post = {
        let (http, url) = (app.http.clone(), app.hook_url(NS, "case", "create"));
        tokio::spawn(async move {
            http.post(&url)
                .body("not json, in flight")
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The connection goes away with the PubAck still owed; a new server takes over the store.
    app.nats.restart();
    let (status, answer) = json(post.await.unwrap()).await;
    assert_eq!(
        (status, answer["dead_lettered"].as_bool()),
        (202, Some(true)),
        "{answer}"
    );
    assert_eq!(app.stored_subjects().await, ["gtt.deadletter.142033"]);
}
