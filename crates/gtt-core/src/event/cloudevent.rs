//! The CloudEvents 1.0 envelope in structured JSON mode: attributes, the `gtt*` extensions, and
//! `data` (a case's normalized fields with `changes` and `raw`, or `{namespace, name, raw}`).

use serde::Serialize;
use serde_json::value::RawValue;

use super::{Origin, Prepared};
use crate::changes::FieldChange;
use crate::normalize::CaseData;

/// Whether an event carries the resource as received in `data.raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawCopy {
    Included,
    /// Left out (and the event flagged `gttrawomitted`) to fit NATS's `max_payload`.
    Omitted,
}

/// The CloudEvents 1.0 envelope.
#[derive(Serialize)]
struct CloudEvent<'a, D: Serialize> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    type_: &'a str,
    subject: &'a str,
    time: &'a str,
    datacontenttype: &'static str,
    gttnamespace: &'a str,
    gttorigin: Origin,
    /// On case events whose previous state is known: whether the normalized `state` changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    gttstatechanged: Option<bool>,
    /// Set when `data.raw` was left out to fit NATS's `max_payload`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    gttrawomitted: bool,
    data: D,
}

/// `data` of a case event.
#[derive(Serialize)]
struct CaseEventData<'a> {
    #[serde(flatten)]
    case: &'a CaseData,
    /// Normalized fields that differ from the previous known state; null when none is known.
    changes: Option<&'a [FieldChange]>,
    raw: Option<&'a RawValue>,
}

/// `data` of any other kind.
#[derive(Serialize)]
struct GenericEventData<'a> {
    namespace: &'a str,
    name: &'a str,
    raw: Option<&'a RawValue>,
}

impl Prepared<'_> {
    /// The CloudEvent's JSON, with `changes` (case events only; `None` = previous unknown).
    pub fn payload(&self, changes: Option<&[FieldChange]>, raw: RawCopy) -> Vec<u8> {
        let omitted = raw == RawCopy::Omitted;
        let raw = (!omitted).then_some(self.raw);
        match &self.case {
            Some(case) => {
                let state_changed = changes.map(|c| c.iter().any(|c| c.field == "state"));
                self.serialize(state_changed, omitted, CaseEventData { case, changes, raw })
            }
            None => self.serialize(
                None,
                omitted,
                GenericEventData {
                    namespace: self.namespace,
                    name: &self.name,
                    raw,
                },
            ),
        }
    }

    fn serialize<D: Serialize>(
        &self,
        gttstatechanged: Option<bool>,
        gttrawomitted: bool,
        data: D,
    ) -> Vec<u8> {
        let event = CloudEvent {
            specversion: "1.0",
            id: &self.id,
            source: &self.source,
            type_: &self.type_,
            subject: &self.name,
            time: &self.time,
            datacontenttype: "application/json",
            gttnamespace: self.namespace,
            gttorigin: self.origin,
            gttstatechanged,
            gttrawomitted,
            data,
        };
        // Room for the resource twice (normalized and `raw`) and the envelope, so that the
        // buffer rarely grows (each growth copies all written so far).
        let mut out = Vec::with_capacity(2 * self.raw.get().len() + 1024);
        // Our own structs with string keys and no floats: serialization cannot fail.
        serde_json::to_writer(&mut out, &event).expect("CloudEvent serializes");
        out
    }
}
