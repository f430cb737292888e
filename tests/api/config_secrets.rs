//! No configuration error prints a secret: every secret key, given with a wrong type or shape in
//! the TOML file, in the environment or through a secret file, against `check-config` of the
//! real binary. Also: a single string where a list of secrets is expected is one secret.

use crate::binary::{gateway, write_config};

/// Looks like a secret and is easy to find in the output; all digits, so TOML and the
/// environment read it as a number.
const DIGITS: &str = "98765432109876543";
/// A secret text that must never be printed.
const MARK: &str = "LEAKED-SECRET-text";
/// A secret too short to be accepted (under 16 bytes), never to be printed either.
const SHORT: &str = "LEAK-short-x";
const VALID: &str = "0123456789abcdef0";

struct Case {
    what: &'static str,
    toml: String,
    env: Vec<(&'static str, String)>,
    /// The key the error must name, or `None` when the config must be accepted.
    key: Option<&'static str>,
}

fn case(what: &'static str, toml: String, key: &'static str) -> Case {
    Case {
        what,
        toml,
        env: Vec::new(),
        key: Some(key),
    }
}

fn env_case(what: &'static str, var: &'static str, value: String, key: &'static str) -> Case {
    Case {
        what,
        toml: format!("[callbacks]\nsecret = \"{VALID}\"\n"),
        env: vec![(var, value)],
        key: Some(key),
    }
}

/// Wrong shapes of one secret value, as TOML right-hand sides.
fn bad_single_values() -> Vec<String> {
    vec![
        DIGITS.to_string(),
        format!("{DIGITS}.5"),
        format!("{{ key = \"{MARK}\" }}"),
        format!("[\"{MARK}-0123456789\"]"),
        format!("\"{SHORT}\""),
    ]
}

/// Wrong shapes of a list of secrets, as TOML right-hand sides.
fn bad_list_values() -> Vec<String> {
    vec![
        DIGITS.to_string(),
        format!("[{DIGITS}]"),
        format!("[\"{VALID}\", {DIGITS}]"),
        format!("{{ key = \"{MARK}\" }}"),
        format!("[[\"{MARK}-0123456789\"]]"),
        format!("[\"{MARK}\", true]"),
    ]
}

fn cases(dir: &std::path::Path) -> Vec<Case> {
    let mut cases = Vec::new();
    for value in bad_single_values() {
        cases.push(case(
            "callbacks.secret in TOML",
            format!("[callbacks]\nsecret = {value}\n"),
            "callbacks.secret",
        ));
        if value.contains(SHORT) {
            continue; // the GTT client secret has no length rule
        }
        cases.push(case(
            "gtt.client_secret in TOML",
            format!("[callbacks]\nsecret = \"{VALID}\"\n[gtt]\nclient_secret = {value}\n"),
            "gtt.client_secret",
        ));
        for key in ["password", "token"] {
            cases.push(Case {
                what: "NATS secret in TOML",
                toml: format!(
                    "[callbacks]\nsecret = \"{VALID}\"\n[nats]\nuser = \"u\"\n{key} = {value}\n"
                ),
                env: Vec::new(),
                key: Some(if key == "password" {
                    "nats.password"
                } else {
                    "nats.token"
                }),
            });
        }
    }
    for value in bad_list_values() {
        cases.push(case(
            "callbacks.previous_secrets in TOML",
            format!("[callbacks]\nsecret = \"{VALID}\"\nprevious_secrets = {value}\n"),
            "callbacks.previous_secrets",
        ));
        cases.push(case(
            "callbacks.signature.secrets in TOML",
            format!(
                "[callbacks]\nsecret = \"{VALID}\"\n[callbacks.signature]\nscheme = \"hmac\"\nsecrets = {value}\n"
            ),
            "callbacks.signature",
        ));
        cases.push(case(
            "namespace signature secrets in TOML",
            format!(
                "namespaces = [{{ name = \"1\", signature = {{ scheme = \"hmac\", secrets = {value} }} }}]\n[callbacks]\nsecret = \"{VALID}\"\n"
            ),
            "namespaces",
        ));
    }
    // TOML syntax errors on a secret's line: the parser quotes the line.
    for line in [
        format!("secret = 0{DIGITS}"),
        format!("secret = \"{MARK}"),
        format!("secret = {MARK}"),
        format!("previous_secrets = [\"{MARK}\""),
    ] {
        cases.push(case(
            "TOML syntax error",
            format!("[callbacks]\n{line}\n"),
            "not valid TOML",
        ));
    }
    // Short and undecodable signature keys.
    cases.push(case(
        "standard-webhooks key that is not base64",
        format!(
            "[callbacks]\nsecret = \"{VALID}\"\n[callbacks.signature]\nscheme = \"standard-webhooks\"\nsecrets = \"whsec_{MARK}!!\"\n"
        ),
        "callbacks.signature",
    ));
    cases.push(case(
        "short previous secret",
        format!(
            "[callbacks]\nsecret = \"{VALID}\"\nprevious_secrets = [\"{VALID}\", \"{SHORT}\"]\n"
        ),
        "callbacks.previous_secrets[1]",
    ));

    // The environment: all digits become numbers there, brackets lists, braces tables.
    for (var, key) in [
        ("GTT_GATEWAY_CALLBACKS__SECRET", "callbacks.secret"),
        ("GTT_GATEWAY_GTT__CLIENT_SECRET", "gtt.client_secret"),
        ("GTT_GATEWAY_NATS__PASSWORD", "nats.password"),
        ("GTT_GATEWAY_NATS__TOKEN", "nats.token"),
    ] {
        for value in [
            DIGITS.to_string(),
            format!("{{key={MARK}}}"),
            format!("[{MARK}-0123456789]"),
        ] {
            cases.push(env_case("secret in the environment", var, value, key));
        }
    }
    for (var, key) in [
        (
            "GTT_GATEWAY_CALLBACKS__PREVIOUS_SECRETS",
            "callbacks.previous_secrets",
        ),
        (
            "GTT_GATEWAY_CALLBACKS__SIGNATURE__SECRETS",
            "callbacks.signature.secrets",
        ),
    ] {
        for value in [
            DIGITS.to_string(),
            format!("[{DIGITS}]"),
            format!("[\"{VALID}\",{DIGITS}]"),
            format!("{{key={MARK}}}"),
        ] {
            cases.push(env_case("secret list in the environment", var, value, key));
        }
    }
    cases.push(env_case(
        "short previous secret in the environment",
        "GTT_GATEWAY_CALLBACKS__PREVIOUS_SECRETS",
        SHORT.to_string(),
        "callbacks.previous_secrets[0]",
    ));
    cases.push(env_case(
        "namespace signature secrets in the environment",
        "GTT_GATEWAY_NAMESPACES",
        format!("[{{name=\"1\",signature={{scheme=\"hmac\",secrets={DIGITS}}}}}]"),
        "namespaces",
    ));

    // Secret files: wrong types for the path, and files that are too short or not text.
    let short = dir.join("short-secret");
    std::fs::write(&short, format!("{SHORT}\n")).unwrap();
    let binary = dir.join("binary-secret");
    std::fs::write(&binary, [MARK.as_bytes(), &[0xff, 0xfe, 0x00]].concat()).unwrap();
    for (section, key) in [("callbacks", "secret_file"), ("gtt", "client_secret_file")] {
        let base = if section == "callbacks" {
            "[callbacks]\n".to_string()
        } else {
            format!("[callbacks]\nsecret = \"{VALID}\"\n[gtt]\n")
        };
        let dotted: &'static str = if section == "callbacks" {
            "callbacks.secret"
        } else {
            "gtt.client_secret_file"
        };
        for value in [
            DIGITS.to_string(),
            format!("[\"{MARK}\"]"),
            format!("{:?}", binary.display().to_string()),
        ] {
            cases.push(case(
                "secret file",
                format!("{base}{key} = {value}\n"),
                dotted,
            ));
        }
    }
    // NATS secret files: not text, or text that is not a seed or a .creds file.
    let mark = dir.join("mark-secret");
    std::fs::write(&mark, format!("{MARK}\n")).unwrap();
    for (key, path) in [
        ("password_file", &binary),
        ("token_file", &binary),
        ("nkey_seed_file", &binary),
        ("nkey_seed_file", &mark),
        ("credentials_file", &binary),
        ("credentials_file", &mark),
    ] {
        cases.push(Case {
            what: "NATS secret file",
            toml: format!(
                "[callbacks]\nsecret = \"{VALID}\"\n[nats]\n{key} = {:?}\n",
                path.display().to_string()
            ),
            env: Vec::new(),
            key: Some(match key {
                "password_file" => "nats.password_file",
                "token_file" => "nats.token_file",
                "nkey_seed_file" => "nats.nkey_seed_file",
                _ => "nats.credentials_file",
            }),
        });
    }
    // Files of secrets, one a line: not text, or a line too short.
    let (binary_path, short_path) = (
        format!("{:?}", binary.display().to_string()),
        format!("{:?}", short.display().to_string()),
    );
    for (toml, key) in [
        (
            format!("[callbacks]\nsecret = \"{VALID}\"\nprevious_secrets_file = {binary_path}\n"),
            "callbacks.previous_secrets_file",
        ),
        (
            format!("[callbacks]\nsecret = \"{VALID}\"\nprevious_secrets_file = {short_path}\n"),
            "callbacks.previous_secrets_file",
        ),
        (
            format!(
                "[callbacks]\nsecret = \"{VALID}\"\n[callbacks.signature]\nscheme = \"hmac\"\n\
                 secrets_file = {binary_path}\n"
            ),
            "callbacks.signature.secrets_file",
        ),
    ] {
        cases.push(case("file of secrets", toml, key));
    }
    cases.push(case(
        "secret file too short",
        format!(
            "[callbacks]\nsecret_file = {:?}\n",
            short.display().to_string()
        ),
        "callbacks.secret",
    ));
    cases.push(Case {
        what: "secret file path in the environment",
        toml: "[callbacks]\n".into(),
        env: vec![(
            "GTT_GATEWAY_CALLBACKS__SECRET_FILE",
            binary.display().to_string(),
        )],
        key: Some("callbacks.secret_file"),
    });

