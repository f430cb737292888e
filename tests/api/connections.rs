//! Hostile connections (no token needed): a flood of idle and slow-header connections against
//! the real binary, the header-read and keep-alive idle timeouts, oversized heads, and graceful
//! shutdown with idle and busy connections open.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::binary::{gateway, gateway_with_open_files, write_config};
use gtt_test_support::*;

/// The gateway binary serving on its own port with its own NATS; killed when dropped, so a
/// failing test leaves no process behind.
pub struct Binary {
    child: Child,
    port: u16,
    _nats: NatsServer,
    _dir: tempfile::TempDir,
}

impl Binary {
    /// Start with `server` (extra `[server]` keys) and, if given, a lower open-files limit.
    pub async fn start(server: &str, open_files: Option<u64>) -> Self {
        let nats = NatsServer::start();
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &format!(
                "namespaces = [\"{NS}\"]\n[server]\nlisten = \"127.0.0.1:{port}\"\n{server}\n[nats]\nurl = \"{}\"\n[callbacks]\nsecret = \"{SECRET}\"\n[registrar]\nenabled = false\n[log]\nlevel = \"info\"\n",
                nats.url()
            ),
        );
        let args = ["--config", config.to_str().unwrap(), "serve"];
        let mut command = match open_files {
            Some(limit) => gateway_with_open_files(limit, &args),
            None => gateway(&args),
        };
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let binary = Self {
            child,
            port,
            _nats: nats,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while reqwest::get(format!("{}/readyz", binary.base()))
            .await
            .map_or(true, |r| r.status() != 200)
        {
            assert!(Instant::now() < deadline, "gateway not ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        binary
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.unwrap()
    }

    /// `/healthz`, then a valid callback, each on a new connection as a new sender would come;
    /// the time each took.
    async fn probe(&self, n: usize) -> (Duration, Duration) {
        let token =
            gtt_core::token::TokenKeys::new(vec![secret(SECRET)]).token(NS, "case", "create");
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let started = Instant::now();
        let health = http
            .get(format!("{}/healthz", self.base()))
            .send()
            .await
            .unwrap();
        let health_time = started.elapsed();
        assert_eq!(health.status(), 200);
        let started = Instant::now();
        let stored = http
            .post(format!(
                "{}/v1/hooks/gtt/{NS}/case/create/{token}",
                self.base()
            ))
            .body(case_body(&format!("CS7{n:03}"), "Open", "flood"))
            .send()
            .await
            .unwrap();
        let callback_time = started.elapsed();
        assert_eq!(stored.status(), 202);
        (health_time, callback_time)
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// SIGTERM, a clean exit, and the logs.
    pub async fn stop(mut self) -> String {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(Instant::now() < deadline, "no stop after SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(exit.success(), "{exit:?}");
        let mut logs = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut logs).unwrap();
        logs
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// The value of an unlabelled or fully labelled series in a Prometheus text page.
fn metric(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Until the peer closes the connection (read returns 0 or fails), bounded by `limit`.
async fn closed_after(conn: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), conn.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// One HTTP/1.1 exchange on an open connection; returns the status line and whole head.
async fn exchange(conn: &mut TcpStream, request: &str) -> String {
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = conn.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "connection closed mid-answer: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await.unwrap();
    head
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_leaves_callbacks_and_probes_fast_and_memory_bounded() {
    const IDLE: usize = 2000;
    const SLOW_HEADERS: usize = 200;
    let soft = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(
        soft >= 3000,
        "this test needs 3000 open files, the hard limit allows {soft}"
    );
    // Default limits (2048 connections, 16 KiB heads), but heads may take 30 s, so that no
    // connection of the flood times out while it is measured.
    let gw = Binary::start("header_read_timeout = \"30s\"", None).await;
    gw.probe(0).await;
    let rss_before = rss_kib(gw.pid());

    let attack_started = Instant::now();
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(gw.connect().await);
    }
    // Slow headers: 15 KiB of a head (just under the 16 KiB limit) that never ends.
    let pad = format!(
        "POST /v1/hooks/gtt/{NS}/case/create/x HTTP/1.1\r\nHost: x\r\nX-Pad: {}",
        "a".repeat(15 * 1024)
    );
    let mut slow = Vec::with_capacity(SLOW_HEADERS);
    for _ in 0..SLOW_HEADERS {
        let mut conn = gw.connect().await;
        conn.write_all(pad.as_bytes()).await.unwrap();
        slow.push(conn);
    }
    let opened = attack_started.elapsed();
    // Let the gateway take them all in, then probe while they are open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut times = Vec::new();
    for n in 1..=5 {
        times.push(gw.probe(n).await);
    }
    let rss_during = rss_kib(gw.pid());
    let page = gw.metrics().await;
    // None of the slow-header connections was answered or closed: the newest are kept.
    let mut slow_open = 0;
    for conn in &mut slow {
        let mut buf = [0u8; 1];
        if tokio::time::timeout(Duration::from_millis(1), conn.read(&mut buf))
            .await
            .is_err()
        {
            slow_open += 1;
        }
    }
    let (health_max, callback_max) = times
        .iter()
        .fold((Duration::ZERO, Duration::ZERO), |(h, c), (th, tc)| {
            (h.max(*th), c.max(*tc))
        });
    let open = metric(&page, "gtt_gateway_connections_open");
    let evicted = metric(
        &page,
        "gtt_gateway_connections_closed_total{reason=\"evicted\"}",
    );
    eprintln!(
        "flood: {IDLE} idle + {SLOW_HEADERS} slow-header connections opened in {opened:?}; \
         slowest /healthz {health_max:?}, slowest callback {callback_max:?}; \
         RSS {rss_before} KiB before, {rss_during} KiB during (+{} KiB); open {open}, \
         evicted {evicted}, slow-header still open {slow_open}",
        rss_during.saturating_sub(rss_before)
    );
    assert!(health_max < Duration::from_secs(1), "{health_max:?}");
    assert!(callback_max < Duration::from_secs(1), "{callback_max:?}");
    assert!(open <= 2048.0, "connection cap: {open} open");
    assert!(
        evicted >= (IDLE + SLOW_HEADERS - 2048) as f64,
        "evicted {evicted}"
    );
    assert_eq!(slow_open, SLOW_HEADERS);
    assert!(
        rss_during < rss_before + 48 * 1024,
        "RSS grew from {rss_before} KiB to {rss_during} KiB"
    );

    drop(idle);
    drop(slow);
    let logs = gw.stop().await;
    let warnings = logs
        .lines()
        .filter(|l| l.contains("Connection cap reached"))
        .count();
    assert!((1..=2).contains(&warnings), "rate-limited warning: {logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_low_open_files_limit_bare_connections_do_not_lock_callbacks_out() {
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let gw = Binary::start("", Some(1024)).await;
    let mut bare = Vec::new();
    for _ in 0..1100 {
        bare.push(gw.connect().await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 10..13 {
        let (health, callback) = gw.probe(n).await;
        assert!(health < Duration::from_secs(1), "{health:?}");
        assert!(callback < Duration::from_secs(1), "{callback:?}");
    }
    let open = metric(&gw.metrics().await, "gtt_gateway_connections_open");
    assert!(
        open <= 1024.0 - 128.0,
        "{open} open at a 1024 open-files limit"
    );
    drop(bare);
    let logs = gw.stop().await;
    for expected in [
        r#""message":"Open-files limit""#,
        r#""message":"server.max_connections lowered to fit the open-files limit""#,
        r#""allowed":896"#,
    ] {
        assert!(logs.contains(expected), "{expected} not in {logs}");
    }
}

#[tokio::test]
async fn header_read_and_idle_timeouts_close_connections_but_not_busy_ones() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.server.header_read_timeout = Duration::from_millis(600);
    settings.server.idle_timeout = Duration::from_millis(1500);
    let app = TestApp::spawn_on(nats, settings).await;
    let limit = Duration::from_secs(5);

    // A connection that sends nothing, and one whose head never ends: the header timeout.
    let mut bare = TcpStream::connect(app.addr).await.unwrap();
    let mut partial = TcpStream::connect(app.addr).await.unwrap();
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (bare, partial) = tokio::join!(
        closed_after(&mut bare, limit),
        closed_after(&mut partial, limit)
    );
    for (what, closed) in [("bare", bare), ("partial head", partial)] {
        let closed = closed.unwrap_or_else(|| panic!("{what} connection left open"));
        assert!(
            closed >= Duration::from_millis(500) && closed < Duration::from_millis(1400),
            "{what} closed after {closed:?}"
        );
    }

    // A kept-alive connection outlives the header timeout while idle, and closes at the idle one.
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        exchange(&mut kept, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        exchange(&mut kept, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    let idle = closed_after(&mut kept, limit)
        .await
        .expect("idle connection left open");
    assert!(
        idle >= Duration::from_millis(1400) && idle < Duration::from_millis(2300),
        "idle connection closed after {idle:?}"
    );

    // A next head that starts but never ends is held to the header timeout, not the idle one.
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        exchange(&mut kept, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    kept.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let closed = closed_after(&mut kept, limit).await.expect("left open");
    assert!(
        closed < Duration::from_millis(1400),
        "closed after {closed:?}"
    );

    // A request whose body takes longer than the header timeout is not cut: it is busy.
    let body = case_body("CS31", "Open", "slow body");
    let path = app
        .hook_url(NS, "case", "create")
        .replace(&format!("http://{}", app.addr), "");
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    for chunk in body.as_bytes().chunks(body.len() / 4 + 1) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        slow.write_all(chunk).await.unwrap();
    }
    let mut answer = vec![0u8; 1024];
    let n = slow.read(&mut answer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 202"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );

    let page = app.metrics().await;
    for reason in ["header_timeout", "idle_timeout"] {
        let series = format!("gtt_gateway_connections_closed_total{{reason=\"{reason}\"}}");
        assert!(metric(&page, &series) >= 1.0, "{series} in {page}");
    }
}

#[tokio::test]
async fn oversized_heads_get_431_and_do_not_stay() {
    let app = TestApp::spawn().await;
    let too_many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    for extra in [format!("X-Pad: {}\r\n", "a".repeat(20 * 1024)), too_many] {
        let mut conn = TcpStream::connect(app.addr).await.unwrap();
        let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        let _ = conn.write_all(request.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer))
            .await
            .expect("the connection is closed");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    }
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_finishes_busy_ones() {
    let app = TestApp::spawn().await;
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    assert!(
        exchange(&mut idle, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    let mut bare = TcpStream::connect(app.addr).await.unwrap();
    // A callback in flight: head and half of the body sent.
    let body = case_body("CS32", "Open", "in flight at shutdown");
    let path = app
        .hook_url(NS, "case", "create")
        .replace(&format!("http://{}", app.addr), "");
    let mut busy = TcpStream::connect(app.addr).await.unwrap();
    busy.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    busy.write_all(&body.as_bytes()[..20]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = Instant::now();
    app.shutdown.cancel();
    let limit = Duration::from_secs(5);
    assert!(closed_after(&mut idle, limit).await.is_some(), "idle kept");
    assert!(closed_after(&mut bare, limit).await.is_some(), "bare kept");
    assert!(
        TcpStream::connect(app.addr).await.is_err(),
        "still accepting"
    );
    busy.write_all(&body.as_bytes()[20..]).await.unwrap();
    let mut answer = String::new();
    busy.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let result = tokio::time::timeout(Duration::from_secs(10), app.task).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "clean stop");
    assert!(stopping.elapsed() < Duration::from_secs(5));
    assert_eq!(
        app.js
            .get_stream("GTT_EVENTS")
            .await
            .unwrap()
            .cached_info()
            .state
            .messages,
        1
    );
}
