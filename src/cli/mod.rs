//! The `gtt-gateway` command line: parsing, the one async runtime, and one module per
//! subcommand. Configuration errors exit with 78 (sysexits `EX_CONFIG`) and name the key.

mod backfill;
mod callback_url;
mod check_config;
mod deadletter;
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
mod faults;
mod healthcheck;
mod output;
mod rejections;
mod serve;
mod status;
mod subscriptions;
mod tickets;
mod time;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;

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
    CallbackUrl(callback_url::Args),
    /// Validate the configuration and exit (non-zero, naming the key, when invalid).
    CheckConfig,
    /// Exit 0 when the gateway's /healthz answers 200 (for container HEALTHCHECKs; no curl needed).
    Healthcheck(healthcheck::Args),
    /// Store what GTT holds for a time window through the polling path (nothing is stored
    /// twice): for onboarding and after long outages.
    Backfill(backfill::Args),
    /// Look a ticket up: its current state and its event history.
    Tickets {
        #[command(subcommand)]
        action: tickets::Action,
    },
    /// List the refused callbacks (evidence of a wrong URL or secret; never tokens or bodies).
    Rejections(rejections::Args),
    /// Inspect or fix the webhook subscriptions at GTT.
    Subscriptions {
        #[command(subcommand)]
        action: subscriptions::Action,
    },
    /// Per namespace: webhooks at GTT, poller watermark and lease, last event, dead letters;
    /// the streams' and the bucket's size against their limits.
    Status(status::Args),
    /// The stored dead letters: list them, show one, replay them.
    Deadletter {
        #[command(subcommand)]
        action: deadletter::Action,
    },
    /// The embedded default: GTT sandbox + gateway + registrar + poller + ticket traffic, with
    /// a live tail of the events read back from NATS (what running with no arguments does).
    #[cfg(feature = "demo")]
    Demo(demo::DemoArgs),
    /// Run the GTT sandbox alone (a stand-in for GTT's API, for tests and rehearsing faults).
    #[cfg(feature = "demo")]
    Sandbox(demo::SandboxArgs),
}

/// Parse the command line and run the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    match cli.command.unwrap_or_else(|| default_command(config)) {
        Command::Serve => serve::run(config),
        Command::CallbackUrl(args) => with_settings(config, |s| callback_url::run(&s, &args)),
        Command::CheckConfig => check_config::run(config),
        Command::Healthcheck(args) => healthcheck::run(&args),
        Command::Subscriptions { action } => {
            with_settings(config, |s| subscriptions::run(&s, action))
        }
        Command::Deadletter { action } => with_settings(config, |s| deadletter::run(&s, action)),
        Command::Status(args) => with_settings(config, |s| status::run(&s, &args)),
        Command::Backfill(args) => with_settings(config, |s| backfill::run(&s, &args)),
        Command::Tickets { action } => with_settings(config, |s| tickets::run(&s, action)),
        Command::Rejections(args) => with_settings(config, |s| rejections::run(&s, &args)),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run_demo(&args),
        #[cfg(feature = "demo")]
        Command::Sandbox(args) => demo::run_sandbox(args),
    }
}

/// Without a command: the demo when nothing is configured (and this build has it), else `serve`.
fn default_command(config: Option<&Path>) -> Command {
    let configured = config.is_some() || std::env::var_os(crate::config::CONFIG_ENV).is_some();
    #[cfg(feature = "demo")]
    if !configured {
        return Command::Demo(demo::DemoArgs::default());
    }
    let _ = configured;
    Command::Serve
}

/// The settings, or the exit code after printing what is wrong with them.
fn load_settings(config: Option<&Path>) -> Result<Settings, ExitCode> {
    Settings::load(config).map_err(|e| {
        eprintln!("gtt-gateway: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// `Ok` when no key is `missing`; else the configuration error naming them, as printed.
fn require(missing: &[&str], purpose: &str) -> Result<(), ExitCode> {
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "gtt-gateway: invalid configuration: {}: required {purpose}",
        missing.join(", ")
    );
    Err(ExitCode::from(EXIT_CONFIG))
}

/// Run a command that needs the settings, or exit as [`load_settings`] says.
fn with_settings(config: Option<&Path>, run: impl FnOnce(Settings) -> ExitCode) -> ExitCode {
    load_settings(config).map_or_else(|code| code, run)
}

/// JetStream on the gateway's NATS, for an operator command (the server must answer within
/// [`crate::nats::COMMAND_TIMEOUT`]).
async fn jetstream(settings: &Settings) -> anyhow::Result<async_nats::jetstream::Context> {
    let client = crate::nats::client(&settings.nats, crate::nats::COMMAND_TIMEOUT).await?;
    Ok(async_nats::jetstream::new(client))
}

/// A wrong argument, or a wrong combination: say which, exit 2 like any other usage error.
fn usage_error(message: &str) -> ExitCode {
    eprintln!("gtt-gateway: {message}");
    ExitCode::from(2)
}

/// Run `work` on the process's async runtime (multi-threaded, every driver enabled).
fn block_on(work: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("gtt-gateway: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
