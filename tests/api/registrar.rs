//! The registrar and the token client against the GTT sandbox.

use std::time::{Duration, Instant};

use gtt_gateway::config::Settings;
use gtt_sandbox::{Sandbox, SandboxConfig};

use gtt_test_support::*;

pub async fn sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start(([127, 0, 0, 1], 0).into(), config)
        .await
        .unwrap()
}

pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        namespaces: vec![NS.into(), "7".into()],
        ..SandboxConfig::default()
    }
}

/// Gateway settings against a sandbox, with the registrar on; `port` is the gateway's own.
pub fn gateway_settings(nats_url: &str, sandbox: &Sandbox, port: u16, extra: &str) -> Settings {
    let extra = format!("[log]\nlevel = \"warn\"\n{extra}");
    gtt_gateway::demo::settings_for_sandbox(sandbox, nats_url, port, SECRET, &[NS, "7"], &extra)
        .unwrap()
}

fn webhook_names(sandbox: &Sandbox, ns: &str) -> Vec<String> {
    let mut names: Vec<String> = sandbox
        .webhooks(ns)
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

pub async fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const EXPECTED: [&str; 2] = [
    "gtt-gateway-case-v1alpha-create",
    "gtt-gateway-case-v1alpha-update",
];

#[tokio::test]
async fn converges_from_empty_and_repairs_deleted_and_wrong_webhooks() {
    let gtt = sandbox(sandbox_config()).await;
    let nats = NatsServer::start();
    let port = free_port();
    let settings = gateway_settings(&nats.url(), &gtt, port, "[registrar]\ninterval = \"1s\"\n");
    let app = TestApp::spawn_on(nats, settings).await;

    wait_until("webhooks created", Duration::from_secs(10), || {
        webhook_names(&gtt, NS) == EXPECTED && webhook_names(&gtt, "7") == EXPECTED
    })
    .await;
    for w in gtt.webhooks(NS) {
        let action = w["spec"]["action"].as_str().unwrap();
        assert_eq!(
            w["spec"]["url"],
            app.hook_url(NS, "case", action)
                .replace(&app.addr.to_string(), &format!("127.0.0.1:{port}"))
        );
        assert_eq!(w["spec"]["kind"], "case");
        assert_eq!(w["spec"]["version"], "v1alpha");
    }
    assert!(app.metrics().await.contains(
        r#"gtt_gateway_subscriptions{action="create",kind="case",namespace="142033"} 1"#
    ));

    // Deleted behind the gateway's back: back within one interval (plus slack).
    assert!(gtt.delete_webhook(NS, EXPECTED[0]));
    wait_until("webhook recreated", Duration::from_secs(4), || {
        webhook_names(&gtt, NS) == EXPECTED
    })
    .await;

    // Wrong URL: fixed.
    let mut wrong = gtt
        .webhooks(NS)
        .into_iter()
        .find(|w| w["name"] == EXPECTED[1])
        .unwrap();
    wrong["spec"]["url"] = "https://attacker.example/hook".into();
    gtt.put_webhook(NS, wrong);
    wait_until("URL fixed", Duration::from_secs(4), || {
        gtt.webhooks(NS).iter().all(|w| {
            w["spec"]["url"]
                .as_str()
                .unwrap()
                .starts_with(&format!("http://127.0.0.1:{port}/v1/hooks/gtt/"))
        })
    })
    .await;
}

#[tokio::test]
async fn prune_deletes_only_our_stale_webhooks() {
    let gtt = sandbox(sandbox_config()).await;
    // Someone else's webhook and a stale one of ours.
    for (name, action) in [
        ("crm-case-v1alpha-create", "create"),
        ("gtt-gateway-case-v1alpha-delete", "delete"),
    ] {
        gtt.put_webhook(NS, serde_json::json!({
            "kind": "webhook", "version": "v1", "namespace": NS, "name": name,
            "spec": {"url": "https://crm.example/hook", "version": "v1alpha", "kind": "case", "action": action}
        }));
    }
    let nats = NatsServer::start();
    let settings = gateway_settings(
        &nats.url(),
        &gtt,
        free_port(),
        "[registrar]\nprune = true\n",
    );
    let _app = TestApp::spawn_on(nats, settings).await;
    wait_until("pruned and created", Duration::from_secs(10), || {
        webhook_names(&gtt, NS) == ["crm-case-v1alpha-create", EXPECTED[0], EXPECTED[1]]
    })
    .await;
}

#[tokio::test]
async fn two_gateways_started_together_leave_one_webhook_per_action() {
    let gtt = sandbox(sandbox_config()).await;
    let nats = NatsServer::start();
    let port = free_port();
    // Two replicas: same config (same public URL), different listen ports.
    let a = gateway_settings(&nats.url(), &gtt, port, "");
    let mut b = a.clone();
    b.server.listen = "127.0.0.1:0".parse().unwrap();
    let mut a = a;
    a.server.listen = "127.0.0.1:0".parse().unwrap();
    let (app_a, app_b) = tokio::join!(
        gtt_gateway::app::Application::build(a),
        gtt_gateway::app::Application::build(b)
    );
    let token = tokio_util::sync::CancellationToken::new();
    let ta = tokio::spawn(app_a.unwrap().run_until_stopped(token.clone()));
    let tb = tokio::spawn(app_b.unwrap().run_until_stopped(token.clone()));
    wait_until("webhooks", Duration::from_secs(10), || {
        webhook_names(&gtt, NS) == EXPECTED && webhook_names(&gtt, "7") == EXPECTED
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gtt.webhooks(NS).len(), 2);
    token.cancel();
    let _ = tokio::join!(ta, tb);
    // Nothing is deleted on shutdown.
    assert_eq!(webhook_names(&gtt, NS), EXPECTED);
}

#[tokio::test]
async fn gtt_down_at_startup_does_not_block_ingest() {
    let gtt = sandbox(sandbox_config()).await;
    gtt.set_available(false);
    let nats = NatsServer::start();
    let port = free_port();
    let settings = gateway_settings(&nats.url(), &gtt, port, "");
    let app = TestApp::spawn_on(nats, settings).await;
    // Ingest works while GTT is down.
    assert_eq!(
        app.post("create", case_body("CS70", "Open", "x"))
            .await
            .status(),
        202
    );
    assert!(gtt.webhooks(NS).is_empty());
    assert!(app.metrics().await.contains(
        r#"gtt_gateway_subscriptions{action="create",kind="case",namespace="142033"} 0"#
    ));
    gtt.set_available(true);
    wait_until(
        "webhooks after GTT returns",
        Duration::from_secs(15),
        || webhook_names(&gtt, NS) == EXPECTED,
    )
    .await;
}

#[tokio::test]
async fn short_lived_tokens_cause_no_failed_gtt_call() {
    let mut config = sandbox_config();
    config.token_ttl = Duration::from_secs(2);
    let gtt = sandbox(config).await;
    let metrics = gtt_gateway::metrics::Metrics::new();
    let settings = gateway_settings("nats://127.0.0.1:1", &gtt, free_port(), "");
    let client = gtt_gateway::gtt::GttClient::from_settings(&settings, &metrics);
    // Calls spread over several token lifetimes, many at once each round.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(7) {
        let calls = (0..8).map(|_| client.list_webhooks(NS));
        for result in futures::future::join_all(calls).await {
            result.expect("no failed GTT call");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let text = metrics.render();
    assert!(
        !text.contains(r#"status="401""#),
        "a call hit an expired token:\n{text}"
    );
    let refreshes = gtt.stats().tokens_issued;
    assert!((3..=12).contains(&refreshes), "tokens issued: {refreshes}");
}

#[tokio::test]
async fn wrong_client_secret_is_a_clear_error_and_a_metric_not_a_crash() {
    let gtt = sandbox(sandbox_config()).await;
    let nats = NatsServer::start();
    let mut settings = gateway_settings(
        &nats.url(),
        &gtt,
        free_port(),
        "[registrar]\ninterval = \"1s\"\n",
    );
    settings.gtt.client_secret = Some(secret("wrong-secret"));
    let app = TestApp::spawn_on(nats, settings).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"gtt_gateway_token_refreshes_total{outcome="rejected"}"#),
        "{metrics}"
    );
    // Backoff, not a hot loop: a few attempts in 3 s, not hundreds.
    let attempts = gtt.stats().token_requests;
    assert!((1..=6).contains(&attempts), "token requests: {attempts}");
    // Still serving.
    assert_eq!(
        app.post("create", case_body("CS71", "Open", "x"))
            .await
            .status(),
        202
    );
    assert!(!app.task.is_finished());
    // The error says what is wrong.
    let client = gtt_gateway::gtt::GttClient::from_settings(
        &app.settings,
        &gtt_gateway::metrics::Metrics::new(),
    );
    let err = client.list_webhooks(NS).await.unwrap_err().to_string();
    assert!(err.contains("rejected the client credentials"), "{err}");
    assert!(!err.contains("wrong-secret"));
}
