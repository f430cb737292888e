//! `gtt-gateway status` (the real binary): per namespace the webhooks at GTT, the poller's
//! watermark and lease, the last event and the dead letters by reason, and the stores against
//! their limits, as tables and JSON; with GTT not configured, GTT down, or NATS down, it says
//! what it cannot know and shows the rest.

use std::time::Duration;

use serde_json::{Value, json};

use crate::binary::{gateway, write_config};
use crate::deadletter_cli::{post_dead, wait_for_letters};
use crate::registrar::{gateway_settings, sandbox, sandbox_config, wait_until};
use gtt_test_support::*;

const POLL: &str = "[reconcile]\nenabled = true\ninterval = \"400ms\"\n";

/// Run `status` with this config text; (exit code, stdout, stderr).
fn status(dir: &std::path::Path, config: &str, json: bool) -> (i32, String, String) {
    let path = write_config(dir, config);
    let mut args = vec!["--config", path.to_str().unwrap(), "status"];
    if json {
        args.push("--json");
    }
    let out = gateway(&args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn status_json(dir: &std::path::Path, config: &str) -> (i32, Value) {
    let (code, stdout, stderr) = status(dir, config, true);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    (code, report)
}

fn namespace<'a>(report: &'a Value, name: &str) -> &'a Value {
    entry(&report["namespaces"], "namespace", name)
}

fn store<'a>(report: &'a Value, name: &str) -> &'a Value {
    entry(&report["storage"], "store", name)
}

