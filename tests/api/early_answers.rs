//! Answers given before the whole body was read (`413`, `401`) reach a sender that writes its
//! whole body before reading, as Python's http.client and most Java clients do; the rest of the
//! body is read only up to `server.max_drain_bytes` and the request deadline.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use gtt_test_support::*;

/// Write the whole request, and only then read the whole answer, as a naive client does.
async fn write_then_read(app: &TestApp, head: &str, body: &[u8]) -> String {
    let exchange = async {
        let mut conn = TcpStream::connect(app.addr).await.unwrap();
        conn.write_all(head.as_bytes())
            .await
            .map_err(|e| format!("writing the head: {e}"))?;
        conn.write_all(body)
            .await
            .map_err(|e| format!("writing the body: {e}"))?;
        let mut answer = Vec::new();
        conn.read_to_end(&mut answer)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        Ok::<_, String>(String::from_utf8_lossy(&answer).to_string())
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("no answer within 30 s")
        .unwrap_or_else(|e| panic!("the client saw no answer: {e}"))
}

fn path(app: &TestApp, token_ok: bool) -> String {
    let url = app.hook_url(NS, "case", "create");
    let url = if token_ok {
        url
    } else {
        format!("{}{}", &url[..url.len() - 64], "0".repeat(64))
    };
    url.replace(&format!("http://{}", app.addr), "")
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(64 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_answers_reach_a_client_that_writes_its_whole_body_first() {
    let app = TestApp::spawn().await; // server.max_body_bytes: 1 MiB
    let big = case_body("CS40", "Open", &"x".repeat(6 * 1024 * 1024));
    let cases = [
        (
            "413 from Content-Length",
            format!(
                "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                path(&app, true),
                big.len()
            ),
            big.as_bytes().to_vec(),
            "HTTP/1.1 413",
        ),
        (
            "413 while reading a chunked body",
            format!(
                "POST {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                path(&app, true)
            ),
            chunked(&big.as_bytes()[..3 * 1024 * 1024]),
            "HTTP/1.1 413",
        ),
        (
            "401 before reading",
            format!(
                "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                path(&app, false),
                2 * 1024 * 1024
            ),
            vec![b'x'; 2 * 1024 * 1024],
            "HTTP/1.1 401",
        ),
    ];
    for (what, head, body, status) in cases {
        let answer = write_then_read(&app, &head, &body).await;
        assert!(answer.starts_with(status), "{what}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{what}: {answer}"
        );
        assert!(answer.contains("application/problem+json"), "{what}");
    }
    assert!(app.stored().await.is_empty());
    // The connection cap and the drain leave the gateway serving.
    assert_eq!(
        app.post("create", case_body("CS40", "Open", "small"))
            .await
            .status(),
        202
    );
}

#[tokio::test]
async fn draining_is_bounded_by_size_time_and_expect_continue() {
    let nats = NatsServer::start();
    let mut settings = test_settings(&nats.url(), "");
    settings.server.max_drain_bytes = 64 * 1024;
    settings.server.request_timeout = Duration::from_secs(1);
    settings.nats.publish_timeout = Duration::from_millis(500);
    let app = TestApp::spawn_on(nats, settings).await;
    let read_answer = |mut conn: TcpStream| async move {
        let started = Instant::now();
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut answer))
            .await
            .expect("an answer within 5 s")
            .unwrap_or(0);
        (
            String::from_utf8_lossy(&answer[..n]).to_string(),
            started.elapsed(),
        )
    };

    // More announced than would be drained: answered at once, nothing read.
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        path(&app, false),
        10 * 1024 * 1024
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let (answer, took) = read_answer(conn).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(took < Duration::from_millis(500), "{took:?}");

    // A sender that waits for `100 Continue` gets the answer instead.
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10000\r\n\r\n",
        path(&app, false)
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let (answer, took) = read_answer(conn).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(took < Duration::from_millis(500), "{took:?}");

    // A body that trickles in is drained until the request deadline, then answered.
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n",
        path(&app, false)
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = conn.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..30 {
            if writer.write_all(&[b'x'; 100]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut answer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1800),
        "answered after {took:?}, the deadline is 1 s"
    );
    trickle.abort();
}
