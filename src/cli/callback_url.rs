//! `gtt-gateway callback-url`: the URL (with its capability token) to register at GTT by hand.

use std::process::ExitCode;

use gtt_core::token::{MAX_SEGMENT_BYTES, is_route_segment};

use crate::config::Settings;

#[derive(clap::Args)]
pub(super) struct Args {
    #[arg(long, value_parser = route_segment)]
    namespace: String,
    #[arg(long, default_value = "case", value_parser = route_segment)]
    kind: String,
    /// GTT's action verb, e.g. `create` or `update`.
    #[arg(long, value_parser = route_segment)]
    action: String,
}

pub(super) fn run(settings: &Settings, args: &Args) -> ExitCode {
    let Some(public_url) = &settings.callbacks.public_url else {
        eprintln!(
            "gtt-gateway: invalid configuration: callbacks.public_url: required to build callback URLs"
        );
        return ExitCode::from(super::EXIT_CONFIG);
    };
    if settings.namespace(&args.namespace).is_none() {
        eprintln!(
            "gtt-gateway: warning: namespace {:?} is not in `namespaces`; its callbacks would be refused",
            args.namespace
        );
    }
    let keys = settings.callbacks.keys();
    println!(
        "{}",
        keys.callback_url(public_url, &args.namespace, &args.kind, &args.action)
    );
    ExitCode::SUCCESS
}

/// A namespace, kind or action of a callback route, as the gateway accepts them.
pub(super) fn route_segment(value: &str) -> Result<String, String> {
    if is_route_segment(value) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "must be 1-{MAX_SEGMENT_BYTES} ASCII letters, digits, '-' or '_'"
        ))
    }
}
