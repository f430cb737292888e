//! Operator mappings: added and overriding labels, what stays unmapped, refused entries.

use chrono_tz::Tz;
use serde_json::json;

use super::super::*;
use super::*;

fn mapping() -> Mapping {
    let mut m = Mapping::new();
    m.add_state("Awaiting Vendor", "pending_customer").unwrap();
    m.add_state("Pending", "in_progress").unwrap();
    m.add_case_type("Change Request", "service_request")
        .unwrap();
    m.add_case_type("Problem", "other").unwrap();
    m.add_priority("Urgent", 1).unwrap();
    m.add_priority("Emergency", 1).unwrap();
    m.add_priority("Critical", 2).unwrap();
    m
}

fn normalize(spec: serde_json::Value, mapping: &Mapping) -> CaseData {
    normalize_case("142033", &case_with_spec(spec), Tz::UTC, mapping).unwrap()
}

#[test]
fn mapped_labels_are_added_and_win_over_the_built_in_tables() {
    let m = mapping();
    // Matched like built-in labels: case, punctuation and spacing do not matter.
    assert_eq!(
        normalize_state("awaiting_vendor ", &m),
        Some(CaseState::PendingCustomer)
    );
    assert_eq!(normalize_state("Pending", &m), Some(CaseState::InProgress));
    assert_eq!(normalize_state("Open", &m), Some(CaseState::Open));
    assert_eq!(normalize_state("Escalated", &m), None);
    assert_eq!(
        normalize_case_type("change-request", &m),
        Some(CaseType::ServiceRequest)
    );
    assert_eq!(normalize_case_type("Problem", &m), Some(CaseType::Other));
    assert_eq!(normalize_case_type("Problem", &Mapping::new()), None);

    let level = |value: serde_json::Value| normalize_priority(&value, &m);
    assert_eq!(level(json!("URGENT")).level, Some(1));
    assert_eq!(level(json!("URGENT")).label.as_deref(), Some("URGENT"));
    // The whole value wins over the built-in reading.
    assert_eq!(level(json!("Critical")).level, Some(2));
    // The label part counts only where the built-in reading found no level.
    assert_eq!(level(json!("0 - Emergency")).level, Some(1));
    assert_eq!(
        level(json!("0 - Emergency")).label.as_deref(),
        Some("Emergency")
    );
    assert_eq!(level(json!("1 - Critical")).level, Some(1));
    assert_eq!(level(json!("Sev A")).level, None);
}

#[test]
fn unmapped_labels_are_listed_with_their_field() {
    let spec = json!({"state": "Escalated", "case_type": "Change", "priority": "Sev A"});
    let case = normalize(spec.clone(), &Mapping::new());
    assert_eq!(case.state, CaseState::Unknown);
    assert_eq!(case.case_type, CaseType::Other);
    assert_eq!(case.priority.level, None);
    let listed: Vec<(LabelField, &str)> = case
        .unmapped
        .iter()
        .map(|u| (u.field, u.label.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            (LabelField::State, "Escalated"),
            (LabelField::CaseType, "Change"),
            (LabelField::Priority, "Sev A"),
        ]
    );
    // Mapped, nothing is left; absent values are not unmapped labels; `unmapped` is not data.
    let mut m = Mapping::new();
    m.add_state("escalated", "in_progress").unwrap();
    m.add_case_type("change", "other").unwrap();
    m.add_priority("sev a", 1).unwrap();
    let case = normalize(spec, &m);
    assert_eq!(case.state, CaseState::InProgress);
    assert_eq!(case.priority.level, Some(1));
    assert!(case.unmapped.is_empty(), "{:?}", case.unmapped);
    assert!(normalize(json!({}), &Mapping::new()).unmapped.is_empty());
    assert!(
        serde_json::to_value(&case)
            .unwrap()
            .get("unmapped")
            .is_none()
    );
}

#[test]
fn entries_that_cannot_be_canonical_are_refused() {
    let mut m = Mapping::new();
    let err = m.add_state("Escalated", "escalated").unwrap_err();
    assert!(err.to_string().contains("pending_customer"), "{err}");
    assert!(matches!(err, MappingError::NotCanonical(..)));
    assert!(m.add_case_type("Change", "change").is_err());
    assert!(m.add_priority("Urgent", 0).is_err());
    assert!(m.add_priority("Urgent", 6).is_err());
    assert_eq!(m.add_state(" - ", "open"), Err(MappingError::EmptyLabel));
    m.add_state("On Hold", "pending_customer").unwrap();
    m.add_state("on-hold", "pending_customer").unwrap();
    assert!(matches!(
        m.add_state("ON_HOLD", "open"),
        Err(MappingError::Conflict(_))
    ));
}
