//! Pure normalization of GTT EnvisionDX case resources into the event `data` fields (no I/O).
//!
//! GTT delivers a case as a Kubernetes-like envelope:
//!
//! ```json
//! { "kind": "case", "version": "v1alpha", "namespace": "142033", "name": "CS0074187",
//!   "metadata": { "...": "..." },
//!   "spec": { "case_id": "<32 hex>", "number": "CS0074187", "state": "Open",
//!             "priority": "1 - Critical", "case_type": "Incident",
//!             "category": "Secure Network", "subcategory": "Service Down",
//!             "short_description": "...", "description": "...",
//!             "opened_at": "2025-03-04 10:20:30" } }
//! ```
//!
//! Only part of this is documented by GTT, so [`normalize_case`] is defensive:
//!
//! * Only three things fail (see [`NormalizeError`]): a resource that is not an
//!   object, a missing `spec` object, and no obtainable ticket number.
//! * Everything else degrades gracefully: unknown values are kept verbatim in the
//!   `*_raw` / `raw` fields and the normalized enum falls back to
//!   [`CaseState::Unknown`] / [`CaseType::Other`] / `None`.
//! * Scalars are read as text: a JSON number or bool where a string is expected
//!   becomes its textual form (`10` -> `"10"`); empty or whitespace-only strings
//!   and `null`, arrays and objects count as absent.
//!
//! Where each field is looked up (first non-empty value wins; `spec` keys are
//! tried in the order listed):
//!
//! | field | sources |
//! | --- | --- |
//! | `number` | `spec.number`, top-level `number`, top-level `name` |
//! | `case_id` | `spec.case_id`, `spec.sys_id`, top-level `case_id`, top-level `sys_id` |
//! | `state` | `spec.state`, `spec.status` (scalar only) |
//! | `priority` | `spec.priority` |
//! | `case_type` | `spec.case_type`, `spec.caseType`, then `spec.type` (only if the former are absent/empty) |
//! | `category`, `subcategory`, `short_description`, `description` | `spec.<field>` |
//! | `service_id` | `spec.service_id`, `spec.serviceId`, `spec.service` (scalar only) |
//! | timestamps | `spec`, then `metadata`, then the top level; see below |
//!
//! Timestamp keys, tried in each of those containers in turn; the first value that
//! [`parse_timestamp`] accepts wins (so an unparsable `spec` value falls back to
//! `metadata`):
//!
//! * `opened_at`: `opened_at`, `openedAt`, `sys_created_on`, `created_at`, `createdAt`, `creationTimestamp`
//! * `updated_at`: `updated_at`, `updatedAt`, `sys_updated_on`
//! * `resolved_at`: `resolved_at`, `resolvedAt`
//! * `closed_at`: `closed_at`, `closedAt`
//!
//! Text handling: identifiers (`number`, `case_id`, `service_id`) and `category` /
//! `subcategory` are trimmed; `short_description` and `description` are kept
//! exactly as sent; the `*_raw` fields always keep the original text exactly.

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone,
    Utc,
};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// Why a case resource could not be normalized at all. Messages never contain payload content.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NormalizeError {
    /// The resource is not a JSON object.
    #[error("case resource is not a JSON object")]
    NotAnObject,
    /// `spec` is absent or not a JSON object.
    #[error("case resource has no spec object")]
    MissingSpec,
    /// Neither `spec.number`, top-level `number` nor top-level `name` holds a value.
    #[error("case resource has no ticket number")]
    MissingNumber,
}

/// Normalized kind of case. Serializes as `"incident"`, `"service_request"` or `"other"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseType {
    Incident,
    ServiceRequest,
    Other,
}

impl CaseType {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// A case priority on the ServiceNow scale (1 Critical … 5 Planning).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Priority {
    /// Numeric level: 1..=5 on the ServiceNow scale; 6..=9 kept if sent explicitly; else `None`.
    pub level: Option<u8>,
    /// The label text as sent (trimmed), else the canonical label of `level`, else `None`.
    pub label: Option<String>,
    /// The original value as text, exactly.
    pub raw: Option<String>,
}

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
}

