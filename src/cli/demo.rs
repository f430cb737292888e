//! `gtt-gateway demo` (what no arguments runs when nothing is configured) and
//! `gtt-gateway sandbox`: the embedded default and the GTT sandbox alone, each with the
//! sandbox's delivery faults as flags (feature `demo`).

use std::process::ExitCode;
use std::time::Duration;

use gtt_sandbox::{Sandbox, SandboxConfig, TrafficConfig, spawn_traffic};
use tokio_util::sync::CancellationToken;

use super::faults::FaultArgs;
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
    #[command(flatten)]
    faults: FaultArgs,
}

#[derive(clap::Args, Default)]
pub(super) struct DemoArgs {
    /// Faults on top of the demo's own (10% duplicates, 5% reordered, up to 300 ms late).
    #[command(flatten)]
    faults: FaultArgs,
}

pub(super) fn run_demo(args: &DemoArgs) -> ExitCode {
    let mut sandbox = crate::demo::sandbox_config();
    if let Err(e) = args.faults.apply(&mut sandbox) {
        return super::usage_error(&e);
    }
    let _telemetry = crate::telemetry::init(&pretty("warn"));
    let nats_url = std::env::var("GTT_GATEWAY_NATS__URL")
        .unwrap_or_else(|_| NatsSettings::default().url.as_slice().join(","));
    super::block_on(async {
        let shutdown = stop_on_signal();
        match crate::demo::run(nats_url, sandbox, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gtt-gateway: {e:#}");
                ExitCode::from(EXIT_UNAVAILABLE)
            }
        }
    })
}

pub(super) fn run_sandbox(args: SandboxArgs) -> ExitCode {
    let mut config = SandboxConfig {
        namespaces: args.namespaces.clone(),
        ..SandboxConfig::default()
    };
    if let Err(e) = args.faults.apply(&mut config) {
        return super::usage_error(&e);
    }
    let _telemetry = crate::telemetry::init(&pretty("info"));
    super::block_on(async {
        let faults = crate::demo::faults(&config);
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
        println!("  faults          {faults}");
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
