//! Secured NATS, against real servers that demand it: TLS with client certificates (a CA and
//! certificates made here), user and password, token, nkey. With the right settings `serve`
//! becomes ready and stores a callback; with a wrong one it stays unready and logs an error
//! naming the key to fix. Settings wrong on their own (unreadable or non-PEM files, a
//! certificate without its key, a seed that is not a user seed) stop `check-config` with 78.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::binary::{Running, binary_config, gateway, wait_ready};
use gtt_test_support::*;

/// A CA with a server certificate (for 127.0.0.1) and a client certificate, as PEM files.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

impl Pki {
    /// Make one in `dir`, its files prefixed with `name`.
    fn new(dir: &Path, name: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
        let issuer = Issuer::new(ca, ca_key);
        let leaf = |usage: ExtendedKeyUsagePurpose, file: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
            params
                .subject_alt_names
                .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
            params.distinguished_name.push(DnType::CommonName, file);
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, &issuer).unwrap();
            let (cert_path, key_path) = (
                dir.join(format!("{name}-{file}.pem")),
                dir.join(format!("{name}-{file}-key.pem")),
            );
            std::fs::write(&cert_path, cert.pem()).unwrap();
            std::fs::write(&key_path, key.serialize_pem()).unwrap();
            (cert_path, key_path)
        };
        let (server_cert, server_key) = leaf(ExtendedKeyUsagePurpose::ServerAuth, "server");
        let (client_cert, client_key) = leaf(ExtendedKeyUsagePurpose::ClientAuth, "client");
        let ca_path = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca_path, ca_pem).unwrap();
        Self {
            ca: ca_path,
            server_cert,
            server_key,
            client_cert,
            client_key,
        }
    }
}

