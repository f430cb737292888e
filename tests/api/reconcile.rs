//! The polling fallback against the sandbox: lost webhooks filled in, nothing doubled,
//! polling-only mode, restarts, and one poller per namespace across replicas.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gtt_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;

use crate::registrar::{gateway_settings, sandbox, sandbox_config, wait_until};
use gtt_test_support::*;

const POLL: &str = "[reconcile]\nenabled = true\ninterval = \"400ms\"\n";

/// Every change of some tickets: (name, number of comments) -> normalized state.
pub type Changes = BTreeMap<(String, usize), String>;

/// Open `tickets` cases; their names, and their first changes.
pub fn open_tickets(gtt: &Sandbox, tickets: usize) -> (Vec<String>, Changes) {
    let mut expected = BTreeMap::new();
    let mut names = Vec::new();
    for i in 0..tickets {
        let case = gtt
            .create_case(
                NS,
                json!({"short_description": format!("Site {i} down"), "case_type": "Incident",
                       "priority": "2 - High", "category": "Secure Network"}),
            )
            .unwrap();
        let name = case["name"].as_str().unwrap().to_string();
        expected.insert((name.clone(), 0), "open".to_string());
        names.push(name);
    }
    (names, expected)
}

/// Drive `tickets` cases through a lifecycle, one change per ticket every `spacing`.
async fn lifecycles(gtt: &Sandbox, tickets: usize, spacing: Duration) -> Changes {
    let (names, mut expected) = open_tickets(gtt, tickets);
    for (step, state) in ["In Progress", "Resolved", "Closed"].iter().enumerate() {
        tokio::time::sleep(spacing).await;
        for name in &names {
            gtt.update_case(
                NS,
                name,
                json!({"state": state, "comment": format!("step {step}")}),
            )
            .unwrap();
            expected.insert(
                (name.clone(), step + 1),
                state.to_ascii_lowercase().replace(' ', "_"),
            );
        }
    }
    expected
}

/// Wait until the stream holds `expected.len()` events, give stragglers time, then check that
/// each change is there exactly once with its normalized state.
pub async fn assert_exactly_once(app: &TestApp, expected: &Changes, within: Duration) {
    let deadline = Instant::now() + within;
    while app.stored().await.len() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of {} changes stored in time",
            app.stored().await.len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let stored = app.stored().await;
    let mut seen = BTreeMap::new();
    for msg in &stored {
        let event: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
        let name = event["subject"].as_str().unwrap().to_string();
        let comments = event["data"]["raw"]["spec"]["comments"]
            .as_array()
            .map_or(0, Vec::len);
        let state = event["data"]["state"].as_str().unwrap().to_string();
        assert_eq!(
            Some(&state),
            expected.get(&(name.clone(), comments)),
            "{name} change {comments}"
        );
        *seen.entry((name, comments)).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), expected.len(), "every change stored");
    assert!(
        seen.values().all(|n| *n == 1),
        "no change stored twice: {seen:?}"
    );
}

/// A sandbox, and a polling gateway whose webhooks are registered there.
async fn polling_gateway_with_webhooks(config: SandboxConfig) -> (Sandbox, TestApp) {
    let gtt = sandbox(config).await;
    let nats = NatsServer::start();
    let settings = gateway_settings(&nats.url(), &gtt, free_port(), POLL);
    let app = TestApp::spawn_on(nats, settings).await;
    wait_until("webhooks", Duration::from_secs(10), || {
        gtt.webhooks(NS).len() == 2
    })
    .await;
    (gtt, app)
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn lost_webhooks_are_filled_in_by_polling_exactly_once() {
    let mut config = sandbox_config();
    config.delivery.drop_rate = 0.5;
    let (gtt, app) = polling_gateway_with_webhooks(config).await;

    let expected = lifecycles(&gtt, 4, Duration::from_millis(1000)).await;
    // Two poll intervals after the last change, plus slack for a loaded CI machine.
    assert_exactly_once(&app, &expected, Duration::from_secs(3)).await;
    let metrics = app.metrics().await;
    assert!(gtt.stats().deliveries_dropped > 0, "webhooks were lost");
    assert!(
        metric(&metrics, "gtt_gateway_reconcile_recovered_total") > 0.0,
        "{metrics}"
    );
    assert!(metrics.contains("gtt_gateway_reconcile_lag_seconds{namespace=\"142033\"}"));

    // `changes` tell a consumer what changed; state transitions are flagged.
    let stored = app.stored().await;
    let last: serde_json::Value = serde_json::from_slice(&stored.last().unwrap().payload).unwrap();
    assert_eq!(last["gttstatechanged"], true, "{last}");
    let changes = last["data"]["changes"].as_array().unwrap();
    let state = changes.iter().find(|c| c["field"] == "state").unwrap();
    assert_eq!(state["new"], last["data"]["state"]);
}

#[tokio::test]
async fn with_webhooks_working_polling_adds_no_events() {
    let (gtt, app) = polling_gateway_with_webhooks(sandbox_config()).await;
    let expected = lifecycles(&gtt, 4, Duration::from_millis(500)).await;
    assert_exactly_once(&app, &expected, Duration::from_secs(5)).await;
    let metrics = app.metrics().await;
    assert!(
        metric(
            &metrics,
            "gtt_gateway_reconcile_runs_total{namespace=\"142033\",outcome=\"ok\"}"
        ) >= 3.0,
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            r#"gtt_gateway_callbacks_total{action="update",kind="case",namespace="142033",outcome="accepted"}"#
        ) >= 8.0
    );
}

