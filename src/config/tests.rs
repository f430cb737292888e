//! Loading and validating settings: defaults, parsing, errors that name keys, redaction.

use std::time::Duration;

use bytesize::ByteSize;
use secrecy::ExposeSecret;

use super::*;

const MINIMAL: &str = r#"
    namespaces = ["142033"]
    [callbacks]
    secret = "0123456789abcdef0123456789abcdef"
"#;

#[test]
fn minimal_config_gets_documented_defaults() {
    let s = Settings::from_toml(MINIMAL).unwrap();
    assert_eq!(s.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(s.server.max_body_bytes, 1_044_480);
    assert_eq!(s.nats.url.as_slice(), ["nats://127.0.0.1:4222"]);
    assert_eq!(s.nats.max_bytes, ByteSize::gib(1));
    assert_eq!(s.nats.state_max_bytes, ByteSize::mib(256));
    assert_eq!(s.nats.unready_after, Duration::from_secs(20));
    assert_eq!(s.server.header_read_timeout, Duration::from_secs(10));
    assert_eq!(s.server.idle_timeout, Duration::from_secs(75));
    assert_eq!(s.server.max_connections, 2048);
    assert_eq!(s.server.max_header_bytes, 16 * 1024);
    assert_eq!(s.server.max_headers, 100);
    assert_eq!(s.server.max_drain_bytes, 8 * 1024 * 1024);
    assert_eq!(s.server.namespace_in_flight(), 512);
    assert_eq!(s.nats.stream, "GTT_EVENTS");
    assert_eq!(s.nats.subject_prefix, "gtt");
    assert!(s.nats.manage_stream);
    assert_eq!(s.nats.duplicate_window, Duration::from_secs(3600));
    assert_eq!(s.subscriptions.len(), 2);
    assert_eq!(s.subscriptions[1].action, "update");
    assert_eq!(s.gtt.zone, chrono_tz::UTC);
    assert_eq!(s.callbacks.signature.scheme, SignatureScheme::None);
    assert_eq!(s.callbacks.signature.tolerance, Duration::from_secs(300));
}

#[test]
fn durations_zones_and_namespace_tables_parse() {
    let s = Settings::from_toml(
        r#"
        namespaces = ["1", { name = "2", signature = { scheme = "hmac", secrets = ["k-0123456789abcdef"], prefix = "sha256=" } }]
        [callbacks]
        secret = "0123456789abcdef0123456789abcdef"
        [nats]
        duplicate_window = "2m"
        [gtt]
        timezone = "Europe/London"
        "#,
    )
    .unwrap();
    assert_eq!(s.nats.duplicate_window, Duration::from_secs(120));
    assert_eq!(s.gtt.zone, chrono_tz::Europe::London);
    let sig = s.namespaces[1].signature(&s.callbacks.signature);
    assert_eq!(sig.scheme, SignatureScheme::Hmac);
    assert_eq!(
        s.namespaces[0].signature(&s.callbacks.signature).scheme,
        SignatureScheme::None
    );
}

fn err_key(text: &str) -> String {
    Settings::from_toml(text).unwrap_err().key
}

#[test]
fn errors_name_the_offending_key() {
    assert_eq!(err_key("[callbacks]\n"), "callbacks.secret");
    assert_eq!(
        err_key(&format!("{MINIMAL}\n[server]\nlisten = \"nope\"\n")),
        "server.listen"
    );
    assert_eq!(
        err_key(&format!("{MINIMAL}\n[nats]\nduplicate_window = \"soon\"\n")),
        "nats.duplicate_window"
    );
    assert_eq!(
        err_key(&format!("{MINIMAL}\n[gtt]\ntimezone = \"Mars/Olympus\"\n")),
        "gtt.timezone"
    );
    assert_eq!(
        err_key(&format!("{MINIMAL}\n[server]\nlisten_on = \"x\"\n")),
        "server.listen_on"
    );
    assert_eq!(
        err_key("[callbacks]\nsecret = \"short\"\n"),
        "callbacks.secret"
    );
    assert_eq!(
        err_key(&format!("{MINIMAL}\n[nats]\nsubject_prefix = \"a.b\"\n")),
        "nats.subject_prefix"
    );
    assert_eq!(
        err_key(&format!(
            "{MINIMAL}\n[callbacks.signature]\nscheme = \"standard-webhooks\"\n"
        )),
        "callbacks.signature"
    );
    for (key, value) in [
        ("header_read_timeout", "\"0s\""),
        ("idle_timeout", "\"0s\""),
        ("max_connections", "0"),
        ("max_header_bytes", "512"),
        ("max_headers", "2"),
        ("max_in_flight_per_namespace", "0"),
        ("max_in_flight_per_namespace", "1025"),
    ] {
        assert_eq!(
            err_key(&format!("{MINIMAL}\n[server]\n{key} = {value}\n")),
            format!("server.{key}")
        );
    }
}

#[test]
fn nats_url_takes_one_url_a_list_or_an_array() {
    let urls = |value: &str| {
        Settings::from_toml(&format!("{MINIMAL}\n[nats]\nurl = {value}\n"))
            .map(|s| s.nats.url.as_slice().to_vec())
    };
    assert_eq!(urls(r#""nats://a:4222""#).unwrap(), ["nats://a:4222"]);
    assert_eq!(
        urls(r#""nats://a:4222, nats://b:4222,nats://c:4222""#).unwrap(),
        ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    );
    assert_eq!(
        urls(r#"["nats://a:4222", "tls://b:4222"]"#).unwrap(),
        ["nats://a:4222", "tls://b:4222"]
    );
    let bad = urls(r#"["nats://a:4222", "nats://b:port"]"#).unwrap_err();
    assert_eq!(bad.key, "nats.url[1]");
    let bad = urls(r#""nats://a:4222,http://b:4222""#).unwrap_err();
    assert_eq!(bad.key, "nats.url[1]");
    assert_eq!(urls(r#""""#).unwrap_err().key, "nats.url");
    // A password in a URL never shows in an error or in Debug output.
    let bad = urls(r#""nats://user:s3cret-pw@a:port""#).unwrap_err();
    assert!(!bad.to_string().contains("s3cret-pw"), "{bad}");
    let ok = Settings::from_toml(&format!(
        "{MINIMAL}\n[nats]\nurl = \"nats://user:s3cret-pw@a:4222\"\n"
    ))
    .unwrap();
    assert!(!format!("{ok:?}").contains("s3cret-pw"));
    assert!(!ok.nats.url.to_string().contains("s3cret-pw"));
}

#[test]
fn storage_limits_take_sizes_with_units() {
    let s = Settings::from_toml(&format!(
        "{MINIMAL}\n[nats]\nmax_bytes = \"2GiB\"\nstate_max_bytes = 1048576\n"
    ))
    .unwrap();
    assert_eq!(s.nats.max_bytes, ByteSize::gib(2));
    assert_eq!(s.nats.state_max_bytes, ByteSize::mib(1));
    let e = Settings::from_toml(&format!("{MINIMAL}\n[nats]\nmax_bytes = \"lots\"\n"));
    assert_eq!(e.unwrap_err().key, "nats.max_bytes");
}

#[test]
fn route_segments_and_subject_tokens_are_checked() {
    const SECRET: &str = "[callbacks]\nsecret = \"0123456789abcdef0123456789abcdef\"\n";
    let long = "x".repeat(65);
    let sub = |field: &str, value: &str| {
        let mut fields = [
            ("kind", "case"),
            ("version", "v1alpha"),
            ("action", "create"),
        ];
        fields.iter_mut().find(|f| f.0 == field).unwrap().1 = value;
        let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
        format!("{SECRET}[[subscriptions]]\n{}\n", fields.join("\n"))
    };
    let cases = [
        (
            format!("namespaces = [\"1\", \"a b\"]\n{SECRET}"),
            "namespaces[1]",
        ),
        (format!("namespaces = [\"a:b\"]\n{SECRET}"), "namespaces[0]"),
        (format!("namespaces = [\"\"]\n{SECRET}"), "namespaces[0]"),
        (
            format!("namespaces = [{long:?}]\n{SECRET}"),
            "namespaces[0]",
        ),
        (
            format!("namespaces = [{{ name = \"é\" }}]\n{SECRET}"),
            "namespaces[0]",
        ),
        (sub("kind", &long), "subscriptions[0].kind"),
        (sub("action", "up:date"), "subscriptions[0].action"),
        (
            format!("{SECRET}[nats]\nsubject_prefix = {long:?}\n"),
            "nats.subject_prefix",
        ),
        (
            format!("{SECRET}[nats]\nstate_bucket = {long:?}\n"),
            "nats.state_bucket",
        ),
    ];
    for (text, key) in cases {
        assert_eq!(err_key(&text), key, "{text}");
    }
    let ok = format!(
        "namespaces = [\"142033\", \"a-b_C\", \"{}\"]\n{SECRET}",
        "x".repeat(64)
    );
    Settings::from_toml(&ok).unwrap();
}

#[test]
fn secrets_are_redacted_in_debug() {
    let s = Settings::from_toml(MINIMAL).unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains("0123456789abcdef"), "{debug}");
}

#[test]
fn secret_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "fedcba9876543210fedcba9876543210\n").unwrap();
    let s = Settings::from_toml(&format!(
        "[callbacks]\nsecret_file = {:?}\n",
        path.display().to_string()
    ))
    .unwrap();
    assert_eq!(
        s.callbacks.secret.unwrap().expose_secret(),
        "fedcba9876543210fedcba9876543210"
    );
}

#[test]
fn files_of_secrets_add_one_secret_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let previous = dir.path().join("previous");
    std::fs::write(
        &previous,
        "previous-secret-one-0123\n\nprevious-secret-two-4567\r\n",
    )
    .unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "signature-key-file\n").unwrap();
    let s = Settings::from_toml(&format!(
        "[callbacks]\nsecret = \"0123456789abcdef0\"\nprevious_secrets = [\"inline-previous-0123\"]\n\
         previous_secrets_file = {:?}\n[callbacks.signature]\nscheme = \"hmac\"\nsecrets = \"inline-key\"\n\
         secrets_file = {:?}\n",
        previous.display().to_string(),
        keys.display().to_string()
    ))
    .unwrap();
    let exposed = |list: &[SecretString]| -> Vec<String> {
        list.iter().map(|s| s.expose_secret().to_string()).collect()
    };
    assert_eq!(
        exposed(&s.callbacks.previous_secrets),
        [
            "inline-previous-0123",
            "previous-secret-one-0123",
            "previous-secret-two-4567"
        ]
    );
    assert_eq!(
        exposed(&s.callbacks.signature.secrets),
        ["inline-key", "signature-key-file"]
    );

    std::fs::write(&previous, "previous-secret-one-0123\nLEAK-x\n").unwrap();
    let err = Settings::from_toml(&format!(
        "[callbacks]\nsecret = \"0123456789abcdef0\"\nprevious_secrets_file = {:?}\n",
        previous.display().to_string()
    ))
    .unwrap_err();
    assert_eq!(err.key, "callbacks.previous_secrets_file (line 2)");
    assert!(!err.to_string().contains("LEAK"), "{err}");
}

#[test]
fn a_fresh_load_tells_changed_secrets_from_keys_that_need_a_restart() {
    use super::changes::{Changes, Loaded};
    let dir = tempfile::tempdir().unwrap();
    let load = |text: &str| {
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, text).unwrap();
        Loaded::load(Some(&path)).unwrap()
    };
    let text = "namespaces = [\"1\", { name = \"2\", signature = { scheme = \"hmac\", secrets = \
                [\"sig-key-OLD\"] } }]\n[server]\nmax_in_flight = 10\n[callbacks]\n\
                secret = \"callback-secret-OLD-0123\"\n";
    let running = load(text);
    assert_eq!(running.changes(&load(text)), Changes::default());

    let fresh = load(
        &text
            .replace("OLD", "NEW")
            .replace("max_in_flight = 10", "max_in_flight = 20"),
    );
    let changes = running.changes(&fresh);
    assert_eq!(
        changes.secrets,
        ["callbacks.secret", "namespaces[1].signature.secrets"]
    );
    assert_eq!(changes.restart, ["server.max_in_flight"]);
    assert!(!format!("{changes:?}").contains("NEW"));

    // The running settings take the new secrets and keep every other value.
    let merged = running.settings.with_secrets_of(&fresh.settings).unwrap();
    assert_eq!(merged.server.max_in_flight, 10);
    assert_eq!(
        merged.callbacks.secret.unwrap().expose_secret(),
        "callback-secret-NEW-0123"
    );
    let signature = merged.namespaces[1].signature(&merged.callbacks.signature);
    assert_eq!(signature.secrets[0].expose_secret(), "sig-key-NEW");
    assert!(signature.verifier().is_some());
}