    // Accepted: one string where a list of secrets is expected, from the file or the environment.
    cases.push(Case {
        what: "one previous secret as a string",
        toml: format!(
            "[callbacks]\nsecret = \"{VALID}\"\nprevious_secrets = \"{MARK}-0123456789\"\n[callbacks.signature]\nscheme = \"hmac\"\nsecrets = \"{MARK}\"\n"
        ),
        env: Vec::new(),
        key: None,
    });
    cases.push(Case {
        what: "one secret of each list in the environment",
        toml: format!(
            "[callbacks]\nsecret = \"{VALID}\"\n[callbacks.signature]\nscheme = \"hmac\"\n"
        ),
        env: vec![
            (
                "GTT_GATEWAY_CALLBACKS__PREVIOUS_SECRETS",
                format!("{MARK}-0123456789"),
            ),
            (
                "GTT_GATEWAY_CALLBACKS__SIGNATURE__SECRETS",
                MARK.to_string(),
            ),
        ],
        key: None,
    });
    // A file keeps all-digit secrets as they are.
    let digits = dir.join("digits-secret");
    std::fs::write(&digits, format!("0{DIGITS}\n")).unwrap();
    cases.push(Case {
        what: "all-digit secret in a file",
        toml: format!(
            "[callbacks]\nsecret_file = {:?}\n",
            digits.display().to_string()
        ),
        env: Vec::new(),
        key: None,
    });
    cases
}

#[test]
fn no_config_error_prints_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases(dir.path());
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let path = write_config(dir.path(), &case.toml);
        let out = gateway(&["--config", path.to_str().unwrap(), "check-config"])
            .envs(case.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).to_string();
        let problem = match case.key {
            _ if [DIGITS, MARK, SHORT].iter().any(|s| printed.contains(s)) => {
                Some("printed a secret")
            }
            None if !out.status.success() => Some("refused"),
            Some(_) if out.status.code() != Some(78) => Some("accepted"),
            Some(key) if !printed.contains(key) => Some("did not name the key"),
            _ => None,
        };
        if let Some(problem) = problem {
            failures.push(format!(
                "{}: {problem}\n  config: {:?}\n  env: {:?}\n  output: {printed}",
                case.what, case.toml, case.env
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
