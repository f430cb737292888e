//! Compressed callback bodies: gzip and deflate are decoded (the same event as the plain body),
//! a body that would decode past `server.max_body_bytes` gets `413`, other codings `415`, corrupt
//! data `400`; never a dead letter of undecoded bytes. Signatures cover the bytes as received.

use std::io::Write;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use gtt_test_support::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn post_encoded(
    app: &TestApp,
    ns: &str,
    encoding: &str,
    body: Vec<u8>,
    extra: Option<(&str, String)>,
) -> reqwest::Response {
    let mut request = app
        .http
        .post(app.hook_url(ns, "case", "update"))
        .header("content-type", "application/json")
        .header("content-encoding", encoding)
        .body(body);
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn gzip_and_deflate_bodies_are_decoded_into_the_same_events() {
    let app = TestApp::spawn().await;
    let plain = case_body("CS60", "Open", "compressed");
    let (status, stored) = json(app.post("update", plain.clone()).await).await;
    assert_eq!(status, 202);
    for (encoding, body) in [
        ("gzip", gzip(plain.as_bytes())),
        ("x-gzip", gzip(plain.as_bytes())),
        ("deflate", zlib(plain.as_bytes())),
        ("deflate", raw_deflate(plain.as_bytes())),
        ("identity, GZIP", gzip(plain.as_bytes())),
    ] {
        let (status, answer) = json(post_encoded(&app, NS, encoding, body, None).await).await;
        assert_eq!(status, 202, "{encoding}: {answer}");
        assert_eq!(answer["dead_lettered"], false, "{encoding}: {answer}");
        assert_eq!(answer["id"], stored["id"], "{encoding}: the same event");
        assert_eq!(answer["duplicate"], true, "{encoding}");
    }
    // A compressed body that is not JSON is dead-lettered decoded, readable as sent.
    let (status, answer) =
        json(post_encoded(&app, NS, "gzip", gzip(b"not json, compressed"), None).await).await;
    assert_eq!((status, &answer["dead_lettered"]), (202, &true.into()));
    let stored = app.stored().await;
    assert_eq!(stored.len(), 2);
    assert_eq!(&stored[1].payload[..], b"not json, compressed");
}

#[tokio::test]
async fn bombs_unknown_codings_and_corrupt_data_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await; // server.max_body_bytes: 1 MiB
    let bomb = gzip(&vec![b' '; 64 * 1024 * 1024]);
    assert!(bomb.len() < 100 * 1024, "the bomb itself is small");
    let mut just_over = case_body("CS61", "Open", "x").into_bytes();
    just_over.resize(1024 * 1024 + 1, b' ');
    for (encoding, body, expected) in [
        ("gzip", bomb, 413),
        ("deflate", zlib(&just_over), 413),
        ("br", b"anything".to_vec(), 415),
        ("gzip, gzip", gzip(&gzip(b"{}")), 415),
        ("zstd", b"anything".to_vec(), 415),
        (
            "gzip",
            b"\x1f\x8b\x08\x00 this is not gzip data".to_vec(),
            400,
        ),
        ("deflate", b"not deflate data at all".to_vec(), 400),
    ] {
        let response = post_encoded(&app, NS, encoding, body, None).await;
        let status = response.status().as_u16();
        if status == 415 {
            assert_eq!(response.headers()["accept-encoding"], "gzip, deflate");
        }
        assert_eq!(status, expected, "{encoding}");
    }
    assert!(app.stored().await.is_empty());
}

#[tokio::test]
async fn signatures_cover_the_body_as_received() {
    let key = "hmac-key-0123456789abcdef";
    let nats = NatsServer::start();
    let settings = gtt_gateway::config::Settings::from_toml(&format!(
        r#"
namespaces = [{{ name = "{NS}", signature = {{ scheme = "hmac", secrets = ["{key}"] }} }}]
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
    let sign = |bytes: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(bytes);
        hex::encode(mac.finalize().into_bytes())
    };
    let plain = case_body("CS62", "Open", "signed and compressed");
    let compressed = gzip(plain.as_bytes());
    let over_decoded = sign(plain.as_bytes());
    let over_received = sign(&compressed);
    let signature = |value| Some(("x-gtt-signature", value));
    let refused = post_encoded(
        &app,
        NS,
        "gzip",
        compressed.clone(),
        signature(over_decoded),
    )
    .await;
    assert_eq!(refused.status(), 401);
    let stored = post_encoded(&app, NS, "gzip", compressed, signature(over_received)).await;
    assert_eq!(stored.status(), 202);
    assert_eq!(
        app.stored_subjects().await,
        ["gtt.142033.case.updated.CS62"]
    );
}
