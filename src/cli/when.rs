//! Time arguments of the operator commands (`--since`, `--until`): an RFC 3339 time
//! (`2025-03-04T10:00:00Z`) or a duration that long ago (`90m`, `2h`, `7d`).

use chrono::{DateTime, Utc};
use humantime_serde::re::humantime;

/// Parse a time argument (for clap's `value_parser`).
pub(super) fn parse(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        format!("{text:?} is neither an RFC 3339 time (2025-03-04T10:00:00Z) nor a duration ago (2h, 7d)")
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| format!("{text:?} reaches too far back"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_ago() {
        assert_eq!(
            parse("2025-03-04T10:00:00+01:00").unwrap().to_rfc3339(),
            "2025-03-04T09:00:00+00:00"
        );
        let two_hours_ago = parse("2h").unwrap();
        let expected = Utc::now() - chrono::Duration::hours(2);
        assert!((two_hours_ago - expected).num_seconds().abs() < 5);
        assert!(parse("yesterday").unwrap_err().contains("RFC 3339"));
        assert!(parse("100000000000d").is_err());
    }
}
