//! Integration tests against a real `nats-server` started by the tests themselves.

mod auth;
mod binary;
mod cluster;
mod config_secrets;
mod connections;
mod contract;
mod deadletter_cli;
mod deadletter_stream;
mod deadline;
mod e2e;
mod early_answers;
mod encoding;
mod hostile;
mod ingest;
mod limits;
mod mapping;
mod outage;
mod reconcile;
mod registrar;
mod replay;
mod rotation;
mod secured_nats;
mod status;
