//! Bodies that were authenticated but cannot become events: why (the reason header), and the
//! dead letter's id and subject.

use std::fmt;

use super::EventContext;
use super::id::dead_letter_id;
use crate::normalize::NormalizeError;
use crate::subjects::deadletter_subject;

/// A body that was authenticated but could not be turned into an event.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// See [`dead_letter_id`].
    pub id: String,
    pub subject: String,
    pub reason: DeadLetterReason,
}

/// Why a body was dead-lettered (also the value of the reason header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    NotJson,
    NotAnObject,
    MissingSpec,
    MissingName,
    NamespaceMismatch,
    /// Even without its `raw` copy the event exceeds NATS's `max_payload`: the body is kept.
    TooLarge,
    /// The body names another kind or action than the route its token authorizes.
    RouteMismatch,
    /// The escaped name does not fit a subject or key (see
    /// [`crate::subjects::MAX_NAME_TOKEN_BYTES`]).
    NameTooLong,
}

impl DeadLetterReason {
    /// Every reason.
    pub const ALL: [DeadLetterReason; 8] = [
        DeadLetterReason::NotJson,
        DeadLetterReason::NotAnObject,
        DeadLetterReason::MissingSpec,
        DeadLetterReason::MissingName,
        DeadLetterReason::NamespaceMismatch,
        DeadLetterReason::TooLarge,
        DeadLetterReason::RouteMismatch,
        DeadLetterReason::NameTooLong,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::NotJson => "not_json",
            DeadLetterReason::NotAnObject => "not_an_object",
            DeadLetterReason::MissingSpec => "missing_spec",
            DeadLetterReason::MissingName => "missing_name",
            DeadLetterReason::NamespaceMismatch => "namespace_mismatch",
            DeadLetterReason::TooLarge => "too_large",
            DeadLetterReason::RouteMismatch => "route_mismatch",
            DeadLetterReason::NameTooLong => "name_too_long",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<NormalizeError> for DeadLetterReason {
    fn from(e: NormalizeError) -> Self {
        match e {
            NormalizeError::NotAnObject => DeadLetterReason::NotAnObject,
            NormalizeError::MissingSpec => DeadLetterReason::MissingSpec,
            NormalizeError::MissingNumber => DeadLetterReason::MissingName,
        }
    }
}

/// The dead letter of a body that [`super::prepare`] refused (or that is too large).
pub fn dead_letter(ctx: &EventContext<'_>, body: &[u8], reason: DeadLetterReason) -> DeadLetter {
    DeadLetter {
        id: dead_letter_id(ctx.namespace, ctx.kind, ctx.action, body),
        subject: deadletter_subject(ctx.subject_prefix, ctx.namespace),
        reason,
    }
}
