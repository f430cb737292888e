//! Integration tests against a real `nats-server` started by the tests themselves.

mod auth;
mod binary;
mod cluster;
mod contract;
mod e2e;
mod helpers;
mod hostile;
mod ingest;
mod limits;
mod outage;
mod reconcile;
mod registrar;
