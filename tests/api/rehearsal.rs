//! Rehearsing faults with the real binary: `gtt-gateway sandbox` and `gtt-gateway demo` with
//! the sandbox's delivery faults as flags, and the polling fallback recovering what they lose.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::binary::{Running, gateway, metrics_on, serve_config, serve_ready, stop, write_config};
use gtt_test_support::*;

/// The sum of the samples of `prefix` in a metrics text.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_fault_flags_lose_webhooks_that_polling_recovers() {
    let sandbox_port = free_port();
    let mut sandbox = Running::spawn(gateway(&[
        "sandbox",
        "--listen",
        &format!("127.0.0.1:{sandbox_port}"),
        "--namespace",
        NS,
        "--traffic",
        "--drop",
        "100%",
        "--outage-every",
        "3s",
        "--outage-for",
        "1s",
        "--seed",
        "7",
    ]));
    let faults = sandbox.wait_for_line(Duration::from_secs(10), |l| l.contains("faults"));
    assert!(
        faults.ends_with("faults          drop 100%, outage 1s every 3s"),
        "{:?}",
        sandbox.seen
    );

    let nats = NatsServer::start();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let sandbox_url = format!("http://127.0.0.1:{sandbox_port}");
    let gtt = format!(
        "[gtt]\napi_url = \"{sandbox_url}\"\n\
         auth_url = \"{sandbox_url}/realms/dx/protocol/openid-connect/token\"\n\
         client_id = \"sandbox-client\"\nclient_secret = \"sandbox-secret\"\n\
         [registrar]\ninterval = \"1s\"\n[reconcile]\nenabled = true\ninterval = \"500ms\"\n"
    );
    let config = write_config(dir.path(), &serve_config(port, &nats.url(), &gtt));
    let mut serve = serve_ready(config.to_str().unwrap(), port, Stdio::null()).await;
    let http = reqwest::Client::new();

    // Every webhook is lost, so what reaches the stream was recovered by polling, through the
    // outages (GTT answering 503 now and then).
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let text = metrics_on(&http, port).await;
        let recovered = metric(&text, "gtt_gateway_reconcile_recovered_total");
        let outage = text.lines().any(|l| {
            l.starts_with("gtt_gateway_gtt_requests_total{") && l.contains("status=\"503\"")
        });
        // The registrar may need a few tries through the outages before both webhooks are in
        // place; polling recovers meanwhile.
        let webhooks = metric(&text, "gtt_gateway_subscriptions");
        if recovered >= 3.0 && outage && webhooks == 2.0 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "polling recovered too little, no outage seen, or the webhooks not in place:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        metric(&metrics, "gtt_gateway_subscriptions"),
        2.0,
        "the webhooks were in place: their deliveries were dropped\n{metrics}"
    );
    assert_eq!(
        metric(&metrics, "gtt_gateway_callbacks_total"),
        0.0,
        "no webhook arrived\n{metrics}"
    );
    assert!(stop(&mut serve, "-TERM").await.success());
    assert!(stop(&mut sandbox.child, "-INT").await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fault_flags_show_polling_recovering_lost_webhooks() {
    let nats = NatsServer::start();
    let mut command = gateway(&["demo", "--drop", "1", "--duplicate", "0"]);
    command.env("GTT_GATEWAY_NATS__URL", nats.url());
    let mut demo = Running::spawn(command);
    demo.wait_for_line(Duration::from_secs(40), |l| {
        l.contains(" poll ") && l.contains(".case.created.CS")
    });
    let seen = &demo.seen;
    assert!(
        seen.iter()
            .any(|l| l.contains("faults        drop 100%, reorder 5%, delay up to 300ms")),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|l| l.contains(" webhook ")),
        "every webhook was dropped: {seen:?}"
    );
    assert!(stop(&mut demo.child, "-INT").await.success());
}

#[test]
fn fault_flags_name_what_to_fix() {
    for (args, named) in [
        (&["sandbox", "--drop", "1.5"][..], "--drop"),
        (&["demo", "--duplicate", "lots"][..], "--duplicate"),
        (&["sandbox", "--outage-every", "1m"][..], "--outage-for"),
        (
            &["sandbox", "--outage-every", "10s", "--outage-for", "1m"][..],
            "--outage-for",
        ),
        (&["sandbox", "--delay", "soon"][..], "--delay"),
    ] {
        let out = gateway(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}
