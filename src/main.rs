//! The `gtt-gateway` command line: `serve`, `callback-url` and `check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use gtt_gateway::config::Settings;
use gtt_gateway::startup::Application;
use gtt_gateway::webhook::token::TokenKeys;

/// Exit code for configuration errors (sysexits EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "gtt-gateway",
    version,
    about = "GTT EnvisionDX webhook gateway to NATS JetStream"
)]
struct Cli {
    /// TOML config file (default: $GTT_GATEWAY_CONFIG, else built-in defaults + environment).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (HTTP ingest + NATS publishing) until SIGTERM or Ctrl-C.
    Serve,
    /// Print the callback URL (with its capability token) to register at GTT by hand.
    CallbackUrl {
        #[arg(long)]
        namespace: String,
        #[arg(long, default_value = "case")]
        kind: String,
        /// GTT's action verb, e.g. `create` or `update`.
        #[arg(long)]
        action: String,
    },
    /// Validate the configuration and exit (non-zero, naming the key, when invalid).
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("gtt-gateway: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::CheckConfig => {
            println!(
                "configuration OK: {} namespace(s), stream {}, listening on {}",
                settings.namespaces.len(),
                settings.nats.stream,
                settings.server.listen
            );
            ExitCode::SUCCESS
        }
        Command::CallbackUrl {
            namespace,
            kind,
            action,
        } => {
            let Some(public_url) = &settings.callbacks.public_url else {
                eprintln!(
                    "gtt-gateway: invalid configuration: callbacks.public_url: required to build callback URLs"
                );
                return ExitCode::from(EXIT_CONFIG);
            };
            if settings.namespace(&namespace).is_none() {
                eprintln!(
                    "gtt-gateway: warning: namespace {namespace:?} is not in `namespaces`; its callbacks would be refused"
                );
            }
            let keys = TokenKeys::new(settings.callbacks.all_secrets());
            println!(
                "{}",
                keys.callback_url(public_url, &namespace, &kind, &action)
            );
            ExitCode::SUCCESS
        }
        Command::Serve => serve(settings),
    }
}

fn serve(settings: Settings) -> ExitCode {
    gtt_gateway::telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gtt-gateway: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        if settings.namespaces.is_empty() {
            tracing::warn!("No namespaces configured: every callback will be refused");
        }
        let app = match Application::build(settings).await {
            Ok(app) => app,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "Startup failed");
                return ExitCode::FAILURE;
            }
        };
        let shutdown = CancellationToken::new();
        gtt_gateway::shutdown::cancel_on_signal(shutdown.clone());
        match app.run_until_stopped(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "Stopped on error");
                ExitCode::FAILURE
            }
        }
    })
}
