//! `gtt-gateway backfill` (the real binary) against the sandbox: after an outage that lost
//! webhooks, it stores exactly the missing changes, through the polling path and with the same
//! ids; a second backfill stores nothing; `--until` leaves later changes out.

use std::time::Duration;

use gtt_sandbox::DeliveryConfig;
use serde_json::json;

use crate::binary::{operator_config, run_command, write_config};
use crate::reconcile::{assert_exactly_once, open_tickets};
use crate::registrar::{gateway_settings, sandbox, sandbox_config, wait_until};
use gtt_test_support::*;

/// `gtt-gateway --config CONFIG backfill ARGS`: exit code, stdout, stderr.
async fn backfill(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    run_command(config, &[&["backfill"], args].concat()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_after_an_outage_stores_exactly_the_missing_changes_once() {
    let gtt = sandbox(sandbox_config()).await;
    let nats = NatsServer::start();
    // Webhooks only: nothing polls.
    let settings = gateway_settings(&nats.url(), &gtt, free_port(), "");
    let app = TestApp::spawn_on(nats, settings).await;
    wait_until("webhooks", Duration::from_secs(10), || {
        gtt.webhooks(NS).len() == 2
    })
    .await;
    let since = (chrono::Utc::now() - chrono::Duration::seconds(2)).to_rfc3339();

    // Four tickets opened and delivered.
    let (names, mut expected) = open_tickets(&gtt, 4);
    assert_exactly_once(&app, &expected, Duration::from_secs(5)).await;

    // The outage: GTT loses every webhook while three of the tickets change.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before_outage = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    gtt.set_delivery(DeliveryConfig {
        drop_rate: 1.0,
        ..DeliveryConfig::default()
    });
    for name in &names[..3] {
        gtt.update_case(
            NS,
            name,
            json!({"state": "In Progress", "comment": "working"}),
        )
        .unwrap();
        expected.insert((name.clone(), 1), "in_progress".to_string());
    }
    assert!(gtt.wait_deliveries_idle(Duration::from_secs(5)).await);
    assert_eq!(gtt.stats().deliveries_dropped, 3);
    assert_eq!(app.stored().await.len(), 4, "the outage lost the changes");

    let dir = tempfile::tempdir().unwrap();
    let config = operator_config(dir.path(), &app.nats.url(), &gtt.gtt_config_toml());

    // A window that ends before the outage finds the changed tickets, but leaves them out.
    let (code, out, err) = backfill(
        &config,
        &[
            "--namespace",
            NS,
            "--since",
            &since,
            "--until",
            &before_outage,
            "--json",
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{out}{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["seen"], 4, "{summary}");
    assert_eq!(summary["after_until"], 3, "{summary}");
    assert_eq!(summary["already_stored"], 1, "{summary}");
    assert_eq!(summary["stored"], 0, "{summary}");
    assert_eq!(app.stored().await.len(), 4);

    // The whole window: exactly the three lost changes are stored (plain progress lines and a
    // summary, stdout not being a terminal).
    let (code, out, err) = backfill(&config, &["--namespace", NS, "--since", &since]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("page 1: seen 4, stored 3, already stored 1"),
        "{out}"
    );
    for line in [
        "  seen                  4",
        "  stored                3",
        "  already stored        1",
        "  dead-lettered         0",
        "  errors                0",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    assert_exactly_once(&app, &expected, Duration::from_secs(5)).await;
    let stored = app.stored().await;
    let origins: Vec<String> = stored
        .iter()
        .map(|m| serde_json::from_slice::<serde_json::Value>(&m.payload).unwrap())
        .map(|e| e["gttorigin"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        origins.iter().filter(|o| *o == "poll").count(),
        3,
        "{origins:?}"
    );
    // The ticket records in the bucket moved on to the backfilled states.
    let bucket = app.js.get_key_value("GTT_STATE").await.unwrap();
    let record = bucket
        .get(format!("case.{NS}.{}", names[0]))
        .await
        .unwrap()
        .unwrap();
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["data"]["state"], "in_progress", "{record}");

    // A second backfill of the same window stores nothing.
    let (code, out, err) =
        backfill(&config, &["--namespace", NS, "--since", &since, "--json"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["stored"], 0, "{summary}");
    assert_eq!(summary["already_stored"], 4, "{summary}");
    assert_eq!(app.stored().await.len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_errors_name_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("namespaces = [\"{NS}\"]\n[callbacks]\nsecret = \"{SECRET}\"\n");
    let with_gtt =
        format!("{base}[gtt]\nclient_id = \"gateway\"\nclient_secret = \"a-client-secret\"\n");
    for (config, args, code, named) in [
        (
            base.as_str(),
            &["--namespace", NS, "--since", "1h"][..],
            78,
            "gtt.client_id",
        ),
        (
            with_gtt.as_str(),
            &["--namespace", "999", "--since", "1h"][..],
            2,
            "--namespace",
        ),
        (
            with_gtt.as_str(),
            &["--namespace", NS, "--since", "last week"][..],
            2,
            "--since",
        ),
        (
            with_gtt.as_str(),
            &["--namespace", NS, "--since", "1h", "--until", "2h"][..],
            2,
            "--until",
        ),
        (with_gtt.as_str(), &["--since", "1h"][..], 2, "--namespace"),
    ] {
        let path = write_config(dir.path(), config);
        let (exit, out, err) = backfill(&path, args).await;
        assert_eq!(exit, Some(code), "{args:?}: {out}{err}");
        assert!(err.contains(named), "{args:?}: {err}");
    }
}
