//! Labels to canonical values: a case's state and type, matched case-insensitively with every
//! run of non-alphanumeric characters counting as one space; an operator [`Mapping`] first, then
//! the built-in tables.

use serde::{Deserialize, Serialize};

use super::mapping::Mapping;

/// Normalized kind of case. Serializes as `"incident"`, `"service_request"` or `"other"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseType {
    Incident,
    ServiceRequest,
    Other,
}

impl CaseType {
    /// Every case type.
    pub const ALL: [CaseType; 3] = [
        CaseType::Incident,
        CaseType::ServiceRequest,
        CaseType::Other,
    ];

    /// The serialized name (`"incident"`, `"service_request"`, `"other"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            CaseType::Incident => "incident",
            CaseType::ServiceRequest => "service_request",
            CaseType::Other => "other",
        }
    }
}

/// Normalized life-cycle state of a case. Serializes in snake_case, as [`CaseState::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    New,
    Open,
    InProgress,
    PendingCustomer,
    Resolved,
    Closed,
    Cancelled,
    Unknown,
}

impl CaseState {
    /// Every state, in life-cycle order.
    pub const ALL: [CaseState; 8] = [
        CaseState::New,
        CaseState::Open,
        CaseState::InProgress,
        CaseState::PendingCustomer,
        CaseState::Resolved,
        CaseState::Closed,
        CaseState::Cancelled,
        CaseState::Unknown,
    ];

    /// The serialized name, e.g. `"in_progress"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CaseState::New => "new",
            CaseState::Open => "open",
            CaseState::InProgress => "in_progress",
            CaseState::PendingCustomer => "pending_customer",
            CaseState::Resolved => "resolved",
            CaseState::Closed => "closed",
            CaseState::Cancelled => "cancelled",
            CaseState::Unknown => "unknown",
        }
    }
}

/// Matching form of a label: lowercase, every run of characters that are not letters
/// or digits (spaces, `_`, `-`, `–`, punctuation) collapsed to one space, trimmed.
pub(super) fn canonical(raw: &str) -> String {
    let mapped: String = raw
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .to_lowercase();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The state table used by [`normalize_state`], on [`canonical`] forms.
const STATE_TABLE: &[(CaseState, &[&str])] = &[
    (CaseState::New, &["new"]),
    (
        CaseState::Open,
        &["open", "opened", "reopened", "re opened", "active"],
    ),
    (
        CaseState::InProgress,
        &[
            "assigned",
            "work in progress",
            "in progress",
            "inprogress",
            "wip",
            "working",
            "under investigation",
            "investigating",
        ],
    ),
    (
        CaseState::PendingCustomer,
        &[
            "pending customer",
            "pending",
            "awaiting info",
            "awaiting customer",
            "awaiting customer info",
            "awaiting user info",
            "waiting for customer",
            "customer action required",
            "pending customer action",
            "on hold awaiting customer",
            "on hold",
        ],
    ),
    (
        CaseState::Resolved,
        &["resolved", "solved", "fixed", "resolved pending closure"],
    ),
    (
        CaseState::Closed,
        &[
            "closed",
            "closed complete",
            "closed completed",
            "completed",
            "complete",
            "closed incomplete",
            "closed skipped",
        ],
    ),
    (
        CaseState::Cancelled,
        &[
            "cancelled",
            "canceled",
            "closed cancelled",
            "closed canceled",
            "withdrawn",
            "void",
        ],
    ),
];

/// Maps a state label to a [`CaseState`]: `mapping` first, then the built-in table; `None` when
/// neither knows the label (the state is then `unknown`).
///
/// Matching is case-insensitive; every run of characters that are not letters or
/// digits (spaces, `_`, `-`, `–`, leading/trailing punctuation) counts as one space,
/// so `"  In_Progress. "` matches `in progress`.
///
/// | state | accepted forms |
/// | --- | --- |
/// | `new` | new |
/// | `open` | open, opened, reopened, re-opened, active |
/// | `in_progress` | assigned, work in progress, in progress, inprogress, wip, working, under investigation, investigating |
/// | `pending_customer` | pending customer, pending, awaiting info, awaiting customer, awaiting customer info, awaiting user info, waiting for customer, customer action required, pending customer action, on hold - awaiting customer, on hold |
/// | `resolved` | resolved, solved, fixed, resolved - pending closure |
/// | `closed` | closed, closed complete, closed completed, completed, complete, closed incomplete, closed skipped |
/// | `cancelled` | cancelled, canceled, closed cancelled, closed canceled, withdrawn, void |
///
/// Anything else, including numeric ServiceNow state codes such as `"10"`, is unmapped.
pub fn normalize_state(raw: &str, mapping: &Mapping) -> Option<CaseState> {
    mapping.state(raw).or_else(|| {
        let key = canonical(raw);
        STATE_TABLE
            .iter()
            .find(|(_, forms)| forms.contains(&key.as_str()))
            .map(|(state, _)| *state)
    })
}

/// Maps a case type label to a [`CaseType`] (same matching rules as [`normalize_state`]):
/// `mapping` first, then the built-in table; `None` when neither knows the label (the type is
/// then `other`).
///
/// | type | accepted forms |
/// | --- | --- |
/// | `incident` | incident, inc, incident ticket |
/// | `service_request` | service request, service_request, service-request, servicerequest, request, sr, ritm, service request ticket |
pub fn normalize_case_type(raw: &str, mapping: &Mapping) -> Option<CaseType> {
    mapping
        .case_type(raw)
        .or_else(|| match canonical(raw).as_str() {
            "incident" | "inc" | "incident ticket" => Some(CaseType::Incident),
            "service request"
            | "servicerequest"
            | "request"
            | "sr"
            | "ritm"
            | "service request ticket" => Some(CaseType::ServiceRequest),
            _ => None,
        })
}
