//! `[mapping]`: operator labels normalize events, `check-config` refuses targets that are not
//! canonical (naming the key), and unmapped labels are counted and logged once by the binary.

use std::process::Stdio;

use crate::binary::{gateway, stop, wait_ready, write_config};
use gtt_test_support::*;

const BASE: &str = "[callbacks]\nsecret = \"0123456789abcdef0123456789abcdef\"\n";

#[test]
fn check_config_refuses_mapping_targets_that_are_not_canonical() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[mapping.state]\nEscalated = \"escalated\"\n",
            "mapping.state.Escalated",
        ),
        (
            "[mapping.case_type]\n\"Change Request\" = \"change\"\n",
            "mapping.case_type.\"Change Request\"",
        ),
        (
            "[mapping.priority]\n\"Sev A\" = 7\n",
            "mapping.priority.\"Sev A\"",
        ),
        (
            "[mapping.priority]\nUrgent = \"1\"\n",
            "mapping.priority.Urgent",
        ),
        ("[mapping.states]\nOpen = \"open\"\n", "mapping.states"),
    ];
    for (mapping, key) in cases {
        let path = write_config(dir.path(), &format!("{BASE}{mapping}"));
        let out = gateway(&["--config", path.to_str().unwrap(), "check-config"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{mapping}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{key} not named in: {stderr}");
    }
    let good = "[mapping.state]\nEscalated = \"in_progress\"\n[mapping.case_type]\n\
                Change = \"other\"\n[mapping.priority]\n\"Sev A\" = 1\n";
    let path = write_config(dir.path(), &format!("{BASE}{good}"));
    let out = gateway(&["--config", path.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A case body whose state, type and priority are `state`, `case_type` and `priority`.
pub fn labelled_case(number: &str, state: &str, case_type: &str, priority: &str) -> String {
    let mut body: serde_json::Value = serde_json::from_str(&case_body(number, state, "x")).unwrap();
    body["spec"]["case_type"] = case_type.into();
    body["spec"]["priority"] = priority.into();
    body.to_string()
}

#[tokio::test]
async fn mapped_labels_normalize_events() {
    let app = TestApp::spawn_with(
        "[mapping.state]\n\"Escalated\" = \"in_progress\"\n[mapping.case_type]\n\
         \"Change\" = \"service_request\"\n[mapping.priority]\n\"Sev A\" = 1\n",
    )
    .await;
    let answer = app
        .post(
            "create",
            labelled_case("CS1", "ESCALATED", "change", "Sev A"),
        )
        .await;
    assert_eq!(answer.status(), 202);
    let event: serde_json::Value = serde_json::from_slice(&app.stored().await[0].payload).unwrap();
    assert_eq!(event["data"]["state"], "in_progress");
    assert_eq!(event["data"]["state_raw"], "ESCALATED");
    assert_eq!(event["data"]["case_type"], "service_request");
    assert_eq!(event["data"]["priority"]["level"], 1);
    let metrics = app.metrics().await;
    for field in ["state", "case_type", "priority"] {
        let line = format!("gtt_gateway_unmapped_values_total{{field=\"{field}\"}} 0");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn unmapped_labels_are_counted_and_logged_once_per_label() {
    let nats = NatsServer::start();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "namespaces = [\"{NS}\"]\n[server]\nlisten = \"127.0.0.1:{port}\"\n[nats]\nurl = \"{}\"\n\
             [callbacks]\nsecret = \"{SECRET}\"\n[registrar]\nenabled = false\n",
            nats.url()
        ),
    );
    let mut child = gateway(&["--config", config.to_str().unwrap(), "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    wait_ready(&http, port).await;
    let keys = gtt_core::token::TokenKeys::new(vec![secret(SECRET)]);
    let url = format!(
        "http://127.0.0.1:{port}/v1/hooks/gtt/{NS}/case/update/{}",
        keys.token(NS, "case", "update")
    );
    let marker = "BODY-MARKER-must-not-be-logged";
    for (number, state) in [
        ("CS1", "Escalated"),
        ("CS2", "Escalated"),
        ("CS3", "Vendor Hold"),
    ] {
        let mut body: serde_json::Value =
            serde_json::from_str(&labelled_case(number, state, "Incident", "2 - High")).unwrap();
        body["spec"]["short_description"] = marker.into();
        let answer = http.post(&url).body(body.to_string()).send().await.unwrap();
        assert_eq!(answer.status(), 202);
    }
    let answer = http
        .post(&url)
        .body(labelled_case("CS4", "Open", "Change", "Sev A"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let metrics = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (field, count) in [("state", 3), ("case_type", 1), ("priority", 1)] {
        let line = format!("gtt_gateway_unmapped_values_total{{field=\"{field}\"}} {count}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    assert!(stop(&mut child, "-TERM").await.success());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let unmapped: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Unmapped GTT label"))
        })
        .collect();
    let mut logged: Vec<(String, String)> = unmapped
        .iter()
        .map(|l| {
            let fields = if l["fields"].is_object() {
                &l["fields"]
            } else {
                l
            };
            (
                fields["field"].as_str().unwrap_or_default().to_string(),
                fields["label"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    logged.sort();
    let expected = [
        ("case_type", "Change"),
        ("priority", "Sev A"),
        ("state", "Escalated"),
        ("state", "Vendor Hold"),
    ]
    .map(|(f, l)| (f.to_string(), l.to_string()));
    assert_eq!(logged, expected, "{stdout}");
    assert!(!stdout.contains(marker), "a body leaked into the logs");
}
