//! gtt-core: the pure core of gtt-gateway. Plain functions over bytes and values, with no async
//! runtime, no NATS, no HTTP server or client in reach (the crate does not depend on them), so
//! everything here is decided by its inputs and tested without I/O.
//!
//! Map:
//! - [`token`]: capability tokens, the callback route and its path segments, callback URLs.
//! - [`signature`]: body signatures (Standard Webhooks, generic HMAC), in constant time.
//! - [`event`]: from a body to the CloudEvent, its id and subject ([`event::prepare`]), or a
//!   dead letter; [`event::id`] holds the id formulas.
//! - [`normalize`]: a GTT case resource to the event's `data` fields (case, labels, priority,
//!   timestamps).
//! - [`changes`]: a ticket's known state, how a new event compares with it, `changes`.
//! - [`subjects`]: the subject and key scheme (escaping, lengths).
//! - `text`: reading scalar values as text, one set of rules.

pub mod changes;
pub mod event;
pub mod normalize;
pub mod signature;
pub mod subjects;
mod text;
pub mod token;