#[tokio::test]
async fn polling_only_mode_needs_no_inbound_http() {
    let mut config = sandbox_config();
    config.delivery.enabled = false;
    let gtt = sandbox(config).await;
    let nats = NatsServer::start();
    let mut settings = gateway_settings(
        &nats.url(),
        &gtt,
        free_port(),
        &format!("{POLL}[registrar]\nenabled = false\n"),
    );
    settings.callbacks.public_url = None;
    let app = TestApp::spawn_on(nats, settings).await;
    let expected = lifecycles(&gtt, 3, Duration::from_millis(1000)).await;
    assert_exactly_once(&app, &expected, Duration::from_secs(3)).await;
    assert!(gtt.webhooks(NS).is_empty());
    assert_eq!(gtt.stats().deliveries_attempted, 0);
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "gtt_gateway_callbacks_total"),
        0.0,
        "no inbound callbacks"
    );
    // Created cases are published as `created`, later changes as `updated`.
    let subjects = app.stored_subjects().await;
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.contains(".case.created."))
            .count(),
        3,
        "{subjects:?}"
    );
}

#[tokio::test]
async fn watermark_survives_a_restart_nothing_missed_or_repeated() {
    let mut config = sandbox_config();
    config.delivery.enabled = false;
    let gtt = sandbox(config).await;
    let nats = NatsServer::start();
    // No lookback and a short overlap: only a stored watermark finds changes made while down.
    let extra = "[reconcile]\nenabled = true\ninterval = \"300ms\"\nlookback = \"0s\"\noverlap = \"1s\"\n[registrar]\nenabled = false\n";
    let settings = gateway_settings(&nats.url(), &gtt, free_port(), extra);
    let first = TestApp::spawn_on(nats, settings.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut expected = lifecycles(&gtt, 2, Duration::from_millis(800)).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(first.stored().await.len(), expected.len());

    // Stop; change every ticket while the gateway is down; wait past the overlap; restart.
    first.shutdown.cancel();
    let TestApp { nats, task, .. } = first;
    task.await.unwrap().unwrap();
    let names: Vec<String> = expected
        .keys()
        .map(|(n, _)| n.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for name in &names {
        gtt.update_case(NS, name, json!({"state": "Open", "comment": "reopened"}))
            .unwrap();
        expected.insert((name.clone(), 4), "open".into());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = TestApp::spawn_on(nats, settings).await;
    assert_exactly_once(&second, &expected, Duration::from_secs(4)).await;
}

#[tokio::test]
async fn two_replicas_poll_each_namespace_once() {
    let mut config = sandbox_config();
    config.delivery.enabled = false;
    let gtt = sandbox(config).await;
    let nats = NatsServer::start();
    let extra = "[reconcile]\nenabled = true\ninterval = \"500ms\"\nlease_ttl = \"3s\"\n[registrar]\nenabled = false\n";
    let settings = gateway_settings(&nats.url(), &gtt, free_port(), extra);
    let mut other = settings.clone();
    other.server.listen = "127.0.0.1:0".parse().unwrap();
    let replica = gtt_gateway::app::Application::build(other).await.unwrap();
    let replica_metrics = replica.gateway().metrics.clone();
    let token = tokio_util::sync::CancellationToken::new();
    let replica_task = tokio::spawn(replica.run_until_stopped(token.clone()));
    let app = TestApp::spawn_on(nats, settings).await;

    let before = gtt
        .stats()
        .api_requests
        .get("list_cases")
        .copied()
        .unwrap_or(0);
    let started = Instant::now();
    let expected = lifecycles(&gtt, 3, Duration::from_millis(1000)).await;
    assert_exactly_once(&app, &expected, Duration::from_secs(3)).await;
    let polls = gtt
        .stats()
        .api_requests
        .get("list_cases")
        .copied()
        .unwrap_or(0)
        - before;
    // Two namespaces, one poll each per interval: what one poller makes, not two.
    let one_poller = 2.0 * started.elapsed().as_secs_f64() / 0.5;
    assert!(
        (polls as f64) < one_poller * 1.3 + 4.0,
        "{polls} list calls, one poller would make ~{one_poller:.0}"
    );
    let standby = metric(
        &app.metrics().await,
        "gtt_gateway_reconcile_runs_total{namespace=\"142033\",outcome=\"standby\"}",
    ) + metric(
        &replica_metrics.render(),
        "gtt_gateway_reconcile_runs_total{namespace=\"142033\",outcome=\"standby\"}",
    );
    assert!(standby > 0.0, "one replica stood by");
    token.cancel();
    let _ = replica_task.await;
}
