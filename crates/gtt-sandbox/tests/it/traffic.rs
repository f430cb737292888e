//! Traffic generator: creates realistic tickets, walks them through their states, notifies webhooks.

use std::time::Duration;

use crate::common::*;
use gtt_sandbox::{CASE_STATES, SandboxConfig, TrafficConfig, spawn_traffic};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn traffic_creates_and_advances_tickets() {
    let sandbox = start(SandboxConfig::default()).await;
    let receiver = Receiver::start().await;
    let api = Api::new(&sandbox).await;
    for action in ["create", "update"] {
        let hook = webhook_body(
            NS,
            &format!("case-{action}"),
            &receiver.url(&format!("/{action}")),
            action,
        );
        assert_eq!(
            api.call("POST", &webhooks_path(NS), Some(hook)).await.0,
            201
        );
    }

    let cancel = CancellationToken::new();
    let traffic = spawn_traffic(
        sandbox.clone(),
        TrafficConfig {
            namespaces: vec![NS.to_owned()],
            new_ticket_every: Duration::from_millis(50),
            step_every: Duration::from_millis(10),
            max_open: 5,
        },
        cancel.clone(),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(1), traffic)
        .await
        .expect("traffic stops on cancel")
        .expect("traffic task did not panic");

    // Seen through the HTTP API.
    let (status, page) = api.get(&format!("{}?limit=500", cases_path(NS))).await;
    assert_eq!(status, 200);
    let cases = page["items"].as_array().expect("items").clone();
    assert!(cases.len() >= 5, "{} cases", cases.len());
    let state = |c: &serde_json::Value| c["spec"]["state"].as_str().unwrap_or_default().to_owned();
    assert!(
        cases
            .iter()
            .all(|c| CASE_STATES.contains(&state(c).as_str()))
    );
    assert!(
        cases.iter().any(|c| state(c) != "Open"),
        "no ticket advanced"
    );
    assert!(
        cases.iter().any(|c| state(c) == "Closed"),
        "no ticket closed"
    );
    let unfinished = cases
        .iter()
        .filter(|c| !matches!(state(c).as_str(), "Closed" | "Cancelled"))
        .count();
    assert!(unfinished <= 5, "{unfinished} unfinished");
    for c in &cases {
        let spec = &c["spec"];
        assert!(matches!(
            spec["case_type"].as_str(),
            Some("Incident" | "Service Request")
        ));
        assert!(
            spec["priority"]
                .as_str()
                .is_some_and(|p| p.starts_with(['1', '2', '3', '4']))
        );
        assert!(
            spec["short_description"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        assert!(spec["category"].is_string());
    }

    // Every change went out as a webhook.
    assert!(sandbox.wait_deliveries_idle(Duration::from_secs(5)).await);
    let got = receiver.received();
    let creates = got.iter().filter(|r| r.path == "/create").count();
    assert_eq!(creates, cases.len());
    assert!(got.iter().any(|r| r.path == "/update"));
    sandbox.shutdown().await;
}
