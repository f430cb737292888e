//! Labels no mapping covers (a state that became `unknown`, a case type `other`, a priority
//! without a level): every sighting counted in `gtt_gateway_unmapped_values_total{field}`, each
//! distinct label logged once, so the operator learns what to add to `[mapping]`. At most
//! [`REMEMBERED`] distinct labels are remembered, each cut to [`MAX_LABEL_CHARS`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use gtt_core::normalize::{LabelField, Unmapped};

use crate::metrics::Metrics;

/// Most distinct labels remembered (and so logged) per process.
const REMEMBERED: usize = 1024;
/// Longest label remembered and logged, in characters.
const MAX_LABEL_CHARS: usize = 128;

/// The unmapped labels seen so far; cheap to clone.
#[derive(Clone)]
pub(crate) struct UnmappedLabels {
    metrics: Metrics,
    seen: Arc<Mutex<HashSet<(LabelField, String)>>>,
}

impl UnmappedLabels {
    pub(crate) fn new(metrics: Metrics) -> Self {
        Self {
            metrics,
            seen: Arc::default(),
        }
    }

    /// Count the unmapped labels of one event (`event_id`, in `namespace`), logging the new ones.
    pub(crate) fn report(&self, namespace: &str, event_id: &str, unmapped: &[Unmapped]) {
        for Unmapped { field, label } in unmapped {
            self.metrics
                .unmapped_values
                .with_label_values(&[field.as_str()])
                .inc();
            let label: String = label.chars().take(MAX_LABEL_CHARS).collect();
            let (first, full_now) = {
                let mut seen = self.seen.lock().expect("unmapped labels lock");
                if seen.len() >= REMEMBERED {
                    (false, false)
                } else {
                    let first = seen.insert((*field, label.clone()));
                    (first, seen.len() == REMEMBERED)
                }
            };
            if first {
                tracing::warn!(
                    field = field.as_str(),
                    label = %label,
                    namespace,
                    event.id = %event_id,
                    "Unmapped GTT label: add it to [mapping.{}] and replay (see the README)",
                    field.as_str()
                );
            }
            if full_now {
                tracing::warn!(
                    "{REMEMBERED} distinct unmapped GTT labels seen; further ones are counted, \
                     not logged"
                );
            }
        }
    }
}
