//! The case resource to its normalized `data`: where each field is looked up (`spec`, then
//! `metadata`, then the top level) and how the event's change time is derived.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::NormalizeError;
use super::labels::{CaseState, CaseType, normalize_case_type, normalize_state};
use super::mapping::{LabelField, Mapping, Unmapped};
use super::priority::{Priority, normalize_priority};
use super::timestamp::parse_timestamp;
use crate::text::{first_text, trim_owned};

/// The normalized case, i.e. the event `data` fields.
///
/// Timestamps serialize as RFC 3339 in UTC with a `Z` suffix, whole seconds unless
/// a sub-second part is non-zero (e.g. `"2025-03-04T10:20:30Z"`); `None` as `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseData {
    pub namespace: String,
    pub case_id: Option<String>,
    /// Ticket number, e.g. `CS0074187`.
    pub number: Option<String>,
    pub case_type: CaseType,
    pub case_type_raw: Option<String>,
    pub state: CaseState,
    pub state_raw: Option<String>,
    pub priority: Priority,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub short_description: Option<String>,
    pub description: Option<String>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub opened_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub closed_at: Option<DateTime<Utc>>,
    pub service_id: Option<String>,
    /// Labels neither the mapping nor the built-in tables know (not part of `data`).
    #[serde(skip)]
    pub unmapped: Vec<Unmapped>,
}

/// The values a case's labels normalize to (what a mapping can change). Serializes as the
/// canonical JSON object `{"case_type","priority","state"}` (`priority` the level, or null).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Labels {
    pub case_type: CaseType,
    pub priority: Option<u8>,
    pub state: CaseState,
}

impl CaseData {
    /// What its labels normalized to.
    pub fn labels(&self) -> Labels {
        Labels {
            case_type: self.case_type,
            priority: self.priority.level,
            state: self.state,
        }
    }

    /// The latest of `opened_at`, `updated_at`, `resolved_at` and `closed_at`, if any.
    pub fn change_time(&self) -> Option<DateTime<Utc>> {
        [
            self.opened_at,
            self.updated_at,
            self.resolved_at,
            self.closed_at,
        ]
        .into_iter()
        .flatten()
        .max()
    }
}

fn serialize_timestamp<S: Serializer>(
    value: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(dt) => serializer.serialize_str(&dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        None => serializer.serialize_none(),
    }
}

const OPENED_KEYS: &[&str] = &[
    "opened_at",
    "openedAt",
    "sys_created_on",
    "created_at",
    "createdAt",
    "creationTimestamp",
];
const UPDATED_KEYS: &[&str] = &["updated_at", "updatedAt", "sys_updated_on"];
const RESOLVED_KEYS: &[&str] = &["resolved_at", "resolvedAt"];
const CLOSED_KEYS: &[&str] = &["closed_at", "closedAt"];

/// Normalizes one GTT case resource.
///
/// `namespace` is the GTT namespace (customer account) the case belongs to; when it is
/// blank, the resource's own top-level `namespace` is used instead (trimmed), else `""`.
/// Zone-less timestamps are read in `zone` (see [`parse_timestamp`]); labels through `mapping`
/// first, then the built-in tables.
pub fn normalize_case(
    namespace: &str,
    resource: &Value,
    zone: Tz,
    mapping: &Mapping,
) -> Result<CaseData, NormalizeError> {
    let top = resource.as_object().ok_or(NormalizeError::NotAnObject)?;
    let spec = top
        .get("spec")
        .and_then(Value::as_object)
        .ok_or(NormalizeError::MissingSpec)?;
    let metadata = top.get("metadata").and_then(Value::as_object);

    let number = first_text(spec, &["number"])
        .or_else(|| first_text(top, &["number", "name"]))
        .map(trim_owned)
        .ok_or(NormalizeError::MissingNumber)?;

    let namespace = if namespace.trim().is_empty() {
        first_text(top, &["namespace"])
            .map(trim_owned)
            .unwrap_or_default()
    } else {
        namespace.to_owned()
    };

    let case_id = first_text(spec, &["case_id", "sys_id"])
        .or_else(|| first_text(top, &["case_id", "sys_id"]))
        .map(trim_owned);

    let mut unmapped = Vec::new();
    let mut unmapped_if = |field: LabelField, label: &str, known: bool| {
        if !known {
            unmapped.push(Unmapped {
                field,
                label: label.to_string(),
            });
        }
    };
    let state_raw = first_text(spec, &["state", "status"]);
    let state = state_raw.as_deref().map_or(CaseState::Unknown, |raw| {
        let state = normalize_state(raw, mapping);
        unmapped_if(LabelField::State, raw, state.is_some());
        state.unwrap_or(CaseState::Unknown)
    });

    let case_type_raw = first_text(spec, &["case_type", "caseType", "type"]);
    let case_type = case_type_raw.as_deref().map_or(CaseType::Other, |raw| {
        let case_type = normalize_case_type(raw, mapping);
        unmapped_if(LabelField::CaseType, raw, case_type.is_some());
        case_type.unwrap_or(CaseType::Other)
    });

    let priority = normalize_priority(spec.get("priority").unwrap_or(&Value::Null), mapping);
    if let Some(raw) = &priority.raw {
        unmapped_if(LabelField::Priority, raw, priority.level.is_some());
    }

    let containers: [Option<&Map<String, Value>>; 3] = [Some(spec), metadata, Some(top)];
    let timestamp = |keys: &[&str]| -> Option<DateTime<Utc>> {
        containers.iter().flatten().find_map(|obj| {
            keys.iter()
                .find_map(|key| obj.get(*key).and_then(|v| parse_timestamp(v, zone)))
        })
    };

    Ok(CaseData {
        namespace,
        case_id,
        number: Some(number),
        case_type,
        case_type_raw,
        state,
        state_raw,
        priority,
        category: first_text(spec, &["category"]).map(trim_owned),
        subcategory: first_text(spec, &["subcategory"]).map(trim_owned),
        short_description: first_text(spec, &["short_description"]),
        description: first_text(spec, &["description"]),
        opened_at: timestamp(OPENED_KEYS),
        updated_at: timestamp(UPDATED_KEYS),
        resolved_at: timestamp(RESOLVED_KEYS),
        closed_at: timestamp(CLOSED_KEYS),
        service_id: first_text(spec, &["service_id", "serviceId", "service"]).map(trim_owned),
        unmapped,
    })
}
