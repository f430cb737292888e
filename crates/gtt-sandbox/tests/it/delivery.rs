//! Webhook deliveries to a real receiver: bodies, retries, signing, drops, duplicates, reordering.

use std::time::Duration;

use crate::common::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gtt_sandbox::{DeliveryConfig, Sandbox, SandboxConfig};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const WAIT: Duration = Duration::from_secs(5);

fn config(delivery: DeliveryConfig) -> SandboxConfig {
    SandboxConfig {
        delivery,
        ..SandboxConfig::default()
    }
}

/// Register create and update webhooks for `receiver` over HTTP.
async fn subscribe(api: &Api, receiver: &Receiver) {
    for action in ["create", "update"] {
        let body = webhook_body(
            NS,
            &format!("case-v1alpha-{action}"),
            &receiver.url(&format!("/hooks/{action}")),
            action,
        );
        let (status, answer) = api.call("POST", &webhooks_path(NS), Some(body)).await;
        assert_eq!(status, 201, "{answer}");
    }
}

#[tokio::test]
async fn create_and_update_reach_the_receiver_with_the_full_case() {
    let sandbox = start(SandboxConfig::default()).await;
    let receiver = Receiver::start().await;
    let api = Api::new(&sandbox).await;
    subscribe(&api, &receiver).await;
    // Subscriptions that must not fire: other version, other kind.
    for (name, version, kind) in [
        ("other-version", "v2", "case"),
        ("other-kind", "v1alpha", "site"),
    ] {
        let mut body = webhook_body(NS, name, &receiver.url("/never"), "create");
        body["spec"]["version"] = json!(version);
        body["spec"]["kind"] = json!(kind);
        api.call("POST", &webhooks_path(NS), Some(body)).await;
    }

    let (_, created) = api
        .call("POST", &cases_path(NS), Some(case_body(NS, "delivered")))
        .await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/hooks/create");
    assert_eq!(got[0].json(), created);
    assert_eq!(
        got[0].header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(got[0].header("user-agent").as_deref(), Some("gtt-sandbox"));
    assert_eq!(got[0].header("webhook-signature"), None);

    let name = created["name"].as_str().expect("name");
    let (_, updated) = api
        .call(
            "PATCH",
            &format!("{}/{name}", cases_path(NS)),
            Some(json!({"spec": {"state": "In Progress", "comment": "on it"}})),
        )
        .await;
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].path, "/hooks/update");
    assert_eq!(got[1].json(), updated);
    assert_eq!(got[1].json()["spec"]["comments"][0]["text"], "on it");

    // Direct operations deliver too.
    sandbox
        .update_case(NS, name, json!({"state": "Resolved"}))
        .expect("update");
    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!(got[2].json()["spec"]["state"], "Resolved");
    assert!(sandbox.wait_deliveries_idle(WAIT).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.received().len(), 3);
    let stats = sandbox.stats();
    assert_eq!(
        (stats.deliveries_attempted, stats.deliveries_succeeded),
        (3, 3)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn retries_after_500s_then_gives_up_when_told() {
    let sandbox = start(SandboxConfig::default()).await;
    let receiver = Receiver::start().await;
    let api = Api::new(&sandbox).await;
    subscribe(&api, &receiver).await;

    receiver.fail_next(&[500, 500]);
    let created = sandbox
        .create_case(NS, case_spec("retry me"))
        .expect("create");
    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.json() == created));
    assert!(sandbox.wait_deliveries_idle(WAIT).await);
    let stats = sandbox.stats();
    assert_eq!(stats.deliveries_attempted, 3);
    assert_eq!(stats.attempts_failed, 2);
    assert_eq!(stats.deliveries_succeeded, 1);
    assert_eq!(stats.deliveries_failed, 0);

    // Always failing: gives up after max_attempts.
    sandbox.set_delivery(DeliveryConfig {
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        ..DeliveryConfig::default()
    });
    receiver.always(Some(503));
    sandbox
        .create_case(NS, case_spec("never accepted"))
        .expect("create");
    assert!(sandbox.wait_deliveries_idle(WAIT).await);
    assert_eq!(receiver.received().len(), 6);
    assert_eq!(sandbox.stats().deliveries_failed, 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn connection_refused_counts_as_failure() {
    let sandbox = start(config(DeliveryConfig {
        max_attempts: 2,
        ..DeliveryConfig::default()
    }))
    .await;
    // A port that was just free: bind, note, drop.
    let closed = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let url = format!("http://{}/hook", closed.local_addr().expect("addr"));
    drop(closed);
    sandbox.put_webhook(NS, webhook_body(NS, "dead", &url, "create"));
    sandbox
        .create_case(NS, case_spec("nobody home"))
        .expect("create");
    assert!(sandbox.wait_deliveries_idle(WAIT).await);
    let stats = sandbox.stats();
    assert_eq!(
        (
            stats.deliveries_attempted,
            stats.deliveries_failed,
            stats.deliveries_succeeded
        ),
        (2, 1, 0)
    );
    sandbox.shutdown().await;
}

fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn signed_deliveries_verify_and_keep_their_id_across_retries() {
    let secret = format!(
        "whsec_{}",
        STANDARD.encode(b"a sandbox signing key of 32 byte")
    );
    let sandbox = start(config(DeliveryConfig {
        signing_secret: Some(secret.clone()),
        ..DeliveryConfig::default()
    }))
    .await;
    let receiver = Receiver::start().await;
    subscribe(&Api::new(&sandbox).await, &receiver).await;
    receiver.fail_next(&[500]);
    let case = sandbox
        .create_case(NS, case_spec("signed"))
        .expect("create");
    sandbox
        .update_case(
            NS,
            case["name"].as_str().expect("name"),
            json!({"state": "In Progress"}),
        )
        .expect("update");
    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    let now = chrono::Utc::now().timestamp();
    for r in &got {
        let id = r.header("webhook-id").expect("webhook-id");
        let ts = r.header("webhook-timestamp").expect("webhook-timestamp");
        let sig = r.header("webhook-signature").expect("webhook-signature");
        assert!(id.starts_with("msg_"), "{id}");
        assert!((now - ts.parse::<i64>().expect("numeric")).abs() < 30);
        assert_eq!(sig, expected_signature(&secret, &id, &ts, &r.body));
        assert_ne!(sig, expected_signature(&secret, &id, &ts, b"{}"));
    }
    // The retried create keeps its id; the update has its own.
    let ids: Vec<String> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap_or_default())
        .collect();
    let creates: Vec<&String> = got
        .iter()
        .zip(&ids)
        .filter(|(r, _)| r.path == "/hooks/create")
        .map(|(_, id)| id)
        .collect();
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0], creates[1]);
    assert_eq!(
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        2
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bad_signing_secret_fails_start() {
    let result = Sandbox::start(
        loopback(),
        config(DeliveryConfig {
            signing_secret: Some("whsec_***".into()),
            ..DeliveryConfig::default()
        }),
    )
    .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn drop_rate_one_delivers_nothing() {
    let sandbox = start(config(DeliveryConfig {
        drop_rate: 1.0,
        ..DeliveryConfig::default()
    }))
    .await;
    let receiver = Receiver::start().await;
    subscribe(&Api::new(&sandbox).await, &receiver).await;
    for i in 0..3 {
        sandbox
            .create_case(NS, case_spec(&format!("lost {i}")))
            .expect("create");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(receiver.received().is_empty());
    let stats = sandbox.stats();
    assert_eq!(stats.deliveries_dropped, 3);
    assert_eq!(stats.deliveries_attempted, 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn disabled_delivery_sends_nothing() {
    let sandbox = start(config(DeliveryConfig {
        enabled: false,
        ..DeliveryConfig::default()
    }))
    .await;
    let receiver = Receiver::start().await;
    subscribe(&Api::new(&sandbox).await, &receiver).await;
    sandbox
        .create_case(NS, case_spec("polling only"))
        .expect("create");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.received().is_empty());
    assert_eq!(sandbox.stats().deliveries_dropped, 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn duplicate_rate_one_sends_each_twice() {
    let sandbox = start(config(DeliveryConfig {
        duplicate_rate: 1.0,
        ..DeliveryConfig::default()
    }))
    .await;
    let receiver = Receiver::start().await;
    subscribe(&Api::new(&sandbox).await, &receiver).await;
    let a = sandbox.create_case(NS, case_spec("a")).expect("create");
    let b = sandbox.create_case(NS, case_spec("b")).expect("create");
    assert!(sandbox.wait_deliveries_idle(WAIT).await);
    let bodies: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    assert_eq!(bodies.len(), 4);
    assert_eq!(bodies.iter().filter(|v| **v == a).count(), 2);
    assert_eq!(bodies.iter().filter(|v| **v == b).count(), 2);
    assert_eq!(sandbox.stats().deliveries_duplicated, 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn first_attempt_lost_is_retried() {
    let sandbox = start(config(DeliveryConfig {
        drop_first_attempt_rate: 1.0,
        ..DeliveryConfig::default()
    }))
    .await;
    let receiver = Receiver::start().await;
    subscribe(&Api::new(&sandbox).await, &receiver).await;
    let case = sandbox
        .create_case(NS, case_spec("second try"))
        .expect("create");
    assert!(sandbox.wait_deliveries_idle(WAIT).await);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json(), case);
    let stats = sandbox.stats();
    assert_eq!(
        (
            stats.deliveries_attempted,
            stats.attempts_failed,
            stats.deliveries_succeeded
        ),
        (2, 1, 1)
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn reordered_delivery_arrives_after_a_later_one() {
    let sandbox = start(config(DeliveryConfig {
        reorder_rate: 1.0,
        ..DeliveryConfig::default()
    }))
    .await;
    let receiver = Receiver::start().await;
    subscribe(&Api::new(&sandbox).await, &receiver).await;
    let first = sandbox
        .create_case(NS, case_spec("held back"))
        .expect("create");
    sandbox.set_delivery(DeliveryConfig::default());
    let second = sandbox
        .create_case(NS, case_spec("overtakes"))
        .expect("create");
    let got = receiver.wait_for(2, WAIT).await;
    let order: Vec<Value> = got.iter().map(|r| r.json()["name"].clone()).collect();
    assert_eq!(order, vec![second["name"].clone(), first["name"].clone()]);
    assert_eq!(sandbox.stats().deliveries_reordered, 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn delays_stay_within_max_delay() {
    let sandbox = start(config(DeliveryConfig {
        max_delay: Duration::from_millis(300),
        seed: Some(7),
        ..DeliveryConfig::default()
    }))
    .await;
    let receiver = Receiver::start().await;
    subscribe(&Api::new(&sandbox).await, &receiver).await;
    let started = std::time::Instant::now();
    for i in 0..5 {
        sandbox
            .create_case(NS, case_spec(&format!("slow {i}")))
            .expect("create");
    }
    assert_eq!(receiver.wait_for(5, WAIT).await.len(), 5);
    assert!(started.elapsed() < Duration::from_secs(2));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn odd_settings_are_clamped_not_panics() {
    let sandbox = start(SandboxConfig {
        token_ttl: Duration::MAX,
        ..config(DeliveryConfig {
            drop_rate: f64::NAN,
            duplicate_rate: 7.0,
            reorder_rate: -1.0,
            max_attempts: 0,
            ..DeliveryConfig::default()
        })
    })
    .await;
    let receiver = Receiver::start().await;
    // The token still works with an absurd TTL.
    subscribe(&Api::new(&sandbox).await, &receiver).await;
    receiver.always(Some(500));
    sandbox
        .create_case(NS, case_spec("clamped"))
        .expect("create");
    assert!(sandbox.wait_deliveries_idle(WAIT).await);
    // duplicate_rate 7.0 acts as 1.0; max_attempts 0 acts as 1; NaN drops nothing.
    assert_eq!(receiver.received().len(), 2);
    let stats = sandbox.stats();
    assert_eq!(
        (
            stats.deliveries_dropped,
            stats.deliveries_duplicated,
            stats.deliveries_failed
        ),
        (0, 1, 2)
    );
    sandbox.shutdown().await;
}
