//! What a fresh load of the settings changes against the running ones, by key name only (never
//! a value): the secrets a reload swaps in, and every other key, which needs a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use figment::value::Value;
use secrecy::SecretString;

use super::{ConfigError, Settings, same_secret};

/// Last segment (without `[i]`) of the keys a reload applies: the secrets, their files, and the
/// NATS credentials. Every other key needs a restart.
const LIVE: [&str; 15] = [
    "secret",
    "secret_file",
    "previous_secrets",
    "previous_secrets_file",
    "secrets",
    "secrets_file",
    "client_secret",
    "client_secret_file",
    "user",
    "password",
    "password_file",
    "token",
    "token_file",
    "nkey_seed_file",
    "credentials_file",
];

/// Settings as loaded, with the configured values by dotted key (to tell what changed).
pub(crate) struct Loaded {
    pub settings: Settings,
    values: BTreeMap<String, Value>,
}

/// What changed, by key.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Secrets with a new value (a reload applies them).
    pub secrets: Vec<String>,
    /// Other keys with a new value (they take effect at the next start).
    pub restart: Vec<String>,
}

impl Loaded {
    /// Load like [`Settings::load`].
    pub(crate) fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let sources = Settings::sources(path)?;
        let settings = Settings::from_figment(sources.clone())?;
        let mut values = BTreeMap::new();
        if let Ok(tree) = sources.extract::<Value>() {
            flatten(String::new(), &tree, &mut values);
        }
        Ok(Self { settings, values })
    }

    /// Settings that run (`settings`), described by the configured `values` of `loaded`.
    pub(crate) fn running(settings: Settings, loaded: Option<Loaded>) -> Self {
        Self {
            settings,
            values: loaded.map(|l| l.values).unwrap_or_default(),
        }
    }

    /// What `new` changes against these settings.
    pub(crate) fn changes(&self, new: &Loaded) -> Changes {
        let (old, fresh) = (&self.settings, &new.settings);
        let mut changes = Changes::default();
        let mut secret = |key: String, same: bool| {
            if !same {
                changes.secrets.push(key);
            }
        };
        secret(
            "callbacks.secret".into(),
            same_list(
                old.callbacks.secret.as_slice(),
                fresh.callbacks.secret.as_slice(),
            ),
        );
        secret(
            "callbacks.previous_secrets".into(),
            same_list(
                &old.callbacks.previous_secrets,
                &fresh.callbacks.previous_secrets,
            ),
        );
        secret(
            "callbacks.signature.secrets".into(),
            same_list(
                &old.callbacks.signature.secrets,
                &fresh.callbacks.signature.secrets,
            ),
        );
        for (i, ns) in old.namespaces.iter().enumerate() {
            let theirs = fresh.namespace(ns.name()).and_then(|n| n.own_signature());
            if let (Some(mine), Some(theirs)) = (ns.own_signature(), theirs) {
                secret(
                    format!("namespaces[{i}].signature.secrets"),
                    same_list(&mine.secrets, &theirs.secrets),
                );
            }
        }
        let (client, fresh_client) = (&old.gtt.client_secret, &fresh.gtt.client_secret);
        secret(
            "gtt.client_secret".into(),
            same_list(client.as_slice(), fresh_client.as_slice()),
        );
        secret(
            fresh.nats.auth.key().into(),
            old.nats.auth.same_as(&fresh.nats.auth),
        );
        if client.is_some() != fresh_client.is_some() {
            // The registrar and the poller start only with GTT credentials, at startup.
            changes
                .restart
                .push("gtt.client_secret (set or removed)".into());
        }
        let keys: BTreeSet<&String> = self.values.keys().chain(new.values.keys()).collect();
        changes.restart.extend(
            keys.into_iter()
                .filter(|key| !is_live(key) && self.values.get(*key) != new.values.get(*key))
                .cloned(),
        );
        changes
    }
}

fn same_list(a: &[SecretString], b: &[SecretString]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_secret(a, b))
}

fn is_live(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    LIVE.contains(&last.split('[').next().unwrap_or(last))
}

/// Every leaf of `value` under its dotted key (`a.b`, `list[0].c`).
fn flatten(key: String, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Dict(_, dict) => {
            for (name, value) in dict {
                let key = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                flatten(key, value, out);
            }
        }
        Value::Array(_, items) => {
            for (i, value) in items.iter().enumerate() {
                flatten(format!("{key}[{i}]"), value, out);
            }
        }
        leaf => {
            out.insert(key, leaf.clone());
        }
    }
}
