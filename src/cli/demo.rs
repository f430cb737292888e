//! `gtt-gateway demo` (what no arguments runs when nothing is configured) and
//! `gtt-gateway sandbox`: the embedded default and the GTT sandbox alone (feature `demo`).

use std::process::ExitCode;
use std::time::Duration;

use gtt_sandbox::{Sandbox, SandboxConfig, TrafficConfig, spawn_traffic};
use tokio_util::sync::CancellationToken;

use crate::config::{LogFormat, LogSettings, NatsSettings};

/// Exit code when the demo cannot find or start a NATS server (sysexits EX_UNAVAILABLE).
const EXIT_UNAVAILABLE: u8 = 69;

#[derive(clap::Args)]
pub(super) struct SandboxArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// Namespaces that exist in the sandbox.
    #[arg(long = "namespace", default_value = "142033")]
    namespaces: Vec<String>,
    /// Also generate ticket traffic.
    #[arg(long)]
    traffic: bool,
}

pub(super) fn run_demo() -> ExitCode {
    let _telemetry = crate::telemetry::init(&pretty("warn"));
    let nats_url = std::env::var("GTT_GATEWAY_NATS__URL")
        .unwrap_or_else(|_| NatsSettings::default().url.as_slice().join(","));
    super::block_on(async {
        let shutdown = stop_on_signal();
        match crate::demo::run(nats_url, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gtt-gateway: {e:#}");
                ExitCode::from(EXIT_UNAVAILABLE)
            }
        }
    })
}

pub(super) fn run_sandbox(args: SandboxArgs) -> ExitCode {
    let _telemetry = crate::telemetry::init(&pretty("info"));
    super::block_on(async {
        let config = SandboxConfig {
            namespaces: args.namespaces.clone(),
            ..SandboxConfig::default()
        };
        let client = config.clients[0].clone();
        let sandbox = match Sandbox::start(args.listen, config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("gtt-gateway: cannot start the sandbox: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        println!("GTT sandbox at {}", sandbox.base_url());
        println!("  token endpoint  {}", sandbox.token_url());
        println!(
            "  client          {} / {}",
            client.client_id, client.client_secret
        );
        println!("  namespaces      {}", args.namespaces.join(", "));
        let shutdown = stop_on_signal();
        if args.traffic {
            drop(spawn_traffic(
                sandbox.clone(),
                TrafficConfig {
                    namespaces: args.namespaces,
                    new_ticket_every: Duration::from_secs(3),
                    step_every: Duration::from_secs(1),
                    max_open: 10,
                },
                shutdown.clone(),
            ));
        }
        shutdown.cancelled().await;
        sandbox.shutdown().await;
        ExitCode::SUCCESS
    })
}

fn pretty(level: &str) -> LogSettings {
    LogSettings {
        format: LogFormat::Pretty,
        level: level.into(),
    }
}

fn stop_on_signal() -> CancellationToken {
    let shutdown = CancellationToken::new();
    crate::shutdown::cancel_on_signal(shutdown.clone());
    shutdown
}
