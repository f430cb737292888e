//! Webhooks over HTTP: create, list, get, replace, delete; conflicts, 404s, validation, direct ops.

use crate::common::*;
use gtt_sandbox::SandboxConfig;
use serde_json::{Value, json};

#[tokio::test]
async fn webhook_crud() {
    let sandbox = start(SandboxConfig::default()).await;
    let api = Api::new(&sandbox).await;
    let path = webhooks_path(NS);
    let body = webhook_body(
        NS,
        "case-v1alpha-create",
        "https://gw.example/hooks/a",
        "create",
    );

    let (status, created) = api.call("POST", &path, Some(body.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created, body);

    let (status, conflict) = api.call("POST", &path, Some(body.clone())).await;
    assert_eq!(status, 409);
    assert_eq!(conflict["code"], 409);
    assert_eq!(conflict["reason"], "AlreadyExists");

    let (status, list) = api.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "webhookList");
    assert_eq!(list["items"], json!([body]));

    let one = format!("{path}/case-v1alpha-create");
    assert_eq!(api.get(&one).await, (200, body.clone()));

    let replacement = webhook_body(
        NS,
        "case-v1alpha-create",
        "https://gw.example/hooks/b",
        "create",
    );
    let (status, replaced) = api.call("PUT", &one, Some(replacement.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(replaced["spec"]["url"], "https://gw.example/hooks/b");
    assert_eq!(api.get(&one).await.1, replacement);

    let missing = format!("{path}/nope");
    let absent = webhook_body(NS, "nope", "https://gw.example/hooks/c", "create");
    assert_eq!(api.call("PUT", &missing, Some(absent)).await.0, 404);
    // A body naming another webhook than the path is invalid.
    assert_eq!(api.call("PUT", &missing, Some(replacement)).await.0, 422);
    assert_eq!(api.call("DELETE", &one, None).await.0, 204);
    assert_eq!(api.call("DELETE", &one, None).await.0, 404);
    let (status, body) = api.get(&one).await;
    assert_eq!((status, body["reason"].clone()), (404, json!("NotFound")));
    assert_eq!(api.get(&path).await.1["items"], json!([]));

    let stats = sandbox.stats();
    for (op, n) in [
        ("create_webhook", 2),
        ("list_webhooks", 2),
        ("get_webhook", 3),
        ("update_webhook", 3),
        ("delete_webhook", 2),
    ] {
        assert_eq!(stats.api_requests.get(op), Some(&n), "{op}");
    }
    sandbox.shutdown().await;
}

#[tokio::test]
async fn webhook_validation() {
    let sandbox = start(SandboxConfig::default()).await;
    let api = Api::new(&sandbox).await;
    let path = webhooks_path(NS);
    let good = webhook_body(NS, "ok", "http://127.0.0.1:9/x", "update");
    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b);
        b
    };
    let bad = [
        mutate(&|b| b["name"] = json!("Bad_Name")),
        mutate(&|b| b["name"] = json!("a".repeat(64))),
        mutate(&|b| {
            b.as_object_mut().map(|o| o.remove("name"));
        }),
        mutate(&|b| b["spec"]["url"] = json!("ftp://example.com/x")),
        mutate(&|b| b["spec"]["url"] = json!("not a url")),
        mutate(&|b| {
            b["spec"].as_object_mut().map(|o| o.remove("action"));
        }),
        mutate(&|b| b["spec"]["kind"] = json!("")),
        mutate(&|b| b["kind"] = json!("case")),
        mutate(&|b| b["version"] = json!("v1alpha")),
        mutate(&|b| b["namespace"] = json!("7")),
        mutate(&|b| b["metadata"] = json!("labels")),
        mutate(&|b| b["spec"] = json!(null)),
    ];
    for body in bad {
        let (status, answer) = api.call("POST", &path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(answer["reason"], "Invalid");
    }
    assert_eq!(api.call("POST", &path, Some(good)).await.0, 201);
    assert_eq!(
        api.call(
            "POST",
            &webhooks_path("1"),
            Some(webhook_body("1", "x", "http://a/b", "create"))
        )
        .await
        .0,
        403
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn direct_webhook_operations_show_over_http() {
    let sandbox = start(SandboxConfig::default()).await;
    let api = Api::new(&sandbox).await;
    let path = webhooks_path(NS);
    api.call(
        "POST",
        &path,
        Some(webhook_body(NS, "mine", "http://127.0.0.1:9/a", "create")),
    )
    .await;
    assert_eq!(sandbox.webhooks(NS).len(), 1);

    // Replace it with a wrong URL behind the gateway's back, then delete it.
    sandbox.put_webhook(NS, json!({"name": "mine", "spec": {"url": "http://wrong.invalid/", "version": "v1alpha", "kind": "case", "action": "create"}}));
    let (_, got) = api.get(&format!("{path}/mine")).await;
    assert_eq!(got["spec"]["url"], "http://wrong.invalid/");
    assert_eq!(got["kind"], "webhook");
    assert_eq!(got["namespace"], NS);
    sandbox.put_webhook(NS, json!("not an object"));
    assert_eq!(sandbox.webhooks(NS).len(), 1);
    assert!(sandbox.delete_webhook(NS, "mine"));
    assert!(!sandbox.delete_webhook(NS, "mine"));
    assert_eq!(api.get(&format!("{path}/mine")).await.0, 404);
    sandbox.shutdown().await;
}
