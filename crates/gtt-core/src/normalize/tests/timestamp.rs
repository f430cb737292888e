//! Timestamp forms, zones and their serialization.

use chrono_tz::Tz;
use serde_json::{Value, json};

use super::super::*;
use super::*;

#[test]
fn timestamps() {
    let london: Tz = "Europe/London".parse().unwrap_or_else(|e| panic!("{e}"));
    let new_york: Tz = "America/New_York".parse().unwrap_or_else(|e| panic!("{e}"));
    let rows: &[(&str, Value, Tz, Option<&str>)] = &[
        (
            "gtt form utc",
            json!("2025-03-04 10:20:30"),
            Tz::UTC,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "gtt form padded",
            json!("  2025-03-04 10:20:30 "),
            Tz::UTC,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "fraction",
            json!("2025-03-04 10:20:30.250"),
            Tz::UTC,
            Some("2025-03-04T10:20:30.250Z"),
        ),
        (
            "T no offset",
            json!("2025-03-04T10:20:30"),
            Tz::UTC,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "T fraction",
            json!("2025-03-04T10:20:30.123456"),
            Tz::UTC,
            Some("2025-03-04T10:20:30.123456Z"),
        ),
        (
            "no seconds",
            json!("2025-03-04 10:20"),
            Tz::UTC,
            Some("2025-03-04T10:20:00Z"),
        ),
        (
            "date only",
            json!("2025-03-04"),
            Tz::UTC,
            Some("2025-03-04T00:00:00Z"),
        ),
        (
            "london winter (GMT)",
            json!("2025-03-04 10:20:30"),
            london,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "london summer (BST)",
            json!("2025-07-04 10:20:30"),
            london,
            Some("2025-07-04T09:20:30Z"),
        ),
        (
            "london day before BST",
            json!("2025-03-29 12:00:00"),
            london,
            Some("2025-03-29T12:00:00Z"),
        ),
        (
            "london day after BST",
            json!("2025-03-31 12:00:00"),
            london,
            Some("2025-03-31T11:00:00Z"),
        ),
        (
            "london date only BST",
            json!("2025-07-04"),
            london,
            Some("2025-07-03T23:00:00Z"),
        ),
        ("london DST gap", json!("2025-03-30 01:30:00"), london, None),
        (
            "london DST overlap earliest",
            json!("2025-10-26 01:30:00"),
            london,
            Some("2025-10-26T00:30:00Z"),
        ),
        (
            "new york EST",
            json!("2025-01-15 08:00:00"),
            new_york,
            Some("2025-01-15T13:00:00Z"),
        ),
        (
            "new york EDT",
            json!("2025-07-15T08:00:00"),
            new_york,
            Some("2025-07-15T12:00:00Z"),
        ),
        (
            "new york DST gap",
            json!("2025-03-09 02:30:00"),
            new_york,
            None,
        ),
        (
            "Z",
            json!("2025-03-04T10:20:30Z"),
            new_york,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "lower z fraction",
            json!("2025-03-04t10:20:30.5z"),
            london,
            Some("2025-03-04T10:20:30.500Z"),
        ),
        (
            "offset colon",
            json!("2025-03-04T12:20:30+02:00"),
            new_york,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "offset no colon",
            json!("2025-03-04T12:20:30+0200"),
            new_york,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "offset hours",
            json!("2025-03-04T12:20:30+02"),
            new_york,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "negative offset",
            json!("2025-03-04T05:20:30-05:00"),
            london,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "half-hour offset",
            json!("2025-03-04 15:50:30 +05:30"),
            london,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "offset ignores zone in gap",
            json!("2025-03-30T01:30:00+00:00"),
            london,
            Some("2025-03-30T01:30:00Z"),
        ),
        (
            "UTC suffix",
            json!("2025-03-04 10:20:30 UTC"),
            new_york,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "unix seconds",
            json!(1741083630),
            new_york,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "unix millis",
            json!(1741083630123_u64),
            new_york,
            Some("2025-03-04T10:20:30.123Z"),
        ),
        (
            "unix seconds string",
            json!("1741083630"),
            new_york,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "unix millis string",
            json!("1741083630000"),
            new_york,
            Some("2025-03-04T10:20:30Z"),
        ),
        (
            "unix seconds float",
            json!(1741083630.5),
            new_york,
            Some("2025-03-04T10:20:30.500Z"),
        ),
        (
            "unix seconds float string",
            json!("1741083630.123"),
            new_york,
            Some("2025-03-04T10:20:30.123Z"),
        ),
        ("zero", json!(0), Tz::UTC, None),
        ("negative", json!(-5), Tz::UTC, None),
        ("u64 max", json!(u64::MAX), Tz::UTC, None),
        (
            "huge digit string",
            json!("99999999999999999999999"),
            Tz::UTC,
            None,
        ),
        ("garbage", json!("yesterday"), Tz::UTC, None),
        (
            "last second of 9999",
            json!("9999-12-31 23:59:59"),
            Tz::UTC,
            Some("9999-12-31T23:59:59Z"),
        ),
        (
            "millis beyond year 9999",
            json!(8_000_000_000_000_000u64),
            Tz::UTC,
            None,
        ),
        ("year 10000", json!("+10000-01-01"), Tz::UTC, None),
        ("year -1", json!("-0001-01-01"), Tz::UTC, None),
        (
            "9999 pushed past new year by an offset",
            json!("9999-12-31T23:00:00-02:00"),
            Tz::UTC,
            None,
        ),
        (
            "garbage after time",
            json!("2025-03-04 10:20:30 foo"),
            Tz::UTC,
            None,
        ),
        (
            "bad offset",
            json!("2025-03-04T10:20:30+2500"),
            Tz::UTC,
            None,
        ),
        ("bad date", json!("2025-02-30 10:00:00"), Tz::UTC, None),
        ("bad time", json!("2025-03-04 25:00:00"), Tz::UTC, None),
        ("us style", json!("03/04/2025 10:20:30"), Tz::UTC, None),
        (
            "non-ascii",
            json!("2025-03-04 10:20:30 東京"),
            Tz::UTC,
            None,
        ),
        ("empty", json!(""), Tz::UTC, None),
        ("blank", json!("   "), Tz::UTC, None),
        ("null", Value::Null, Tz::UTC, None),
        ("bool", json!(true), Tz::UTC, None),
        ("object", json!({"t": "2025-03-04"}), Tz::UTC, None),
    ];
    for (name, value, zone, expected) in rows {
        let got = parse_timestamp(value, *zone);
        assert_eq!(got, expected.map(utc), "{name}: {value}");
    }
}

#[test]
fn timestamp_serialization() {
    let rows: &[(&str, Option<&str>)] = &[
        ("2025-03-04T10:20:30Z", Some("2025-03-04T10:20:30Z")),
        ("2025-03-04T10:20:30.5Z", Some("2025-03-04T10:20:30.500Z")),
        (
            "2025-03-04T10:20:30.123456Z",
            Some("2025-03-04T10:20:30.123456Z"),
        ),
        ("2025-03-04T12:20:30+02:00", Some("2025-03-04T10:20:30Z")),
    ];
    for (input, expected) in rows {
        let mut case = norm(&case_with_spec(json!({})));
        case.updated_at = Some(utc(input));
        let got = serde_json::to_value(&case).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got["updated_at"], json!(expected), "{input}");
    }
}
