//! Integration tests against a real `nats-server` started by the tests themselves.

mod auth;
mod binary;
mod helpers;
mod ingest;
mod outage;
