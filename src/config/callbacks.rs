//! `[callbacks]` and `namespaces`: how GTT reaches us and how its calls are authenticated
//! (capability-token secrets, optional body signatures per namespace).

use std::path::PathBuf;
use std::time::Duration;

use axum::http::HeaderName;
use gtt_core::signature::{Encoding, SignatureVerifier, VerifierConfigError};
use gtt_core::token::TokenKeys;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::{
    ConfigError, check_http_url, check_secret_len, check_token, is_route_char, read_secret_lines,
    secret_or_file,
};

/// `[callbacks]`: how GTT reaches us and how its calls are authenticated.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackSettings {
    /// Base URL GTT calls, e.g. `https://hooks.example.com` (the registrar appends the paths).
    pub public_url: Option<Url>,
    /// Key of the capability tokens in callback URLs (at least 16 bytes).
    pub secret: Option<SecretString>,
    /// File holding `secret` (used when `secret` is not set).
    pub secret_file: Option<PathBuf>,
    /// Former secrets, still accepted during a rotation (a single string is one secret).
    #[serde(deserialize_with = "secret_list")]
    pub previous_secrets: Vec<SecretString>,
    /// File of more former secrets, one a line (added to `previous_secrets`).
    pub previous_secrets_file: Option<PathBuf>,
    /// Optional body signatures, the default for every namespace.
    pub signature: SignatureSettings,
}

impl CallbackSettings {
    /// The capability-token keys: the current secret signs, it and the previous ones are
    /// accepted.
    pub fn keys(&self) -> TokenKeys {
        TokenKeys::new(
            self.secret
                .iter()
                .chain(self.previous_secrets.iter())
                .cloned()
                .collect(),
        )
    }

    /// Take the secrets of `new` (a fresh load of the same settings); each namespace's own
    /// signature keys come from `new`'s namespace of the same name. The verifiers are built
    /// again from these settings with the new keys.
    pub(super) fn take_secrets(
        &mut self,
        namespaces: &mut [NamespaceEntry],
        new: &CallbackSettings,
        new_namespaces: &[NamespaceEntry],
    ) -> Result<(), ConfigError> {
        self.secret.clone_from(&new.secret);
        self.previous_secrets.clone_from(&new.previous_secrets);
        self.signature.secrets.clone_from(&new.signature.secrets);
        for ns in namespaces.iter_mut() {
            let name = ns.name().to_string();
            let keys = new_namespaces
                .iter()
                .find(|n| n.name() == name)
                .and_then(NamespaceEntry::own_signature)
                .map(|s| s.secrets.clone());
            if let (Some(signature), Some(keys)) = (ns.own_signature_mut(), keys) {
                signature.secrets = keys;
            }
        }
        self.check_and_build(namespaces)
    }

    /// Read the secret files, check the secrets and the public URL, build the signature
    /// verifiers (the default one and each namespace's own).
    pub(super) fn resolve(&mut self, namespaces: &mut [NamespaceEntry]) -> Result<(), ConfigError> {
        self.secret = secret_or_file(&self.secret, &self.secret_file, "callbacks.secret_file")?;
        if let Some(path) = &self.previous_secrets_file {
            let key = "callbacks.previous_secrets_file";
            for (i, secret) in read_secret_lines(key, path)?.into_iter().enumerate() {
                check_secret_len(&format!("{key} (line {})", i + 1), &secret)?;
                self.previous_secrets.push(secret);
            }
        }
        self.signature.read_secrets_file("callbacks.signature")?;
        for (i, ns) in namespaces.iter_mut().enumerate() {
            if let Some(signature) = ns.own_signature_mut() {
                signature.read_secrets_file(&format!("namespaces[{i}].signature"))?;
            }
        }
        self.check_and_build(namespaces)
    }

    /// Check the (read) secrets and the public URL, build the signature verifiers.
    fn check_and_build(&mut self, namespaces: &mut [NamespaceEntry]) -> Result<(), ConfigError> {
        let Some(secret) = &self.secret else {
            return Err(ConfigError::new(
                "callbacks.secret",
                "missing: set callbacks.secret, callbacks.secret_file or GTT_GATEWAY_CALLBACKS__SECRET",
            ));
        };
        check_secret_len("callbacks.secret", secret)?;
        for (i, secret) in self.previous_secrets.iter().enumerate() {
            check_secret_len(&format!("callbacks.previous_secrets[{i}]"), secret)?;
        }
        if let Some(url) = &self.public_url {
            check_http_url("callbacks.public_url", url)?;
        }
        self.signature.build("callbacks.signature")?;
        let mut seen = std::collections::HashSet::new();
        for (i, ns) in namespaces.iter_mut().enumerate() {
            let key = format!("namespaces[{i}]");
            check_token(&key, ns.name(), is_route_char)?;
            if !seen.insert(ns.name().to_string()) {
                return Err(ConfigError::new(key, "namespace listed twice"));
            }
            if let Some(signature) = ns.own_signature_mut() {
                signature.build(&format!("{key}.signature"))?;
            }
        }
        Ok(())
    }
}

