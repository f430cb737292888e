//! Everything the gateway assumes about GTT's API lives here: the OAuth2 client-credentials
//! tokens ([`oauth`]), the typed REST client ([`client`]) and the resource shapes ([`types`]).
//! What GTT does not document is listed in `docs/gtt-assumptions.md`; the sandbox implements
//! the same assumptions.

pub mod client;
pub mod oauth;
pub mod types;

pub use client::{GttClient, GttError};
pub use oauth::{TokenError, TokenSource};
