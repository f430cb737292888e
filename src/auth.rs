//! Callback authentication per namespace: the path's route segments, the capability token
//! (always), then the optional body signature configured for that namespace, verified over the
//! bytes as received. Nothing unauthenticated gets further. A reload replaces the keys at once;
//! a callback already past its token check keeps the verifier it started with.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
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
/// verifiers were built once, at load); [`Authenticator::replace`] swaps it whole.
pub struct Authenticator(ArcSwap<Rules>);

/// The keys and each namespace's verifier.
struct Rules {
    keys: TokenKeys,
    namespaces: HashMap<String, Option<Arc<SignatureVerifier>>>,
}

impl Rules {
    fn new(settings: &Settings) -> Self {
        let default = &settings.callbacks.signature;
        let namespaces = settings
            .namespaces
            .iter()
            .map(|ns| {
                let verifier = ns.signature(default).verifier().cloned().map(Arc::new);
                (ns.name().to_string(), verifier)
            })
            .collect();
        Self {
            keys: settings.callbacks.keys(),
            namespaces,
        }
    }
}

/// A callback whose route and token checked out; its body still has to pass
/// [`TokenAccepted::verify_body`].
pub struct TokenAccepted {
    verifier: Option<Arc<SignatureVerifier>>,
}

impl Authenticator {
    pub fn new(settings: &Settings) -> Self {
        Self(ArcSwap::from_pointee(Rules::new(settings)))
    }

    /// Authenticate with the secrets of `settings` from now on.
    pub(crate) fn replace(&self, settings: &Settings) {
        self.0.store(Arc::new(Rules::new(settings)));
    }

    /// Whether `namespace` is configured (for metric labels of refused calls).
    pub fn knows(&self, namespace: &str) -> bool {
        self.0.load().namespaces.contains_key(namespace)
    }

    /// Check the route's segments, the namespace and the capability token of a callback path.
    pub fn check_route(
        &self,
        [namespace, kind, action]: [&str; 3],
        token: &str,
    ) -> Result<TokenAccepted, AuthFailure> {
        if ![namespace, kind, action]
            .into_iter()
            .all(gtt_core::token::is_route_segment)
        {
            return Err(AuthFailure::InvalidRoute);
        }
        let rules = self.0.load();
        let verifier = rules
            .namespaces
            .get(namespace)
            .ok_or(AuthFailure::UnknownNamespace)?;
        if !rules.keys.verify(namespace, kind, action, token) {
            return Err(AuthFailure::BadToken);
        }
        Ok(TokenAccepted {
            verifier: verifier.clone(),
        })
    }
}

impl TokenAccepted {
    /// Check the body signature, if this namespace requires one, over the raw bytes.
    pub fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), AuthFailure> {
        match &self.verifier {
            None => Ok(()),
            Some(v) => v
                .verify(headers, body, chrono::Utc::now().timestamp())
                .map_err(AuthFailure::BadSignature),
        }
    }
}
