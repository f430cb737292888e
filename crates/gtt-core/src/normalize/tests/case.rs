//! The case as a whole: the documented example, sources and aliases of each field, errors.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::super::*;
use super::*;

#[test]
fn documented_example() {
    let case = normalize_case("142033", &documented_case(), Tz::UTC, &Mapping::new())
        .unwrap_or_else(|e| panic!("{e}"));
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
        unmapped: Vec::new(),
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
        unmapped: Vec::new(),
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
        let case = normalize_case(param, resource, Tz::UTC, &Mapping::new())
            .unwrap_or_else(|e| panic!("{e}"));
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
    let case = normalize_case("142033", &resource, london, &Mapping::new())
        .unwrap_or_else(|e| panic!("{e}"));
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
        let got = normalize_case("142033", &resource, Tz::UTC, &Mapping::new());
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
