//! The consumer contract: published events against the JSON Schemas, subjects against the
//! AsyncAPI channels, and the OpenAPI document against the routes the gateway serves.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use gtt_test_support::*;

fn doc(path: &str) -> Value {
    let text =
        std::fs::read_to_string(format!("{}/docs/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The event schema with its `$ref` to the data schema resolved in place (an embedded
/// schema resource, as JSON Schema 2020-12 allows), so no retrieval is needed.
pub fn event_validator() -> jsonschema::Validator {
    let mut event = doc("schemas/case-event.schema.json");
    assert_eq!(event["properties"]["data"]["$ref"], "case-data.schema.json");
    event["properties"]["data"] = doc("schemas/case-data.schema.json");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&event)
        .expect("valid schema")
}

fn schema_errors(validator: &jsonschema::Validator, event: &Value) -> Vec<String> {
    validator
        .iter_errors(event)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test]
async fn published_case_events_match_the_json_schema() {
    let app = TestApp::spawn().await;
    let bodies = [
        case_body("CS80", "Open", "Störung – 東京"),
        case_body("CS80", "In Progress", "Störung – 東京"),
        case_body("CS81", "Something Odd", "unknown state kept"),
        json!({"data": {"kind": "case", "name": "CS82", "spec": {"priority": 3, "opened_at": "2025-01-02T03:04:05+02:00"}}, "action": "update"}).to_string(),
        json!({"name": "CS83", "spec": {}}).to_string(),
    ];
    for body in bodies {
        assert_eq!(app.post("update", body).await.status(), 202);
    }
    let validator = event_validator();
    let stored = app.stored().await;
    assert_eq!(stored.len(), 5);
    for msg in &stored {
        let event: Value = serde_json::from_slice(&msg.payload).unwrap();
        let errors = schema_errors(&validator, &event);
        assert!(errors.is_empty(), "{}: {errors:?}\n{event:#}", msg.subject);
    }
    // The second event of CS80 carries its changes.
    let second: Value = serde_json::from_slice(&stored[1].payload).unwrap();
    assert_eq!(second["gttstatechanged"], true);
    assert_eq!(
        second["data"]["changes"][0],
        json!({"field": "state", "old": "open", "new": "in_progress"})
    );

    // And the schema is not vacuous: a broken event fails it.
    let mut broken: Value = serde_json::from_slice(&stored[0].payload).unwrap();
    broken["data"]["state"] = "Open".into();
    assert!(!validator.is_valid(&broken));
    broken = serde_json::from_slice(&stored[0].payload).unwrap();
    broken["data"].as_object_mut().unwrap().remove("raw");
    assert!(!validator.is_valid(&broken));
}

#[tokio::test]
async fn events_from_hostile_values_still_match_the_json_schema() {
    let app = TestApp::spawn().await;
    let versions = [
        "v1 alpha", "../../x", "a/b", "é", "{x}", "a#b?c", "%zz", "a\\b", "<>|^`", "\u{0}\n", "",
    ];
    let mut bodies: Vec<String> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"kind": "case", "version": v, "name": format!("CS{i}"), "spec": {}}))
        .map(|body| body.to_string())
        .collect();
    for (i, t) in [
        json!(8_000_000_000_000_000u64),
        json!("9999-12-31 23:59:59"),
        json!("+10000-01-01"),
        json!("-0001-01-01"),
        json!(1e300),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"name": format!("T{i}"), "spec": {"opened_at": t, "closed_at": t}});
        bodies.push(body.to_string());
    }
    bodies.push(
        r#"{"name":"a.b *>\t東京","spec":{"priority":123456789012345678901234567890,"state":"\u0000"}}"#
            .into(),
    );
    for body in &bodies {
        let (status, answer) = json(app.post("update", body.clone()).await).await;
        assert_eq!(
            (status, &answer["dead_lettered"]),
            (202, &json!(false)),
            "{body}"
        );
    }
    let validator = event_validator();
    let stored = app.stored().await;
    assert_eq!(stored.len(), bodies.len());
    for msg in &stored {
        let event: Value = serde_json::from_slice(&msg.payload).unwrap();
        let errors = schema_errors(&validator, &event);
        assert!(errors.is_empty(), "{}: {errors:?}\n{event:#}", msg.subject);
    }
}

/// `gtt.{namespace}.case.{action}.{name}` -> does `subject` fit it?
fn fits(address: &str, subject: &str) -> bool {
    let pattern: Vec<&str> = address.split('.').collect();
    let tokens: Vec<&str> = subject.split('.').collect();
    pattern.len() == tokens.len()
        && pattern
            .iter()
            .zip(&tokens)
            .all(|(p, t)| (p.starts_with('{') && p.ends_with('}') && !t.is_empty()) || p == t)
}

