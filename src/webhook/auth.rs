//! Callback authentication per namespace: the capability token in the path (always), then the
//! optional body signature configured for that namespace. Nothing unauthenticated gets further.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderName};

use super::token::TokenKeys;
use super::verify::{Encoding, SignatureVerifier, VerifierConfigError, VerifyError};
use crate::config::{Settings, SignatureEncoding, SignatureScheme, SignatureSettings};

/// Why a callback was refused with `401` (logged and counted, never sent back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    UnknownNamespace,
    BadToken,
    BadSignature(VerifyError),
}

impl AuthFailure {
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::UnknownNamespace => "unknown_namespace",
            AuthFailure::BadToken => "bad_token",
            AuthFailure::BadSignature(e) => e.reason(),
        }
    }
}

/// The verifier a signature table asks for, or `None` for scheme `none`.
pub fn build_verifier(
    settings: &SignatureSettings,
) -> Result<Option<SignatureVerifier>, VerifierConfigError> {
    match settings.scheme {
        SignatureScheme::None => Ok(None),
        SignatureScheme::StandardWebhooks => {
            SignatureVerifier::standard_webhooks(&settings.secrets, settings.tolerance).map(Some)
        }
        SignatureScheme::Hmac => {
            let header = HeaderName::try_from(settings.header.as_str())
                .map_err(|_| VerifierConfigError::InvalidHeader)?;
            let encoding = match settings.encoding {
                SignatureEncoding::Hex => Encoding::Hex,
                SignatureEncoding::Base64 => Encoding::Base64,
            };
            SignatureVerifier::hmac(header, encoding, settings.prefix.clone(), &settings.secrets)
                .map(Some)
        }
    }
}

/// Everything needed to authenticate callbacks, built once from the settings.
#[derive(Debug, Clone)]
pub struct Authenticator {
    keys: TokenKeys,
    namespaces: HashMap<String, Option<SignatureVerifier>>,
}

/// A callback whose path token checked out; its body still has to pass [`Route::verify_body`].
pub struct Route<'a> {
    verifier: Option<&'a SignatureVerifier>,
}

impl Authenticator {
    /// Build from validated settings (validation already built every verifier once).
    pub fn new(settings: &Settings) -> Result<Self, VerifierConfigError> {
        let mut namespaces = HashMap::new();
        for ns in &settings.namespaces {
            let verifier = build_verifier(ns.signature(&settings.callbacks.signature))?;
            namespaces.insert(ns.name().to_string(), verifier);
        }
        Ok(Self {
            keys: TokenKeys::new(settings.callbacks.all_secrets()),
            namespaces,
        })
    }

    /// Whether `namespace` is configured (for metric labels of refused calls).
    pub fn knows(&self, namespace: &str) -> bool {
        self.namespaces.contains_key(namespace)
    }

    /// Check the namespace and the capability token of a callback path.
    pub fn check_route(
        &self,
        namespace: &str,
        kind: &str,
        action: &str,
        token: &str,
    ) -> Result<Route<'_>, AuthFailure> {
        let verifier = self
            .namespaces
            .get(namespace)
            .ok_or(AuthFailure::UnknownNamespace)?;
        if !self.keys.verify(namespace, kind, action, token) {
            return Err(AuthFailure::BadToken);
        }
        Ok(Route {
            verifier: verifier.as_ref(),
        })
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }
}

impl Route<'_> {
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
