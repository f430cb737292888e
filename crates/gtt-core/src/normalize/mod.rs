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
//!   [`CaseState::Unknown`] / [`CaseType::Other`] / `None`, the label listed in
//!   [`CaseData::unmapped`]. An operator [`Mapping`] adds labels (or overrides built-in ones).
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

mod case;
mod labels;
mod mapping;
mod priority;
mod timestamp;

pub use case::{CaseData, Labels, normalize_case};
pub use labels::{CaseState, CaseType, normalize_case_type, normalize_state};
pub use mapping::{LabelField, Mapping, MappingError, Unmapped};
pub use priority::{Priority, normalize_priority};
pub use timestamp::parse_timestamp;

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

#[cfg(test)]
mod tests;
