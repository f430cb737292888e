//! The GTT sandbox's own tests, against its HTTP API.

mod availability;
mod cases;
mod common;
mod delivery;
mod token;
mod traffic;
mod webhooks;
