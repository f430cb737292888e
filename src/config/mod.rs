//! Configuration: typed settings loaded from built-in defaults, one TOML file and
//! `GTT_GATEWAY_{SECTION}__{KEY}` environment overrides, checked and parsed once at load time,
//! one module per section (each validates itself):
//!
//! - [`server`]: `[server]`; [`nats`]: `[nats]`, with [`nats_auth`] (TLS, credentials);
//!   [`callbacks`]: `[callbacks]` and `namespaces` (signature verifiers are built here, once);
//!   [`gtt`]: `[gtt]`; [`registrar`]: `subscriptions` and `[registrar]`; [`reconcile`]:
//!   `[reconcile]`; [`rejections`]: `[rejections]`; [`mapping`]: `[mapping]`; [`log`]: `[log]`.
//! - `changes`: what a fresh load changes against the running settings, by key (for the live
//!   secret reload).
//!
//! Secrets are [`SecretString`]s (redacted `Debug`, never serialized), given inline, in a file
//! (`*_file`) or in the environment, and no error names a value (only keys, types and
//! positions); durations, sizes, URLs, addresses and time zones are parsed here, so the rest of
//! the crate never sees raw strings for them.

pub mod callbacks;
pub(crate) mod changes;
pub mod gtt;
pub mod log;
pub mod mapping;
pub mod nats;
pub mod nats_auth;
pub mod reconcile;
pub mod registrar;
pub mod rejections;
pub mod server;

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::error::Actual;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use gtt_core::token::{MAX_SEGMENT_BYTES, is_route_byte};

pub use callbacks::{CallbackSettings, NamespaceEntry, SignatureScheme, SignatureSettings};
pub use gtt::GttSettings;
pub use log::{LogFormat, LogSettings};
pub use mapping::MappingSettings;
pub use nats::{NatsSettings, NatsUrls};
pub use nats_auth::{NatsAuth, NatsTls};
pub use reconcile::ReconcileSettings;
pub use registrar::{RegistrarSettings, Subscription};
pub use rejections::RejectionSettings;
pub use server::ServerSettings;

/// Prefix of every environment override, e.g. `GTT_GATEWAY_NATS__URL`.
pub const ENV_PREFIX: &str = "GTT_GATEWAY_";
/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "GTT_GATEWAY_CONFIG";
/// Shortest accepted callback secret, in bytes: the capability token is only as strong as it.
pub const MIN_SECRET_BYTES: usize = 16;

/// A configuration problem, always naming the offending key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    /// Dotted key, e.g. `server.listen`.
    pub key: String,
    /// What is wrong with it (never the secret value itself).
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Every setting of the gateway.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub nats: NatsSettings,
    #[serde(default)]
    pub callbacks: CallbackSettings,
    #[serde(default)]
    pub gtt: GttSettings,
    /// GTT namespaces (tenants) whose callbacks are accepted.
    #[serde(default)]
    pub namespaces: Vec<NamespaceEntry>,
    /// Webhook subscriptions the registrar keeps in place, per namespace.
    #[serde(default = "registrar::default_subscriptions")]
    pub subscriptions: Vec<Subscription>,
    #[serde(default)]
    pub registrar: RegistrarSettings,
    #[serde(default)]
    pub reconcile: ReconcileSettings,
    /// GTT labels beyond the built-in tables.
    #[serde(default)]
    pub mapping: MappingSettings,
    #[serde(default)]
    pub rejections: RejectionSettings,
    #[serde(default)]
    pub log: LogSettings,
}

impl Settings {
    /// Load from `path` (or `GTT_GATEWAY_CONFIG`, or nothing) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::from_figment(Self::sources(path)?)
    }

    /// The file (`path`, or `GTT_GATEWAY_CONFIG`, or none) and the environment, merged.
    fn sources(path: Option<&Path>) -> Result<Figment, ConfigError> {
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(CONFIG_ENV).map(PathBuf::from));
        let mut figment = Figment::new();
        if let Some(path) = &path {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("no such file: {}", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Ok(figment.merge(Env::prefixed(ENV_PREFIX).ignore(&["config"]).split("__")))
    }

    /// Load from TOML text alone (tests and tools; no environment).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let mut settings: Settings = figment.extract().map_err(figment_error)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Resolve and check every section, building what is parsed once (verifiers, zone).
    fn validate(&mut self) -> Result<(), ConfigError> {
        self.gtt.resolve()?;
        self.callbacks.resolve(&mut self.namespaces)?;
        self.nats.validate()?;
        self.server.validate(self.nats.publish_timeout)?;
        self.registrar.validate(&self.subscriptions)?;
        self.reconcile.validate()?;
        self.mapping.resolve()?;
        self.rejections.validate()?;
        self.log.validate()
    }

    /// These settings with the secrets of `new` (a fresh load): callback, signature, GTT client
    /// and NATS secrets; every other key stays as it is.
    pub(crate) fn with_secrets_of(&self, new: &Settings) -> Result<Settings, ConfigError> {
        let mut merged = self.clone();
        merged
            .callbacks
            .take_secrets(&mut merged.namespaces, &new.callbacks, &new.namespaces)?;
        merged.gtt.client_secret.clone_from(&new.gtt.client_secret);
        merged.nats.auth = new.nats.auth.clone();
        Ok(merged)
    }

    /// What keeps the poller from running although enabled: the missing keys, if any.
    pub fn reconcile_missing(&self) -> Vec<&'static str> {
        self.gtt.missing_credentials()
    }

    /// What keeps the registrar from running although enabled: the missing keys, if any.
    pub fn registrar_missing(&self) -> Vec<&'static str> {
        let public_url = self
            .callbacks
            .public_url
            .is_none()
            .then_some("callbacks.public_url");
        public_url
            .into_iter()
            .chain(self.gtt.missing_credentials())
            .collect()
    }

    /// The configured namespace called `name`, if any.
    pub fn namespace(&self, name: &str) -> Option<&NamespaceEntry> {
        self.namespaces.iter().find(|ns| ns.name() == name)
    }
}

