//! Table tests of case normalization, one file per concern: labels (states and case types),
//! priorities, timestamps, and the case as a whole.

mod case;
mod labels;
mod mapping;
mod priority;
mod timestamp;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::*;

pub(super) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("bad test timestamp {s}: {e}"))
        .with_timezone(&Utc)
}

pub(super) const CASE_ID: &str = "8f3a9c2e41b74d5e9a0c6b1d2e3f4a5b";

pub(super) fn documented_case() -> Value {
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

pub(super) fn case_with_spec(spec: Value) -> Value {
    json!({ "kind": "case", "namespace": "142033", "name": "CS1", "spec": spec })
}

pub(super) fn norm(resource: &Value) -> CaseData {
    normalize_case("142033", resource, Tz::UTC, &Mapping::new())
        .unwrap_or_else(|e| panic!("normalize_case failed: {e}"))
}
