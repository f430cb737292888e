//! Callback authentication end to end: token rotation, Standard Webhooks and generic HMAC.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use gtt_test_support::*;

const OLD: &str = "old-callback-secret-0123456789";
const NEW: &str = "new-callback-secret-0123456789";

#[tokio::test]
async fn token_rotation_accepts_previous_secret_until_it_is_removed() {
    let old_token = gtt_core::token::TokenKeys::new(vec![secret(OLD)]).token(NS, "case", "create");
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.callbacks.secret = Some(secret(NEW));
    settings.callbacks.previous_secrets = vec![secret(OLD)];
    let app = TestApp::spawn_on(nats, settings).await;
    let old_url = format!(
        "http://{}/v1/hooks/gtt/{NS}/case/create/{old_token}",
        app.addr
    );
    let new_url = app.hook_url(NS, "case", "create");
    assert!(new_url.ends_with(
        &gtt_core::token::TokenKeys::new(vec![secret(NEW)]).token(NS, "case", "create")
    ));
    let r1 = app
        .http
        .post(&old_url)
        .body(case_body("CS20", "Open", "a"))
        .send()
        .await
        .unwrap();
    let r2 = app
        .http
        .post(&new_url)
        .body(case_body("CS21", "Open", "b"))
        .send()
        .await
        .unwrap();
    assert_eq!((r1.status().as_u16(), r2.status().as_u16()), (202, 202));

    // Rotation finished: the old secret is gone.
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.callbacks.secret = Some(secret(NEW));
    let app = TestApp::spawn_on(nats, settings).await;
    let old_url = format!(
        "http://{}/v1/hooks/gtt/{NS}/case/create/{old_token}",
        app.addr
    );
    let r = app
        .http
        .post(&old_url)
        .body(case_body("CS22", "Open", "c"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(app.stored().await.is_empty());
}

/// The Standard Webhooks spec's own test secret.
const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn sw_sign(id: &str, ts: i64, body: &str) -> String {
    let key = STANDARD.decode(WHSEC.trim_start_matches("whsec_")).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn standard_webhooks_signed_callbacks() {
    let app = TestApp::spawn_with(&format!(
        "[callbacks.signature]\nscheme = \"standard-webhooks\"\nsecrets = [\"{WHSEC}\"]\n"
    ))
    .await;
    let body = case_body("CS30", "Open", "signed");
    let now = chrono::Utc::now().timestamp();
    let send = |id: &str, ts: i64, sig: String, body: String| {
        app.http
            .post(app.hook_url(NS, "case", "create"))
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body)
            .send()
    };
    let good = sw_sign("msg_1", now, &body);
    // Tampered id, timestamp, body; empty signature; stale timestamp; no signature at all.
    let refused = [
        send("msg_2", now, good.clone(), body.clone())
            .await
            .unwrap(),
        send("msg_1", now + 1, good.clone(), body.clone())
            .await
            .unwrap(),
        send("msg_1", now, good.clone(), body.replace("signed", "signeD"))
            .await
            .unwrap(),
        send("msg_1", now, "v1,".into(), body.clone())
            .await
            .unwrap(),
        send(
            "msg_1",
            now - 301,
            sw_sign("msg_1", now - 301, &body),
            body.clone(),
        )
        .await
        .unwrap(),
        app.http
            .post(app.hook_url(NS, "case", "create"))
            .body(body.clone())
            .send()
            .await
            .unwrap(),
    ];
    for resp in refused {
        assert_eq!(resp.status(), 401);
    }
    assert!(app.stored().await.is_empty());
    // Several signatures (rotation on the sender's side): one valid is enough.
    let sigs = format!("v1,AAAA {good} v2,zzz");
    let ok = send("msg_1", now, sigs, body.clone()).await.unwrap();
    assert_eq!(ok.status(), 202);
    assert_eq!(app.stored().await.len(), 1);
}

#[tokio::test]
async fn standard_webhooks_spec_vector_against_verifier() {
    // The spec's vector, through the same verifier the gateway builds from config.
    let settings = gtt_gateway::config::Settings::from_toml(&format!(
        "[callbacks]\nsecret = \"{SECRET}\"\n[callbacks.signature]\nscheme = \"standard-webhooks\"\nsecrets = [\"{WHSEC}\"]\n"
    ))
    .unwrap();
    let verifier = settings
        .callbacks
        .signature
        .verifier()
        .expect("built at load");
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "webhook-id",
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".parse().unwrap(),
    );
    headers.insert("webhook-timestamp", "1649367553".parse().unwrap());
    headers.insert(
        "webhook-signature",
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
            .parse()
            .unwrap(),
    );
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    assert!(verifier.verify(&headers, body, 1649367553).is_ok());
    assert!(verifier.verify(&headers, &body[1..], 1649367553).is_err());
}

fn hmac_raw(key: &str, body: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[tokio::test]
async fn generic_hmac_hex_with_prefix_per_namespace() {
    // Only namespace 7 requires a signature; 142033 keeps token-only.
    let key = "hmac-key-0123456789abcdef";
    let nats = NatsServer::start();
    let settings = gtt_gateway::config::Settings::from_toml(&format!(
        r#"
namespaces = ["{NS}", {{ name = "7", signature = {{ scheme = "hmac", secrets = ["{key}"], header = "X-Hub-Signature-256", prefix = "sha256=" }} }}]
[server]
listen = "127.0.0.1:0"
[nats]
url = "{}"
[callbacks]
secret = "{SECRET}"
"#,
        nats.url()
    ))
    .unwrap();
    let app = TestApp::spawn_on(nats, settings).await;
    let mut body = case_body("CS40", "Open", "hmac");
    body = body.replace(&format!("\"namespace\":\"{NS}\""), "\"namespace\":\"7\"");
    let url = app.hook_url("7", "case", "create");
    let sig = format!("sha256={}", hex::encode(hmac_raw(key, &body)));
    let no_prefix = hex::encode(hmac_raw(key, &body));
    let wrong = format!(
        "sha256={}",
        hex::encode(hmac_raw("other-key-0123456789", &body))
    );
    for (header, status) in [
        (Some(wrong), 401),
        (Some(no_prefix), 401),
        (None, 401),
        (Some(sig.to_uppercase().replace("SHA256=", "sha256=")), 202),
    ] {
        let mut req = app.http.post(&url).body(body.clone());
        if let Some(h) = header {
            req = req.header("X-Hub-Signature-256", h);
        }
        assert_eq!(req.send().await.unwrap().status().as_u16(), status);
    }
    // Namespace 142033 needs no signature.
    assert_eq!(
        app.post("create", case_body("CS41", "Open", "plain"))
            .await
            .status(),
        202
    );
    assert_eq!(app.stored().await.len(), 2);
}

#[tokio::test]
async fn generic_hmac_base64() {
    let key = "hmac-key-0123456789abcdef";
    let app = TestApp::spawn_with(&format!(
        "[callbacks.signature]\nscheme = \"hmac\"\nsecrets = [\"{key}\"]\nencoding = \"base64\"\nheader = \"x-signature\"\n"
    ))
    .await;
    let body = case_body("CS42", "Open", "b64");
    let good = STANDARD.encode(hmac_raw(key, &body));
    let hexed = hex::encode(hmac_raw(key, &body));
    for (sig, status) in [(hexed, 401), (good, 202)] {
        let resp = app
            .http
            .post(app.hook_url(NS, "case", "create"))
            .header("x-signature", sig)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
    }
    assert_eq!(app.stored().await.len(), 1);
}
