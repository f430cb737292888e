//! The `gtt-gateway` binary itself: `check-config`, `callback-url`, and `serve` with JSON logs
//! that never contain a secret, token or body, and a clean stop on SIGTERM.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gtt_test_support::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_gtt-gateway");

pub fn write_config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("gateway.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

/// A config for `serve` on `port` with one namespace, the registrar off and `nats_extra` lines
/// in `[nats]`; its path.
pub fn binary_config(dir: &std::path::Path, port: u16, nats_url: &str, nats_extra: &str) -> String {
    let path = write_config(
        dir,
        &format!(
            "namespaces = [\"{NS}\"]\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [nats]\nurl = \"{nats_url}\"\n{nats_extra}\n[callbacks]\nsecret = \"{SECRET}\"\n\
             [registrar]\nenabled = false\n"
        ),
    );
    path.to_str().unwrap().to_string()
}

/// A running `gtt-gateway` whose stdout is read line by line as it comes.
pub struct Running {
    pub child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Running {
    /// Spawn `cmd` (stdout piped and read in the background, stderr dropped).
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait (at most `timeout`) for a line that `wanted` accepts; panics with every line seen.
    pub fn wait_for_line(&mut self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(remaining) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no such line within {timeout:?}:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// The lines printed so far, without waiting.
    pub fn drain(&mut self) -> &[String] {
        self.seen.extend(self.lines.try_iter());
        &self.seen
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `gtt-gateway --config CONFIG ARGS` run to its end off the async runtime (so that a sandbox
/// or a gateway in this test process keeps serving): its exit code, stdout and stderr.
pub async fn run_command(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = gateway(&["--config", config.to_str().unwrap()]);
    command.args(args);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A config file for an operator command: namespaces `NS` and `7`, the NATS at `nats_url`, the
/// callback secret; `extra` appended.
pub fn operator_config(dir: &std::path::Path, nats_url: &str, extra: &str) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            "namespaces = [\"{NS}\", \"7\"]\n[nats]\nurl = \"{nats_url}\"\n[callbacks]\nsecret = \"{SECRET}\"\n{extra}"
        ),
    )
}

/// The config of a gateway serving namespace `NS` on `port` (also its public URL) against
/// `nats_url`; `extra` appended.
pub fn serve_config(port: u16, nats_url: &str, extra: &str) -> String {
    gtt_gateway::demo::local_gateway_toml(nats_url, port, SECRET, &[NS], extra)
}

/// The metrics text of the gateway on `port`.
pub async fn metrics_on(http: &reqwest::Client, port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    http.get(url).send().await.unwrap().text().await.unwrap()
}

/// `gtt-gateway --config CONFIG serve`, its stdout as given (stderr dropped), once ready on
/// `port`.
pub async fn serve_ready(config: &str, port: u16, stdout: Stdio) -> std::process::Child {
    let child = gateway(&["--config", config, "serve"])
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&reqwest::Client::new(), port).await;
    child
}

/// Send `signal` to the child and wait (bounded) for it to exit.
pub async fn stop(child: &mut std::process::Child, signal: &str) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(Instant::now() < deadline, "no clean stop after {signal}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait (bounded) until the gateway on `port` answers /readyz with 200.
pub async fn wait_ready(http: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !http
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            Instant::now() < deadline,
            "gateway on port {port} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn gateway(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    without_gateway_env(&mut cmd);
    cmd
}

/// The gateway under `sh -c 'ulimit -n LIMIT; exec gtt-gateway ARGS'`: a lower open-files limit.
pub fn gateway_with_open_files(limit: u64, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args);
    without_gateway_env(&mut cmd);
    cmd
}

/// The tests' own environment must not leak into the config.
fn without_gateway_env(cmd: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("GTT_GATEWAY_") {
            cmd.env_remove(key);
        }
    }
}

/// `check-config` refuses the config `text` (exit 78), naming `key`.
pub fn assert_config_refused(dir: &std::path::Path, text: &str, key: &str) {
    let path = write_config(dir, text);
    let out = gateway(&["--config", path.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(key), "{key} not named in: {stderr}");
}

#[test]
fn check_config_accepts_the_example_and_names_bad_keys() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/example.toml");
    let out = gateway(&["--config", example, "check-config"])
        .env("GTT_GATEWAY_CALLBACKS__SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[callbacks]\nsecret = \"0123456789abcdef0\"\n[server]\nmax_in_flight = \"many\"\n",
            "server.max_in_flight",
        ),
        (
            "[callbacks]\nsecret = \"0123456789abcdef0\"\n[nats]\nduplicate_window = \"forever\"\n",
            "nats.duplicate_window",
        ),
        (
            "[callbacks]\nsecret = \"0123456789abcdef0\"\n[gtt]\napi_url = \"not a url\"\n",
            "gtt.api_url",
        ),
        ("[callbacks]\nsecrett = \"x\"\n", "callbacks.secrett"),
        (
            "[callbacks]\nsecret = \"0123456789abcdef0\"\n[nats]\nurl = \"nats://a:4222,nats://b:x\"\n",
            "nats.url[1]",
        ),
        ("namespaces = [\"1\"]\n", "callbacks.secret"),
    ];
    for (text, key) in cases {
        assert_config_refused(dir.path(), text, key);
    }
    // Environment overrides are applied and validated too.
    let path = write_config(dir.path(), "[callbacks]\nsecret = \"0123456789abcdef0\"\n");
    let out = gateway(&["--config", path.to_str().unwrap(), "check-config"])
        .env("GTT_GATEWAY_SERVER__LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen"));
    let out = gateway(&["--config", "/nonexistent.toml", "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn secrets_are_never_printed_by_check_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    // A secret of the wrong type and a too-short secret: the messages must not echo them.
    for text in [
        "[callbacks]\nsecret = \"tiny-secret\"\n",
        "[callbacks]\nsecret = \"0123456789abcdef0\"\nprevious_secrets = [\"tiny-secret\"]\n",
    ] {
        let path = write_config(dir.path(), text);
        let out = gateway(&["--config", path.to_str().unwrap(), "check-config"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let all = [out.stdout, out.stderr].concat();
        assert!(!String::from_utf8_lossy(&all).contains("tiny-secret"));
    }
}

#[tokio::test]
async fn serve_logs_json_without_secrets_and_stops_on_sigterm() {
    let nats = NatsServer::start();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let client_secret = "gtt-client-secret-SHOULD-NOT-APPEAR";
    let config = write_config(
        dir.path(),
        &serve_config(
            port,
            &nats.url(),
            &format!(
                "[gtt]\nclient_id = \"gateway\"\nclient_secret = \"{client_secret}\"\n[log]\nlevel = \"debug\"\n"
            ),
        ),
    );
    let config = config.to_str().unwrap().to_string();

    // callback-url prints the URL whose token the server accepts.
    let out = gateway(&[
        "--config",
        &config,
        "callback-url",
        "--namespace",
        NS,
        "--kind",
        "case",
        "--action",
        "create",
    ])
    .output()
    .unwrap();
    assert!(out.status.success());
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        url.starts_with(&format!(
            "http://127.0.0.1:{port}/v1/hooks/gtt/{NS}/case/create/"
        )),
        "{url}"
    );
    let token = url.rsplit('/').next().unwrap().to_string();
    assert_eq!(token.len(), 64);

    let mut child = gateway(&["--config", &config, "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    wait_ready(&http, port).await;

    let marker = "BODY-MARKER-must-not-be-logged";
    let mut bodies = Vec::new();
    // Accepted, dead-lettered, unauthorized (wrong token), and bad-token-shape requests.
    let good = http
        .post(&url)
        .body(case_body("CS60", "Open", marker))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 202);
    bodies.push(good.text().await.unwrap());
    let dead = http
        .post(&url)
        .body(format!("not json {marker}"))
        .send()
        .await
        .unwrap();
    assert_eq!(dead.status(), 202);
    bodies.push(dead.text().await.unwrap());
    let wrong_token = url.replace("/create/", "/update/");
    let refused = http.post(&wrong_token).body(marker).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    bodies.push(refused.text().await.unwrap());
    let stripped = url.replace(&token, &format!("{token}00"));
    let refused = http.post(&stripped).body(marker).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    bodies.push(refused.text().await.unwrap());

    let exit = stop(&mut child, "-TERM").await;
    let output = child.wait_with_output().unwrap();
    assert!(exit.success(), "exit {exit:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();

    // Logs are JSON lines, and the lifecycle is visible in them.
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    for expected in [
        "gtt-gateway started",
        "Callback refused: not authenticated",
        "Callback dead-lettered",
        "Shutdown requested",
        "gtt-gateway stopped",
    ] {
        assert!(
            messages.contains(&expected),
            "missing log {expected:?} in {messages:?}"
        );
    }
    let everything = format!("{stdout}\n{stderr}\n{}", bodies.join("\n"));
    for secret_text in [SECRET, client_secret, token.as_str(), marker] {
        assert!(!everything.contains(secret_text), "leaked {secret_text}");
    }
}

// Multi-threaded: the CLI runs as a blocking subprocess while the sandbox serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_cli_against_the_sandbox() {
    let gtt = crate::registrar::sandbox(crate::registrar::sandbox_config()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "namespaces = [\"{NS}\"]\n[callbacks]\npublic_url = \"https://hooks.example.com\"\nsecret = \"{SECRET}\"\n{}",
            gtt.gtt_config_toml()
        ),
    );
    let config = config.to_str().unwrap().to_string();
    let run = move |args: &[&str]| {
        let out = gateway(&["--config", &config, "subscriptions"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let plan = run(&["sync", "--dry-run"]);
    assert!(
        plan.contains("gtt-gateway-case-v1alpha-create") && plan.contains("create (dry run)"),
        "{plan}"
    );
    assert!(gtt.webhooks(NS).is_empty(), "a dry run changes nothing");

    let synced = run(&["sync"]);
    assert!(synced.contains("create"), "{synced}");
    assert_eq!(gtt.webhooks(NS).len(), 2);

    let listed = tokio::task::spawn_blocking(move || run(&["list"]))
        .await
        .unwrap();
    let rows: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains("gtt-gateway-case"))
        .collect();
    assert_eq!(rows.len(), 2, "{listed}");
    for row in rows {
        assert!(row.contains(" yes "), "{row}");
        assert!(
            row.contains("https://hooks.example.com/v1/hooks/gtt/142033/case/"),
            "{row}"
        );
        assert!(row.ends_with("/<token>"), "token redacted: {row}");
    }
    assert!(!listed.contains(
        &gtt_core::token::TokenKeys::new(vec![secret(SECRET)]).token(NS, "case", "create")
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand() {
    let app = TestApp::spawn().await;
    let url = format!("http://{}/healthz", app.addr);
    let ok = gateway(&["healthcheck", "--url", &url]).status().unwrap();
    assert!(ok.success());
    let closed = format!("http://127.0.0.1:{}/healthz", free_port());
    let down = gateway(&["healthcheck", "--url", &closed])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
}

#[tokio::test]
async fn no_arguments_runs_the_demo_and_shows_tickets_flowing() {
    let nats = NatsServer::start();
    let mut cmd = gateway(&[]);
    cmd.env("GTT_GATEWAY_NATS__URL", nats.url())
        .env_remove("GTT_GATEWAY_CONFIG");
    let mut demo = Running::spawn(cmd);
    for _ in 0..2 {
        demo.wait_for_line(Duration::from_secs(30), |l| l.contains(".case.created.CS"));
    }
    let lines = demo.drain();
    assert!(lines.iter().any(|l| l.contains("GTT sandbox")), "{lines:?}");
    let exit = stop(&mut demo.child, "-INT").await;
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_exported_over_otlp_continuing_the_callers_trace() {
    // A fake OTLP/HTTP collector that keeps every request body.
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<u8>>::new()));
    let collector = {
        let bodies = std::sync::Arc::clone(&bodies);
        axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let bodies = std::sync::Arc::clone(&bodies);
                async move {
                    bodies.lock().unwrap().push(body.to_vec());
                    axum::http::StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let nats = NatsServer::start();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "namespaces = [\"{NS}\"]\n[server]\nlisten = \"127.0.0.1:{port}\"\n[nats]\nurl = \"{}\"\n[callbacks]\nsecret = \"{SECRET}\"\n",
            nats.url()
        ),
    );
    let mut child = gateway(&["--config", config.to_str().unwrap(), "serve"])
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{collector_addr}"),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    wait_ready(&http, port).await;
    let token = gtt_core::token::TokenKeys::new(vec![secret(SECRET)]).token(NS, "case", "create");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let resp = http
        .post(format!(
            "http://127.0.0.1:{port}/v1/hooks/gtt/{NS}/case/create/{token}"
        ))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .body(case_body("CS95", "Open", "traced"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The exported spans carry the caller's trace id (16 raw bytes in the protobuf body).
    let wanted = hex::decode(trace_id).unwrap();
    let bodies = bodies.lock().unwrap();
    assert!(!bodies.is_empty(), "no OTLP export");
    assert!(
        bodies
            .iter()
            .any(|b| b.windows(16).any(|w| w == wanted.as_slice())),
        "the callback span does not continue the caller's trace"
    );
}
