//! `[mapping]`: GTT labels beyond the built-in tables, each mapped to a canonical value
//! (`[mapping.state]`, `[mapping.case_type]`, `[mapping.priority]`), checked and turned into
//! the core's [`Mapping`] once.

use std::collections::BTreeMap;

use gtt_core::normalize::{Mapping, MappingError};
use serde::Deserialize;

use super::ConfigError;

/// `[mapping]`: label = canonical value, per field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MappingSettings {
    /// GTT state label = `new | open | in_progress | pending_customer | resolved | closed |
    /// cancelled | unknown`.
    pub state: BTreeMap<String, String>,
    /// GTT case-type label = `incident | service_request | other`.
    pub case_type: BTreeMap<String, String>,
    /// GTT priority label = level 1 (critical) to 5 (planning).
    pub priority: BTreeMap<String, i64>,
    /// The tables, checked (filled in by [`Settings::load`](super::Settings::load)).
    #[serde(skip)]
    pub resolved: Mapping,
}

impl MappingSettings {
    /// Check every entry (the error names its key) and build the mapping.
    pub(super) fn resolve(&mut self) -> Result<(), ConfigError> {
        let mut mapping = Mapping::new();
        for (label, target) in &self.state {
            mapping
                .add_state(label, target)
                .map_err(|e| entry_error("state", label, &e))?;
        }
        for (label, target) in &self.case_type {
            mapping
                .add_case_type(label, target)
                .map_err(|e| entry_error("case_type", label, &e))?;
        }
        for (label, level) in &self.priority {
            mapping
                .add_priority(label, *level)
                .map_err(|e| entry_error("priority", label, &e))?;
        }
        self.resolved = mapping;
        Ok(())
    }
}

/// The error of the entry `label` of `[mapping.{table}]`, its key written as in TOML
/// (`mapping.state."Awaiting Vendor"`).
fn entry_error(table: &str, label: &str, error: &MappingError) -> ConfigError {
    let bare = !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let key = if bare {
        label.to_string()
    } else {
        serde_json::to_string(label).unwrap_or_default()
    };
    ConfigError::new(format!("mapping.{table}.{key}"), error.to_string())
}

#[cfg(test)]
mod tests {
    use gtt_core::normalize::{CaseState, normalize_state};

    use crate::config::Settings;

    const BASE: &str = "[callbacks]\nsecret = \"0123456789abcdef0123456789abcdef\"\n";

    fn load(mapping: &str) -> Result<Settings, crate::config::ConfigError> {
        Settings::from_toml(&format!("{BASE}{mapping}"))
    }

    #[test]
    fn tables_become_the_mapping() {
        let settings = load(
            "[mapping.state]\n\"Awaiting Vendor\" = \"pending_customer\"\n\
             [mapping.case_type]\nChange = \"other\"\n[mapping.priority]\n\"Sev A\" = 1\n",
        )
        .unwrap();
        let mapping = &settings.mapping.resolved;
        assert_eq!(
            normalize_state("awaiting vendor", mapping),
            Some(CaseState::PendingCustomer)
        );
        assert_eq!(load("").unwrap().mapping.resolved, Default::default());
    }

    #[test]
    fn errors_name_the_entry() {
        let key = |text: &str| load(text).unwrap_err().key;
        assert_eq!(
            key("[mapping.state]\nEscalated = \"escalated\"\n"),
            "mapping.state.Escalated"
        );
        assert_eq!(
            key("[mapping.case_type]\n\"Change Request\" = \"change\"\n"),
            "mapping.case_type.\"Change Request\""
        );
        assert_eq!(
            key("[mapping.priority]\n\"Sev.A\" = 9\n"),
            "mapping.priority.\"Sev.A\""
        );
        assert!(key("[mapping.priority]\nUrgent = \"1\"\n").starts_with("mapping.priority"));
        assert_eq!(key("[mapping.status]\nx = \"open\"\n"), "mapping.status");
        let err = load("[mapping.state]\nEscalated = \"escalated\"\n").unwrap_err();
        assert!(err.message.contains("in_progress"), "{err}");
    }
}
