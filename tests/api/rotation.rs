//! Live secret reload of a running `serve`, under steady callbacks that must all get `202`: the
//! callback secret rotated in files laid out as Kubernetes lays out a Secret volume (a `..data`
//! symlink swapped at once), noticed by the file poll, the registrar re-registering the URLs
//! with the new token; the NATS password rotated at the gateway (SIGHUP) and then at the server
//! (its config reloaded); the old callback secret dropped at last. No restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gtt_core::token::TokenKeys;

use crate::binary::{Running, gateway, wait_ready, write_config};
use crate::registrar::{sandbox, sandbox_config, wait_until};
use gtt_test_support::*;

const OLD: &str = "callback-secret-OLD-0123456789abcdef";
const NEW: &str = "callback-secret-NEW-0123456789abcdef";
const NATS_USER: &str = "gateway";
const PASSWORD_1: &str = "nats-password-ONE-0123";
const PASSWORD_2: &str = "nats-password-TWO-4567";

/// A directory like a mounted Kubernetes Secret: each file a symlink into `..data`, itself a
/// symlink to a timestamped directory that an update replaces in one rename.
struct SecretVolume {
    dir: PathBuf,
    version: usize,
}

impl SecretVolume {
    fn new(dir: &Path, files: &[(&str, &str)]) -> Self {
        let mut volume = Self {
            dir: dir.to_path_buf(),
            version: 0,
        };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        volume
    }

