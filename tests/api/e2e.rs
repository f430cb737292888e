//! End to end: GTT sandbox -> gateway -> NATS -> a reader, with the sandbox's duplicate,
//! reorder, delay and failure switches on. Every change must be stored exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use crate::registrar::{gateway_settings, sandbox, sandbox_config, wait_until};
use gtt_test_support::*;

#[tokio::test]
async fn full_lifecycles_arrive_once_despite_duplicates_reordering_delays_and_failures() {
    let mut config = sandbox_config();
    config.delivery.duplicate_rate = 0.4;
    config.delivery.reorder_rate = 0.3;
    config.delivery.max_delay = Duration::from_millis(150);
    config.delivery.drop_first_attempt_rate = 0.3;
    config.delivery.backoff_base = Duration::from_millis(50);
    let gtt = sandbox(config).await;
    let nats = NatsServer::start();
    let port = free_port();
    let settings = gateway_settings(&nats.url(), &gtt, port, "[registrar]\ninterval = \"1s\"\n");
    let app = TestApp::spawn_on(nats, settings).await;
    wait_until("webhooks", Duration::from_secs(10), || {
        gtt.webhooks(NS).len() == 2
    })
    .await;

    let lifecycle = [
        "In Progress",
        "Pending Customer",
        "In Progress",
        "Resolved",
        "Closed",
    ];
    let mut expected = BTreeMap::new();
    let mut tickets = Vec::new();
    for i in 0..6 {
        let case = gtt
            .create_case(
                NS,
                json!({
                    "short_description": format!("Circuit {i} down"),
                    "case_type": if i % 2 == 0 { "Incident" } else { "Service Request" },
                    "priority": format!("{} - High", 1 + i % 4),
                    "category": "Secure Network",
                }),
            )
            .unwrap();
        let name = case["name"].as_str().unwrap().to_string();
        expected.insert((name.clone(), 0), ("created", "open".to_string()));
        tickets.push(name);
    }
    for (step, state) in lifecycle.iter().enumerate() {
        for name in &tickets {
            gtt.update_case(
                NS,
                name,
                json!({"state": state, "comment": format!("step {step}")}),
            )
            .unwrap();
            let normalized = state.to_ascii_lowercase().replace(' ', "_");
            expected.insert((name.clone(), step + 1), ("updated", normalized));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let total = expected.len();
    assert_eq!(total, 36);

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app.stored().await.len() < total {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {total} stored",
            app.stored().await.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let late duplicates and retries land, then check nothing was stored twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stored = app.stored().await;
    assert_eq!(stored.len(), total, "each change stored exactly once");

    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for msg in &stored {
        let event: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
        let name = event["subject"].as_str().unwrap().to_string();
        let state = event["data"]["state"].as_str().unwrap().to_string();
        let comments = event["data"]["raw"]["spec"]["comments"]
            .as_array()
            .map_or(0, Vec::len);
        let (action, want_state) = &expected[&(name.clone(), comments)];
        assert_eq!(&state, want_state, "{name} change {comments}");
        assert_eq!(
            msg.subject.as_str(),
            format!("gtt.{NS}.case.{action}.{name}")
        );
        *seen.entry((name, comments.to_string())).or_default() += 1;
    }
    assert_eq!(seen.len(), total);
    assert!(seen.values().all(|n| *n == 1));
    let stats = gtt.stats();
    assert!(
        stats.deliveries_duplicated > 0,
        "the duplicate switch was exercised"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"outcome="duplicate""#),
        "duplicates reached the gateway and were suppressed"
    );
}
