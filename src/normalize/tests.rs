//! Table tests of case normalization: states, priorities, case types, timestamps, non-ASCII text.

use super::*;
use serde_json::json;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad test timestamp {s}: {e}"))
        .with_timezone(&Utc)
}

const CASE_ID: &str = "8f3a9c2e41b74d5e9a0c6b1d2e3f4a5b";

fn documented_case() -> Value {
    json!({
        "kind": "case",
        "version": "v1alpha",
        "namespace": "142033",
        "name": "CS0074187",
        "metadata": {},
        "spec": {
            "case_id": CASE_ID,
            "number": "CS0074187",
            "state": "Open",
            "priority": "1 - Critical",
            "case_type": "Incident",
            "category": "Secure Network",
            "subcategory": "Service Down",
            "short_description": "Site down",
            "description": "The Paris site lost connectivity.",
            "opened_at": "2025-03-04 10:20:30"
        }
    })
}

fn case_with_spec(spec: Value) -> Value {
    json!({ "kind": "case", "namespace": "142033", "name": "CS1", "spec": spec })
}

fn norm(resource: &Value) -> CaseData {
    normalize_case("142033", resource, Tz::UTC)
        .unwrap_or_else(|e| panic!("normalize_case failed: {e}"))
}

#[test]
fn state_forms() {
    use CaseState::*;
    let rows: &[(&str, CaseState)] = &[
        ("new", New),
        ("New", New),
        ("NEW", New),
        ("Open", Open),
        ("opened", Open),
        ("Reopened", Open),
        ("Re-opened", Open),
        ("re_opened", Open),
        ("Active", Open),
        ("Assigned", InProgress),
        ("Work in Progress", InProgress),
        ("In Progress", InProgress),
        ("  In Progress ", InProgress),
        ("in_progress", InProgress),
        ("IN-PROGRESS", InProgress),
        ("in   progress", InProgress),
        ("InProgress", InProgress),
        ("WIP", InProgress),
        ("Working", InProgress),
        ("Under Investigation", InProgress),
        ("investigating", InProgress),
        ("In Progress.", InProgress),
        ("Pending Customer", PendingCustomer),
        ("pending_customer", PendingCustomer),
        ("Pending", PendingCustomer),
        ("Awaiting Info", PendingCustomer),
        ("Awaiting Customer", PendingCustomer),
        ("Awaiting Customer Info", PendingCustomer),
        ("Awaiting User Info", PendingCustomer),
        ("Waiting for Customer", PendingCustomer),
        ("Customer Action Required", PendingCustomer),
        ("Pending Customer Action", PendingCustomer),
        ("On Hold - Awaiting Customer", PendingCustomer),
        ("On Hold", PendingCustomer),
        ("Resolved", Resolved),
        ("Solved", Resolved),
        ("Fixed", Resolved),
        ("Resolved - Pending Closure", Resolved),
        ("Closed", Closed),
        ("Closed Complete", Closed),
        ("Closed Completed", Closed),
        ("Completed", Closed),
        ("Complete", Closed),
        ("Closed Incomplete", Closed),
        ("Closed Skipped", Closed),
        ("closed_complete", Closed),
        ("Cancelled", Cancelled),
        ("Canceled", Cancelled),
        ("Closed Cancelled", Cancelled),
        ("Closed Canceled", Cancelled),
        ("Withdrawn", Cancelled),
        ("Void", Cancelled),
        ("(Void)", Cancelled),
        // unknown
        ("10", Unknown),
        ("-5", Unknown),
        ("Escalated", Unknown),
        ("open-ish", Unknown),
        ("Offen", Unknown),
        ("", Unknown),
        ("   ", Unknown),
    ];
    for (raw, expected) in rows {
        assert_eq!(normalize_state(raw), *expected, "state {raw:?}");
    }
}

#[test]
fn state_raw_is_kept_exactly_in_case() {
    let rows: &[(Value, CaseState, Option<&str>)] = &[
        (
            json!("  In Progress "),
            CaseState::InProgress,
            Some("  In Progress "),
        ),
        (
            json!("Closed Complete"),
            CaseState::Closed,
            Some("Closed Complete"),
        ),
        (json!(10), CaseState::Unknown, Some("10")),
        (
            json!("Escalated to L3"),
            CaseState::Unknown,
            Some("Escalated to L3"),
        ),
        (json!(true), CaseState::Unknown, Some("true")),
        (json!(""), CaseState::Unknown, None),
        (json!("   "), CaseState::Unknown, None),
        (Value::Null, CaseState::Unknown, None),
        (json!({"value": "open"}), CaseState::Unknown, None),
    ];
    for (raw, state, state_raw) in rows {
        let case = norm(&case_with_spec(json!({ "state": raw })));
        assert_eq!(case.state, *state, "state for {raw}");
        assert_eq!(case.state_raw.as_deref(), *state_raw, "state_raw for {raw}");
    }
}