    /// Swap in new contents of every file at once.
    fn update(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let data = format!("..2026_{:02}", self.version);
        std::fs::create_dir(self.dir.join(&data)).unwrap();
        for (name, text) in files {
            std::fs::write(self.dir.join(&data).join(name), text).unwrap();
        }
        let staged = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&data, &staged).unwrap();
        std::fs::rename(&staged, self.dir.join("..data")).unwrap();
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn hook_url(port: u16, secret_text: &str) -> String {
    let token = TokenKeys::new(vec![secret(secret_text)]).token(NS, "case", "update");
    format!("http://127.0.0.1:{port}/v1/hooks/gtt/{NS}/case/update/{token}")
}

/// Wait in the async test for a line of `served` (the reader blocks this worker meanwhile).
fn line(served: &mut Running, wanted: impl Fn(&str) -> bool) -> String {
    tokio::task::block_in_place(|| served.wait_for_line(Duration::from_secs(20), wanted))
}

/// Put `callback`, `previous` and `password` into the volume (then send SIGHUP when `hangup`,
/// else let the file poll notice); the gateway's `Secrets reloaded` line.
fn rotate(
    volume: &mut SecretVolume,
    served: &mut Running,
    [callback, previous, password]: [&str; 3],
    hangup: bool,
) -> String {
    volume.update(&[
        ("callback-secret", callback),
        ("previous-callback-secrets", previous),
        ("nats-password", password),
    ]);
    if hangup {
        let hup = std::process::Command::new("kill")
            .args(["-HUP", &served.child.id().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
    }
    line(served, |l| l.contains(r#""message":"Secrets reloaded""#))
}

/// Whether GTT's webhooks (both) carry URLs whose tokens `secret_text` signs.
fn webhooks_signed_with(gtt: &gtt_sandbox::Sandbox, secret_text: &str) -> bool {
    let keys = TokenKeys::new(vec![secret(secret_text)]);
    let webhooks = gtt.webhooks(NS);
    webhooks.len() == 2
        && webhooks.iter().all(|w| {
            let url = w["spec"]["url"].as_str().unwrap_or_default();
            let parts: Vec<&str> = url.rsplit('/').take(4).collect();
            matches!(parts[..], [token, action, kind, ns] if keys.verify(ns, kind, action, token))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_rotate_under_steady_callbacks_without_a_restart_or_a_refusal() {
    let user = |password: &str| NatsOptions {
        authorization: Some(Authorization::User {
            user: NATS_USER.into(),
            password: password.into(),
        }),
        ..Default::default()
    };
    let mut nats = NatsServer::start_with(&user(PASSWORD_1));
    let gtt = sandbox(sandbox_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let mut volume = SecretVolume::new(
        &secrets,
        &[
            ("callback-secret", OLD),
            ("previous-callback-secrets", ""),
            ("nats-password", PASSWORD_1),
        ],
    );
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            "namespaces = [\"{NS}\"]\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [nats]\nurl = \"{}\"\nuser = \"{NATS_USER}\"\npassword_file = \"{}\"\n\
             [callbacks]\npublic_url = \"http://127.0.0.1:{port}\"\nsecret_file = \"{}\"\n\
             previous_secrets_file = \"{}\"\n[registrar]\ninterval = \"1h\"\n{}",
            nats.url(),
            volume.path("nats-password"),
            volume.path("callback-secret"),
            volume.path("previous-callback-secrets"),
            gtt.gtt_config_toml(),
        ),
    );
    let mut served = Running::spawn(gateway(&["--config", config.to_str().unwrap(), "serve"]));
    let http = reqwest::Client::new();
    wait_ready(&http, port).await;
    let old_token = hook_url(port, OLD).rsplit('/').next().unwrap().to_string();
    let new_token = hook_url(port, NEW).rsplit('/').next().unwrap().to_string();
    wait_until(
        "webhooks with the first token",
        Duration::from_secs(10),
        || webhooks_signed_with(&gtt, OLD),
    )
    .await;

    // Steady callbacks, as GTT sends them to the URL it has; every answer is counted.
    let url = Arc::new(Mutex::new(hook_url(port, OLD)));
    let answers = Arc::new(Mutex::new(HashMap::<u16, usize>::new()));
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let sender = {
        let (http, url, answers, accepted, stop) = (
            http.clone(),
            Arc::clone(&url),
            Arc::clone(&answers),
            Arc::clone(&accepted),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                n += 1;
                let target = url.lock().unwrap().clone();
                let resp = http
                    .post(target)
                    .body(case_body(&format!("CS9{n:05}"), "Open", "steady"))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                *answers.lock().unwrap().entry(status).or_default() += 1;
                if status == 202 {
                    let v: serde_json::Value = resp.json().await.unwrap();
                    accepted
                        .lock()
                        .unwrap()
                        .push(v["id"].as_str().unwrap().to_string());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 1. A new callback secret, the old one still accepted: noticed by the file poll; the
    //    registrar puts the new token in the URLs at once (its interval is an hour).
    let previous = format!("{OLD}\n");
    let reloaded = rotate(
        &mut volume,
        &mut served,
        [NEW, &previous, PASSWORD_1],
        false,
    );
    assert!(
        reloaded.contains("callbacks.secret") && reloaded.contains("callbacks.previous_secrets"),
        "{reloaded}"
    );
    wait_until(
        "webhooks with the new token",
        Duration::from_secs(10),
        || webhooks_signed_with(&gtt, NEW),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    *url.lock().unwrap() = hook_url(port, NEW);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 2. The NATS password: first the gateway's (SIGHUP), then the server's (its config reloaded).
    let reloaded = rotate(&mut volume, &mut served, [NEW, &previous, PASSWORD_2], true);
    assert!(reloaded.contains("nats.user/nats.password"), "{reloaded}");
    line(&mut served, |l| {
        l.contains("NATS does not accept the new credentials")
    });
    nats.reconfigure(&user(PASSWORD_2));
    // The server closes the connection made with the old password; the client comes back with
    // the new one.
    line(&mut served, |l| l.contains("NATS disconnected"));
    line(&mut served, |l| l.contains("NATS connected"));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 3. The old callback secret dropped: its URLs are refused from now on.
    let reloaded = rotate(&mut volume, &mut served, [NEW, "", PASSWORD_2], false);
    assert!(
        reloaded.contains("callbacks.previous_secrets"),
        "{reloaded}"
    );
    let old = http
        .post(hook_url(port, OLD))
        .body(case_body("CS8001", "Open", "old url"))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);

    // 4. What a reload cannot apply: a key that needs a restart is named; a secret file that is
    //    wrong (too short) is named and the running secrets stay.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("[server]\n", "[server]\nmax_in_flight = 77\n"),
    )
    .unwrap();
    let restart = line(&mut served, |l| l.contains("only after a restart"));
    assert!(restart.contains("server.max_in_flight"), "{restart}");
    volume.update(&[
        ("callback-secret", "short-SECRET"),
        ("previous-callback-secrets", ""),
        ("nats-password", PASSWORD_2),
    ]);
    let failed = line(&mut served, |l| l.contains("Reload failed"));
    assert!(
        failed.contains("callbacks.secret") && !failed.contains("short-SECRET"),
        "{failed}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    sender.await.unwrap();

    let answers = answers.lock().unwrap().clone();
    let accepted = accepted.lock().unwrap().clone();
    println!("steady callbacks during the rotations: {answers:?}");
    assert_eq!(answers.keys().collect::<Vec<_>>(), [&202], "{answers:?}");
    assert!(accepted.len() > 100, "{answers:?}");
    assert!(
        served.child.try_wait().unwrap().is_none(),
        "serve restarted"
    );
    let logs = served.drain().join("\n");
    for text in [
        OLD,
        NEW,
        PASSWORD_1,
        PASSWORD_2,
        old_token.as_str(),
        new_token.as_str(),
    ] {
        assert!(!logs.contains(text), "a secret or token in the logs");
    }

    // Every 202 is in the stream (read with the new password).
    let client =
        async_nats::ConnectOptions::with_user_and_password(NATS_USER.into(), PASSWORD_2.into())
            .connect(nats.url())
            .await
            .unwrap();
    let stored: std::collections::HashSet<String> =
        stream_messages(&async_nats::jetstream::new(client), "GTT_EVENTS")
            .await
            .iter()
            .map(|m| m.headers.get("Nats-Msg-Id").unwrap().to_string())
            .collect();
    let missing = accepted.iter().filter(|id| !stored.contains(*id)).count();
    assert_eq!(missing, 0, "accepted but not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_gtt_client_secret_file_is_used_without_a_restart() {
    let gtt = sandbox(gtt_sandbox::SandboxConfig {
        clients: vec![gtt_sandbox::SandboxClient::new(
            "gateway",
            "gtt-secret-RIGHT",
        )],
        ..sandbox_config()
    })
    .await;
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let client_secret = dir.path().join("gtt-client-secret");
    std::fs::write(&client_secret, "gtt-secret-WRONG\n").unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "namespaces = [\"{NS}\"]\n[server]\nlisten = \"127.0.0.1:0\"\n[nats]\nurl = \"{}\"\n\
             [callbacks]\npublic_url = \"https://hooks.example.com\"\nsecret = \"{SECRET}\"\n\
             [registrar]\ninterval = \"1h\"\n[gtt]\napi_url = \"{}\"\nauth_url = \"{}\"\n\
             client_id = \"gateway\"\nclient_secret_file = {:?}\n[log]\nlevel = \"warn\"\n",
            nats.url(),
            gtt.base_url(),
            gtt.token_url(),
            client_secret.display().to_string(),
        ),
    );
    let settings = gtt_gateway::config::Settings::load(Some(&config)).unwrap();
    let app = gtt_gateway::app::Application::build(settings)
        .await
        .unwrap()
        .reload_secrets_from(Some(&config));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        gtt.webhooks(NS).is_empty(),
        "registered with a wrong secret"
    );

    std::fs::write(&client_secret, "gtt-secret-RIGHT\n").unwrap();
    wait_until("webhooks registered", Duration::from_secs(10), || {
        gtt.webhooks(NS).len() == 2
    })
    .await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
