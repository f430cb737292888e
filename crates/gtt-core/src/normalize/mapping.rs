//! Operator mappings: labels GTT sends beyond the built-in tables, each mapped to a canonical
//! value (a plain value the caller builds, e.g. from configuration). They are matched like the
//! built-in labels (see [`canonical`]) and win over them; a label neither covers is *unmapped*.

use std::collections::BTreeMap;

use super::labels::{CaseState, CaseType, canonical};

/// Label to canonical value, per field; empty by default (the built-in tables alone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    state: BTreeMap<String, CaseState>,
    case_type: BTreeMap<String, CaseType>,
    priority: BTreeMap<String, u8>,
}

/// A normalized field read from a GTT label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LabelField {
    State,
    CaseType,
    Priority,
}

impl LabelField {
    /// Every such field.
    pub const ALL: [LabelField; 3] = [
        LabelField::State,
        LabelField::CaseType,
        LabelField::Priority,
    ];

    /// The field's name in events and in `[mapping]` (`state`, `case_type`, `priority`).
    pub fn as_str(self) -> &'static str {
        match self {
            LabelField::State => "state",
            LabelField::CaseType => "case_type",
            LabelField::Priority => "priority",
        }
    }
}

/// A label that neither a mapping nor the built-in tables cover: its field fell back to
/// `unknown`, `other` or a null priority level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    pub field: LabelField,
    /// The label exactly as sent.
    pub label: String,
}

/// Why a mapping entry cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("the label has no letter or digit, so it can never match")]
    EmptyLabel,
    #[error("the label matches the same GTT values as {0:?}, which maps elsewhere")]
    Conflict(String),
    #[error("{0:?} is not a canonical value: expected one of {1}")]
    NotCanonical(String, String),
}

impl Mapping {
    /// No mappings: the built-in tables alone.
    pub const fn new() -> Self {
        Self {
            state: BTreeMap::new(),
            case_type: BTreeMap::new(),
            priority: BTreeMap::new(),
        }
    }

    /// Map the state label `label` to `target` (a [`CaseState`] name such as `pending_customer`).
    pub fn add_state(&mut self, label: &str, target: &str) -> Result<(), MappingError> {
        let state = named(CaseState::ALL, |s| s.as_str(), target)?;
        insert(&mut self.state, label, state)
    }

    /// Map the case-type label `label` to `target` (`incident`, `service_request`, `other`).
    pub fn add_case_type(&mut self, label: &str, target: &str) -> Result<(), MappingError> {
        let case_type = named(CaseType::ALL, |t| t.as_str(), target)?;
        insert(&mut self.case_type, label, case_type)
    }

    /// Map the priority label `label` to `level` (1 = critical ... 5 = planning).
    pub fn add_priority(&mut self, label: &str, level: i64) -> Result<(), MappingError> {
        let level = u8::try_from(level)
            .ok()
            .filter(|l| (1..=5).contains(l))
            .ok_or_else(|| not_canonical(&level.to_string(), ["1", "2", "3", "4", "5"]))?;
        insert(&mut self.priority, label, level)
    }

    pub(super) fn state(&self, raw: &str) -> Option<CaseState> {
        self.state.get(&canonical(raw)).copied()
    }

    pub(super) fn case_type(&self, raw: &str) -> Option<CaseType> {
        self.case_type.get(&canonical(raw)).copied()
    }

    pub(super) fn priority(&self, raw: &str) -> Option<u8> {
        self.priority.get(&canonical(raw)).copied()
    }
}

fn not_canonical<const N: usize>(target: &str, allowed: [&str; N]) -> MappingError {
    MappingError::NotCanonical(target.to_string(), allowed.join(", "))
}

/// The canonical value (one of `all`) whose name is `target`.
fn named<T: Copy, const N: usize>(
    all: [T; N],
    name: fn(&T) -> &'static str,
    target: &str,
) -> Result<T, MappingError> {
    all.iter()
        .find(|value| name(value) == target)
        .copied()
        .ok_or_else(|| not_canonical(target, all.map(|value| name(&value))))
}

/// Add `label` (by its matching form) unless another label with the same form maps elsewhere.
fn insert<T: PartialEq + Copy>(
    table: &mut BTreeMap<String, T>,
    label: &str,
    target: T,
) -> Result<(), MappingError> {
    let key = canonical(label);
    if key.is_empty() {
        return Err(MappingError::EmptyLabel);
    }
    match table.get(&key) {
        Some(held) if *held != target => Err(MappingError::Conflict(key)),
        _ => {
            table.insert(key, target);
            Ok(())
        }
    }
}