#[test]
fn state_and_type_as_str_match_serde() {
    use CaseState::*;
    for state in [
        New,
        Open,
        InProgress,
        PendingCustomer,
        Resolved,
        Closed,
        Cancelled,
        Unknown,
    ] {
        assert_eq!(json!(state), json!(state.as_str()), "{state:?}");
    }
    for case_type in [
        CaseType::Incident,
        CaseType::ServiceRequest,
        CaseType::Other,
    ] {
        assert_eq!(json!(case_type), json!(case_type.as_str()), "{case_type:?}");
    }
    assert_eq!(InProgress.as_str(), "in_progress");
    assert_eq!(PendingCustomer.as_str(), "pending_customer");
    assert_eq!(CaseType::ServiceRequest.as_str(), "service_request");
}

#[test]
fn case_types() {
    use CaseType::*;
    let rows: &[(&str, CaseType)] = &[
        ("Incident", Incident),
        ("incident", Incident),
        ("INC", Incident),
        ("Incident Ticket", Incident),
        (" incident ", Incident),
        ("Service Request", ServiceRequest),
        ("service_request", ServiceRequest),
        ("ServiceRequest", ServiceRequest),
        ("service-request", ServiceRequest),
        ("Request", ServiceRequest),
        ("SR", ServiceRequest),
        ("RITM", ServiceRequest),
        ("Service Request Ticket", ServiceRequest),
        ("Change", Other),
        ("Problem", Other),
        ("incidents", Other),
        ("", Other),
    ];
    for (raw, expected) in rows {
        assert_eq!(normalize_case_type(raw), *expected, "case type {raw:?}");
    }
}

#[test]
fn case_type_sources_in_case() {
    let rows: &[(Value, CaseType, Option<&str>)] = &[
        (
            json!({ "case_type": "Incident" }),
            CaseType::Incident,
            Some("Incident"),
        ),
        (
            json!({ "case_type": " Service Request " }),
            CaseType::ServiceRequest,
            Some(" Service Request "),
        ),
        (
            json!({ "caseType": "RITM" }),
            CaseType::ServiceRequest,
            Some("RITM"),
        ),
        (
            json!({ "type": "Incident" }),
            CaseType::Incident,
            Some("Incident"),
        ),
        (
            json!({ "case_type": "Change", "type": "Incident" }),
            CaseType::Other,
            Some("Change"),
        ),
        (
            json!({ "case_type": null, "type": "SR" }),
            CaseType::ServiceRequest,
            Some("SR"),
        ),
        (json!({ "case_type": 7 }), CaseType::Other, Some("7")),
        (json!({}), CaseType::Other, None),
    ];
    for (spec, case_type, raw) in rows {
        let case = norm(&case_with_spec(spec.clone()));
        assert_eq!(case.case_type, *case_type, "case_type for {spec}");
        assert_eq!(
            case.case_type_raw.as_deref(),
            *raw,
            "case_type_raw for {spec}"
        );
    }
}

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
        let got = normalize_priority(raw);
        let want = Priority {
            level: *level,
            label: label.map(str::to_owned),
            raw: raw_text.map(str::to_owned),
        };
        assert_eq!(got, want, "priority {raw}");
    }
}

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
fn documented_example() {
    let case =
        normalize_case("142033", &documented_case(), Tz::UTC).unwrap_or_else(|e| panic!("{e}"));
    let expected = CaseData {
        namespace: "142033".into(),
        case_id: Some(CASE_ID.into()),
        number: Some("CS0074187".into()),
        case_type: CaseType::Incident,
        case_type_raw: Some("Incident".into()),
        state: CaseState::Open,
        state_raw: Some("Open".into()),
        priority: Priority {
            level: Some(1),
            label: Some("Critical".into()),
            raw: Some("1 - Critical".into()),
        },
        category: Some("Secure Network".into()),
        subcategory: Some("Service Down".into()),
        short_description: Some("Site down".into()),
        description: Some("The Paris site lost connectivity.".into()),
        opened_at: Some(utc("2025-03-04T10:20:30Z")),
        updated_at: None,
        resolved_at: None,
        closed_at: None,
        service_id: None,
    };
    assert_eq!(case, expected);
    assert_eq!(case.change_time(), Some(utc("2025-03-04T10:20:30Z")));
}

