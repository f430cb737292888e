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
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc,
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
/// earliest instant; local times in a DST gap (non-existent) give `None`. Anything
/// else gives `None`.
pub fn parse_timestamp(value: &Value, zone: Tz) -> Option<DateTime<Utc>> {
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
mod tests {
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
}
