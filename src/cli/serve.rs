//! `gtt-gateway serve`: the gateway until SIGTERM or Ctrl-C.

use std::path::Path;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::app::Application;

pub(super) fn run(config: Option<&Path>) -> ExitCode {
    let settings = match super::load_settings(config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let telemetry = crate::telemetry::init(&settings.log);
    let code = super::block_on(async {
        if settings.namespaces.is_empty() {
            tracing::warn!("No namespaces configured: every callback will be refused");
        }
        let app = match Application::build(settings).await {
            Ok(app) => app.reload_secrets_from(config),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "Startup failed");
                return ExitCode::FAILURE;
            }
        };
        let shutdown = CancellationToken::new();
        crate::shutdown::cancel_on_signal(shutdown.clone());
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
