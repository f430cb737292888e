//! `[mapping]`: operator labels normalize events, `check-config` refuses targets that are not
//! canonical (naming the key), and unmapped labels are counted and logged once by the binary.

use crate::binary::{assert_config_refused, gateway, write_config};
use crate::connections::Binary;
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
        assert_config_refused(dir.path(), &format!("{BASE}{mapping}"), key);
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
    let gw = Binary::start("", None).await;
    let http = reqwest::Client::new();
    let keys = gtt_core::token::TokenKeys::new(vec![secret(SECRET)]);
    let url = format!(
        "{}/v1/hooks/gtt/{NS}/case/update/{}",
        gw.base(),
        keys.token(NS, "case", "update")
    );
    let marker = "BODY-MARKER-must-not-be-logged";
    let bodies = [
        ("CS1", "Escalated", "Incident", "2 - High"),
        ("CS2", "Escalated", "Incident", "2 - High"),
        ("CS3", "Vendor Hold", "Incident", "2 - High"),
        ("CS4", "Open", "Change", "Sev A"),
    ];
    for (number, state, case_type, priority) in bodies {
        let mut body: serde_json::Value =
            serde_json::from_str(&labelled_case(number, state, case_type, priority)).unwrap();
        body["spec"]["short_description"] = marker.into();
        let answer = http.post(&url).body(body.to_string()).send().await.unwrap();
        assert_eq!(answer.status(), 202);
    }
    let metrics = gw.metrics().await;
    for (field, count) in [("state", 3), ("case_type", 1), ("priority", 1)] {
        let line = format!("gtt_gateway_unmapped_values_total{{field=\"{field}\"}} {count}");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }

    let logs = gw.stop().await;
    let mut logged: Vec<(String, String)> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Unmapped GTT label"))
        })
        .map(|l| {
            let text = |key: &str| l[key].as_str().unwrap_or_default().to_string();
            (text("field"), text("label"))
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
    assert_eq!(logged, expected, "{logs}");
    assert!(!logs.contains(marker), "a body leaked into the logs");
}
