//! `server.request_timeout` bounds the whole request, from its complete head to the answer:
//! `408` while the body is still arriving, `503` + `Retry-After` when the event could not be
//! confirmed stored by then (here: a frozen nats-server, SIGSTOP).

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use gtt_test_support::*;

/// A stopped (SIGSTOP) process, continued (SIGCONT) when dropped, whatever the test did.
struct Frozen(u32);

impl Frozen {
    /// Stop `pid` and wait until every thread of it has stopped (a thread busy in the kernel,
    /// e.g. writing to disk on a loaded machine, stops only when it gets back).
    fn new(pid: u32) -> Self {
        signal("-STOP", pid);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(pid) {
            assert!(Instant::now() < deadline, "nats-server {pid} did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
        Self(pid)
    }
}

/// Whether every thread of `pid` is stopped (state `T` in `/proc/PID/task/*/stat`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            // The state follows the command name, which is in parentheses.
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('T'))
        })
    })
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

const DEADLINE: Duration = Duration::from_secs(2);

/// Send a callback's head and the first part of its body now, the rest after `pause` (never,
/// if `None`), calling `meanwhile` before the rest; the answer and its time from the head.
async fn slow_callback(
    app: &TestApp,
    number: &str,
    pause: Option<Duration>,
    meanwhile: impl FnOnce(),
) -> (String, Duration) {
    let body = case_body(number, "Open", "slow sender");
    let path = app
        .hook_url(NS, "case", "create")
        .replace(&format!("http://{}", app.addr), "");
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    conn.write_all(&body.as_bytes()[..40]).await.unwrap();
    if let Some(pause) = pause {
        tokio::time::sleep(pause).await;
        meanwhile();
        conn.write_all(&body.as_bytes()[40..]).await.unwrap();
    }
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    (
        String::from_utf8_lossy(&answer[..n]).to_string(),
        started.elapsed(),
    )
}

fn within_deadline(took: Duration) -> bool {
    took >= DEADLINE - Duration::from_millis(100) && took < DEADLINE + Duration::from_millis(600)
}

#[tokio::test]
async fn the_request_deadline_covers_reading_the_body_and_storing_the_event() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.server.request_timeout = DEADLINE;
    settings.nats.publish_timeout = Duration::from_millis(1500);
    let app = TestApp::spawn_on(nats, settings).await;
    assert_eq!(
        app.post("create", case_body("CS20", "Open", "warm-up"))
            .await
            .status(),
        202
    );

    // The body never completes: 408 at the deadline.
    let (answer, took) = slow_callback(&app, "CS21", None, || {}).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(within_deadline(took), "408 after {took:?}");

    // The body takes most of the deadline, then NATS hangs: 503 at the deadline, not after
    // the body time plus the publish timeouts.
    let mut frozen = None;
    let (answer, took) = slow_callback(&app, "CS22", Some(Duration::from_millis(800)), || {
        frozen = Some(Frozen::new(app.nats.pid()));
    })
    .await;
    drop(frozen);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 5"),
        "{answer}"
    );
    assert!(within_deadline(took), "503 after {took:?}");

    // NATS is back: the sender's retry is stored.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = app
            .post("create", case_body("CS22", "Open", "slow sender"))
            .await
            .status();
        if status == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "not stored after NATS came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
