//! `[nats]` security: TLS (`[nats.tls]`) and the one authentication method (user and password,
//! token, nkey seed or `.creds` file), each secret inline, from a file or the environment. Files
//! are read and checked at load, so a wrong one stops `check-config` and `serve` naming its key;
//! no message shows a file's content.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{ConfigError, NatsSettings, read_secret_file, secret_or_file};

/// `[nats.tls]`: TLS to the NATS servers. The files are read again at every (re)connect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsTls {
    /// PEM file of the CA(s) that signed the servers' certificates (else the system's roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain), for servers that verify clients.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Refuse a server that does not offer TLS (a `tls://` URL requires it too).
    pub required: bool,
}

impl NatsTls {
    /// Check that each file named is readable PEM of the right kind, and that the client
    /// certificate comes with its key.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.ca_file {
            check_certificates("nats.tls.ca_file", path)?;
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                check_certificates("nats.tls.cert_file", cert)?;
                let bytes = read("nats.tls.key_file", key)?;
                // The parser's own errors may quote a line of the key: never shown.
                PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
                    ConfigError::new(
                        "nats.tls.key_file",
                        format!("{} holds no PEM private key", key.display()),
                    )
                })?;
                Ok(())
            }
            (Some(_), None) => Err(ConfigError::new(
                "nats.tls.key_file",
                "missing: nats.tls.cert_file is set, its private key is needed too",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                "nats.tls.cert_file",
                "missing: nats.tls.key_file is set, its certificate is needed too",
            )),
            (None, None) => Ok(()),
        }
    }
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))
}

fn check_certificates(key: &str, path: &Path) -> Result<(), ConfigError> {
    let bytes = read(key, path)?;
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default();
    if certificates.is_empty() {
        return Err(ConfigError::new(
            key,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(())
}

/// How the gateway proves who it is to NATS: read and checked at load, presented at every
/// (re)connect. `Debug` names the method only.
#[derive(Clone, Default)]
pub enum NatsAuth {
    #[default]
    None,
    UserPassword {
        user: String,
        password: SecretString,
    },
    Token(SecretString),
    /// A user nkey seed (`SU...`): the server's nonce is signed with it.
    NKey(SecretString),
    /// A `.creds` file: a user JWT and the seed that signs the nonce.
    Credentials {
        jwt: String,
        seed: SecretString,
    },
}

impl std::fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NatsAuth::None => "None",
            NatsAuth::UserPassword { .. } => "UserPassword(redacted)",
            NatsAuth::Token(_) => "Token(redacted)",
            NatsAuth::NKey(_) => "NKey(redacted)",
            NatsAuth::Credentials { .. } => "Credentials(redacted)",
        })
    }
}

impl NatsAuth {
    /// The key(s) that hold this method, for messages.
    pub fn key(&self) -> &'static str {
        match self {
            NatsAuth::None => "nats credentials (none set)",
            NatsAuth::UserPassword { .. } => "nats.user/nats.password",
            NatsAuth::Token(_) => "nats.token",
            NatsAuth::NKey(_) => "nats.nkey_seed_file",
            NatsAuth::Credentials { .. } => "nats.credentials_file",
        }
    }

    /// The same method with the same secrets (compared in constant time).
    pub fn same_as(&self, other: &NatsAuth) -> bool {
        use super::same_secret as same;
        match (self, other) {
            (NatsAuth::None, NatsAuth::None) => true,
            (
                NatsAuth::UserPassword { user, password },
                NatsAuth::UserPassword {
                    user: other_user,
                    password: other_password,
                },
            ) => user == other_user && same(password, other_password),
            (NatsAuth::Token(a), NatsAuth::Token(b)) | (NatsAuth::NKey(a), NatsAuth::NKey(b)) => {
                same(a, b)
            }
            (
                NatsAuth::Credentials { jwt, seed },
                NatsAuth::Credentials {
                    jwt: other_jwt,
                    seed: other_seed,
                },
            ) => jwt == other_jwt && same(seed, other_seed),
            _ => false,
        }
    }
}

