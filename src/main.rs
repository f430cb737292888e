//! The `gtt-gateway` command line: `serve`, `callback-url` and `check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use gtt_gateway::config::Settings;
use gtt_gateway::registrar::{Change, Registrar, redact_url};
use gtt_gateway::startup::Application;
use gtt_gateway::webhook::token::{MAX_SEGMENT_BYTES, TokenKeys, is_route_segment};

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
        #[arg(long, value_parser = route_segment)]
        namespace: String,
        #[arg(long, default_value = "case", value_parser = route_segment)]
        kind: String,
        /// GTT's action verb, e.g. `create` or `update`.
        #[arg(long, value_parser = route_segment)]
        action: String,
    },
    /// Validate the configuration and exit (non-zero, naming the key, when invalid).
    CheckConfig,
    /// The embedded default: GTT sandbox + gateway + registrar + ticket traffic, with a live
    /// tail of the events read back from NATS (what running with no arguments does).
    Demo,
    /// Run the GTT sandbox alone (a stand-in for GTT's API, for tests and experiments).
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        /// Namespaces that exist in the sandbox.
        #[arg(long = "namespace", default_value = "142033")]
        namespaces: Vec<String>,
        /// Also generate ticket traffic.
        #[arg(long)]
        traffic: bool,
    },
    /// Exit 0 when the gateway's /healthz answers 200 (for container HEALTHCHECKs; no curl needed).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    /// Inspect or fix the webhook subscriptions at GTT.
    Subscriptions {
        #[command(subcommand)]
        action: SubscriptionsCommand,
    },
}

#[derive(Subcommand)]
enum SubscriptionsCommand {
    /// List the webhooks GTT has in the configured namespaces (tokens redacted).
    List,
    /// Create missing webhooks and fix wrong ones.
    Sync {
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
    /// Like sync, and also delete our own webhooks that are no longer configured.
    Prune {
        /// Only print what would change.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let no_config =
        cli.config.is_none() && std::env::var_os(gtt_gateway::config::CONFIG_ENV).is_none();
    match cli.command {
        None if no_config => return demo(),
        Some(Command::Demo) => return demo(),
        Some(Command::Sandbox {
            listen,
            namespaces,
            traffic,
        }) => return sandbox(listen, namespaces, traffic),
        Some(Command::Healthcheck { url }) => return healthcheck(&url),
        _ => {}
    }
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
        Command::Demo | Command::Sandbox { .. } | Command::Healthcheck { .. } => {
            unreachable!("handled before loading the config")
        }
        Command::Subscriptions { action } => subscriptions(settings, action),
    }
}

/// A namespace, kind or action of a callback route, as the gateway accepts them.
fn route_segment(value: &str) -> Result<String, String> {
    if is_route_segment(value) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "must be 1-{MAX_SEGMENT_BYTES} ASCII letters, digits, '-' or '_'"
        ))
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

fn subscriptions(settings: Settings, action: SubscriptionsCommand) -> ExitCode {
    let missing = settings.registrar_missing();
    if !missing.is_empty() {
        eprintln!(
            "gtt-gateway: invalid configuration: {}: required to manage subscriptions",
            missing.join(", ")
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let metrics = gtt_gateway::metrics::Metrics::new();
    let client = gtt_gateway::startup::gtt_client(&settings, &metrics);
    let Some(registrar) = Registrar::new(&settings, client, metrics) else {
        return ExitCode::from(EXIT_CONFIG);
    };
    let Ok(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async {
        let result = match action {
            SubscriptionsCommand::List => registrar.list().await.map(|rows| {
                println!(
                    "{:<12} {:<40} {:<6} {:<8} {:<8} {:<8} URL",
                    "NAMESPACE", "NAME", "OURS", "KIND", "VERSION", "ACTION"
                );
                for row in rows {
                    let w = &row.webhook;
                    let ours = match (row.ours, row.correct) {
                        (true, true) => "yes",
                        (true, false) => "WRONG",
                        (false, _) => "no",
                    };
                    println!(
                        "{:<12} {:<40} {:<6} {:<8} {:<8} {:<8} {}",
                        row.namespace,
                        w.name,
                        ours,
                        w.spec.kind,
                        w.spec.version,
                        w.spec.action,
                        redact_url(&w.spec.url)
                    );
                }
            }),
            SubscriptionsCommand::Sync { dry_run } => registrar
                .sync_once(false, dry_run)
                .await
                .map(|c| print_changes(&c, dry_run)),
            SubscriptionsCommand::Prune { dry_run } => registrar
                .sync_once(true, dry_run)
                .await
                .map(|c| print_changes(&c, dry_run)),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gtt-gateway: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn healthcheck(url: &str) -> ExitCode {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    let ok = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(3))
            .build()
            .ok()?;
        let response = client.get(url).send().await.ok()?;
        Some(response.status() == reqwest::StatusCode::OK)
    });
    if ok == Some(true) {
        ExitCode::SUCCESS
    } else {
        eprintln!("gtt-gateway: {url} is not healthy");
        ExitCode::FAILURE
    }
}

fn demo() -> ExitCode {
    let _telemetry = gtt_gateway::telemetry::init(&gtt_gateway::config::LogSettings {
        format: gtt_gateway::config::LogFormat::Pretty,
        level: "warn".into(),
    });
    let nats_url = std::env::var("GTT_GATEWAY_NATS__URL").unwrap_or_else(|_| {
        gtt_gateway::config::NatsSettings::default()
            .url
            .as_slice()
            .join(",")
    });
    let Ok(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        gtt_gateway::shutdown::cancel_on_signal(shutdown.clone());
        match gtt_gateway::demo::run(nats_url, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gtt-gateway: {e:#}");
                ExitCode::from(69)
            }
        }
    })
}

fn sandbox(listen: std::net::SocketAddr, namespaces: Vec<String>, traffic: bool) -> ExitCode {
    use gtt_gateway::sandbox::{Sandbox, SandboxConfig, TrafficConfig, spawn_traffic};
    let _telemetry = gtt_gateway::telemetry::init(&gtt_gateway::config::LogSettings {
        format: gtt_gateway::config::LogFormat::Pretty,
        level: "info".into(),
    });
    let Ok(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async {
        let config = SandboxConfig {
            namespaces: namespaces.clone(),
            ..SandboxConfig::default()
        };
        let client = config.clients[0].clone();
        let sandbox = match Sandbox::start(listen, config).await {
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
        println!("  namespaces      {}", namespaces.join(", "));
        let shutdown = CancellationToken::new();
        gtt_gateway::shutdown::cancel_on_signal(shutdown.clone());
        if traffic {
            drop(spawn_traffic(
                sandbox.clone(),
                TrafficConfig {
                    namespaces,
                    new_ticket_every: std::time::Duration::from_secs(3),
                    step_every: std::time::Duration::from_secs(1),
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

fn print_changes(changes: &[Change], dry_run: bool) {
    let suffix = if dry_run { " (dry run)" } else { "" };
    for change in changes {
        println!(
            "{:<12} {:<40} {}{suffix}",
            change.namespace(),
            change.name(),
            change.verb()
        );
    }
}

fn serve(settings: Settings) -> ExitCode {
    let telemetry = gtt_gateway::telemetry::init(&settings.log);
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
    let code = runtime.block_on(async {
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
    });
    // Flush exported traces (outside the runtime: the exporter blocks).
    telemetry.shutdown();
    code
}
