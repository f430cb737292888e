//! `gtt-gateway check-config`: load and validate the configuration, say so, exit.

use std::path::Path;
use std::process::ExitCode;

pub(super) fn run(config: Option<&Path>) -> ExitCode {
    match super::load_settings(config) {
        Ok(settings) => {
            println!(
                "configuration OK: {} namespace(s), stream {}, listening on {}",
                settings.namespaces.len(),
                settings.nats.stream,
                settings.server.listen
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
