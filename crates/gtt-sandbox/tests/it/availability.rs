//! Outage switch (503 everywhere, deliveries pause and resume) and prompt shutdown.

use std::time::{Duration, Instant};

use crate::common::*;
use gtt_sandbox::{DeliveryConfig, Outages, SandboxConfig};

#[tokio::test]
async fn outage_answers_503_everywhere_and_pauses_deliveries() {
    let sandbox = start(SandboxConfig::default()).await;
    let receiver = Receiver::start().await;
    let api = Api::new(&sandbox).await;
    let hook = webhook_body(NS, "case-v1alpha-create", &receiver.url("/h"), "create");
    assert_eq!(
        api.call("POST", &webhooks_path(NS), Some(hook)).await.0,
        201
    );

    sandbox.set_available(false);
    let (status, body) = client_credentials(&sandbox, CLIENT_ID, CLIENT_SECRET).await;
    assert_eq!(status, 503);
    assert_eq!(body["code"], 503);
    for (method, path) in [
        ("GET", cases_path(NS)),
        ("POST", cases_path(NS)),
        ("GET", format!("{}/CS0074187", cases_path(NS))),
        ("GET", webhooks_path(NS)),
        ("DELETE", format!("{}/x", webhooks_path(NS))),
        ("GET", "/no/such/path".to_owned()),
    ] {
        let (status, _) = api.call(method, &path, Some(case_body(NS, "x"))).await;
        assert_eq!(status, 503, "{method} {path}");
    }
    let response = http()
        .get(format!("{}{}", api.base, cases_path(NS)))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );

    // A change during the outage is delivered only once GTT is back, without using attempts.
    let case = sandbox
        .create_case(NS, case_spec("during outage"))
        .expect("direct create works");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(receiver.received().is_empty());
    assert_eq!(sandbox.stats().deliveries_attempted, 0);

    sandbox.set_available(true);
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json(), case);
    assert_eq!(api.get(&cases_path(NS)).await.0, 200);
    let stats = sandbox.stats();
    assert_eq!(stats.deliveries_attempted, 1);
    assert_eq!(stats.unavailable, 8);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn shutdown_is_prompt_with_deliveries_pending() {
    let sandbox = start(SandboxConfig {
        delivery: DeliveryConfig {
            max_attempts: 50,
            ..DeliveryConfig::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.always(Some(500));
    sandbox.put_webhook(
        NS,
        webhook_body(NS, "failing", &receiver.url("/h"), "create"),
    );
    for i in 0..5 {
        sandbox
            .create_case(NS, case_spec(&format!("pending {i}")))
            .expect("create");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sandbox.deliveries_in_flight() > 0);

    let started = Instant::now();
    sandbox.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sandbox.deliveries_in_flight(), 0);
    assert!(
        http().get(sandbox.token_url()).send().await.is_err(),
        "still serving"
    );
    sandbox.shutdown().await; // idempotent
}

#[tokio::test]
async fn recurring_outages_switch_the_sandbox_off_and_on() {
    let sandbox = start(SandboxConfig {
        outages: Some(Outages {
            every: Duration::from_millis(600),
            lasting: Duration::from_millis(300),
        }),
        ..SandboxConfig::default()
    })
    .await;
    // Up for the first 300 ms of every 600, down for the rest.
    let (mut up, mut down) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        match client_credentials(&sandbox, CLIENT_ID, CLIENT_SECRET)
            .await
            .0
        {
            200 => up += 1,
            503 => down += 1,
            other => panic!("unexpected {other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up > 3 && down > 3, "up {up} times, down {down} times");
    assert!(sandbox.stats().unavailable > 0);
}
