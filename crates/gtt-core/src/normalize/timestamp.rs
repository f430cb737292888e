//! Timestamps in the forms GTT and its neighbours use (`YYYY-MM-DD HH:MM:SS` without a zone,
//! RFC 3339, Unix seconds or milliseconds) to UTC.

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// Unix seconds above this are read as Unix milliseconds.
const MILLIS_THRESHOLD: u64 = 100_000_000_000;

/// Parses a timestamp value into UTC.
///
/// Accepted:
/// * `"YYYY-MM-DD HH:MM:SS"` (GTT's documented form) and `"YYYY-MM-DDTHH:MM:SS"`, both
///   with optional fractional seconds, and `"YYYY-MM-DD HH:MM"`: no zone given, so
///   read as local time in `zone`;
/// * the same with a `Z`, `UTC`/`GMT` or an offset (`+02:00`, `+0200`, `+02`),
///   i.e. RFC 3339 / ISO 8601: converted to UTC;
/// * `"YYYY-MM-DD"`: midnight in `zone`;
/// * JSON numbers and numeric strings as Unix seconds, or Unix milliseconds when
///   greater than 10^11 (fractions allowed, to the microsecond); zero and negative
///   numbers are treated as "not set".
///
/// Local times in `zone` that fall into a DST overlap (ambiguous) resolve to the
/// earliest instant; local times in a DST gap (non-existent) give `None`. Times outside
/// the years 0000-9999 (which RFC 3339 cannot write) and anything else give `None`.
pub fn parse_timestamp(value: &Value, zone: Tz) -> Option<DateTime<Utc>> {
    parse_any_timestamp(value, zone).filter(|t| (0..=9999).contains(&t.year()))
}

fn parse_any_timestamp(value: &Value, zone: Tz) -> Option<DateTime<Utc>> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_u64() {
                from_epoch_integer(i)
            } else if n.is_i64() {
                None // negative
            } else {
                n.as_f64().and_then(from_epoch_float)
            }
        }
        Value::String(s) => parse_timestamp_str(s.trim(), zone),
        _ => None,
    }
}

fn from_epoch_integer(n: u64) -> Option<DateTime<Utc>> {
    let signed = i64::try_from(n).ok().filter(|&n| n > 0)?;
    if n > MILLIS_THRESHOLD {
        DateTime::from_timestamp_millis(signed)
    } else {
        DateTime::from_timestamp(signed, 0)
    }
}

fn from_epoch_float(f: f64) -> Option<DateTime<Utc>> {
    if !f.is_finite() || f <= 0.0 {
        return None;
    }
    let micros = if f > MILLIS_THRESHOLD as f64 {
        (f * 1e3).round()
    } else {
        (f * 1e6).round()
    };
    if micros >= i64::MAX as f64 {
        return None;
    }
    DateTime::from_timestamp_micros(micros as i64)
}

fn parse_timestamp_str(s: &str, zone: Tz) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().ok().and_then(from_epoch_integer);
    }
    if let Some((whole, frac)) = s.split_once('.')
        && !whole.is_empty()
        && !frac.is_empty()
        && whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return s.parse::<f64>().ok().and_then(from_epoch_float);
    }

    let date_end = s.find(['T', 't', ' ']).unwrap_or(s.len());
    let date = NaiveDate::parse_from_str(&s[..date_end], "%Y-%m-%d").ok()?;
    if date_end == s.len() {
        return local_to_utc(date.and_time(NaiveTime::MIN), zone);
    }
    // Skip the 'T' (or the run of spaces) between date and time.
    let rest = s[date_end + 1..].trim_start();

    let (time_text, offset) = split_offset(rest)?;
    let time = NaiveTime::parse_from_str(time_text, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time_text, "%H:%M"))
        .ok()?;
    let naive = date.and_time(time);
    match offset {
        Some(offset) => naive
            .and_local_timezone(offset)
            .single()
            .map(|dt| dt.with_timezone(&Utc)),
        None => local_to_utc(naive, zone),
    }
}

/// Splits `"10:20:30+02:00"` into the time text and its offset (`None` = no zone given).
/// Returns `None` when an offset is present but malformed.
fn split_offset(rest: &str) -> Option<(&str, Option<FixedOffset>)> {
    if let Some(time) = rest.strip_suffix(['Z', 'z']) {
        return Some((time.trim_end(), FixedOffset::east_opt(0)));
    }
    for zone_name in ["UTC", "GMT"] {
        if let Some(head) = rest.len().checked_sub(3).and_then(|i| rest.get(i..))
            && head.eq_ignore_ascii_case(zone_name)
        {
            let time = &rest[..rest.len() - 3];
            return Some((time.trim_end(), FixedOffset::east_opt(0)));
        }
    }
    match rest.find(['+', '-']) {
        None => Some((rest, None)),
        Some(i) => {
            let offset = parse_offset(&rest[i..])?;
            Some((rest[..i].trim_end(), Some(offset)))
        }
    }
}

/// `+02:00`, `+0200`, `+02`, `-05:30`.
fn parse_offset(s: &str) -> Option<FixedOffset> {
    let sign = match s.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits: String = s[1..].chars().filter(|&c| c != ':').collect();
    let colons = s[1..].chars().filter(|&c| c == ':').count();
    if colons > 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 if colons == 0 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// Local wall time in `zone` to UTC: earliest instant when ambiguous, `None` in a gap.
fn local_to_utc(naive: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(dt) => Some(dt.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.with_timezone(&Utc).min(b.with_timezone(&Utc))),
        LocalResult::None => None,
    }
}
