//! Token endpoint: success shape, Keycloak-style errors, real expiry.

use std::time::Duration;

use crate::common::*;
use gtt_sandbox::{SandboxClient, SandboxConfig};
use serde_json::json;

#[tokio::test]
async fn token_success_shape_and_use() {
    let sandbox = start(SandboxConfig::default()).await;
    let (status, body) = client_credentials(&sandbox, CLIENT_ID, CLIENT_SECRET).await;
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().expect("access_token");
    assert!(token.starts_with("eyJ") && token.len() == 43, "{token}");
    assert!(
        token[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["refresh_expires_in"], 1800);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["not-before-policy"], 0);
    assert_eq!(body["scope"], "email profile");

    // Two requests give two different tokens, both usable.
    let other = token_for(&sandbox, CLIENT_ID, CLIENT_SECRET).await;
    assert_ne!(other, token);
    let response = http()
        .get(format!("{}{}", sandbox.base_url(), cases_path(NS)))
        .bearer_auth(token)
        .send()
        .await
        .expect("list");
    assert_eq!(response.status().as_u16(), 200);

    let stats = sandbox.stats();
    assert_eq!(stats.token_requests, 2);
    assert_eq!(stats.tokens_issued, 2);
    assert_eq!(stats.api_requests.get("token"), Some(&2));
    assert_eq!(stats.api_requests.get("list_cases"), Some(&1));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bad_client_credentials_are_401() {
    let sandbox = start(SandboxConfig::default()).await;
    let expected = json!({
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
    });
    for auth in [
        Some(basic(CLIENT_ID, "wrong-secret")),
        Some(basic("nobody", CLIENT_SECRET)),
        Some("Basic !!!not-base64".to_owned()),
        Some("Bearer something".to_owned()),
        None,
    ] {
        let (status, body) =
            token_request(&sandbox, auth.as_deref(), "grant_type=client_credentials").await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(body, expected, "{auth:?}");
    }
    let stats = sandbox.stats();
    assert_eq!(stats.token_requests, 5);
    assert_eq!(stats.tokens_issued, 0);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn bad_grant_type_is_400() {
    let sandbox = start(SandboxConfig::default()).await;
    let expected =
        json!({"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"});
    let auth = basic(CLIENT_ID, CLIENT_SECRET);
    for form in ["grant_type=password", "", "scope=email"] {
        let (status, body) = token_request(&sandbox, Some(&auth), form).await;
        assert_eq!(status, 400, "{form:?}");
        assert_eq!(body, expected, "{form:?}");
    }
    // A JSON body is not a form: no grant_type.
    let response = http()
        .post(sandbox.token_url())
        .header("authorization", &auth)
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn tokens_really_expire() {
    let sandbox = start(SandboxConfig {
        token_ttl: Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await;
    let (status, body) = client_credentials(&sandbox, CLIENT_ID, CLIENT_SECRET).await;
    assert_eq!(status, 200);
    assert_eq!(body["expires_in"], 1);
    let api = Api::new(&sandbox).await;
    assert_eq!(api.get(&cases_path(NS)).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let response = api
        .client
        .get(format!("{}{}", api.base, cases_path(NS)))
        .bearer_auth(&api.token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["code"], 401);
    assert_eq!(body["reason"], "Unauthorized");
    assert!(body["message"].is_string());
    assert_eq!(sandbox.stats().unauthorized, 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn clients_restricted_to_namespaces_get_403_elsewhere() {
    let sandbox = start(SandboxConfig {
        clients: vec![
            SandboxClient::new(CLIENT_ID, CLIENT_SECRET),
            SandboxClient::new("tenant-b", "secret-b").with_namespaces(["2135"]),
        ],
        namespaces: vec![NS.to_owned(), "2135".to_owned()],
        ..SandboxConfig::default()
    })
    .await;
    let mut api = Api::new(&sandbox).await;
    assert_eq!(api.get(&cases_path("2135")).await.0, 200);
    api.token = token_for(&sandbox, "tenant-b", "secret-b").await;
    assert_eq!(api.get(&cases_path("2135")).await.0, 200);
    let (status, body) = api.get(&cases_path(NS)).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], 403);
    assert_eq!(body["reason"], "Forbidden");
    let (status, _) = api.get(&webhooks_path(NS)).await;
    assert_eq!(status, 403);
    assert_eq!(sandbox.stats().forbidden, 2);
    sandbox.shutdown().await;
}