fn toml_path(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// `serve` with `[nats]` lines `nats_extra` (and `env`) becomes ready and answers a callback 202.
async fn stores_a_callback(nats: &NatsServer, nats_extra: &str, env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = binary_config(dir.path(), port, &nats.url(), nats_extra);
    let mut cmd = gateway(&["--config", &config, "serve"]);
    cmd.envs(env.iter().copied());
    let mut served = Running::spawn(cmd);
    let http = reqwest::Client::new();
    let ready = tokio::time::timeout(Duration::from_secs(15), wait_ready(&http, port)).await;
    assert!(
        ready.is_ok(),
        "not ready with {nats_extra:?}:\n{}",
        served.drain().join("\n")
    );
    let token = gtt_core::token::TokenKeys::new(vec![secret(SECRET)]).token(NS, "case", "create");
    let resp = http
        .post(format!(
            "http://127.0.0.1:{port}/v1/hooks/gtt/{NS}/case/create/{token}"
        ))
        .body(case_body("CS7001", "Open", "over secured NATS"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{nats_extra:?}");
}

/// `serve` with `[nats]` lines `nats_extra` stays unready and logs a refusal naming `key`.
async fn refused_naming(nats: &NatsServer, nats_extra: &str, key: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = binary_config(dir.path(), port, &nats.url(), nats_extra);
    let mut served = Running::spawn(gateway(&["--config", &config, "serve"]));
    let line = served.wait_for_line(Duration::from_secs(15), |l| {
        l.contains("NATS refuses the connection")
    });
    assert!(line.contains(key), "{key} not named in {line}");
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "ready although NATS refuses");
    assert!(served.child.try_wait().unwrap().is_none(), "serve stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "good");
    let other = Pki::new(dir.path(), "other");
    let nats = NatsServer::start_with(&NatsOptions {
        tls: Some(ServerTls {
            cert_file: pki.server_cert.clone(),
            key_file: pki.server_key.clone(),
            verify_clients: Some(pki.ca.clone()),
        }),
        ..Default::default()
    });
    let tls = |ca: &Path, client: Option<(&Path, &Path)>, required: bool| {
        let mut text = format!(
            "[nats.tls]\nca_file = {}\nrequired = {required}\n",
            toml_path(ca)
        );
        if let Some((cert, key)) = client {
            text += &format!(
                "cert_file = {}\nkey_file = {}\n",
                toml_path(cert),
                toml_path(key)
            );
        }
        text
    };
    let client = Some((pki.client_cert.as_path(), pki.client_key.as_path()));
    stores_a_callback(&nats, &tls(&pki.ca, client, true), &[]).await;
    refused_naming(&nats, &tls(&pki.ca, None, false), "nats.tls.cert_file").await;
    refused_naming(&nats, &tls(&other.ca, client, false), "nats.tls.ca_file").await;
    let foreign = Some((other.client_cert.as_path(), other.client_key.as_path()));
    refused_naming(&nats, &tls(&pki.ca, foreign, false), "nats.tls.cert_file").await;

    let plain = NatsServer::start();
    refused_naming(&plain, &tls(&pki.ca, client, true), "nats.tls.required").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password() {
    let nats = NatsServer::start_with(&NatsOptions {
        authorization: Some(Authorization::User {
            user: "gateway".into(),
            password: "nats-password-0123".into(),
        }),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nats-password");
    std::fs::write(&file, "nats-password-0123\n").unwrap();
    let from_file = format!("user = \"gateway\"\npassword_file = {}", toml_path(&file));
    stores_a_callback(&nats, &from_file, &[]).await;
    stores_a_callback(
        &nats,
        "user = \"gateway\"",
        &[("GTT_GATEWAY_NATS__PASSWORD", "nats-password-0123")],
    )
    .await;
    refused_naming(
        &nats,
        "user = \"gateway\"\npassword = \"wrong-password\"",
        "nats.user/nats.password",
    )
    .await;
    refused_naming(&nats, "", "nats.user and nats.password").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token() {
    let nats = NatsServer::start_with(&NatsOptions {
        authorization: Some(Authorization::Token("nats-token-0123456789".into())),
        ..Default::default()
    });
    stores_a_callback(
        &nats,
        "",
        &[("GTT_GATEWAY_NATS__TOKEN", "nats-token-0123456789")],
    )
    .await;
    refused_naming(&nats, "token = \"not-the-token\"", "nats.token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nkey() {
    let user = nkeys::KeyPair::new_user();
    let nats = NatsServer::start_with(&NatsOptions {
        authorization: Some(Authorization::NKey(user.public_key())),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let (seed, stranger) = (dir.path().join("user.nk"), dir.path().join("stranger.nk"));
    std::fs::write(&seed, format!("{}\n", user.seed().unwrap())).unwrap();
    let other = nkeys::KeyPair::new_user().seed().unwrap();
    std::fs::write(&stranger, other).unwrap();
    stores_a_callback(
        &nats,
        &format!("nkey_seed_file = {}", toml_path(&seed)),
        &[],
    )
    .await;
    refused_naming(
        &nats,
        &format!("nkey_seed_file = {}", toml_path(&stranger)),
        "nats.nkey_seed_file",
    )
    .await;
}

#[test]
fn check_config_names_wrong_tls_and_credential_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "good");
    let not_pem = dir.path().join("not-pem");
    std::fs::write(&not_pem, "LEAKED-SECRET-text, not PEM\n").unwrap();
    let account = dir.path().join("account.nk");
    std::fs::write(&account, nkeys::KeyPair::new_account().seed().unwrap()).unwrap();
    let missing = dir.path().join("missing.pem");
    let (ca, cert, key) = (
        toml_path(&pki.ca),
        toml_path(&pki.client_cert),
        toml_path(&pki.client_key),
    );
    let cases = [
        (
            format!("[nats.tls]\nca_file = {}", toml_path(&missing)),
            "nats.tls.ca_file",
        ),
        (
            format!("[nats.tls]\nca_file = {}", toml_path(&not_pem)),
            "nats.tls.ca_file",
        ),
        (
            format!("[nats.tls]\nca_file = {ca}\ncert_file = {cert}"),
            "nats.tls.key_file",
        ),
        (
            format!("[nats.tls]\nkey_file = {key}"),
            "nats.tls.cert_file",
        ),
        (
            format!(
                "[nats.tls]\ncert_file = {cert}\nkey_file = {}",
                toml_path(&not_pem)
            ),
            "nats.tls.key_file",
        ),
        (
            format!("nkey_seed_file = {}", toml_path(&account)),
            "nats.nkey_seed_file",
        ),
        (
            format!("nkey_seed_file = {}", toml_path(&not_pem)),
            "nats.nkey_seed_file",
        ),
        (
            format!("credentials_file = {}", toml_path(&not_pem)),
            "nats.credentials_file",
        ),
        ("user = \"gateway\"".to_string(), "nats.password"),
        ("password = \"p-0123456789\"".to_string(), "nats.user"),
        (
            "user = \"gateway\"\npassword = \"p-0123456789\"\ntoken = \"t-0123456789\"".into(),
            "nats.token",
        ),
        ("token = \"\"".to_string(), "nats.token"),
    ];
    for (nats_extra, key) in cases {
        let config = binary_config(
            dir.path(),
            free_port(),
            "nats://127.0.0.1:4222",
            &nats_extra,
        );
        let out = gateway(&["--config", &config, "check-config"])
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).to_string();
        assert_eq!(out.status.code(), Some(78), "{nats_extra}: {printed}");
        assert!(
            printed.contains(key),
            "{key} not named for {nats_extra}: {printed}"
        );
        assert!(
            !printed.contains("LEAKED-SECRET") && !printed.contains("0123456789"),
            "{printed}"
        );
    }
}