impl CaseData {
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
/// Zone-less timestamps are read in `zone` (see [`parse_timestamp`]).
pub fn normalize_case(
    namespace: &str,
    resource: &Value,
    zone: Tz,
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

    let state_raw = first_text(spec, &["state", "status"]);
    let state = state_raw
        .as_deref()
        .map_or(CaseState::Unknown, normalize_state);

    let case_type_raw = first_text(spec, &["case_type", "caseType", "type"]);
    let case_type = case_type_raw
        .as_deref()
        .map_or(CaseType::Other, normalize_case_type);

    let priority = normalize_priority(spec.get("priority").unwrap_or(&Value::Null));

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
    })
}

/// Textual form of a scalar: strings as-is (unless blank), numbers and bools as text;
/// `null`, arrays and objects give `None`.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first of `keys` in `obj` whose value has a non-blank scalar text.
fn first_text(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| obj.get(*key).and_then(scalar_text))
}

fn trim_owned(s: String) -> String {
    let trimmed = s.trim();
    if trimmed.len() == s.len() {
        s
    } else {
        trimmed.to_owned()
    }
}

/// Matching form of a label: lowercase, every run of characters that are not letters
/// or digits (spaces, `_`, `-`, `–`, punctuation) collapsed to one space, trimmed.
fn canonical(raw: &str) -> String {
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

/// Maps a state label to a [`CaseState`].
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
/// Anything else, including numeric ServiceNow state codes such as `"10"`, is
/// [`CaseState::Unknown`].
pub fn normalize_state(raw: &str) -> CaseState {
    let key = canonical(raw);
    STATE_TABLE
        .iter()
        .find(|(_, forms)| forms.contains(&key.as_str()))
        .map_or(CaseState::Unknown, |(state, _)| *state)
}

/// Maps a case type label to a [`CaseType`] (same matching rules as [`normalize_state`]).
///
/// | type | accepted forms |
/// | --- | --- |
/// | `incident` | incident, inc, incident ticket |
/// | `service_request` | service request, service_request, service-request, servicerequest, request, sr, ritm, service request ticket |
/// | `other` | anything else |
pub fn normalize_case_type(raw: &str) -> CaseType {
    match canonical(raw).as_str() {
        "incident" | "inc" | "incident ticket" => CaseType::Incident,
        "service request"
        | "servicerequest"
        | "request"
        | "sr"
        | "ritm"
        | "service request ticket" => CaseType::ServiceRequest,
        _ => CaseType::Other,
    }
}

/// Canonical ServiceNow label of a priority level.
fn canonical_priority_label(level: u8) -> Option<&'static str> {
    match level {
        1 => Some("Critical"),
        2 => Some("High"),
        3 => Some("Moderate"),
        4 => Some("Low"),
        5 => Some("Planning"),
        _ => None,
    }
}

/// Level of a bare priority label on the ServiceNow scale.
fn priority_level_of_label(label: &str) -> Option<u8> {
    match canonical(label).as_str() {
        "critical" => Some(1),
        "high" => Some(2),
        "moderate" | "medium" => Some(3),
        "low" => Some(4),
        "planning" => Some(5),
        _ => None,
    }
}

/// Explicit numbers become a level only within 1..=9.
fn level_from_number(n: u64) -> Option<u8> {
    u8::try_from(n).ok().filter(|l| (1..=9).contains(l))
}

fn is_priority_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '–' | '—' | ':' | '.' | ',' | '/' | '|' | '=')
}

/// Strips a case-insensitive `priority` / `prio` / `p` prefix (plus any spaces, `:`,
/// `#`, `-`) when a digit follows it.
fn strip_priority_prefix(s: &str) -> &str {
    for prefix in ["priority", "prio", "p"] {
        if let Some(head) = s.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            let rest = s[prefix.len()..]
                .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '#' | '-'));
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                return rest;
            }
        }
    }
    s
}

