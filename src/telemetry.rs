//! Log setup: `tracing` to stdout, JSON lines by default, filtered by `RUST_LOG` or `log.level`.
//! Nothing in the crate logs secrets, tokens or raw bodies; this module only chooses the format.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Install the global subscriber (once per process; later calls are ignored).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}
