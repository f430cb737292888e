//! `gtt-gateway healthcheck`: exit 0 when `/healthz` answers 200 (container HEALTHCHECKs).

use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub(super) struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
    url: String,
}

pub(super) fn run(args: &Args) -> ExitCode {
    super::block_on(async {
        let healthy = async {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .ok()?;
            let response = client.get(&args.url).send().await.ok()?;
            Some(response.status() == reqwest::StatusCode::OK)
        };
        if healthy.await == Some(true) {
            ExitCode::SUCCESS
        } else {
            eprintln!("gtt-gateway: {} is not healthy", args.url);
            ExitCode::FAILURE
        }
    })
}