fn base_config(nats_url: &str, extra: &str) -> String {
    format!(
        "namespaces = [\"{NS}\", \"7\"]\n[nats]\nurl = \"{nats_url}\"\n[callbacks]\nsecret = \"{SECRET}\"\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_webhooks_poller_last_event_dead_letters_and_storage() {
    let gtt = sandbox(sandbox_config()).await;
    let nats = NatsServer::start();
    let port = free_port();
    let settings = gateway_settings(&nats.url(), &gtt, port, POLL);
    let app = TestApp::spawn_on(nats, settings).await;
    wait_until("webhooks", Duration::from_secs(10), || {
        gtt.webhooks(NS).len() == 2 && gtt.webhooks("7").len() == 2
    })
    .await;
    let case = gtt
        .create_case(NS, json!({"short_description": "Site down", "case_type": "Incident", "priority": "2 - High", "category": "Secure Network"}))
        .unwrap();
    let name = case["name"].as_str().unwrap().to_string();
    post_dead(&app, NS, "update", b"not json").await;
    post_dead(&app, NS, "update", b"not json either").await;
    wait_for_letters(&app, 2).await;
    let kv = app.js.get_key_value("GTT_STATE").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while kv.get(format!("watermark.{NS}")).await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "no watermark stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // GTT changed behind the registrar's back: one webhook gone in 7, someone else's added.
    assert!(gtt.delete_webhook("7", "gtt-gateway-case-v1alpha-update"));
    gtt.put_webhook("7", json!({
        "kind": "webhook", "version": "v1", "namespace": "7", "name": "crm-case-v1alpha-create",
        "spec": {"url": "https://crm.example/hook", "version": "v1alpha", "kind": "case", "action": "create"}
    }));

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "namespaces = [\"{NS}\", \"7\"]\n[nats]\nurl = \"{}\"\n[callbacks]\npublic_url = \"http://127.0.0.1:{port}\"\nsecret = \"{SECRET}\"\n{}",
        app.nats.url(),
        gtt.gtt_config_toml()
    );
    let (code, report) = status_json(dir.path(), &config);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["nats_reachable"], true);
    assert_eq!(report["missing"], json!([]), "{report:#}");
    let ns = namespace(&report, NS);
    assert_eq!(
        ns["webhooks"],
        json!({"wanted": 2, "in_place": 2, "wrong": 0, "missing": 0, "others": 0})
    );
    assert!(ns["watermark"].is_string(), "{ns:#}");
    assert!(
        ns["lease"]["owner"].as_str().is_some_and(|o| !o.is_empty()),
        "{ns:#}"
    );
    assert_eq!(ns["lease"]["expired"], false);
    let last = ns["last_event"]["subject"].as_str().unwrap();
    assert!(
        last.starts_with("gtt.142033.case.") && last.ends_with(&name),
        "{last}"
    );
    assert!(ns["last_event"]["stored_at"].is_string());
    assert_eq!(ns["dead_letters"], json!({"not_json": 2}));
    let seven = namespace(&report, "7");
    assert_eq!(
        seven["webhooks"],
        json!({"wanted": 2, "in_place": 1, "wrong": 0, "missing": 1, "others": 1})
    );
    assert_eq!(seven["last_event"], Value::Null);
    assert_eq!(seven["dead_letters"], json!({}));
    let events = store(&report, "events");
    assert_eq!(events["stream"], "GTT_EVENTS");
    assert_eq!(events["exists"], true);
    assert!(events["messages"].as_u64().unwrap() >= 3, "{events}");
    assert_eq!(events["max_bytes"], 1024 * 1024 * 1024);
    assert_eq!(events["max_age"], "7days");
    assert_eq!(store(&report, "state")["stream"], "KV_GTT_STATE");
    assert_eq!(store(&report, "state")["max_bytes"], 256 * 1024 * 1024);
    let letters = store(&report, "deadletters");
    assert_eq!(letters["messages"], 2);
    assert_eq!(letters["max_age"], "30days");

    let (code, table, _) = status(dir.path(), &config, false);
    assert_eq!(code, 0);
    let row = |start: &str| {
        table
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no {start} row in\n{table}"))
            .to_string()
    };
    assert!(row("NAMESPACE").contains("DEAD LETTERS"), "{table}");
    assert!(
        row(NS).contains("2/2 in place") && row(NS).contains("not_json 2"),
        "{table}"
    );
    assert!(row(NS).contains(&name), "{table}");
    assert!(
        row("7 ").contains("1/2 in place, 1 missing, 1 other"),
        "{table}"
    );
    assert!(
        row("STORE").contains("LIMIT") && row("STORE").contains("USED"),
        "{table}"
    );
    assert!(
        row("events").contains("GTT_EVENTS") && row("events").contains("1.0 GiB"),
        "{table}"
    );
    assert!(
        row("deadletters").contains("GTT_DEADLETTERS") && row("deadletters").contains("30days"),
        "{table}"
    );
    assert!(!table.contains("not known"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_without_gtt_with_gtt_down_and_with_nats_down_shows_what_it_knows() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.post("update", case_body("CS1", "Open", "x"))
            .await
            .status(),
        202
    );
    let dir = tempfile::tempdir().unwrap();

    // GTT not configured: webhooks unknown, said why; the rest is there; exit 0.
    let (code, report) = status_json(dir.path(), &base_config(&app.nats.url(), ""));
    assert_eq!(code, 0);
    let ns = namespace(&report, NS);
    assert_eq!(ns["webhooks"], Value::Null);
    assert_eq!(ns["last_event"]["subject"], "gtt.142033.case.updated.CS1");
    assert_eq!(ns["dead_letters"], json!({}));
    let missing = report["missing"].to_string();
    assert!(
        missing.contains("GTT webhooks: not checked") && missing.contains("gtt.client_id"),
        "{missing}"
    );

    // GTT configured but down.
    let closed = free_port();
    let gtt_down = format!(
        "[gtt]\napi_url = \"http://127.0.0.1:{closed}\"\nauth_url = \"http://127.0.0.1:{closed}/token\"\n\
         client_id = \"gateway\"\nclient_secret = \"gtt-client-secret-SHOULD-NOT-APPEAR\"\n"
    );
    let config = base_config(&app.nats.url(), &gtt_down).replace(
        "[callbacks]\n",
        "[callbacks]\npublic_url = \"https://hooks.example.com\"\n",
    );
    let started = std::time::Instant::now();
    let (code, stdout, stderr) = status(dir.path(), &config, false);
    assert_eq!(code, 0, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        stdout.contains("not known:") && stdout.contains("GTT webhooks of 142033"),
        "{stdout}"
    );
    assert!(stdout.contains("gtt.142033.case.updated.CS1"), "{stdout}");
    assert!(!format!("{stdout}{stderr}").contains("SHOULD-NOT-APPEAR"));

    // NATS down: what GTT says is still shown; exit 1, naming the key.
    let nats_down = base_config(&format!("nats://127.0.0.1:{}", free_port()), "");
    let (code, stdout, _) = status(dir.path(), &nats_down, false);
    assert_eq!(code, 1);
    assert!(stdout.contains("nats.url"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with(NS) && l.contains('?')),
        "{stdout}"
    );
    let (code, report) = status_json(dir.path(), &nats_down);
    assert_eq!(code, 1);
    assert_eq!(report["nats_reachable"], false);
    assert_eq!(namespace(&report, NS)["dead_letters"], Value::Null);
}

#[test]
fn status_has_help() {
    let out = gateway(&["status", "--help"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("--json"));
}