/// Body signature scheme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureScheme {
    /// Capability token only.
    #[default]
    None,
    /// Standard Webhooks 1.0 (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks,
    /// HMAC-SHA256 of the body in one header.
    Hmac,
}

/// `[callbacks.signature]` (or a namespace's own `signature` table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignatureSettings {
    pub scheme: SignatureScheme,
    /// Keys; several = rotation. `whsec_...` for Standard Webhooks (a single string is one key).
    #[serde(deserialize_with = "secret_list")]
    pub secrets: Vec<SecretString>,
    /// File of more keys, one a line (added to `secrets`).
    pub secrets_file: Option<PathBuf>,
    /// Header carrying the signature (hmac scheme).
    pub header: String,
    /// `hex` or `base64` (hmac scheme).
    pub encoding: Encoding,
    /// Text before the signature, e.g. `sha256=` (hmac scheme).
    pub prefix: Option<String>,
    /// Accepted clock difference for `webhook-timestamp` (Standard Webhooks).
    #[serde(with = "humantime_serde")]
    pub tolerance: Duration,
    /// The verifier these settings describe, built once at load (`None` for scheme `none`).
    #[serde(skip)]
    verifier: Option<SignatureVerifier>,
}

impl SignatureSettings {
    /// The verifier of these settings (`None` for scheme `none`).
    pub fn verifier(&self) -> Option<&SignatureVerifier> {
        self.verifier.as_ref()
    }

    /// Add the keys of `secrets_file`; an error names `{key}.secrets_file`.
    fn read_secrets_file(&mut self, key: &str) -> Result<(), ConfigError> {
        if let Some(path) = &self.secrets_file {
            let keys = read_secret_lines(&format!("{key}.secrets_file"), path)?;
            self.secrets.extend(keys);
        }
        Ok(())
    }

    /// Build the verifier; an error names `key`.
    fn build(&mut self, key: &str) -> Result<(), ConfigError> {
        let invalid = |e: VerifierConfigError| ConfigError::new(key, e.to_string());
        self.verifier = match self.scheme {
            SignatureScheme::None => None,
            SignatureScheme::StandardWebhooks => Some(
                SignatureVerifier::standard_webhooks(&self.secrets, self.tolerance)
                    .map_err(invalid)?,
            ),
            SignatureScheme::Hmac => {
                let header = HeaderName::try_from(self.header.as_str())
                    .map_err(|_| invalid(VerifierConfigError::InvalidHeader))?;
                Some(
                    SignatureVerifier::hmac(
                        header,
                        self.encoding,
                        self.prefix.clone(),
                        &self.secrets,
                    )
                    .map_err(invalid)?,
                )
            }
        };
        Ok(())
    }
}

impl Default for SignatureSettings {
    fn default() -> Self {
        Self {
            scheme: SignatureScheme::None,
            secrets: Vec::new(),
            secrets_file: None,
            header: "x-gtt-signature".into(),
            encoding: Encoding::Hex,
            prefix: None,
            tolerance: Duration::from_secs(300),
            verifier: None,
        }
    }
}

/// One entry of `namespaces`: a bare name, or a table with its own signature settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NamespaceEntry {
    Name(String),
    Table {
        name: String,
        #[serde(default)]
        signature: Option<SignatureSettings>,
    },
}

impl NamespaceEntry {
    pub fn name(&self) -> &str {
        match self {
            NamespaceEntry::Name(name) | NamespaceEntry::Table { name, .. } => name,
        }
    }

    /// This namespace's signature settings, falling back to `callbacks.signature`.
    pub fn signature<'a>(&'a self, default: &'a SignatureSettings) -> &'a SignatureSettings {
        self.own_signature().unwrap_or(default)
    }

    /// This namespace's own signature settings, if it has any.
    pub fn own_signature(&self) -> Option<&SignatureSettings> {
        match self {
            NamespaceEntry::Table { signature, .. } => signature.as_ref(),
            NamespaceEntry::Name(_) => None,
        }
    }

    fn own_signature_mut(&mut self) -> Option<&mut SignatureSettings> {
        match self {
            NamespaceEntry::Table { signature, .. } => signature.as_mut(),
            NamespaceEntry::Name(_) => None,
        }
    }
}

/// A list of secrets, also accepted as one string (one secret; never split on commas): the
/// natural way to put a single key into an environment variable or a Kubernetes Secret.
fn secret_list<'de, D>(deserializer: D) -> Result<Vec<SecretString>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(SecretString),
        Many(Vec<SecretString>),
    }
    match OneOrMany::deserialize(deserializer) {
        Ok(OneOrMany::One(secret)) => Ok(vec![secret]),
        Ok(OneOrMany::Many(secrets)) => Ok(secrets),
        Err(_) => Err(serde::de::Error::custom(
            "expected a string or a list of strings",
        )),
    }
}
