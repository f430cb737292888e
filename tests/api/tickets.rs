//! `gtt-gateway tickets show` (the real binary): a ticket's record from the bucket and its
//! history from the stream, as tables and as JSON; a ticket that does not exist says so.

use crate::binary::{operator_config, run_command};
use gtt_test_support::*;

/// `gtt-gateway --config CONFIG tickets show ARGS`: exit code, stdout, stderr.
async fn show(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    run_command(config, &[&["tickets", "show"], args].concat()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_prints_the_record_and_the_history_of_a_ticket() {
    let app = TestApp::spawn().await;
    let opened = case_body("CS0074187", "Open", "MPLS circuit down");
    assert_eq!(app.post("create", opened).await.status(), 202);
    let mut working: serde_json::Value =
        serde_json::from_str(&case_body("CS0074187", "In Progress", "MPLS circuit down")).unwrap();
    working["spec"]["priority"] = "1 - Critical".into();
    working["spec"]["updated_at"] = "2025-03-04 11:00:00".into();
    assert_eq!(app.post("update", working.to_string()).await.status(), 202);
    // Another ticket, whose events must not show.
    assert_eq!(
        app.post("create", case_body("CS0074188", "Open", "other"))
            .await
            .status(),
        202
    );

    let dir = tempfile::tempdir().unwrap();
    let config = operator_config(dir.path(), &app.nats.url(), "");

    // Every configured namespace is searched; the ticket is in one.
    let (code, out, err) = show(&config, &["CS0074187"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.starts_with(&format!("Ticket CS0074187 in namespace {NS}\n")),
        "{out}"
    );
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in\n{out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        out.contains("Current state (as of 2025-03-04T11:00:00+00:00, event "),
        "{out}"
    );
    assert_eq!(line("  state "), "state in_progress");
    assert_eq!(
        line("  short_description"),
        "short_description MPLS circuit down"
    );
    assert!(out.contains("History (2 events):"), "{out}");
    assert_eq!(line("TIME"), "TIME ORIGIN ACTION STATE CHANGED");
    assert_eq!(
        line("2025-03-04T10:20:30Z"),
        "2025-03-04T10:20:30Z webhook created open -"
    );
    assert_eq!(
        line("2025-03-04T11:00:00Z"),
        "2025-03-04T11:00:00Z webhook updated in_progress priority, state, updated_at"
    );
    assert!(!out.contains("CS0074188"), "{out}");

    // JSON: the same, whole.
    let (code, out, err) = show(&config, &["CS0074187", "--namespace", NS, "--json"]).await;
    assert_eq!(code, Some(0), "{err}");
    let found: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ticket = &found[0];
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(ticket["namespace"], NS);
    assert_eq!(ticket["record"]["data"]["state"], "in_progress");
    assert_eq!(ticket["record"]["data"]["priority"]["level"], 1);
    let history = ticket["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["origin"], "webhook");
    assert_eq!(history[1]["type"], "net.gtt.case.updated");
    let changes = history[1]["changes"].as_array().unwrap();
    let state = changes.iter().find(|c| c["field"] == "state").unwrap();
    assert_eq!(state["old"], "open");
    assert_eq!(ticket["record"]["event_id"], history[1]["id"]);

    // A ticket that does not exist (anywhere, or in the namespace named) says so, exit 1.
    for args in [&["CS9999999"][..], &["CS0074187", "--namespace", "7"][..]] {
        let (code, out, err) = show(&config, args).await;
        assert_eq!(code, Some(1), "{args:?}: {out}");
        assert!(err.contains("no ticket"), "{err}");
        assert!(out.is_empty(), "{out}");
    }
    // A namespace that cannot exist is a usage error naming the flag.
    let (code, _, err) = show(&config, &["CS0074187", "--namespace", "a.b"]).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("--namespace"), "{err}");
}