fn figment_error(error: figment::Error) -> ConfigError {
    use figment::error::Kind;
    let key = if error.path.is_empty() {
        "(top level)".to_string()
    } else {
        error.path.join(".")
    };
    // Never echo a value: any key may hold a secret (a list of secrets given as one string, an
    // all-digit secret read as a number, a secret on a line with a TOML syntax error), so only
    // types, expectations and key names are described.
    let message = match error.kind {
        Kind::InvalidType(actual, expected) => {
            let mut message = format!("expected {expected}, found {}", describe(&actual));
            if matches!(
                actual,
                Actual::Unsigned(_) | Actual::Signed(_) | Actual::Float(_)
            ) && expected.contains("string")
            {
                message.push_str(
                    " (a value of only digits is read as a number: quote it, or use a *_file key)",
                );
            }
            message
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value ({}): expected {expected}", describe(&actual))
        }
        Kind::InvalidLength(len, expected) => format!("{len} entries, expected {expected}"),
        Kind::UnknownVariant(_, expected) => {
            format!("unknown value: expected one of {}", expected.join(", "))
        }
        Kind::UnknownField(field, _) => format!("unknown key `{field}`"),
        Kind::MissingField(field) => format!("missing key `{field}`"),
        Kind::DuplicateField(field) => format!("key `{field}` given twice"),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".into(),
        Kind::Unsupported(actual) | Kind::UnsupportedKey(actual, _) => {
            format!("unsupported {}", describe(&actual))
        }
        // At the top level, a message is the TOML parser's, which quotes the offending line:
        // keep only its position.
        Kind::Message(message) if error.path.is_empty() => message
            .lines()
            .next()
            .filter(|line| line.starts_with("TOML parse error at line"))
            .map_or("not valid TOML".into(), |line| {
                format!("not valid TOML: {}", &line["TOML parse error ".len()..])
            }),
        // Elsewhere messages come from typed (non-secret) parsers and name no value.
        Kind::Message(message) => message,
    };
    ConfigError::new(key, message)
}

/// The type of a configured value, never the value itself.
fn describe(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Bytes(_) => "bytes",
        Actual::Unit | Actual::Option => "nothing",
        Actual::Seq => "a list",
        Actual::Map | Actual::StructVariant => "a table",
        Actual::NewtypeStruct
        | Actual::Enum
        | Actual::UnitVariant
        | Actual::NewtypeVariant
        | Actual::TupleVariant
        | Actual::Other(_) => "a value of another type",
    }
}

pub(super) fn read_secret_file(key: &str, path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))?;
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// `inline`, else the text of `file` (errors name `file_key`), else nothing.
pub(super) fn secret_or_file(
    inline: &Option<SecretString>,
    file: &Option<PathBuf>,
    file_key: &str,
) -> Result<Option<SecretString>, ConfigError> {
    match (inline, file) {
        (Some(value), _) => Ok(Some(value.clone())),
        (None, Some(path)) => read_secret_file(file_key, path).map(Some),
        (None, None) => Ok(None),
    }
}

/// The non-empty lines of a file of secrets, one secret a line; errors name `key`.
pub(super) fn read_secret_lines(key: &str, path: &Path) -> Result<Vec<SecretString>, ConfigError> {
    let text = read_secret_file(key, path)?;
    Ok(text
        .expose_secret()
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| SecretString::from(line.to_owned()))
        .collect())
}

/// Whether two secrets are equal, compared in constant time (for equal lengths).
pub(crate) fn same_secret(a: &SecretString, b: &SecretString) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(
        a.expose_secret()
            .as_bytes()
            .ct_eq(b.expose_secret().as_bytes()),
    )
}

pub(super) fn check_secret_len(key: &str, secret: &SecretString) -> Result<(), ConfigError> {
    if secret.expose_secret().len() < MIN_SECRET_BYTES {
        return Err(ConfigError::new(
            key,
            format!("too short: use at least {MIN_SECRET_BYTES} random bytes"),
        ));
    }
    Ok(())
}

pub(super) fn check_http_url(key: &str, url: &Url) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(key, "must be an http(s) URL with a host"));
    }
    Ok(())
}

/// A name that becomes a path segment, subject token or key token: 1 to 64 bytes of `allowed`.
pub(super) fn check_token(
    key: &str,
    value: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), ConfigError> {
    if value.is_empty() || value.len() > MAX_SEGMENT_BYTES || !value.chars().all(allowed) {
        return Err(ConfigError::new(
            key,
            format!(
                "{value:?} is not a valid name here (1-{MAX_SEGMENT_BYTES} letters, digits, '-' or '_')"
            ),
        ));
    }
    Ok(())
}

/// A character of a callback route segment (see [`is_route_segment`](gtt_core::token::is_route_segment)).
pub(super) fn is_route_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(is_route_byte)
}

#[cfg(test)]
mod tests;