/// Read the files of `nats`'s authentication keys and check that at most one method is set,
/// completely.
pub(super) fn resolve(nats: &NatsSettings) -> Result<NatsAuth, ConfigError> {
    let password = inline_or_file(&nats.password, &nats.password_file, "nats.password")?;
    let token = inline_or_file(&nats.token, &nats.token_file, "nats.token")?;
    let chosen: Vec<&str> = [
        (
            nats.user.is_some() || password.is_some(),
            "nats.user/nats.password",
        ),
        (token.is_some(), "nats.token"),
        (nats.nkey_seed_file.is_some(), "nats.nkey_seed_file"),
        (nats.credentials_file.is_some(), "nats.credentials_file"),
    ]
    .into_iter()
    .filter_map(|(set, key)| set.then_some(key))
    .collect();
    if let [first, second, ..] = chosen[..] {
        return Err(ConfigError::new(
            second,
            format!("only one NATS authentication method can be used, and {first} is set too"),
        ));
    }
    if let Some(seed) = &nats.nkey_seed_file {
        let seed = read_secret_file("nats.nkey_seed_file", seed)?;
        let seed = SecretString::from(seed.expose_secret().trim().to_owned());
        check_user_seed("nats.nkey_seed_file", &seed)?;
        return Ok(NatsAuth::NKey(seed));
    }
    if let Some(path) = &nats.credentials_file {
        let text = read_secret_file("nats.credentials_file", path)?;
        let (jwt, seed) = parse_credentials(text.expose_secret()).ok_or_else(|| {
            ConfigError::new(
                "nats.credentials_file",
                format!(
                    "{} is not a NATS .creds file (a user JWT and an nkey seed)",
                    path.display()
                ),
            )
        })?;
        check_user_seed("nats.credentials_file", &seed)?;
        return Ok(NatsAuth::Credentials { jwt, seed });
    }
    if let Some(token) = token {
        return Ok(NatsAuth::Token(token));
    }
    match (&nats.user, password) {
        (Some(user), Some(password)) if !user.is_empty() => Ok(NatsAuth::UserPassword {
            user: user.clone(),
            password,
        }),
        (Some(_), Some(_)) => Err(ConfigError::new("nats.user", "empty")),
        (Some(_), None) => Err(ConfigError::new(
            "nats.password",
            "missing: nats.user is set; set nats.password, nats.password_file or \
             GTT_GATEWAY_NATS__PASSWORD",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "nats.user",
            "missing: a NATS password is set without its user",
        )),
        (None, None) => Ok(NatsAuth::None),
    }
}

/// `inline`, else the text of `file`; never empty. Errors name `key` (or `{key}_file`).
fn inline_or_file(
    inline: &Option<SecretString>,
    file: &Option<PathBuf>,
    key: &str,
) -> Result<Option<SecretString>, ConfigError> {
    let file_key = format!("{key}_file");
    let value = secret_or_file(inline, file, &file_key)?;
    if value.as_ref().is_some_and(|v| v.expose_secret().is_empty()) {
        let key = if inline.is_some() { key } else { &file_key };
        return Err(ConfigError::new(key, "empty"));
    }
    Ok(value)
}

fn check_user_seed(key: &str, seed: &SecretString) -> Result<(), ConfigError> {
    match nkeys::KeyPair::from_seed(seed.expose_secret()) {
        Ok(pair) if pair.key_pair_type() == nkeys::KeyPairType::User => Ok(()),
        _ => Err(ConfigError::new(
            key,
            "not a NATS user nkey seed (the seed starts with SU)",
        )),
    }
}

/// The user JWT and the nkey seed of a `.creds` file: the first two values, each the line
/// after a `-----BEGIN ...-----` marker.
fn parse_credentials(text: &str) -> Option<(String, SecretString)> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut values = lines
        .windows(2)
        .filter(|pair| pair[0].starts_with("---") && pair[0].contains("BEGIN"))
        .map(|pair| pair[1])
        .filter(|value| !value.is_empty() && !value.starts_with("---"));
    let jwt = values.next()?.to_owned();
    let seed = SecretString::from(values.next()?.to_owned());
    Some((jwt, seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_creds_file_gives_its_jwt_and_seed() {
        let seed = nkeys::KeyPair::new_user().seed().unwrap();
        let text = format!(
            "-----BEGIN NATS USER JWT-----\neyJ0eXAi.payload.sig\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        );
        let (jwt, parsed) = parse_credentials(&text).unwrap();
        assert_eq!(jwt, "eyJ0eXAi.payload.sig");
        assert_eq!(parsed.expose_secret(), seed);
        assert!(parse_credentials("just text\n").is_none());
    }

    #[test]
    fn debug_names_the_method_only() {
        let auth = NatsAuth::Token(SecretString::from("tok-SECRET".to_owned()));
        assert_eq!(format!("{auth:?}"), "Token(redacted)");
    }
}
