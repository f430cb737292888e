//! Points in time given to operator commands (`--since`, `--until`): RFC 3339, GTT's own
//! `YYYY-MM-DD HH:MM:SS` (or a date alone) in `gtt.timezone`, or a duration ago (`90m`, `2h`,
//! `7d`).

use chrono::{DateTime, Utc};
use gtt_core::normalize::parse_timestamp;

/// The time `text` names, as of `now`; an error names `flag` and the accepted forms.
pub(super) fn parse(
    flag: &str,
    text: &str,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Some(at) = parse_timestamp(&serde_json::Value::String(text.into()), zone) {
        return Ok(at);
    }
    humantime::parse_duration(text)
        .ok()
        .and_then(|ago| chrono::Duration::from_std(ago).ok())
        .and_then(|ago| now.checked_sub_signed(ago))
        .ok_or_else(|| {
            format!(
                "{flag}: {text:?} is not a time: use RFC 3339 (2025-03-04T10:20:30Z), \
                 \"YYYY-MM-DD HH:MM:SS\" in gtt.timezone ({zone}), or a duration ago (90m, 2h, 7d)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form() {
        let now: DateTime<Utc> = "2025-03-04T12:00:00Z".parse().unwrap();
        let zone: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let at = |text: &str| parse("--since", text, zone, now);
        assert_eq!(
            at("2025-03-04T10:20:30Z").unwrap().to_rfc3339(),
            "2025-03-04T10:20:30+00:00"
        );
        // GTT's form is read in gtt.timezone (UTC+1 in March).
        assert_eq!(
            at("2025-03-04 10:20:30").unwrap().to_rfc3339(),
            "2025-03-04T09:20:30+00:00"
        );
        assert_eq!(
            at("2025-03-04").unwrap().to_rfc3339(),
            "2025-03-03T23:00:00+00:00"
        );
        assert_eq!(at("2h").unwrap().to_rfc3339(), "2025-03-04T10:00:00+00:00");
        let error = at("yesterday").unwrap_err();
        assert!(
            error.starts_with("--since: \"yesterday\" is not a time"),
            "{error}"
        );
    }
}