#[test]
fn documented_example_serialization() {
    let case = norm(&documented_case());
    let got = serde_json::to_value(&case).unwrap_or_else(|e| panic!("{e}"));
    let expected = json!({
        "namespace": "142033",
        "case_id": CASE_ID,
        "number": "CS0074187",
        "case_type": "incident",
        "case_type_raw": "Incident",
        "state": "open",
        "state_raw": "Open",
        "priority": { "level": 1, "label": "Critical", "raw": "1 - Critical" },
        "category": "Secure Network",
        "subcategory": "Service Down",
        "short_description": "Site down",
        "description": "The Paris site lost connectivity.",
        "opened_at": "2025-03-04T10:20:30Z",
        "updated_at": null,
        "resolved_at": null,
        "closed_at": null,
        "service_id": null
    });
    assert_eq!(got, expected);
    // Field order is the struct order.
    let text = serde_json::to_string(&case).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        text.starts_with(r#"{"namespace":"142033","case_id":""#),
        "{text}"
    );
    assert!(
        text.contains(r#""opened_at":"2025-03-04T10:20:30Z""#),
        "{text}"
    );
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

#[test]
fn missing_fields_become_none_or_unknown() {
    let case = norm(&json!({ "name": "CS0000001", "spec": {} }));
    let expected = CaseData {
        namespace: "142033".into(),
        case_id: None,
        number: Some("CS0000001".into()),
        case_type: CaseType::Other,
        case_type_raw: None,
        state: CaseState::Unknown,
        state_raw: None,
        priority: Priority {
            level: None,
            label: None,
            raw: None,
        },
        category: None,
        subcategory: None,
        short_description: None,
        description: None,
        opened_at: None,
        updated_at: None,
        resolved_at: None,
        closed_at: None,
        service_id: None,
    };
    assert_eq!(case, expected);
    assert_eq!(case.change_time(), None);
    let json = serde_json::to_value(&case).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["state"], json!("unknown"));
    assert_eq!(json["case_type"], json!("other"));
    assert_eq!(
        json["priority"],
        json!({ "level": null, "label": null, "raw": null })
    );
    assert_eq!(json["opened_at"], Value::Null);
}

#[test]
fn blank_and_null_fields_become_none() {
    let case = norm(&case_with_spec(json!({
        "case_id": "  ",
        "category": "",
        "subcategory": null,
        "short_description": " \t ",
        "description": [],
        "service_id": {},
        "opened_at": "",
    })));
    assert_eq!(case.case_id, None);
    assert_eq!(case.category, None);
    assert_eq!(case.subcategory, None);
    assert_eq!(case.short_description, None);
    assert_eq!(case.description, None);
    assert_eq!(case.service_id, None);
    assert_eq!(case.opened_at, None);
}

#[test]
fn non_ascii_text_preserved() {
    let rows: &[(&str, &str)] = &[
        ("short_description", "Störung – 東京 POP down 🚨"),
        ("description", "  Leitung gestört.\nПроверка 🚧 \u{200b}"),
        ("state", "  Résolu "),
    ];
    for (field, text) in rows {
        let case = norm(&case_with_spec(json!({ *field: text })));
        let got = match *field {
            "short_description" => case.short_description.clone(),
            "description" => case.description.clone(),
            _ => case.state_raw.clone(),
        };
        assert_eq!(got.as_deref(), Some(*text), "{field}");
        let json = serde_json::to_value(&case).unwrap_or_else(|e| panic!("{e}"));
        let key = if *field == "state" {
            "state_raw"
        } else {
            field
        };
        assert_eq!(json[key], json!(text), "{field} serialized");
    }
}

#[test]
fn identifier_sources_and_aliases() {
    // (resource, number, case_id, service_id)
    type Row = (
        Value,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let rows: &[Row] = &[
        (
            json!({ "name": "CS1", "number": "CS2", "spec": { "number": "CS3" } }),
            Some("CS3"),
            None,
            None,
        ),
        (
            json!({ "name": "CS1", "number": "CS2", "spec": {} }),
            Some("CS2"),
            None,
            None,
        ),
        (
            json!({ "name": "CS1", "spec": { "number": "" } }),
            Some("CS1"),
            None,
            None,
        ),
        (
            json!({ "name": " CS1 ", "spec": {} }),
            Some("CS1"),
            None,
            None,
        ),
        (
            json!({ "number": 74187, "spec": {} }),
            Some("74187"),
            None,
            None,
        ),
        (
            json!({ "name": "x", "case_id": "top", "spec": { "case_id": "inner" } }),
            Some("x"),
            Some("inner"),
            None,
        ),
        (
            json!({ "name": "x", "case_id": "top", "spec": {} }),
            Some("x"),
            Some("top"),
            None,
        ),
        (
            json!({ "name": "x", "spec": { "sys_id": "sid" } }),
            Some("x"),
            Some("sid"),
            None,
        ),
        (
            json!({ "name": "x", "spec": { "service_id": " SVC-1 " } }),
            Some("x"),
            None,
            Some("SVC-1"),
        ),
        (
            json!({ "name": "x", "spec": { "serviceId": "SVC-2" } }),
            Some("x"),
            None,
            Some("SVC-2"),
        ),
        (
            json!({ "name": "x", "spec": { "service": 4711 } }),
            Some("x"),
            None,
            Some("4711"),
        ),
        (
            json!({ "name": "x", "spec": { "service": { "id": "S" } } }),
            Some("x"),
            None,
            None,
        ),
        (
            json!({ "name": "x", "spec": { "service_id": "A", "service": "B" } }),
            Some("x"),
            None,
            Some("A"),
        ),
    ];
    for (resource, number, case_id, service_id) in rows {
        let case = norm(resource);
        assert_eq!(case.number.as_deref(), *number, "number in {resource}");
        assert_eq!(case.case_id.as_deref(), *case_id, "case_id in {resource}");
        assert_eq!(
            case.service_id.as_deref(),
            *service_id,
            "service_id in {resource}"
        );
    }
}

#[test]
fn namespace_source() {
    let rows: &[(&str, Value, &str)] = &[
        (
            "142033",
            json!({ "namespace": "999", "name": "x", "spec": {} }),
            "142033",
        ),
        (
            "",
            json!({ "namespace": " 999 ", "name": "x", "spec": {} }),
            "999",
        ),
        (
            "  ",
            json!({ "namespace": 999, "name": "x", "spec": {} }),
            "999",
        ),
        ("", json!({ "name": "x", "spec": {} }), ""),
    ];
    for (param, resource, expected) in rows {
        let case = normalize_case(param, resource, Tz::UTC).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            case.namespace, *expected,
            "param {param:?} resource {resource}"
        );
    }
}

#[test]
fn timestamp_sources_and_fallbacks() {
    // (resource, opened, updated, resolved, closed)
    type Row = (
        Value,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let rows: Vec<Row> = vec![
        (
            json!({ "name": "x", "metadata": { "updated_at": "2025-01-02 00:00:00" },
                    "spec": { "updated_at": "2025-01-01 00:00:00" } }),
            None,
            Some("2025-01-01T00:00:00Z"),
            None,
            None,
        ),
        (
            json!({ "name": "x", "metadata": { "updated_at": "2025-01-02 00:00:00" }, "spec": {} }),
            None,
            Some("2025-01-02T00:00:00Z"),
            None,
            None,
        ),
        (
            json!({ "name": "x", "metadata": { "updated_at": "2025-01-02 00:00:00" },
                    "spec": { "updated_at": "not a date" } }),
            None,
            Some("2025-01-02T00:00:00Z"),
            None,
            None,
        ),
        (
            json!({ "name": "x", "spec": { "sys_updated_on": "2025-01-03 04:05:06" } }),
            None,
            Some("2025-01-03T04:05:06Z"),
            None,
            None,
        ),
        (
            json!({ "name": "x", "metadata": { "creationTimestamp": "2025-01-04T00:00:00Z" }, "spec": {} }),
            Some("2025-01-04T00:00:00Z"),
            None,
            None,
            None,
        ),
        (
            json!({ "name": "x", "updated_at": 1741083630, "spec": {} }),
            None,
            Some("2025-03-04T10:20:30Z"),
            None,
            None,
        ),
        (
            json!({ "name": "x", "metadata": "weird", "spec": {
                "opened_at": "2025-01-01 00:00:00", "resolved_at": "2025-01-05 00:00:00",
                "closed_at": "2025-01-06 00:00:00" } }),
            Some("2025-01-01T00:00:00Z"),
            None,
            Some("2025-01-05T00:00:00Z"),
            Some("2025-01-06T00:00:00Z"),
        ),
    ];
    for (resource, opened, updated, resolved, closed) in rows {
        let case = norm(&resource);
        assert_eq!(case.opened_at, opened.map(utc), "opened_at in {resource}");
        assert_eq!(
            case.updated_at,
            updated.map(utc),
            "updated_at in {resource}"
        );
        assert_eq!(
            case.resolved_at,
            resolved.map(utc),
            "resolved_at in {resource}"
        );
        assert_eq!(case.closed_at, closed.map(utc), "closed_at in {resource}");
    }
}

#[test]
fn case_timestamps_use_zone() {
    let london: Tz = "Europe/London".parse().unwrap_or_else(|e| panic!("{e}"));
    let resource = case_with_spec(json!({ "opened_at": "2025-07-04 10:20:30" }));
    let case = normalize_case("142033", &resource, london).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(case.opened_at, Some(utc("2025-07-04T09:20:30Z")));
}

#[test]
fn errors() {
    let rows: Vec<(&str, Value, NormalizeError)> = vec![
        ("array", json!([1, 2]), NormalizeError::NotAnObject),
        ("string", json!("CS0074187"), NormalizeError::NotAnObject),
        ("null", Value::Null, NormalizeError::NotAnObject),
        (
            "no spec",
            json!({ "name": "CS1" }),
            NormalizeError::MissingSpec,
        ),
        (
            "spec null",
            json!({ "name": "CS1", "spec": null }),
            NormalizeError::MissingSpec,
        ),
        (
            "spec string",
            json!({ "name": "CS1", "spec": "x" }),
            NormalizeError::MissingSpec,
        ),
        (
            "no number",
            json!({ "spec": { "state": "Open" } }),
            NormalizeError::MissingNumber,
        ),
        (
            "blank number",
            json!({ "name": "  ", "number": "", "spec": { "number": null } }),
            NormalizeError::MissingNumber,
        ),
        (
            "number object",
            json!({ "name": {}, "spec": { "number": [] } }),
            NormalizeError::MissingNumber,
        ),
    ];
    for (name, resource, expected) in rows {
        let got = normalize_case("142033", &resource, Tz::UTC);
        assert_eq!(got, Err(expected), "{name}");
    }
    // Messages are short and carry no payload content.
    for err in [
        NormalizeError::NotAnObject,
        NormalizeError::MissingSpec,
        NormalizeError::MissingNumber,
    ] {
        let msg = err.to_string();
        assert!(!msg.is_empty() && msg.len() < 60, "{msg}");
    }
}

#[test]
fn change_time_picks_latest() {
    let t = |s: &str| Some(utc(s));
    type Row = [Option<DateTime<Utc>>; 4];
    let rows: Vec<(Row, Option<DateTime<Utc>>)> = vec![
        ([None, None, None, None], None),
        (
            [t("2025-01-01T00:00:00Z"), None, None, None],
            t("2025-01-01T00:00:00Z"),
        ),
        (
            [
                t("2025-01-01T00:00:00Z"),
                t("2025-01-03T00:00:00Z"),
                t("2025-01-02T00:00:00Z"),
                None,
            ],
            t("2025-01-03T00:00:00Z"),
        ),
        (
            [
                t("2025-01-01T00:00:00Z"),
                t("2025-01-02T00:00:00Z"),
                t("2025-01-04T00:00:00Z"),
                t("2025-01-03T00:00:00Z"),
            ],
            t("2025-01-04T00:00:00Z"),
        ),
        (
            [
                t("2025-01-01T00:00:00Z"),
                t("2025-01-02T00:00:00Z"),
                t("2025-01-03T00:00:00Z"),
                t("2025-01-05T00:00:00Z"),
            ],
            t("2025-01-05T00:00:00Z"),
        ),
        (
            [None, None, None, t("2025-01-05T00:00:00Z")],
            t("2025-01-05T00:00:00Z"),
        ),
        (
            [
                t("2025-02-01T00:00:00Z"),
                t("2025-01-02T00:00:00Z"),
                None,
                None,
            ],
            t("2025-02-01T00:00:00Z"),
        ),
    ];
    for ([opened, updated, resolved, closed], expected) in rows {
        let mut case = norm(&case_with_spec(json!({})));
        case.opened_at = opened;
        case.updated_at = updated;
        case.resolved_at = resolved;
        case.closed_at = closed;
        assert_eq!(
            case.change_time(),
            expected,
            "{opened:?} {updated:?} {resolved:?} {closed:?}"
        );
    }
}
