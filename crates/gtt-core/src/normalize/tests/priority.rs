//! Priority values.

use serde_json::{Value, json};

use super::super::*;

#[test]
fn priority_forms() {
    // (value, level, label, raw)
    type Row = (
        Value,
        Option<u8>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let rows: &[Row] = &[
        (
            json!("1 - Critical"),
            Some(1),
            Some("Critical"),
            Some("1 - Critical"),
        ),
        (
            json!("1-Critical"),
            Some(1),
            Some("Critical"),
            Some("1-Critical"),
        ),
        (
            json!("1 – Critical"),
            Some(1),
            Some("Critical"),
            Some("1 – Critical"),
        ),
        (json!("2 - High"), Some(2), Some("High"), Some("2 - High")),
        (
            json!("3 - Moderate"),
            Some(3),
            Some("Moderate"),
            Some("3 - Moderate"),
        ),
        (json!("4 - Low"), Some(4), Some("Low"), Some("4 - Low")),
        (
            json!("5 - Planning"),
            Some(5),
            Some("Planning"),
            Some("5 - Planning"),
        ),
        (json!("P1"), Some(1), Some("Critical"), Some("P1")),
        (json!("p2 - High"), Some(2), Some("High"), Some("p2 - High")),
        (json!("P3"), Some(3), Some("Moderate"), Some("P3")),
        (json!("1"), Some(1), Some("Critical"), Some("1")),
        (json!(" 4 "), Some(4), Some("Low"), Some(" 4 ")),
        (json!(1), Some(1), Some("Critical"), Some("1")),
        (json!(5), Some(5), Some("Planning"), Some("5")),
        (json!(2.0), Some(2), Some("High"), Some("2.0")),
        (
            json!("Critical (1)"),
            Some(1),
            Some("Critical"),
            Some("Critical (1)"),
        ),
        (json!("High (P2)"), Some(2), Some("High"), Some("High (P2)")),
        (json!("Low - 4"), Some(4), Some("Low"), Some("Low - 4")),
        (
            json!("Priority 1"),
            Some(1),
            Some("Critical"),
            Some("Priority 1"),
        ),
        (
            json!("priority: 3"),
            Some(3),
            Some("Moderate"),
            Some("priority: 3"),
        ),
        (
            json!("Priority 2 - High"),
            Some(2),
            Some("High"),
            Some("Priority 2 - High"),
        ),
        (
            json!("1 (Critical)"),
            Some(1),
            Some("Critical"),
            Some("1 (Critical)"),
        ),
        (
            json!("Critical"),
            Some(1),
            Some("Critical"),
            Some("Critical"),
        ),
        (json!("high"), Some(2), Some("high"), Some("high")),
        (
            json!("Moderate"),
            Some(3),
            Some("Moderate"),
            Some("Moderate"),
        ),
        (json!("Medium"), Some(3), Some("Medium"), Some("Medium")),
        (json!(" Low "), Some(4), Some("Low"), Some(" Low ")),
        (
            json!("PLANNING"),
            Some(5),
            Some("PLANNING"),
            Some("PLANNING"),
        ),
        // label as sent even if it disagrees with the number
        (json!("1 - Low"), Some(1), Some("Low"), Some("1 - Low")),
        // out of the 1..=5 scale
        (json!("7"), Some(7), None, Some("7")),
        (
            json!("P9 - Custom"),
            Some(9),
            Some("Custom"),
            Some("P9 - Custom"),
        ),
        (json!("0"), None, None, Some("0")),
        (json!(12), None, None, Some("12")),
        (
            json!("10 - Whatever"),
            None,
            Some("Whatever"),
            Some("10 - Whatever"),
        ),
        (
            json!("99999999999999999999999"),
            None,
            None,
            Some("99999999999999999999999"),
        ),
        // unparsable
        (json!("Urgent"), None, Some("Urgent"), Some("Urgent")),
        (json!("  Sev A "), None, Some("Sev A"), Some("  Sev A ")),
        (json!("1.5"), None, Some("1.5"), Some("1.5")),
        (json!(-1), None, Some("-1"), Some("-1")),
        (json!(true), None, Some("true"), Some("true")),
        (
            json!("Kritisch ⚠"),
            None,
            Some("Kritisch ⚠"),
            Some("Kritisch ⚠"),
        ),
        // absent
        (json!(""), None, None, None),
        (json!("   "), None, None, None),
        (Value::Null, None, None, None),
        (json!({"value": 1}), None, None, None),
    ];
    for (raw, level, label, raw_text) in rows {
        let got = normalize_priority(raw, &Mapping::new());
        let want = Priority {
            level: *level,
            label: label.map(str::to_owned),
            raw: raw_text.map(str::to_owned),
        };
        assert_eq!(got, want, "priority {raw}");
    }
}
