//! The GTT sandbox's delivery faults and outages as flags, shared by `gtt-gateway sandbox` and
//! `gtt-gateway demo`, for rehearsing lost, late, doubled and reordered webhooks from the
//! command line (feature `demo`).

use std::time::Duration;

use gtt_sandbox::{Outages, SandboxConfig};

/// Delivery faults; an unset flag keeps the command's own default.
#[derive(clap::Args, Debug, Default)]
#[command(
    next_help_heading = "Delivery faults (shares are 0..1, e.g. 0.3, or percentages, e.g. 30%)"
)]
pub(super) struct FaultArgs {
    /// Share of webhook deliveries lost entirely (never retried): only polling can find them.
    #[arg(long = "drop", value_name = "SHARE", value_parser = share)]
    drop: Option<f64>,
    /// Share of deliveries whose first attempt is lost in transit (GTT retries it).
    #[arg(long = "drop-first-attempt", value_name = "SHARE", value_parser = share)]
    drop_first_attempt: Option<f64>,
    /// Share of deliveries sent twice.
    #[arg(long = "duplicate", value_name = "SHARE", value_parser = share)]
    duplicate: Option<f64>,
    /// Share of deliveries held back until a later one has been sent.
    #[arg(long = "reorder", value_name = "SHARE", value_parser = share)]
    reorder: Option<f64>,
    /// Random extra delay, up to this, before each delivery (e.g. 500ms, 2s).
    #[arg(long = "delay", value_name = "DURATION", value_parser = humantime::parse_duration)]
    delay: Option<Duration>,
    /// Recurring outage of the whole sandbox (every endpoint answers 503, deliveries pause):
    /// one every DURATION (e.g. 2m); needs --outage-for.
    #[arg(
        long = "outage-every",
        value_name = "DURATION",
        value_parser = humantime::parse_duration,
        requires = "outage_for"
    )]
    outage_every: Option<Duration>,
    /// How long each outage lasts (e.g. 20s); shorter than --outage-every.
    #[arg(
        long = "outage-for",
        value_name = "DURATION",
        value_parser = humantime::parse_duration,
        requires = "outage_every"
    )]
    outage_for: Option<Duration>,
    /// Seed of the random faults, for a run that can be repeated.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
}

impl FaultArgs {
    /// Set the flags that were given on `config`; an error names the flag to fix.
    pub(super) fn apply(&self, config: &mut SandboxConfig) -> Result<(), String> {
        let delivery = &mut config.delivery;
        for (flag, value) in [
            (self.drop, &mut delivery.drop_rate),
            (
                self.drop_first_attempt,
                &mut delivery.drop_first_attempt_rate,
            ),
            (self.duplicate, &mut delivery.duplicate_rate),
            (self.reorder, &mut delivery.reorder_rate),
        ] {
            if let Some(share) = flag {
                *value = share;
            }
        }
        if let Some(delay) = self.delay {
            delivery.max_delay = delay;
        }
        if self.seed.is_some() {
            delivery.seed = self.seed;
        }
        if let (Some(every), Some(lasting)) = (self.outage_every, self.outage_for) {
            if lasting.is_zero() || lasting >= every {
                return Err(
                    "--outage-for must be above zero and shorter than --outage-every".into(),
                );
            }
            config.outages = Some(Outages { every, lasting });
        }
        Ok(())
    }
}

/// A share: `0.3` or `30%`, from 0 to 1.
fn share(text: &str) -> Result<f64, String> {
    let value = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => text.trim().parse::<f64>(),
    };
    match value {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err("expected a share from 0 to 1 (e.g. 0.3) or a percentage (e.g. 30%)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_fractions_or_percentages() {
        assert_eq!(share("0.3"), Ok(0.3));
        assert_eq!(share("30%"), Ok(0.3));
        assert_eq!(share("1"), Ok(1.0));
        for bad in ["1.5", "-0.1", "150%", "many", "NaN"] {
            assert!(share(bad).is_err(), "{bad}");
        }
    }
}
