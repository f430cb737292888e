//! State and case-type labels.

use serde_json::{Value, json};

use super::super::*;
use super::*;

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
        let state = normalize_state(raw, &Mapping::new()).unwrap_or(Unknown);
        assert_eq!(state, *expected, "state {raw:?}");
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
    for state in CaseState::ALL {
        assert_eq!(json!(state), json!(state.as_str()), "{state:?}");
    }
    for case_type in CaseType::ALL {
        assert_eq!(json!(case_type), json!(case_type.as_str()), "{case_type:?}");
    }
    assert_eq!(CaseState::InProgress.as_str(), "in_progress");
    assert_eq!(CaseState::PendingCustomer.as_str(), "pending_customer");
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
        let case_type = normalize_case_type(raw, &Mapping::new()).unwrap_or(Other);
        assert_eq!(case_type, *expected, "case type {raw:?}");
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