/// Splits leading ASCII digits off `s`: `(number, rest)`. Huge numbers saturate.
fn split_leading_digits(s: &str) -> Option<(u64, &str)> {
    let end = s
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(s.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let number = s[..end].parse::<u64>().unwrap_or(u64::MAX);
    Some((number, &s[end..]))
}

/// `"1 - Critical"`, `"P1"`, `"Priority 1"`, `"1"`: number first, optional label after.
fn parse_leading_priority(text: &str) -> Option<(u64, Option<&str>)> {
    let (number, rest) = split_leading_digits(strip_priority_prefix(text))?;
    let label = rest
        .trim_start_matches(|c: char| is_priority_separator(c) || matches!(c, '(' | '['))
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ')' | ']'));
    if label.is_empty() {
        Some((number, None))
    } else if label.chars().any(char::is_alphabetic) {
        Some((number, Some(label)))
    } else {
        None
    }
}

/// A whole token that is a level: `"1"`, `"P1"`, `"Priority 1"`.
fn parse_level_token(token: &str) -> Option<u64> {
    match split_leading_digits(strip_priority_prefix(token.trim())) {
        Some((number, "")) => Some(number),
        _ => None,
    }
}

/// `"Critical (1)"`, `"High [P2]"`, `"Critical - 1"`: label first, number last.
fn parse_trailing_priority(text: &str) -> Option<(u64, &str)> {
    let (token, before) = if let Some(inner) = text.strip_suffix(')') {
        let open = inner.rfind('(')?;
        (&inner[open + 1..], &inner[..open])
    } else if let Some(inner) = text.strip_suffix(']') {
        let open = inner.rfind('[')?;
        (&inner[open + 1..], &inner[..open])
    } else {
        let split = text.rfind(is_priority_separator)?;
        let sep_len = text[split..].chars().next().map_or(1, char::len_utf8);
        (&text[split + sep_len..], &text[..split])
    };
    let number = parse_level_token(token)?;
    let label = before.trim_end_matches(is_priority_separator).trim_start();
    label
        .chars()
        .any(char::is_alphabetic)
        .then_some((number, label))
}

/// Normalizes a priority value.
///
/// `raw` is the value's textual form. Accepted shapes (case-insensitive):
/// `"1 - Critical"`, `"1-Critical"`, `"1 – Critical"`, `"P1"`, `"p2 - High"`, `"1"`,
/// JSON `1`, `"Critical (1)"`, `"Priority 1"`, and bare labels on the ServiceNow
/// scale (critical 1, high 2, moderate/medium 3, low 4, planning 5).
///
/// `label` is the text part when present (trimmed, as sent), else the canonical
/// label of the level (1 Critical, 2 High, 3 Moderate, 4 Low, 5 Planning). An
/// explicit number is kept as the level if it is within 1..=9, else the level is
/// `None`. Unparsable text gives level `None` and the trimmed text as label.
pub fn normalize_priority(raw: &Value) -> Priority {
    let Some(raw_text) = scalar_text(raw) else {
        return Priority {
            level: None,
            label: None,
            raw: None,
        };
    };
    let explicit = |number: u64, label: Option<&str>| {
        let level = level_from_number(number);
        Priority {
            level,
            label: label
                .map(str::to_owned)
                .or_else(|| level.and_then(canonical_priority_label).map(str::to_owned)),
            raw: Some(raw_text.clone()),
        }
    };

    // JSON numbers: integers, or floats with no fractional part (1.0).
    if let Value::Number(n) = raw {
        let whole = n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=1e6).contains(f))
                .map(|f| f as u64)
        });
        if let Some(number) = whole {
            return explicit(number, None);
        }
    }

    let text = raw_text.trim();
    if let Some((number, label)) = parse_leading_priority(text) {
        return explicit(number, label);
    }
    if let Some((number, label)) = parse_trailing_priority(text) {
        return explicit(number, Some(label));
    }
    Priority {
        level: priority_level_of_label(text),
        label: Some(text.to_owned()),
        raw: Some(raw_text),
    }
}

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

#[cfg(test)]
mod tests;