#[tokio::test]
async fn every_published_subject_is_an_asyncapi_channel() {
    let app = TestApp::spawn().await;
    let asyncapi = doc("asyncapi.json");
    assert_eq!(asyncapi["asyncapi"], "3.0.0");
    let channels: Vec<String> = asyncapi["channels"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect();
    app.post("create", case_body("CS.90", "Open", "x")).await;
    app.post("create", "garbage").await;
    let site = r#"{"kind":"site","name":"hq","spec":{}}"#;
    app.http
        .post(app.hook_url(NS, "site", "create"))
        .body(site)
        .send()
        .await
        .unwrap();
    let stored = app.stored().await;
    assert_eq!(stored.len(), 3);
    let mut used = BTreeSet::new();
    for msg in &stored {
        let channel = channels
            .iter()
            .find(|c| fits(c, &msg.subject))
            .unwrap_or_else(|| panic!("{} fits no channel of {channels:?}", msg.subject));
        used.insert(channel.clone());
        assert!(
            msg.headers.get("Nats-Msg-Id").is_some(),
            "Nats-Msg-Id on {}",
            msg.subject
        );
    }
    assert_eq!(used.len(), 3, "each channel kind was exercised: {used:?}");
}

#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let openapi = doc("openapi.json");
    let documented: BTreeSet<String> = openapi["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let served: BTreeSet<String> = [
        gtt_gateway::http::CALLBACK_ROUTE,
        gtt_gateway::http::HEALTHZ,
        gtt_gateway::http::READYZ,
        gtt_gateway::http::METRICS,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, served, "every route documented, nothing extra");

    // Each documented operation answers with a documented status; undocumented methods don't exist.
    let app = TestApp::spawn().await;
    let hook = app.hook_url(NS, "case", "create");
    let base = format!("http://{}", app.addr);
    for (path, item) in openapi["paths"].as_object().unwrap() {
        let url = if path.starts_with("/v1/hooks") {
            hook.clone()
        } else {
            format!("{base}{path}")
        };
        for method in ["get", "post", "put", "delete", "patch"] {
            let request = app
                .http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .body(case_body("CS91", "Open", "x"));
            let status = request.send().await.unwrap().status().as_u16().to_string();
            match item.get(method) {
                Some(op) => assert!(
                    op["responses"].get(&status).is_some(),
                    "{method} {path} answered {status}, not documented"
                ),
                None => assert_eq!(
                    status, "405",
                    "{method} {path} is not documented but answered {status}"
                ),
            }
        }
    }
    // The 401 and 415 paths are documented too.
    let bad = format!("{base}/v1/hooks/gtt/{NS}/case/create/{}", "0".repeat(64));
    for (url, encoding, expected) in [(bad, "identity", 401), (hook, "br", 415)] {
        let status = app
            .http
            .post(url)
            .header("content-encoding", encoding)
            .body("{}")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, expected);
        assert!(
            openapi["paths"]["/v1/hooks/gtt/{namespace}/{kind}/{action}/{token}"]["post"]
                ["responses"]
                .get(status.to_string())
                .is_some(),
            "{status} not documented"
        );
    }
}

/// Every `gtt_gateway_*` name in `text`, with histogram suffixes folded into the family name.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("gtt_gateway_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        if family.len() > "gtt_gateway_".len() {
            names.insert(family.to_string());
        }
        rest = &tail[end..];
    }
    names
}

// Multi-threaded: the sandbox, the gateway and its loops share the test runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_use_only_metrics_the_gateway_exports() {
    // A gateway with registrar and poller against the sandbox, so every metric family has series.
    let mut config = crate::registrar::sandbox_config();
    config.delivery.enabled = false;
    let gtt = crate::registrar::sandbox(config).await;
    let nats = NatsServer::start();
    let settings = crate::registrar::gateway_settings(
        &nats.url(),
        &gtt,
        free_port(),
        "[reconcile]\nenabled = true\ninterval = \"300ms\"\n",
    );
    let app = TestApp::spawn_on(nats, settings).await;
    gtt.create_case(NS, json!({"short_description": "x", "case_type": "Incident", "priority": "1 - Critical", "category": "Secure Network"}))
        .unwrap();
    assert_eq!(
        app.post("create", case_body("CS92", "Open", "x"))
            .await
            .status(),
        202
    );
    crate::registrar::wait_until(
        "a poll recovered the case",
        std::time::Duration::from_secs(10),
        || app.stored_now() >= 2,
    )
    .await;
    let exported = metric_names(&app.metrics().await);

    let root = env!("CARGO_MANIFEST_DIR");
    for file in [
        "charts/gtt-gateway/files/dashboard.json",
        "charts/gtt-gateway/files/alerts.yaml",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let used = metric_names(&text);
        assert!(used.len() >= 5, "{file} references metrics: {used:?}");
        let missing: Vec<_> = used.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} uses metrics /metrics does not export: {missing:?}\nexported: {exported:?}"
        );
    }
    if let Ok(dashboard) =
        std::fs::read_to_string(format!("{root}/charts/gtt-gateway/files/dashboard.json"))
    {
        serde_json::from_str::<Value>(&dashboard).expect("dashboard JSON parses");
    }
}
