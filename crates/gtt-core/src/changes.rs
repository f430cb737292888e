//! A ticket's known state and what changed: the record kept per case, how a new case event
//! compares with it (first, changed fields, or stale), and which change times are believed.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::normalize::CaseData;

/// How far ahead of the receive time a change time is still believed; further ahead it would
/// win every later comparison, so the receive time stands in for it.
pub const MAX_FUTURE_SKEW: TimeDelta = TimeDelta::minutes(5);

/// The last known state of one case: what the gateway keeps per ticket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Id of the event that stored this state.
    pub event_id: String,
    /// The case's latest upstream change time (as believed).
    pub time: Option<DateTime<Utc>>,
    /// Normalized fields (no `raw`, no `changes`).
    pub data: Value,
}

impl CaseRecord {
    /// The record of `case`, stored by event `event_id`, changed at `time`.
    pub fn new(event_id: String, case: &CaseData, time: Option<DateTime<Utc>>) -> Self {
        Self {
            event_id,
            time,
            data: serde_json::to_value(case).unwrap_or(Value::Null),
        }
    }

    /// Whether this state is newer than one changed at `time`. A held time too far ahead of
    /// `now` to be believed (stored before that rule, or with a clock far off) orders nothing,
    /// so it cannot hold a ticket's state for good.
    pub fn is_newer_than(&self, time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        Self::time_is_newer(self.time, time, now)
    }

    /// [`is_newer_than`](Self::is_newer_than) for a record changed at `held`.
    pub fn time_is_newer(
        held: Option<DateTime<Utc>>,
        time: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> bool {
        let held = held.and_then(|held| believable(held, now));
        matches!((held, time), (Some(held), Some(new)) if new < held)
    }
}

/// One normalized field that changed: `{"field", "old", "new"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Value,
    pub new: Value,
}

/// Where a new case event stands against the last known state.
#[derive(Debug, PartialEq)]
pub enum Comparison {
    /// No previous state known: `changes` is null.
    First,
    /// Newer than (or as new as) the known state: these fields changed.
    Changed(Vec<FieldChange>),
    /// Older than the known state (arrived out of order): `changes` is null and the known
    /// state is kept.
    Stale,
}

/// Compare a new case state (`new`, changed at `time` as believed) with the last known one,
/// at `now`.
pub fn compare(previous: Option<&CaseRecord>, new: &CaseRecord, now: DateTime<Utc>) -> Comparison {
    let Some(previous) = previous else {
        return Comparison::First;
    };
    if previous.is_newer_than(new.time, now) {
        return Comparison::Stale;
    }
    Comparison::Changed(diff(&previous.data, &new.data))
}

/// Fields whose values differ between two normalized states (top-level keys; the `*_raw`
/// copies and `namespace` are not changes of their own).
pub fn diff(old: &Value, new: &Value) -> Vec<FieldChange> {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = new.keys().chain(old.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !k.ends_with("_raw") && k.as_str() != "namespace")
        .filter_map(|k| {
            let before = old.get(k).cloned().unwrap_or(Value::Null);
            let after = new.get(k).cloned().unwrap_or(Value::Null);
            (before != after).then(|| FieldChange {
                field: k.clone(),
                old: before,
                new: after,
            })
        })
        .collect()
}

/// `Some(time)` when `time` is at most [`MAX_FUTURE_SKEW`] ahead of `now`, else `None`: a change
/// time further ahead is not believed (it would win every later comparison), and the receive
/// time stands in for it.
pub fn believable(time: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let limit = now.checked_add_signed(MAX_FUTURE_SKEW).unwrap_or(now);
    (time <= limit).then_some(time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(data: Value, time: &str) -> CaseRecord {
        CaseRecord {
            event_id: "x".into(),
            time: Some(time.parse().unwrap()),
            data,
        }
    }

    #[test]
    fn diff_lists_changed_fields_with_old_and_new() {
        let old = json!({"namespace": "1", "state": "open", "state_raw": "Open", "priority": {"level": 2}, "category": "A"});
        let new = json!({"namespace": "1", "state": "resolved", "state_raw": "Resolved", "priority": {"level": 1}, "category": "A", "service_id": "S1"});
        let changes = diff(&old, &new);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["priority", "service_id", "state"]);
        assert_eq!(changes[2].old, "open");
        assert_eq!(changes[2].new, "resolved");
        assert_eq!(changes[1].old, Value::Null);
        assert!(diff(&new, &new).is_empty());
    }

    fn at(time: &str) -> DateTime<Utc> {
        time.parse().unwrap()
    }

    #[test]
    fn comparison_first_changed_and_stale() {
        let now = at("2025-01-01T12:00:00Z");
        let compare_at = |prev: &CaseRecord, time: &str| {
            compare(
                Some(prev),
                &record(json!({"state": "in_progress"}), time),
                now,
            )
        };
        let first = record(json!({"state": "open"}), "2025-01-01T10:00:00Z");
        assert_eq!(compare(None, &first, now), Comparison::First);
        let prev = record(json!({"state": "open"}), "2025-01-01T10:00:00Z");
        match compare_at(&prev, "2025-01-01T10:05:00Z") {
            Comparison::Changed(c) => assert_eq!(c.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(compare_at(&prev, "2025-01-01T09:00:00Z"), Comparison::Stale);
        // Same second: not stale (GTT timestamps have whole seconds).
        assert!(matches!(
            compare_at(&prev, "2025-01-01T10:00:00Z"),
            Comparison::Changed(_)
        ));
    }

    #[test]
    fn a_held_time_far_ahead_of_the_clock_orders_nothing() {
        let now = at("2025-01-01T12:00:00Z");
        let compare_held = |held: &str| {
            let prev = record(json!({"state": "open"}), held);
            let new = record(json!({"state": "resolved"}), "2025-01-01T11:00:00Z");
            compare(Some(&prev), &new, now)
        };
        assert!(matches!(
            compare_held("9999-12-31T23:59:59Z"),
            Comparison::Changed(_)
        ));
        assert!(matches!(
            compare_held("2025-01-01T12:05:01Z"),
            Comparison::Changed(_)
        ));
        // Within the believed skew it still orders.
        assert_eq!(compare_held("2025-01-01T12:05:00Z"), Comparison::Stale);
    }

    #[test]
    fn change_times_beyond_the_skew_are_not_believed() {
        let now = at("2025-01-01T12:00:00Z");
        assert!(believable(at("2025-01-01T12:05:00Z"), now).is_some());
        assert!(believable(at("2025-01-01T12:05:01Z"), now).is_none());
        assert!(believable(at("2024-01-01T00:00:00Z"), now).is_some());
    }
}
