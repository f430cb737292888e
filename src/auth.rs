//! Callback authentication per namespace: the path's route segments, the capability token
//! (always), then the optional body signature configured for that namespace, verified over the
//! bytes as received. Nothing unauthenticated gets further.

use std::collections::HashMap;

use axum::http::HeaderMap;
use gtt_core::signature::{SignatureVerifier, VerifyError};
use gtt_core::token::TokenKeys;

use crate::config::Settings;

/// Why a callback was refused with `401` (logged and counted, never sent back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// A namespace, kind or action outside the route alphabet: no token can authorize it.
    InvalidRoute,
    UnknownNamespace,
    BadToken,
    BadSignature(VerifyError),
}

impl AuthFailure {
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::InvalidRoute => "invalid_route",
            AuthFailure::UnknownNamespace => "unknown_namespace",
            AuthFailure::BadToken => "bad_token",
            AuthFailure::BadSignature(e) => e.reason(),
        }
    }
}

/// Everything needed to authenticate callbacks, taken from the loaded settings (whose
/// verifiers were built once, at load).
#[derive(Debug, Clone)]
pub struct Authenticator {
    keys: TokenKeys,
    namespaces: HashMap<String, Option<SignatureVerifier>>,
}

/// A callback whose route and token checked out; its body still has to pass
/// [`TokenAccepted::verify_body`].
pub struct TokenAccepted<'a> {
    verifier: Option<&'a SignatureVerifier>,
}

impl Authenticator {
    pub fn new(settings: &Settings) -> Self {
        let default = &settings.callbacks.signature;
        let namespaces = settings
            .namespaces
            .iter()
            .map(|ns| {
                let verifier = ns.signature(default).verifier().cloned();
                (ns.name().to_string(), verifier)
            })
            .collect();
        Self {
            keys: settings.callbacks.keys(),
            namespaces,
        }
    }

    /// Whether `namespace` is configured (for metric labels of refused calls).
    pub fn knows(&self, namespace: &str) -> bool {
        self.namespaces.contains_key(namespace)
    }

    /// Check the route's segments, the namespace and the capability token of a callback path.
    pub fn check_route(
        &self,
        [namespace, kind, action]: [&str; 3],
        token: &str,
    ) -> Result<TokenAccepted<'_>, AuthFailure> {
        if ![namespace, kind, action]
            .into_iter()
            .all(gtt_core::token::is_route_segment)
        {
            return Err(AuthFailure::InvalidRoute);
        }
        let verifier = self
            .namespaces
            .get(namespace)
            .ok_or(AuthFailure::UnknownNamespace)?;
        if !self.keys.verify(namespace, kind, action, token) {
            return Err(AuthFailure::BadToken);
        }
        Ok(TokenAccepted {
            verifier: verifier.as_ref(),
        })
    }
}

impl TokenAccepted<'_> {
    /// Check the body signature, if this namespace requires one, over the raw bytes.
    pub fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), AuthFailure> {
        match self.verifier {
            None => Ok(()),
            Some(v) => v
                .verify(headers, body, chrono::Utc::now().timestamp())
                .map_err(AuthFailure::BadSignature),
        }
    }
}
